"""sorted_rows sorts as polars does, whatever the type, nulls and NaN."""

from __future__ import annotations

import datetime as dt
import decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_series_equal

from medvalue.core._sorting import sorted_rows

DTYPES = {
    "floats": (pl.Float64, st.floats(allow_nan=True, allow_infinity=True)),
    "small floats": (pl.Float32, st.floats(-1e6, 1e6, width=32)),
    "integers": (pl.Int64, st.integers(-(2**63), 2**63 - 1)),
    "unsigned": (pl.UInt8, st.integers(0, 255)),
    "dates": (pl.Date, st.dates()),
    "datetimes": (
        pl.Datetime("us", "Asia/Shanghai"),
        st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)),
    ),
    "durations": (
        pl.Duration("ms"),
        st.timedeltas(dt.timedelta(days=-999), dt.timedelta(days=999)),
    ),
    # Not a numpy type: sorted by polars.
    "decimals": (pl.Decimal(10, 2), st.decimals(-(10**7), 10**7, places=2, allow_nan=False)),
    "text": (pl.String, st.text(max_size=3)),
}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), kind=st.sampled_from(sorted(DTYPES)), chunks=st.integers(1, 3))
def test_sorted_rows_is_polars_sort(data, kind, chunks):
    dtype, values = DTYPES[kind]
    parts = [
        pl.Series("v", data.draw(st.lists(st.none() | values, max_size=40)), dtype=dtype)
        for _ in range(chunks)
    ]
    series = pl.concat(parts, rechunk=False)  # polars hands numpy chunked columns too
    got = sorted_rows(series)
    assert_series_equal(got, series.sort(nulls_last=True), check_exact=True)


def test_nan_sorts_after_numbers_and_before_nulls():
    series = pl.Series("v", [float("nan"), None, 2.0, -0.0, float("-inf"), 1.0])
    got = sorted_rows(series).to_list()
    assert got[:4] == [float("-inf"), -0.0, 1.0, 2.0]
    assert got[4] != got[4] and got[5] is None  # NaN, then the null


def test_decimal_column_kept_exact():
    series = pl.Series(
        "v", [decimal.Decimal("1.10"), None, decimal.Decimal("-3.25")], pl.Decimal(10, 2)
    )
    assert sorted_rows(series).to_list() == [
        decimal.Decimal("-3.25"),
        decimal.Decimal("1.10"),
        None,
    ]
