"""Parse the date forms hospital systems export, as polars expressions.

Handled: ``2024-01-05``, ``2024/1/5``, ``2024.01.05``, ``20240105``, ``2024年1月5日``,
``2024-01-05 08:30[:15]``, ISO ``T`` separators, and Excel serial day numbers (``45296``).
Anything else becomes null; callers count those as unparseable findings.
"""

from __future__ import annotations

import polars as pl

_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%d")
# Excel counts days from 1899-12-30 (its 1900 leap-year bug folded in); 2 .. 2958465 is
# 1900-01-01 .. 9999-12-31. Five digits covers 1927 to 2173, the range hospital data uses.
_EXCEL_EPOCH = pl.datetime(1899, 12, 30)
_SERIAL = r"^\d{5}(\.\d+)?$"


def parse_datetime(expr: pl.Expr) -> pl.Expr:
    """Return ``expr`` (strings) parsed to ``Datetime('us')``; unparseable values become null."""
    raw = expr.cast(pl.String).str.strip_chars()
    text = (
        raw.str.replace_all(r"[年月/.]", "-")
        .str.replace_all(r"[日号]", "")
        .str.replace("T", " ")
        .str.replace(r"(\d)Z$", "$1")
        .str.replace(r"(:\d{2})\.\d+$", "$1")
    )
    parsed = [text.str.strptime(pl.Datetime("us"), f, strict=False, exact=True) for f in _FORMATS]
    serial = (
        pl.when(raw.str.contains(_SERIAL))
        .then(
            _EXCEL_EPOCH
            + pl.duration(
                microseconds=(raw.cast(pl.Float64, strict=False) * 86_400_000_000)
                .round()
                .cast(pl.Int64)
            )
        )
        .otherwise(None)
    )
    return pl.coalesce([*parsed, serial]).cast(pl.Datetime("us"))


def has_time_of_day(expr: pl.Expr) -> pl.Expr:
    """True where a parsed datetime carries a time other than midnight."""
    return expr.dt.time() != pl.time(0, 0, 0)
