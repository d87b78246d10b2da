"""Dataset.typing_of: dates and numbers written as text, typed by looking each row's value up
among the column's distinct values, equal the values typed row by row (Dataset.typing)."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medvalue import load_dataset
from medvalue.read import _dataset

ROWS = 3_000
DIRTY_DATES = ["05/01/2024", "2024年1月5日", "20240105", " 2024-1-5 ", "NULL", "不详", "",
               "9999-12-31", "not a date", "2024-02-30", "1899-12-31", "2024-01-05 10:30"]  # fmt: skip
DIRTY_NUMBERS = ["45岁", "1,234", "12.5 mg/dL", "NULL", "", "-", "  7 ", "abc", "-3.5", "1e3"]


def _table(dirty_dates: list[str], dirty_numbers: list[str]) -> pl.DataFrame:
    """Mostly clean dates and ages (so the plans type them), the dirty values spread in."""
    dates = [f"20{10 + i % 14:02d}-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(ROWS)]
    ages = [str(20 + i % 70) for i in range(ROWS)]
    for i, v in enumerate(dirty_dates):
        dates[(i * 37) % ROWS] = v
    for i, v in enumerate(dirty_numbers):
        ages[(i * 53 + 11) % ROWS] = v
    return pl.DataFrame({"patient_id": [f"P{i}" for i in range(ROWS)],
                         "admission_date": dates, "age": ages})  # fmt: skip


def _both(
    frame: pl.DataFrame, folder: Path, small: int = ROWS // 2, suffix: str = "csv"
) -> tuple[_dataset.Dataset, pl.DataFrame, pl.DataFrame]:
    """The dataset of ``frame`` (as a CSV or Parquet export: Parquet keeps blanks apart from
    nulls), typed row by row and by look-up, with tables of ``small`` rows or more taken as
    large enough for look-ups."""
    path = folder / f"export.{suffix}"
    if suffix == "csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)
    ds = load_dataset(path)
    t = ds.table_names[0]
    raw = ds.raw_frame(t)
    by_rows = raw.select(ds.typing(t)).collect()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_dataset, "LOOKUP_MIN_ROWS", small)
        by_look_up = raw.select(ds.typing_of(t, ds.plans[t])).collect()
    return ds, by_rows, by_look_up


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dirty_dates=st.lists(st.sampled_from(DIRTY_DATES), max_size=60),
    dirty_numbers=st.lists(st.sampled_from(DIRTY_NUMBERS), max_size=60),
    suffix=st.sampled_from(["csv", "parquet"]),
)
def test_looked_up_values_equal_the_values_typed_row_by_row(dirty_dates, dirty_numbers, suffix):
    with tempfile.TemporaryDirectory() as folder:
        frame = _table(dirty_dates, dirty_numbers)
        ds, by_rows, by_look_up = _both(frame, Path(folder), suffix=suffix)
    t = ds.table_names[0]
    assert ds.plans[t]["admission_date"].kind == "datetime"
    assert ds.plans[t]["age"].kind in ("number", "integer")
    # Both parsed columns went by look-up; the id (text staying text) row by row.
    assert set(ds._typed_values[t]) == {"admission_date", "age"}
    assert all(v is not None for v in ds._typed_values[t].values())
    assert by_look_up.schema == by_rows.schema
    assert by_look_up.equals(by_rows)


def test_a_column_of_many_distinct_values_is_typed_row_by_row(tmp_path):
    frame = pl.DataFrame({
        "patient_id": [f"P{i}" for i in range(ROWS)],
        "creatinine_umol_l": [f"{50 + i * 0.0137:.4f}" for i in range(ROWS)],  # all distinct
    })  # fmt: skip
    ds, by_rows, by_look_up = _both(frame, tmp_path)
    t = ds.table_names[0]
    assert ds.plans[t]["creatinine_umol_l"].is_parsed
    assert ds._typed_values[t] == {"creatinine_umol_l": None}
    assert by_look_up.equals(by_rows)


def test_a_small_table_is_typed_row_by_row(tmp_path):
    ds, by_rows, by_look_up = _both(_table(DIRTY_DATES, DIRTY_NUMBERS), tmp_path, ROWS + 1)
    assert set(ds._typed_values[ds.table_names[0]].values()) == {None}
    assert by_look_up.equals(by_rows)


def test_another_dataset_made_by_replace_gathers_its_own_values(tmp_path):
    ds, _, _ = _both(_table([], []), tmp_path)
    t = ds.table_names[0]
    assert ds._typed_values[t]
    other = replace(ds, path=str(tmp_path / "other"))
    assert other._typed_values == {}


@pytest.mark.parametrize("columns", [["age"], ["admission_date", "patient_id"], []])
def test_only_the_columns_asked_for_are_typed_in_the_table_order(tmp_path, columns):
    ds, _, _ = _both(_table([], []), tmp_path)
    t = ds.table_names[0]
    # The names as an iterator, read once.
    typed = ds.raw_frame(t).select(ds.typing_of(t, reversed(columns))).collect_schema()
    assert list(typed) == [c for c in ds.plans[t] if c in columns]
