"""Profile: size, completeness and quality of a dataset in two streamed passes per table.

The column pass counts each column's distinct values (one streamed group-by per column,
all collected together); every per-column statistic and single-column check is a
count-weighted polars expression over those values, so a date is parsed once per distinct
string and memory follows the distinct values, not the rows. A column typed at the source
whose values are nearly all distinct (a continuous measurement) is sorted once instead and
read by position: the same statistics without a group per row. The row pass computes what
needs whole rows: checks across columns, record completeness and the per-patient
group-by. Checks follow OHDSI DQD's shape (violating rows over evaluated rows); the quality
dimensions follow GB/T 36344-2018 mapped to Kahn et al. 2016, each scored
X = 1 - failed / evaluated (docs/methods.md).
"""

from __future__ import annotations

import bisect
import collections
import datetime as dt
import itertools
import math
import os
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Final

import polars as pl

from medvalue.analyses._checks import (
    DIMENSION_OF,
    HIGH_MISSING_SHARE,
    PEOPLE_CHECKS,
    SEVERITY,
    Check,
    Counter,
    Finding,
    code_findings,
    column_checks,
    count_rows,
    count_weighted,
    cross_checks,
    cross_columns,
    duplicate_rows,
    orphan_findings,
    patient_aggregations,
    patient_checks,
    patient_columns,
    patient_singletons,
    patients_with,
    read_findings,
    sex_code,
    stale_findings,
)
from medvalue.analyses._quality import Quality, score_quality
from medvalue.core import _parts
from medvalue.core._config import SMALL_CELL_THRESHOLD
from medvalue.core._display import Displayed
from medvalue.core._errors import ParameterError
from medvalue.core._files import cache_dir
from medvalue.core._i18n import text
from medvalue.core._lookup import look_up
from medvalue.core._sorting import sorted_rows
from medvalue.core._suppression import suppress
from medvalue.read import _spark
from medvalue.read._dataset import ColumnPlan, Dataset
from medvalue.read._spec import HIDDEN_ROLES, ColumnSpec, TableSpec

#: A top-value list is shown only for columns with at most this many distinct values.
TOP_VALUES_MAX_DISTINCT = 30
#: Sites (departments, wards) listed at most.
MAX_SITES = 50
_COUNTED_VALUES = max(TOP_VALUES_MAX_DISTINCT, MAX_SITES) + 1
# Key-field roles: a record lacking one of these is incomplete (GB/T record completeness).
_KEY_ROLES = ("patient_id", "sex", "age", "birth_date", "admission_date", "label")
# Columns that may legitimately be empty: not counted against element completeness.
_OPTIONAL_ROLES = ("death_date", "procedure_date", "free_text", "direct_identifier")


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnProfile:
    """Statistics of one column. Values are withheld for identifier and free-text roles."""

    table: str
    name: str
    dtype: str
    role: str
    rows: int
    null_count: int
    placeholder_count: int
    n_unique: int
    unparseable: int
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    q25: Any = None
    median: Any = None
    q75: Any = None
    min_length: int | None = None
    max_length: int | None = None
    top_values: tuple[tuple[str, int], ...] = ()
    top_values_suppressed: int = 0
    expected: bool = True  # expected to hold a value (counts towards completeness)
    #: Which order statistics ``min`` and ``max`` are: 1 for the extremes; k (the small-cell
    #: threshold) for a quasi-identifier, whose k-th lowest and highest values are shown so
    #: that no one person's age or birth date is.
    extremes_rank: int = 1
    #: Set where q25, median and q75 are approximate (a Spark table's column with many
    #: distinct values): the most their rank can differ from the exact one, as a share of rows.
    quantile_rank_error: float | None = None

    @property
    def null_fraction(self) -> float:
        return self.null_count / self.rows if self.rows else 0.0

    @property
    def parse_share(self) -> float | None:
        present = self.rows - self.null_count
        return None if present == 0 else (present - self.unparseable) / present

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "name": self.name,
            "dtype": self.dtype,
            "role": self.role,
            "rows": self.rows,
            "null_count": self.null_count,
            "null_fraction": round(self.null_fraction, 6),
            "placeholder_count": self.placeholder_count,
            "n_unique": self.n_unique,
            "unparseable": self.unparseable,
            "parse_share": None if self.parse_share is None else round(self.parse_share, 6),
            "min": _json_value(self.min),
            "max": _json_value(self.max),
            "extremes_rank": self.extremes_rank,
            "mean": _json_value(self.mean),
            "std": _json_value(self.std),
            "q25": _json_value(self.q25),
            "median": _json_value(self.median),
            "q75": _json_value(self.q75),
            "min_length": self.min_length,
            "max_length": self.max_length,
            "top_values": [{"value": v, "count": c} for v, c in self.top_values],
            "top_values_suppressed": self.top_values_suppressed,
        } | (
            {"quantile_rank_error": self.quantile_rank_error}
            if self.quantile_rank_error is not None
            else {}
        )


@dataclass(frozen=True)
class TableSize:
    name: str
    kind: str
    rows: int
    columns: int
    bytes_on_disk: int


@dataclass(frozen=True)
class Size:
    tables: tuple[TableSize, ...]
    rows: int
    columns: int
    patients: int | None
    encounters: int | None
    first_date: dt.date | None
    last_date: dt.date | None
    bytes_on_disk: int
    records_per_patient: Mapping[str, float] | None
    sites: tuple[tuple[str, str, int], ...]  # (column, value, count) with count >= threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "columns": self.columns,
            "tables": [t.__dict__ for t in self.tables],
            "patients": self.patients,
            "encounters": self.encounters,
            "first_date": _json_value(self.first_date),
            "last_date": _json_value(self.last_date),
            "bytes_on_disk": self.bytes_on_disk,
            "records_per_patient": self.records_per_patient,
            "sites": [{"column": c, "value": v, "count": n} for c, v, n in self.sites],
        }


@dataclass(frozen=True)
class PatientCompleteness:
    """Share of patients with at least one value of a field that matters for this spec."""

    table: str
    column: str
    role: str
    patients_with: int
    patients: int

    @property
    def share(self) -> float:
        return self.patients_with / self.patients if self.patients else 0.0


@dataclass(frozen=True, repr=False)
class Profile(Displayed):
    """The profile of a dataset: what :func:`profile` returns."""

    _view: ClassVar[str] = "profile_section"

    dataset: str
    as_of: dt.date
    small_cell: int
    size: Size
    columns: tuple[ColumnProfile, ...]
    patient_completeness: tuple[PatientCompleteness, ...]
    quality: Quality
    findings: tuple[Finding, ...]
    histograms: tuple[Histogram, ...] = ()

    def headline(self, lang: str) -> tuple[str, str]:
        """Rows and the quality score, for one-line summaries."""
        score = "-" if self.quality.score is None else f"{self.quality.score:.1f}"
        return text("headlines", "profile", lang, rows=f"{self.size.rows:,}", score=score), ""

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "as_of": self.as_of.isoformat(),
            "small_cell_threshold": self.small_cell,
            "size": self.size.to_dict(),
            "columns": [c.to_dict() for c in self.columns],
            "patient_completeness": [
                {
                    "table": p.table,
                    "column": p.column,
                    "role": p.role,
                    "patients_with": suppress(p.patients_with, self.small_cell),
                    "patients": p.patients,
                    "share": round(p.share, 6),
                }
                for p in self.patient_completeness
            ],
            "quality": self.quality.to_dict(lang),
            "findings": [f.to_dict(lang) for f in self.findings],
            "histograms": [h.to_dict() for h in self.histograms],
        }

    def to_frame(self) -> pl.DataFrame:
        """One row per column with the headline statistics."""
        rows = [c.to_dict() for c in self.columns]
        for r in rows:
            r.pop("top_values")
            for k in ("min", "max", "q25", "median", "q75", "mean", "std"):
                r[k] = None if r[k] is None else str(r[k])
        return pl.DataFrame(rows)

    def findings_frame(self, lang: str = "en") -> pl.DataFrame:
        cols = ("severity", "dimension", "table", "column", "count", "message", "fix", "check")
        data = [f.to_dict(lang) for f in self.findings]
        return pl.DataFrame(
            {c: [d[c] for d in data] for c in cols}, schema_overrides={"count": pl.Int64}
        )


# --- the analysis ----------------------------------------------------------------------------


def profile(
    ds: Dataset, *, as_of: dt.date | str | None = None, small_cell: int = SMALL_CELL_THRESHOLD
) -> Profile:
    """Profile every table of ``ds``: size, per-column statistics, checks and quality.

    Parameters
    ----------
    ds
        The dataset (see :func:`medvalue.load_dataset`).
    as_of
        Valuation date for future-date and timeliness checks; default today.
    small_cell
        Counts of people below this are withheld from top-value lists.

    Examples
    --------
    >>> from medvalue import load_dataset
    >>> from medvalue.core._config import SAMPLE_DIR
    >>> p = profile(load_dataset(SAMPLE_DIR / "carotid_stenting.csv"), as_of="2025-01-01")
    >>> p.size.rows
    2550
    """
    as_of_date = as_date(as_of)
    if small_cell < 1:
        msg = f"small_cell must be at least 1, got {small_cell}"
        raise ParameterError(msg)
    with tempfile.TemporaryDirectory(prefix="profile-", dir=cache_dir()) as scratch:
        # Text is parsed once into columnar scratch files: each pass then reads only its columns.
        columnar = ds.columnar(Path(scratch))
        tables = [_profile_table(columnar, name, as_of_date, small_cell) for name in ds.table_names]
        patients = _distinct_ids(columnar, "patient_id", tables)
        encounters = _distinct_ids(columnar, "encounter_id", tables)
        orphans = orphan_findings(columnar, small_cell)
    findings = [f for t in tables for f in t.findings]
    findings += read_findings(ds)
    findings += [f for f in orphans if f.count]
    size = _size(ds, tables, patients, encounters)
    findings += stale_findings(size.last_date, as_of_date)
    patient_completeness = _patient_completeness(tables, size.patients)
    quality = score_quality(_totals(tables, orphans), size.last_date, as_of_date)
    order = {"error": 0, "warning": 1, "info": 2}
    findings.sort(key=lambda f: (order[f.severity], -f.count, f.table, f.column or ""))
    return Profile(
        dataset=ds.name,
        as_of=as_of_date,
        small_cell=small_cell,
        size=size,
        columns=tuple(c for t in tables for c in t.columns),
        patient_completeness=tuple(patient_completeness),
        quality=quality,
        findings=tuple(findings),
        histograms=tuple(h for t in tables for h in t.histograms),
    )


def _distinct_ids(ds: Dataset, role: str, tables: Sequence[_TableResult]) -> int | None:
    """Distinct ids of ``role`` across tables; from the profile itself when one column has
    the role (its distinct count), otherwise one more pass over the id columns."""
    hub = ds.hub(role)
    held = [hub] if hub else ds.spec.columns_with_role(role)
    if len(held) != 1:
        return ds.distinct_count(role)
    table, column = held[0]
    result = next(t for t in tables if t.name == table)
    return next(c.n_unique for c in result.columns if c.name == column)


def as_date(value: dt.date | str | None) -> dt.date:
    """A valuation date from a date, a datetime, 'YYYY-MM-DD' or None (today)."""
    if value is None:
        return dt.date.today()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        msg = f"the valuation date must be YYYY-MM-DD, got '{value}'"
        raise ParameterError(msg) from None


@dataclass
class _TableResult:
    name: str
    rows: int
    columns: list[ColumnProfile]
    findings: list[Finding]
    counters: dict[str, tuple[int, int]]  # dimension-part -> (evaluated, failed)
    patient_fields: list[tuple[str, str, int]]  # (column, role, patients with a value)
    date_range: tuple[dt.date | None, dt.date | None]
    records_per_patient: dict[str, float] | None
    sites: list[tuple[str, str, int]]
    histograms: list[Histogram]


@dataclass
class _Gathered:
    """What a table's passes over its rows found, on either engine: the checks (numbered as
    in ``row``), the statistics by key, the distinct-value tables of the shown columns,
    repeated rows, the histograms' counts per bin, and the columns whose quantiles are
    approximate."""

    checks: list[Check]
    row: dict[str, Any]
    distinct: dict[str, pl.DataFrame]
    repeats: int
    binned: dict[str, dict[int, int]]
    approximate: frozenset[str] = frozenset()


def _profile_table(ds: Dataset, name: str, as_of: dt.date, small_cell: int) -> _TableResult:
    gather = _gather_on_spark if ds.on_spark else _gather
    return _finish_table(ds, name, gather(ds, name, as_of, small_cell), small_cell)


def _gather(ds: Dataset, name: str, as_of: dt.date, small_cell: int) -> _Gathered:
    tspec = ds.table_spec(name)
    plans = ds.plans[name]
    raw = ds.raw_frame(name)
    direct = _direct_columns(raw, tspec, plans)
    checks, row, distinct, on_rows, sorted_bins = _column_pass(
        lambda c: raw.group_by(c).agg(pl.len().alias(_N)),
        tspec, plans, as_of, small_cell, direct, raw,
    )  # fmt: skip
    cross = dict(
        enumerate(cross_checks(tspec, {c: pl.col(_TYPED + c) for c in plans}), len(checks))
    )
    checks += cross.values()
    per_patient = patient_checks(tspec)
    query = _row_query(raw, tspec, plans, distinct, on_rows, cross, row)
    row.update(query.collect(engine=ENGINE).row(0, named=True))
    if tspec.first("patient_id"):  # after the row pass: the patient group-by wants the memory
        complete = _complete_fields(tspec, row)
        records = _patient_records(raw, tspec, plans, distinct, row, complete)
        table = _records_table(
            records, tspec, per_patient, len(checks), int(row["__rows"]),
            one_each=_one_record_each(records), complete=complete,
        )  # fmt: skip
        row.update(_patient_row(table))
    checks += per_patient
    repeats = _duplicate_rows(
        lambda: duplicate_rows(raw, list(plans), _most_varied(tspec, plans, row)), row, plans
    )
    _count_values(tspec, plans, distinct, row)
    sources = {c: distinct[c].lazy() for c in distinct}
    return _Gathered(checks, row, distinct, repeats, sorted_bins | _binned(plans, sources, row))


def _finish_table(ds: Dataset, name: str, g: _Gathered, small_cell: int) -> _TableResult:
    tspec = ds.table_spec(name)
    plans = ds.plans[name]
    checks, row, distinct, repeats = g.checks, g.row, g.distinct, g.repeats
    pid = tspec.first("patient_id")
    if pid:
        row[f"{pid}\x1fn_unique"] = row["__patients"]
    rows = int(row["__rows"])
    top, sites = _value_lists(tspec, plans, row, small_cell)
    histograms = _histograms(name, tspec, plans, g.binned, row, small_cell)
    error = 1 / _spark.QUANTILE_ACCURACY
    columns = [
        replace(
            _column_profile(name, c, plans[c], tspec.columns[c], row, rows, top, small_cell),
            quantile_rank_error=error if c in g.approximate else None,
        )
        for c in plans
    ]
    findings: list[Finding] = []
    counters: dict[str, list[int]] = {}
    outcomes = [
        (chk.check, chk.column, chk.params, row[f"__fail\x1f{i}"], row[f"__eval\x1f{i}"])
        for i, chk in enumerate(checks)
    ]
    outcomes.append(("duplicate_rows", None, {}, repeats, rows))
    for check, column, params, failed_n, evaluated_n in outcomes:
        failed, evaluated = int(failed_n or 0), int(evaluated_n or 0)
        if check in DIMENSION_OF:  # notes such as an assumed unit count against nothing
            part = counters.setdefault(DIMENSION_OF[check], [0, 0])
            part[0] += evaluated
            part[1] += failed
        if failed:
            withheld = small_cell if check in PEOPLE_CHECKS and failed < small_cell else 0
            findings.append(
                Finding(
                    check, name, column, SEVERITY[check], failed, evaluated, dict(params), withheld
                )
            )
    findings += _column_findings(columns, rows)
    findings += _role_conflicts(name, tspec, columns)
    code_cols = tspec.icd_code_columns
    if code_cols:
        # Code columns are always counted by distinct value (as are their checks).
        extra, evaluated, failed = code_findings(name, {c: distinct[c] for c in code_cols}, _N)
        findings += extra
        part = counters.setdefault("conformance", [0, 0])
        part[0] += evaluated
        part[1] += failed
    if rows == 0:
        findings.append(Finding("empty_table", name, None, "error", 1, 1))
    # GB/T element completeness: cells of the columns expected to hold a value.
    expected = [c for c in plans if _expected(tspec.columns[c])]
    counters["element"] = [rows * len(expected), sum(int(row[f"{c}\x1fnull"]) for c in expected)]
    # GB/T record completeness: rows with every key field present.
    if "__keys" in row:
        counters["record"] = [rows, rows - int(row["__keys"])]
    rpp = None
    if pid and rows:
        rpp = {k: float(row[f"__rpp\x1f{k}"] or 0) for k in ("min", "median", "mean", "p90", "max")}
    fields = [
        (c, tspec.columns[c].role, int(row[f"__pw\x1f{c}"])) for c in _patient_fields(tspec, pid)
    ]
    return _TableResult(
        name=name,
        rows=rows,
        columns=columns,
        findings=findings,
        counters={k: (v[0], v[1]) for k, v in counters.items()},
        patient_fields=fields,
        date_range=_date_range(plans, row),
        records_per_patient=rpp,
        sites=sites,
        histograms=histograms,
    )


#: A Spark table's column is counted by distinct value, on the driver, when Spark estimates
#: at most this many distinct values (the same code as on one machine, exact); one with more
#: (and every identifier and free-text column) is summarised inside Spark.
SPARK_DRIVER_DISTINCT = 100_000


def _gather_on_spark(ds: Dataset, name: str, as_of: dt.date, small_cell: int) -> _Gathered:
    """:func:`_gather` for a table that stays in Spark, with the same statistics and checks.

    Columns with few distinct values are counted by value in Spark and summarised by the
    same code as on one machine. The others are typed and checked row by row by the same
    polars expressions, run on Arrow batches in the executors, and summarised by Spark:
    exact counts, distinct values and extremes, approximate quartiles. The row pass is
    summed over batches; the patient group-by runs per partition of rows shuffled by
    patient. Only aggregates reach the driver.
    """
    tspec, plans = ds.table_spec(name), ds.plans[name]
    sdf, sample = ds.spark_frame(name), ds.raw.table(name).frame.collect()
    pid = tspec.first("patient_id")
    codes = set(tspec.icd_code_columns)
    shown = [c for c in plans if c != pid and tspec.columns[c].role not in HIDDEN_ROLES]
    estimate = _spark.approx_distinct(sdf, shown)
    few = [c for c in shown if c in codes or estimate[c] <= SPARK_DRIVER_DISTINCT]
    many = [c for c in plans if c != pid and c not in few]
    counted = _spark.value_counts(sdf, few, _N)
    checks, row, distinct, on_rows, _ = _column_pass(
        lambda c: counted[c].lazy(),
        tspec, {c: p for c, p in plans.items() if c in few or c == pid}, as_of, small_cell,
    )  # fmt: skip
    many_checks, binned, approximate = _many_on_spark(
        ds, name, sample, many, as_of, small_cell, row, len(checks)
    )
    checks += many_checks
    cross = dict(
        enumerate(cross_checks(tspec, {c: pl.col(_TYPED + c) for c in plans}), len(checks))
    )
    checks += cross.values()

    def row_pass(batch: pl.DataFrame) -> pl.DataFrame:
        return _row_query(batch.lazy(), tspec, plans, distinct, on_rows, cross, row).collect()

    read = _row_columns(tspec, plans)  # only these columns leave Spark's scan
    row.update(_spark.reduce_batches(sdf, row_pass, sample, _merge_of, columns=read))
    per_patient = patient_checks(tspec)
    if pid:
        offset = len(checks)

        complete = _complete_fields(tspec, row)

        def per_partition(rows: pl.DataFrame) -> pl.DataFrame:
            records = _patient_records(rows.lazy(), tspec, plans, distinct, row, complete)
            return _records_table(
                records, tspec, per_patient, offset, rows.height, complete=complete
            )

        key = plans[pid].typed()
        by_n = _spark.per_key(
            sdf, lambda f: f.select(key).to_series(), per_partition, sample,
            columns=_record_columns(tspec), rows=int(row["__rows"]),
        )  # fmt: skip
        row.update(_patient_row(by_n))
    checks += per_patient
    repeats = _duplicate_rows(lambda: _spark.repeated_rows(sdf), row, plans)
    _count_values(tspec, plans, distinct, row)
    binned |= _binned(plans, {c: distinct[c].lazy() for c in distinct}, row)
    return _Gathered(checks, row, distinct, repeats, binned, approximate)


def _merge_of(key: str) -> str:
    """How a row-pass statistic combines over batches (see :func:`_spark.reduce_batches`)."""
    if key.endswith("\x1fminlen"):
        return "min"
    if key.endswith("\x1fmaxlen"):
        return "max"
    return "sum"


def _row_flag(cond: pl.Expr) -> pl.Expr:
    """A :data:`Counter` that counts nothing: the row's own 0 or 1, for Spark to sum."""
    return cond.fill_null(False).cast(pl.Int64)


_QUARTILES = ((0.25, "q25"), (0.5, "median"), (0.75, "q75"))


def _many_on_spark(
    ds: Dataset,
    name: str,
    sample: pl.DataFrame,
    many: Sequence[str],
    as_of: dt.date,
    small_cell: int,
    row: dict[str, Any],
    offset: int,
) -> tuple[list[Check], dict[str, dict[int, int]], frozenset[str]]:
    """Statistics and checks of the columns with many distinct values, computed in Spark.

    Each row is typed and flagged (missing, placeholder, unparseable, each check failed and
    evaluated) by the polars expressions of one machine, in the executors; Spark sums the
    flags and computes distinct counts, extremes, mean and spread, approximate quantiles
    (:data:`medvalue.read._spark.QUANTILE_ACCURACY`), lengths and histogram bins. Adds to
    ``row`` under the keys :func:`_column_exprs` uses; returns the checks (numbered from
    ``offset``), the rows per histogram bin and the columns whose quartiles it gave (the
    approximate ones). ``sample`` is the table's first rows, for the batches' schema."""
    if not many:
        return [], {}, frozenset()
    tspec, plans = ds.table_spec(name), ds.plans[name]
    sdf = ds.spark_frame(name)
    checks: list[Check] = []
    outputs: list[pl.Expr] = []
    for c in many:
        plan, t, missing = plans[c], pl.col(_TYPED + c), pl.col(_MISSING + c)
        value = t.cast(pl.Datetime("us")).dt.epoch("us") if plan.kind == "datetime" else t
        outputs += [
            value.alias(_TYPED + c),
            _row_flag(missing).alias(f"{c}\x1fnull"),
            _row_flag(plan.placeholder()).alias(f"{c}\x1fplaceholder"),
            _row_flag(~missing & t.is_null()).alias(f"{c}\x1funparseable"),
        ]
        for chk in column_checks(c, tspec.columns[c], plan, t, ~missing, as_of, _row_flag):
            i = offset + len(checks)
            outputs += [chk.failed.alias(f"__fail\x1f{i}"), chk.evaluated.alias(f"__eval\x1f{i}")]
            checks.append(chk)

    def typed_rows(batch: pl.DataFrame) -> pl.DataFrame:
        return _with_typed(batch.lazy(), plans, many).select(outputs).collect()

    typed = _spark.map_batches(sdf, typed_rows, _spark.output_schema(typed_rows, sample)).cache()
    flags = [o.meta.output_name() for o in outputs if not o.meta.output_name().startswith(_TYPED)]
    requests = {}
    for c in many:
        cspec, kind = tspec.columns[c], plans[c].kind
        quantiles = [q for q, _ in _QUARTILES] if kind in ("number", "integer", "datetime") else []
        if kind in ("number", "integer") and cspec.role in _HIST_ROLES:
            quantiles += [0.01, 0.99]
        bounds = None
        if kind == "datetime" and cspec.role not in ("birth_date", "direct_identifier"):
            bounds = (_epoch_us(dt.datetime(1900, 1, 1)),
                      _epoch_us(dt.datetime.combine(dt.date.today(), dt.time.max)))  # fmt: skip
        requests[_TYPED + c] = _spark.Request(
            quantiles=tuple(quantiles),
            moments=kind in ("number", "integer"),
            lengths=kind == "string",
            bounds=bounds,
        )
    stats = _spark.statistics(typed, requests, flags)
    row.update({f: int(stats[f] or 0) for f in flags})
    binned: dict[str, dict[int, int]] = {}
    approximate: set[str] = set()
    for c in many:
        k, got, cspec, kind = f"{c}\x1f", stats[_TYPED + c], tspec.columns[c], plans[c].kind
        row[k + "n_unique"] = int(got["n_unique"])
        if kind == "string":
            row[k + "minlen"], row[k + "maxlen"] = got["minlen"], got["maxlen"]
        if cspec.role in HIDDEN_ROLES or kind not in ("number", "integer", "datetime"):
            continue
        as_date = plans[c].source_dtype == "Date"  # a date column's extremes stay dates
        back = _back(kind, as_date)
        lo, hi = got["min"], got["max"]
        if cspec.quasi and small_cell > 1:
            lo = _spark.kth_value(typed, _TYPED + c, small_cell, largest=False)
            hi = _spark.kth_value(typed, _TYPED + c, small_cell, largest=True)
        row[k + "min"], row[k + "max"] = back(lo), back(hi)
        approximate.add(c)
        for q, key in _QUARTILES:
            v = got[f"q{q}"]
            row[k + key] = _back(kind, False)(v) if kind == "datetime" else _float(v)
        if kind == "datetime":
            if "first" in got:
                row[k + "first"], row[k + "last"] = back(got["first"]), back(got["last"])
            continue
        row[k + "mean"], row[k + "std"] = got["mean"], got["std"]
        if cspec.role in _HIST_ROLES:
            row[k + "p01"], row[k + "p99"] = _float(got["q0.01"]), _float(got["q0.99"])
            for col, (lo_edge, hi_edge) in _bin_ranges([c], row).items():
                width = (hi_edge - lo_edge) / HISTOGRAM_BINS
                binned[col] = _spark.binned(typed, _TYPED + c, lo_edge, width, HISTOGRAM_BINS)
    typed.unpersist()
    return checks, binned, frozenset(approximate)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _back(kind: str, as_date: bool) -> Callable[[Any], Any]:
    """A statistic computed in Spark as it reads on one machine: datetimes were sent as
    microseconds since 1970 (no time zone can shift them)."""
    if kind != "datetime":
        return lambda v: v

    def back(v: Any) -> Any:
        value = _from_epoch_us(v)
        return value.date() if as_date and value is not None else value

    return back


def _epoch_us(value: dt.datetime) -> int:
    return round((value - dt.datetime(1970, 1, 1)).total_seconds() * 1_000_000)


def _from_epoch_us(value: int | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=int(value))


def _duplicate_rows(
    count: Callable[[], int], row: Mapping[str, Any], columns: Iterable[str] = ()
) -> int:
    """Repeated rows, counted by ``count`` unless there can be none: two equal rows share
    their patient id, so where every patient has one row (at most one row lacks the id),
    no row is compared; nor where one of ``columns`` holds a different value in every row
    (a measurement of 10M distinct floats, a visit number): equal rows are equal there too.
    """
    rows = int(row["__rows"])
    if "__patients" in row:
        without_id = rows - int(row["__with_pid"] or 0)
        if int(row["__rpp\x1fmax"] or 0) <= 1 and without_id <= 1:
            return 0
    # Distinct values are counted typed and without missing ones: as many as rows, then
    # no two rows are equal there ("45" and "45.0" would count once).
    if rows > 1 and any(row.get(f"{c}\x1fn_unique") == rows for c in columns):
        return 0
    return count()


#: Columns the duplicate-row check narrows its candidates by (see ``duplicate_rows``).
NARROW_COLUMNS = 3


def _most_varied(
    tspec: TableSpec, plans: Mapping[str, ColumnPlan], row: Mapping[str, Any]
) -> list[str]:
    """The patient id and the columns with the most distinct values, :data:`NARROW_COLUMNS`
    in all: two rows equal there are few, unless the table's rows repeat."""
    pid = tspec.first("patient_id")
    varied = sorted(
        (c for c in plans if c != pid and row.get(f"{c}\x1fn_unique") is not None),
        key=lambda c: -int(row[f"{c}\x1fn_unique"]),
    )
    return ([pid] if pid else []) + varied[: NARROW_COLUMNS - (1 if pid else 0)]


def _expected(cspec: ColumnSpec) -> bool:
    if cspec.role in _OPTIONAL_ROLES:
        return False
    return not (cspec.role == "diagnosis_code" and cspec.position == "secondary")


_TYPED, _MISSING = "\x1ftyped:", "\x1fmissing:"
#: In a table of a column's distinct values: how many rows hold the value.
_N = "\x1fn"
#: Every pass over the data streams: memory follows the distinct values, not the rows.
ENGINE: Final = "streaming"


def _with_typed(
    raw: pl.LazyFrame, plans: Mapping[str, ColumnPlan], columns: Iterable[str]
) -> pl.LazyFrame:
    """``raw`` plus, for each of ``columns``, its typed value and missing flag."""
    cols = list(columns)
    exprs = [plans[c].typed().alias(_TYPED + c) for c in cols]
    exprs += [plans[c].missing().alias(_MISSING + c) for c in cols]
    return raw.with_columns(exprs)


#: Queries collected together at most: polars runs a batch in parallel, but the cost of one
#: collect_all grows faster than its number of queries (400 one-column group-bys: 27 s
#: together, 1.6 s one by one), so a wide table is collected in batches.
COLLECT_BATCH = 16


def collect_batched(queries: Sequence[pl.LazyFrame], **kwargs: Any) -> list[pl.DataFrame]:
    """``pl.collect_all`` in batches of :data:`COLLECT_BATCH` queries (time linear in columns)."""
    out: list[pl.DataFrame] = []
    for i in range(0, len(queries), COLLECT_BATCH):
        out += pl.collect_all(queries[i : i + COLLECT_BATCH], **kwargs)
    return out


#: Rows of a table's head read to estimate each column's cardinality, and the share of them
#: that must be distinct for the column to be summarised over its sorted rows instead of its
#: distinct values (continuous measurements: a group-by would keep a group per row).
CARDINALITY_PROBE_ROWS = 10_000
DIRECT_DISTINCT_SHARE = 0.9


def _direct_columns(
    raw: pl.LazyFrame, tspec: TableSpec, plans: Mapping[str, ColumnPlan]
) -> frozenset[str]:
    """The columns summarised over their sorted rows: typed at the source (no text to
    parse once per distinct value) and nearly all distinct in the table's first rows.

    Either way gives the same statistics; this only picks the cheaper one. Counting distinct
    values streams and is cheap when they are few; with nearly as many as rows it builds a
    group per row and then sorts them, where sorting the column once is enough.
    """
    pid = tspec.first("patient_id")
    codes = tspec.icd_code_columns  # counted by value for the code checks
    candidates = [
        c
        for c, plan in plans.items()
        if c != pid
        and c not in codes
        and not plan.is_text_source
        and not plan.is_zoned  # local time is not in the order of the stored instants (DST)
        and plan.kind in ("number", "integer", "datetime")
    ]
    if not candidates:
        return frozenset()
    probe = CARDINALITY_PROBE_ROWS
    seen = raw.head(probe).select(pl.col(c).n_unique() for c in candidates).collect().row(0)
    return frozenset(
        c for c, n in zip(candidates, seen, strict=True) if n >= DIRECT_DISTINCT_SHARE * probe
    )


def _column_pass(
    counts_of: Callable[[str], pl.LazyFrame],
    tspec: TableSpec,
    plans: Mapping[str, ColumnPlan],
    as_of: dt.date,
    small_cell: int,
    direct: frozenset[str] = frozenset(),
    raw: pl.LazyFrame | None = None,
) -> tuple[
    list[Check], dict[str, Any], dict[str, pl.DataFrame], list[pl.Expr], dict[str, dict[int, int]]
]:
    """Every per-column statistic and single-column check, from each column's distinct values
    or, for the ``direct`` columns, from its rows sorted once.

    One streamed group-by per column (``counts_of``, all in one collect) counts the rows of
    each distinct raw value (in the column :data:`_N` names); the value is typed, flagged
    and checked once, and each statistic is the count-weighted one over those values.
    Returns the checks (numbered in the order of the ``__fail``/``__eval`` keys), the
    statistics, the distinct-value tables of the columns whose values may be shown
    (identifier and free-text tables never leave here), the patient id's statistics as
    expressions over rows, for the row pass, and the sorted columns' rows per histogram bin.
    """
    checks: list[Check] = []
    queries: list[pl.LazyFrame] = []
    on_sorted: list[tuple[str, list[pl.Expr]]] = []  # (column, statistics over its sorted rows)
    reduced: dict[str, list[pl.Expr]] = {}
    on_rows: list[pl.Expr] = []
    pid = tspec.first("patient_id")
    for c, plan in plans.items():
        cspec = tspec.columns[c]
        t, missing = pl.col(_TYPED + c), pl.col(_MISSING + c)
        # The patient id is not grouped here: the per-patient group-by of the row pass
        # counts its distinct values, and its other statistics are sums over the rows.
        by_rows = c == pid
        count = count_rows if by_rows or c in direct else count_weighted(_N)
        exprs = _column_exprs(
            c, plan, cspec, small_cell, count, distinct=not by_rows, on_sorted_rows=c in direct
        )
        for chk in column_checks(c, cspec, plan, t, ~missing, as_of, count):
            i = len(checks)
            exprs += [chk.failed.alias(f"__fail\x1f{i}"), chk.evaluated.alias(f"__eval\x1f{i}")]
            checks.append(chk)
        if by_rows:
            on_rows += exprs
            continue
        if c in direct and raw is not None:
            on_sorted.append((c, exprs))
            continue
        reduced[c] = exprs
        counted = _with_typed(counts_of(c), plans, [c])
        # Identifier and free-text values are reduced to their statistics inside the query.
        queries.append(counted.select(exprs) if cspec.role in HIDDEN_ROLES else counted)
    row: dict[str, Any] = {}
    distinct: dict[str, pl.DataFrame] = {}
    for c, result in zip(reduced, collect_batched(queries, engine=ENGINE), strict=True):
        if tspec.columns[c].role in HIDDEN_ROLES:
            row.update(result.row(0, named=True))
        else:
            distinct[c] = result
    stats = collect_batched([_ranked(distinct[c], c).select(reduced[c]) for c in distinct])
    for result in stats:
        row.update(result.row(0, named=True))
    binned: dict[str, dict[int, int]] = {}
    if on_sorted and raw is not None:
        # Sorting holds a column's rows: as many columns at once as there are cores, each
        # read and sorted in a thread of its own; the statistics of one sorted column run
        # here while the next sorts (1.2 s for eight columns of 10M floats, against 1.7 s
        # with each thread computing its own statistics, and 2.3 s with polars sorting).
        held = _read_sorted(raw, [c for c, _ in on_sorted])
        for (c, exprs), values in zip(on_sorted, held, strict=True):
            summary, bins = _summarise_sorted(values, plans, tspec, exprs)
            row.update(summary)
            if bins is not None:
                binned[c] = bins
    return checks, row, distinct, on_rows, binned


_SORTED_AT_ONCE = max(1, min(8, os.cpu_count() or 1))


def _read_sorted(raw: pl.LazyFrame, columns: Sequence[str]) -> Iterator[pl.Series]:
    """Each of ``columns`` read and sorted (:func:`sorted_rows`), in order, by
    :data:`_SORTED_AT_ONCE` threads; a column is started only as one is handed over, so
    memory holds a few columns whatever the table's width."""

    def read_sorted(c: str) -> pl.Series:
        return sorted_rows(raw.select(c).collect(engine=ENGINE).get_column(c))

    waiting = iter(columns)
    with ThreadPoolExecutor(_SORTED_AT_ONCE) as pool:
        running = collections.deque(
            pool.submit(read_sorted, c) for c in itertools.islice(waiting, _SORTED_AT_ONCE)
        )
        while running:
            values = running.popleft().result()
            for c in itertools.islice(waiting, 1):
                running.append(pool.submit(read_sorted, c))
            yield values


def _summarise_sorted(
    values: pl.Series,
    plans: Mapping[str, ColumnPlan],
    tspec: TableSpec,
    exprs: Sequence[pl.Expr],
) -> tuple[dict[str, Any], dict[int, int] | None]:
    """A column's statistics (``exprs``) over its rows sorted (``values``, nulls last),
    and its rows per histogram bin (None without a histogram).

    The column is typed at the source, so typing the sorted rows keeps their order (NaN,
    sorted after every number, becomes null after them). The bins are counted on the held
    column too: reading the rows again for them cost 0.35 s on the measurements table at
    10M rows.
    """
    c = values.name
    typed = _with_typed(values.to_frame().lazy(), plans, [c]).collect()
    stats = typed.select(exprs).row(0, named=True)
    ranges = _bin_ranges([c], stats) if tspec.columns[c].role not in HIDDEN_ROLES else {}
    if c not in ranges:
        return stats, None
    counted = typed.lazy().with_columns(pl.lit(1, pl.UInt32).alias(_N))
    return stats, _bin_counts(counted, c, *ranges[c])


def _row_columns(tspec: TableSpec, plans: Mapping[str, ColumnPlan]) -> list[str]:
    """The raw columns :func:`_row_query` reads (at least one: the rows are counted)."""
    pid = tspec.first("patient_id")
    key_cols = [c for c in plans if tspec.columns[c].role in _KEY_ROLES]
    read = list(dict.fromkeys([*key_cols, *cross_columns(tspec), *([pid] if pid else [])]))
    return read or list(plans)[:1]


def _row_query(
    raw: pl.LazyFrame,
    tspec: TableSpec,
    plans: Mapping[str, ColumnPlan],
    distinct: Mapping[str, pl.DataFrame],
    on_rows: Sequence[pl.Expr],
    cross: Mapping[int, Check],
    stats: Mapping[str, Any],
) -> pl.LazyFrame:
    """The statistics that need whole rows: rows, complete key fields, ``on_rows`` (the
    patient id's statistics) and the checks across columns (``cross``, by check number);
    ``stats`` are the column pass's (see :func:`_missing_from`)."""
    pid = tspec.first("patient_id")
    key_cols = [c for c in plans if tspec.columns[c].role in _KEY_ROLES]
    compared = cross_columns(tspec)
    typed_cols = list(dict.fromkeys([*compared, *([pid] if pid else [])]))
    flagged = list(dict.fromkeys([*key_cols, *typed_cols]))
    frame = raw.with_columns(
        [_typed_from(plans[c], distinct.get(c)).alias(_TYPED + c) for c in typed_cols]
        + [_missing_from(plans[c], distinct, stats).alias(_MISSING + c) for c in flagged]
    )
    exprs = [pl.len().alias("__rows"), *on_rows]
    if key_cols:
        present = [~pl.col(_MISSING + c) for c in key_cols]
        exprs.append(pl.all_horizontal(present).sum().alias("__keys"))
    for i, chk in cross.items():
        exprs += [chk.failed.alias(f"__fail\x1f{i}"), chk.evaluated.alias(f"__eval\x1f{i}")]
    return frame.select(exprs)


def _record_columns(tspec: TableSpec) -> list[str]:
    """The raw columns :func:`_patient_records` reads: the patient id and the key fields."""
    pid = tspec.first("patient_id")
    return list(dict.fromkeys([pid, *_patient_fields(tspec, pid)])) if pid else []


def _patient_records(
    raw: pl.LazyFrame,
    tspec: TableSpec,
    plans: Mapping[str, ColumnPlan],
    distinct: Mapping[str, pl.DataFrame],
    stats: Mapping[str, Any],
    complete: Collection[str] = (),
) -> pl.LazyFrame:
    """The rows' inputs of the per-patient group-by (:func:`_records_table`): the typed
    patient id, the sex code and which key fields each row holds, but for the ``complete``
    ones (given to :func:`_records_table` too); rows without an id left out."""
    pid = tspec.first("patient_id")
    assert pid is not None
    fields = [c for c in _patient_fields(tspec, pid) if c not in complete]
    frame = raw.with_columns(
        plans[pid].typed().alias(_TYPED + pid),
        *[_missing_from(plans[c], distinct, stats).alias(_MISSING + c) for c in fields],
    )
    present = {c: ~pl.col(_MISSING + c) for c in fields}
    return frame.filter(pl.col(_TYPED + pid).is_not_null()).select(
        pl.col(_TYPED + pid).alias(_PID),
        *patient_columns(_sex_code(tspec, plans, distinct), present, fields),
    )


def _sex_code(
    tspec: TableSpec, plans: Mapping[str, ColumnPlan], distinct: Mapping[str, pl.DataFrame]
) -> pl.Expr | None:
    """The table's :func:`sex_code`, looked up among the sex column's distinct values."""
    sex = tspec.first("sex")
    if sex is None:
        return None
    if sex not in distinct:
        return sex_code(plans[sex].typed())
    return _looked_up(distinct[sex], sex, sex_code(pl.col(_TYPED + sex)))


def _typed_from(plan: ColumnPlan, distinct: pl.DataFrame | None) -> pl.Expr:
    """The typed value, looked up among the column's distinct values where parsing is dear
    (dates, numbers read out of text): a hash lookup costs a fraction of a date parse."""
    if distinct is None or not plan.is_parsed:
        return plan.typed()
    return _looked_up(distinct, plan.name, pl.col(_TYPED + plan.name))


def _missing_from(
    plan: ColumnPlan, distinct: Mapping[str, pl.DataFrame], stats: Mapping[str, Any]
) -> pl.Expr:
    """The missing flag of each row, from what the column pass found: never, where no row
    was missing (the column is not read: nine float columns of 10M rows took 0.5 s); for
    text, being one of the few raw values its distinct values flagged missing (a membership
    test costs a third of the placeholder regex, 0.03 against 0.10 s over 10M rows)."""
    c = plan.name
    if stats.get(f"{c}\x1fnull") == 0:
        return pl.lit(False)
    if c not in distinct or not plan.is_text_source:
        return plan.missing()
    held = distinct[c]
    absent = held.filter(pl.col(_MISSING + c) & pl.col(c).is_not_null()).get_column(c)
    return pl.col(c).is_null() | pl.col(c).is_in(absent.implode())


def _looked_up(distinct: pl.DataFrame, c: str, value: pl.Expr) -> pl.Expr:
    """Column ``c`` mapped, row by row, to ``value`` computed once per distinct raw value."""
    known = distinct.filter(pl.col(c).is_not_null()).select(pl.col(c), value.alias("value"))
    return look_up(pl.col(c), known.get_column(c), known.get_column("value"))


def _column_exprs(
    c: str,
    plan: ColumnPlan,
    cspec: ColumnSpec,
    small_cell: int,
    count: Counter,
    *,
    distinct: bool = True,
    on_sorted_rows: bool = False,
) -> list[pl.Expr]:
    """A column's statistics: count-weighted over a table of its distinct values, or (for
    an identifier, ``count`` over rows and ``distinct`` False) summed over the rows, or
    (``on_sorted_rows``) over the column's rows in sorted order."""
    k = f"{c}\x1f"
    t, missing = pl.col(_TYPED + c), pl.col(_MISSING + c)
    ranked: _Ranked | _SortedRows = _SortedRows(t) if on_sorted_rows else _Ranked(t)
    out = [
        count(missing).alias(k + "null"),
        count(plan.placeholder()).alias(k + "placeholder"),
        count(~missing & t.is_null()).alias(k + "unparseable"),
    ]
    if distinct:
        out.append(ranked.n_unique().alias(k + "n_unique"))
    if cspec.role in HIDDEN_ROLES:
        # No value of an identifier or free-text column ever leaves this function.
        if plan.kind == "string":
            out += [
                t.str.len_chars().min().alias(k + "minlen"),
                t.str.len_chars().max().alias(k + "maxlen"),
            ]
        return out
    if plan.kind in ("number", "integer"):
        if cspec.role in _HIST_ROLES:
            out += [
                ranked.quantile(0.01).cast(pl.Float64).alias(k + "p01"),
                ranked.quantile(0.99).cast(pl.Float64).alias(k + "p99"),
            ]
        values = t.cast(pl.Float64)
        if on_sorted_rows:  # each row counts once: polars' own (0.01 s over 10M rows, not 0.09)
            mean, spread = values.mean(), values.var()
        else:
            mean = (values * pl.col(_N)).sum() / ranked.total
            spread = ((values - mean).pow(2) * pl.col(_N)).sum() / (ranked.total - 1)
        out += [
            *_extremes(ranked, k, cspec, small_cell),
            pl.when(ranked.total > 0).then(mean).alias(k + "mean"),
            pl.when(ranked.total > 1).then(spread.sqrt()).alias(k + "std"),
        ]
        out += [
            ranked.quantile(q).cast(pl.Float64).alias(k + name)
            for q, name in ((0.25, "q25"), (0.5, "median"), (0.75, "q75"))
        ]
    elif plan.kind == "datetime":
        out += _extremes(ranked, k, cspec, small_cell)
        out += [
            ranked.quantile(q).cast(pl.Datetime("us")).alias(k + name)
            for q, name in ((0.25, "q25"), (0.5, "median"), (0.75, "q75"))
        ]
        if cspec.role not in ("birth_date", "direct_identifier"):
            # First and last event among plausible dates (1900 .. today), so that one typo
            # in 2031 does not stretch the time span a buyer reads.
            lo, hi = dt.datetime(1900, 1, 1), dt.datetime.combine(dt.date.today(), dt.time.max)
            plausible = t.filter(t.is_between(lo, hi))
            out += [plausible.min().alias(k + "first"), plausible.max().alias(k + "last")]
    elif plan.kind == "string":
        length = t.str.len_chars()
        out += [length.min().alias(k + "minlen"), length.max().alias(k + "maxlen")]
    return out


#: In a column's table of distinct values sorted by typed value (nulls last): the rows
#: holding a value at or below each one.
_BELOW = "\x1fbelow"


def _ranked(distinct: pl.DataFrame, c: str) -> pl.LazyFrame:
    """``distinct`` sorted by typed value with its :data:`_BELOW` column, for :class:`_Ranked`."""
    t = pl.col(_TYPED + c)
    weight = pl.when(t.is_not_null()).then(pl.col(_N)).otherwise(0).cast(pl.Int64)
    return distinct.lazy().sort(t, nulls_last=True).with_columns(weight.cum_sum().alias(_BELOW))


class _Ranked:
    """Order statistics of a column over its distinct values weighted by their row counts,
    each found by binary search in the :data:`_BELOW` column of :func:`_ranked`'s frame."""

    def __init__(self, t: pl.Expr) -> None:
        self.t = t
        self.below = pl.col(_BELOW)
        self.total = pl.when(t.is_not_null()).then(pl.col(_N)).otherwise(0).cast(pl.Int64).sum()
        self.held = t.is_not_null().sum()  # distinct values present

    def _at(self, index: pl.Expr) -> pl.Expr:
        return self.t.get(index, null_on_oob=True)

    def quantile(self, q: float) -> pl.Expr:
        """The value polars' ``quantile(q, "nearest")`` picks from the rows: the one at
        0-based position round((rows - 1) * q), halves rounded up."""
        position = ((self.total - 1) * q + 0.5).floor().cast(pl.Int64)
        return pl.when(self.total > 0).then(
            self._at(self.below.search_sorted(position, side="right"))
        )

    def smallest(self) -> pl.Expr:
        return self._at(pl.lit(0))

    def largest(self) -> pl.Expr:
        return self._at(self.held - 1)

    def n_unique(self) -> pl.Expr:
        """Distinct typed values (two raw texts may type to one value: "45" and "45.0")."""
        return self.t.drop_nulls().n_unique()

    def kth_smallest(self, k: int) -> pl.Expr:
        """The k-th smallest value over the rows (the largest, if fewer rows hold one)."""
        index = self.below.search_sorted(pl.lit(k, pl.Int64), side="left")
        return self._at(pl.min_horizontal(index, self.held - 1))

    def kth_largest(self, k: int) -> pl.Expr:
        """The k-th largest value over the rows (the smallest, if fewer rows hold one)."""
        return self._at(self.below.search_sorted((self.total - k).cast(pl.Int64), side="right"))


class _SortedRows:
    """The same order statistics as :class:`_Ranked`, read by position from a column's
    rows sorted once (nulls last), each row counting once."""

    def __init__(self, sorted_rows: pl.Expr) -> None:
        self.t = sorted_rows
        self.total = sorted_rows.is_not_null().sum().cast(pl.Int64)

    def _at(self, index: pl.Expr) -> pl.Expr:
        return self.t.get(index, null_on_oob=True)

    def quantile(self, q: float) -> pl.Expr:
        position = ((self.total - 1) * q + 0.5).floor().cast(pl.Int64)
        return pl.when(self.total > 0).then(self._at(position))

    def smallest(self) -> pl.Expr:
        return self._at(pl.lit(0))

    def largest(self) -> pl.Expr:
        return self._at(self.total - 1)

    def kth_smallest(self, k: int) -> pl.Expr:
        return self._at(pl.min_horizontal(pl.lit(k - 1, pl.Int64), self.total - 1))

    def kth_largest(self, k: int) -> pl.Expr:
        return self._at(pl.max_horizontal(self.total - k, pl.lit(0, pl.Int64)))

    def n_unique(self) -> pl.Expr:
        """Distinct values: runs of equal values in the sorted rows."""
        held = self.t.drop_nulls()
        return (held != held.shift(1)).sum() + (held.len() > 0).cast(pl.UInt32)


def _extremes(
    ranked: _Ranked | _SortedRows, k: str, cspec: ColumnSpec, small_cell: int
) -> list[pl.Expr]:
    """Min and max; for a quasi-identifier, the ``small_cell``-th smallest and largest
    values instead, so the range never shows the age or birth date of one person."""
    if cspec.quasi and small_cell > 1:
        return [
            ranked.kth_smallest(small_cell).alias(k + "min"),
            ranked.kth_largest(small_cell).alias(k + "max"),
        ]
    return [ranked.smallest().alias(k + "min"), ranked.largest().alias(k + "max")]


def _date_range(
    plans: Mapping[str, ColumnPlan], row: Mapping[str, Any]
) -> tuple[dt.date | None, dt.date | None]:
    """First and last plausible event date over the table's date columns."""
    firsts = [_to_date(row[f"{c}\x1ffirst"]) for c in plans if row.get(f"{c}\x1ffirst")]
    lasts = [_to_date(row[f"{c}\x1flast"]) for c in plans if row.get(f"{c}\x1flast")]
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


_PID = "__pid"
#: Records grouped per patient at once. Past it, patients are grouped in parts split by a
#: hash of the id (a patient is in one part), so memory follows a part: one group-by of 30M
#: one-record patients held 3.3 GB.
PATIENT_PART_ROWS = _parts.PEOPLE_PART_ROWS


#: Records of a table's head whose ids, all distinct, suggest one record per patient (a
#: patients table, one admission per case): then :func:`_parts.all_distinct` checks them all.
ONE_EACH_PROBE_ROWS = 10_000


def _one_record_each(records: pl.LazyFrame) -> bool:
    """Whether every patient of ``records`` has one record, checked exactly where the
    head's ids suggest it (elsewhere, the check would cost what it cannot spare)."""
    head = records.head(ONE_EACH_PROBE_ROWS).select(pl.col(_PID).n_unique() == pl.len())
    if not head.collect().item():
        return False
    return _parts.all_distinct(records, pl.col(_PID))


def _records_table(
    records: pl.LazyFrame,
    tspec: TableSpec,
    checks: Sequence[Check],
    offset: int,
    rows: int,
    *,
    one_each: bool = False,
    complete: Collection[str] = (),
) -> pl.DataFrame:
    """The per-patient group-by of ``records`` reduced to one row per records-per-patient
    value (``__n``), holding its patients, patients with each key field and the patient
    checks' sums (numbered from ``offset``).

    Records are grouped in parts (a patient is in one part); summed over parts, or over
    Spark's partitions by patient, that small table gives every statistic exactly
    (:func:`_patient_row`), the median and 90th percentile of records per patient included.
    Patients are grouped by a hash of the id (:func:`medvalue.core._parts.id_key`), exact
    by its check. With ``one_each`` (no two records share an id) each record is its own
    patient and nothing is grouped. The key fields in ``complete`` (:func:`_complete_fields`)
    are not in ``records``: every patient holds them.
    """
    pid = tspec.first("patient_id")
    fields = [c for c in _patient_fields(tspec, pid) if c not in complete]
    held_by_all = [pl.col("__patients").alias(f"__pw\x1f{c}") for c in complete]
    sums = [pl.len().alias("__patients"), *patients_with(fields)]
    for i, chk in enumerate(checks, start=offset):
        sums += [chk.failed.alias(f"__fail\x1f{i}"), chk.evaluated.alias(f"__eval\x1f{i}")]
    if one_each:  # each record is its patient: the same sums, grouped by nothing
        people = records.with_columns(patient_singletons(tspec, fields))  # a row each
        table = people.select(pl.lit(1, pl.UInt32).alias("__n"), *sums)
        return table.with_columns(held_by_all).collect(engine=ENGINE)
    aggregations = patient_aggregations(tspec, fields)
    parts = _parts.parts_of(rows, PATIENT_PART_ROWS)
    by_n = [
        _parts.per_person(
            _parts.part(records, pl.col(_PID), p, parts),
            pl.col(_PID),
            aggregations,
            lambda people, extra: people.group_by("__n").agg(*sums, *extra),
        )
        for p in range(parts)
    ]
    return pl.concat(by_n).group_by("__n").agg(pl.all().sum()).with_columns(held_by_all)


def _patient_row(by_n: pl.DataFrame) -> dict[str, Any]:
    """Patients, records per patient and the per-patient sums from :func:`_records_table`'s
    tables (stacked: parts of the patients)."""
    table = by_n.group_by("__n").agg(pl.all().sum()).sort("__n")
    row: dict[str, Any] = {c: int(table[c].sum()) for c in table.columns if c != "__n"}
    row |= _records_per_patient(table["__n"].to_list(), table["__patients"].to_list())
    return row


def _records_per_patient(values: Sequence[int], patients: Sequence[int]) -> dict[str, Any]:
    """Records per patient: with ``patients[i]`` patients holding ``values[i]`` records each
    (``values`` ascending), what polars' min, median, mean, quantile(0.9, "nearest") and max
    of the per-patient counts give, and how many records those patients hold."""
    total = sum(patients)
    held = sum(v * n for v, n in zip(values, patients, strict=True))
    out: dict[str, Any] = {"__with_pid": held}
    if not total:
        return out | {f"__rpp\x1f{k}": None for k in ("min", "median", "mean", "p90", "max")}
    ends = list(itertools.accumulate(patients))

    def at(position: int) -> int:  # the value at 0-based position of the sorted counts
        return values[bisect.bisect_right(ends, position)]

    middle = (total - 1) / 2
    return out | {
        "__rpp\x1fmin": values[0],
        "__rpp\x1fmedian": (at(math.floor(middle)) + at(math.ceil(middle))) / 2,
        "__rpp\x1fmean": held / total,
        "__rpp\x1fp90": at(math.floor((total - 1) * 0.9 + 0.5)),
        "__rpp\x1fmax": values[-1],
    }


def _patient_fields(tspec: TableSpec, pid: str | None) -> list[str]:
    if not pid:
        return []
    roles = ("diagnosis_code", "label", "measurement", "sex", "age", "birth_date")
    return [c for c, cs in tspec.columns.items() if cs.role in roles]


def _complete_fields(tspec: TableSpec, stats: Mapping[str, Any]) -> frozenset[str]:
    """The key fields no row lacks (the column pass counted no missing value): every patient
    holds them, so the per-patient group-by need not carry them (eight complete fields of
    10M records cost it 0.17 s)."""
    fields = _patient_fields(tspec, tspec.first("patient_id"))
    return frozenset(c for c in fields if stats.get(f"{c}\x1fnull") == 0)


HISTOGRAM_BINS = 20
_HIST_ROLES = ("age", "measurement")


@dataclass(frozen=True)
class Histogram:
    """Counts of a numeric column in equal-width bins between its 1st and 99th percentiles.

    Values beyond those percentiles fall in the first or last bin (open-ended), so that one
    typo does not squash the picture. Bins with fewer people than the small-cell threshold
    have ``None`` as their count.
    """

    table: str
    column: str
    role: str
    edges: tuple[float, ...]
    counts: tuple[int | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "role": self.role,
            "edges": list(self.edges),
            "counts": list(self.counts),
        }


def _value_lists(
    tspec: TableSpec, plans: Mapping[str, ColumnPlan], row: Mapping[str, Any], small_cell: int
) -> tuple[dict[str, tuple[tuple[tuple[str, int], ...], int]], list[tuple[str, str, int]]]:
    """Top values of low-cardinality columns and the site list, small cells withheld."""
    top: dict[str, tuple[tuple[tuple[str, int], ...], int]] = {}
    sites: list[tuple[str, str, int]] = []
    for c in plans:
        counted = row.get(f"{c}\x1fcounts")
        if counted is None:
            continue
        pairs = sorted(((d["v"], int(d["count"])) for d in counted), key=lambda p: (-p[1], p[0]))
        if 0 < int(row[f"{c}\x1fn_unique"]) <= TOP_VALUES_MAX_DISTINCT:
            # The values partition the column's non-missing rows, whose number is shown: a
            # single withheld value would be that number minus the others, so the rule
            # withholds a second one (complementary suppression).
            kept = suppress([n for _, n in pairs], small_cell)
            shown = tuple((v, n) for (v, n), m in zip(pairs, kept, strict=True) if m is not None)
            top[c] = (shown, sum(1 for m in kept if m is None))
        if tspec.columns[c].role == "site":
            sites += [(c, v, n) for v, n in pairs[:MAX_SITES] if n >= small_cell]
    return top, sites


def _count_values(
    tspec: TableSpec,
    plans: Mapping[str, ColumnPlan],
    distinct: Mapping[str, pl.DataFrame],
    row: dict[str, Any],
) -> None:
    """Add to ``row`` each shown text column's most frequent typed values with their counts
    (ties are ordered later), for top-value lists and sites."""
    counted = [c for c in distinct if plans[c].kind in ("string", "boolean")]
    t, n = pl.col("v"), pl.col("count")
    queries = [
        distinct[c]
        .lazy()
        .select(pl.col(_TYPED + c).cast(pl.String).alias("v"), pl.col(_N).alias("count"))
        .filter(t.is_not_null())
        .group_by("v")
        .agg(n.sum())
        .sort(["count", "v"], descending=[True, False])
        .head(_COUNTED_VALUES)
        for c in counted
    ]
    for c, result in zip(counted, collect_batched(queries), strict=True):
        row[f"{c}\x1fcounts"] = result.to_dicts()


def _bin_ranges(columns: Iterable[str], row: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Each of ``columns`` with a histogram: its 1st and 99th percentiles, known from the
    column pass, where they differ."""
    ranges: dict[str, tuple[float, float]] = {}
    for c in columns:
        lo, hi = row.get(f"{c}\x1fp01"), row.get(f"{c}\x1fp99")
        if lo is not None and hi is not None and hi > lo:
            ranges[c] = (float(lo), float(hi))
    return ranges


def _binned(
    plans: Mapping[str, ColumnPlan], sources: Mapping[str, pl.LazyFrame], row: Mapping[str, Any]
) -> dict[str, dict[int, int]]:
    """Rows per bin of each key numeric column of ``sources`` (values with their row
    counts): :data:`HISTOGRAM_BINS` equal bins between its 1st and 99th percentiles, values
    beyond them in the first or last bin."""
    ranges = _bin_ranges([c for c in plans if c in sources], row)
    queries = [_bin_query(sources[c], c, lo, hi) for c, (lo, hi) in ranges.items()]
    counted = collect_batched(queries)
    return {c: dict(t.iter_rows()) for c, t in zip(ranges, counted, strict=True)}


def _bin_counts(source: pl.LazyFrame, c: str, lo: float, hi: float) -> dict[int, int]:
    """Rows per bin of column ``c`` of ``source`` (see :func:`_binned`)."""
    return dict(_bin_query(source, c, lo, hi).collect().iter_rows())


def _bin_query(source: pl.LazyFrame, c: str, lo: float, hi: float) -> pl.LazyFrame:
    width = (hi - lo) / HISTOGRAM_BINS
    idx = ((pl.col(_TYPED + c) - lo) / width).floor().clip(0, HISTOGRAM_BINS - 1).cast(pl.Int32)
    return (
        source.select(idx.alias("bin"), pl.col(_N))
        .drop_nulls("bin")
        .group_by("bin")
        .agg(pl.col(_N).sum())
    )


def _histograms(
    name: str,
    tspec: TableSpec,
    plans: Mapping[str, ColumnPlan],
    binned: Mapping[str, dict[int, int]],
    row: Mapping[str, Any],
    small_cell: int,
) -> list[Histogram]:
    """The key numeric columns' histograms from their rows per bin (``binned``), small
    counts withheld."""
    out = []
    for c, (lo, hi) in _bin_ranges([c for c in plans if c in binned], row).items():
        by_bin = binned[c]
        width = (hi - lo) / HISTOGRAM_BINS
        edges = tuple(round(lo + i * width, 6) for i in range(HISTOGRAM_BINS + 1))
        # The bins add up to the column's shown non-missing count: suppress as a partition.
        counts = tuple(suppress([by_bin.get(i, 0) for i in range(HISTOGRAM_BINS)], small_cell))
        out.append(Histogram(name, c, tspec.columns[c].role, edges, counts))
    return out


def _column_profile(
    table: str,
    c: str,
    plan: ColumnPlan,
    cspec: ColumnSpec,
    row: Mapping[str, Any],
    rows: int,
    top: Mapping[str, tuple[tuple[tuple[str, int], ...], int]],
    small_cell: int = 1,
) -> ColumnProfile:
    k = f"{c}\x1f"
    shown, hidden = top.get(c, ((), 0))
    stats = {s: row.get(k + s) for s in ("min", "max", "mean", "std", "q25", "median", "q75",
                                          "minlen", "maxlen")}  # fmt: skip
    stats = _safe_statistics(stats, row, k, rows, small_cell)
    return ColumnProfile(
        table=table,
        name=c,
        dtype=plan.kind,
        role=cspec.role,
        rows=rows,
        null_count=int(row[k + "null"]),
        placeholder_count=int(row[k + "placeholder"]),
        n_unique=int(row[k + "n_unique"]),
        unparseable=int(row[k + "unparseable"]),
        min=stats["min"],
        max=stats["max"],
        mean=stats["mean"],
        std=stats["std"],
        q25=stats["q25"],
        median=stats["median"],
        q75=stats["q75"],
        min_length=stats["minlen"],
        max_length=stats["maxlen"],
        top_values=shown,
        top_values_suppressed=hidden,
        expected=_expected(cspec),
        extremes_rank=small_cell if cspec.quasi and small_cell > 1 else 1,
    )


def _safe_statistics(
    stats: dict[str, Any], row: Mapping[str, Any], k: str, rows: int, small_cell: int
) -> dict[str, Any]:
    """Statistics from which no small count can be derived: a column with values of fewer
    than ``small_cell`` rows shows none (its min and max would be one person's value); a
    two-valued column (a 0/1 flag) hides its mean and spread when either value is held by
    fewer than ``small_cell`` rows (mean x rows = the count of ones)."""
    present = rows - int(row[k + "null"]) - int(row[k + "unparseable"])
    if 0 < present < small_cell:
        return dict.fromkeys(stats)
    lo, hi, mean = stats.get("min"), stats.get("max"), stats.get("mean")
    two = int(row.get(k + "n_unique") or 0) <= 2
    if two and all(isinstance(v, int | float) for v in (lo, hi, mean)) and present and hi != lo:
        share = (float(mean) - float(lo)) / (float(hi) - float(lo))  # type: ignore[arg-type]
        minority = round(min(share, 1 - share) * present)
        if minority < small_cell:
            return {**stats, "mean": None, "std": None}
    return stats


def _role_conflicts(
    table: str, tspec: TableSpec, columns: Sequence[ColumnProfile]
) -> list[Finding]:
    """One note per column whose name and values disagreed: the values won, and we say so."""
    out = []
    for c in columns:
        cspec = tspec.columns[c.name]
        if cspec.reason == "conflict" and cspec.named_as:
            params = {"named": cspec.named_as, "value_kind": c.dtype, "role": cspec.role}
            n = c.rows - c.null_count
            out.append(Finding("role_conflict", table, c.name, "info", n, c.rows, params))
    return out


def _column_findings(columns: Sequence[ColumnProfile], rows: int) -> list[Finding]:
    out = []
    for c in columns:
        if rows and c.null_count == rows:
            out.append(Finding("empty_column", c.table, c.name, "warning", rows, rows))
            continue
        if c.placeholder_count:
            out.append(
                Finding("placeholder_values", c.table, c.name, "info", c.placeholder_count, rows)
            )
        if rows and c.null_fraction > HIGH_MISSING_SHARE and c.expected:
            out.append(
                Finding(
                    "high_missingness",
                    c.table,
                    c.name,
                    "info",
                    c.null_count,
                    rows,
                    {"share": f"{c.null_fraction:.0%}"},
                )
            )
    return out


def _size(
    ds: Dataset, tables: Sequence[_TableResult], patients: int | None, encounters: int | None
) -> Size:
    sizes = tuple(
        TableSize(
            t.name,
            ds.table_spec(t.name).kind,
            t.rows,
            len(ds.plans[t.name]),
            ds.raw.table(t.name).bytes_on_disk,
        )
        for t in tables
    )
    # Tables may mix date and datetime columns (a Parquet export, a refined product).
    firsts = [t.date_range[0] for t in tables if t.date_range[0] is not None]
    lasts = [t.date_range[1] for t in tables if t.date_range[1] is not None]
    # Records per patient from the table with the most rows that carries patient ids.
    with_pid = [t for t in tables if t.records_per_patient]
    rpp = max(with_pid, key=lambda t: t.rows).records_per_patient if with_pid else None
    files = {
        ds.raw.table(t.name).source.split("#")[0]: ds.raw.table(t.name).bytes_on_disk
        for t in tables
    }
    return Size(
        tables=sizes,
        rows=sum(t.rows for t in tables),
        columns=sum(s.columns for s in sizes),
        patients=patients,
        encounters=encounters,
        first_date=min(firsts) if firsts else None,
        last_date=max(lasts) if lasts else None,
        bytes_on_disk=sum(files.values()),
        records_per_patient=rpp,
        sites=tuple(s for t in tables for s in t.sites),
    )


def _patient_completeness(
    tables: Sequence[_TableResult], patients: int | None
) -> list[PatientCompleteness]:
    if not patients:
        return []
    return [
        PatientCompleteness(t.name, c, role, n, patients)
        for t in tables
        for c, role, n in t.patient_fields
    ]


def _totals(
    tables: Sequence[_TableResult], orphans: Sequence[Finding]
) -> dict[str, tuple[int, int]]:
    """Sum each table's (evaluated, failed) counters; orphan keys count as conformance."""
    totals: dict[str, list[int]] = {}
    for t in tables:
        for part, (evaluated, failed) in t.counters.items():
            acc = totals.setdefault(part, [0, 0])
            acc[0] += evaluated
            acc[1] += failed
    for f in orphans:  # relational conformance, evaluated even where nothing failed
        acc = totals.setdefault("conformance", [0, 0])
        acc[0] += f.evaluated
        acc[1] += f.count
    return {k: (v[0], v[1]) for k, v in totals.items()}


def _to_date(v: dt.date) -> dt.date:
    return v.date() if isinstance(v, dt.datetime) else v


def _json_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else round(v, 6)
    return v
