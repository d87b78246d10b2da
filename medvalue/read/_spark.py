"""Apache Spark as a source: tables that stay where they live, with aggregates reaching the driver.

This is the only module that imports pyspark (an optional extra: ``pip install
'medvalue[spark]'`` and a Java 17+ runtime). A Spark source is ``spark:`` followed by a table
(``spark:db.table``), a database (``spark:db``: each of its tables), or a path Spark reads
(``spark:/data/export``: a folder of Parquet/ORC/CSV tables, a folder Spark wrote, a file).
From Python, a Spark DataFrame or a mapping of names to DataFrames works too.

The analyses stay written once, as polars expressions. Spark runs them where the rows are:

- :func:`map_batches` runs a polars function on each Arrow batch inside the executors (the
  typing of hospital values, the row checks): the same code as on one machine, so the same
  values;
- :func:`reduce_batches` sums (or takes the min/max of) per-batch polars aggregates;
- :func:`per_key` shuffles rows so that each key (a patient) is in one partition and runs a
  polars reduction per partition, returning its small table; :func:`co_partition` does so
  for several inputs at once (a patient's diagnoses, demographics and labels meet in one
  partition), keeping the shuffle for more than one reduction; :func:`group_sizes` lets
  Spark add up the group sizes each partition found (the privacy search's classes);
- the rest is Spark's own aggregation (value counts, distinct counts, approximate quantiles,
  anti-joins), of which only the results are collected.

Nothing here knows what a patient or a check is: the analyses pass their expressions in.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl

from medvalue.core._config import PACKAGE_DATA
from medvalue.core._errors import InputError, MedvalueError
from medvalue.read._rows import ROW
from medvalue.read._tables import SUPPORTED_SUFFIXES, RawData, Table

PREFIX = "spark:"
#: Rows read to the driver to infer roles and plan types: as many as a file's head.
SAMPLE_ROWS = 10_000
#: percentile_approx's accuracy: a quantile's rank is within rows / accuracy of the exact
#: one, give or take :data:`QUANTILE_RANK_SLACK` positions: Spark takes the lower of two
#: middle values where polars' nearest rank rounds up, and its sketch's bound is not tight
#: on ties (measured: two positions on 6,348 dates with many ties).
QUANTILE_ACCURACY = 10_000
QUANTILE_RANK_SLACK = 2
INSTALL = "pip install 'medvalue[spark]' (pyspark) and a Java 17+ runtime (Debian: openjdk-17-jre-headless)"

#: What runs on Spark tables, as the refusal of anything else says.
RUNS_ON_SPARK = "profile, coverage, privacy, readiness, price, report and refine"

Frame = Any  # a pyspark.sql.DataFrame; pyspark is optional, so not imported for typing


class EngineError(MedvalueError):
    """Raised when Spark is asked for and cannot be used, or a command does not run on it."""

    code = "engine"


def refusal(path: str, command: str) -> EngineError:
    """The one-line error for ``command`` asked to run on Spark tables it has no path for."""
    msg = (
        f"{path}: {command} does not run on Spark tables yet ({RUNS_ON_SPARK} do). Fix: "
        f"run those on Spark, or export the tables to Parquet and run {command} on the files"
    )
    return EngineError(msg, path=path, fix="export to Parquet")


def is_spark_source(source: object) -> bool:
    """A ``spark:`` string, a Spark DataFrame or a non-empty mapping of names to them."""
    if isinstance(source, str):
        return source.startswith(PREFIX)
    if isinstance(source, Mapping):
        return bool(source) and all(_is_frame(v) for v in source.values())
    return _is_frame(source)


def _is_frame(obj: object) -> bool:
    return type(obj).__module__.startswith("pyspark.sql") and hasattr(obj, "mapInArrow")


def session() -> Any:
    """The active Spark session, or a local one (``MEDVALUE_SPARK_MASTER``, default
    ``local[*]``) set up for medvalue: UTC, timestamps without zone, no web UI."""
    # pyspark warns on import that it is not tested with pandas 3; medvalue passes Arrow.
    warnings.filterwarnings("ignore", "PySpark does not yet fully support", FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        msg = f"Spark was asked for but pyspark is not installed. Fix: {INSTALL}"
        raise EngineError(msg, fix=INSTALL) from None
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = os.environ.get("MEDVALUE_SPARK_MASTER", "local[*]")
    if master.startswith("local"):
        # Executors run our polars code: locally they must use this Python; and a local
        # session binds to this machine whatever its hostname resolves to.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    quiet = f"-Dlog4j2.configurationFile={PACKAGE_DATA / 'log4j2-spark.properties'}"
    builder = (
        SparkSession.builder.master(master)
        .config("spark.driver.extraJavaOptions", quiet)
        .appName("medvalue")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", os.environ.get("MEDVALUE_SPARK_PARTITIONS", "8"))
    )
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Java missing or failing to start: say so in one line
        msg = f"Spark could not start ({type(exc).__name__}). Fix: {INSTALL}"
        raise EngineError(msg, fix=INSTALL) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def read_spark(source: object) -> RawData:
    """The tables of a Spark source as raw tables: each holds its Spark DataFrame and, as its
    polars frame, its first :data:`SAMPLE_ROWS` rows (roles and types are inferred from them,
    as from a file's head)."""
    shown = source if isinstance(source, str) else "spark DataFrame"
    if isinstance(source, str) and not source[len(PREFIX) :].strip():
        raise InputError.at(
            source, "no table named", "give spark:db.table, spark:db or spark:/path"
        )
    try:
        frames = _frames(source)
        tables = tuple(_table(name, sdf, str(shown)) for name, sdf in frames.items())
    except MedvalueError:
        raise
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        # Spark's own message (a parse error, a missing file, a corrupt table): first line.
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError.at(str(shown), f"Spark could not read it ({reason})",
                            "give spark:db.table, spark:db or a folder Spark can read") from None  # fmt: skip
    return RawData(str(shown), "spark", tables)


def _frames(source: object) -> dict[str, Frame]:
    if isinstance(source, Mapping):
        return {str(k): v for k, v in source.items()}
    if not isinstance(source, str):
        return {"table": source}
    ref = source[len(PREFIX) :]
    p = Path(ref)
    if p.exists():
        return _path_frames(session(), p, source)
    if "/" in ref or "\\" in ref:
        raise InputError.at(source, "no such file or folder", "check the path and spelling")
    spark = session()
    catalog = spark.catalog
    if "." in ref and catalog.tableExists(ref):
        return {ref.rsplit(".", 1)[1]: spark.table(ref)}
    if catalog.databaseExists(ref):
        names = [t.name for t in catalog.listTables(ref)]
        if not names:
            raise InputError.at(source, "the database has no tables", "name a database with tables")
        return {n: spark.table(f"{ref}.{n}") for n in sorted(names)}
    if catalog.tableExists(ref):
        return {ref: spark.table(ref)}
    raise InputError.at(
        source,
        "no such table, database or path",
        "give spark:db.table, spark:db or spark:/path/to/folder",
    )


_SPARK_FORMATS = {".parquet": "parquet", ".orc": "orc", ".csv": "csv", ".tsv": "csv", ".txt": "csv"}


def _path_frames(spark: Any, p: Path, shown: str) -> dict[str, Frame]:
    """A file, a folder Spark wrote (part files), or a folder of such tables."""
    if p.is_file() or _format_of(p):
        return {p.stem: _read_path(spark, p, shown)}
    children = sorted(c for c in p.iterdir() if not c.name.startswith((".", "_")))
    tables = {c.stem: _read_path(spark, c, shown) for c in children if _format_of(c)}
    if not tables:
        raise InputError.at(shown, "no Parquet, ORC or CSV table in the folder",
                            "give a folder of .parquet/.orc/.csv files or folders")  # fmt: skip
    return tables


def _format_of(p: Path) -> str | None:
    if p.is_file():
        return _SPARK_FORMATS.get(p.suffix.lower())
    if p.is_dir():  # a folder Spark (or Hive) wrote: part files of one format
        parts = [f for f in p.iterdir() if f.is_file() and f.name.startswith("part-")]
        found = {_SPARK_FORMATS.get(f.suffix.lower()) for f in parts}
        found.discard(None)
        return found.pop() if len(found) == 1 else None
    return None


def _read_path(spark: Any, p: Path, shown: str) -> Frame:
    fmt = _format_of(p)
    if fmt is None:
        supported = ", ".join(sorted(set(SUPPORTED_SUFFIXES) & set(_SPARK_FORMATS)))
        raise InputError.at(shown, f"Spark cannot read {p.name}", f"use {supported}")
    reader = spark.read
    if fmt == "csv":  # text stays text, as medvalue reads CSV: typing is a plan
        sep = "\t" if p.suffix.lower() == ".tsv" else ","
        reader = reader.option("header", True).option("sep", sep).option("encoding", "UTF-8")
    return reader.format(fmt).load(str(p))


def _table(name: str, sdf: Frame, shown: str) -> Table:
    # Each table its own source ("file#table" would mean tables sharing one file's bytes).
    sample = head(sdf, SAMPLE_ROWS)
    return Table(
        name, f"{shown}/{name}", "spark", sample.lazy(), bytes_on_disk=_bytes(sdf), spark=sdf
    )


def _bytes(sdf: Frame) -> int:
    """Bytes of the table's files where they are on this machine's disk (else 0: unknown)."""
    return sum(os.path.getsize(f) for f in local_files(sdf))


def local_files(sdf: Frame) -> list[str]:
    """The files the frame reads that are on this machine's disk."""
    found = []
    for uri in sdf.inputFiles():
        parsed = urlparse(uri)
        local = unquote(parsed.path) if parsed.scheme in ("file", "") else None
        if local and os.path.isfile(local):
            found.append(local)
    return found


def _plain_parts(folder: Path) -> None:
    """Spark's part files renamed ``part-00000.parquet`` ... in their order (their names hold
    a random job id: the same data would differ by name each run), without the checksum and
    marker files of Hadoop's local file system."""
    for extra in [*folder.glob(".*.crc"), folder / "_SUCCESS"]:
        extra.unlink(missing_ok=True)
    for i, part in enumerate(sorted(folder.glob("part-*.parquet"))):
        part.rename(folder / f"part-{i:05d}.parquet")


def write_parquet(sdf: Frame, target: Path) -> None:
    """``sdf`` as a folder of Parquet part files at ``target``, written by the executors to a
    folder beside it that is then renamed into place: ``target`` is never half written."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        sdf.write.mode("overwrite").parquet(str(tmp))
        _plain_parts(tmp)
        if target.exists():
            target.rename(old)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


# -- moving data between Spark and polars ------------------------------------------------------


def collect(sdf: Frame) -> pl.DataFrame:
    """A (small) Spark result as a polars frame, datetimes without zone (UTC)."""
    frame = pl.from_arrow(sdf.toArrow())
    assert isinstance(frame, pl.DataFrame)
    return _normalised(frame)


def head(sdf: Frame, rows: int) -> pl.DataFrame:
    """The first ``rows`` rows, in the order Spark reads the table."""
    return collect(sdf.limit(rows))


def _normalised(frame: pl.DataFrame) -> pl.DataFrame:
    """Spark's values as medvalue reads them, alike on the driver and in the executors:
    datetimes without zone (UTC) and decimals as floats (as the sample that planned them)."""
    zoned = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    decimals = [c for c, t in frame.schema.items() if isinstance(t, pl.Decimal)]
    if not zoned and not decimals:
        return frame
    return frame.with_columns(
        *[pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None) for c in zoned],
        *[pl.col(c).cast(pl.Float64) for c in decimals],
    )


def _arrow_type(dtype: pl.DataType) -> Any:
    import pyarrow as pa

    if dtype == pl.Boolean:
        return pa.bool_()
    if dtype.is_integer():
        return pa.int64()
    if dtype.is_float() or isinstance(dtype, pl.Decimal):
        return pa.float64()
    if isinstance(dtype, pl.Datetime):
        return pa.timestamp("us")
    if dtype == pl.Date:
        return pa.date32()
    if dtype == pl.Null:
        return pa.string()
    return pa.string()


def _arrow_schema(schema: Mapping[str, pl.DataType]) -> Any:
    import pyarrow as pa

    return pa.schema([(c, _arrow_type(t)) for c, t in schema.items()])


def _spark_schema(arrow_schema: Any) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(arrow_schema)


def _batches_to_polars(batches: Iterator[Any]) -> Iterator[pl.DataFrame]:
    for batch in batches:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield _normalised(frame)


def _to_batches(frame: pl.DataFrame, arrow_schema: Any) -> Iterator[Any]:
    import pyarrow as pa

    cols = [
        pa.array(frame.get_column(f.name).to_arrow(), type=None).cast(f.type) for f in arrow_schema
    ]
    table = pa.Table.from_arrays(cols, schema=arrow_schema)
    yield from table.to_batches()


def map_batches(
    sdf: Frame,
    fn: Callable[[pl.DataFrame], pl.DataFrame],
    schema: Mapping[str, pl.DataType],
    columns: Sequence[str] | None = None,
) -> Frame:
    """``fn`` (raw rows of ``columns``, default all -> rows of ``schema``) run on every
    Arrow batch in the executors."""
    arrow_schema = _arrow_schema(schema)
    if columns is not None:
        sdf = project(sdf, columns)

    def run(frames: Iterator[pl.DataFrame]) -> Iterator[Any]:
        for frame in frames:
            yield from _to_batches(fn(frame), arrow_schema)

    return _map_in_arrow(sdf, run, arrow_schema)


def _map_in_arrow(
    sdf: Frame, run: Callable[[Iterator[pl.DataFrame]], Iterator[Any]], arrow_schema: Any
) -> Frame:
    """Spark's mapInArrow with ``run`` given each batch as a polars frame under the table's
    own column names. The columns cross under positional names: mapInArrow resolves a name
    such as ``birth.dt`` as a field of a struct and fails."""
    names = list(sdf.columns)
    positional = [f"c{i}" for i in range(len(names))]

    def frames(batches: Iterator[Any]) -> Iterator[Any]:
        renamed = (
            f.rename(dict(zip(positional, names, strict=True))) for f in _batches_to_polars(batches)
        )
        yield from run(renamed)

    return sdf.toDF(*positional).mapInArrow(frames, _spark_schema(arrow_schema))


def output_schema(fn: Callable[[pl.DataFrame], pl.DataFrame], sample: pl.DataFrame) -> pl.Schema:
    """The schema ``fn`` gives, read off its result on a few sampled rows."""
    return fn(sample.head(1)).schema


#: How per-batch aggregates combine.
MERGES = ("sum", "min", "max")


def reduce_batches(
    sdf: Frame,
    fn: Callable[[pl.DataFrame], pl.DataFrame],
    sample: pl.DataFrame,
    merge: Callable[[str], str],
    columns: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One row: ``fn`` (rows -> one row of aggregates) on every batch of ``columns`` (default
    all), the batches' rows combined per column by ``merge(column)`` (one of :data:`MERGES`)."""
    from pyspark.sql import functions as F

    if columns is not None:
        sdf, sample = project(sdf, columns), sample.select(columns)
    schema = output_schema(fn, sample)
    mapped = map_batches(sdf, fn, schema)
    how = {"sum": F.sum, "min": F.min, "max": F.max}
    aggregated = collect(mapped.agg(*[how[merge(c)](_col(c)).alias(c) for c in schema]))
    row = aggregated.row(0, named=True)
    out = {}
    for c, v in row.items():
        if v is None and merge(c) == "sum":  # no batch at all (an empty table): as polars sums
            v = 0
        out[c] = int(v) if v is not None and schema[c].is_integer() else v
    return out


#: Rows a partition of :func:`per_key` holds at most, about (each is one polars frame).
PARTITION_ROWS = 2_000_000


def per_key(
    sdf: Frame,
    key: Callable[[pl.DataFrame], pl.Series],
    fn: Callable[[pl.DataFrame], pl.DataFrame],
    sample: pl.DataFrame,
    columns: Sequence[str] | None = None,
    rows: int = 0,
) -> pl.DataFrame:
    """``fn`` run on the rows (of ``columns``, default all) of each shuffle partition, after
    the table's ``rows`` were partitioned so that rows of equal ``key`` (computed by polars
    in the executors) share a partition, at most about :data:`PARTITION_ROWS` to one; the
    partitions' results stacked. ``fn`` must give a small table (one row per group of a
    statistic, not per key): that is what reaches the driver."""
    if columns is not None:
        sdf, sample = project(sdf, columns), sample.select(columns)
    shuffled = partitioned(sdf, key, sample.schema, rows)
    return collect(per_partition(shuffled, fn, sample.schema, output_schema(fn, sample)))


def partitioned(
    sdf: Frame, key: Callable[[pl.DataFrame], pl.Series], schema: Mapping[str, pl.DataType],
    rows: int,
) -> Frame:  # fmt: skip
    """``sdf`` (columns of ``schema``) shuffled so that rows of equal ``key`` (computed by
    polars in the executors) share a partition, of at most about :data:`PARTITION_ROWS` of
    its ``rows``."""
    key_name = "\x1fkey"
    with_key = {**schema, key_name: pl.String()}
    keyed = map_batches(
        sdf,
        lambda f: f.with_columns(key(f).cast(pl.String).alias(key_name)).select(list(with_key)),
        with_key,
    )
    # Each partition is held whole by one Python worker: more of them for more rows.
    parts = max(int(keyed.sparkSession.conf.get("spark.sql.shuffle.partitions")),
                -(-rows // PARTITION_ROWS))  # fmt: skip
    return keyed.repartition(parts, _col(key_name)).drop(key_name)


def per_partition(
    sdf: Frame,
    fn: Callable[[pl.DataFrame], pl.DataFrame],
    schema: Mapping[str, pl.DataType],
    out_schema: Mapping[str, pl.DataType],
) -> Frame:
    """``fn`` run on all rows of each partition of ``sdf`` at once (as one polars frame of
    ``schema``), giving rows of ``out_schema``: a Spark frame, not collected."""
    arrow_out = _arrow_schema(out_schema)

    def run(batches: Iterator[pl.DataFrame]) -> Iterator[Any]:
        frames = list(batches)
        if not frames:
            return
        rows = pl.concat(frames, how="vertical_relaxed")
        yield from _to_batches(fn(rows.cast(pl.Schema(schema), strict=False)), arrow_out)

    return _map_in_arrow(sdf, run, arrow_out)


def group_sizes(
    sdf: Frame,
    fn: Callable[[pl.DataFrame], pl.DataFrame],
    schema: Mapping[str, pl.DataType],
    keys: Sequence[str],
    size: str,
) -> pl.DataFrame:
    """How many groups have each size. ``fn`` gives, from all rows of a partition of ``sdf``
    (see :func:`per_partition`), one row per group there: its ``keys`` and its ``size``
    there; Spark adds a group's sizes up over the partitions. Returns ``size`` and
    ``groups`` (how many groups have that size): a few hundred rows whatever the data."""
    from pyspark.sql import functions as F

    sample = fn(pl.DataFrame(schema=dict(schema)))
    mapped = per_partition(sdf, fn, schema, sample.schema)
    totals = mapped.groupBy(*[_col(k) for k in keys]).agg(F.sum(_col(size)).alias("\x1fsize"))
    counted = totals.groupBy("\x1fsize").agg(F.count(F.lit(1)).alias("groups"))
    return collect(counted).rename({"\x1fsize": size})


def first_per_key(sdf: Frame, key: str) -> Frame:
    """Of the rows sharing ``key``, the first (lowest :data:`ROW`), without ``ROW``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    first = F.row_number().over(Window.partitionBy(_col(key)).orderBy(_col(ROW)))
    return sdf.withColumn("\x1ffirst", first).where(F.col("\x1ffirst") == 1).drop("\x1ffirst", ROW)


def left_join(left: Frame, right: Frame, on: str) -> Frame:
    """Every row of ``left`` with the columns of the row of ``right`` of equal ``on`` (one at
    most), nulls where none; a missing ``on`` matches nothing (as in polars). Columns in
    the order of ``left``'s then ``right``'s."""
    joined = left.join(right, on=on, how="left")
    return project(joined, [*left.columns, *[c for c in right.columns if c != on]])


def without_row_ids(sdf: Frame) -> Frame:
    return sdf.drop(ROW)


def cached(sdf: Frame) -> Frame:
    """``sdf`` kept by Spark once computed, for several jobs; :func:`uncache` when done."""
    return sdf.cache()


def uncache(sdf: Frame) -> None:
    sdf.unpersist()


def distinct_rows(sdf: Frame) -> Frame:
    return sdf.distinct()


def distinct_in_order(sdf: Frame) -> Frame:
    """The rows of ``sdf`` (with :data:`ROW`) without exact repeats, the first of each
    kept, in the order of ``ROW``, without it: what polars keeps, where it keeps it."""
    from pyspark.sql import functions as F

    columns = [c for c in sdf.columns if c != ROW]
    firsts = sdf.groupBy(*[_col(c) for c in columns]).agg(F.min(_col(ROW)).alias(ROW))
    return firsts.orderBy(ROW).drop(ROW)


def counted_groups(sdf: Frame, keys: Sequence[str], count_name: str) -> Frame:
    """One row per distinct ``keys`` with its rows as ``count_name`` (a Spark frame)."""
    from pyspark.sql import functions as F

    return sdf.groupBy(*[_col(k) for k in keys]).agg(F.count(F.lit(1)).alias(count_name))


def with_row_ids(sdf: Frame) -> Frame:
    """``sdf`` with :data:`~medvalue.read._rows.ROW`: Spark's monotonically increasing id,
    increasing in the order the table is read, so rows keep their order after a shuffle."""
    from pyspark.sql import functions as F

    return sdf.withColumn(ROW, F.monotonically_increasing_id())


@dataclass(frozen=True)
class CoPartitioned:
    """Several inputs shuffled together so that rows of equal key share a partition (see
    :func:`co_partition`); :meth:`reduce` runs polars on each partition."""

    shuffled: Frame
    schemas: Mapping[str, Mapping[str, pl.DataType]]

    def reduce(self, fn: Callable[[Mapping[str, pl.LazyFrame]], pl.LazyFrame]) -> pl.DataFrame:
        """``fn`` run per partition, given each input's rows there in their tables' order
        (as polars frames of its schema); the small tables it gives, stacked."""
        schemas, names = self.schemas, list(self.schemas)
        empty = {n: pl.DataFrame(schema=dict(schemas[n])).lazy() for n in names}
        out_schema = fn(empty).collect_schema()
        if self.shuffled is None:
            return pl.DataFrame(schema=out_schema)
        arrow_out = _arrow_schema(out_schema)

        def run(batches: Iterator[pl.DataFrame]) -> Iterator[Any]:
            frames = list(batches)
            if not frames:
                return
            held = pl.concat(frames, how="vertical_relaxed").sort("\x1finput", "\x1fpiece", ROW)
            given = {
                n: held.filter(pl.col("\x1finput") == i)
                .select(
                    [
                        pl.col(f"{i}\x1f{c}").cast(t, strict=False).alias(c)
                        for c, t in schemas[n].items()
                    ]
                )
                .lazy()
                for i, n in enumerate(names)
            }
            yield from _to_batches(fn(given).collect(), arrow_out)

        result = collect(_map_in_arrow(self.shuffled, run, arrow_out))
        return result.cast(out_schema, strict=False)

    def release(self) -> None:
        if self.shuffled is not None:
            self.shuffled.unpersist()


def co_partition(
    inputs: Mapping[str, Sequence[Frame]],
    schemas: Mapping[str, Mapping[str, pl.DataType]],
    key: str,
    rows: int,
) -> CoPartitioned:
    """Several inputs partitioned alike by ``key``, kept (cached) for one or more reductions.

    Each input is a list of frames with the columns of its schema (``key`` among them) and
    :data:`ROW`; they are stacked, and all inputs shuffled together so that rows of equal
    ``key`` (a patient), whichever input they belong to, share a partition of at most about
    :data:`PARTITION_ROWS` of the ``rows``. Call :meth:`CoPartitioned.release` when done."""
    from functools import reduce

    from pyspark.sql import functions as F

    names = list(inputs)
    # Each input's columns travel under names of their own, so types never clash.
    slots = [(i, c, t) for i, n in enumerate(names) for c, t in schemas[n].items()]
    spark_types = {(i, c): _spark_schema(_arrow_schema({c: t}))[0].dataType for i, c, t in slots}
    wide = []
    for i, n in enumerate(names):
        for j, sdf in enumerate(inputs[n]):
            cols = [F.lit(i).alias("\x1finput"), F.lit(j).alias("\x1fpiece"), _col(ROW),
                    _col(key).alias("\x1fkey")]  # fmt: skip
            for k, c, _ in slots:
                value = _col(c) if k == i else F.lit(None).cast(spark_types[(k, c)])
                cols.append(value.alias(f"{k}\x1f{c}"))
            wide.append(sdf.select(*cols))
    if not wide:
        return CoPartitioned(None, schemas)
    union = reduce(lambda a, b: a.unionByName(b), wide)
    parts = max(int(union.sparkSession.conf.get("spark.sql.shuffle.partitions")),
                -(-rows // PARTITION_ROWS))  # fmt: skip
    # Cached: each reduction reads the shuffled rows, not the tables typed and shuffled again.
    return CoPartitioned(union.repartition(parts, F.col("\x1fkey")).cache(), schemas)


#: Columns counted by value in one Spark job when the table is text (one scan of the file,
#: each row expanded once per column).
VALUE_COUNT_BATCH = 32
#: Spark jobs run at once (from threads; the scheduler interleaves their tasks).
CONCURRENT_JOBS = int(os.environ.get("MEDVALUE_SPARK_JOBS", "4"))


def value_counts(sdf: Frame, columns: Sequence[str], count_name: str) -> dict[str, pl.DataFrame]:
    """Each of ``columns``: its distinct values with their rows (nulls as one value), as a
    frame of the column and ``count_name`` (UInt32, as polars counts).

    A columnar table (Parquet, ORC: what warehouses hold) is counted one column per job,
    :data:`CONCURRENT_JOBS` at a time, each job reading its column only (10M rows x 24
    columns: 7.8 s); a table read from text files, where every job would parse the whole
    file, in one job per batch of columns with grouping sets (31 s on the same table as
    Parquet)."""
    if _is_text(sdf):
        return _value_counts_together(sdf, columns, count_name)
    from concurrent.futures import ThreadPoolExecutor

    from pyspark.sql import functions as F

    def one(c: str) -> pl.DataFrame:
        counted = collect(sdf.groupBy(_col(c)).agg(F.count(F.lit(1)).alias(count_name)))
        return counted.with_columns(pl.col(count_name).cast(pl.UInt32))

    with ThreadPoolExecutor(max(1, CONCURRENT_JOBS)) as pool:
        return dict(zip(columns, pool.map(one, columns), strict=True))


def _col(name: str) -> Any:
    """Spark's column ``name`` taken literally (dots, spaces and backticks in hospital
    headers are not paths or SQL)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def project(sdf: Frame, columns: Sequence[str]) -> Frame:
    """Only ``columns``: Spark then reads no other column of a columnar table."""
    return sdf.select(*[_col(c) for c in columns])


def _is_text(sdf: Frame) -> bool:
    return any(f.lower().endswith((".csv", ".tsv", ".txt")) for f in sdf.inputFiles())


def _value_counts_together(
    sdf: Frame, columns: Sequence[str], count_name: str, cap: int | None = None
) -> dict[str, Any]:
    """:func:`value_counts` in one job per batch of columns (grouping sets: each row read
    once, expanded once per column); with ``cap``, None for a column of more values, whose
    values then never leave Spark (the counts are cached and sized first)."""
    from pyspark.sql import functions as F

    out: dict[str, Any] = {}
    for i in range(0, len(columns), VALUE_COUNT_BATCH):
        batch = list(columns[i : i + VALUE_COUNT_BATCH])
        cols = [_col(c) for c in batch]
        counted = sdf.groupingSets([[c] for c in cols], *cols).agg(
            F.count(F.lit(1)).alias(count_name), F.grouping_id().alias("\x1fset")
        )
        n = len(batch)
        # Each column's rows have every other column's bit set in the grouping id.
        set_of = {c: (1 << n) - 1 - (1 << (n - 1 - j)) for j, c in enumerate(batch)}
        held = list(set_of.values())
        if cap is not None:
            counted = counted.cache()
            sizes = counted.groupBy("\x1fset").count().collect()
            held = [int(r[0]) for r in sizes if int(r[1]) <= cap]
        try:
            got = collect(counted.where(F.col("\x1fset").isin(held))) if held else None
        finally:
            if cap is not None:
                counted.unpersist()
        for c in batch:
            if got is None or set_of[c] not in held:
                out[c] = None
                continue
            rows_of = got.filter(pl.col("\x1fset") == set_of[c])
            out[c] = rows_of.select(c, pl.col(count_name).cast(pl.UInt32))
    return out


def value_counts_upto(
    sdf: Frame, columns: Sequence[str], cap: int, count_name: str
) -> dict[str, pl.DataFrame | None]:
    """Each of ``columns``: its distinct values with their rows (as :func:`value_counts`), or
    None when it has more than ``cap``; one pass over ``sdf`` per
    :data:`VALUE_COUNT_BATCH` columns, and only columns of at most ``cap`` values are
    collected."""
    return _value_counts_together(sdf, columns, count_name, cap)


def approx_distinct(sdf: Frame, columns: Sequence[str]) -> dict[str, int]:
    """Distinct values per column, estimated (HyperLogLog++, 5% relative error) in one pass:
    only used to choose how a column is summarised, never shown."""
    from pyspark.sql import functions as F

    if not columns:
        return {}
    row = collect(sdf.agg(*[F.approx_count_distinct(_col(c)).alias(c) for c in columns]))
    return {c: int(v) for c, v in row.row(0, named=True).items()}


def lowered(sdf: Frame) -> Frame:
    """``sdf`` with lower-case column names (polars, unlike Spark, tells case apart)."""
    return sdf.toDF(*[c.lower() for c in sdf.columns])


def rows_equal(sdf: Frame, column: str, text: str) -> int:
    """Rows whose ``column`` reads ``text`` in lower case (a header row inside the data)."""
    from pyspark.sql import functions as F

    return int(sdf.where(F.lower(_col(column).cast("string")) == text).count())


def without_rows_equal(sdf: Frame, column: str, text: str) -> Frame:
    """``sdf`` without the rows :func:`rows_equal` counts."""
    from pyspark.sql import functions as F

    same = F.lower(_col(column).cast("string")) == text
    return sdf.where(~F.coalesce(same, F.lit(False)))


def rows_where_in(
    sdf: Frame, column: str, values: Sequence[Any], columns: Sequence[str]
) -> pl.DataFrame:
    """``columns`` of the rows whose ``column`` is one of ``values`` (a few: a look-up)."""
    return collect(project(sdf.where(_col(column).isin(list(values))), columns))


def rows(sdf: Frame) -> int:
    return int(sdf.count())


def repeated_rows(sdf: Frame) -> int:
    """Rows equal to an earlier row in every column (exactly: Spark compares the values)."""
    from pyspark.sql import functions as F

    n = F.col("\x1fcount")  # not "count": a table may have a column of that name
    counted = sdf.groupBy(*[_col(c) for c in sdf.columns]).agg(F.count(F.lit(1)).alias("\x1fcount"))
    extra = counted.where(n > 1).agg(F.sum(n - 1).alias("n"))
    value = extra.collect()[0]["n"]
    return int(value or 0)


@dataclass(frozen=True)
class Request:
    """What :func:`statistics` computes for a column besides its distinct values and
    extremes: approximate ``quantiles``, mean and spread (``moments``), text ``lengths``,
    and the min and max within ``bounds``."""

    quantiles: tuple[float, ...] = ()
    moments: bool = False  # mean and sample standard deviation
    lengths: bool = False
    bounds: tuple[Any, Any] | None = None


def statistics(
    typed: Frame, requests: Mapping[str, Request], sums: Sequence[str]
) -> dict[str, Any]:
    """In one Spark job: the sums of the flag columns ``sums`` and, per column of
    ``requests``, exact distinct values, min and max, mean and sample standard deviation
    (numeric columns), approximate quantiles (:data:`QUANTILE_ACCURACY`), text lengths and
    bounded extremes. Returns each sum by name and each column's statistics as a dict
    (``n_unique``, ``min``, ``max``, ``mean``, ``std``, ``q<q>``, ``minlen``, ``maxlen``,
    ``first``, ``last``)."""
    from pyspark.sql import functions as F

    exprs = [F.sum(_col(s)).alias(s) for s in sums]
    names: dict[str, dict[str, str]] = {}
    for i, (column, request) in enumerate(requests.items()):
        t = _col(column)
        named: dict[str, Any] = {
            "n_unique": F.count_distinct(t),
            "min": F.min(t),
            "max": F.max(t),
        }
        if request.moments:
            named |= {"mean": F.avg(t), "std": F.stddev_samp(t)}
        if request.quantiles:
            named["quantiles"] = F.percentile_approx(t, list(request.quantiles), QUANTILE_ACCURACY)
        if request.lengths:
            named |= {"minlen": F.min(F.char_length(t)), "maxlen": F.max(F.char_length(t))}
        if request.bounds is not None:
            inside = t.between(F.lit(request.bounds[0]), F.lit(request.bounds[1]))
            named |= {"first": F.min(F.when(inside, t)), "last": F.max(F.when(inside, t))}
        names[column] = {stat: f"s{i}_{stat}" for stat in named}
        exprs += [e.alias(names[column][stat]) for stat, e in named.items()]
    row = typed.agg(*exprs).collect()[0].asDict()
    out: dict[str, Any] = {s: row[s] for s in sums}
    for column, request in requests.items():
        got = {stat: row[alias] for stat, alias in names[column].items()}
        values = got.pop("quantiles", None) or [None] * len(request.quantiles)
        got |= {f"q{q}": v for q, v in zip(request.quantiles, values, strict=True)}
        out[column] = got
    return out


def moments(sdf: Frame, column: str) -> dict[str, Any]:
    """Of ``column``'s non-null values, in one Spark job: how many (``n``), their ``total``,
    ``mean``, population standard deviation (``std``) and exact ``median`` (interpolated
    between the two middle values, as polars and numpy; Spark holds the distinct values
    with their counts in the executors for it, never the driver)."""
    from pyspark.sql import functions as F

    t = _col(column).cast("double")
    row = sdf.agg(
        F.count(t).alias("n"), F.sum(t).alias("total"), F.avg(t).alias("mean"),
        F.stddev_pop(t).alias("std"), F.median(t).alias("median"),
    ).collect()[0].asDict()  # fmt: skip
    return {**row, "n": int(row["n"]), "total": float(row["total"] or 0.0)}


def rows_with_ids(
    sdf: Frame,
    ids: Sequence[int],
    fn: Callable[[pl.DataFrame], pl.DataFrame],
    schema: Mapping[str, pl.DataType],
) -> pl.DataFrame:
    """``fn`` (raw rows with :data:`ROW` -> rows of ``schema``, keeping ``ROW``) of the rows of
    ``sdf`` whose :func:`with_row_ids` id is one of ``ids`` (a sample: they are what is
    collected), in table order."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType, StructField, StructType

    spark = sdf.sparkSession
    wanted = spark.createDataFrame(
        [(int(i),) for i in sorted(set(ids))], StructType([StructField(ROW, LongType())])
    )
    picked = with_row_ids(sdf).join(F.broadcast(wanted), on=ROW, how="left_semi")
    return collect(map_batches(picked, fn, schema)).sort(ROW)


def kth_value(typed: Frame, column: str, k: int, *, largest: bool) -> Any:
    """The k-th smallest (or largest) non-null value; the last one there is if fewer."""

    t = _col(column)
    order = t.desc() if largest else t.asc()
    taken = typed.select(t).where(t.isNotNull()).orderBy(order).limit(k).collect()
    return taken[-1][0] if taken else None


def binned(typed: Frame, column: str, lo: float, width: float, bins: int) -> dict[int, int]:
    """Rows per equal-width bin of ``column`` from ``lo``; values beyond the ends in the
    first or last bin (as the profile bins a column on one machine)."""
    from pyspark.sql import functions as F

    t = _col(column).cast("double")
    index = F.floor((t - F.lit(lo)) / F.lit(width))
    clipped = F.least(F.greatest(index, F.lit(0)), F.lit(bins - 1)).cast("int")
    # Spark's least and greatest skip nulls (greatest(null, 0) is 0): drop them first.
    counted = typed.where(t.isNotNull()).select(clipped.alias("bin"))
    return {int(r["bin"]): int(r["count"]) for r in counted.groupBy("bin").count().collect()}


def distinct_values(frames: Sequence[Frame]) -> int:
    """Distinct non-null values over the one-column frames ``frames`` together."""
    union = frames[0]
    for other in frames[1:]:
        union = union.unionByName(other)
    return int(union.where(union.columns[0] + " IS NOT NULL").distinct().count())


def orphans(child: Frame, parent: Frame) -> tuple[int, int, int]:
    """Rows of ``child`` (one column ``k``, nulls dropped), rows whose key is not in ``parent``
    and their distinct keys."""
    from pyspark.sql import functions as F

    kids = child.where(F.col("k").isNotNull())
    missing = kids.join(parent.where(F.col("k").isNotNull()).distinct(), on="k", how="left_anti")
    row = missing.agg(
        F.count(F.lit(1)).alias("rows"), F.count_distinct("k").alias("ids")
    ).collect()[0]
    return int(kids.count()), int(row["rows"]), int(row["ids"])
