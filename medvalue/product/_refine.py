"""Refine a raw hospital export into a listing-ready data product, with its datacard.

The input is never touched. The refined product is written to a new folder:

* ``data/<table>.parquet``: codes normalised to WHO ICD-10, dates parsed (and optionally
  shifted per patient or coarsened to month), placeholders and unparseable or impossible
  values set to missing, exact duplicate rows removed, direct identifiers and free text
  dropped, patient and encounter ids replaced by keyed pseudonyms, quasi-identifiers
  generalised (and the few remaining people in small classes suppressed) to reach k;
* ``data.spec.yaml``: the spec of the refined tables, found automatically next to ``data``;
* ``data_dictionary.csv``: one row per column (type, role, description, unit,
  completeness, allowed values or range);
* ``datacard.md`` and ``datacard.json`` in Chinese and English;
* ``refine_log.json``: every transformation with the rows and values it touched;
* ``timing.json``: how long each stage took (the one file that differs between runs).

Pseudonyms are HMAC-SHA256 of the id under a secret read from an environment variable; the
secret is never written anywhere. The same input, spec, parameters and secret give
byte-identical files (``timing.json`` aside).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import yaml

from medvalue.analyses._checks import plausible_range, repeated
from medvalue.analyses._identifiers import IN_TEXT_PATTERNS, mask_with
from medvalue.analyses._privacy import (
    DEFAULT_K,
    DEFAULT_MAX_SUPPRESSION,
    PrivacyAssessment,
    apply_generalisation,
    privacy,
)
from medvalue.analyses._profile import as_date
from medvalue.analyses._profile import profile as run_profile
from medvalue.core import _codes as codes
from medvalue.core._config import SMALL_CELL_THRESHOLD
from medvalue.core._config import VERSION as __version__
from medvalue.core._display import Displayed
from medvalue.core._errors import ParameterError
from medvalue.core._files import (
    cache_dir,
    check_output,
    process_alive,
    write_atomic,
)
from medvalue.core._i18n import text
from medvalue.core._keys import SECRET_ENV, hmac_hexes, read_secret, shift_days
from medvalue.core._parts import SCRATCH_COMPRESSION
from medvalue.product._changes import PROTECT_STEPS, Change, values_of
from medvalue.product._croissant import croissant
from medvalue.product._datacard import datacard, datacard_markdown, time_span
from medvalue.product._dictionary import data_dictionary
from medvalue.product._settings import RefineSettings
from medvalue.read import _spark
from medvalue.read._dataset import Dataset, load_dataset
from medvalue.read._records import view
from medvalue.read._refined import DATA_DIR, FIX_STEPS, LOG_FILE, SPEC_FILE, TIMING_FILE
from medvalue.read._rows import ROW, Rows
from medvalue.read._spec import DATE_ROLES, ColumnSpec, DatasetSpec, Link, TableSpec

#: Hex characters kept of each HMAC: 80 bits, so ten million ids collide with probability
#: about 4e-11.
PSEUDONYM_HEX = 20
DATE_MODES = ("keep", "shift", "month")
REMOVED = "[已删除/removed]"

DICTIONARY_FILE = "data_dictionary.csv"
DATACARD_MD = "datacard.md"
DATACARD_JSON = "datacard.json"
#: The product described in MLCommons Croissant 1.0 (see medvalue.product._croissant).
CROISSANT_FILE = "croissant.json"

# --- settings --------------------------------------------------------------------------------


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Refined(Displayed):
    """What :func:`refine` wrote and found."""

    _view: ClassVar[str] = "refine_section"

    dataset: str
    out: Path
    files: tuple[str, ...]  # relative to ``out``
    changes: tuple[Change, ...]
    settings: RefineSettings
    parameters: Mapping[str, Any]
    before: PrivacyAssessment
    after: PrivacyAssessment
    datacard: Mapping[str, Any]
    seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def fixes(self) -> int:
        return values_of(self.changes, FIX_STEPS)

    @property
    def protected_values(self) -> int:
        return values_of(self.changes, PROTECT_STEPS)

    def dictionary_rows(self) -> list[list[str]]:
        """The data dictionary it wrote, as rows (the first is the header)."""
        text_ = (self.out / DICTIONARY_FILE).read_text(encoding="utf-8")
        return list(csv.reader(text_.splitlines()))

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "files": list(self.files),
            "parameters": dict(self.parameters),
            "changes": [c.to_dict() for c in self.changes],
            "fixes": self.fixes,
            "protected_values": self.protected_values,
            "k_before": self.before.k_anonymity,
            "k_after": self.after.k_anonymity,
            "verdict_before": self.before.verdict,
            "verdict_after": self.after.verdict,
            "direct_identifiers_after": len(self.after.direct_identifiers),
            "seconds": dict(self.seconds),
            "datacard": self.datacard.get(lang, self.datacard.get("en")),
        }


# --- the pipeline ----------------------------------------------------------------------------


def refine(
    ds: Dataset,
    out: str | Path,
    *,
    k: int = DEFAULT_K,
    secret: bytes | None = None,
    secret_env: str = SECRET_ENV,
    quasi_identifiers: Sequence[str] | None = None,
    max_suppression: float = DEFAULT_MAX_SUPPRESSION,
    label: str | None = None,
    as_of: dt.date | str | None = None,
    price: bool = True,
    comparables: str | Path | None = None,
    small_cell: int = SMALL_CELL_THRESHOLD,
) -> Refined:
    """Refine ``ds`` into the new folder ``out`` and write its datacard.

    ``secret`` (bytes) is the pseudonym key; without it, it is read from ``secret_env``.
    ``price`` adds a suggested price band (the comparables registry shipped with
    medvalue unless ``comparables`` names another) whose cost approach uses this
    refinement's measured fixes and time.
    """
    started = time.perf_counter()
    key = secret if secret is not None else read_secret(secret_env)
    out = Path(out)
    _check_out(ds, out)
    settings = RefineSettings.from_spec(ds.spec)

    day = as_date(as_of)
    seconds: dict[str, float] = {}
    work = out.parent / f".{out.name}.refining-{os.getpid()}"
    _remove_stale_work(out)
    shutil.rmtree(work, ignore_errors=True)
    # Copies that still hold the original ids (the Parquet copy of the input, the cleaned
    # stage) live in the private scratch folder, never beside --out: a killed run leaves
    # nothing readable there, and the next run removes it.
    private = Path(tempfile.mkdtemp(prefix="refine-", dir=cache_dir()))
    try:
        t0 = time.perf_counter()
        ds = ds.columnar(private / "raw")
        seconds["read"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        before = privacy(
            ds, quasi_identifiers=quasi_identifiers, k=k, max_suppression=max_suppression,
            recommend=False,
        )  # fmt: skip
        changes: list[Change] = []
        stage_spec = _clean(ds, settings, key, before, private / "stage", changes, day)
        seconds["clean"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        staged = _reopened(
            ds, private / "stage", _write_spec(stage_spec, private / "stage.spec.yaml")
        )
        names = _renamed_quasi(quasi_identifiers, stage_spec)
        plan_assessment = privacy(
            staged, quasi_identifiers=names, k=k, max_suppression=max_suppression
        )
        span = time_span(staged, small_cell)
        final_spec = _protect(staged, plan_assessment, work / DATA_DIR, changes)
        spec_path = _write_spec(final_spec, work / SPEC_FILE)
        shutil.rmtree(private, ignore_errors=True)
        seconds["protect"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        final = _reopened(ds, work / DATA_DIR, spec_path)
        after = privacy(final, quasi_identifiers=names, k=k, max_suppression=max_suppression,
                        recommend=False)  # fmt: skip
        parameters = _parameters(
            ds, settings, k, secret_env, quasi_identifiers, max_suppression, label, day, small_cell
        )
        log = [c.to_dict() for c in changes]
        write_atomic(
            work / LOG_FILE,
            _json({"medvalue": __version__, "parameters": parameters, "changes": log}),
        )

        prof = run_profile(final, as_of=day, small_cell=small_cell)
        write_atomic(work / DICTIONARY_FILE, data_dictionary(final, prof))
        seconds["check"] = time.perf_counter() - t0
        seconds["total_before_datacard"] = time.perf_counter() - started
        refinement = {"fixes": values_of(changes, FIX_STEPS),
                      "protected_values": values_of(changes, PROTECT_STEPS),
                      "seconds": seconds["total_before_datacard"]}  # fmt: skip
        card = datacard(final, prof, before, after, changes, settings, parameters, label=label,
                        price=price, comparables=comparables, refinement=refinement,
                        small_cell=small_cell, span=span)  # fmt: skip
        write_atomic(work / DATACARD_JSON, _json(card))
        write_atomic(work / DATACARD_MD, datacard_markdown(card))
        described = {
            f"{t}.{c}": final.spec.role_of(t, c).description or text("roles", final.spec.role_of(t, c).role, "en")
            for t in final.table_names
            for c in final.table_spec(t).columns
        }  # fmt: skip
        write_atomic(work / CROISSANT_FILE, _json(croissant(work, card, described)))
        seconds["total"] = time.perf_counter() - started
        write_atomic(
            work / TIMING_FILE, _json({stage: round(v, 3) for stage, v in seconds.items()})
        )
        _swap_into_place(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(private, ignore_errors=True)
    files = tuple(sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()))
    return Refined(ds.name, out, files, tuple(changes), settings, parameters, before, after, card,
                   {stage: round(v, 3) for stage, v in seconds.items()})  # fmt: skip


def _reopened(ds: Dataset, folder: Path, spec: Path) -> Dataset:
    """The tables just written to ``folder``, read where ``ds`` is read (Spark or here)."""
    return load_dataset(f"{_spark.PREFIX}{folder}" if ds.on_spark else folder, spec=spec)


def _remove_stale_work(out: Path) -> None:
    """Work folders of refine runs that were killed (their process is gone)."""
    for old in out.parent.glob(f".{out.name}.refining-*"):
        pid = old.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)


def _check_out(ds: Dataset, out: Path) -> None:
    """Refuse to write into the input, or over a folder that is not a refined product."""
    target = out.resolve()
    folders, files = ds.locations()
    for src in [*folders, *files]:
        if target == src or src in target.parents or target in src.parents:
            msg = f"--out {out} overlaps the input; choose a new folder"
            raise ParameterError(msg)
    check_output(out)  # nor over any other file read (a spec, a registry)
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / LOG_FILE).exists())
    ):
        msg = f"--out {out} exists and is not an earlier refined product; choose a new folder"
        raise ParameterError(msg)


def _swap_into_place(work: Path, out: Path) -> None:
    """Replace ``out`` by ``work`` with renames, so ``out`` is never half written."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    work.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n"


def _write_spec(spec: DatasetSpec, path: Path) -> Path:
    header = "# The spec of a refined medvalue data product (written by `medvalue refine`).\n"
    doc = spec.to_dict()
    doc.pop("refine", None)
    return write_atomic(path, header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


# --- stage 1: clean, pseudonymise, drop ------------------------------------------------------


def _clean(
    ds: Dataset,
    settings: RefineSettings,
    key: bytes,
    before: PrivacyAssessment,
    stage: Path,
    changes: list[Change],
    as_of: dt.date,
) -> DatasetSpec:
    """Write the cleaned tables to ``stage``; return their spec."""
    identifiers = {(f.table, f.column): f for f in before.direct_identifiers}
    tables: dict[str, TableSpec] = {}
    renames: dict[tuple[str, str], str] = {}
    stage.mkdir(parents=True, exist_ok=True)
    for t in ds.table_names:
        cleaned = _clean_table(ds, t, settings, identifiers, key, as_of, stage / f"{t}.parquet")
        rows_out = _rows_written(stage / f"{t}.parquet")
        changes.extend(cleaned.changes)
        if cleaned.rows > rows_out:
            removed = cleaned.rows - rows_out
            n_cols = len(cleaned.spec.columns)
            changes.append(Change("duplicate_rows_removed", t, None, removed, removed * n_cols,
                                  "exact duplicates after cleaning"))  # fmt: skip
        tables[t] = cleaned.spec
        renames.update({(t, old): new for old, new in cleaned.renames.items()})
    links = tuple(
        Link(lk.table, renames.get((lk.table, lk.column), lk.column), lk.to_table,
             renames.get((lk.to_table, lk.to_column), lk.to_column))
        for lk in ds.spec.links
        if (lk.table, lk.column) not in identifiers or _is_id_role(ds, lk.table, lk.column)
    )  # fmt: skip
    return replace(ds.spec, tables=tables, links=links, refine={})


def _rows_written(path: Path) -> int:
    """Rows of a Parquet file, or of a folder of part files (Spark's)."""
    files = path / "*.parquet" if path.is_dir() else path
    return int(pl.scan_parquet(files).select(pl.len()).collect().item())


def _is_id_role(ds: Dataset, table: str, column: str) -> bool:
    return ds.spec.role_of(table, column).role in ("patient_id", "encounter_id")


def _pseudonyms(ids: pl.Series, role: str, key: bytes, settings: RefineSettings) -> pl.DataFrame:
    """id -> pseudonym (and, for patients, a date shift in days) for the distinct ``ids``.

    A keyed hash of the id alone, so the same id gets the same pseudonym in every table and
    every slice of a table, without a table of all ids anywhere."""
    domain = b"patient:" if role == "patient_id" else b"encounter:"
    shifting = role == "patient_id" and settings.dates == "shift"
    span = 2 * settings.max_shift_days + 1
    # Once per distinct id of a slice, not per row; the shift's digest in the same pass.
    digests = hmac_hexes(key, [domain, *([b"shift:"] if shifting else [])], ids)
    table = pl.DataFrame(
        {"id": ids, "pseudonym": digests[0].str.slice(0, PSEUDONYM_HEX)},
        schema={"id": pl.String, "pseudonym": pl.String},
    )
    if shifting:
        shifts = shift_days(digests[1], span) - settings.max_shift_days
        table = table.with_columns(shifts.cast(pl.Int32).alias("shift_days"))
    return table


def _with_pseudonyms(
    part: pl.LazyFrame,
    ids: Mapping[str, str],  # role -> typed id column
    key: bytes,
    settings: RefineSettings,
) -> pl.LazyFrame:
    """``part`` with each id's pseudonym (``__<role>``) and date shift, worked out from the
    distinct ids it holds."""
    for role, col in ids.items():
        held = part.select(pl.col(col).cast(pl.String).drop_nulls().unique().sort())
        mapping = _pseudonyms(held.collect().to_series(), role, key, settings)
        found = pl.col(col).cast(pl.String)  # ids may be numbers
        looked_up = [("pseudonym", f"__{role}")]
        if "shift_days" in mapping.columns:
            looked_up.append(("shift_days", "shift_days"))
        part = part.with_columns(
            found.replace_strict(mapping["id"], mapping[v], default=None).alias(name)
            for v, name in looked_up
        )
    return part


class _Slices:
    """A table's cleaning plan run over slices of its rows, so that memory follows a slice.

    polars runs a value lookup (``replace_strict``: pseudonyms, normalised codes) outside its
    streaming engine and holds every column beside it, so the whole table would be held. A
    slice's pseudonyms are computed from the ids it holds.
    """

    def __init__(
        self,
        frame: pl.LazyFrame,
        ids: Mapping[str, str],  # role -> typed id column
        key: bytes,
        settings: RefineSettings,
    ) -> None:
        self.frame, self.ids, self.key, self.settings = frame, ids, key, settings
        self.rows = int(frame.select(pl.len()).collect().item())
        width = max(1, len(frame.collect_schema()))
        self.size = max(_MIN_SLICE_ROWS, _SLICE_CELLS // width)
        self.offsets = list(range(0, max(self.rows, 1), self.size))

    def parts(self) -> Iterator[pl.LazyFrame]:
        """Each slice with its ids' pseudonyms (``__<role>``) and date shifts."""
        for offset in self.offsets:
            part = self.frame.slice(offset, self.size)
            yield _with_pseudonyms(part, self.ids, self.key, self.settings)


#: Cells of a table held at once while cleaning (a slice's rows x its columns): about
#: 200-400 MB of typed values, whatever the size of the table.
_SLICE_CELLS = 20_000_000
_MIN_SLICE_ROWS = 100_000


@dataclass(frozen=True)
class _Cleaned:
    spec: TableSpec
    changes: list[Change]
    renames: dict[str, str]  # old column name -> new (pseudonymised ids)
    rows: int


def _clean_table(
    ds: Dataset,
    t: str,
    settings: RefineSettings,
    identifiers: Mapping[tuple[str, str], Any],
    key: bytes,
    as_of: dt.date,
    out: Path,
) -> _Cleaned:
    """Clean table ``t`` into the Parquet file ``out``, slice by slice (see :class:`_Slices`)."""
    tspec = ds.table_spec(t)
    plans = ds.plans[t]
    # Raw and typed values side by side: counting what changed needs both. Codes are
    # normalised, and dates and numbers written as text typed (Dataset.typing_of), by
    # look-ups among each column's distinct values, worked out once.
    typing = [e.alias(_typed(c)) for c, e in zip(plans, ds.typing_of(t, plans), strict=True)]
    code_cols = [
        c
        for c in tspec.columns
        if tspec.columns[c].role == "diagnosis_code" and (t, c) not in identifiers
    ]
    looked_up = [
        e
        for c in code_cols
        for e in codes.normalised(view(ds, Rows(t, (pl.col(c),))).counts([c])[c][c], _typed(c))
    ]

    def prepare(raw: pl.LazyFrame) -> pl.LazyFrame:
        return raw.with_columns(typing).with_columns(looked_up)

    pid = tspec.first("patient_id")
    shifting = settings.dates == "shift" and pid is not None
    id_columns = {
        role: _typed(col)
        for role in ("patient_id", "encounter_id")
        if (col := tspec.first(role)) is not None
    }

    date_mode = settings.dates if (settings.dates != "shift" or shifting) else "month"
    # A date after the valuation date (or today, whichever is later) cannot have happened yet.
    future = dt.datetime.combine(max(as_of, dt.date.today()), dt.time.max)
    counts: dict[str, pl.Expr] = {"__rows": pl.len()}
    outputs: list[pl.Expr] = []
    columns: dict[str, ColumnSpec] = {}
    renames: dict[str, str] = {}
    pending: list[tuple[str, str, str, str]] = []  # (step, column, count key, detail)
    has_time: dict[str, str] = {}  # output column -> count key: any value with a time of day
    whole: dict[str, str] = {}  # output column -> count key: every value a whole number

    def count(step: str, column: str, expr: pl.Expr, detail: str = "") -> None:
        name = f"{step}\x1f{column}"
        counts[name] = expr.fill_null(False).sum()
        pending.append((step, column, name, detail))

    raw = {c: pl.col(c) for c in plans}
    for c, cspec in tspec.columns.items():
        plan = plans[c]
        finding = identifiers.get((t, c))
        present_raw = ~plan.missing() if plan.is_text_source else pl.col(c).is_not_null()
        if (finding is not None and finding.kind == "free_text") or cspec.role == "free_text":
            if not settings.keeps_text(t, c):
                count("drop_free_text", c, present_raw, "free-text column dropped")
                continue
        elif (
            finding is not None
            and not finding.in_text
            and cspec.role not in ("patient_id", "encounter_id")
        ):
            count("drop_direct_identifier", c, present_raw, finding.kind)
            continue
        value = pl.col(_typed(c))
        if plan.is_text_source and plan.kind in ("string", "boolean"):
            count("placeholders_to_missing", c, plan.placeholder())
        if cspec.role in ("patient_id", "encounter_id"):
            new = "patient_id" if cspec.role == "patient_id" else "encounter_id"
            # A standard's names stay (OMOP person_id), so the product is still read as one.
            if (new != c and new in tspec.columns) or ds.raw.standard:
                new = c
            count(
                "pseudonymise",
                c,
                value.is_not_null(),
                f"HMAC-SHA256, {PSEUDONYM_HEX} hex characters",
            )
            outputs.append(pl.col(f"__{cspec.role}").alias(new))
            columns[new] = replace(
                cspec, reason="spec", confidence=1.0, description=_with_note(cspec, _PSEUDONYM_NOTE)
            )
            if new != c:
                renames[c] = new
            continue
        if cspec.role == "diagnosis_code" and (t, c) not in identifiers:
            status = pl.col(f"{_typed(c)}_status")
            count("normalise_codes", c, status == "normalised", "to WHO ICD-10")
            count("unknown_codes_to_missing", c, status == "unknown", "neither ICD-10 nor ICD-9")
            # ICD-9 codes stay as written (coverage counts them apart); unknown ones go.
            icd9 = pl.when(status == "icd9").then(codes.clean(value))
            outputs.append(pl.coalesce(pl.col(f"{_typed(c)}_icd10"), icd9).alias(c))
            columns[c] = replace(cspec, code_system="icd10")
            if settings.keep_raw_codes:
                outputs.append(raw[c].cast(pl.String).alias(f"{c}_raw"))
                columns[f"{c}_raw"] = ColumnSpec(
                    "other", "spec", 1.0, description=f"{c} as exported"
                )
            continue
        if plan.kind == "datetime":
            if plan.is_text_source:
                iso = raw[c].cast(pl.String).str.strip_chars().str.contains(r"^\d{4}-\d{2}-\d{2}$")
                count("parse_dates", c, value.is_not_null() & ~iso, "to ISO dates")
                count("unparseable_to_missing", c, present_raw & value.is_null())
                count("placeholders_to_missing", c, plan.placeholder())
            value = value.cast(pl.Datetime("us"))
            bad = (value > future) | (value < dt.datetime(1900, 1, 1))
            count("future_or_pre1900_dates_to_missing", c, bad)
            value = pl.when(bad).then(None).otherwise(value)
            if date_mode == "shift":
                count(
                    "shift_dates",
                    c,
                    value.is_not_null(),
                    f"per patient, up to ±{settings.max_shift_days} days",
                )
                value = value + pl.duration(days=pl.col("shift_days"))
            elif date_mode == "month":
                detail = "to the first of the month" + (
                    "" if settings.dates == "month" else " (no patient id to shift by)"
                )
                count("coarsen_dates", c, value.is_not_null(), detail)
                value = value.dt.truncate("1mo")
            has_time[c] = f"__time\x1f{c}"
            counts[has_time[c]] = (
                value.dt.hour() + value.dt.minute() + value.dt.second() > 0
            ).any()
            outputs.append(value.alias(c))
            columns[c] = cspec
            continue
        if plan.kind in ("number", "integer"):
            if plan.is_text_source:
                plain = raw[c].cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
                count(
                    "parse_numbers",
                    c,
                    value.is_not_null() & plain.is_null(),
                    "numbers read out of text such as '45岁'",
                )
                count("unparseable_to_missing", c, present_raw & value.is_null())
                count("placeholders_to_missing", c, plan.placeholder())
            rule = plausible_range(cspec, c)
            if rule is not None:
                unit, low, high = rule
                bad = (value < low) | (value > high)
                count("implausible_to_missing", c, bad, f"outside {low:g}-{high:g} {unit}")
                value = pl.when(bad).then(None).otherwise(value)
            whole[c] = f"__int\x1f{c}"
            counts[whole[c]] = (value.is_null() | (value == value.round(0))).all()
            outputs.append(value.alias(c))
            columns[c] = cspec
            continue
        if (finding is not None and finding.in_text) or (cspec.role == "free_text"):
            hits = pl.lit(False)
            for pattern in IN_TEXT_PATTERNS.values():
                hits = hits | value.str.contains(pattern)
                value = value.str.replace_all(pattern, mask_with(REMOVED))
            count("mask_identifiers_in_text", c, hits, "ID numbers, phones and e-mail addresses")
        outputs.append(value.alias(c))
        columns[c] = cspec

    any_of, all_of = set(has_time.values()), set(whole.values())
    if ds.on_spark:
        cleaned = _CleanedBatches(prepare, id_columns, key, settings)
        sdf, sample = ds.spark_frame(t), ds.head(t, 1)
        row = cleaned.counted(sdf, sample, counts, any_of, all_of)
        final = _final_outputs(outputs, row, has_time, whole)
        rows = _spark.distinct_in_order(cleaned.rows(sdf, sample, final))  # repeats dropped
        _spark.write_parquet(rows, out)
    else:
        scratch = Path(tempfile.mkdtemp(prefix=f".{out.stem}-", dir=out.parent))
        try:
            slices = _Slices(prepare(ds.raw_frame(t)), id_columns, key, settings)
            row, written = _cleaned_slices(slices, counts, outputs, any_of, all_of, scratch)
            # The written slices hold the outputs by name; their final types apply on the way out.
            by_name = [pl.col(e.meta.output_name()) for e in outputs]
            _write_cleaned(written, _final_outputs(by_name, row, has_time, whole), out)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    changes = [
        Change(step, t, c, int(row[name]), int(row[name]), detail)
        for step, c, name, detail in pending
        if row[name]
    ]
    return _Cleaned(TableSpec(kind=tspec.kind, columns=columns), changes, renames,
                    int(row["__rows"]))  # fmt: skip


class _CleanedBatches:
    """A table's cleaning plan run on Spark, on each batch of rows in the executors: the
    batch typed, its codes looked up and its ids pseudonymised from the distinct ids it
    holds (a keyed hash of the id alone, so every batch agrees)."""

    def __init__(
        self,
        prepare: Callable[[pl.LazyFrame], pl.LazyFrame],
        ids: Mapping[str, str],
        key: bytes,
        settings: RefineSettings,
    ) -> None:
        self.prepare, self.ids, self.key, self.settings = prepare, ids, key, settings

    def _of(self, exprs: Sequence[pl.Expr]) -> Callable[[pl.DataFrame], pl.DataFrame]:
        prepare, ids, key, settings = self.prepare, self.ids, self.key, self.settings

        def run(batch: pl.DataFrame) -> pl.DataFrame:
            part = _with_pseudonyms(prepare(batch.lazy()), ids, key, settings)
            return part.select(exprs).collect()

        return run

    def counted(
        self,
        sdf: Any,
        sample: pl.DataFrame,
        counts: Mapping[str, pl.Expr],
        any_of: set[str],
        all_of: set[str],
    ) -> dict[str, Any]:
        """``counts`` over every batch: sums, and the flags in ``any_of``/``all_of``."""
        exprs = [e.alias(n) for n, e in counts.items()]
        row = _spark.reduce_batches(sdf, self._of(exprs), sample, _merge_rule(any_of, all_of))
        return _as_counts(row, any_of, all_of)

    def rows(self, sdf: Any, sample: pl.DataFrame, outputs: Sequence[pl.Expr]) -> Any:
        """The cleaned rows, a Spark frame, with their :data:`ROW` (the table's order)."""
        fn = self._of([*outputs, pl.col(ROW)])
        sample = sample.with_columns(pl.lit(0, dtype=pl.Int64).alias(ROW))
        return _spark.map_batches(_spark.with_row_ids(sdf), fn, _spark.output_schema(fn, sample))


def _cleaned_slices(
    slices: _Slices,
    counts: Mapping[str, pl.Expr],
    outputs: Sequence[pl.Expr],
    any_of: set[str],
    all_of: set[str],
    scratch: Path,
) -> tuple[dict[str, Any], list[Path]]:
    """One pass over the slices: each is typed and pseudonymised once, its ``counts`` taken
    (sums, and the any/all flags named in ``any_of``/``all_of``, over every slice) and its
    ``outputs`` written to a file in ``scratch``. Returns the counts and the files in order."""
    exprs = [e.alias(n) for n, e in counts.items()]
    per_slice, written = [], []
    for i, part in enumerate(slices.parts()):
        held = part.collect()
        per_slice.append(held.select(exprs))
        written.append(scratch / f"part-{i:05d}.parquet")
        held.select(outputs).write_parquet(
            written[-1], compression=SCRATCH_COMPRESSION, statistics=False
        )
        del held
    merge = _merge_rule(any_of, all_of)
    how = {"sum": lambda c: c.cast(pl.Int64).sum(), "min": pl.Expr.min, "max": pl.Expr.max}
    together = pl.concat(per_slice, how="vertical_relaxed")
    row = together.select(how[merge(n)](pl.col(n)) for n in together.columns)
    return _as_counts(row.row(0, named=True), any_of, all_of), written


def _merge_rule(any_of: set[str], all_of: set[str]) -> Callable[[str], str]:
    """How a count combines over slices or batches: an any flag by max, an all flag by min
    (a part without values says nothing), everything else by sum."""
    merge = {**dict.fromkeys(any_of, "max"), **dict.fromkeys(all_of, "min")}
    return lambda name: merge.get(name, "sum")


def _as_counts(row: Mapping[str, Any], any_of: set[str], all_of: set[str]) -> dict[str, Any]:
    """The combined counts as whole numbers and the flags as booleans (an all flag with no
    value at all holds)."""
    return {
        n: bool(v) if n in any_of else (v is None or bool(v)) if n in all_of else int(v or 0)
        for n, v in row.items()
    }


def _final_outputs(
    outputs: Sequence[pl.Expr],
    row: Mapping[str, Any],
    has_time: Mapping[str, str],
    whole: Mapping[str, str],
) -> list[pl.Expr]:
    """Dates without a time of day (in ``row``'s flags) are written as dates; whole numbers
    as integers."""
    final_outputs = []
    for e in outputs:
        name = e.meta.output_name()
        if name in has_time and not row[has_time[name]]:
            e = e.dt.date().alias(name)
        elif name in whole and row[whole[name]]:
            e = e.cast(pl.Int64).alias(name)
        final_outputs.append(e)
    return final_outputs


def _write_cleaned(written: list[Path], final: list[pl.Expr], out: Path) -> None:
    """The cleaned slices in ``written`` as one Parquet file ``out`` of the ``final``
    columns, without exact repeats of an earlier row; streamed, nothing is held."""
    drop = _duplicate_rows(pl.scan_parquet(written), final).implode()
    kept = pl.scan_parquet(written).with_row_index("__row").filter(~pl.col("__row").is_in(drop))
    kept.select(final).sink_parquet(out, compression=SCRATCH_COMPRESSION, statistics=True)


def _duplicate_rows(rows: pl.LazyFrame, outputs: list[pl.Expr]) -> pl.Series:
    """Row numbers of exact repeats of an earlier row, found without holding the table:
    a 64-bit hash of every row picks candidates, compared exactly."""
    hashed = rows.select(pl.struct(outputs).hash(seed=0).alias("h")).collect(engine="streaming")
    candidates = hashed["h"].is_in(repeated(hashed["h"]).implode()).arg_true().implode()
    del hashed
    if candidates.list.len().item() == 0:
        return pl.Series("__row", [], dtype=pl.UInt32)
    held = (
        rows.with_row_index("__row")
        .filter(pl.col("__row").is_in(candidates))
        .select("__row", *outputs)
        .collect(engine="streaming")
        .sort("__row")  # the first of equal rows is the one kept
    )
    return held.filter(~pl.struct(pl.exclude("__row")).is_first_distinct())["__row"]


def _typed(column: str) -> str:
    return f"__typed\x1f{column}"


_PSEUDONYM_NOTE = "keyed pseudonym (HMAC-SHA256), stable across tables"


def _with_note(c: ColumnSpec, note: str) -> str:
    """The column's description with what the refinement did to it appended."""
    return f"{c.description} ({note})" if c.description else note


# --- stage 2: generalise and suppress ---------------------------------------------------------


def _renamed_quasi(names: Sequence[str] | None, spec: DatasetSpec) -> list[str] | None:
    """The user's quasi-identifier names, minus columns the cleaning dropped."""
    if names is None:
        return None
    kept = []
    for n in names:
        table, _, column = n.rpartition(".")
        tables = [table] if table else list(spec.tables)
        if any(column in spec.tables[t].columns for t in tables if t in spec.tables):
            kept.append(n)
    return kept


def _protect(
    staged: Dataset, assessment: PrivacyAssessment, data: Path, changes: list[Change]
) -> DatasetSpec:
    """Generalise the quasi-identifiers to the plan's levels, suppress the rest, write."""
    data.mkdir(parents=True, exist_ok=True)
    if assessment.plan is None:
        for t in staged.table_names:
            if staged.on_spark:
                _spark.write_parquet(staged.spark_frame(t), data / f"{t}.parquet")
            else:
                staged.raw_frame(t).sink_parquet(
                    data / f"{t}.parquet", compression="zstd", statistics=True
                )
        return staged.spec
    # Free text the spec keeps (its identifiers already masked) stays; the verdict still
    # counts it as free text.
    kept = {(t, c) for t in staged.table_names for c, cs in staged.spec.tables[t].columns.items()
            if cs.role == "free_text"}  # fmt: skip
    applied = apply_generalisation(staged, data, assessment=assessment, keep=kept)
    generalised = [
        q for q in assessment.quasi_identifiers if assessment.plan.keys[q.name] != "exact"
    ]
    present: dict[str, int] = {}
    for t in {q.table for q in generalised}:  # one count query per table
        own = [q for q in generalised if q.table == t]
        given = view(staged, Rows(t, tuple(pl.col(q.column).alias(q.name) for q in own)))
        present.update(
            given.reduce(lambda f: f.select(pl.all().is_not_null().sum()), lambda _: "sum")
        )
    tables = {t: dict(ts.columns) for t, ts in staged.spec.tables.items()}
    for q in generalised:
        key = assessment.plan.keys[q.name]
        n = int(present[q.name])
        changes.append(Change("generalise", q.table, q.column, n, n, key))
        c = tables[q.table][q.column]
        # A date generalised beyond a month is no longer a date; a removed column is empty.
        role = c.role
        if c.role in DATE_ROLES or key == "suppressed":
            role = "quasi_identifier"
        level = text("generalisation_levels", key, "en")
        tables[q.table][q.column] = replace(
            c, role=role, quasi=True, description=_with_note(c, level)
        )
    if applied.suppressed_people:
        n_qi = len(assessment.quasi_identifiers)
        changes.append(Change("suppress", "*", None, applied.suppressed_people, applied.suppressed_people * n_qi,
                              f"quasi-identifiers blanked for people still in classes < {assessment.target_k}"))  # fmt: skip
    # Columns apply_generalisation dropped as identifiers ("column", or "table.column").
    for name in applied.dropped_columns:
        t, _, col = name.rpartition(".")
        for table in [t] if t else list(tables):
            tables[table].pop(col, None)
    new = {t: TableSpec(staged.spec.tables[t].kind, cols) for t, cols in tables.items()}
    return replace(staged.spec, tables=new)


def _parameters(
    ds: Dataset,
    settings: RefineSettings,
    k: int,
    secret_env: str,
    quasi: Sequence[str] | None,
    max_suppression: float,
    label: str | None,
    as_of: dt.date,
    small_cell: int,
) -> dict[str, Any]:
    return {
        "input": Path(ds.path.rstrip("/")).name,
        "k": k,
        "max_suppression": max_suppression,
        "quasi_identifiers": None if quasi is None else list(quasi),
        "dates": settings.dates,
        "max_shift_days": settings.max_shift_days if settings.dates == "shift" else None,
        "keep_raw_codes": settings.keep_raw_codes,
        "keep_free_text": list(settings.keep_free_text),
        "secret_env": secret_env,
        "label": label,
        "as_of": as_of.isoformat(),
        "small_cell_threshold": small_cell,
        "medvalue": __version__,
    }


# --- data dictionary --------------------------------------------------------------------------
