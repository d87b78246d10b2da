"""What an analysis reads from a table, said once for every engine (see read._by_patient)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

#: Each record's position in its table: expressions of :class:`Rows` may read it (an id for
#: a table whose rows are patients). Spark's is its monotonically increasing id.
ROW = "\x1frow"


@dataclass(frozen=True)
class Rows:
    """Records read from table ``table``: the named expressions ``columns`` over its typed
    columns (and :data:`ROW`), where ``keep`` (an expression over those named columns) holds."""

    table: str
    columns: tuple[pl.Expr, ...]
    keep: pl.Expr | None = None
