"""core._lookup.look_up: the streaming stand-in for replace_strict gives its results."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from medvalue.core._lookup import look_up

texts = st.sampled_from(["a", "b", "c", " a", "A", "男", "", "1"])
numbers = st.integers(-3, 5)
floats = st.sampled_from([0.0, -0.0, 1.5, -2.25, 1e300, float("nan"), float("inf")])
KINDS = {"text": (texts, pl.String), "number": (numbers, pl.Int64), "float": (floats, pl.Float64)}


@given(
    kind=st.sampled_from(sorted(KINDS)),
    data=st.data(),
    default=st.one_of(st.none(), st.integers(-9, 9)),
)
def test_look_up_equals_replace_strict(kind, data, default):
    draw, dtype = KINDS[kind]
    # Keys distinct as replace_strict sees them (it takes -0.0 for 0.0, and NaN for NaN).
    keys = data.draw(
        st.lists(draw, unique_by=lambda v: str(v + 0.0) if kind == "float" else v, max_size=6)
    )
    values = data.draw(
        st.lists(st.one_of(st.none(), st.integers(0, 100)), min_size=len(keys), max_size=len(keys))
    )
    column = data.draw(st.lists(st.one_of(st.none(), draw), max_size=30))
    frame = pl.DataFrame({"x": column}, schema={"x": dtype})
    expected = frame.select(
        pl.col("x").replace_strict(
            pl.Series(keys, dtype=dtype),
            pl.Series(values, dtype=pl.Int64),
            default=default,
            return_dtype=pl.Int64,
        )
    )["x"]
    got = frame.lazy().select(
        look_up(pl.col("x"), keys, values, default=default, return_dtype=pl.Int64).alias("x")
    )
    assert got.collect(engine="streaming")["x"].to_list() == expected.to_list()


def test_look_up_takes_a_mapping_and_keeps_the_first_of_equal_keys():
    frame = pl.DataFrame({"sex": ["M", "F", "X", None]})
    got = frame.select(look_up(pl.col("sex"), {"M": 1, "F": 2}, return_dtype=pl.UInt8))
    assert got.to_series().to_list() == [1, 2, None, None]
    assert got.to_series().dtype == pl.UInt8
    twice = frame.select(look_up(pl.col("sex"), ["M", "M"], [1, 3])).to_series()
    assert twice.to_list() == [1, None, None, None]
    ages = pl.DataFrame({"age": [-0.0, 1.0]}).select(look_up(pl.col("age"), [0.0, 1.0], [5, 6]))
    assert ages.columns == ["age"] and ages["age"].to_list() == [5, 6]  # the name is kept


def test_look_up_keeps_slices_pushed_down_to_the_scan(tmp_path):
    # Refine reads a table a slice at a time: a lookup the optimiser cannot see through would
    # keep the slice above it, and every slice would compute the whole table first.
    path = tmp_path / "t.parquet"
    pl.DataFrame({"x": ["a", "b"] * 100}).write_parquet(path)
    query = (
        pl.scan_parquet(path)
        .with_columns(look_up(pl.col("x"), ["a"], [1], default=0).alias("v"))
        .slice(50, 10)
    )
    plan = query.explain()
    assert "SLICE" in plan.split("Parquet SCAN")[1], plan
    assert query.collect()["v"].to_list() == [1, 0] * 5


@given(st.lists(st.integers(0, 400), max_size=80), st.sampled_from([0, 1, 250, 300]), st.booleans())
@settings(max_examples=150, deadline=None)
def test_position_in_counts_from_first_in_the_smallest_type(values, first, with_default):
    # Positions among the sorted distinct values, as a Python index would give them, held
    # in the smallest unsigned type that fits (a 30M-row table holds several such columns).
    from medvalue.core._lookup import position_in, smallest_unsigned

    distinct = sorted(set(values))[: len(values) // 2]
    default = len(distinct) + first if with_default else None
    got = pl.DataFrame({"v": values}, schema={"v": pl.Int64}).select(
        position_in(pl.col("v"), pl.Series(distinct, dtype=pl.Int64), first=first, default=default)
    )["v"]
    expected = [distinct.index(v) + first if v in distinct else default for v in values]
    assert got.to_list() == expected
    top = max(first + len(distinct), default or 0)
    assert got.dtype == smallest_unsigned(top) == (pl.UInt8 if top < 256 else pl.UInt16)
