"""Generalisation hierarchies for quasi-identifiers, and a search for the least lossy
combination that reaches a target k.

Each quasi-identifier gets a ladder of levels, from the exact value to a single "*":
ages to top-coded, 5-, 10- and 20-year bands (ages over 89 always become "90+", as the
HIPAA Safe Harbor rule asks); dates to month, year and five years; regions to city and
province when the values are Chinese place names, or to shorter prefixes when they are
postcodes; categories to "rare values grouped"; anything else to "*".

Information loss is Sweeney's precision loss: the mean over quasi-identifiers of
level / height of the ladder (0 = exact values, 1 = every quasi-identifier removed).
The search is greedy on the equivalence-class table, not on the rows: each step raises
the one quasi-identifier that removes the most records from small classes per unit of
information lost, until the records still in classes smaller than k are few enough to
suppress (at most ``max_suppression`` of them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import polars as pl

from medvalue.analyses._anonymity import (
    SIZE,
    SUBJECT,
    all_missing,
    packed_key,
    parts_for,
    people_per_class,
    typed_copy,
)
from medvalue.core import _parts
from medvalue.core._lookup import position_in, smallest_unsigned
from medvalue.read import _spark
from medvalue.read._records import Records

OTHER = "其他/other"
STAR = "*"


@dataclass(frozen=True)
class Level:
    key: str  # catalogue key: exact, top_coded, band5, month, province, ...
    apply: Callable[[pl.Expr], pl.Expr]


@dataclass(frozen=True)
class Hierarchy:
    """The ladder of one quasi-identifier; level 0 is the value as recorded."""

    column: str
    kind: str  # age | date | region | postcode | category | sex | number
    levels: tuple[Level, ...]

    @property
    def height(self) -> int:
        return len(self.levels) - 1


@dataclass(frozen=True)
class Step:
    """One recommended generalisation and where it leaves the release."""

    column: str
    level: str  # catalogue key of the new level
    k: int  # smallest class after this step (before suppression)
    records_below: int  # records still in classes smaller than the target
    share_below: float
    information_loss: float  # cumulative precision loss, 0..1

    def to_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "level": self.level,
            "k": self.k,
            "records_below_target": self.records_below,
            "share_below_target": round(self.share_below, 6),
            "information_loss": round(self.information_loss, 6),
        }


@dataclass(frozen=True)
class Plan:
    """The search's answer: a level per quasi-identifier and what it achieves."""

    target_k: int
    levels: Mapping[str, int]  # column -> level index
    keys: Mapping[str, str]  # column -> level key
    steps: tuple[Step, ...]
    k: int  # after generalisation and suppression
    suppressed: int  # records whose quasi-identifiers are blanked to reach k
    records: int
    information_loss: float
    reached: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "target_k": self.target_k,
            "levels": dict(self.keys),
            "steps": [s.to_dict() for s in self.steps],
            "k_after": self.k,
            "suppressed_records": self.suppressed,
            "suppressed_share": round(self.suppressed / self.records, 6) if self.records else 0.0,
            "information_loss": round(self.information_loss, 6),
            "reached": self.reached,
        }


# --- ladders ---------------------------------------------------------------------------------


def _star(_: pl.Expr) -> pl.Expr:
    return pl.lit(STAR)


def _keep(e: pl.Expr) -> pl.Expr:
    return e


def _age_band(width: int) -> Callable[[pl.Expr], pl.Expr]:
    def band(e: pl.Expr) -> pl.Expr:
        a = e.cast(pl.Float64).floor().cast(pl.Int64)
        lo = (a // width) * width
        label = lo.cast(pl.String) + "-" + (lo + width - 1).cast(pl.String)
        return pl.when(a.is_null()).then(None).when(a >= 90).then(pl.lit("90+")).otherwise(label)

    return band


def _top_coded(e: pl.Expr) -> pl.Expr:
    a = e.cast(pl.Float64).floor().cast(pl.Int64)
    return pl.when(a >= 90).then(pl.lit("90+")).otherwise(a.cast(pl.String))


def _date_fmt(fmt: str) -> Callable[[pl.Expr], pl.Expr]:
    return lambda e: e.dt.strftime(fmt)


def _five_years(e: pl.Expr) -> pl.Expr:
    lo = (e.dt.year() // 5) * 5
    return lo.cast(pl.String) + "-" + (lo + 4).cast(pl.String)


_CITY = r"^(.*?(?:市|自治州|地区|盟))"
_PROVINCE = r"^(.*?(?:省|自治区|特别行政区)|北京市|天津市|上海市|重庆市)"


def _extract_or_star(pattern: str) -> Callable[[pl.Expr], pl.Expr]:
    return lambda e: e.cast(pl.String).str.extract(pattern, 1).fill_null(pl.lit(STAR))


def _rare_grouped(min_size: int, counts: Mapping[str, int]) -> Callable[[pl.Expr], pl.Expr]:
    rare = [v for v, n in counts.items() if n < min_size]
    return lambda e: (
        pl.when(e.cast(pl.String).is_in(rare)).then(pl.lit(OTHER)).otherwise(e.cast(pl.String))
    )


def hierarchy_for(column: str, role: str, counts: pl.DataFrame, target_k: int) -> Hierarchy:
    """Pick the ladder from the column's role, type and values: ``counts`` holds them (its
    first column, typed) with their records (``count``), as ``Series.value_counts`` gives."""
    dtype = counts.schema[counts.columns[0]]
    exact = Level("exact", _keep)
    star = Level("suppressed", _star)
    if role == "age":
        return Hierarchy(column, "age", (
            exact, Level("top_coded", _top_coded), Level("band5", _age_band(5)),
            Level("band10", _age_band(10)), Level("band20", _age_band(20)), star,
        ))  # fmt: skip
    if dtype.is_temporal():
        return Hierarchy(column, "date", (
            exact, Level("month", _date_fmt("%Y-%m")), Level("year", _date_fmt("%Y")),
            Level("five_years", _five_years), star,
        ))  # fmt: skip
    if role == "sex":
        return Hierarchy(column, "sex", (exact, star))
    text = counts.select(pl.first().cast(pl.String).alias("v"), pl.col("count").cast(pl.Int64))
    text = text.drop_nulls("v")
    text = text.group_by("v").agg(pl.col("count").sum())  # 64 and 64.0 are one text
    total = int(text["count"].sum())

    def share(pattern: str) -> float:  # of the records with a value
        return int(text.filter(pl.col("v").str.contains(pattern))["count"].sum()) / total

    if role == "region" and total:
        if share(r"^\d{6}$") >= 0.8:
            return Hierarchy(column, "postcode", (
                exact, Level("postcode4", lambda e: e.cast(pl.String).str.slice(0, 4)),
                Level("postcode2", lambda e: e.cast(pl.String).str.slice(0, 2)), star,
            ))  # fmt: skip
        if share(r"省|自治区|市") >= 0.5:
            return Hierarchy(column, "region", (
                exact, Level("city", _extract_or_star(_CITY)),
                Level("province", _extract_or_star(_PROVINCE)), star,
            ))  # fmt: skip
    if dtype == pl.String or role in ("region", "quasi_identifier"):
        rows_of = dict(text.iter_rows())
        return Hierarchy(column, "category", (
            exact, Level("rare_grouped", _rare_grouped(target_k, rows_of)), star,
        ))  # fmt: skip
    return Hierarchy(column, "number", (exact, star))


# --- search ----------------------------------------------------------------------------------


def _generalised(
    classes: pl.DataFrame, ladders: Mapping[str, Hierarchy], levels: Mapping[str, int]
) -> pl.DataFrame:
    return classes.with_columns(
        [h.levels[levels[c]].apply(pl.col(c)).alias(c) for c, h in ladders.items()]
    )


def class_table(records: pl.LazyFrame, qi: Sequence[str]) -> pl.DataFrame:
    """The rows the search works on: distinct (person, quasi-identifiers) with a weight.

    Without people named, identical records are merged and weighted; with them, each
    person appears once per distinct combination so merged classes count people, not rows.
    """
    kept = records.filter(~all_missing(qi))
    if SUBJECT not in records.collect_schema():
        return kept.group_by(list(qi)).agg(pl.len().alias("_w")).collect()
    with typed_copy(kept, qi) as copy:
        return _people_classes(copy, qi, parts_for(copy))


def _people_classes(kept: pl.LazyFrame, qi: Sequence[str], parts: int) -> pl.DataFrame:
    """Distinct (person, quasi-identifiers), people as integers from here on (only whether
    two rows share one matters). In ``parts`` split by a hash of the person, so a person's
    rows are in one part and the parts' numbers never collide: memory follows a part."""
    out, offset = [], 0
    for p in range(parts):
        part = _parts.part(kept, pl.col(SUBJECT), p, parts)
        people = part.select([SUBJECT, *qi]).unique().collect(engine="streaming")
        people = people.with_columns(pl.col(SUBJECT).rank("dense").cast(pl.UInt32) + offset)
        offset += people.select(pl.col(SUBJECT).n_unique()).item()
        out.append(people)
    return pl.concat(out)


def _sizes(frame: pl.DataFrame, qi: Sequence[str]) -> pl.DataFrame:
    size = pl.col(SUBJECT).n_unique() if SUBJECT in frame.columns else pl.col("_w").sum()
    return frame.group_by(list(qi)).agg(size.cast(pl.Int64).alias(SIZE))


@dataclass(frozen=True)
class State:
    """Where a release stands at some levels (all tables together)."""

    k: int  # smallest class
    k_kept: int  # smallest class of at least the target (what remains after suppression)
    below: int  # records in classes smaller than the target
    deficit: int  # members missing from those classes: sum of (target - size)
    records: int


def evaluate(
    frame: pl.DataFrame, ladders: Mapping[str, Hierarchy], levels: Mapping[str, int], target_k: int
) -> State:
    sizes = _sizes(_generalised(frame, ladders, levels), list(ladders))
    return _state(sizes, target_k)


@dataclass(frozen=True)
class CodedTable:
    """A :func:`class_table` with each quasi-identifier held as an index into its distinct
    recorded values (the last of them null when a value is missing): at 30M people, six
    columns of dates and text took most of the search's 3 GB; the indexes take 4 bytes or
    fewer a value, and generalising a level touches only the distinct values."""

    codes: pl.DataFrame  # one index column per quasi-identifier, and SUBJECT or "_w"
    values: Mapping[str, pl.Series]
    #: On Spark: the codes stay there (cached, each person in one partition), and ``codes``
    #: is empty, for its schema; ``rows`` counts them.
    spread: Any = None
    rows: int = 0

    @property
    def height(self) -> int:
        return self.codes.height if self.spread is None else self.rows

    def release(self) -> None:
        """Let Spark drop the cached codes (nothing to do on one machine)."""
        if self.spread is not None:
            _spark.uncache(self.spread)


def coded_class_table(records: pl.LazyFrame | Records, qi: Sequence[str]) -> CodedTable:
    """:func:`class_table` of ``records``, coded (see :class:`CodedTable`); built a part of
    the people at a time, so neither the rows nor the text values are held at once. On
    Spark the codes are made in the executors and stay there (:attr:`CodedTable.spread`)."""
    if isinstance(records, Records):
        if records.on_spark:
            return _coded_on_spark(records, qi)
        assert records.local is not None
        records = records.local
    kept = records.filter(~all_missing(qi))
    with typed_copy(kept, qi) as copy:
        values = {
            c: copy.select(pl.col(c).unique().sort(nulls_last=True))
            .collect(engine="streaming")
            .to_series()
            for c in qi
        }
        index = [_index_of(pl.col(c), values[c]).alias(c) for c in qi]
        if SUBJECT not in copy.collect_schema():
            weighted = copy.group_by(list(qi)).agg(pl.len().alias("_w")).select(*index, "_w")
            return CodedTable(_narrowed(weighted.collect(engine="streaming"), qi), values)
        out, offset, parts = [], 0, parts_for(copy)
        person, check = pl.col(SUBJECT), pl.col("\x1fcheck")
        for p in range(parts):
            part = _parts.part(copy, person, p, parts)
            # People as 64-bit keys (core/_parts.id_key) and values as their indexes: the
            # distinct rows are numbers, not text (the class table at 30M: 48 s -> 38 s).
            keyed = part.select(
                _parts.id_key(person).alias(SUBJECT),
                _parts.id_check(person).alias("\x1fcheck"),
                *index,
            )
            # Sorted by key, a person's rows are together: collisions show (collided_sorted)
            # and people are numbered by counting key changes (a group-by and a dense rank
            # took 3 times as long at 10M rows).
            people = keyed.unique().sort(SUBJECT).collect(engine="streaming")
            clash = people.select(_parts.collided_sorted(person, check)).item()
            if clash:  # two people's keys collided: distinct rows of the ids themselves
                exact = part.select([SUBJECT, *qi]).unique().select(SUBJECT, *index)
                people = exact.collect(engine="streaming").with_columns(
                    person.rank("dense").cast(pl.UInt32)
                )
            else:
                new_person = (person != person.shift(1)).fill_null(True)
                people = people.with_columns(new_person.cast(pl.UInt32).cum_sum())
            people = people.select((person + offset).alias(SUBJECT), *qi)
            offset += people.select(pl.col(SUBJECT).n_unique()).item()
            out.append(_narrowed(people, qi))
    return CodedTable(pl.concat(out, how="vertical_relaxed"), values)


#: A coded class table on Spark of at most this many rows (distinct people and values, a
#: few bytes each: tens of MB) is searched on the driver; a larger one in Spark.
HELD_CODES_ROWS = 2_000_000


def _coded_on_spark(records: Records, qi: Sequence[str]) -> CodedTable:
    """:func:`coded_class_table` on Spark: the same codes, as a cached Spark frame of the
    distinct (person, codes), partitioned by person (or of the distinct codes with their
    records, ``_w``, without people)."""
    kept = records.where(~all_missing(qi))
    counted = kept.counts(qi)
    values = {c: counted[c].get_column(c).sort(nulls_last=True) for c in qi}
    people = [pl.col(SUBJECT)] if SUBJECT in records.schema else []
    index = [*people, *[_index_of(pl.col(c), values[c]).alias(c) for c in qi]]
    schema = pl.DataFrame(schema=records.schema).select(index).schema
    coded = _spark.map_batches(kept.spark, lambda f: f.select(index), schema)
    if people:
        distinct = _spark.distinct_rows(coded)
        spread = _spark.partitioned(distinct, lambda f: f[SUBJECT], schema, records.rows)
        empty = pl.DataFrame(schema=schema)
    else:
        spread = _spark.counted_groups(coded, qi, "_w")
        empty = pl.DataFrame(schema={**schema, "_w": pl.Int64()})
    spread = _spark.cached(spread)
    rows = _spark.rows(spread)
    if rows > HELD_CODES_ROWS:
        if not people:
            return CodedTable(empty, values, spread=spread, rows=rows)
        # People as numbers within their partition (a person is in one): each combination's
        # job then moves small integers, not text ids, and counts them exactly.
        numbered = empty.with_columns(pl.col(SUBJECT).cast(pl.UInt32))
        ranked = _spark.per_partition(
            spread,
            lambda f: f.with_columns(pl.col(SUBJECT).rank("dense").cast(pl.UInt32)),
            schema,
            numbered.schema,
        )
        held = _spark.cached(ranked)
        _spark.rows(held)  # computed and kept before the text ids are let go
        _spark.uncache(spread)
        return CodedTable(numbered, values, spread=held, rows=rows)
    # Few enough to search on the driver, as on one machine: a Spark job per combination
    # of levels costs a second or more, and the search tries hundreds on a small table.
    codes = _spark.collect(spread)
    _spark.uncache(spread)
    if people:
        codes = codes.with_columns(pl.col(SUBJECT).rank("dense").cast(pl.UInt32))
    return CodedTable(_narrowed(codes, qi), values)


def _index_of(value: pl.Expr, distinct: pl.Series) -> pl.Expr:
    """Each value's position in ``distinct`` (sorted, a missing value last if any)."""
    known = distinct.drop_nulls()
    return position_in(value, known, default=known.len() if distinct.null_count() else None)


def _narrowed(frame: pl.DataFrame, qi: Sequence[str]) -> pl.DataFrame:
    if frame.is_empty():
        return frame
    return frame.with_columns(_narrow(frame[c]) for c in qi)


class _Coded:
    """Evaluate combinations of levels on :class:`CodedTable` s: each (table, column, level)
    is generalised once on the distinct values, as a dense code per value, so evaluating a
    combination gathers small integers and sorts one packed key."""

    def __init__(self, tables: Sequence[CodedTable], ladders: Mapping[str, Hierarchy]) -> None:
        self.tables = tables
        self.ladders = ladders
        self.maps: dict[tuple[int, str, int], pl.Series] = {}
        # People as integers (class_table): distinct counts of numbers are several times faster.
        self.weights = [
            t.codes[SUBJECT] if SUBJECT in t.codes.columns else t.codes["_w"] for t in tables
        ]

    def level_map(self, i: int, c: str, level: int) -> pl.Series:
        """Per value index of column ``c`` of table ``i``, its code at ``level``: 1, 2, ...
        in the order of the generalised values, null where the level leaves no value."""
        key = (i, c, level)
        if key not in self.maps:
            values = self.tables[i].values[c]
            value = self.ladders[c].levels[level].apply(pl.col(c))  # may be one literal: "*"
            generalised = pl.DataFrame({c: values}).with_columns(value.alias("_g"))
            self.maps[key] = _narrow(generalised["_g"].rank("dense"))
        return self.maps[key]

    def column(self, i: int, c: str, level: int) -> pl.Series:
        """Column ``c`` of table ``i`` at ``level`` (see :meth:`level_map`)."""
        return self.level_map(i, c, level).gather(self.tables[i].codes[c])

    def evaluate(self, i: int, levels: Mapping[str, int], target_k: int) -> State:
        table = self.tables[i]
        own = [c for c in self.ladders if c in table.values]
        if table.spread is not None:
            return self._evaluate_on_spark(i, own, levels, target_k)
        weights = self.weights[i]
        # One integer key instead of several columns when the codes fit in 64 bits (ranks
        # start at 1; null codes become 0).
        codes = (self.column(i, c, levels[c]).fill_null(0) for c in own)
        packed = packed_key(codes, table.height)
        if packed is None:
            columns = [self.column(i, c, levels[c]).alias(c) for c in own]
            return _state(_sizes(pl.DataFrame([*columns, weights]), own), target_k)
        key = packed[0]
        if SUBJECT in table.codes.columns and table.height:
            # The person (a number from 1) in the low bits, when both fit in 64 bits.
            bits = max(1, int(cast(int, weights.max())).bit_length())
            if int(key.max()).bit_length() + bits <= 64:
                key <<= np.uint64(bits)
                key |= weights.to_numpy().astype(np.uint64)
                runs = people_per_class(key, bits)
                return _state(
                    pl.DataFrame({SIZE: runs.struct.field("len").cast(pl.Int64)}), target_k
                )
        coded = pl.DataFrame([pl.Series("_key", key), weights])
        return _state(_sizes(coded, ["_key"]), target_k)

    def _evaluate_on_spark(
        self, i: int, own: Sequence[str], levels: Mapping[str, int], target_k: int
    ) -> State:
        """:meth:`evaluate` where the codes are in Spark: each partition (whole people) is
        generalised and its classes sized as on one machine; Spark adds each class's sizes
        up over the partitions and counts the classes of each size."""
        table = self.tables[i]
        maps = {c: self.level_map(i, c, levels[c]) for c in own}

        def sizes(part: pl.DataFrame) -> pl.DataFrame:
            generalised = part.with_columns(maps[c].gather(part[c]).alias(c) for c in own)
            return _sizes(generalised, own)

        histogram = _spark.group_sizes(table.spread, sizes, table.codes.schema, own, SIZE)
        return _state(histogram, target_k)


def _narrow(codes: pl.Series) -> pl.Series:
    """Codes in the smallest unsigned type that holds them: the search keeps one series per
    column and level, and most levels have few values (sex, age bands, years)."""
    top = int(cast(int, codes.max()) or 0)
    return codes if top >= 2**32 else codes.cast(smallest_unsigned(top))


def _state(sizes: pl.DataFrame, target_k: int) -> State:
    """The state of classes of sizes ``SIZE``, one per row, or as many as ``groups`` says."""
    f = pl.col(SIZE)
    w = pl.col("groups") if "groups" in sizes.columns else pl.lit(1)
    small = f < target_k
    row = sizes.select(
        f.min().alias("k"),
        f.filter(f >= target_k).min().alias("k_kept"),
        (f * w).filter(small).sum().alias("below"),
        ((target_k - f) * w).filter(small).sum().alias("deficit"),
        (f * w).sum().alias("n"),
    ).row(0)
    return State(*(int(v or 0) for v in row))


def loss(ladders: Mapping[str, Hierarchy], levels: Mapping[str, int]) -> float:
    if not ladders:
        return 0.0
    return sum(levels[c] / h.height for c, h in ladders.items()) / len(ladders)


def search(
    tables: Sequence[CodedTable],
    ladders: Mapping[str, Hierarchy],
    target_k: int,
    max_suppression: float = 0.01,
) -> Plan:
    """Generalisation reaching ``target_k`` in every frame (tables released together).

    Each table is a :func:`coded_class_table` holding some of the ``ladders``' columns. Greedy
    ascent: raise the quasi-identifier whose next level removes the most missing class
    members (the deficit, which still moves when every class is unique) per unit of
    precision lost, until few enough records remain below k to suppress. Then a descent
    lowers any level the answer does not need. The recommendations list the final levels
    one column at a time, each with the k and loss it leaves.
    """
    cache: dict[tuple[int, ...], State] = {}
    names = list(ladders)
    coded = _Coded(tables, ladders)

    def state(lv: Mapping[str, int]) -> State:
        key = tuple(lv[c] for c in names)
        if key not in cache:
            parts = [coded.evaluate(i, lv, target_k) for i in range(len(tables))]
            cache[key] = State(
                k=min((p.k for p in parts), default=0),
                k_kept=min((p.k_kept for p in parts), default=0),
                below=sum(p.below for p in parts),
                deficit=sum(p.deficit for p in parts),
                records=sum(p.records for p in parts),
            )
        return cache[key]

    levels = {c: 0 for c in names}
    now = state(levels)
    n = now.records

    def done(st: State) -> bool:
        return st.below <= max_suppression * n

    while n and not done(now):
        best = None
        for c, h in ladders.items():
            if levels[c] >= h.height:
                continue
            trial = {**levels, c: levels[c] + 1}
            st = state(trial)
            cost = 1 / h.height
            rank = ((now.deficit - st.deficit) / cost, -st.below, -cost)
            if best is None or rank > best[0]:
                best = (rank, trial, st)
        if best is None:
            break
        _, levels, now = best
    reached = done(now) if n else True
    if reached:
        # Descent: undo any step the target does not need, dearest first.
        improved = True
        while improved:
            improved = False
            for c in sorted(names, key=lambda c: -1 / ladders[c].height):
                if levels[c] == 0:
                    continue
                trial = {**levels, c: levels[c] - 1}
                if done(state(trial)):
                    levels, now, improved = trial, state(trial), True
    if reached:
        levels = _lowest_loss(levels, ladders, state, done, _budget(tables))
        now = state(levels)
    steps = _steps(levels, ladders, state, n)
    return Plan(
        target_k=target_k,
        levels=dict(levels),
        keys={c: ladders[c].levels[levels[c]].key for c in ladders},
        steps=steps,
        k=now.k_kept if now.below and reached else now.k,
        suppressed=now.below if reached else 0,
        records=n,
        information_loss=loss(ladders, levels),
        reached=reached,
    )


#: Lattices larger than this are not enumerated; the greedy answer stands.
_LATTICE_LIMIT = 50_000


def _budget(tables: Sequence[CodedTable]) -> int:
    """How many more levels to evaluate: about 3 million class-table rows' worth."""
    rows = sum(t.height for t in tables) or 1
    return max(20, min(400, 3_000_000 // rows))


def _lowest_loss(
    found: dict[str, int],
    ladders: Mapping[str, Hierarchy],
    state: Callable[[Mapping[str, int]], State],
    done: Callable[[State], bool],
    budget: int,
) -> dict[str, int]:
    """Look for a feasible combination losing less than ``found``, cheapest first.

    Generalising never makes a class smaller, so any combination at or below (level by
    level) a combination that fails also fails and is skipped without evaluating it.
    """
    names = list(ladders)
    size = 1
    for h in ladders.values():
        size *= h.height + 1
    if size > _LATTICE_LIMIT:
        return found
    bound = loss(ladders, found)
    nodes = [
        combo
        for combo in itertools.product(*[range(ladders[c].height + 1) for c in names])
        if loss(ladders, dict(zip(names, combo, strict=True))) < bound - 1e-12
    ]
    nodes.sort(key=lambda combo: (loss(ladders, dict(zip(names, combo, strict=True))), combo))
    failed: list[tuple[int, ...]] = []
    for combo in nodes:
        if any(all(a <= b for a, b in zip(combo, f, strict=True)) for f in failed):
            continue
        if budget <= 0:
            break
        budget -= 1
        lv = dict(zip(names, combo, strict=True))
        if done(state(lv)):
            return lv
        failed.append(combo)
    return found


def _steps(
    final: Mapping[str, int],
    ladders: Mapping[str, Hierarchy],
    state: Callable[[Mapping[str, int]], State],
    n: int,
) -> tuple[Step, ...]:
    """The final levels as steps, the most effective first, each with where it leaves us."""
    levels = {c: 0 for c in ladders}
    todo = [c for c in ladders if final[c] > 0]
    steps = []
    while todo:
        scored = [(state({**levels, c: final[c]}), c) for c in todo]
        st, c = min(scored, key=lambda x: (x[0].below, x[0].deficit, x[1]))
        levels[c] = final[c]
        todo.remove(c)
        key = ladders[c].levels[final[c]].key
        steps.append(
            Step(c, key, st.k, st.below, st.below / n if n else 0.0, loss(ladders, levels))
        )
    return tuple(steps)
