"""The dataset spec: which column plays which role, how tables link, and what the data is.

A spec is inferred from column names (English and Chinese) and from value patterns, each
role carrying its reason and a confidence; a YAML spec written by the user overrides the
inference column by column. ``medvalue spec PATH`` writes a starter spec to edit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from medvalue.core import _dates as dates
from medvalue.core import _patterns as patterns
from medvalue.core import _units as units
from medvalue.core._dates import parse_datetime
from medvalue.core._errors import SpecError
from medvalue.core._files import load_user_yaml
from medvalue.read._refined import product_tables
from medvalue.read._tables import RawData

ROLES = (
    "patient_id",
    "encounter_id",
    "diagnosis_code",
    "diagnosis_text",
    "label",
    "admission_date",
    "discharge_date",
    "procedure_date",
    "birth_date",
    "death_date",
    "event_date",
    "sex",
    "age",
    "region",
    "site",
    "measurement",
    "duration",
    "row_index",
    "quasi_identifier",
    "direct_identifier",
    "free_text",
    "code",
    "other",
)
DATE_ROLES = (
    "admission_date",
    "discharge_date",
    "procedure_date",
    "birth_date",
    "death_date",
    "event_date",
)
#: Code systems read as ICD codes (None: the spec did not say, ICD-10 is assumed; mixed:
#: each value's shape says its vocabulary, and the ICD ones are read as ICD).
ICD_CODE_SYSTEMS = (None, "icd10", "icd10cm", "icd9", "mixed")
#: Roles whose values never appear in any output (no top values, no min/max).
HIDDEN_ROLES = ("patient_id", "encounter_id", "direct_identifier", "free_text")
#: Roles that are quasi-identifiers unless the spec says otherwise.
QUASI_ROLES = ("age", "birth_date", "sex", "region", "admission_date", "discharge_date")

META_FIELDS = (
    "title",
    "title_zh",
    "hospital",
    "hospital_tier",
    "province",
    "city",
    "specialty",
    "modality",
    "licence_intent",
)


@dataclass(frozen=True)
class ColumnSpec:
    """The role of one column, and why we think so."""

    role: str = "other"
    #: name | pattern (the values) | both (name and values agree) | conflict (they disagree
    #: and the values won) | spec | default
    reason: str = "default"
    confidence: float = 0.0
    quasi: bool = False
    kind: str | None = None  # direct identifier kind, e.g. resident_id, name, phone
    code_system: str | None = None  # diagnosis codes: icd10
    position: str | None = None  # diagnosis codes: primary | secondary
    measure: str | None = None  # measurements: key into the plausibility rules
    unit: str | None = None
    description: str | None = None
    #: The evidence behind the role in one sentence (what the name and the values say).
    note: str | None = None
    #: The role the name suggested where the values overruled it (reason ``conflict``).
    named_as: str | None = None
    #: Dates: ``dmy`` / ``mdy`` / ``ymd`` for year-last forms, or a strftime format.
    date_format: str | None = None
    #: Labels: the value that counts as the event (others are non-events, or competing
    #: events when a time column makes the label time-to-event).
    event: str | None = None

    @property
    def is_icd(self) -> bool:
        """A diagnosis code column in ICD (10, 10-CM or 9), not SNOMED or a source code."""
        return self.role == "diagnosis_code" and self.code_system in ICD_CODE_SYSTEMS


@dataclass(frozen=True)
class TableSpec:
    """The columns of one table and what the table holds."""

    kind: str = "records"  # patients | encounters | diagnoses | labs | procedures | records
    columns: Mapping[str, ColumnSpec] = field(default_factory=dict)

    def with_role(self, role: str) -> list[str]:
        return [name for name, c in self.columns.items() if c.role == role]

    @property
    def icd_code_columns(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.is_icd]

    def first(self, role: str) -> str | None:
        names = self.with_role(role)
        return names[0] if names else None

    @property
    def quasi_identifiers(self) -> list[str]:
        return [name for name, c in self.columns.items() if c.quasi]


@dataclass(frozen=True)
class Link:
    """``table.column`` refers to ``to_table.to_column`` (a foreign key)."""

    table: str
    column: str
    to_table: str
    to_column: str


@dataclass(frozen=True)
class DatasetSpec:
    """Everything medvalue needs to know about a dataset besides its rows."""

    tables: Mapping[str, TableSpec]
    links: tuple[Link, ...] = ()
    metadata: Mapping[str, str | None] = field(default_factory=dict)
    #: The spec's ``refine:`` section (see :data:`REFINE_KEYS`), checked by :func:`load_spec`.
    refine: Mapping[str, Any] = field(default_factory=dict)
    #: The spec's ``assess:`` section (options of :func:`medvalue.assess`), with paths made
    #: relative to the spec's folder; checked when the options are built.
    assess: Mapping[str, Any] = field(default_factory=dict)
    #: The spec file the user gave (None: inferred only), for messages about its sections.
    source: str | None = field(default=None, compare=False)

    @property
    def title(self) -> str | None:
        return self.metadata.get("title")

    def columns_with_role(self, role: str) -> list[tuple[str, str]]:
        return [(t, c) for t, ts in self.tables.items() for c in ts.with_role(role)]

    def role_of(self, table: str, column: str) -> ColumnSpec:
        return self.tables[table].columns.get(column, ColumnSpec())

    def to_dict(self) -> dict[str, Any]:
        tables: dict[str, Any] = {}
        for tname, ts in self.tables.items():
            cols = {}
            for cname, c in ts.columns.items():
                d = {k: v for k, v in asdict(c).items() if v not in (None, False)}
                if d.get("reason") in ("default",):
                    d.pop("reason")
                cols[cname] = d
            tables[tname] = {"kind": ts.kind, "columns": cols}
        out: dict[str, Any] = {
            "metadata": {k: self.metadata.get(k) for k in META_FIELDS},
            "tables": tables,
            "links": [
                {"from": f"{lk.table}.{lk.column}", "to": f"{lk.to_table}.{lk.to_column}"}
                for lk in self.links
            ],
        }
        if self.refine:
            out["refine"] = dict(self.refine)
        if self.assess:
            out["assess"] = dict(self.assess)
        return out

    def to_yaml(self) -> str:
        header = (
            "# medvalue dataset spec. Edit roles, then pass it with --spec.\n"
            f"# roles: {', '.join(ROLES)}\n"
            "# 'reason' and 'confidence' say why a role was inferred; a column you list here\n"
            "# overrides inference (set reason: spec or drop the field).\n"
        )
        return header + yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False)


# --- name rules -----------------------------------------------------------------------------

#: A name rule's role for "time" headers, which the values settle (a date or a duration).
_DATE_OR_DURATION = "date_or_duration"

# (role, extra attributes, pattern on the normalised name). Order matters: first match wins.
# Names are lower-cased with spaces, underscores, dashes and brackets removed before matching.
_NAME_RULES: tuple[tuple[str, dict[str, Any], str], ...] = (
    (
        "direct_identifier",
        {"kind": "resident_id"},
        r"身份证|证件号|idcard|idnumber|nationalid|residentid|ssn",
    ),
    (
        "direct_identifier",
        {"kind": "phone"},
        r"手机|电话|联系方式|phone|mobile|telephone|tel$|contactnumber",
    ),
    ("direct_identifier", {"kind": "email"}, r"邮箱|email|e?mail"),
    ("direct_identifier", {"kind": "address"}, r"住址|地址|家庭住址|现住址|address|street"),
    (
        "direct_identifier",
        {"kind": "name"},
        # Person names by header words: 姓名, 患者姓名, surname, fake_first_name,
        # patient_last_name ... but not clinic_name, drug_name or test_name.
        r"^(患者|病人|家属|联系人|医生|护士)?(姓名|名字|姓氏|姓|名)$|联系人|^name$|^(sur|fore)name"
        r"|(first|last|given|family|sur|middle|full|maiden|nick|fore|patient|person|mother|father"
        r"|doctor|physician|nurse)name",
    ),
    (
        "direct_identifier",
        {"kind": "insurance_id"},
        r"医保卡号|社保卡号|医保号|insuranceid|medicareno",
    ),
    ("direct_identifier", {"kind": "bank_card"}, r"银行卡|bankcard|cardno"),
    (
        "patient_id",
        {},
        r"患者(id|编号|号)|病人(id|编号|号)|病案号|病历号|住院号|门诊号|^patientid$|^pid$|^mrn$|^personid$|^subjectid$|^patientno$|^caseid$|^id$",
    ),
    (
        "encounter_id",
        {},
        r"就诊(id|号|编号|流水号)|住院(流水号|次数id)|^(encounter|visit|admission|episode)(id|no)$|^hadmid$",
    ),
    (
        "row_index",
        {},
        r"^(rownames?|unnamed:?\d*|index|idx|rowid|rownum(ber)?|row|序号|行号|indexlevel\d+)$",
    ),
    (
        "birth_date",
        {},
        r"出生(日期|年月|时间)|生日|^dob|dateofbirth|birth(date|day|dt|d)?$|^birth(date|dt)",
    ),
    ("death_date", {}, r"死亡日期|死亡时间|^(death|deceased)(date|datetime)?$|^dateofdeath$"),
    (
        "admission_date",
        {},
        r"入院(日期|时间)|^(admission|admit|admit?date|admissiondate|admittime|indate)",
    ),
    ("discharge_date", {}, r"出院(日期|时间)|^(discharge|dischargedate|dischtime|outdate)"),
    ("procedure_date", {}, r"手术(日期|时间)|操作日期|^(procedure|operation|surgery)(date|time)"),
    (
        "diagnosis_code",
        {"code_system": "icd10", "position": "primary"},
        r"(主要|主)诊断(编码|代码|icd)|^(primary|principal|main)(dx|diag|diagnosis)(code)?$",
    ),
    (
        "diagnosis_code",
        {"code_system": "icd10", "position": "secondary"},
        r"(其他|次要)诊断(编码|代码)|^(secondary|other)(dx|diag|diagnosis)(code)?$",
    ),
    (
        "diagnosis_code",
        {"code_system": "icd10"},
        r"诊断(编码|代码)|icd|^(dx|diag|diagnosis)(code)?$|^(comorbidity|condition)(code)?$",
    ),
    ("diagnosis_text", {}, r"诊断(名称|描述)?$|^(diagnosis|dx)(name|text|description)$"),
    ("sex", {}, r"^(性别|sex|gender)$"),
    ("age", {}, r"^(年龄|age|ageyears|ageatadmission|入院年龄)$"),
    (
        "region",
        {},
        r"省份|城市|地区|区县|乡镇|户籍|籍贯|^(province|city|region|county|district|township|postcode|zipcode|邮编)$",
    ),
    ("site", {}, r"科室|病区|院区|^(department|dept|ward|site|hospital)$"),
    (
        "free_text",
        {},
        r"备注|主诉|现病史|既往史|病程|病历摘要|医嘱|描述$|^(notes?|comments?|remarks?|freetext|narrative|history)$",
    ),
    (
        "quasi_identifier",
        {},
        r"民族|职业|婚姻|^(ethnicity|race|occupation|marital(status)?|nationality)$",
    ),
    (
        "duration",
        {},
        r"days?$|duration|lengthofstay|^los$|^futime$|followup|随访|生存期|时长|天数|住院日$",
    ),
    ("event_date", {}, r"日期$|date$|datetime$|dt$"),
    # "time" names either a moment (检查时间, event time) or a span (futime, wait.time,
    # 生存时间): the values decide, see _decide().
    (_DATE_OR_DURATION, {}, r"时间$|time$"),
)

# Laboratory and vital-sign names -> measure key of the plausibility rules table.
_MEASURE_RULES: tuple[tuple[str, str], ...] = (
    ("prothrombin_time", r"凝血酶原时间|protime|prothrombin"),
    ("bilirubin", r"胆红素|tbil|bilirubin|^t?bili$"),
    ("inr", r"^inr$|国际标准化比值"),
    ("creatinine", r"肌酐|creatinine|^cr$|^crea$|^creat$|^scr$"),
    ("hemoglobin", r"血红蛋白|ha?emoglobin|^hgb$|^hb$"),
    ("cholesterol", r"胆固醇|cholesterol|^chol$|^tc$"),
    ("platelets", r"血小板|platelet|^plt$"),
    ("sodium", r"^钠$|血钠|sodium|^na$"),
    ("albumin", r"白蛋白|albumin|^alb$"),
    ("glucose", r"血糖|葡萄糖|glucose|^glu$"),
    ("systolic_bp", r"收缩压|systolic|^sbp$"),
    ("diastolic_bp", r"舒张压|diastolic|^dbp$"),
    ("heart_rate", r"心率|脉搏|heartrate|^hr$|pulse"),
    ("bmi", r"^bmi$|体重指数"),
    ("stenosis_percent", r"狭窄率|狭窄程度|stenosis"),
)

# Outcome names: a label candidate is flagged but the user confirms it with --label.
_LABEL_RULE = r"结局|转归|预后|死亡$|^(outcome|label|target|died|death|mortality|event|status)(\d+d|30d|90d)?$|stroke.*death|30day|90day|^y$"


def _normalise_name(name: str) -> str:
    return re.sub(r"[\s_\-()（）\[\]【】/.]+", "", name).lower()


def _rule_for_name(name: str) -> ColumnSpec | None:
    n = _normalise_name(name)
    if re.search(r"(units?|单位)$", n) and len(n) > 5:
        return ColumnSpec("other", "name", 0.6, note="the unit of another column")
    for key, pattern in _MEASURE_RULES:
        if re.search(pattern, n):
            return ColumnSpec("measurement", "name", 0.85, measure=key)
    if re.search(_LABEL_RULE, n):
        return ColumnSpec("label", "name", 0.6)
    for role, extra, pattern in _NAME_RULES:
        if re.search(pattern, n):
            confidence = 0.6 if role == "event_date" else 0.9
            quasi = role in QUASI_ROLES or role == "quasi_identifier"
            return ColumnSpec(role, "name", confidence, quasi=quasi, **extra)
    return None


# --- value rules ----------------------------------------------------------------------------

_PATTERN_CHECKS: tuple[tuple[str, dict[str, Any], Any], ...] = (
    ("direct_identifier", {"kind": "resident_id"}, patterns.is_resident_id),
    ("direct_identifier", {"kind": "phone"}, patterns.is_mobile),
    ("direct_identifier", {"kind": "phone"}, patterns.is_landline),
    ("direct_identifier", {"kind": "email"}, patterns.is_email),
    ("direct_identifier", {"kind": "ip_address"}, patterns.is_ipv4),
    ("direct_identifier", {"kind": "name"}, patterns.is_chinese_name),
    ("direct_identifier", {"kind": "address"}, patterns.looks_like_address),
    ("diagnosis_code", {"code_system": "icd10"}, patterns.is_icd10_shape),
)
_PATTERN_SHARE = 0.8
_SAMPLE_ROWS = 5000
#: Share of sampled values that must read as dates (numbers) for the values to say so.
_VALUE_SHARE = 0.95
#: A column of name-like words is a column of names when it has at least this many distinct
#: values and no value covers more than this share of rows (categories repeat, names spread).
_NAME_MIN_DISTINCT = 50
_NAME_MAX_TOP_SHARE = 0.05
#: A date column whose values lie this many years before the row's other dates is a birth date.
_BIRTH_GAP_YEARS = 12


#: The stacked columns' names and values (names no table's column can clash with).
STACKED_COLUMN, STACKED_VALUE = "\x1fcolumn", "\x1fvalue"


def _pattern_shares(sample: pl.DataFrame) -> dict[str, dict[Any, float]]:
    """What the values of every string column look like: the share of non-null sample values
    matching each identifier pattern, reading as a date (with separators, or only as an Excel
    serial number), as a plain number, as a name-like word, and the length, distinctness and
    top-value share.

    The string columns are stacked into one, so each pattern's regex is compiled once
    rather than once per column (the fixed cost of inferring a wide table), and each
    distinct value is tested once, weighted by how often it occurs.
    """
    string_cols = [c for c, t in sample.schema.items() if t == pl.String]
    if not string_cols:
        return {}
    col = pl.col(STACKED_VALUE).str.strip_chars()
    present = col.is_not_null() & (col != "")
    number = col.str.replace_all(",", "", literal=True).cast(pl.Float64, strict=False)
    serial = dates.is_serial(col)
    flags = [
        (check(col) & present).alias(str(i)) for i, (_, _, check) in enumerate(_PATTERN_CHECKS)
    ]
    flags += [
        (parse_datetime(col).is_not_null() & present & ~serial).alias("date"),
        (serial & present).alias("serial"),
        (number.is_not_null() & present).alias("number"),
        (patterns.is_latin_name(col) & present).alias("latin_name"),
        (col.str.contains(r"^[-+]?\d") & present).alias("leading_number"),
        (col.str.contains(r"^(?s:\{.*\}|\[.*\])$") & present).alias("json"),
    ]
    named = ["date", "serial", "number", "latin_name", "leading_number", "json"]
    stacked = (
        sample.lazy()
        .select(string_cols)
        .unpivot(on=string_cols, variable_name=STACKED_COLUMN, value_name=STACKED_VALUE)
        .group_by(STACKED_COLUMN, STACKED_VALUE)
        .agg(pl.len().alias("rows"))
        .with_columns(*flags, col.str.len_chars().alias("len"), present.alias("present"))
    )
    rows = pl.col("rows")
    n = (pl.col("present") * rows).sum()
    shares = stacked.group_by(STACKED_COLUMN).agg(
        *[(pl.col(str(i)) * rows).sum().truediv(n) for i in range(len(_PATTERN_CHECKS))],
        *[(pl.col(k) * rows).sum().truediv(n) for k in named],
        (pl.col("len") * rows).sum().truediv(rows.filter(pl.col("len").is_not_null()).sum()),
        # Distinct values over rows: nulls and blanks count as a value, as they always have.
        col.n_unique().truediv(rows.sum()).alias("distinct"),
        pl.col("present").sum().alias("n_distinct"),
        rows.filter(pl.col("present")).max().truediv(n).alias("top"),
        n.alias("n"),
    )
    out: dict[str, dict[Any, float]] = {c: {} for c in string_cols}
    for row in shares.collect().iter_rows(named=True):
        c = row.pop(STACKED_COLUMN)
        for what, value in row.items():
            key = int(what) if what.isdigit() else what
            out[c][key] = float(value) if value is not None else 0.0
    return out


def _typed_shares(sample: pl.DataFrame) -> dict[str, dict[Any, float]]:
    """The same evidence for columns a binary format typed already (Parquet, Excel)."""
    out: dict[str, dict[Any, float]] = {}
    for c, dtype in sample.schema.items():
        n = float(sample[c].drop_nulls().len())
        if dtype.is_temporal():
            out[c] = {"date": 1.0, "number": 0.0, "n": n}
        elif dtype.is_numeric():
            out[c] = {"date": 0.0, "number": 1.0, "n": n}
    return out


def _value_kind(stats: Mapping[Any, float]) -> str:
    """date | number | text | empty: what most sampled values of a column are."""
    if not stats.get("n"):
        return "empty"
    if stats.get("date", 0.0) >= _VALUE_SHARE:
        return "date"
    if stats.get("number", 0.0) >= _VALUE_SHARE:
        return "number"
    return "text"


def _rule_for_values(stats: Mapping[Any, float]) -> ColumnSpec | None:
    for i, (role, extra, _) in enumerate(_PATTERN_CHECKS):
        share = stats.get(i, 0.0)
        if share >= _PATTERN_SHARE:
            return ColumnSpec(role, "pattern", round(share, 3), **extra)
    if stats.get("json", 0.0) >= _PATTERN_SHARE:
        # Lists and records as JSON text: a contact record holds a name and a phone number
        # no pattern sees inside it, so its values are never shown.
        return ColumnSpec(
            "free_text", "pattern", round(stats["json"], 3), kind=JSON_TEXT,
            note="JSON text (lists or records): its values are never shown",
        )  # fmt: skip
    if stats.get("date", 0.0) >= _VALUE_SHARE:
        return ColumnSpec("event_date", "pattern", round(stats["date"], 3))
    if (
        stats.get("latin_name", 0.0) >= 0.9
        and stats.get("n_distinct", 0.0) >= _NAME_MIN_DISTINCT
        and stats.get("top", 1.0) <= _NAME_MAX_TOP_SHARE
    ):
        share = round(stats["latin_name"], 3)
        return ColumnSpec(
            "direct_identifier", "pattern", share, kind="name",
            note=f"{stats['n_distinct']:.0f} distinct name-like words, none common",
        )  # fmt: skip
    if stats.get("len", 0.0) >= 30 and stats.get("distinct", 0.0) >= 0.5:
        return ColumnSpec("free_text", "pattern", 0.7)
    return None


_TIME_WORDS = re.compile(r"time|时间|时长|days?$|天|duration|los$|followup|随访", re.I)


def _decide(
    column: str, by_name: ColumnSpec | None, by_value: ColumnSpec | None, stats: Mapping[Any, float]
) -> ColumnSpec:
    """The role of a column from what its name and its values say. A role from the name must
    be confirmed by the values: when most sampled values contradict it, the values win and
    the reason says ``conflict`` with a note."""
    kind = _value_kind(stats)
    share = {"date": stats.get("date", 0.0), "number": stats.get("number", 0.0)}
    if by_value is not None and by_value.role == "direct_identifier":
        # What a column holds beats what it is called: an ID number is an ID number.
        agree = by_name is not None and by_name.role == "direct_identifier"
        return replace(by_value, reason="both") if agree else by_value
    if by_value is not None and by_value.kind == JSON_TEXT:
        # Whatever it is called, JSON text may hold identifiers: it stays hidden.
        if by_name is None or by_name.role in ("free_text", "direct_identifier"):
            return by_name or by_value
        return replace(by_value, reason="conflict", named_as=by_name.role)
    if by_name is None:
        return by_value if by_value is not None else ColumnSpec()
    role = by_name.role
    if role == _DATE_OR_DURATION:
        if kind == "number":
            return replace(by_name, role="duration", reason="both", quasi=False,
                           note=f"a time span: {share['number']:.0%} of values are numbers")  # fmt: skip
        by_name = replace(by_name, role="event_date")  # then judged as any date name
        role = "event_date"
    if role in DATE_ROLES:
        if kind == "date":
            return replace(by_name, reason="both")
        if kind == "number" and stats.get("serial", 0.0) >= _VALUE_SHARE:
            return replace(by_name, reason="both", note="Excel serial day numbers")
        if kind == "number":
            to = "duration" if _TIME_WORDS.search(column) else "other"
            return replace(
                by_name, role=to, reason="conflict", quasi=False, confidence=0.8, named_as=role,
                note=f"the name suggests a date, but {share['number']:.0%} of values are plain numbers",
            )  # fmt: skip
        if kind == "text" and share["date"] < 0.2:
            return replace(
                by_name, role="other", reason="conflict", quasi=False, confidence=0.6, named_as=role,
                note=f"the name suggests a date, but only {share['date']:.0%} of values read as dates",
            )  # fmt: skip
        return by_name
    if role in ("age", "measurement", "duration") and kind == "date":
        return replace(
            by_name, role="event_date", reason="conflict", quasi=False, measure=None, named_as=role,
            confidence=0.8, note=f"the name suggests a number, but {share['date']:.0%} of values are dates",
        )  # fmt: skip
    if role in ("age", "measurement", "duration") and kind == "number":
        return replace(by_name, reason="both")
    if (
        role in ("age", "measurement", "duration")
        and kind == "text"
        and stats.get("leading_number", 0.0) < 0.5
    ):
        return replace(
            by_name, role="other", reason="conflict", quasi=False, measure=None, named_as=role,
            confidence=0.6, note=f"the name suggests a number, but {1 - stats.get('leading_number', 0.0):.0%} of values are text",
        )  # fmt: skip
    if role == "row_index":
        if kind == "number":
            return replace(by_name, reason="both")
        return replace(by_name, role="other", reason="conflict", named_as=role,
                       note="the name suggests a row number, but the values are not numbers")  # fmt: skip
    if by_value is not None and by_value.role == role:
        return replace(by_name, reason="both")
    if by_value is not None and by_value.role == "diagnosis_code" and role in _TEXT_ROLES:
        # "诊断" holding I21.9, i10, E119: the codes are what a buyer counts.
        return replace(
            by_value, reason="conflict", named_as=role,
            note=f"the name suggests {role.replace('_', ' ')}, but {by_value.confidence:.0%} of values are ICD-10 codes",
        )  # fmt: skip
    return by_name


#: Roles a name gives to a column of words, which values shaped as codes overrule.
_TEXT_ROLES = ("diagnosis_text", "free_text", "other")


#: ColumnSpec.kind of a free-text column of JSON text.
JSON_TEXT = "json"


def _row_index_columns(sample: pl.DataFrame, candidates: Sequence[str]) -> set[str]:
    """Integer columns equal to the row's position (from 0 or 1) in every sampled row."""
    if not candidates or sample.height < 3:
        return set()
    position = pl.int_range(0, pl.len(), dtype=pl.Int64)
    exprs = []
    for c in candidates:
        v = pl.col(c).cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
        exprs.append(((v == position) | (v == position + 1)).all().alias(c))
    row = sample.select(exprs).row(0, named=True)
    return {c for c, ok in row.items() if ok}


def _birth_date_columns(sample: pl.DataFrame, columns: Mapping[str, ColumnSpec]) -> set[str]:
    """Date columns whose values lie decades before every other date of the same row: birth
    dates whatever they are called (a patient is born before being admitted or followed)."""
    dated = [c for c, cs in columns.items() if cs.role in DATE_ROLES and cs.role != "birth_date"]
    if len(dated) < 2 or any(cs.role == "birth_date" for cs in columns.values()):
        return set()
    typed = sample.select(
        [
            (pl.col(c) if sample.schema[c].is_temporal() else parse_datetime(pl.col(c)))
            .cast(pl.Datetime("us"))
            .alias(c)
            for c in dated
        ]
    )
    gap = pl.duration(days=round(365.25 * _BIRTH_GAP_YEARS))
    out = set()
    for c in dated:
        others = pl.min_horizontal([pl.col(o) for o in dated if o != c])
        both = pl.col(c).is_not_null() & others.is_not_null()
        share = typed.select(
            (((pl.col(c) < others - gap) & both).sum() / both.sum().clip(1)).alias("share"),
            both.sum().alias("rows"),
        ).row(0)
        if share[1] >= 10 and share[0] >= 0.95:
            out.add(c)
    return out if len(out) == 1 else set()


#: ColumnSpec.unit of a measurement whose values fit none of its known units.
UNKNOWN_UNIT = "unknown"


def _unit_column(sample: pl.DataFrame, column: str) -> str | None:
    """The unit written in a column beside a measurement (``albumin_unit``, ``白蛋白单位``):
    its commonest value, if it names a unit."""
    n = _normalise_name(column)
    for other in sample.columns:
        if (
            _normalise_name(other) in (n + "unit", n + "units", n + "单位")
            and sample[other].dtype == pl.String
        ):
            counted = sample[other].drop_nulls().str.strip_chars().value_counts(sort=True)
            if counted.height:
                return str(counted[other][0])
    return None


def _with_unit(
    column: str, cspec: ColumnSpec, values: pl.Series, written: str | None = None
) -> ColumnSpec:
    """The measurement with the unit its values are checked in (see :mod:`medvalue.core._units`):
    the spec's, else one named by the header or a unit column beside it, else the values'."""
    known = units.units_of(cspec.role, cspec.measure) or {}
    named = units.unit_from_name(written, list(known)) if written else None
    if named and not cspec.unit:
        return replace(cspec, unit=named, note=cspec.note or f"unit {named} from the unit column")
    text = values.cast(pl.String).str.replace_all(",", "", literal=True)
    numbers = text.str.extract(r"^\s*([-+]?\d+(?:\.\d+)?)", 1).cast(pl.Float64, strict=False)
    choice = units.choose_unit(column, known, numbers.drop_nulls().to_numpy(), given=cspec.unit)
    if choice.basis == "values" and choice.unit != next(iter(known)):
        note = f"values look like {choice.unit} ({choice.fit:.0%} within its range)"
        return replace(cspec, unit=choice.unit, note=cspec.note or note)
    if choice.unit is None:
        note = f"values fit none of {', '.join(known)}; not checked for plausibility"
        return replace(cspec, unit=UNKNOWN_UNIT, note=cspec.note or note)
    return replace(cspec, unit=choice.unit)


def _infer_table(name: str, frame: pl.LazyFrame) -> TableSpec:
    sample = frame.head(_SAMPLE_ROWS).collect()
    shares = {**_typed_shares(sample), **_pattern_shares(sample)}
    columns: dict[str, ColumnSpec] = {}
    for c in sample.columns:
        stats = shares.get(c, {})
        dtype = sample.schema[c]
        if dtype == pl.String:
            by_value = _rule_for_values(stats)
        elif isinstance(dtype, pl.Date | pl.Datetime) and stats.get("n"):
            # Typed as dates by the file itself (Parquet, Excel): dates whatever the name.
            by_value = ColumnSpec("event_date", "pattern", 1.0)
        else:
            by_value = None
        columns[c] = _decide(c, _rule_for_name(c), by_value, stats)
    unnamed = [
        c for c, cs in columns.items()
        if cs.role == "other" and cs.reason == "default" and _value_kind(shares.get(c, {})) == "number"
    ]  # fmt: skip
    for c in _row_index_columns(sample, unnamed):
        columns[c] = ColumnSpec("row_index", "pattern", 1.0, note="equal to the row number")
    for c in [c for c, cs in columns.items() if units.units_of(cs.role, cs.measure)]:
        columns[c] = _with_unit(c, columns[c], sample[c], _unit_column(sample, c))
    for c in _birth_date_columns(sample, columns):
        columns[c] = replace(
            columns[c], role="birth_date", quasi=True, reason="pattern",
            note=f"dates more than {_BIRTH_GAP_YEARS} years before the row's other dates",
        )  # fmt: skip
    return TableSpec(kind=_table_kind(name, columns), columns=columns)


def _table_kind(name: str, columns: Mapping[str, ColumnSpec]) -> str:
    n = _normalise_name(name)
    roles = {c.role for c in columns.values()}
    if re.search(r"patient|person|患者|病人|人口", n):
        return "patients"
    if re.search(r"encounter|visit|admission|就诊|住院", n):
        return "encounters"
    if re.search(r"diagnos|condition|诊断", n):
        return "diagnoses"
    if re.search(r"lab|measurement|检验|化验", n):
        return "labs"
    if re.search(r"procedure|operation|手术", n):
        return "procedures"
    if "measurement" in roles and "sex" not in roles and "diagnosis_code" not in roles:
        return "labs"
    return "records"


def _infer_links(tables: Mapping[str, TableSpec]) -> tuple[Link, ...]:
    """Link every table's patient (encounter) id to the patient (encounter) table's."""
    if len(tables) < 2:
        return ()
    return _links_to_hub(tables, "patients", "patient_id") + _links_to_hub(
        tables, "encounters", "encounter_id"
    )


def _links_to_hub(tables: Mapping[str, TableSpec], kind: str, role: str) -> tuple[Link, ...]:
    hubs = [t for t, ts in tables.items() if ts.kind == kind and ts.first(role)]
    if not hubs:
        return ()
    hub = hubs[0]
    hub_col = tables[hub].first(role)
    links = []
    for t, ts in tables.items():
        col = ts.first(role)
        if t != hub and col and hub_col:
            links.append(Link(t, col, hub, hub_col))
    return tuple(links)


def infer_roles(raw: RawData) -> DatasetSpec:
    """Column roles, table kinds and links from names and a sample of values, for any
    tables (a standard's own roles are laid over these by
    :func:`medvalue.read._dataset.infer_spec`).

    Every role carries its reason (``name`` or ``pattern``) and a confidence in [0, 1].
    """
    tables = {t.name: _infer_table(t.name, t.frame) for t in raw.tables}
    return DatasetSpec(tables=tables, links=_infer_links(tables), metadata={})


# --- YAML ------------------------------------------------------------------------------------


def spec_beside(path: str | Path) -> Path | None:
    """The ``<name>.spec.yaml`` next to a data file or folder, if there is one (for a
    refined product's folder, its tables' spec)."""
    p = product_tables(path) or Path(str(path).rstrip("/"))
    candidate = p.parent / f"{p.stem if p.suffix else p.name}.spec.yaml"
    return candidate if candidate.exists() else None


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read a spec YAML into a plain mapping, checking its shape (not yet against data)."""
    p = Path(path)
    if not p.exists():
        raise SpecError.at(
            path, "no such spec file", "check the path, or write one with `medvalue spec DATA`"
        )
    try:
        doc = load_user_yaml(p.read_text(encoding="utf-8-sig"), p)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError.at(
            path, f"not valid YAML{where}", "fix the indentation or quoting"
        ) from None
    except UnicodeDecodeError:
        raise SpecError.at(path, "not UTF-8 text", "save the spec as UTF-8") from None
    if not isinstance(doc, dict):
        raise SpecError.at(
            path, "the spec must be a mapping with 'tables'", "start from `medvalue spec DATA`"
        )
    unknown = set(doc) - {"metadata", "tables", "links", "infer", "refine", "assess"}
    if unknown:
        raise SpecError.at(
            path,
            f"unknown top-level key(s) {sorted(unknown)}",
            "use metadata, tables, links, infer, refine or assess",
        )
    _check_refine(path, doc.get("refine"))
    if doc.get("assess") is not None and not isinstance(doc["assess"], dict):
        raise SpecError.at(path, "'assess' must be a mapping", "write option: value lines under it")
    _check_shape(path, doc)
    for tname, tdoc in (doc.get("tables") or {}).items():
        cols = (tdoc or {}).get("columns") or {}
        for cname, cdoc in cols.items():
            role = (cdoc or {}).get("role", "other")
            if role not in ROLES:
                raise SpecError.at(
                    path,
                    f"table '{tname}', column '{cname}': unknown role '{role}'",
                    f"use one of {', '.join(ROLES)}",
                    table=str(tname),
                    column=str(cname),
                    code="spec_unknown_role",
                )
            extra = set(cdoc or {}) - set(ColumnSpec.__dataclass_fields__)
            if extra:
                raise SpecError.at(
                    path,
                    f"table '{tname}', column '{cname}': unknown field(s) {sorted(extra)}",
                    f"use {', '.join(ColumnSpec.__dataclass_fields__)}",
                    table=str(tname),
                    column=str(cname),
                    code="spec_unknown_field",
                )
    return doc


#: The type each column field of a spec must have (the rest are text).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "confidence": (int, float),
    "quasi": (bool,),
    "event": (str, int, float),  # event: 2 as well as event: death
}


def _check_shape(path: str | Path, doc: Mapping[str, Any]) -> None:
    """Each part of a spec has the shape the schema says, or one line names the part."""

    def fail(where: str, want: str) -> None:
        raise SpecError.at(path, f"'{where}' must be {want}", "start from `medvalue spec DATA`")

    if doc.get("metadata") is not None and not isinstance(doc["metadata"], dict):
        fail("metadata", "a mapping of field: text")
    for key, value in (doc.get("metadata") or {}).items():
        if value is not None and not isinstance(value, str | int | float):
            fail(f"metadata.{key}", "text")
    if doc.get("links") is not None and not isinstance(doc["links"], list):
        fail("links", "a list of {from: table.column, to: table.column}")
    if doc.get("infer") is not None and not isinstance(doc["infer"], bool):
        fail("infer", "true or false")
    tables = doc.get("tables")
    if tables is None:
        return
    if not isinstance(tables, dict):
        fail("tables", "a mapping of table name: {kind, columns}")
    for tname, tdoc in tables.items():
        if tdoc is not None and not isinstance(tdoc, dict):
            fail(f"tables.{tname}", "a mapping with kind and columns")
        cols = (tdoc or {}).get("columns")
        if cols is not None and not isinstance(cols, dict):
            fail(f"tables.{tname}.columns", "a mapping of column name: {role, ...}")
        for cname, cdoc in (cols or {}).items():
            if cdoc is not None and not isinstance(cdoc, dict):
                fail(f"tables.{tname}.columns.{cname}", "a mapping such as {role: age}")
            for field_, value in (cdoc or {}).items():
                want = _FIELD_TYPES.get(field_, (str,))
                if value is not None and (not isinstance(value, want) or (
                    bool not in want and isinstance(value, bool))):  # fmt: skip
                    kinds: dict[tuple[type, ...], str] = {(bool,): "true or false", (int, float): "a number",
                                                          (str, int, float): "a value"}  # fmt: skip
                    kind = kinds.get(want, "text")
                    fail(f"tables.{tname}.columns.{cname}.{field_}", kind)


#: What a spec's ``refine:`` section may say, with the type of each value.
REFINE_KEYS: dict[str, str] = {
    "dates": "keep | shift | month",
    "max_shift_days": "a whole number of days, 1-3650",
    "keep_raw_codes": "true or false",
    "keep_free_text": "a list of columns (column or table.column)",
    "product_name": "text",
    "intended_uses": "a list of texts",
    "restrictions": "a list of texts",
}


def _check_refine(path: str | Path, section: Any) -> None:
    if section is None:
        return
    if not isinstance(section, dict):
        raise SpecError.at(path, "'refine' must be a mapping", f"use keys {', '.join(REFINE_KEYS)}")
    for key, value in section.items():
        if key not in REFINE_KEYS:
            raise SpecError.at(
                path, f"refine: unknown key '{key}'", f"use {', '.join(REFINE_KEYS)}"
            )
        ok = {
            "dates": value in ("keep", "shift", "month"),
            "max_shift_days": isinstance(value, int)
            and not isinstance(value, bool)
            and 1 <= value <= 3650,
            "keep_raw_codes": isinstance(value, bool),
            "product_name": isinstance(value, str),
        }.get(key, isinstance(value, list) and all(isinstance(v, str) for v in value))
        if not ok:
            raise SpecError.at(path, f"refine: '{key}' is {value!r}", f"give {REFINE_KEYS[key]}")


def apply_spec(
    inferred: DatasetSpec, doc: Mapping[str, Any], raw: RawData, source: str | Path
) -> DatasetSpec:
    """Overlay a user spec (from :func:`load_spec`) on the inferred one, checking it fits."""
    user_tables: Mapping[str, Any] = doc.get("tables") or {}
    infer = doc.get("infer", True)
    names = list(inferred.tables)
    # A single-table spec fits a single-table dataset whatever each calls its table,
    # so the same spec serves the CSV, the Chinese-header CSV and the Excel variants.
    if len(user_tables) == 1 and len(names) == 1 and next(iter(user_tables)) not in inferred.tables:
        user_tables = {names[0]: next(iter(user_tables.values()))}
    tables: dict[str, TableSpec] = {}
    for tname, ts in inferred.tables.items():
        udoc = user_tables.get(tname) or {}
        ucols: Mapping[str, Any] = udoc.get("columns") or {}
        available = list(ts.columns)
        for cname in ucols:
            if cname not in ts.columns:
                raise SpecError.at(
                    source,
                    f"table '{tname}' has no column '{cname}' (columns: {', '.join(available[:15])})",
                    "correct the column name in the spec",
                    table=tname,
                    column=cname,
                    code="spec_no_such_column",
                )
        cols: dict[str, ColumnSpec] = {}
        for cname, cspec in ts.columns.items():
            if cname in ucols:
                fields = dict(ucols[cname] or {})
                fields.setdefault("reason", "spec")
                fields.setdefault("confidence", 1.0)
                if "quasi" not in fields:
                    fields["quasi"] = (
                        fields.get("role") in QUASI_ROLES
                        or fields.get("role") == "quasi_identifier"
                    )
                if fields.get("event") is not None:  # a label value is compared as text
                    fields["event"] = str(fields["event"])
                cols[cname] = ColumnSpec(**fields)
            else:
                cols[cname] = cspec if infer else ColumnSpec()
        tables[tname] = TableSpec(kind=udoc.get("kind", ts.kind), columns=cols)
    for tname in user_tables:
        if tname not in tables:
            raise SpecError.at(
                source,
                f"the spec names table '{tname}' but the data has {', '.join(names)}",
                "correct the table name in the spec",
                table=tname,
                code="spec_no_such_table",
            )
    links = inferred.links
    if doc.get("links") is not None:
        links = tuple(_parse_link(source, d, tables) for d in doc["links"])
    meta = {k: (doc.get("metadata") or {}).get(k) for k in META_FIELDS}
    return replace(
        inferred, tables=tables, links=links, metadata=meta, refine=dict(doc.get("refine") or {}),
        assess=_beside(doc.get("assess") or {}, source), source=str(source),
    )  # fmt: skip


#: Options of the ``assess:`` section that name a file or folder.
ASSESS_PATHS = ("code_lists", "reference", "population", "comparables", "costs", "rates", "refined")


def _beside(section: Mapping[str, Any], source: str | Path) -> dict[str, Any]:
    # A relative path in a spec means beside the spec, wherever the command runs from.
    folder = Path(source).parent
    return {
        k: str(folder / v)
        if k in ASSESS_PATHS and isinstance(v, str) and not Path(v).is_absolute()
        else v
        for k, v in section.items()
    }


def _parse_link(source: str | Path, d: Any, tables: Mapping[str, TableSpec]) -> Link:
    try:
        t, c = str(d["from"]).split(".", 1)
        tt, tc = str(d["to"]).split(".", 1)
    except (KeyError, TypeError, ValueError):
        raise SpecError.at(
            source, f"bad link {d!r}", "write links as {from: table.column, to: table.column}"
        ) from None
    for table, column in ((t, c), (tt, tc)):
        if table not in tables or column not in tables[table].columns:
            raise SpecError.at(
                source, f"link names unknown column '{table}.{column}'", "correct the link"
            )
    return Link(t, c, tt, tc)
