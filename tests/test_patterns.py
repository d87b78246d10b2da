from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medvalue.core import _patterns as patterns

# Test vectors from GB 11643-1999 transcriptions and python-stdnum (methods.md 3.6).
VALID_IDS = ["11010519491231002X", "440524188001010014", "34052419800101001X", "360426199101010071"]


def _check(fn, values):
    return (
        pl.DataFrame({"v": values}, schema={"v": pl.String})
        .select(fn(pl.col("v")))
        .to_series()
        .to_list()
    )


def test_resident_id_check_digit_vectors():
    assert _check(patterns.is_resident_id, VALID_IDS) == [True] * 4
    # Change the check character: invalid.
    assert _check(patterns.is_resident_id, ["110105194912310021", "440524188001010015"]) == [
        False,
        False,
    ]
    # Impossible birth date.
    assert _check(patterns.is_resident_id, ["110105194913310025"]) == [False]


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_resident_id_agrees_with_reference(first17):
    birth_ok = True
    try:
        import datetime as dt

        year = int(first17[6:10])
        dt.date(year, int(first17[10:12]), int(first17[12:14]))
        birth_ok = year >= 1800
    except ValueError:
        birth_ok = False
    number = first17 + patterns.resident_id_check_char(first17)
    assert _check(patterns.is_resident_id, [number]) == [birth_ok]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("13812345678", True),
        ("+8613812345678", True),
        ("12812345678", False),
        ("1381234567", False),
    ],
)
def test_mobile(value, expected):
    assert _check(patterns.is_mobile, [value]) == [expected]


def test_bank_card_luhn():
    assert _check(patterns.is_bank_card, ["4111111111111111", "4111111111111112"]) == [True, False]


@pytest.mark.parametrize(
    "code",
    ["K72.1", "K721", "k72.1", "K72.100x001", "I10.x00x024", "E11.65", "Z94.4", "I10", "M54.5*"],
)
def test_icd10_shapes_accepted(code):
    assert _check(patterns.is_icd10_shape, [code]) == [True]


@pytest.mark.parametrize("code", ["K7A.1", "肝硬化", "99999", "KK74", "", "K74.."])
def test_icd10_shapes_rejected(code):
    assert _check(patterns.is_icd10_shape, [code]) == [False]


def test_chinese_names_need_a_surname():
    assert _check(patterns.is_chinese_name, ["张伟", "王秀英", "肝硬化", "糖尿病"]) == [
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("values", "dtype", "expected"),
    [
        (["1", "1.0", " 1 ", "1e0", "01", "-0", "0.00"], pl.String, ["1"] * 5 + ["0", "0"]),
        (["0.5", "x", "是", "", "inf", "NaN", "1e16"], pl.String,
         ["0.5", "x", "是", "", "inf", "NaN", "1e16"]),
        ([1.0, 0.0, -0.0, 0.5, None], pl.Float64, ["1", "0", "0", "0.5", None]),
        ([1, 0, None], pl.Int64, ["1", "0", None]),
    ],
)  # fmt: skip
def test_label_text_makes_spellings_of_one_number_one_value(values, dtype, expected):
    from medvalue.core._patterns import label_text

    frame = pl.DataFrame({"v": values}, schema={"v": dtype})
    assert frame.select(label_text(pl.col("v"), dtype))["v"].to_list() == expected
