from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medvalue.dates import parse_datetime

CASES = [
    ("2024-01-05", dt.datetime(2024, 1, 5)),
    ("2024/1/5", dt.datetime(2024, 1, 5)),
    ("2024/01/05", dt.datetime(2024, 1, 5)),
    ("2024.01.05", dt.datetime(2024, 1, 5)),
    ("20240105", dt.datetime(2024, 1, 5)),
    ("2024年1月5日", dt.datetime(2024, 1, 5)),
    ("2024年01月05日", dt.datetime(2024, 1, 5)),
    ("2024-01-05 08:30", dt.datetime(2024, 1, 5, 8, 30)),
    ("2024-01-05 08:30:15", dt.datetime(2024, 1, 5, 8, 30, 15)),
    ("2024-01-05T08:30:15Z", dt.datetime(2024, 1, 5, 8, 30, 15)),
    (" 2024-1-5 ", dt.datetime(2024, 1, 5)),
    ("45296", dt.datetime(2024, 1, 5)),  # Excel serial day number
    ("45296.5", dt.datetime(2024, 1, 5, 12)),
    ("2024-02-30", None),
    ("not a date", None),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_hospital_date_form(text, expected):
    out = pl.DataFrame({"d": [text]}, schema={"d": pl.String}).select(parse_datetime(pl.col("d")))
    assert out.item() == expected


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_iso_and_compact_forms_round_trip(day):
    texts = [
        day.isoformat(),
        day.strftime("%Y%m%d"),
        f"{day.year}年{day.month}月{day.day}日",
        f"{day.year}/{day.month}/{day.day}",
    ]
    out = pl.DataFrame({"d": texts}).select(parse_datetime(pl.col("d"))).to_series().to_list()
    assert out == [dt.datetime(day.year, day.month, day.day)] * 4


@given(st.text(max_size=30))
def test_never_crashes_on_any_string(text):
    pl.DataFrame({"d": [text]}, schema={"d": pl.String}).select(parse_datetime(pl.col("d")))
