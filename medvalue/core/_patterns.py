"""Value patterns, as vectorised polars expressions: identifiers, codes, dates.

Used by spec inference (which column plays which role) and by the privacy scan. Each
function takes a string expression and returns a boolean expression; none loops over rows.
Sources: GB 11643-1999 (resident ID check digit, ISO 7064 MOD 11-2), the broad mainland
mobile pattern ``1[3-9]\\d{9}``, WHO ICD-10 and the China national clinical edition shapes.
"""

from __future__ import annotations

from typing import cast

import polars as pl

from medvalue.core._lookup import look_up

#: ISO 7064 MOD 11-2 weights for the 17 leading digits of a resident ID number.
RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: Check character for each remainder 0..10.
RESIDENT_ID_CHECK = "10X98765432"

MOBILE = r"^(?:\+?86[- ]?)?1[3-9]\d{9}$"
LANDLINE = r"^(?:\+?86[- ]?)?0\d{2,3}[- ]?\d{7,8}$"
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
IPV4 = r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$"
BANK_CARD = r"^\d{16,19}$"
# WHO ICD-10 (K72, K72.1, K721), ICD-10-CM (E11.65), China national clinical edition
# (K72.100x001, I10.x00x024); daggers and asterisks allowed at the end.
ICD10_SHAPE = r"^[A-Za-z]\d{2}(?:\.?[0-9Xx][0-9A-Za-z]{0,4}(?:[xX]\d{3})?)?[+*†]?$"
CHINESE_NAME = r"^[\u4e00-\u9fff]{2,4}$"
ADDRESS_HINT = r"(省|市|区|县|镇|乡|村|路|街|号|弄|栋|单元|室)"


_RESIDENT_ID_PARTS = r"^" + r"([0-9])" * 17 + r"([0-9X])$"


def is_resident_id(expr: pl.Expr) -> pl.Expr:
    """True for an 18-character resident ID with a plausible birth date and valid check digit
    (full-width digits, as some systems type them, read as digits)."""
    text = expr.cast(pl.String).str.normalize("NFKC").str.strip_chars().str.to_uppercase()
    # One regex splits the 18 characters; the arithmetic then reads the struct's fields, so
    # nothing is recomputed per digit (17 slices took three times as long).
    digit = [pl.field(str(i + 1)).cast(pl.Int32) for i in range(17)]
    total = pl.sum_horizontal([d * w for d, w in zip(digit, RESIDENT_ID_WEIGHTS, strict=True)])
    expected = look_up(total % 11, list(range(11)), list(RESIDENT_ID_CHECK))
    birth = pl.concat_str([pl.field(str(i)) for i in range(7, 15)]).str.strptime(
        pl.Date, "%Y%m%d", strict=False
    )
    valid = (
        (pl.field("18") == expected) & birth.is_not_null() & (birth.dt.year() >= 1800)
    ).fill_null(False)
    shaped = pl.when(text.str.contains(r"^[0-9]{17}[0-9X]$")).then(text)  # others skip the split
    return (
        shaped.str.extract_groups(_RESIDENT_ID_PARTS)
        .struct.with_fields(valid.alias("valid"))
        .struct.field("valid")
        .fill_null(False)
    )


def resident_id_check_char(first17: str) -> str:
    """Return the check character for 17 digits (reference implementation for tests)."""
    total = sum(int(c) * w for c, w in zip(first17, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK[total % 11]


def _matches(pattern: str):
    def check(expr: pl.Expr) -> pl.Expr:
        return expr.cast(pl.String).str.strip_chars().str.contains(pattern).fill_null(False)

    return check


is_mobile = _matches(MOBILE)
is_landline = _matches(LANDLINE)
is_email = _matches(EMAIL)
is_ipv4 = _matches(IPV4)
is_icd10_shape = _matches(ICD10_SHAPE)


def is_bank_card(expr: pl.Expr) -> pl.Expr:
    """True for 16-19 digits passing the Luhn check (vectorised)."""
    s = expr.cast(pl.String).str.strip_chars()
    shape = s.str.contains(BANK_CARD).fill_null(False)
    rev = s.str.reverse()
    terms = []
    for i in range(19):
        d = rev.str.slice(i, 1).cast(pl.Int32, strict=False).fill_null(0)
        if i % 2 == 1:
            d = pl.when(d * 2 > 9).then(d * 2 - 9).otherwise(d * 2)
        terms.append(d)
    return shape & (pl.sum_horizontal(terms) % 10 == 0)


def looks_like_address(expr: pl.Expr) -> pl.Expr:
    """True for Chinese text with at least two address words (省/市/区/路/号 ...)."""
    s = expr.cast(pl.String)
    return (s.str.count_matches(ADDRESS_HINT) >= 2).fill_null(False) & (
        s.str.len_chars() >= 6
    ).fill_null(False)


# The 100 most common Chinese surnames (Ministry of Public Security, 2020 ranking); a
# 2-4 character value starting with one of them is a candidate personal name.
CHINESE_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蔡蒋余于杜叶程"
    "魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾"
    "龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
)


def is_chinese_name(expr: pl.Expr) -> pl.Expr:
    """True for 2-4 Han characters starting with a common surname."""
    s = expr.cast(pl.String).str.strip_chars()
    return s.str.contains(CHINESE_NAME).fill_null(False) & s.str.slice(0, 1).is_in(
        list(CHINESE_SURNAMES)
    ).fill_null(False)


_SEX_CANONICAL = {
    "M": "M",
    "F": "F",
    "MALE": "M",
    "FEMALE": "F",
    "男": "M",
    "女": "F",
    "1": "M",
    "2": "F",
    # OMOP CDM gender concepts (OMOP Gender vocabulary: 8507 MALE, 8532 FEMALE).
    "8507": "M",
    "8532": "F",
}


def canonical_sex(expr: pl.Expr) -> pl.Expr:
    """M, F, or null: 男/女, male/female, the GB/T 2261.1 codes 1/2 and the OMOP gender
    concepts 8507/8532, any case."""
    return look_up(expr.cast(pl.String).str.strip_chars().str.to_uppercase(), _SEX_CANONICAL)


#: A person's name written in Latin letters (English names, Pinyin): one or two words of
#: letters, apostrophes and hyphens, no digits.
LATIN_NAME = r"^[A-Za-z][A-Za-z'\-]{1,24}(?: [A-Za-z][A-Za-z'\-]{1,24})?$"
is_latin_name = _matches(LATIN_NAME)


#: Code shapes of the vocabularies a diagnosis column may mix (OMOP source values often hold
#: ICD-10 for some rows and SNOMED CT for others). ICD-9-CM: three digits with up to two
#: decimals, or V/E codes; SNOMED CT: a 6-18 digit concept id; LOINC: digits, hyphen, check
#: digit.
ICD9_SHAPE = r"^(?:\d{3}(?:\.?\d{1,2})?|[Vv]\d{2}(?:\.?\d{1,2})?|[Ee]\d{3}(?:\.?\d)?)$"
SNOMED_SHAPE = r"^\d{6,18}$"
LOINC_SHAPE = r"^\d{1,7}-\d$"
VOCABULARIES = ("ICD10", "ICD9", "SNOMED", "LOINC", "other")


def vocabulary(expr: pl.Expr) -> pl.Expr:
    """The vocabulary each code's shape belongs to: ICD10, ICD9, SNOMED, LOINC or other.

    ICD-10 first (``E11``), then ICD-9 (``250.00``), then LOINC and SNOMED concept ids."""
    s = expr.cast(pl.String).str.strip_chars()
    return (
        pl.when(s.str.contains(ICD10_SHAPE)).then(pl.lit("ICD10"))
        .when(s.str.contains(ICD9_SHAPE)).then(pl.lit("ICD9"))
        .when(s.str.contains(LOINC_SHAPE)).then(pl.lit("LOINC"))
        .when(s.str.contains(SNOMED_SHAPE)).then(pl.lit("SNOMED"))
        .when(s.is_not_null() & (s != "")).then(pl.lit("other"))
    )  # fmt: skip


def label_text(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """A label's value as text in which spellings of one number are one value: "1", "1.0",
    " 1 ", "1e0" and the number 1.0 are all "1" (whole numbers below 10^15, written without a
    decimal point; exports mix them when a column passed through a spreadsheet); any other
    value as written, trimmed."""
    if dtype.is_numeric():
        number, written = value.cast(pl.Float64), value.cast(pl.String)
    else:
        written = value.cast(pl.String).str.strip_chars()
        number = written.cast(pl.Float64, strict=False)
    whole = number.is_finite() & (number == number.round(0)) & (number.abs() < 1e15)
    return pl.when(whole).then(number.cast(pl.Int64).cast(pl.String)).otherwise(written)


def share(flags: pl.Series) -> float:
    """The share of true values in a boolean series (0.0 when it is empty)."""
    mean = cast("float | None", flags.mean())
    return 0.0 if mean is None else float(mean)
