"""Profile: size, completeness and quality of a dataset in one fast pass per table.

Every per-column statistic and every row-level check of a table is one polars expression,
and all of a table's expressions run in a single lazy query. Checks follow OHDSI DQD's
shape (violating rows over evaluated rows); the quality dimensions follow GB/T 36344-2018
mapped to Kahn et al. 2016, each scored X = 1 - failed / evaluated (docs/methods.md).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from medvalue.checks import (
    DIMENSION_OF,
    HIGH_MISSING_SHARE,
    SEVERITY,
    Check,
    Finding,
    code_findings,
    orphan_findings,
    patient_aggregations,
    patient_checks,
    read_findings,
    row_hash,
    stale_findings,
    table_checks,
)
from medvalue.config import SMALL_CELL_THRESHOLD
from medvalue.dataset import ColumnPlan, Dataset
from medvalue.errors import ParameterError
from medvalue.quality import Quality, score_quality
from medvalue.spec import HIDDEN_ROLES, ColumnSpec, TableSpec
from medvalue.suppression import suppress

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
            "mean": _json_value(self.mean),
            "std": _json_value(self.std),
            "q25": _json_value(self.q25),
            "median": _json_value(self.median),
            "q75": _json_value(self.q75),
            "min_length": self.min_length,
            "max_length": self.max_length,
            "top_values": [{"value": v, "count": c} for v, c in self.top_values],
            "top_values_suppressed": self.top_values_suppressed,
        }


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


@dataclass(frozen=True)
class Profile:
    """The profile of a dataset: what :func:`profile` returns."""

    dataset: str
    as_of: dt.date
    small_cell: int
    size: Size
    columns: tuple[ColumnProfile, ...]
    patient_completeness: tuple[PatientCompleteness, ...]
    quality: Quality
    findings: tuple[Finding, ...]
    histograms: tuple[Histogram, ...] = ()

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
    >>> from medvalue.config import SAMPLE_DIR
    >>> p = profile(load_dataset(SAMPLE_DIR / "carotid_stenting.csv"), as_of="2025-01-01")
    >>> p.size.rows
    2550
    """
    as_of_date = as_date(as_of)
    if small_cell < 1:
        msg = f"small_cell must be at least 1, got {small_cell}"
        raise ParameterError(msg)
    tables: list[_TableResult] = []
    for name in ds.table_names:
        tables.append(_profile_table(ds, name, as_of_date, small_cell))
    findings = [f for t in tables for f in t.findings]
    findings += read_findings(ds)
    orphans = orphan_findings(ds)
    findings += [f for f in orphans if f.count]
    size = _size(ds, tables)
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
    date_range: tuple[dt.datetime | None, dt.datetime | None]
    records_per_patient: dict[str, float] | None
    sites: list[tuple[str, str, int]]
    histograms: list[Histogram]


def _profile_table(ds: Dataset, name: str, as_of: dt.date, small_cell: int) -> _TableResult:
    tspec = ds.table_spec(name)
    plans = ds.plans[name]
    raw = ds.raw_frame(name)
    # Each column is typed (dates parsed, numbers read) and flagged missing once, as a
    # column of its own; every statistic and check below then reads those columns.
    frame = _with_typed(raw, plans, plans).with_columns(row_hash(list(plans)))
    typed = {c: pl.col(_TYPED + c) for c in plans}
    present = {c: ~pl.col(_MISSING + c) for c in plans}
    checks = table_checks(tspec, plans, typed, present, as_of)
    pid = tspec.first("patient_id")
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    for c, plan in plans.items():
        exprs += _column_exprs(c, plan, typed[c], ~present[c], tspec.columns[c], small_cell)
    for i, chk in enumerate(checks):
        exprs += [chk.failed.alias(f"__fail\x1f{i}"), chk.evaluated.alias(f"__eval\x1f{i}")]
    exprs += _size_exprs(tspec, plans, typed, present)
    queries = [frame.select(exprs)]
    if pid:
        per_patient = patient_checks(tspec)
        queries.append(_patient_query(frame, tspec, typed, present, pid, per_patient, len(checks)))
        checks = checks + per_patient
    # Every statistic and check of the table, in one query (two with patient ids: the
    # per-patient group-by), sharing one scan of the data.
    row: dict[str, Any] = {}
    for result in pl.collect_all(queries):
        row.update(result.row(0, named=True))
    rows = int(row["__rows"])

    top, sites = _value_lists(tspec, plans, row, small_cell)
    histograms = _histograms(name, raw, tspec, plans, row, small_cell)
    columns = [_column_profile(name, c, plans[c], tspec.columns[c], row, rows, top) for c in plans]
    findings: list[Finding] = []
    counters: dict[str, list[int]] = {}
    for i, chk in enumerate(checks):
        failed, evaluated = int(row[f"__fail\x1f{i}"] or 0), int(row[f"__eval\x1f{i}"] or 0)
        part = counters.setdefault(DIMENSION_OF[chk.check], [0, 0])
        part[0] += evaluated
        part[1] += failed
        if failed:
            findings.append(
                Finding(
                    chk.check,
                    name,
                    chk.column,
                    SEVERITY[chk.check],
                    failed,
                    evaluated,
                    dict(chk.params),
                )
            )
    findings += _column_findings(columns, rows)
    code_cols = tspec.icd_code_columns
    if code_cols:
        extra, evaluated, failed = code_findings(name, raw, code_cols)
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
        date_range=(row.get("__first_date"), row.get("__last_date")),
        records_per_patient=rpp,
        sites=sites,
        histograms=histograms,
    )


def _expected(cspec: ColumnSpec) -> bool:
    if cspec.role in _OPTIONAL_ROLES:
        return False
    return not (cspec.role == "diagnosis_code" and cspec.position == "secondary")


_TYPED, _MISSING = "\x1ftyped:", "\x1fmissing:"


def _with_typed(
    raw: pl.LazyFrame, plans: Mapping[str, ColumnPlan], columns: Iterable[str], missing: bool = True
) -> pl.LazyFrame:
    """``raw`` plus, for each of ``columns``, its typed value and (optionally) missing flag."""
    cols = list(columns)
    exprs = [plans[c].typed().alias(_TYPED + c) for c in cols]
    if missing:
        exprs += [plans[c].missing().alias(_MISSING + c) for c in cols]
    return raw.with_columns(exprs)


def _column_exprs(
    c: str,
    plan: ColumnPlan,
    typed: pl.Expr,
    missing: pl.Expr,
    cspec: ColumnSpec,
    small_cell: int = 1,
) -> list[pl.Expr]:
    k = f"{c}\x1f"
    out = [
        missing.sum().alias(k + "null"),
        plan.placeholder().sum().alias(k + "placeholder"),
        typed.drop_nulls().n_unique().alias(k + "n_unique"),
        (~missing & typed.is_null()).sum().alias(k + "unparseable"),
    ]
    if cspec.role not in HIDDEN_ROLES and plan.kind in ("string", "boolean"):
        # Value counts ride along for top-value lists and sites (ties are ordered later).
        vc = typed.alias("v").drop_nulls().cast(pl.String).value_counts(sort=True)
        out.append(vc.head(_COUNTED_VALUES).implode().alias(k + "counts"))
    if cspec.role in HIDDEN_ROLES:
        # No value of an identifier or free-text column ever leaves this function.
        if plan.kind == "string":
            out += [
                typed.str.len_chars().min().alias(k + "minlen"),
                typed.str.len_chars().max().alias(k + "maxlen"),
            ]
        return out
    if plan.kind in ("number", "integer"):
        if cspec.role in _HIST_ROLES:
            out += [
                typed.quantile(0.01, "nearest").alias(k + "p01"),
                typed.quantile(0.99, "nearest").alias(k + "p99"),
            ]
        out += [
            *_extremes(typed, k, cspec, small_cell),
            typed.mean().alias(k + "mean"),
            typed.std().alias(k + "std"),
            typed.quantile(0.25, "nearest").alias(k + "q25"),
            typed.quantile(0.5, "nearest").alias(k + "median"),
            typed.quantile(0.75, "nearest").alias(k + "q75"),
        ]
    elif plan.kind == "datetime":
        # Quantiles on the integer microseconds: polars 2.1 panics on quantile() of an
        # all-null Date column.
        micros = typed.cast(pl.Datetime("us")).to_physical()
        out += _extremes(typed, k, cspec, small_cell)
        out += [
            micros.quantile(q, "nearest").cast(pl.Int64).cast(pl.Datetime("us")).alias(k + name)
            for q, name in ((0.25, "q25"), (0.5, "median"), (0.75, "q75"))
        ]
    elif plan.kind == "string":
        length = typed.str.len_chars()
        out += [length.min().alias(k + "minlen"), length.max().alias(k + "maxlen")]
    return out


def _extremes(typed: pl.Expr, k: str, cspec: ColumnSpec, small_cell: int) -> list[pl.Expr]:
    """Min and max; for a quasi-identifier, the ``small_cell``-th smallest and largest
    values instead, so the range never shows the age or birth date of one person."""
    if cspec.quasi and small_cell > 1:
        values = typed.drop_nulls()
        return [
            values.bottom_k(small_cell).max().alias(k + "min"),
            values.top_k(small_cell).min().alias(k + "max"),
        ]
    return [typed.min().alias(k + "min"), typed.max().alias(k + "max")]


def _size_exprs(
    tspec: TableSpec,
    plans: Mapping[str, ColumnPlan],
    typed: Mapping[str, pl.Expr],
    present: Mapping[str, pl.Expr],
) -> list[pl.Expr]:
    out: list[pl.Expr] = []
    key_cols = [c for c in plans if tspec.columns[c].role in _KEY_ROLES]
    if key_cols:
        out.append(pl.all_horizontal([present[c] for c in key_cols]).sum().alias("__keys"))
    event_dates = [
        c
        for c in plans
        if plans[c].kind == "datetime"
        and tspec.columns[c].role not in ("birth_date", "direct_identifier")
    ]
    if event_dates:
        # First and last event among plausible dates (1900 .. today), so that one typo in
        # 2031 does not stretch the time span a buyer reads.
        lo, hi = dt.datetime(1900, 1, 1), dt.datetime.combine(dt.date.today(), dt.time.max)
        stacked = [typed[c].filter(typed[c].is_between(lo, hi)) for c in event_dates]
        out += [
            pl.min_horizontal([s.min() for s in stacked]).alias("__first_date"),
            pl.max_horizontal([s.max() for s in stacked]).alias("__last_date"),
        ]
    return out


def _patient_query(
    frame: pl.LazyFrame,
    tspec: TableSpec,
    typed: Mapping[str, pl.Expr],
    present: Mapping[str, pl.Expr],
    pid: str,
    checks: Sequence[Check],
    offset: int,
) -> pl.LazyFrame:
    """One row: patients, records per patient, patients with each key field, patient checks."""
    fields = _patient_fields(tspec, pid)
    per = (
        frame.filter(typed[pid].is_not_null())
        .group_by(typed[pid].alias("__pid"))
        .agg(patient_aggregations(tspec, typed, present, fields))
    )
    n = pl.col("__n")
    exprs = [
        pl.len().alias("__patients"),
        n.min().alias("__rpp\x1fmin"),
        n.median().alias("__rpp\x1fmedian"),
        n.mean().alias("__rpp\x1fmean"),
        n.quantile(0.9, "nearest").alias("__rpp\x1fp90"),
        n.max().alias("__rpp\x1fmax"),
        *[pl.col(f"__pw\x1f{c}").sum() for c in fields],
    ]
    for i, chk in enumerate(checks, start=offset):
        exprs += [chk.failed.alias(f"__fail\x1f{i}"), chk.evaluated.alias(f"__eval\x1f{i}")]
    return per.select(exprs)


def _patient_fields(tspec: TableSpec, pid: str | None) -> list[str]:
    if not pid:
        return []
    roles = ("diagnosis_code", "label", "measurement", "sex", "age", "birth_date")
    return [c for c, cs in tspec.columns.items() if cs.role in roles]


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
            shown = tuple((v, n) for v, n in pairs if n >= small_cell)
            top[c] = (shown, sum(1 for _, n in pairs if n < small_cell))
        if tspec.columns[c].role == "site":
            sites += [(c, v, n) for v, n in pairs[:MAX_SITES] if n >= small_cell]
    return top, sites


def _histograms(
    name: str,
    raw: pl.LazyFrame,
    tspec: TableSpec,
    plans: Mapping[str, ColumnPlan],
    row: Mapping[str, Any],
    small_cell: int,
) -> list[Histogram]:
    """Binned counts of the key numeric columns: a second, narrow query.

    The bins span each column's 1st to 99th percentile, known only after the first query.
    """
    ranges: dict[str, tuple[float, float]] = {}
    for c in plans:
        lo, hi = row.get(f"{c}\x1fp01"), row.get(f"{c}\x1fp99")
        if lo is not None and hi is not None and hi > lo:
            ranges[c] = (float(lo), float(hi))
    if not ranges:
        return []
    exprs = []
    for c, (lo, hi) in ranges.items():
        width = (hi - lo) / HISTOGRAM_BINS
        idx = ((pl.col(_TYPED + c) - lo) / width).floor().clip(0, HISTOGRAM_BINS - 1).cast(pl.Int32)
        exprs.append(idx.alias("bin").drop_nulls().value_counts().implode().alias(c))
    needed = list(ranges)
    counted = (
        _with_typed(raw.select(needed), plans, needed, missing=False)
        .select(exprs)
        .collect()
        .row(0, named=True)
    )
    out = []
    for c, (lo, hi) in ranges.items():
        by_bin = {int(d["bin"]): int(d["count"]) for d in counted[c]}
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
) -> ColumnProfile:
    k = f"{c}\x1f"
    shown, hidden = top.get(c, ((), 0))
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
        min=row.get(k + "min"),
        max=row.get(k + "max"),
        mean=row.get(k + "mean"),
        std=row.get(k + "std"),
        q25=row.get(k + "q25"),
        median=row.get(k + "median"),
        q75=row.get(k + "q75"),
        min_length=row.get(k + "minlen"),
        max_length=row.get(k + "maxlen"),
        top_values=shown,
        top_values_suppressed=hidden,
        expected=_expected(cspec),
    )


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


def _size(ds: Dataset, tables: Sequence[_TableResult]) -> Size:
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
    patients = ds.distinct_count("patient_id")
    encounters = ds.distinct_count("encounter_id")
    # Tables may mix date and datetime columns (a Parquet export, a refined product).
    firsts = [_to_date(t.date_range[0]) for t in tables if t.date_range[0] is not None]
    lasts = [_to_date(t.date_range[1]) for t in tables if t.date_range[1] is not None]
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
        first_date=_to_date(min(firsts)) if firsts else None,
        last_date=_to_date(max(lasts)) if lasts else None,
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
