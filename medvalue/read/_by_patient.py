"""Reductions over a dataset's records grouped by patient, on one machine or on Spark alike.

Counting people per value (per ICD-10 chapter, age band, year, outcome) needs each person's
records together. An analysis states which records it reads, as :class:`Rows` (named polars
expressions over a table's typed columns), and a reduction of one part of the patients to a
small table; :func:`patient_parts` splits the patients into parts that share no one (for one
or more reductions; :func:`by_patient` for one) and stacks the parts' tables, which the
analysis then adds up:

- on one machine the records are typed once into private Parquet copies and the parts are
  split by a hash of the patient (memory follows a part);
- on Spark the records are typed in the executors and shuffled by patient once (cached), and
  each reduction runs in every partition (:func:`medvalue.read._spark.co_partition`): only
  its small tables reach the driver.

Within a part, each input's records keep their tables' order, so "the first record" means the
same on both engines.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import polars as pl

from medvalue.core import _parts
from medvalue.core._files import cache_dir
from medvalue.read import _spark
from medvalue.read._dataset import Dataset
from medvalue.read._rows import ROW, Rows

#: The column every input names its patient by.
PATIENT = "patient"
#: Records of an input a part holds at most, about.
PART_ROWS = 2_500_000


@dataclass(frozen=True)
class Input:
    """The records ``pieces`` stacked, as ``schema`` (which names :data:`PATIENT`)."""

    pieces: tuple[Rows, ...]
    schema: Mapping[str, pl.DataType]


Reduction = Callable[[Mapping[str, pl.LazyFrame]], pl.LazyFrame]


class Parts(Protocol):
    """A dataset's records split into parts of the patients (see :func:`patient_parts`)."""

    def reduce(self, fn: Reduction) -> pl.DataFrame:
        """``fn`` run on each part (each input's records of its patients, by name), the
        parts' small tables stacked."""
        ...


@dataclass(frozen=True)
class _LocalParts:
    copies: Mapping[str, pl.LazyFrame]
    parts: int

    def reduce(self, fn: Reduction) -> pl.DataFrame:
        person = pl.col(PATIENT)
        return pl.concat(
            [
                fn(
                    {n: _parts.part(c, person, p, self.parts) for n, c in self.copies.items()}
                ).collect(engine="streaming")
                for p in range(self.parts)
            ],
            how="vertical_relaxed",
        )


@contextlib.contextmanager
def patient_parts(ds: Dataset, inputs: Mapping[str, Input]) -> Iterator[Parts]:
    """The ``inputs``' records split into parts that share no patient, for one or more
    reductions (counts of people add up over the parts). On one machine the records are
    typed once into private Parquet copies, removed on exit; on Spark they are typed in the
    executors and shuffled by patient once, the shuffled rows cached until exit."""
    if ds.on_spark:
        spark_parts = _on_spark(ds, inputs)
        try:
            yield spark_parts
        finally:
            spark_parts.release()
        return
    with tempfile.TemporaryDirectory(dir=cache_dir()) as folder:
        copies = {
            name: _parts.copy_to(stacked(ds, given), Path(folder) / f"{i}.parquet")
            for i, (name, given) in enumerate(inputs.items())
        }
        # A part holds at most about PART_ROWS records of each input.
        rows = max(
            int(c.select(pl.len()).collect(engine="streaming").item()) for c in copies.values()
        )
        yield _LocalParts(copies, _parts.parts_of(rows, PART_ROWS))


def by_patient(ds: Dataset, inputs: Mapping[str, Input], reduce: Reduction) -> pl.DataFrame:
    """``reduce`` run on each part of the patients (each input's records of those patients,
    by name), the parts' tables stacked. A patient is in exactly one part, so counts of
    people add up over the parts."""
    with patient_parts(ds, inputs) as parts:
        return parts.reduce(reduce)


def stacked(ds: Dataset, given: Input) -> pl.LazyFrame:
    """``given``'s records of a dataset on one machine, as one lazy frame."""
    frames = [_selected(ds, rows, given.schema) for rows in given.pieces]
    return pl.concat(frames) if frames else pl.LazyFrame(schema=dict(given.schema))


def _selected(ds: Dataset, rows: Rows, schema: Mapping[str, pl.DataType]) -> pl.LazyFrame:
    raw = ds.raw_frame(rows.table)
    read = _read_columns(rows)
    row_index = [ROW] if ROW in read else []
    if row_index:
        raw = raw.with_row_index(ROW)
    # Every row of the columns read is typed: text dates and numbers by look-up (typing_of).
    typed = raw.select(*row_index, *ds.typing_of(rows.table, read))
    return _shaped(typed, rows, schema)


def _shaped(
    typed: pl.LazyFrame, rows: Rows, schema: Mapping[str, pl.DataType], extra: Sequence[str] = ()
) -> pl.LazyFrame:
    """``rows``' columns of ``typed`` as ``schema`` (and the ``extra`` columns as they are)."""
    picked = typed.select(*rows.columns, *extra)
    if rows.keep is not None:
        picked = picked.filter(rows.keep)
    return picked.select(*[pl.col(c).cast(t) for c, t in schema.items()], *extra)


def _read_columns(rows: Rows) -> set[str]:
    """The columns ``rows``' expressions read (with names they make, which no table has)."""
    exprs = [*rows.columns, *([rows.keep] if rows.keep is not None else [])]
    return {name for e in exprs for name in e.meta.root_names()}


def _on_spark(ds: Dataset, inputs: Mapping[str, Input]) -> _spark.CoPartitioned:
    frames: dict[str, list[_spark.Frame]] = {}
    rows = 0
    counted: dict[str, int] = {}
    for name, given in inputs.items():
        frames[name] = []
        for piece in given.pieces:
            frames[name].append(typed_on_spark(ds, piece, given.schema))
            if piece.table not in counted:  # Parquet answers from its footers
                counted[piece.table] = ds.row_count(piece.table)
            rows += counted[piece.table]
    schemas = {name: given.schema for name, given in inputs.items()}
    return _spark.co_partition(frames, schemas, PATIENT, rows)


def typed_on_spark(ds: Dataset, rows: Rows, schema: Mapping[str, pl.DataType]) -> _spark.Frame:
    """``rows`` as a Spark frame of ``schema`` and :data:`ROW`, typed in the executors."""
    plans = ds.plans[rows.table]
    used = _read_columns(rows)
    read = [c for c in plans if c in used]
    typing = [plans[c].typed() for c in read]
    out = {**schema, ROW: pl.Int64()}

    def shape(batch: pl.DataFrame) -> pl.DataFrame:
        typed = batch.lazy().select(pl.col(ROW), *typing)
        return _shaped(typed, rows, schema, extra=[ROW]).collect()

    sdf = _spark.with_row_ids(ds.spark_frame(rows.table))
    return _spark.map_batches(sdf, shape, out, columns=[*read, ROW])
