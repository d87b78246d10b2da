"""A Dataset is the tables of an export plus its spec, with a typed view of every column.

Text formats arrive as strings. Each column gets a *plan*: what counts as missing (nulls,
empty strings, placeholders such as "NULL", "不详", "9999-12-31") and what type the values
should have (number, datetime or string), decided from the column's role and a sample. The
typed view applies the plan lazily; the raw view stays available, so analyses can count
values that failed to parse instead of silently losing them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medvalue.core import _parts
from medvalue.core._dates import ORDERS, date_order, decide_order, parse_datetime
from medvalue.core._errors import InputError
from medvalue.core._files import register_input
from medvalue.core._lookup import look_up
from medvalue.read import _spark, standards
from medvalue.read._refined import product_tables
from medvalue.read._rows import ROW
from medvalue.read._spec import (
    DATE_ROLES,
    STACKED_COLUMN,
    STACKED_VALUE,
    DatasetSpec,
    TableSpec,
    apply_spec,
    infer_roles,
    load_spec,
    spec_beside,
)
from medvalue.read._tables import RawData, read_tables

#: Values that mean "not recorded" in hospital exports, compared upper-cased after trimming.
PLACEHOLDERS = (
    "NULL",
    "NA",
    "N/A",
    "NAN",
    "NIL",
    "-",
    "--",
    "---",
    "/",
    "?",
    "不详",
    "未知",
    "空",
    "暂无",
    "缺失",
    "未查",
    "9999-12-31",
    "9999/12/31",
    "99999999",
)

#: "无"/"none" mean "absent" in a clinical category (腹水: 无 = no ascites), a real value;
#: only where a number or a date is expected do they mean "not recorded".
PLACEHOLDERS_UNLESS_TEXT = ("无", "NONE", "没有", "未做")

_TYPE_SAMPLE = 10_000
_TYPE_SHARE = 0.9  # share of a sample that must parse for a column to take a type
_STRING_ROLES = (
    "patient_id",
    "encounter_id",
    "diagnosis_code",
    "diagnosis_text",
    "sex",
    "region",
    "site",
    "direct_identifier",
    "free_text",
    "quasi_identifier",
    "code",
)
_NUMBER_ROLES = ("age", "measurement", "duration")


@dataclass(frozen=True)
class ColumnPlan:
    """How one column is read: its source dtype and the type its values should have."""

    table: str
    name: str
    source_dtype: str
    kind: str  # number | integer | datetime | string | boolean
    #: Read numbers leniently ("45岁" -> 45): needed only when the sample holds such values;
    #: a column of plain numbers is cast directly, several times faster.
    lenient: bool = True
    #: Dates written year last (05/01/2024): ``dmy`` or ``mdy``, decided from the values or
    #: set by the spec's ``date_format``; ambiguous when no value settled it.
    date_order: str = "dmy"
    date_ambiguous: bool = False
    #: A strftime format from the spec's ``date_format``, used instead of the parser.
    date_format: str | None = None

    @property
    def is_text_source(self) -> bool:
        return self.source_dtype in ("String", "Utf8")

    @property
    def is_zoned(self) -> bool:
        """A datetime stored with a time zone (Parquet, Arrow): typed as its local time."""
        return (
            self.source_dtype.startswith("Datetime") and "time_zone=None" not in self.source_dtype
        )

    @property
    def is_parsed(self) -> bool:
        """Dates or numbers read out of text: typing the value is a parse, not a cast."""
        return self.is_text_source and self.kind in ("datetime", "number", "integer")

    def missing(self) -> pl.Expr:
        """True where the value is absent: null, blank, NaN or a placeholder."""
        col = pl.col(self.name)
        if self.is_text_source:
            # One case-insensitive regex: blank, or a placeholder with surrounding spaces.
            return col.is_null() | col.str.contains(_placeholder_regex(self._text_like, blank=True))
        if self.source_dtype.startswith("Float"):
            return col.is_null() | col.is_nan()
        return col.is_null()

    def placeholder(self) -> pl.Expr:
        """True where a text value is an explicit 'not recorded' marker such as NULL or 不详."""
        if not self.is_text_source:
            return pl.lit(False)
        regex = _placeholder_regex(self._text_like, blank=False)
        return pl.col(self.name).str.contains(regex).fill_null(False)

    @property
    def _text_like(self) -> bool:
        return self.kind in ("string", "boolean")

    def typed(self) -> pl.Expr:
        """The value converted to its kind; missing and unparseable values become null."""
        col = pl.col(self.name)
        if not self.is_text_source:
            if self.kind == "number" and self.source_dtype.startswith("Float"):
                return pl.when(col.is_nan()).then(None).otherwise(col).alias(self.name)
            if self.is_zoned:
                # The wall-clock time where it was recorded, as text dates are read: every
                # date bound and check compares with times that carry no zone.
                return col.dt.replace_time_zone(None).alias(self.name)
            return col
        # Convert the raw text once and mask the missing values afterwards: masking first
        # would make every branch of the conversion recompute the mask.
        if self.kind == "datetime" and self.date_format:
            value = col.str.strip_chars().str.strptime(
                pl.Datetime("us"), self.date_format, strict=False
            )
        elif self.kind == "datetime":
            value = parse_datetime(col, self.date_order)
        elif self.kind in ("number", "integer") and not self.lenient:
            value = col.str.strip_chars().cast(pl.Float64, strict=False)
        elif self.kind in ("number", "integer"):
            # "45岁", "1,234", "12.5 mg/dL": keep the leading number, as people read it.
            number = col.str.replace_all(",", "", literal=True).str.extract(_LEADING_NUMBER, 1)
            value = number.cast(pl.Float64, strict=False)
        else:
            value = col.str.strip_chars()
        return pl.when(self.missing()).then(None).otherwise(value).alias(self.name)


_LEADING_NUMBER = r"^\s*([-+]?\d+(?:\.\d+)?)"


def read_path(
    path: str | Path, *, encoding: str | None = None, format: str | None = None
) -> RawData:
    """Read a file or folder of tables.

    Parameters
    ----------
    path
        A CSV/TSV/TXT, Excel, Parquet or NDJSON file, or a folder of them; or an OMOP CDM
        folder or DuckDB file, or FHIR NDJSON or Bundles (see :mod:`medvalue.read.standards`);
        or the folder `medvalue refine` wrote (its tables are read).
    encoding
        Force the text encoding (``utf-8``, ``gb18030``, ``gbk`` ...) instead of detecting it.
    format
        ``omop`` or ``fhir`` to force a standard, ``tables`` to read plain tables;
        by default a standard is recognised from what is at ``path``.

    Raises
    ------
    InputError
        When the path is missing, empty, not a table, or cannot be decoded; the message
        names the file and the fix.
    """
    if _spark.is_spark_source(path):
        return standards.recognise(_spark.read_spark(path), format)
    path = product_tables(path) or path
    p = Path(path)
    if format != "tables" and p.exists():
        if format is not None and format not in standards.FORMATS:
            raise InputError.at(str(path), f"unknown format '{format}'", "use omop or fhir")
        found = format or standards.detect(p)
        if found:
            register_input(p)
            return standards.read(p, found, encoding=encoding)
    return read_tables(path, encoding=encoding)


def infer_spec(raw: RawData) -> DatasetSpec:
    """Column roles, table kinds and links: inferred from names and values, with a
    standard's own definitions (OMOP, FHIR) laid over them."""
    return standards.spec(raw, infer_roles(raw))


@cache
def _placeholder_regex(text_like: bool, *, blank: bool) -> str:
    tokens = PLACEHOLDERS if text_like else PLACEHOLDERS + PLACEHOLDERS_UNLESS_TEXT
    alternatives = "|".join(re.escape(t) for t in tokens)
    optional = "?" if blank else ""
    return rf"(?i)^\s*(?:{alternatives}){optional}\s*$"


@dataclass(frozen=True)
class Dataset:
    """Tables plus spec. ``frame(name)`` gives the typed lazy view of a table."""

    path: str
    raw: RawData = field(repr=False)
    spec: DatasetSpec
    plans: Mapping[str, Mapping[str, ColumnPlan]] = field(repr=False)
    #: Per table and column parsed out of text, its distinct raw values (``raw``) with their
    #: typed values (``typed``), or None where it is typed row by row: see :meth:`typing_of`.
    #: Filled on first use; ``replace`` starts afresh (another dataset may hold other rows).
    _typed_values: dict[str, dict[str, pl.DataFrame | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def name(self) -> str:
        if self.on_spark and self.path.startswith(_spark.PREFIX):
            ref = self.path[len(_spark.PREFIX) :].rstrip("/")
            return Path(ref).stem if "/" in ref else ref.rsplit(".", 1)[-1]
        if self.on_spark and len(self.table_names) == 1:
            return self.table_names[0]
        return Path(self.path.rstrip("/")).stem or "dataset"

    @property
    def on_spark(self) -> bool:
        """The tables stay in Spark: analyses that run there read them through read._spark."""
        return any(t.spark is not None for t in self.raw.tables)

    def spark_frame(self, name: str) -> Any:
        """Table ``name``'s Spark DataFrame (only for a dataset :attr:`on_spark`)."""
        return self.raw.table(name).spark

    def require_local(self, command: str) -> None:
        """Refuse, in one line, to run ``command`` on Spark tables where it has no Spark path:
        the tables' polars frames hold only their first rows."""
        if self.on_spark:
            raise _spark.refusal(self.path, command)

    @property
    def table_names(self) -> list[str]:
        return [t.name for t in self.raw.tables]

    def table_spec(self, name: str) -> TableSpec:
        return self.spec.tables[name]

    def raw_frame(self, name: str) -> pl.LazyFrame:
        self.require_local("this analysis")
        return self.raw.table(name).frame

    def hub(self, role: str) -> tuple[str, str] | None:
        """The table that defines the population of ``role`` (``patient_id``: a table of kind
        ``patients``, such as OMOP's person or FHIR's Patient; ``encounter_id``: one of kind
        ``encounters``, such as visit_occurrence), with its id column; None without one."""
        kind = {"patient_id": "patients", "encounter_id": "encounters"}.get(role)
        for t in self.table_names:
            ts = self.table_spec(t)
            if ts.kind == kind and ts.first(role) and len(self.table_names) > 1:
                return t, ts.first(role) or ""
        return None

    def distinct_count(self, role: str) -> int | None:
        """Distinct non-null values of ``role`` (e.g. patients): those of the table that
        defines them when there is one (ids elsewhere without a row there are orphans, a
        finding, not people: Achilles counts persons from the person table), else over
        every column with the role, across tables; None when no column has the role."""
        hub = self.hub(role)
        cols = [hub] if hub else self.spec.columns_with_role(role)
        if not cols:
            return None
        if self.on_spark:
            return _spark.distinct_values([self.spark_typed(t, {"id": c}) for t, c in cols])
        ids = [self.frame(t).select(pl.col(c).cast(pl.String).alias("id")) for t, c in cols]
        return _parts.count_distinct(pl.concat(ids), "id")

    def columnar(self, scratch: Path) -> Dataset:
        """This dataset with every table not already in Parquet copied, as read, to Parquet
        files in ``scratch``: text is parsed once, and later passes scan only the columns
        they read. The caller owns ``scratch`` and removes it."""
        tables = []
        for t in self.raw.tables:
            if t.format == "parquet" or t.spark is not None:
                tables.append(t)
                continue
            scratch.mkdir(parents=True, exist_ok=True)
            target = scratch / f"{len(tables)}.parquet"
            t.frame.sink_parquet(target, compression=_parts.SCRATCH_COMPRESSION, statistics=False)
            tables.append(replace(t, frame=pl.scan_parquet(target)))
        return replace(self, raw=replace(self.raw, tables=tuple(tables)))

    def locations(self) -> tuple[list[Path], set[Path]]:
        """Where the dataset is read from on this machine: the folders (the path it was
        loaded from; on Spark also each table's folder of part files) and every table's
        file. Outputs must stay out of them."""
        if not self.on_spark:
            return [Path(self.path).resolve()], {Path(t.source).resolve() for t in self.raw.tables}
        named = self.path[len(_spark.PREFIX) :] if self.path.startswith(_spark.PREFIX) else ""
        files = {
            Path(f).resolve()
            for t in self.table_names
            for f in _spark.local_files(self.spark_frame(t))
        }
        folders = [Path(named).resolve()] if named and Path(named).exists() else []
        return folders + sorted({f.parent for f in files}), files

    def row_count(self, name: str) -> int:
        """Table ``name``'s rows, counted where it is (Parquet answers from its footers; a
        CSV is scanned)."""
        if self.raw.table(name).spark is not None:
            return _spark.rows(self.spark_frame(name))
        return int(self.raw_frame(name).select(pl.len()).collect().item())

    def head(self, name: str, rows: int) -> pl.DataFrame:
        """The first ``rows`` raw rows of table ``name`` (from Spark for a Spark table)."""
        if self.raw.table(name).spark is not None:
            return _spark.head(self.spark_frame(name), rows)
        return self.raw_frame(name).head(rows).collect()

    def sums(self, name: str, exprs: Sequence[pl.Expr]) -> dict[str, Any]:
        """One row of named sums ``exprs`` (each a sum over rows of the raw table ``name``,
        such as a count of matches), computed where the table is: on Spark, per batch in the
        executors and added up."""
        if self.raw.table(name).spark is None:
            return self.raw_frame(name).select(exprs).collect().row(0, named=True)
        read = [c for c in self.plans[name] if any(c in e.meta.root_names() for e in exprs)]
        sample = self.raw.table(name).frame.head(1).collect()
        return _spark.reduce_batches(
            self.spark_frame(name), lambda batch: batch.select(exprs), sample,
            lambda _: "sum", columns=read,
        )  # fmt: skip

    def spark_typed(self, name: str, columns: Mapping[str, str]) -> Any:
        """A Spark frame of table ``name``'s typed ``columns`` (output name -> column) as
        text, typed in the executors by the same plans as :meth:`frame`; for comparing keys
        across tables (ids may be numbers in one table and text in another)."""
        plans = self.plans[name]
        exprs = [plans[c].typed().cast(pl.String).alias(out) for out, c in columns.items()]

        def typed(batch: pl.DataFrame) -> pl.DataFrame:
            return batch.select(exprs)

        schema = {out: pl.String() for out in columns}
        read = list(dict.fromkeys(columns.values()))
        return _spark.map_batches(self.spark_frame(name), typed, schema, columns=read)

    def typed_schema(self, name: str) -> pl.Schema:
        """The schema of :meth:`frame` (read off the first rows: also for Spark tables)."""
        return self.typed(name, self.raw.table(name).frame.head(0)).collect_schema()

    def frame(self, name: str) -> pl.LazyFrame:
        """The typed view: placeholders are null, numbers and dates are parsed."""
        return self.typed(name, self.raw_frame(name))

    def rows_at(self, name: str, positions: np.ndarray) -> pl.DataFrame:
        """The typed rows of table ``name`` at the given 0-based row ``positions`` (in the
        table's order, whatever the order of ``positions``). The rows are picked from the raw
        table in one pass and only they are typed: each value is typed on its own, so they
        equal the typed table's rows, and a sample of a 30M-row table costs a read, not a
        typing of every row (10x faster at 10M rows). On Spark ``positions`` are the rows'
        ids (:data:`~medvalue.read._rows.ROW`), the rows typed in the executors."""
        if self.raw.table(name).spark is not None:
            schema = {ROW: pl.Int64(), **self.typed_schema(name)}
            typing = self.typing(name)  # the closure runs in the executors: no Dataset in it
            return _spark.rows_with_ids(
                self.spark_frame(name), positions.tolist(),
                lambda batch: batch.select(pl.col(ROW), *typing), schema,
            ).drop(ROW)  # fmt: skip
        at = pl.Series(np.unique(positions), dtype=pl.UInt64).implode()
        picked = (
            self.raw_frame(name)
            .with_row_index("\x1frow")
            .filter(pl.col("\x1frow").cast(pl.UInt64).is_in(at))
            .drop("\x1frow")
        )
        return self.typed(name, picked).collect(engine="streaming")

    def typed(self, name: str, rows: pl.LazyFrame, keep: Sequence[str] = ()) -> pl.LazyFrame:
        """``rows`` of table ``name`` (its raw columns, any of its rows) typed as
        :meth:`frame` types the whole table, with the extra columns ``keep`` as they are."""
        return rows.select(*keep, *self.typing(name))

    def typing(self, name: str) -> list[pl.Expr]:
        """The expressions that type table ``name``'s raw columns (see :meth:`typed`)."""
        return [p.typed() for p in self.plans[name].values()]

    def typing_of(self, name: str, columns: Iterable[str]) -> list[pl.Expr]:
        """The expressions that type ``columns`` of table ``name`` as :meth:`typing` does,
        for a pass over many of its rows: a column of dates or numbers written as text with
        few distinct values is typed by looking each row's raw value up among its distinct
        values, each parsed once (10M text dates: 4.1 s row by row, 0.25 s by look-up, after
        a pass to gather them once a dataset). Each value is typed on its own either way, so
        the values are the same. Other columns are cheap to type: looking them up as well
        cost more, with the passes to gather them, than it saved. On Spark the plans run as
        they are, in the executors."""
        plans = self.plans[name]
        asked = set(columns)
        wanted = [c for c in plans if c in asked]
        if self.raw.table(name).spark is not None:
            return [plans[c].typed() for c in wanted]
        known = self._distinct_typed(name, wanted)
        return [
            look_up(pl.col(c), values["raw"], values["typed"]).alias(c)
            if (values := known.get(c)) is not None
            else plans[c].typed()
            for c in wanted
        ]

    def _distinct_typed(self, name: str, columns: Sequence[str]) -> Mapping[str, pl.DataFrame]:
        """Of ``columns`` of table ``name``, those worth typing by look-up (see
        :meth:`typing_of`), each with its distinct raw values and their typed values;
        each column's worked out once a dataset."""
        plans, frame = self.plans[name], self.raw_frame(name)
        memo = self._typed_values.setdefault(name, {})
        unknown = [c for c in columns if c not in memo and plans[c].is_parsed]
        if unknown:
            rows = frame.head(LOOKUP_MIN_ROWS).select(pl.len()).collect().item()
            few: list[str] = []
            # A small table is typed row by row: the passes would cost more than they save.
            if rows >= LOOKUP_MIN_ROWS:
                # An estimate (a fixed-size sketch) first: a column of many distinct values
                # (times to the second, lab values) is never gathered whole.
                counted = frame.select(
                    pl.len().alias(_ROWS), *[pl.col(c).approx_n_unique() for c in unknown]
                )
                estimate = counted.collect(engine="streaming").row(0, named=True)
                most = min(LOOKUP_MAX_VALUES, LOOKUP_MAX_SHARE * estimate[_ROWS])
                few = [c for c in unknown if estimate[c] <= most]
            held = pl.collect_all(
                [frame.select(pl.col(c).unique().drop_nulls()) for c in few], engine="streaming"
            )
            memo.update(dict.fromkeys(unknown))
            memo.update(
                (c, values.select(pl.col(c).alias("raw"), plans[c].typed().alias("typed")))
                for c, values in zip(few, held, strict=True)
            )
        return {c: v for c in columns if (v := memo.get(c)) is not None}


#: A table is typed by look-up (:meth:`Dataset.typing_of`) from this many rows, each column
#: parsed out of text whose distinct values are estimated at most this many and at most this
#: share of its rows.
LOOKUP_MIN_ROWS = 10_000
LOOKUP_MAX_VALUES = 200_000
LOOKUP_MAX_SHARE = 0.1
_ROWS = "\x1frows"


def load_dataset(
    path: str | Path | Any,
    *,
    spec: str | Path | None = None,
    encoding: str | None = None,
    format: str | None = None,
) -> Dataset:
    """Read a file or folder and attach its spec (inferred, overlaid with ``spec`` YAML).

    OMOP CDM and FHIR inputs are recognised (``format`` forces ``omop`` or ``fhir``) and
    their spec comes from the standard. ``path`` may also be a Spark source: ``spark:db.table``,
    ``spark:db``, ``spark:/path``, a Spark DataFrame or a mapping of names to DataFrames
    (see :mod:`medvalue.read._spark`); the tables then stay in Spark.

    Examples
    --------
    >>> from medvalue.core._config import SAMPLE_DIR
    >>> ds = load_dataset(SAMPLE_DIR / "carotid_stenting.csv")
    >>> ds.table_names
    ['carotid_stenting']
    """
    raw = read_path(path, encoding=encoding, format=format)
    inferred = infer_spec(raw)
    final = apply_spec(inferred, load_spec(spec), raw, spec) if spec else inferred
    plans = {t.name: _plan_table(t.name, t.frame, final.tables[t.name]) for t in raw.tables}
    shown = raw.path if _spark.is_spark_source(path) else str(path)
    return Dataset(path=shown, raw=raw, spec=final, plans=plans)


def locate(path: str | Path) -> str:
    """``path`` as given if it exists; otherwise, for a relative path, the same path under the
    nearest parent folder that has it. JupyterLab runs a notebook in the notebook's folder,
    so ``data/sample/x.csv`` written for the project folder is found from ``notebooks/``."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return str(path)
    for parent in list(Path.cwd().parents)[:3]:
        if (parent / p).exists():
            return str(parent / p)
    return str(path)


def open_dataset(
    path: str | Path,
    spec: str | Path | None = None,
    *,
    encoding: str | None = None,
    format: str | None = None,
) -> Dataset:
    """:func:`load_dataset` as a notebook wants it: paths found from the project folder or
    the notebook's folder (:func:`locate`), and without ``spec`` the ``<name>.spec.yaml``
    beside the data if there is one, so a spec only ever applies to its own data."""

    found = locate(path)
    chosen = locate(spec) if spec else spec_beside(found)
    return load_dataset(found, spec=chosen, encoding=encoding or None, format=format or None)


def _plan_table(name: str, frame: pl.LazyFrame, tspec: TableSpec) -> dict[str, ColumnPlan]:
    schema = frame.collect_schema()
    text_cols = [c for c, t in schema.items() if t == pl.String]
    shares = _parse_shares(frame, text_cols, schema)
    plans: dict[str, ColumnPlan] = {}
    for c, dtype in schema.items():
        cspec = tspec.columns.get(c)
        role = cspec.role if cspec else "other"
        share = shares.get(c)
        plain = share is not None and share["n"] > 0 and share["plain"] == 1.0
        kind = _decide_kind(role, dtype, share)
        fmt = cspec.date_format if cspec else None
        if fmt in ORDERS:
            order, ambiguous, fmt = fmt, False, None
        elif share is not None:
            order, ambiguous = decide_order(
                int(share["shaped"]), int(share["day_first"]), int(share["month_first"])
            )
        else:
            order, ambiguous = "dmy", False
        plans[c] = ColumnPlan(
            name, c, str(dtype.base_type()), kind, lenient=not plain,
            date_order=order, date_ambiguous=ambiguous and kind == "datetime", date_format=fmt,
        )  # fmt: skip
    return plans


def _parse_shares(
    frame: pl.LazyFrame, text_cols: list[str], schema: pl.Schema
) -> dict[str, dict[str, float]]:
    if not text_cols:
        return {}
    # The text columns are stacked into one, so each regex is compiled once, not per column.
    probe = ColumnPlan("", STACKED_VALUE, "String", "string")
    s = pl.when(probe.missing()).then(None).otherwise(pl.col(STACKED_VALUE).str.strip_chars())
    numeric = s.str.replace_all(",", "").cast(pl.Float64, strict=False)
    flags = {
        "n": s.is_not_null(),
        "plain": s.cast(pl.Float64, strict=False).is_not_null(),
        "num": numeric.is_not_null(),
        "int": numeric.is_not_null() & (numeric.round(0) == numeric),
        "date": parse_datetime(s).is_not_null(),
        "sep": s.str.contains(r"[-/年.:]").fill_null(False),
    }
    # Each distinct value is parsed once, weighted by how often it occurs; whether any value
    # proves year-last dates day first or month first is read off the same distinct values.
    counted = (
        frame.head(_TYPE_SAMPLE)
        .select(text_cols)
        .unpivot(on=text_cols, variable_name=STACKED_COLUMN, value_name=STACKED_VALUE)
        .group_by(STACKED_COLUMN, STACKED_VALUE)
        .agg(pl.len().alias("rows"))
        .group_by(STACKED_COLUMN)
        .agg(
            *[(f * pl.col("rows")).sum().alias(k) for k, f in flags.items()],
            date_order(pl.col(STACKED_VALUE)).alias("o"),
        )
        .unnest("o")
        .collect()
    )
    orders = ("shaped", "day_first", "month_first")
    order_of = {r[STACKED_COLUMN]: {k: r[k] for k in orders} for r in counted.iter_rows(named=True)}
    counted = counted.drop(orders)
    out: dict[str, dict[str, float]] = {c: dict.fromkeys(flags, 0.0) for c in text_cols}
    for row in counted.iter_rows(named=True):
        c = row.pop(STACKED_COLUMN)
        out[c] = {k: float(v or 0) for k, v in row.items()}
    for c, d in out.items():
        n = d["n"] or 1.0
        o = order_of.get(c, {})
        out[c] = {
            "shaped": float(o.get("shaped") or 0),
            "day_first": float(o.get("day_first") or 0),
            "month_first": float(o.get("month_first") or 0),
            "n": d["n"],
            "plain": d["plain"] / n,
            "num": d["num"] / n,
            "int": d["int"] / n,
            "date": d["date"] / n,
            "sep": d["sep"] / n,
        }
    return out


def _decide_kind(role: str, dtype: pl.DataType, shares: Mapping[str, float] | None) -> str:
    if dtype.is_temporal():
        return "datetime"
    if dtype.is_numeric():
        return "number"
    if dtype == pl.Boolean:
        return "boolean"
    if role in DATE_ROLES:
        return "datetime"
    if role in _NUMBER_ROLES:
        return "number"
    if role in _STRING_ROLES or not shares or shares["n"] == 0:
        return "string"
    # Dates written with separators, or 8-digit YYYYMMDD that a number reader would take.
    if shares["date"] >= _TYPE_SHARE and shares["sep"] >= _TYPE_SHARE:
        return "datetime"
    if shares["num"] >= _TYPE_SHARE:
        return "number"
    if shares["date"] >= _TYPE_SHARE:
        return "datetime"
    return "string"
