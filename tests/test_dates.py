from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medvalue.core._dates import parse_datetime

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


YEAR_LAST = [
    ("05/01/2024", "dmy", dt.datetime(2024, 1, 5)),
    ("05/01/2024", "mdy", dt.datetime(2024, 5, 1)),
    ("25-12-2023", "dmy", dt.datetime(2023, 12, 25)),
    ("25-12-2023", "mdy", None),
    ("5.1.2024 14:30", "dmy", dt.datetime(2024, 1, 5, 14, 30)),
    ("31/02/2024", "dmy", None),
    ("05/01/2024", "ymd", None),
    ("2024-01-05", "mdy", dt.datetime(2024, 1, 5)),  # year first reads the same in any order
]


@pytest.mark.parametrize(("text", "order", "expected"), YEAR_LAST)
def test_year_last_dates_in_the_columns_order(text, order, expected):
    out = pl.DataFrame({"d": [text]}).select(parse_datetime(pl.col("d"), order))
    assert out.item() == expected


@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_day_first_and_month_first_round_trip(day):
    frame = pl.DataFrame({"a": [day.strftime("%d/%m/%Y")], "b": [day.strftime("%m/%d/%Y")]})
    out = frame.select(
        parse_datetime(pl.col("a"), "dmy").alias("a"), parse_datetime(pl.col("b"), "mdy").alias("b")
    )
    assert out.row(0) == (dt.datetime.combine(day, dt.time()),) * 2


def test_the_order_is_decided_by_a_day_above_twelve():
    from medvalue.core._dates import date_order, decide_order

    def decide(values):
        counts = pl.DataFrame({"d": values}).select(date_order(pl.col("d"))).item()
        return decide_order(counts["shaped"], counts["day_first"], counts["month_first"])

    assert decide(["01/02/2024", "13/02/2024"]) == ("dmy", False)
    assert decide(["01/02/2024", "02/13/2024"]) == ("mdy", False)
    assert decide(["01/02/2024", "03/04/2024"]) == ("dmy", True)
    assert decide(["13/02/2024", "02/13/2024"]) == ("dmy", True)  # contradictory: say so
