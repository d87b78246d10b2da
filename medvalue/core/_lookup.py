"""Value lookups that polars' streaming engine streams.

polars (2.1) runs ``Expr.replace_strict`` outside its streaming engine: a query that maps a
column through it holds the whole column, and the columns beside it, in memory (600 MB for
one text column of 10M rows, where the same query without it held 100 MB). Casting the
column to an Enum of the keys and gathering the values at the category's index is
element-wise, so it streams, and it is about three times faster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl


def look_up(
    expr: pl.Expr,
    keys: pl.Series | Sequence[Any] | Mapping[Any, Any],
    values: pl.Series | Sequence[Any] | None = None,
    *,
    default: Any = None,
    return_dtype: pl.DataType | type[pl.DataType] | None = None,
) -> pl.Expr:
    """``expr.replace_strict(keys, values, default=default, return_dtype=return_dtype)``
    that streams.

    ``keys`` may be a mapping (then ``values`` is omitted). Keys are matched by their text
    (``expr`` is cast to text the same way, floats with -0.0 made 0.0 first), so numbers
    match numbers; null keys are ignored, and a missing or unknown value becomes
    ``default``. Where a key appears twice, the first wins.
    """
    if isinstance(keys, Mapping):
        values = list(keys.values())
        keys = list(keys.keys())
    key_series = pl.Series("key", keys, strict=False)
    value_series = pl.Series("value", values, strict=False)
    if return_dtype is not None:
        value_series = value_series.cast(return_dtype)
    if key_series.dtype.is_float():  # -0.0 and 0.0 are one key, as replace_strict has them
        key_series = pl.DataFrame({"key": key_series}).select(_zero(pl.col("key"))).to_series()
        expr = _zero(expr)
    table = (
        pl.DataFrame({"key": key_series.cast(pl.String), "value": value_series})
        .filter(pl.col("key").is_not_null())
        .unique("key", keep="first", maintain_order=True)
    )
    values_ = table["value"]
    index = expr.cast(pl.String).cast(pl.Enum(table["key"]), strict=False).to_physical()
    index = index.cast(pl.UInt32)
    if default is not None:
        # The default sits after the values: a missing or unknown value's index points at it.
        values_ = values_.append(pl.Series([default]).cast(values_.dtype))
        index = index.fill_null(table.height)
    # A gather from a literal is not element-wise to polars' optimiser (slices and filters
    # would stop above it); declared element-wise, the lookup keeps them pushed down.
    return index.map_batches(
        lambda i: values_.gather(i), return_dtype=values_.dtype, is_elementwise=True
    )


def position_in(
    value: pl.Expr, values: pl.Series, *, first: int = 0, default: int | None = None
) -> pl.Expr:
    """``value``'s position among the distinct non-null ``values``, counted from ``first``
    (in the smallest unsigned type that holds it: columns of numbers for a 30M-row table are
    held in memory); a missing or unknown value becomes ``default``."""
    dtype = smallest_unsigned(max(first + values.len(), default or 0))
    numbers = pl.int_range(first, first + values.len(), dtype=dtype, eager=True)
    return look_up(value, values, numbers, default=default, return_dtype=dtype)


def smallest_unsigned(top: int) -> type[pl.UInt8 | pl.UInt16 | pl.UInt32 | pl.UInt64]:
    """The smallest unsigned integer type that holds 0 to ``top``."""
    if top < 2**8:
        return pl.UInt8
    if top < 2**16:
        return pl.UInt16
    return pl.UInt32 if top < 2**32 else pl.UInt64


def _zero(value: pl.Expr) -> pl.Expr:
    """``value`` with -0.0 written as 0.0, keeping its name (adding 0.0 is not enough:
    polars may drop it)."""
    return pl.when(value == 0).then(value.abs()).otherwise(value)
