"""Records an analysis reads as a whole, on one machine or on Spark alike.

Privacy counts equivalence classes (people sharing every quasi-identifier) over all of a
release's records, not per patient (see :mod:`._by_patient` for that). The analysis states
the records it reads, as :class:`Rows` of a table, or :class:`Joined` to the first record of
each patient in another table (the patient table's sex and birth year inherited by every
diagnosis), gets them as :class:`Records` from :func:`records`, and reduces parts that share
no key (:meth:`Records.by_key`, each class in one part) with polars:

- on one machine the records are typed once into a private Parquet copy and a part is a
  hash filter of it (memory follows a part);
- on Spark they are typed in the executors, joined and cached by Spark, and a part is a
  partition after a shuffle by the key: only each part's small table reaches the driver.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from medvalue.core import _parts
from medvalue.read import _spark
from medvalue.read._by_patient import Input, stacked, typed_on_spark
from medvalue.read._dataset import Dataset
from medvalue.read._rows import ROW, Rows


@dataclass(frozen=True)
class Joined:
    """The records ``own`` with the columns of ``inherited`` of the first record (in table
    order) sharing their ``on`` column; nulls where there is none."""

    own: Rows
    inherited: Rows
    on: str


#: The column :meth:`Records.at_ranks` reads ranks from.
RANK = "\x1frank"
#: Records ranked at a time on one machine (:meth:`Records.at_ranks`).
RANK_PART_ROWS = 2_000_000
_PART = "\x1fpart"
_OFFSET = "\x1foffset"


@dataclass(frozen=True)
class Moments:
    """Exact statistics of a numeric column's non-null values (population ``std``)."""

    n: int
    total: float
    mean: float | None
    std: float | None
    median: float | None


@dataclass(frozen=True)
class Records:
    """Records of ``schema``, ``rows`` of them (about, once filtered): a lazy frame on one
    machine (``local``) or a Spark frame (``spark``)."""

    schema: pl.Schema
    rows: int
    local: pl.LazyFrame | None = None
    spark: Any = None

    @classmethod
    def of(cls, frame: pl.LazyFrame) -> Records:
        """``frame`` as records on one machine."""
        rows = int(frame.select(pl.len()).collect(engine="streaming").item())
        return cls(frame.collect_schema(), rows, local=frame)

    @property
    def on_spark(self) -> bool:
        return self.spark is not None

    def by_key(
        self,
        key: pl.Expr,
        fn: Callable[[pl.LazyFrame], pl.DataFrame],
        part_rows: int,
        parts: int | None = None,
    ) -> pl.DataFrame:
        """``fn`` run on each part of the records, split so that records of equal ``key``
        share a part (of about ``part_rows`` records on one machine, unless ``parts`` says
        how many), the parts' small tables stacked."""
        if self.spark is not None:
            empty = pl.DataFrame(schema=self.schema)
            return _spark.per_key(
                self.spark, lambda f: f.select(key.hash(seed=0)).to_series(),
                lambda f: fn(f.lazy()), empty, rows=self.rows,
            )  # fmt: skip
        assert self.local is not None
        n = parts or _parts.parts_of(self.rows, part_rows)
        tables = [fn(_parts.part(self.local, key, p, n)) for p in range(n)]
        return pl.concat(tables, how="vertical_relaxed")

    def select(self, columns: Sequence[str]) -> Records:
        """Only the records' ``columns`` (a columnar table then reads only those)."""
        schema = pl.Schema({c: self.schema[c] for c in columns})
        if self.spark is not None:
            return Records(schema, self.rows, spark=_spark.project(self.spark, columns))
        assert self.local is not None
        return Records(schema, self.rows, local=self.local.select(columns))

    def where(self, keep: pl.Expr) -> Records:
        """The records where ``keep`` holds (``rows`` stays the count before)."""
        if self.spark is not None:
            picked = _spark.map_batches(self.spark, lambda f: f.filter(keep), self.schema)
            return Records(self.schema, self.rows, spark=picked)
        assert self.local is not None
        return Records(self.schema, self.rows, local=self.local.filter(keep))

    def reduce(
        self, fn: Callable[[pl.LazyFrame], pl.LazyFrame], merge: Callable[[str], str]
    ) -> dict[str, Any]:
        """One row of aggregates: ``fn`` (records -> one row) over the records; on Spark over
        each batch, the batches' rows combined per column by ``merge(column)`` (sum, min or
        max: ``fn``'s aggregates must combine so)."""
        if self.spark is not None:
            empty = pl.DataFrame(schema=self.schema)
            return _spark.reduce_batches(self.spark, lambda f: fn(f.lazy()).collect(), empty, merge)
        assert self.local is not None
        return fn(self.local).collect(engine="streaming").row(0, named=True)

    def moments(self, column: str) -> Moments:
        """Exact statistics of the numeric ``column``'s non-null values."""
        if self.spark is not None:
            return Moments(**_spark.moments(self.spark, column))
        assert self.local is not None
        c = pl.col(column).cast(pl.Float64)
        row = (
            self.local.select(
                c.count().alias("n"), c.sum().alias("total"), c.mean().alias("mean"),
                c.std(ddof=0).alias("std"), c.median().alias("median"),
            ).collect(engine="streaming").row(0, named=True)
        )  # fmt: skip
        return Moments(**row)

    def counts_upto(self, columns: Sequence[str], cap: int) -> dict[str, pl.DataFrame | None]:
        """Each of ``columns``: its distinct values with their records (as :meth:`counts`),
        or None when it has more than ``cap`` (on Spark, in one pass for many columns, and
        a column of more values never leaves Spark)."""
        if self.spark is not None:
            return _spark.value_counts_upto(self.spark, columns, cap, "count")
        held = {}
        for c in columns:  # one at a time: each column's counts are at most ``cap`` rows
            counted = self.counts([c])[c]
            held[c] = None if counted.height > cap else counted
        return held

    def at_ranks(
        self, order: str, within: str | None, ranks: pl.DataFrame, part_rows: int = RANK_PART_ROWS
    ) -> pl.DataFrame:
        """The records whose rank (from 0, by ``order``: the records' table order) among the
        records of equal ``within`` (all records: None) is listed in ``ranks`` (columns
        ``within`` and :data:`RANK`), sorted by ``order``: a sample drawn from counts.

        The records are ranked a part at a time (on Spark a partition, on one machine
        ``part_rows`` records), each part's ranks starting where the earlier parts' records
        of each group end; only the ranked-and-picked records reach the driver."""
        group = [within] if within else []
        # Spark's row id holds the partition index above bit 33 (monotonically_increasing_id).
        part = pl.col(order) // (2**33 if self.spark is not None else part_rows)
        sizes = self.grouped([part.alias(_PART), *[pl.col(g) for g in group]])
        before = pl.col("count").cum_sum() - pl.col("count")
        offsets = sizes.sort(_PART).with_columns(
            (before.over(group) if group else before).alias(_OFFSET)
        )
        wanted = ranks.select(*group, pl.col(RANK).cast(pl.Int64))
        keys = [_PART, *group]
        names = list(self.schema)  # the closure runs in Spark's executors: no frame in it

        def pick(frame: pl.DataFrame) -> pl.DataFrame:
            ordered = frame.with_columns(part.alias(_PART)).sort(order)
            here = ordered.group_by(keys).len().join(offsets, on=keys, how="left")
            if not (here["len"] == here["count"]).all():  # a part split: its ranks would be wrong
                msg = "a part of the records was read in pieces: ranks undefined"
                raise RuntimeError(msg)
            ranked = ordered.join(offsets.select(*keys, _OFFSET), on=keys, how="left").with_columns(
                (pl.col(_OFFSET) + pl.int_range(pl.len()).over(keys)).alias(RANK)
            )
            return ranked.join(wanted, on=[*group, RANK], how="semi").select(names)

        if self.spark is not None:
            spread = _spark.per_partition(self.spark, pick, self.schema, self.schema)
            return _spark.collect(spread).sort(order)
        assert self.local is not None
        picked = [pl.DataFrame(schema=self.schema)]
        for p in sorted(set(sizes[_PART].to_list())):
            first = p * part_rows  # a range of the copy's order: Parquet statistics skip the rest
            records = self.local.filter(pl.col(order).is_between(first, first + part_rows - 1))
            picked.append(pick(records.collect()))
        return pl.concat(picked, how="vertical_relaxed").sort(order)

    def grouped(self, keys: Sequence[pl.Expr]) -> pl.DataFrame:
        """Each distinct combination of the named expressions ``keys`` with its records, as
        ``count`` (Int64)."""
        names = [k.meta.output_name() for k in keys]
        if self.spark is not None:
            schema = pl.LazyFrame(schema=self.schema).select(keys).collect_schema()
            keyed = _spark.map_batches(self.spark, lambda f: f.select(keys), schema)
            counted = _spark.collect(_spark.counted_groups(keyed, names, "count"))
            return counted.with_columns(pl.col("count").cast(pl.Int64))
        assert self.local is not None
        return (
            self.local.group_by(keys)
            .agg(pl.len().cast(pl.Int64).alias("count"))
            .collect(engine="streaming")
        )

    def collect(self) -> pl.DataFrame:
        """Every record (few of them: a sample)."""
        if self.spark is not None:
            return _spark.collect(self.spark)
        assert self.local is not None
        return self.local.collect()

    def counts(self, columns: Sequence[str]) -> dict[str, pl.DataFrame]:
        """Each of ``columns``: its distinct values (null as one) with their records, as
        ``count``."""
        if self.spark is not None:
            return _spark.value_counts(self.spark, columns, "count")
        assert self.local is not None
        return {
            c: self.local.group_by(c).agg(pl.len().alias("count")).collect(engine="streaming")
            for c in columns
        }


def schema_of(ds: Dataset, rows: Rows) -> pl.Schema:
    """The types of ``rows``' columns (read off the typed table's schema)."""
    typed = {**ds.typed_schema(rows.table), ROW: pl.Int64()}
    return pl.LazyFrame(schema=typed).select(rows.columns).collect_schema()


def raw_view(ds: Dataset, table: str) -> Records:
    """Table ``table``'s rows as read (before typing), read afresh by each use: for
    aggregations that type a column's distinct values once; ``rows`` is not counted (0)."""
    schema = ds.raw.table(table).frame.collect_schema()
    if ds.on_spark:
        return Records(schema, 0, spark=ds.spark_frame(table))
    return Records(schema, 0, local=ds.raw_frame(table))


def view(ds: Dataset, given: Rows) -> Records:
    """The records ``given`` states, read afresh by each use (typed each time): for a use
    or two, such as counting values; ``rows`` is not counted (0)."""
    schema = schema_of(ds, given)
    if ds.on_spark:
        return Records(schema, 0, spark=_spark.without_row_ids(typed_on_spark(ds, given, schema)))
    return Records(schema, 0, local=_local(ds, given, [schema]))


@contextlib.contextmanager
def records(ds: Dataset, given: Rows | Joined) -> Iterator[Records]:
    """The records ``given`` states, typed once: into a private Parquet copy on one machine
    (removed on exit), in Spark's cache on Spark (released on exit)."""
    pieces = [given.own, given.inherited] if isinstance(given, Joined) else [given]
    schemas = [schema_of(ds, piece) for piece in pieces]  # own first, then inherited
    if ds.on_spark:
        sdf = _spark.cached(_on_spark(ds, given, schemas))
        schema = {c: t for s in schemas for c, t in s.items()}  # ``on`` is in both: one
        try:
            yield Records(pl.Schema(schema), _spark.rows(sdf), spark=sdf)
        finally:
            _spark.uncache(sdf)
        return
    with _parts.private_copy(_local(ds, given, schemas)) as copy:
        yield Records.of(copy)


def _local(ds: Dataset, given: Rows | Joined, schemas: Sequence[pl.Schema]) -> pl.LazyFrame:
    if isinstance(given, Rows):
        return stacked(ds, Input((given,), schemas[0]))
    own = stacked(ds, Input((given.own,), schemas[0]))
    firsts = stacked(ds, Input((given.inherited,), schemas[1])).unique(
        subset=[given.on], keep="first", maintain_order=True
    )
    return own.join(firsts, on=given.on, how="left", maintain_order="left")


def _on_spark(ds: Dataset, given: Rows | Joined, schemas: Sequence[pl.Schema]) -> Any:
    if isinstance(given, Rows):
        return _spark.without_row_ids(typed_on_spark(ds, given, schemas[0]))
    own = _spark.without_row_ids(typed_on_spark(ds, given.own, schemas[0]))
    inherited = typed_on_spark(ds, given.inherited, schemas[1])
    return _spark.left_join(own, _spark.first_per_key(inherited, given.on), given.on)
