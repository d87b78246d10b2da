"""Direct identifiers: which columns hold ID numbers, phones, names, addresses and the like.

Two sources of evidence, as the privacy gate needs both:

* the column's role in the spec (a column called 身份证号 or marked ``direct_identifier``),
  and medical record or admission numbers used as the patient id (病案号, 住院号, MRN);
* the values: the first rows of every text and integer column are scanned with the patterns
  of :mod:`medvalue.core._patterns`; a column where a pattern matches is then counted exactly
  over the whole table, where the table is (on Spark, in the executors: ``Dataset.sums``). Free-text columns are flagged as possible carriers and scanned for ID
  numbers, phones and e-mail addresses written inside the text.

Only table, column, kind and count are reported, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from medvalue.core import _patterns as patterns
from medvalue.read._dataset import Dataset
from medvalue.read._spec import ColumnSpec

#: Expressions evaluated in one select when scanning the sample (see _candidates).
_EXPRESSIONS_PER_SELECT = 400
#: Rows per table scanned to decide which columns to count exactly.
SCAN_SAMPLE_ROWS = 20_000

#: Kinds whose patterns are specific enough that one match in a column is evidence.
_PRECISE: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "resident_id": patterns.is_resident_id,
    "phone": lambda e: patterns.is_mobile(e) | patterns.is_landline(e),
    "email": patterns.is_email,
    "ip_address": patterns.is_ipv4,
}
#: Kinds whose patterns also match ordinary values (a diagnosis such as 高血压 starts with a
#: surname; a 16-digit number passes Luhn one time in ten): a column qualifies only when
#: most of its sampled values match.
_BROAD: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "name": patterns.is_chinese_name,
    "english_name": lambda e: (
        e.cast(pl.String)
        .str.strip_chars()
        .str.contains(r"^[A-Z][a-z]+(?:[ -][A-Z][a-z]+){1,2}$")
        .fill_null(False)
    ),
    "address": patterns.looks_like_address,
    "bank_card": patterns.is_bank_card,
}
_BROAD_SHARE = 0.5
#: An identifier inside text is a whole token: not a run of digits inside a UUID, a hash or a
#: longer number (FHIR resource ids hold 11-digit runs such as 13569764446).
_TOKEN_START = r"(^|[^0-9A-Za-z])"
_TOKEN_END = r"([^0-9A-Za-z]|$)"
_IN_TEXT_CORES: dict[str, str] = {
    "resident_id": r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx]",
    "phone": r"1[3-9]\d{9}",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
}
#: Identifiers written inside free text: kind -> pattern; group 2 is the identifier, groups
#: 1 and 3 the characters around it (kept when it is masked: see :data:`MASK_WITH`).
IN_TEXT_PATTERNS: dict[str, str] = {
    kind: f"{_TOKEN_START}({core}){_TOKEN_END}" for kind, core in _IN_TEXT_CORES.items()
}


def mask_with(replacement: str) -> str:
    """The replacement for :data:`IN_TEXT_PATTERNS` that keeps the surrounding characters."""
    return "${1}" + replacement + "${3}"


#: Roles never scanned for names or addresses: their values are codes, places or wards.
_NOT_PERSONAL = ("diagnosis_code", "diagnosis_text", "site", "region", "sex", "label")
#: Patient-id columns named like a hospital's own record numbers are identifiers themselves.
_RECORD_NUMBER = re.compile(
    r"病案号|病历号|住院号|门诊号|就诊卡号|^mrn$|medicalrecord|admissionno|inpatientno", re.I
)


@dataclass(frozen=True)
class IdentifierFinding:
    """One column that holds (or may hold) direct identifiers."""

    table: str
    column: str
    kind: str  # resident_id | phone | email | name | english_name | address | bank_card |
    #            ip_address | medical_record_number | insurance_id | free_text | ...
    count: int  # rows holding such a value (for free text: non-empty rows)
    evidence: str  # role | values | text
    in_text: bool = False  # found inside free text rather than as the whole value

    def to_dict(self) -> dict[str, object]:
        return {
            "table": self.table,
            "column": self.column,
            "kind": self.kind,
            "count": self.count,
            "evidence": self.evidence,
            "in_text": self.in_text,
        }


def scan_identifiers(
    ds: Dataset, sample_rows: int = SCAN_SAMPLE_ROWS
) -> tuple[IdentifierFinding, ...]:
    """Every direct-identifier column of every table, with exact counts."""
    out: list[IdentifierFinding] = []
    for t in ds.table_names:
        out += _scan_table(ds, t, sample_rows)
    return tuple(out)


def _scan_table(ds: Dataset, table: str, sample_rows: int) -> list[IdentifierFinding]:
    tspec = ds.table_spec(table)
    head = ds.head(table, sample_rows)
    schema = head.schema
    # Codes of a vocabulary (drug, procedure, lab codes) are not scanned: an 11-digit drug
    # code reads like a mobile number.
    scannable = [
        c
        for c, dtype in schema.items()
        if (dtype == pl.String or dtype.is_integer())
        and tspec.columns.get(c, ColumnSpec()).role != "code"
    ]
    candidates = _candidates(head, scannable, tspec.columns)
    # By role: the spec says the column is an identifier (or free text) whatever the sample.
    for c, cspec in tspec.columns.items():
        kind = _kind_by_role(c, cspec)
        if kind is not None:
            candidates.setdefault((c, kind, False), "role")
    if not candidates:
        return []
    exprs = []
    keys = list(candidates)
    for i, (c, kind, in_text) in enumerate(keys):
        exprs.append(
            _count_expr(ds, table, c, kind, in_text, candidates[(c, kind, in_text)]).alias(str(i))
        )
    counts = ds.sums(table, exprs)  # the whole table, where it is
    found = []
    for i, (c, kind, in_text) in enumerate(keys):
        n = counts[str(i)]
        if n:
            found.append(
                IdentifierFinding(table, c, kind, int(n), candidates[(c, kind, in_text)], in_text)
            )
    # A column found by role and by value under the same kind is reported once.
    found.sort(key=lambda f: (f.column, f.kind, f.in_text, f.evidence != "role"))
    unique: dict[tuple[str, str, bool], IdentifierFinding] = {}
    for f in found:
        unique.setdefault((f.column, f.kind, f.in_text), f)
    return list(unique.values())


def _kind_by_role(column: str, cspec: ColumnSpec) -> str | None:
    if cspec.role == "direct_identifier":
        return cspec.kind or "identifier"
    if cspec.role == "free_text":
        return "free_text"
    if cspec.role in ("patient_id", "encounter_id") and _RECORD_NUMBER.search(
        re.sub(r"[\s_\-]", "", column)
    ):
        return "medical_record_number"
    return None


def _candidates(
    sample: pl.DataFrame, columns: list[str], specs: Mapping[str, ColumnSpec]
) -> dict[tuple[str, str, bool], str]:
    """(column, kind, in_text) pairs whose ``sample`` (a table's first rows) shows
    identifiers, scanned in one query."""
    if not columns:
        return {}
    exprs = []
    for c in columns:
        s = pl.col(c).cast(pl.String).str.strip_chars()
        present = (s.is_not_null() & (s != "")).sum().alias(f"{c}\x1fn")
        exprs.append(present)
        for kind, check in _PRECISE.items():
            exprs.append(check(s).sum().alias(f"{c}\x1f{kind}\x1f0"))
        role = specs.get(c, ColumnSpec()).role
        if role not in _NOT_PERSONAL:
            for kind, check in _BROAD.items():
                exprs.append(check(s).sum().alias(f"{c}\x1f{kind}\x1f0"))
        if role in ("free_text", "diagnosis_text", "other", "quasi_identifier"):
            for kind, pattern in IN_TEXT_PATTERNS.items():
                exprs.append(
                    s.str.contains(pattern).fill_null(False).sum().alias(f"{c}\x1f{kind}\x1f1")
                )
    # The expressions run in slices of columns, since a select of thousands of expressions
    # costs more than linearly (a 1,000-column table: 40 s in one).
    row: dict[str, Any] = {}
    for i in range(0, len(exprs), _EXPRESSIONS_PER_SELECT):
        row.update(sample.select(exprs[i : i + _EXPRESSIONS_PER_SELECT]).row(0, named=True))
    out: dict[tuple[str, str, bool], str] = {}
    for key, n in row.items():
        parts = key.split("\x1f")
        if len(parts) != 3 or not n:
            continue
        c, kind, in_text = parts[0], parts[1], parts[2] == "1"
        filled: int = row[f"{c}\x1fn"] or 1
        if kind in _BROAD and n / filled < _BROAD_SHARE:
            continue
        if in_text and (c, kind, False) in out:
            continue  # the whole value already is the identifier
        out[(c, kind, in_text)] = "text" if in_text else "values"
    return out


def _count_expr(
    ds: Dataset, table: str, column: str, kind: str, in_text: bool, evidence: str
) -> pl.Expr:
    s = pl.col(column).cast(pl.String).str.strip_chars()
    if evidence == "role":
        # Every recorded value of an identifier column counts, whatever its shape.
        return (~ds.plans[table][column].missing()).fill_null(False).sum()
    if in_text:
        return s.str.contains(IN_TEXT_PATTERNS[kind]).fill_null(False).sum()
    check = _PRECISE.get(kind) or _BROAD[kind]
    return check(s).sum()
