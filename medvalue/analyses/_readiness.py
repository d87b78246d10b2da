"""AI-training readiness: is there a usable label, enough data for a model with these
predictors (Riley's minimum sample size), signal a simple model can learn, no leakage?

The label and its predictors come from one table (the one holding the label). Predictors
are the columns that are not identifiers, free text, dates or the label itself; a
categorical predictor counts its levels minus one as parameters (at most the 10 commonest
levels plus "other"; diagnosis codes by three-character category). Large tables are
subsampled for the models (stratified, seeded; ``max_rows``) and the report says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import polars as pl

from medvalue.analyses import _baseline as baseline
from medvalue.analyses import _samplesize as samplesize
from medvalue.analyses._baseline import CurvePoint, Extrapolation, Metrics
from medvalue.core._config import SMALL_CELL_THRESHOLD
from medvalue.core._display import Displayed
from medvalue.core._errors import ColumnError, ParameterError
from medvalue.core._i18n import text
from medvalue.core._patterns import label_text
from medvalue.core._suppression import suppress
from medvalue.read._dataset import Dataset
from medvalue.read._records import RANK, Moments, Records, raw_view, records, view
from medvalue.read._rows import ROW, Rows

#: Rows the models see at most; larger tables are subsampled (stratified, seeded).
MAX_MODEL_ROWS = 50_000
#: Levels a categorical predictor keeps before the rest become "other".
MAX_LEVELS = 10
#: A predictor that alone separates the label this well is leakage, not signal.
LEAKAGE_AUC = 0.98
#: Identifier order that predicts the label this well suggests rows sorted by outcome.
ID_LEAKAGE_AUC = 0.7
#: Readiness score weights (documented in docs/methods.md).
WEIGHTS = {"label": 0.2, "sample_size": 0.3, "learnability": 0.3, "completeness": 0.2}

_POSITIVE = {
    "1",
    "1.0",
    "yes",
    "y",
    "true",
    "t",
    "是",
    "有",
    "阳性",
    "死亡",
    "dead",
    "died",
    "death",
    "positive",
    "event",
}
#: Roles that are never predictors, and why (the reason the report shows).
_EXCLUDED_ROLES = {
    "patient_id": "identifier",
    "encounter_id": "identifier",
    "direct_identifier": "identifier",
    "free_text": "text",
    "diagnosis_text": "text",
    "label": "label",
    "row_index": "row_index",
}


@dataclass(frozen=True)
class LabelSummary:
    table: str
    column: str
    outcome: str  # binary | multiclass | continuous | survival
    rows: int
    labelled: int
    classes: tuple[tuple[str, int | None], ...] = ()  # suppressed counts
    positive: str | None = None  # binary: the value counted as the event
    events: int | None = None
    imbalance: float | None = None  # majority / minority
    time: str | None = None
    #: Time-to-event labels with more than two levels: the levels that are neither the event
    #: nor censoring, counted as competing events (censored at their time).
    competing: tuple[str, ...] = ()
    #: How the event value was chosen: given (argument or spec) | inferred
    event_basis: str | None = None

    @property
    def missing_share(self) -> float:
        return 1 - self.labelled / self.rows if self.rows else 0.0

    def to_dict(self, small_cell: int) -> dict[str, object]:
        return {
            "table": self.table,
            "column": self.column,
            "outcome": self.outcome,
            "time": self.time,
            "rows": self.rows,
            "labelled": self.labelled,
            "missing_share": round(self.missing_share, 6),
            "classes": [{"value": v, "count": n, "suppressed": n is None} for v, n in self.classes],
            "positive": self.positive,
            "event_basis": self.event_basis,
            "competing": list(self.competing),
            "events": suppress(self.events, small_cell),
            "imbalance_ratio": None if self.imbalance is None else round(self.imbalance, 3),
        }


@dataclass(frozen=True)
class Predictor:
    column: str
    kind: str  # numeric | categorical
    parameters: int
    completeness: float
    used: bool
    reason: str | None = None  # why not used: leakage | date | identifier | text | constant ...

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "kind": self.kind,
            "parameters": self.parameters,
            "completeness": round(self.completeness, 6),
            "used": self.used,
            "excluded_because": self.reason,
        }


@dataclass(frozen=True)
class Leak:
    column: str
    kind: str  # separates_label | identifier_order | dated_after_outcome
    value: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "kind": self.kind,
            "value": None if self.value is None else round(self.value, 4),
        }


@dataclass(frozen=True, repr=False)
class Readiness(Displayed):
    """What :func:`readiness` returns. ``label is None`` when no label was named or found."""

    _view: ClassVar[str] = "readiness_section"

    dataset: str
    small_cell: int
    label: LabelSummary | None
    predictors: tuple[Predictor, ...] = ()
    leakage: tuple[Leak, ...] = ()
    sample_size: samplesize.SampleSize | None = None
    available_n: int = 0
    supported_parameters: int | None = None
    baseline: Metrics | None = None
    learning_curve: tuple[CurvePoint, ...] = ()
    extrapolation: Extrapolation | None = None
    components: Mapping[str, float] = field(default_factory=dict)
    score: float | None = None
    model_rows: int = 0
    subsampled: bool = False
    seed: int = 0
    notes: tuple[str, ...] = ()
    #: given (argument) | duration (the table's follow-up column, by its role) | None
    time_basis: str | None = None
    #: Why the label could not be assessed (``strict=False``): the one-line error and its fix.
    problem: str | None = None

    @property
    def parameters(self) -> int:
        return sum(p.parameters for p in self.predictors if p.used)

    @property
    def adequate(self) -> bool | None:
        return None if self.sample_size is None else self.available_n >= self.sample_size.required_n

    def headline(self, lang: str) -> tuple[str, str]:
        if self.label is None or self.score is None:
            return text("readiness_labels", "no_label_short", lang), text(
                "readiness_labels", "no_label", lang
            )
        metric = self.baseline.metric if self.baseline else "auc"
        value = self.baseline.value if self.baseline else float("nan")
        sentence = text(
            "readiness_labels", "headline", lang, label=self.label.column,
            metric=text("readiness_labels", f"metric_{metric}", lang), value=f"{value:.2f}",
            available=f"{self.available_n:,}",
            required=f"{self.sample_size.required_n:,}" if self.sample_size else "-",
        )  # fmt: skip
        return f"{self.score:.0f} / 100", sentence

    def explain(self, component: str, lang: str) -> str:
        """One plain sentence per score component, for a finance committee."""
        lab = lambda key, **kw: text("readiness_labels", key, lang, **kw)  # noqa: E731
        if self.label is None:
            return ""
        if component == "label":
            imbalance = "-" if self.label.imbalance is None else f"{self.label.imbalance:.1f}"
            return lab("explain_label", labelled=f"{self.label.labelled:,}", rows=f"{self.label.rows:,}",
                       missing=f"{self.label.missing_share:.1%}", imbalance=imbalance)  # fmt: skip
        if component == "sample_size":
            required = "-" if self.sample_size is None else f"{self.sample_size.required_n:,}"
            return lab("explain_sample_size", available=f"{self.available_n:,}",
                       parameters=self.parameters, required=required)  # fmt: skip
        if component == "learnability" and self.baseline is not None:
            return lab("explain_learnability", metric=lab(f"metric_{self.baseline.metric}"),
                       value=f"{self.baseline.value:.3f}")  # fmt: skip
        used = [p for p in self.predictors if p.used]
        share = sum(p.completeness for p in used) / len(used) if used else 0.0
        return lab("explain_completeness", n=len(used), share=f"{share:.0%}")

    def baseline_sentence(self, lang: str) -> str:
        b = self.baseline
        if b is None:
            return ""
        lab = lambda key, **kw: text("readiness_labels", key, lang, **kw)  # noqa: E731
        model = lab(f"model_{b.metric}")
        ci = "" if b.ci is None else f" (95% CI {b.ci[0]:.3f}–{b.ci[1]:.3f})"
        out = lab("baseline_text", model=model, folds=5, seed=self.seed, rows=f"{self.model_rows:,}",
                  metric=lab(f"metric_{b.metric}"), value=f"{b.value:.3f}", ci=ci)  # fmt: skip
        if b.brier is not None and b.calibration_slope is not None:
            out += "; " + lab("brier", brier=f"{b.brier:.3f}", slope=f"{b.calibration_slope:.2f}")
        return out

    def note_sentences(self, lang: str) -> list[str]:
        out = []
        if self.subsampled and self.label is not None:
            out.append(text("readiness_labels", "subsample_note", lang, rows=f"{self.model_rows:,}",
                            total=f"{self.available_n:,}", seed=self.seed))  # fmt: skip
        if self.label is not None and self.label.positive is not None:
            out.append(text("readiness_labels", "event_note", lang, value=self.label.positive))
        if self.label is not None and self.label.competing:
            out.append(text("readiness_labels", "competing_note", lang,
                            values=", ".join(self.label.competing)))  # fmt: skip
        if self.label is not None and self.label.time and self.time_basis == "duration":
            out.append(text("readiness_labels", "time_note", lang, column=self.label.time))
        return out

    def leak_sentences(self, lang: str) -> list[str]:
        return [
            text("readiness_labels", f"leak_{leak.kind}", lang, column=leak.column,
                 value="" if leak.value is None else f"{leak.value:.3f}")
            for leak in self.leakage
        ]  # fmt: skip

    def to_dict(self, lang: str = "en") -> dict[str, object]:
        ss = self.sample_size
        return {
            "dataset": self.dataset,
            "label": None if self.label is None else self.label.to_dict(self.small_cell),
            "predictors": {
                "candidates": [p.to_dict() for p in self.predictors],
                "used": [p.column for p in self.predictors if p.used],
                "parameters": self.parameters,
            },
            "sample_size": None if ss is None else {
                "required_n": ss.required_n,
                "available_n": self.available_n,
                "adequate": self.adequate,
                "supported_parameters": self.supported_parameters,
                **{k: v for k, v in ss.to_dict().items() if k != "required_n"},
            },
            "baseline": None if self.baseline is None else {
                **self.baseline.to_dict(),
                "rows": self.model_rows,
                "subsampled": self.subsampled,
                "seed": self.seed,
            },
            "learning_curve": [p.to_dict() for p in self.learning_curve],
            "extrapolation": None if self.extrapolation is None else self.extrapolation.to_dict(),
            "leakage": [leak.to_dict() for leak in self.leakage],
            "score": None if self.score is None else round(self.score, 1),
            "components": {k: round(v, 1) for k, v in self.components.items()},
            "weights": dict(WEIGHTS),
            "notes": list(self.notes),
            "problem": self.problem,
        }  # fmt: skip


# --- the analysis ----------------------------------------------------------------------------


def readiness(
    ds: Dataset,
    label: str | None = None,
    *,
    time: str | None = None,
    event: str | None = None,
    outcome_date: str | None = None,
    seed: int = 0,
    folds: int = 5,
    max_rows: int = MAX_MODEL_ROWS,
    shrinkage: float = 0.9,
    small_cell: int = SMALL_CELL_THRESHOLD,
    strict: bool = True,
) -> Readiness:
    """Label, predictors, minimum sample size, baseline model, learning curve, leakage and
    a 0-100 readiness score. ``label`` is a column (or ``table.column``); without it, the
    spec's label is used. ``time`` makes it a time-to-event outcome (time = a positive
    duration); without it, the label's table's follow-up column (role ``duration``, named
    like futime or 随访时间) is used when there is exactly one, and ``time="none"`` turns
    that off. ``event`` is the label value that counts as the event (the spec's ``event:``
    otherwise); a two-level label infers it, a time-to-event label with more levels needs
    it and counts the other non-censoring levels as competing events (censored at their
    time, a cause-specific model); a class label with ``event`` becomes binary, that value
    against the rest. ``outcome_date`` (default: the table's death date, if any) is the
    date the outcome happened: columns dated after it are flagged as leakage. With
    ``strict=False`` (reports, pricing) a label that cannot be used gives a result without
    a label whose ``problem`` says why, instead of an error.

    Examples
    --------
    >>> from medvalue import load_dataset
    >>> from medvalue.core._config import SAMPLE_DIR
    >>> r = readiness(load_dataset(SAMPLE_DIR / "carotid_stenting.csv"), "stroke_or_death_30d")
    >>> r.label.outcome, r.label.events
    ('binary', 69)
    """
    try:
        return _assess(ds, label, time, event, outcome_date, seed, folds, max_rows, shrinkage,
                       small_cell)  # fmt: skip
    except (ParameterError, ColumnError) as exc:
        if strict:
            raise
        return Readiness(ds.name, small_cell, None, notes=(str(exc),), problem=str(exc))


@dataclass(frozen=True)
class ModelDesign:
    """What the baseline model is fitted on: the design matrix of the model sample, its
    outcome (and follow-up time), and each sampled row's position in the label's table."""

    outcome: str  # binary | multiclass | continuous | survival
    x: np.ndarray
    y: np.ndarray
    time: np.ndarray | None
    rows: np.ndarray  # positions in the label's table
    table: str


@dataclass(frozen=True)
class _Outcomes:
    """What the sample size and the label's checks need of the kept rows' outcomes (the
    rows with a usable label, and a positive follow-up time): aggregates, not the rows."""

    rows: int
    sizes: Mapping[float, int]  # class outcomes: rows per class code
    label: Moments | None  # continuous outcomes
    time: Moments | None  # time-to-event outcomes

    def share(self, code: float) -> float:
        return self.sizes.get(code, 0) / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class _Prepared:
    summary: LabelSummary
    outcomes: _Outcomes
    positive: str | None
    time_basis: str | None
    predictors: tuple[Predictor, ...]
    leaks: tuple[Leak, ...]
    design: ModelDesign


def model_design(
    ds: Dataset,
    label: str | None = None,
    *,
    time: str | None = None,
    event: str | None = None,
    seed: int = 0,
    max_rows: int = MAX_MODEL_ROWS,
) -> ModelDesign | None:
    """The baseline model's inputs exactly as :func:`readiness` builds them (None without a
    label): for callers that fit it on parts of the rows (a pool's sites)."""
    prepared = _prepare(ds, label, time, event, seed, max_rows)
    return None if prepared is None else prepared.design


#: The kept rows' columns: their position (row id on Spark), outcome and follow-up time.
_AT, _Y, _T = "\x1fat", "\x1fy", "\x1ft"


def _prepare(
    ds: Dataset,
    label: str | None,
    time: str | None,
    event: str | None,
    seed: int,
    max_rows: int,
    small_cell: int = SMALL_CELL_THRESHOLD,
    outcome_date: str | None = None,
) -> _Prepared | None:
    found = _find_label(ds, label)
    if found is None:
        return None
    table, column = found
    # The label is summarised from its distinct values, the kept rows' outcomes from
    # aggregations, the predictors from aggregations over the table; the models see a
    # sample of at most ``max_rows`` rows: on Spark only those and aggregates reach the driver.
    schema = ds.typed_schema(table)
    label_values = view(ds, Rows(table, (pl.col(column),)))
    counted = label_values.counts_upto([column], LABEL_VALUES_HELD)[column]
    time_basis = "given" if time not in (None, "none") else None
    if time is None and counted is not None and _looks_like_status(counted[column]):
        # An event status beside a follow-up time is a time-to-event outcome.
        time = _follow_up_column(ds, table)
        time_basis = "duration" if time else None
    elif time == "none":
        time = None
    if time is not None and time not in schema:
        raise ColumnError.missing(ds.path, time, schema.names(), what="time column")
    event = event or ds.table_spec(table).columns[column].event
    summary, coding, positive = _label(
        ds.path, table, column,
        _many_values(label_values, column, schema[column]) if counted is None else counted,
        schema[column], time, small_cell, event,
    )  # fmt: skip
    plans = ds.plans[table]

    def outcome_of(label_value: pl.Expr, time_value: pl.Expr | None) -> list[pl.Expr]:
        y = coding.of(label_value).alias(_Y)
        return [y] if time_value is None else [y, _number(time_value, schema[time or ""]).alias(_T)]

    def usable(y: pl.Expr, t: pl.Expr | None) -> pl.Expr:
        keep = y.is_finite() if summary.outcome == "continuous" else y >= 0
        if t is not None:
            keep &= t.is_not_nan() & (t > 0)
        return keep.fill_null(False)

    named = [
        pl.col(ROW).cast(pl.Int64).alias(_AT),
        *outcome_of(pl.col(column), None if time is None else pl.col(time)),
    ]
    keep = usable(pl.col(_Y), None if time is None else pl.col(_T))
    with records(ds, Rows(table, tuple(named), keep)) as kept_outcomes:
        outcomes = _outcomes(summary, kept_outcomes, time is not None)
        _check_label(ds, summary, outcomes)
        picked = _model_sample(kept_outcomes, outcomes, summary.outcome, max_rows, seed)
    positions = picked[_AT].to_numpy()
    sample = ds.rows_at(table, positions)
    # The same rows of the raw table, for the predictors' aggregations.
    raw_y, *raw_t = outcome_of(plans[column].typed(), None if time is None else plans[time].typed())
    raw_keep = usable(raw_y, raw_t[0] if raw_t else None)
    kept_raw = _KeptRows(raw_view(ds, table), raw_keep)
    predictors, design = _predictors(ds, table, column, time, kept_raw, sample)
    ym = picked[_Y].to_numpy()
    leaks = _leakage(ds, table, sample, ym, summary.outcome, design)
    leaks += _dated_after(ds, table, kept_raw, outcome_date)
    leaked = {leak.column for leak in leaks if leak.kind == "separates_label"}
    predictors = tuple(
        Predictor(p.column, p.kind, p.parameters, p.completeness, False, "leakage")
        if p.column in leaked else p
        for p in predictors
    )  # fmt: skip
    used = [p.column for p in predictors if p.used]
    xm = _matrix(design, used, len(positions))
    tm = None if time is None else picked[_T].to_numpy()
    model = ModelDesign(summary.outcome, xm, ym, tm, positions, table)
    return _Prepared(summary, outcomes, positive, time_basis, predictors, tuple(leaks), model)


#: A label's distinct values counted on the driver at most; a label with more is a number
#: (continuous) or refused.
LABEL_VALUES_HELD = 100_000


def _many_values(label: Records, column: str, dtype: pl.DataType) -> _ManyValues:
    """A label (the records of its one column) of more than :data:`LABEL_VALUES_HELD`
    distinct values, summarised by aggregation: its rows, labelled rows, and whether every
    labelled value is a number."""
    present = label_text(pl.col(column), dtype)
    present = present.is_not_null() & (present != "")  # as _label counts a value labelled
    got = label.reduce(
        lambda f: f.select(
            pl.len().cast(pl.Int64).alias("rows"),
            present.sum().cast(pl.Int64).alias("labelled"),
            (present & _number(pl.col(column), dtype).is_null())
            .sum()
            .cast(pl.Int64)
            .alias("words"),
        ),
        lambda _: "sum",
    )
    return _ManyValues(got["rows"], got["labelled"], got["words"] == 0)


@dataclass(frozen=True)
class _ManyValues:
    rows: int
    labelled: int
    numbers: bool


def _outcomes(summary: LabelSummary, kept: Records, timed: bool) -> _Outcomes:
    if summary.outcome == "continuous":
        label = kept.moments(_Y)
        return _Outcomes(label.n, {}, label, None)
    counted = kept.counts([_Y])[_Y]
    sizes = {float(v): int(n) for v, n in counted.iter_rows()}
    return _Outcomes(sum(sizes.values()), sizes, None, kept.moments(_T) if timed else None)


def _model_sample(
    kept: Records, outcomes: _Outcomes, outcome: str, max_rows: int, seed: int
) -> pl.DataFrame:
    """The kept rows the models see, in table order: all, or the sample
    :func:`sample_ranks` draws (the same rows whichever engine holds them)."""
    stratified = outcome in ("binary", "multiclass", "survival")
    classes = sorted(outcomes.sizes) if stratified else []
    sizes = [outcomes.sizes[c] for c in classes] if stratified else [outcomes.rows]
    ranks = sample_ranks(sizes, outcome, max_rows, seed)
    if ranks is None:
        return kept.collect().sort(_AT)
    if not stratified:
        return kept.at_ranks(_AT, None, pl.DataFrame({RANK: ranks[0]}))
    wanted = pl.DataFrame(
        {
            _Y: np.concatenate([np.full(len(r), c) for c, r in zip(classes, ranks, strict=True)]),
            RANK: np.concatenate(ranks),
        }
    )
    return kept.at_ranks(_AT, _Y, wanted)


def _assess(
    ds: Dataset,
    label: str | None,
    time: str | None,
    event: str | None,
    outcome_date: str | None,
    seed: int,
    folds: int,
    max_rows: int,
    shrinkage: float,
    small_cell: int,
) -> Readiness:
    prepared = _prepare(ds, label, time, event, seed, max_rows, small_cell, outcome_date)
    if prepared is None:
        return Readiness(ds.name, small_cell, None, notes=("no label column",))
    summary, outcomes, positive = prepared.summary, prepared.outcomes, prepared.positive
    predictors, leaks, time_basis = prepared.predictors, list(prepared.leaks), prepared.time_basis
    xm, ym, tm = prepared.design.x, prepared.design.y, prepared.design.time
    idx = prepared.design.rows
    available = outcomes.rows
    subsampled = len(idx) < available
    metrics, oof = baseline.cross_validate(summary.outcome, xm, ym, folds=folds, seed=seed, time=tm)
    if summary.outcome == "binary":
        metrics = replace(metrics, calibration_bins=_safe_bins(ym, oof, small_cell))
    curve = baseline.learning_curve(summary.outcome, xm, ym, folds=folds, seed=seed, time=tm)
    floor = -1.0 if summary.outcome == "continuous" else 0.5
    extra = baseline.extrapolate(curve, seed=seed, ceiling=1.0, floor=floor)
    params = max(1, sum(p.parameters for p in predictors if p.used))
    ss, supported = _sample_size(summary, outcomes, params, metrics, shrinkage)
    components = _components(summary, ss, available, metrics, predictors)
    score = sum(WEIGHTS[k] * v for k, v in components.items())
    notes = []
    if subsampled:
        notes.append(
            f"models fitted on a stratified random subsample of {len(idx):,} of {available:,} rows (seed {seed})"
        )
    if positive is not None:
        notes.append(f"'{positive}' counted as the event")
    return Readiness(
        dataset=ds.name,
        small_cell=small_cell,
        label=summary,
        predictors=predictors,
        leakage=tuple(leaks),
        sample_size=ss,
        available_n=available,
        supported_parameters=supported,
        baseline=metrics,
        learning_curve=curve,
        extrapolation=extra,
        components=components,
        score=score,
        model_rows=len(idx),
        subsampled=subsampled,
        seed=seed,
        notes=tuple(notes),
        time_basis=time_basis,
    )


#: A label with at most this many levels, beside a follow-up time, is time-to-event.
_MAX_EVENT_LEVELS = 10
#: A duration column named like this is the follow-up time of a time-to-event label.
_FOLLOW_UP = re.compile(r"^(fu|follow|surv|time$|t$|os|pfs|dfs|stime)|futime|随访|生存", re.I)


def _looks_like_status(values: pl.Series) -> bool:
    """Two levels, or a few levels one of which means censored (0, censored, alive), among
    a label's distinct ``values``."""
    if values.dtype.is_float():
        values = values.drop_nans()
    levels = {str(v).strip().lower().removesuffix(".0") for v in values.drop_nulls().unique()}
    return len(levels) == 2 or (len(levels) <= _MAX_EVENT_LEVELS and bool(levels & _CENSORED))


def _follow_up_column(ds: Dataset, table: str) -> str | None:
    """The table's one follow-up column (role duration, a follow-up name), if exactly one."""
    tspec = ds.table_spec(table)
    found = [
        c for c in tspec.with_role("duration") if _FOLLOW_UP.search(re.sub(r"[\s_.\-]", "", c))
    ]
    return found[0] if len(found) == 1 else None


def _safe_bins(
    y: np.ndarray, p: np.ndarray, small_cell: int
) -> tuple[tuple[float, float, int], ...]:
    """Calibration bins (tenths, or fewer) in which the events and non-events are each
    zero or at least ``small_cell`` people, so no small count can be read off the plot."""
    for bins in range(10, 1, -1):
        out = baseline.calibration_bins(y, p, bins)
        if all(
            (round(o * n) == 0 or round(o * n) >= small_cell)
            and (n - round(o * n) == 0 or n - round(o * n) >= small_cell)
            for _, o, n in out
        ):
            return out
    return ()


def _find_label(ds: Dataset, name: str | None) -> tuple[str, str] | None:
    if name:
        table, _, column = name.rpartition(".")
        for t in ds.table_names:
            for c in ds.table_spec(t).columns:
                if c == (column if table else name) and (not table or t == table):
                    return t, c
        every = [c for t in ds.table_names for c in ds.table_spec(t).columns]
        raise ColumnError.missing(ds.path, name, every, what="label column")
    labels = ds.spec.columns_with_role("label")
    return labels[0] if labels else None


def _number(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A label or follow-up time as a number (null where it is none), text trimmed first."""
    if dtype.is_numeric():
        return value.cast(pl.Float64)
    return value.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)


@dataclass(frozen=True)
class _Coding:
    """How a label's values become the outcome's numbers: the value itself (continuous), or
    looked up among its distinct values ``raw`` (after ``cast``) as ``codes``, -1 for the
    rest (missing)."""

    cast: pl.DataType | None = None
    dtype: pl.DataType = field(default_factory=pl.Float64)
    raw: pl.Series | None = None
    codes: tuple[float, ...] = ()

    def of(self, label: pl.Expr) -> pl.Expr:
        value = label if self.cast is None else label.cast(self.cast)
        if self.raw is None:
            return _number(value, self.dtype)
        raw, codes = self.raw, list(self.codes)

        def look_up(values: pl.Series) -> pl.Series:
            return values.replace_strict(raw, codes, default=-1.0, return_dtype=pl.Float64)

        # Batch by batch: as an expression, replace_strict held the whole column (2.2 GB at
        # 50M rows, polars 2.1), where a look-up per batch streams.
        return value.map_batches(look_up, return_dtype=pl.Float64, is_elementwise=True)


def _label(
    path: str,
    table: str,
    column: str,
    counted: pl.DataFrame | _ManyValues,
    dtype: pl.DataType,
    time: str | None,
    small_cell: int,
    event: str | None = None,
) -> tuple[LabelSummary, _Coding, str | None]:
    """The outcome type, class counts and how each row's label becomes a number (-1 where
    missing), worked out on the label's distinct values with their counts (``counted``: the
    column and ``count``), or on :class:`_ManyValues` for a label of too many of them."""
    if isinstance(counted, _ManyValues):
        if not counted.numbers or event is not None or time is not None:
            msg = (f"{path}: label '{column}' has more than {LABEL_VALUES_HELD:,} distinct "
                   f"values{'' if counted.numbers else ' and holds words'}. Fix: choose an "
                   f"outcome column (a class, a status or a measurement)")  # fmt: skip
            raise ParameterError(msg)
        summary = LabelSummary(table, column, "continuous", counted.rows, counted.labelled)
        return summary, _Coding(dtype=dtype), None
    raw_values = counted[column]
    cast: pl.DataType | None = None
    if dtype.is_float():
        whole = raw_values.drop_nulls()
        if bool((whole == whole.round(0)).all()):
            cast = pl.Int64()  # 0.0 / 1.0 read from text: shown as 0 / 1
            raw_values = raw_values.cast(cast)
            dtype = cast
    # "0", "0.0" and " 0" are one class (as coverage counts outcomes).
    text_ = pl.select(label_text(pl.lit(raw_values), dtype)).to_series()
    present = (text_.is_not_null() & (text_ != "")).to_numpy()
    raw = raw_values.filter(present)
    n = counted["count"].cast(pl.Int64).to_numpy()[present]
    text_ = text_.filter(present)
    per_text = pl.DataFrame({"v": text_, "n": n}).group_by("v").agg(pl.col("n").sum()).sort("v")
    distinct = per_text["v"].to_list()
    count_of = dict(zip(distinct, per_text["n"].to_list(), strict=True))
    numbers = pl.select(_number(pl.lit(raw), dtype)).to_series()
    is_number = dtype.is_numeric() or bool(numbers.is_finite().fill_null(False).all())
    rows, labelled = int(counted["count"].sum()), int(n.sum())

    def coded(code_of: Mapping[str, float]) -> _Coding:
        return _Coding(cast, dtype, raw, tuple(code_of[t] for t in text_.to_list()))

    if event is not None and str(event) not in distinct:
        listed = ", ".join(distinct[:12])
        msg = (f"{path}: label '{column}' has no value '{event}' (values: {listed}). "
               f"Fix: give --event one of those values")  # fmt: skip
        raise ParameterError(msg)
    two_level = len(distinct) == 2
    counts = [(v, count_of[v]) for v in distinct]
    shown = suppress([c for _, c in counts], small_cell)
    if time is not None or event is not None or two_level:
        outcome = "survival" if time is not None else "binary"
        competing: tuple[str, ...] = ()
        if event is not None:
            positive, basis = str(event), "given"
        elif two_level:
            positive, basis = _positive(count_of), "inferred"
        else:
            guess = next(
                (v for v in distinct if v.lower() in _POSITIVE), distinct[-1] if distinct else ""
            )
            msg = (f"{path}: time-to-event label '{column}' has {len(distinct)} levels "
                   f"({', '.join(distinct[:12])}), so the event is not clear. "
                   f"Fix: name the event value with --event (spec: event:), e.g. --event {guess}")  # fmt: skip
            raise ParameterError(msg)
        if outcome == "survival" and len(distinct) > 2:
            competing = tuple(v for v in distinct if v != positive and v.lower() not in _CENSORED)
        events = count_of.get(positive, 0)
        # Balance of the outcome as modelled: events against everything else.
        others = labelled - events
        ratio = (max(events, others) / min(events, others)) if min(events, others) else None
        summary = LabelSummary(
            table, column, outcome, rows, labelled,
            tuple((v, c) for (v, _), c in zip(counts, shown, strict=True)), positive, events,
            ratio, time, competing, basis,
        )  # fmt: skip
        return summary, coded({v: float(v == positive) for v in distinct}), positive
    if is_number and len(distinct) > 10:
        # Missing and empty values are null as numbers.
        summary = LabelSummary(table, column, "continuous", rows, labelled)
        return summary, _Coding(cast, dtype), None
    minority = min((c for _, c in counts), default=0)
    summary = LabelSummary(
        table, column, "multiclass", rows, labelled,
        tuple((v, c) for (v, _), c in zip(counts, shown, strict=True)), None, None,
        (max(c for _, c in counts) / minority) if minority else None,
    )  # fmt: skip
    return summary, coded({v: float(i) for i, v in enumerate(distinct)}), None


#: Label values that mean "no event yet" (censored) in a time-to-event label.
_CENSORED = {
    "0",
    "0.0",
    "censored",
    "censor",
    "alive",
    "no",
    "n",
    "false",
    "f",
    "否",
    "无",
    "存活",
    "删失",
}


def _positive(count_of: Mapping[str, int]) -> str:
    for v in count_of:
        if v.lower() in _POSITIVE:
            return v
    # Otherwise the rarer value is the event (deaths, complications, readmissions).
    return min(count_of, key=lambda v: (count_of[v], v))


def _check_label(ds: Dataset, summary: LabelSummary, outcomes: _Outcomes) -> None:
    where = f"{ds.path}: label '{summary.column}'"
    if outcomes.rows < 10:
        msg = (
            f"{where} has {outcomes.rows} usable rows. Fix: a model needs at least 10 labelled rows"
        )
        raise ParameterError(msg)
    if summary.outcome in ("binary", "survival", "multiclass"):
        present = [n for n in outcomes.sizes.values() if n > 0]
        if len(present) < 2:
            msg = f"{where} has a single value. Fix: choose a label with at least two outcomes"
            raise ParameterError(msg)
        if min(present) < 2:
            msg = (
                f"{where}: an outcome occurs once. Fix: merge rare classes or choose another label"
            )
            raise ParameterError(msg)
    elif outcomes.label is None or not outcomes.label.std:
        msg = f"{where} is constant. Fix: choose a label that varies"
        raise ParameterError(msg)


@dataclass(frozen=True)
class _KeptRows:
    """The raw rows of a table where ``keep`` holds (the rows the outcome keeps)."""

    raw: Records
    keep: pl.Expr

    def of(self, columns: Sequence[str]) -> Records:
        """Those rows' ``columns`` (and the ones ``keep`` reads): only they are read and, on
        Spark, handed to the executors' Python."""
        read = list(dict.fromkeys([*columns, *self.keep.meta.root_names()]))
        return self.raw.select(read).where(self.keep)


@dataclass
class _Design:
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categorical: dict[str, np.ndarray] = field(default_factory=dict)  # integer codes


def _predictors(
    ds: Dataset,
    table: str,
    label: str,
    time: str | None,
    kept_raw: _KeptRows,
    sample: pl.DataFrame,
) -> tuple[tuple[Predictor, ...], _Design]:
    """Each column's use as a predictor, judged over all rows of ``kept_raw`` (the raw rows
    the label keeps: completeness, constancy, levels, by aggregation), and its design values
    on the ``sample``."""
    tspec = ds.table_spec(table)
    plans = ds.plans[table]
    schema = ds.typed_schema(table)
    role_of = {c: tspec.columns[c].role if c in tspec.columns else "other" for c in schema}
    candidates = [c for c in schema if c not in (label, time)]
    numeric = [
        c for c in candidates
        if role_of[c] not in _EXCLUDED_ROLES and plans[c].kind != "datetime"
        and not schema[c].is_temporal() and schema[c].is_numeric()
    ]  # fmt: skip
    textual = [
        c for c in candidates
        if role_of[c] not in _EXCLUDED_ROLES and plans[c].kind != "datetime"
        and not schema[c].is_temporal() and not schema[c].is_numeric()
    ]  # fmt: skip
    # Categories, and dates and numbers read out of text, are summarised from their distinct
    # raw values, each typed once (typing every row took most of readiness's time at 30M
    # rows, on one machine and in Spark's executors alike); columns typed at the source and
    # identifiers, over their rows.
    by_value = [
        c for c in candidates
        if c in textual or (plans[c].is_text_source and plans[c].kind != "string")
    ]  # fmt: skip
    by_row = [c for c in candidates if c not in by_value]
    typing = [plans[c].typed() for c in by_row]  # run in Spark's executors: no Dataset in it
    stats = kept_raw.of(by_row).reduce(
        lambda raw: raw.with_columns(typing).select(
            pl.len().cast(pl.Int64).alias("\x1frows"),
            *[pl.col(c).null_count().cast(pl.Int64).alias(c) for c in by_row],
            *[pl.col(c).min().cast(pl.Float64).alias(f"\x1fmin:{c}") for c in numeric if c in by_row],
            *[pl.col(c).max().cast(pl.Float64).alias(f"\x1fmax:{c}") for c in numeric if c in by_row],
        ),
        _merged_as,
    )  # fmt: skip
    n = int(stats["\x1frows"])
    levels_of = {}
    many_levels = set()
    counted_values = kept_raw.of(by_value).counts_upto(by_value, PREDICTOR_VALUES_HELD)
    for c in by_value:
        counted = counted_values.pop(c)  # let each column's counts go once summarised
        if counted is None:  # too many values to count here: summarised over the rows
            stats |= _over_rows(kept_raw.of([c]), plans[c].typed(), c, c in numeric)
            if c in textual:  # more than any categorical predictor keeps
                many_levels.add(c)
            continue
        counted = counted.rename({"count": "n"}).with_columns(plans[c].typed())
        stats[c] = int(counted.filter(pl.col(c).is_null())["n"].sum())
        if c in numeric:
            stats[f"\x1fmin:{c}"] = counted[c].cast(pl.Float64).min()
            stats[f"\x1fmax:{c}"] = counted[c].cast(pl.Float64).max()
        if c in textual:
            levels_of[c] = counted.group_by(_level(pl.col(c), role_of[c]).alias("v")).agg(
                pl.col("n").sum()
            )
    design = _Design()
    out = []
    for c in candidates:
        role = role_of[c]
        completeness = 1 - stats[c] / n if n else 0.0
        if role in _EXCLUDED_ROLES:
            out.append(Predictor(c, "-", 0, completeness, False, _EXCLUDED_ROLES[role]))
        elif c not in numeric and c not in textual:
            out.append(Predictor(c, "date", 0, completeness, False, "date"))
        elif c in numeric:
            lo, hi = stats[f"\x1fmin:{c}"], stats[f"\x1fmax:{c}"]
            if lo is None or lo == hi or math.isnan(lo) or math.isnan(hi):
                out.append(Predictor(c, "numeric", 0, completeness, False, "constant"))
                continue
            design.numeric[c] = sample[c].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            out.append(Predictor(c, "numeric", 1, completeness, True))
        elif c in many_levels:
            out.append(Predictor(c, "categorical", 0, completeness, False, "too_many_levels"))
        else:
            counts = levels_of[c]
            has_missing = counts["v"].null_count() > 0
            counts = counts.drop_nulls("v").sort(["n", "v"], descending=[True, False])
            # Missing is a level of its own (a comorbidity column is empty when absent).
            if counts.height + has_missing <= 1:
                out.append(Predictor(c, "categorical", 0, completeness, False, "constant"))
                continue
            if counts.height > 50 and role != "diagnosis_code":
                out.append(Predictor(c, "categorical", 0, completeness, False, "too_many_levels"))
                continue
            levels = counts["v"].head(MAX_LEVELS)
            # 0 = missing, 1.. = the commonest levels, len + 1 = other
            other = len(levels) + 1
            design.categorical[c] = (
                sample.select(
                    _level(pl.col(c), role)
                    .replace_strict(levels, pl.int_range(1, other, eager=True), default=other)
                    .fill_null(0)
                )
                .to_series()
                .cast(pl.Int64)
                .to_numpy()
            )
            n_levels = len(levels) + (counts.height > len(levels)) + has_missing
            out.append(Predictor(c, "categorical", max(1, n_levels - 1), completeness, True))
    return tuple(out), design


#: A predictor's distinct raw values counted on the driver at most: a categorical one with
#: more has too many levels (a diagnosis code's categories are far fewer than its values).
PREDICTOR_VALUES_HELD = 200_000


def _merged_as(name: str) -> str:
    """How per-batch predictor statistics combine: extremes by min and max, counts by sum."""
    return name[1:4] if name.startswith(("\x1fmin:", "\x1fmax:")) else "sum"


def _over_rows(kept_raw: Records, typed: pl.Expr, column: str, numeric: bool) -> dict[str, Any]:
    """Rows of ``kept_raw`` where ``column`` (``typed`` from its raw values) is missing, and
    its extremes when ``numeric``, named as :func:`_predictors` names them."""
    value = pl.col(column)
    got = kept_raw.reduce(
        lambda raw: raw.with_columns(typed).select(
            value.null_count().cast(pl.Int64).alias(column),
            *([value.min().cast(pl.Float64).alias(f"\x1fmin:{column}"),
               value.max().cast(pl.Float64).alias(f"\x1fmax:{column}")] if numeric else []),
        ),
        _merged_as,
    )  # fmt: skip
    return dict(got)


def _level(value: pl.Expr, role: str) -> pl.Expr:
    """A categorical predictor's level: the trimmed text (a diagnosis code's category)."""
    text_values = value.cast(pl.String).str.strip_chars()
    if role == "diagnosis_code":
        return text_values.str.to_uppercase().str.replace_all(r"[^A-Z0-9]", "").str.slice(0, 3)
    return text_values


def _matrix(design: _Design, used: Sequence[str], rows: int) -> np.ndarray:
    """Numbers standardised with median imputation plus a missing flag where needed;
    categories one-hot with the commonest level as reference (missing is a level)."""
    blocks = []
    for c in used:
        if c in design.numeric:
            v = design.numeric[c].copy()
            missing = np.isnan(v)
            med = np.nanmedian(v)
            v[missing] = med
            sd = v.std() or 1.0
            blocks.append(((v - v.mean()) / sd)[:, None])
            if missing.any():
                blocks.append(missing.astype(float)[:, None])
        elif c in design.categorical:
            codes = design.categorical[c]
            present = np.unique(codes)
            reference = np.bincount(codes).argmax()
            for level in present:
                if level != reference:
                    blocks.append((codes == level).astype(float)[:, None])
    if not blocks:
        return np.zeros((rows, 0))
    return np.hstack(blocks)


def sample_ranks(
    sizes: Sequence[int] | np.ndarray, outcome: str, max_rows: int, seed: int
) -> list[np.ndarray] | None:
    """The rows the models see, from counts alone: None for every row (``max_rows`` or
    fewer); else, for a class outcome, per class (rows ``sizes``, in the order of the
    classes' codes) the ranks in table order of the rows drawn, each class keeping its share
    of ``max_rows`` (at least 2); for a continuous outcome (``sizes`` one count) the ranks of
    ``max_rows`` rows drawn at random. Counts suffice, so an engine that does not hold the
    label whole draws the same rows (``rng.choice(members, m)`` picks ``members`` at the
    indexes ``rng.choice(len(members), m)`` picks)."""
    n = int(np.sum(sizes))
    if n <= max_rows:
        return None
    rng = np.random.default_rng(seed)
    if outcome in ("binary", "multiclass", "survival"):
        return [
            rng.choice(int(size), max(2, round(int(size) * max_rows / n)), replace=False)
            for size in sizes
        ]
    return [rng.choice(n, max_rows, replace=False)]


def _leakage(
    ds: Dataset, table: str, rows: pl.DataFrame, y: np.ndarray, outcome: str, design: _Design
) -> list[Leak]:
    out: list[Leak] = []
    if outcome in ("binary", "survival"):
        for c, v in design.numeric.items():
            auc = baseline.univariate_auc(y, v)
            if auc >= LEAKAGE_AUC:
                out.append(Leak(c, "separates_label", auc))
        for c, codes in design.categorical.items():
            means = np.bincount(codes, weights=y) / np.maximum(np.bincount(codes), 1)
            auc = baseline.univariate_auc(y, means[codes])
            if auc >= LEAKAGE_AUC:
                out.append(Leak(c, "separates_label", auc))
        for role in ("patient_id", "encounter_id"):
            col = ds.table_spec(table).first(role)
            if col and col in rows.columns:
                # Ids handed out in outcome order (deaths exported last ...) leak the label.
                order = rows[col].cast(pl.String).rank("ordinal").cast(pl.Float64).to_numpy()
                auc = baseline.univariate_auc(y, order)
                if auc >= ID_LEAKAGE_AUC:
                    out.append(Leak(col, "identifier_order", auc))
    elif outcome == "multiclass":
        # A predictor that separates any one class from the rest is leakage too.
        classes = [k for k in np.unique(y) if 0 < (y == k).sum() < len(y)]
        columns = [(c, v) for c, v in design.numeric.items()] + [
            (c, codes) for c, codes in design.categorical.items()
        ]
        for c, v in columns:
            best = 0.0
            for k in classes:
                target = (y == k).astype(float)
                if c in design.categorical:
                    means = np.bincount(v, weights=target) / np.maximum(np.bincount(v), 1)
                    score = means[v]
                else:
                    score = v
                best = max(best, baseline.univariate_auc(target, score))
            if best >= LEAKAGE_AUC:
                out.append(Leak(c, "separates_label", best))
    elif outcome == "continuous":
        for c, v in design.numeric.items():
            keep = ~np.isnan(v) & ~np.isnan(y)
            if keep.sum() > 2:
                r = abs(np.corrcoef(v[keep], y[keep])[0, 1])
                if r >= LEAKAGE_AUC:
                    out.append(Leak(c, "separates_label", float(r)))
    return out


def _dated_after(
    ds: Dataset, table: str, kept_raw: _KeptRows, outcome_date: str | None
) -> list[Leak]:
    """Date columns that mostly fall after the outcome's date cannot be known at prediction."""
    tspec = ds.table_spec(table)
    column = outcome_date or tspec.first("death_date")
    if column is None:
        return []
    schema = ds.typed_schema(table)
    if column not in schema:
        raise ColumnError.missing(ds.path, column, schema.names(), what="outcome date column")
    if not schema[column].is_temporal():
        return []
    dated = [c for c, t in schema.items() if c != column and t.is_temporal()]
    if not dated:
        return []
    # The share of rows dated after the outcome among rows holding both dates.
    after = [pl.col(c) > pl.col(column) for c in dated]
    typing = [ds.plans[table][c].typed() for c in [*dated, column]]
    got = kept_raw.of([*dated, column]).reduce(
        lambda raw: raw.with_columns(typing).select(
            *[a.sum().cast(pl.Int64).alias(f"after:{c}") for c, a in zip(dated, after, strict=True)],
            *[a.count().cast(pl.Int64).alias(f"both:{c}") for c, a in zip(dated, after, strict=True)],
        ),
        lambda _: "sum",
    )  # fmt: skip
    shares = {c: got[f"after:{c}"] / got[f"both:{c}"] if got[f"both:{c}"] else None for c in dated}
    return [
        Leak(c, "dated_after_outcome", float(share))
        for c, share in shares.items()
        if share is not None and share >= 0.5
    ]


def _sample_size(
    summary: LabelSummary,
    outcomes: _Outcomes,
    params: int,
    metrics: baseline.Metrics,
    shrinkage: float,
) -> tuple[samplesize.SampleSize | None, int | None]:
    """Riley's minimum n for this label with these candidate parameters. The anticipated
    R² comes from the cross-validated baseline (the dataset's own signal), floored at a
    C-statistic of 0.6 (or R² 0.05) so a weak baseline gives a large, finite n."""
    try:
        if summary.outcome == "binary":
            prevalence = outcomes.share(1.0)
            c = min(max(metrics.value if math.isfinite(metrics.value) else 0.6, 0.6), 0.95)

            def req(p: int) -> samplesize.SampleSize:
                return samplesize.binary(p, prevalence, cstatistic=round(c, 3), shrinkage=shrinkage)
        elif summary.outcome == "multiclass":
            # Each class against the rest is a binary model with the same parameters; the
            # class that needs the most people sets the minimum (in the spirit of Pate et
            # al. 2023 for multinomial models, who apply the criteria to each submodel).
            counts = list(outcomes.sizes.values())
            n = outcomes.rows
            prevalences = sorted({float(k / n) for k in counts if 0 < k < n})
            c = min(max(metrics.value if math.isfinite(metrics.value) else 0.6, 0.6), 0.95)

            def req(p: int) -> samplesize.SampleSize:
                each = [samplesize.binary(p, pr, cstatistic=round(c, 3), shrinkage=shrinkage)
                        for pr in prevalences]  # fmt: skip
                worst = max(each, key=lambda r: r.required_n)
                note = (f"multiclass: each of {len(counts)} classes against the rest; "
                        f"the largest minimum (class share {(worst.events or 0) / worst.required_n:.3f})")  # fmt: skip
                return replace(worst, outcome="multiclass", notes=(*worst.notes, note))
        elif summary.outcome == "continuous":
            r2 = min(max(metrics.value if math.isfinite(metrics.value) else 0.05, 0.05), 0.8)
            assert outcomes.label is not None
            mean, sd = outcomes.label.mean or 0.0, outcomes.label.std or 0.0

            def req(p: int) -> samplesize.SampleSize:
                return samplesize.continuous(
                    p, r2=round(r2, 3), intercept=mean or 1e-9, sd=sd, shrinkage=shrinkage
                )
        else:
            times = outcomes.time
            assert times is not None and times.median is not None
            events = outcomes.sizes.get(1.0, 0)
            rate = events / times.total
            meanfup, median = times.mean or 0.0, times.median
            c = min(max(metrics.value if math.isfinite(metrics.value) else 0.6, 0.6), 0.95)
            r2 = _r2cs_from_c_survival(c, events, outcomes.rows)

            def req(p: int) -> samplesize.SampleSize:
                return samplesize.survival(
                    p, r2_cs=round(r2, 4), rate=rate, timepoint=median,
                    meanfup=meanfup, shrinkage=shrinkage,
                )  # fmt: skip

        ss = req(params)
        return ss, samplesize.supported_parameters(outcomes.rows, req)
    except ParameterError:
        return None, None


def _r2cs_from_c_survival(c: float, events: int, n: int) -> float:
    """Royston's D route (Riley 2019 Part II): C -> D -> R²_D -> O'Quigley R² -> Cox-Snell."""
    d = 5.50 * (c - 0.5) + 10.26 * (c - 0.5) ** 3
    r2_d = (math.pi / 8 * d**2) / (math.pi**2 / 6 + math.pi / 8 * d**2)
    r2_oq = -(math.pi**2 / 6) * r2_d / ((1 - math.pi**2 / 6) * r2_d - 1)
    lr = -events * math.log(1 - r2_oq)
    return 1 - math.exp(-lr / n)


def _components(
    summary: LabelSummary,
    ss: samplesize.SampleSize | None,
    available: int,
    metrics: baseline.Metrics,
    predictors: Sequence[Predictor],
) -> dict[str, float]:
    """Each 0-100 (docs/methods.md): label completeness times balance; available over
    required n; the baseline's discrimination; completeness of the predictors used."""
    balance = 1.0
    if summary.imbalance:
        balance = min(1.0, 10.0 / summary.imbalance)  # 1:10 or better counts in full
    label = 100 * (1 - summary.missing_share) * balance
    size = 100 * min(1.0, available / ss.required_n) if ss else 0.0
    if metrics.metric == "r2":
        learn = 100 * min(1.0, max(0.0, metrics.value / 0.5))
    else:
        learn = 100 * min(1.0, max(0.0, (metrics.value - 0.5) / 0.4))
    used = [p for p in predictors if p.used]
    complete = 100 * (sum(p.completeness for p in used) / len(used)) if used else 0.0
    return {"label": label, "sample_size": size, "learnability": learn, "completeness": complete}
