"""Equivalence classes and the privacy models computed on them, each one polars query.

An equivalence class is the set of people sharing every quasi-identifier value. Class
sizes count distinct people when the table names them (a patient with three encounters
is one person), records otherwise. Records whose quasi-identifiers are all missing are
treated as suppressed, as ARX treats records it has suppressed: nothing links them.

Semantics follow ARX (prosecutor, journalist and marketer risk: RiskModelSampleSummary)
and pycanon (k-anonymity, l-diversity, entropy l-diversity, (alpha, k)-anonymity and
t-closeness); formulas and sources in docs/methods.md.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import polars as pl

from medvalue.core import _parts
from medvalue.core._lookup import smallest_unsigned
from medvalue.read._records import Records

#: Class sizes whose shares of records are reported: below 2 (unique), 5 and 11 (CMS).
BELOW = (2, 5, 11)
#: Buckets of class size for the chart of people by the size of their group.
SIZE_BUCKETS = ((1, 1, "1"), (2, 2, "2"), (3, 4, "3-4"), (5, 10, "5-10"), (11, None, "11+"))
#: Size column of an equivalence-class frame.
SIZE = "_size"
#: Subject (person) column, when a table names its people.
SUBJECT = "_subject"


@dataclass(frozen=True)
class Risk:
    """Re-identification risk of one release (ARX's rA, rB, rC for each attacker model)."""

    threshold: float  # highest acceptable probability for one record (ARX's T)
    prosecutor_max: float  # rB: 1 / smallest class
    prosecutor_avg: float  # rC: classes / records
    prosecutor_at_risk: float  # rA: share of records whose risk 1/f exceeds the threshold
    marketer: float  # share re-identified on average (= J / n without a population)
    journalist_max: float | None = None  # with a population table only
    journalist_avg: float | None = None
    journalist_at_risk: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {
            "threshold": self.threshold,
            "prosecutor_max": _r(self.prosecutor_max),
            "prosecutor_avg": _r(self.prosecutor_avg),
            "prosecutor_at_risk": _r(self.prosecutor_at_risk),
            "marketer": _r(self.marketer),
            "journalist_max": _r(self.journalist_max),
            "journalist_avg": _r(self.journalist_avg),
            "journalist_at_risk": _r(self.journalist_at_risk),
        }


@dataclass(frozen=True)
class ClassSummary:
    """k-anonymity and risk of one table under one set of quasi-identifiers."""

    quasi_identifiers: tuple[str, ...]
    records: int  # people (or records) in classes, suppressed ones excluded
    suppressed: int  # records whose quasi-identifiers are all missing
    classes: int
    k: int  # smallest class (0 when there is nothing to release)
    below: dict[int, int]  # records in classes smaller than 2, 5, 11
    risk: Risk
    buckets: dict[str, int] = field(default_factory=dict)  # records by class size

    def share_below(self, size: int) -> float:
        return self.below[size] / self.records if self.records else 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "quasi_identifiers": list(self.quasi_identifiers),
            "records": self.records,
            "suppressed": self.suppressed,
            "classes": self.classes,
            "k_anonymity": self.k,
            "records_below_k": {str(b): self.below[b] for b in BELOW},
            "share_below_k": {str(b): _r(self.share_below(b)) for b in BELOW},
            "risk": self.risk.to_dict(),
            "records_by_class_size": dict(self.buckets),
        }


@dataclass(frozen=True)
class Diversity:
    """How well a sensitive attribute is protected inside the classes."""

    sensitive: str
    l_distinct: int  # fewest distinct sensitive values in a class
    l_entropy: float  # exp(smallest class entropy); pycanon reports its integer part
    alpha: float  # largest share of one sensitive value in a class
    t_closeness: float  # largest distance between a class's and the table's distribution
    numeric: bool  # t measured with the ordered distance (numbers) or equal distance

    def to_dict(self) -> dict[str, object]:
        return {
            "sensitive": self.sensitive,
            "l_diversity": self.l_distinct,
            "entropy_l_diversity": _r(self.l_entropy),
            "alpha": _r(self.alpha),
            "t_closeness": _r(self.t_closeness),
            "distance": "ordered" if self.numeric else "equal",
        }


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def as_text(e: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A value as a population table would write it: 64.0 as "64", dates as YYYY-MM-DD."""
    if dtype.is_float():
        return (
            pl.when(e == e.round(0))
            .then(e.cast(pl.Int64).cast(pl.String))
            .otherwise(e.cast(pl.String))
        )
    if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
        return (
            pl.when(e.dt.time() == pl.time(0))
            .then(e.dt.strftime("%Y-%m-%d"))
            .otherwise(e.cast(pl.String))
        )
    return e.cast(pl.String)


def all_missing(qi: Sequence[str]) -> pl.Expr:
    return pl.all_horizontal([pl.col(c).is_null() for c in qi])


def class_sizes(records: pl.LazyFrame, qi: Sequence[str]) -> pl.LazyFrame:
    """One row per class: its quasi-identifier values and its size (people, else records)."""
    kept = records.filter(~all_missing(qi))
    has_people = SUBJECT in records.collect_schema()
    size = pl.col(SUBJECT).n_unique() if has_people else pl.len()
    return kept.group_by(list(qi)).agg(size.cast(pl.Int64).alias(SIZE))


#: Records whose classes are counted at once: a table of many unique people has about one
#: class per record, each with its set of people, which at 10M records held 2 GB.
CLASS_PART_ROWS = 2_500_000


def parts_for(records: pl.LazyFrame) -> int:
    """How many parts to count ``records``' classes in (see :data:`CLASS_PART_ROWS`)."""
    return _parts.count(records, CLASS_PART_ROWS)


def summarise(
    records: pl.LazyFrame | Records,
    qi: Sequence[str],
    *,
    threshold: float = 0.2,
    population: pl.DataFrame | None = None,
    parts: int | None = None,
) -> ClassSummary:
    """k, records in small classes and ARX risks, from one group-by.

    ``population`` holds the quasi-identifier columns and a ``count`` column: how many
    people of the population (a census table, or the superset the data was drawn from)
    share each combination; it enables the journalist model. The classes are counted in
    parts that share no class (:meth:`Records.by_key`; on one machine ``parts`` of them,
    default one per :data:`CLASS_PART_ROWS` records), so memory follows a part, not the
    table.
    """
    if isinstance(records, Records):
        return _summarise(records, qi, threshold, population, parts)
    with typed_copy(records, qi) as copy:
        return _summarise(Records.of(copy), qi, threshold, population, parts)


@contextlib.contextmanager
def typed_copy(records: pl.LazyFrame, qi: Sequence[str]) -> Iterator[pl.LazyFrame]:
    """``records``' quasi-identifiers (and people) in a private copy (:mod:`._parts`), so
    counting in parts types them (dates read out of text ...) once, not per part."""
    kept = [*qi, *([SUBJECT] if SUBJECT in records.collect_schema() else [])]
    with _parts.private_copy(records.select(kept)) as copy:
        yield copy


def _summarise(
    records: Records,
    qi: Sequence[str],
    threshold: float,
    population: pl.DataFrame | None,
    parts: int | None,
) -> ClassSummary:
    f = pl.col(SIZE)
    stats = [
        f.sum().alias("n"),
        pl.len().alias("J"),
        f.min().alias("k"),
        *[f.filter(f < b).sum().alias(f"below{b}") for b in BELOW],
        f.filter(1.0 / f > threshold).sum().alias("at_risk"),
        *[
            f.filter((f >= lo) & (f <= hi) if hi else (f >= lo)).sum().alias(f"bucket{label}")
            for lo, hi, label in SIZE_BUCKETS
        ],
    ]
    if population is not None:
        pop = population.lazy().select(
            [*[pl.col(c).cast(pl.String) for c in qi], pl.col("count").cast(pl.Int64)]
        )
        stats += [
            pl.col("_F").min().alias("Fmin"),
            pl.col("_F").sum().alias("Fsum"),
            (f / pl.col("_F")).sum().alias("f_over_F"),
            f.filter(1.0 / pl.col("_F") > threshold).sum().alias("j_at_risk"),
        ]

    def part_stats(part: pl.LazyFrame) -> pl.DataFrame:
        classes = class_sizes(part, qi)
        if population is not None:
            schema = classes.collect_schema()
            classes = classes.with_columns([as_text(pl.col(c), schema[c]) for c in qi])
            joined = classes.join(pop, on=list(qi), how="left", nulls_equal=True)
            # A class the population table lacks is taken to be as small as it is here.
            big_f = pl.max_horizontal(pl.col("count").fill_null(0), f)
            classes = joined.with_columns(big_f.alias("_F"))
        suppressed = part.filter(all_missing(qi)).select(pl.len().alias("suppressed"))
        both = pl.concat([classes.select(stats), suppressed], how="horizontal")
        return both.collect(engine="streaming")

    # A class never spans two parts, so each statistic over all classes is the sum, or the
    # minimum, of the parts'.
    per_part = records.by_key(pl.struct(qi), part_stats, CLASS_PART_ROWS, parts)
    smallest = ("k", "Fmin")
    row: dict[str, Any] = per_part.select(
        *[pl.col(c).min() if c in smallest else pl.col(c).sum() for c in per_part.columns]
    ).row(0, named=True)
    suppressed = int(row["suppressed"] or 0)
    n = int(row["n"] or 0)
    J = int(row["J"] or 0)
    k = int(row["k"] or 0)
    if n == 0:
        risk = Risk(threshold, 0.0, 0.0, 0.0, 0.0)
    else:
        journalist = {}
        marketer = J / n
        if population is not None:
            rc2 = row["f_over_F"] / n
            journalist = {
                "journalist_max": 1.0 / row["Fmin"],
                "journalist_avg": max(J / row["Fsum"], rc2),
                "journalist_at_risk": row["j_at_risk"] / n,
            }
            marketer = rc2
        risk = Risk(
            threshold=threshold,
            prosecutor_max=1.0 / k,
            prosecutor_avg=J / n,
            prosecutor_at_risk=(row["at_risk"] or 0) / n,
            marketer=marketer,
            **journalist,
        )
    return ClassSummary(
        quasi_identifiers=tuple(qi),
        records=n,
        suppressed=suppressed,
        classes=J,
        k=k,
        below={b: int(row[f"below{b}"] or 0) for b in BELOW},
        risk=risk,
        buckets={label: int(row[f"bucket{label}"] or 0) for _, _, label in SIZE_BUCKETS},
    )


def diversity(records: pl.LazyFrame | Records, qi: Sequence[str], sensitive: str) -> Diversity:
    """l-diversity (distinct and entropy), (alpha, k) and t-closeness of ``sensitive``.

    Counted over records, as pycanon does; records with a missing sensitive value or with
    every quasi-identifier missing are left out. The table's distribution of ``sensitive``
    is counted first; then each part of the classes (:meth:`Records.by_key`) is measured
    against it, and the parts' worst values kept.
    """
    if not isinstance(records, Records):
        records = Records.of(records)
    numeric = records.schema[sensitive].is_numeric()
    key = pl.struct(qi)

    def base(part: pl.LazyFrame) -> pl.LazyFrame:
        return part.filter(~all_missing(qi) & pl.col(sensitive).is_not_null())

    def values(part: pl.LazyFrame) -> pl.DataFrame:
        return base(part).group_by(sensitive).agg(pl.len().alias("c")).collect()

    counted = records.by_key(key, values, CLASS_PART_ROWS)
    by_value = counted.group_by(sensitive).agg(pl.col("c").sum())
    overall = by_value.select(sensitive, (pl.col("c") / pl.col("c").sum()).alias("p"))
    overall = overall.sort(sensitive)

    def measured(part: pl.LazyFrame) -> pl.DataFrame:
        counts = (
            base(part)
            .group_by([*qi, sensitive])
            .agg(pl.len().alias("c"))
            .with_columns(pl.col("c").sum().over(qi).alias("ec"))
            .with_columns((pl.col("c") / pl.col("ec")).alias("q"))
            .collect()
        )
        entropy = (-(pl.col("q") * pl.col("q").log())).sum()
        per_class = counts.group_by(qi).agg(
            pl.len().alias("l"), entropy.alias("h"), pl.col("q").max().alias("alpha")
        )
        t = None
        if counts.height:
            t = _t_closeness(counts.lazy(), overall.lazy(), qi, sensitive, numeric)
        return per_class.select(
            pl.col("l").min().cast(pl.Int64),
            pl.col("h").min().cast(pl.Float64),
            pl.col("alpha").max().cast(pl.Float64),
            pl.lit(t, dtype=pl.Float64).alias("t"),
        )

    parts = records.by_key(key, measured, CLASS_PART_ROWS)
    agg = parts.select(
        pl.col("l").min(), pl.col("h").min(), pl.col("alpha").max(), pl.col("t").max()
    ).row(0, named=True)
    return Diversity(
        sensitive=sensitive,
        l_distinct=int(agg["l"] or 0),
        l_entropy=math.exp(agg["h"] or 0.0),
        alpha=float(agg["alpha"] or 0.0),
        t_closeness=float(agg["t"] or 0.0),
        numeric=numeric,
    )


def _t_closeness(
    counts: pl.LazyFrame, overall: pl.LazyFrame, qi: Sequence[str], sensitive: str, numeric: bool
) -> float:
    if not numeric:
        # Equal distance: half the L1 distance; values absent from a class add their p.
        joined = counts.join(overall, on=sensitive, how="left")
        per_class = joined.group_by(qi).agg(
            ((pl.col("q") - pl.col("p")).abs() - pl.col("p")).sum().alias("d")
        )
        return float(per_class.select(((pl.col("d") + 1) / 2).max()).collect().item() or 0.0)
    # Ordered distance over the m sorted values: (1 / (m - 1)) * sum_i |Q_i - P_i| where Q
    # and P are cumulative shares. Q is a step that moves only at the class's own values,
    # so each class is summed over its own values, weighting each step by the number of
    # grid values it spans, with P's cumulative sums over those spans precomputed.
    grid = overall.collect().with_columns(
        pl.int_range(pl.len()).alias("i"), pl.col("p").cum_sum().alias("P")
    )
    m = grid.height
    if m < 2:
        return 0.0
    # For each class value at grid index i, the class's cumulative share Q holds from i up
    # to the index before its next value; |Q - P| is summed over that span. P increases, so
    # the span splits where P crosses Q: sum of (Q - P) where P < Q plus (P - Q) elsewhere.
    p_cum = grid.select("i", "P").with_columns(pl.col("P").cum_sum().alias("S"))  # prefix sums
    steps = (
        counts.join(grid.lazy().select(sensitive, "i"), on=sensitive, how="left")
        .sort([*qi, "i"])
        .with_columns(
            pl.col("q").cum_sum().over(qi).alias("Q"),
            pl.col("i").shift(-1).over(qi).fill_null(m).alias("end"),
        )
        .collect()
    )
    # Steps from grid index 0 to the class's first value have Q = 0: add those spans too.
    first = steps.group_by(qi).agg(pl.col("i").min().alias("end"))
    zeros = first.with_columns(pl.lit(0).alias("i"), pl.lit(0.0).alias("Q"))
    spans = pl.concat(
        [steps.select([*qi, "i", "end", "Q"]), zeros.select([*qi, "i", "end", "Q"])],
        how="vertical_relaxed",
    ).filter(pl.col("end") > pl.col("i"))
    # Index of the first grid value in [i, end) with P >= Q (P is non-decreasing).
    P = grid["P"].to_numpy()
    S = p_cum["S"].to_numpy()
    starts = spans["i"].to_numpy()
    ends = spans["end"].to_numpy()
    q = spans["Q"].to_numpy()
    cut = np.clip(np.searchsorted(P, q, side="left"), starts, ends)

    def prefix(idx: np.ndarray) -> np.ndarray:  # sum of P[0:idx]
        return np.where(idx > 0, S[np.maximum(idx - 1, 0)], 0.0)

    below = q * (cut - starts) - (prefix(cut) - prefix(starts))  # P < Q part
    above = (prefix(ends) - prefix(cut)) - q * (ends - cut)  # P >= Q part
    spans = spans.with_columns(pl.Series("d", below + above))
    spread = spans.group_by(qi).agg(pl.col("d").sum())
    return float(cast(float, spread["d"].max()) / (m - 1))


def packed_key(columns: Iterable[pl.Series], n: int) -> tuple[np.ndarray, int] | None:
    """One unsigned 64-bit integer per record packing ``columns`` (``n`` records each, codes
    0 for missing and 1, 2, ... for values), and the number of distinct keys it can hold; None
    when they do not fit in 64 bits. Built a slice at a time in place: whole-column sums
    held four 64-bit arrays at 30M records. ``columns`` may be a generator, so each column's
    codes can be made and freed in turn."""
    key = np.zeros(n, dtype=np.uint64)
    scale = 1
    for codes in columns:
        size = int(cast(int, codes.max()) or 0) + 1
        if (scale * size - 1).bit_length() > 64:
            return None
        for lo, hi in _slices(n):
            key[lo:hi] += codes[lo:hi].to_numpy().astype(np.uint64) * np.uint64(scale)
        scale *= size
        del codes
    return key, scale


def people_per_class(pair: np.ndarray, person_bits: int) -> pl.Series:
    """Distinct people per class, from one unsigned 64-bit integer per record: the class in
    the high bits, the person in the low ``person_bits``. ``pair`` is sorted in place
    (numpy's in-place sort: no copy, and faster than a copy sorted by polars); equal
    neighbours are one person, and the run lengths of the classes over what remains are
    their people. Returns polars' ``rle`` struct: ``value`` the class, ``len`` its people.
    (A group-by counting distinct people held about 1 GB at 10M records.)"""
    pair.sort()
    first = np.ones(len(pair), dtype=bool)
    np.not_equal(pair[1:], pair[:-1], out=first[1:])
    classes = pair[first]
    classes >>= np.uint64(person_bits)
    return pl.Series(classes).rle()


#: Records a slice of :func:`packed_key` works on at once.
_KEY_SLICE = 4_000_000


def _slices(n: int) -> Iterator[tuple[int, int]]:
    return ((lo, min(n, lo + _KEY_SLICE)) for lo in range(0, n, _KEY_SLICE))


def _value_codes(values: pl.Series) -> pl.Series:
    """1, 2, ... for the distinct values of ``values``, 0 for missing."""
    if values.dtype.is_unsigned_integer() and int(cast(int, values.min()) or 1) >= 1:
        return values.fill_null(0)  # numbered already (apply_generalisation)
    distinct = values.drop_nulls().unique()
    dtype = smallest_unsigned(distinct.len())
    numbers = pl.int_range(1, distinct.len() + 1, dtype=dtype, eager=True)
    return values.replace_strict(distinct, numbers, default=0, return_dtype=dtype)
