"""Deterministic synthetic datasets: the committed samples and benchmark-sized copies.

Nothing here is real patient data. Each generator is vectorised numpy (no loop over rows),
seeded, and takes ``scale`` so benchmarks can ask for N times the committed size. Every
sample carries a documented list of planted problems (:data:`PLANTED`) that the analyses
must find; tests name each one.

``python -m medvalue.datasets [OUT_DIR]`` (``make samples``) rewrites ``data/sample/``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from medvalue.value._comparables import SYNTHETIC_PRICE_MODEL

# code, weight, Chinese name; a part is written in China national clinical edition form.
_LIVER_CODES = (
    ("K74.6", 0.22, "肝硬化", "K74.600x002"),
    ("K70.3", 0.10, "酒精性肝硬化", "K70.300"),
    ("B18.1", 0.14, "慢性乙型病毒性肝炎", "B18.100"),
    ("B18.2", 0.05, "慢性丙型病毒性肝炎", "B18.200"),
    ("C22.0", 0.11, "肝细胞癌", "C22.000"),
    ("K72.1", 0.07, "慢性肝衰竭", "K72.100x001"),
    ("K72.0", 0.04, "急性肝衰竭", "K72.000"),
    ("K76.0", 0.06, "非酒精性脂肪性肝病", "K76.000x001"),
    ("K75.4", 0.03, "自身免疫性肝炎", "K75.400"),
    ("K74.3", 0.03, "原发性胆汁性胆管炎", "K74.300"),
    ("K71.6", 0.02, "药物性肝炎", "K71.600"),
    ("K73.9", 0.03, "慢性肝炎", "K73.900"),
    ("K77.8", 0.01, "其他疾病引起的肝病", "K77.800"),
    ("Z94.4", 0.09, "肝移植状态", "Z94.400"),
)
_AETIOLOGY = ("HBV", "HCV", "alcohol", "MASLD", "autoimmune", "other")

LIVER_ZH_HEADERS = {
    "patient_id": "患者ID",
    "sex": "性别",
    "age": "年龄",
    "admission_date": "入院日期",
    "discharge_date": "出院日期",
    "primary_diagnosis_code": "主要诊断编码",
    "diagnosis_name": "诊断名称",
    "aetiology": "病因",
    "bilirubin_umol_l": "总胆红素(μmol/L)",
    "inr": "INR",
    "creatinine_umol_l": "肌酐(μmol/L)",
    "sodium_mmol_l": "血钠(mmol/L)",
    "albumin_g_l": "白蛋白(g/L)",
    "ascites": "腹水",
    "encephalopathy": "肝性脑病",
    "meld": "MELD评分",
    "transplant_listed": "是否列入移植等待",
    "transplant_status": "移植状态",
    "death_90d": "90天死亡",
}


@dataclass(frozen=True)
class Planted:
    """One problem deliberately put into a sample, for the analyses to find."""

    sample: str
    check: str
    table: str
    column: str | None
    count: int
    description: str


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """Zero-padded identifiers such as LT000001, built without a loop over rows."""
    return pl.select(
        pl.lit(prefix) + pl.Series(numbers).cast(pl.String).str.zfill(width)
    ).to_series()


def _dates(rng: np.random.Generator, n: int, start: str, end: str) -> np.ndarray:
    lo = np.datetime64(start, "D").astype(np.int64)
    hi = np.datetime64(end, "D").astype(np.int64)
    return (rng.integers(lo, hi, n)).astype("datetime64[D]")


def _dirty_dates(rng: np.random.Generator, days: np.ndarray) -> pl.Series:
    """Format dates the way different hospital systems do: ISO, slashes, compact, 年月日."""
    s = pl.Series(days).cast(pl.Date)
    style = rng.choice(4, len(days), p=[0.55, 0.2, 0.15, 0.1])
    return (
        pl.DataFrame({"d": s, "style": style})
        .select(
            pl.when(pl.col("style") == 0)
            .then(pl.col("d").dt.strftime("%Y-%m-%d"))
            .when(pl.col("style") == 1)
            .then(pl.col("d").dt.strftime("%Y/%-m/%-d"))
            .when(pl.col("style") == 2)
            .then(pl.col("d").dt.strftime("%Y%m%d"))
            .otherwise(pl.col("d").dt.strftime("%Y年%-m月%-d日"))
        )
        .to_series()
    )


def liver_transplant(scale: float = 1.0, seed: int = 20240601) -> pl.DataFrame:
    """About 1,200 liver-disease patients per unit of scale, modelled on the Shandong trade."""
    rng = np.random.default_rng(seed)
    n = max(60, round(1200 * scale))
    sex = rng.choice(["M", "F"], n, p=[0.68, 0.32])
    age = np.clip(rng.normal(52, 12, n).round(), 18, 86).astype(np.int64)
    idx = rng.choice(len(_LIVER_CODES), n, p=[c[1] for c in _LIVER_CODES])
    who = np.array([c[0] for c in _LIVER_CODES])[idx]
    national = np.array([c[3] for c in _LIVER_CODES])[idx]
    names = np.array([c[2] for c in _LIVER_CODES])[idx]
    form = rng.choice(3, n, p=[0.55, 0.35, 0.10])  # WHO, national edition, dotless lowercase
    codes = np.where(
        form == 0, who, np.where(form == 1, national, np.char.lower(np.char.replace(who, ".", "")))
    )
    aetiology = rng.choice(_AETIOLOGY, n, p=[0.45, 0.08, 0.18, 0.14, 0.07, 0.08])
    severity = rng.gamma(2.0, 1.0, n) + np.isin(who, ["K72.1", "K72.0", "C22.0"]) * 1.5
    bilirubin = np.round(np.clip(np.exp(rng.normal(2.9 + 0.35 * severity, 0.5)), 4, 700), 1)
    inr = np.round(np.clip(1.0 + 0.18 * severity + rng.normal(0, 0.15, n), 0.8, 6.0), 2)
    creatinine = np.round(np.exp(rng.normal(4.3 + 0.08 * severity, 0.3)), 0)
    sodium = np.round(np.clip(rng.normal(138 - 1.2 * severity, 3.5), 115, 150), 0)
    albumin = np.round(np.clip(rng.normal(38 - 2.2 * severity, 4), 15, 55), 1)
    meld = _meld(bilirubin / 17.1, inr, creatinine / 88.4)
    ascites = np.where(severity > 3.2, "moderate-severe", np.where(severity > 2.0, "mild", "none"))
    enceph = np.where(severity > 4.2, "grade 3-4", np.where(severity > 3.0, "grade 1-2", "none"))
    listed = (meld >= 15) | (who == "Z94.4") | (rng.random(n) < 0.05)
    status = np.where(
        who == "Z94.4",
        "transplanted",
        np.where(
            listed,
            rng.choice(["waiting", "transplanted", "delisted"], n, p=[0.55, 0.3, 0.15]),
            "not listed",
        ),
    )
    logit = -5.2 + 0.17 * meld + 0.6 * (enceph != "none") - 1.0 * (status == "transplanted")
    death = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    admit = _dates(rng, n, "2019-01-01", "2024-06-30")
    stay = np.clip(rng.gamma(2.2, 5.0, n).round(), 1, 90).astype("timedelta64[D]")
    discharge = admit + stay
    # Labs are missing not at random: the milder the disease, the less often INR and
    # albumin were ordered.
    p_missing = np.clip(0.35 - 0.07 * severity, 0.02, 0.35)
    inr_missing = rng.random(n) < p_missing
    alb_missing = rng.random(n) < p_missing * 0.8
    df = pl.DataFrame(
        {
            "patient_id": _ids("LT", np.arange(1, n + 1), 6),
            "sex": sex,
            "age": age,
            "admission_date": _dirty_dates(rng, admit),
            "discharge_date": _dirty_dates(rng, discharge),
            "primary_diagnosis_code": codes,
            "diagnosis_name": names,
            "aetiology": aetiology,
            "bilirubin_umol_l": bilirubin,
            "inr": np.where(inr_missing, np.nan, inr),
            "creatinine_umol_l": creatinine,
            "sodium_mmol_l": sodium,
            "albumin_g_l": np.where(alb_missing, np.nan, albumin),
            "ascites": ascites,
            "encephalopathy": enceph,
            "meld": meld,
            "transplant_listed": np.where(listed, "yes", "no"),
            "transplant_status": status,
            "death_90d": death,
        },
        strict=False,
    ).with_columns(pl.col("inr", "albumin_g_l").fill_nan(None))
    return _plant_liver(df)


def _meld(bili_mg: np.ndarray, inr: np.ndarray, creat_mg: np.ndarray) -> np.ndarray:
    """MELD (UNOS 2016 before MELD-Na): 3.78 ln(bili) + 11.2 ln(INR) + 9.57 ln(creat) + 6.43."""
    b = np.clip(bili_mg, 1.0, None)
    i = np.clip(inr, 1.0, None)
    c = np.clip(creat_mg, 1.0, 4.0)
    return np.clip(
        np.round(3.78 * np.log(b) + 11.2 * np.log(i) + 9.57 * np.log(c) + 6.43), 6, 40
    ).astype(np.int64)


def _set(df: pl.DataFrame, rows: list[int], column: str, value: object) -> pl.DataFrame:
    idx = pl.int_range(pl.len())
    dtype = df.schema[column]
    lit = pl.lit(value).cast(dtype) if value is not None else pl.lit(None, dtype)
    return df.with_columns(
        pl.when(idx.is_in(rows)).then(lit).otherwise(pl.col(column)).alias(column)
    )


def _plant_liver(df: pl.DataFrame) -> pl.DataFrame:
    n = df.height
    step = n // 40
    r = [step * k + 7 for k in range(40)]  # spread the planted rows through the file
    df = df.with_columns(pl.col("age").cast(pl.String), pl.col("albumin_g_l").cast(pl.String))
    df = _set(df, [r[0]], "age", "134")
    df = _set(df, [r[1]], "age", "-3")
    df = _set(df, [r[2], r[3], r[4], r[5]], "discharge_date", "2018-12-01")
    df = _set(df, [r[6]], "primary_diagnosis_code", "K7A.1")
    df = _set(df, [r[7]], "primary_diagnosis_code", "肝硬化")
    df = _set(df, [r[8]], "primary_diagnosis_code", "99999")
    df = _set(df, [r[9]], "primary_diagnosis_code", "KK74")
    df = _set(df, [r[10]], "primary_diagnosis_code", "K74.")
    df = _set(df, [r[11]], "bilirubin_umol_l", 9999.0)
    df = _set(df, [r[12]], "sodium_mmol_l", 300.0)
    df = _set(df, [r[13]], "inr", 45.0)
    df = _set(df, [r[14]], "admission_date", "2031-03-04")
    df = _set(df, [r[14]], "discharge_date", "2031-03-09")
    df = _set(df, [r[15]], "admission_date", "1890-05-01")
    df = _set(df, [r[16], r[17], r[18]], "albumin_g_l", "不详")
    df = _set(df, [r[19], r[20]], "albumin_g_l", "NULL")
    df = _set(df, [r[21]], "age", "45岁")
    # The same patient id again with the other sex (a different admission): inconsistent.
    clash = df.slice(r[23], 1).with_columns(
        pl.when(pl.col("sex") == "M").then(pl.lit("F")).otherwise(pl.lit("M")).alias("sex"),
        pl.lit("2024-08-02").alias("admission_date"),
        pl.lit("2024-08-09").alias("discharge_date"),
    )
    # One row exported twice, byte for byte.
    dup = df.slice(r[24], 1)
    return pl.concat([df, clash, dup])


LIVER_PLANTED = (
    Planted(
        "liver_transplant", "implausible_value", "liver_transplant", "age", 2, "ages 134 and -3"
    ),
    Planted(
        "liver_transplant",
        "discharge_before_admission",
        "liver_transplant",
        "discharge_date",
        4,
        "discharge dated 2018-12-01, before every admission",
    ),
    Planted(
        "liver_transplant",
        "malformed_code",
        "liver_transplant",
        "primary_diagnosis_code",
        5,
        "K7A.1, 肝硬化, 99999, KK74, K74.",
    ),
    Planted(
        "liver_transplant",
        "implausible_value",
        "liver_transplant",
        "bilirubin_umol_l",
        1,
        "bilirubin 9999 μmol/L",
    ),
    Planted(
        "liver_transplant",
        "implausible_value",
        "liver_transplant",
        "sodium_mmol_l",
        1,
        "sodium 300 mmol/L",
    ),
    Planted("liver_transplant", "implausible_value", "liver_transplant", "inr", 1, "INR 45"),
    Planted(
        "liver_transplant",
        "future_date",
        "liver_transplant",
        "admission_date",
        1,
        "admission in 2031",
    ),
    Planted(
        "liver_transplant",
        "date_before_1900",
        "liver_transplant",
        "admission_date",
        1,
        "admission in 1890",
    ),
    Planted(
        "liver_transplant",
        "placeholder_values",
        "liver_transplant",
        "albumin_g_l",
        5,
        "albumin written as 不详 (3) and NULL (2)",
    ),
    Planted(
        "liver_transplant", "duplicate_rows", "liver_transplant", None, 1, "one row exported twice"
    ),
    Planted(
        "liver_transplant",
        "duplicate_ids",
        "liver_transplant",
        "patient_id",
        2,
        "two patient ids appear twice (the duplicated row, and a clash)",
    ),
    Planted(
        "liver_transplant",
        "sex_inconsistent",
        "liver_transplant",
        "sex",
        1,
        "one patient id recorded as both M and F",
    ),
)


def carotid_stenting(scale: float = 1.0, seed: int = 20240602) -> pl.DataFrame:
    """2,550 carotid artery stenting procedures per unit of scale."""
    rng = np.random.default_rng(seed)
    n = max(60, round(2550 * scale))
    sex = rng.choice(["M", "F"], n, p=[0.74, 0.26])
    age = np.clip(rng.normal(67, 8.5, n).round(), 40, 92).astype(np.int64)
    symptomatic = rng.random(n) < 0.46
    stenosis = np.clip(rng.normal(80, 8, n).round(), 50, 99).astype(np.int64)
    primary = np.where(
        symptomatic, rng.choice(["I63.2", "G45.9", "I65.2"], n, p=[0.35, 0.25, 0.4]), "I65.2"
    )
    como_codes = (("I10", 0.68), ("E11.9", 0.31), ("I25.1", 0.27))
    has = [rng.random(n) < p for _, p in como_codes]
    como = [
        pl.Series(np.where(h, code, "")).replace("", None)
        for h, (code, _) in zip(has, como_codes, strict=True)
    ]
    hypert, diabetes = has[0], has[1]
    sbp = np.round(rng.normal(138 + 8 * hypert, 15)).astype(np.int64)
    hr = np.round(rng.normal(74, 10, n)).astype(np.int64)
    stent = rng.choice(["open-cell", "closed-cell"], n, p=[0.45, 0.55])
    protection = rng.choice(
        ["distal filter", "proximal occlusion", "none"], n, p=[0.78, 0.17, 0.05]
    )
    logit = (
        -4.1
        + 0.9 * symptomatic
        + 0.035 * (age - 67)
        + 0.4 * diabetes
        + 0.7 * (protection == "none")
        + 0.02 * (stenosis - 80)
    )
    event = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    proc = _dates(rng, n, "2017-01-01", "2023-12-31")
    df = pl.DataFrame(
        {
            "procedure_id": _ids("CAS", np.arange(1, n + 1), 5),
            "patient_id": _ids("P", rng.permutation(n) + 1, 6),
            "sex": sex,
            "age": age,
            "procedure_date": pl.Series(proc).cast(pl.Date).dt.strftime("%Y-%m-%d"),
            "symptomatic": np.where(symptomatic, "yes", "no"),
            "stenosis_percent": stenosis,
            "diagnosis_code": primary,
            "comorbidity_1": como[0],
            "comorbidity_2": como[1],
            "comorbidity_3": como[2],
            "systolic_bp": sbp,
            "heart_rate": hr,
            "stent_type": stent,
            "embolic_protection": protection,
            "stroke_or_death_30d": event,
        }
    )
    r = [(n // 10) * k + 3 for k in range(10)]
    df = df.with_columns(pl.col("stenosis_percent", "heart_rate").cast(pl.Int64))
    df = _set(df, [r[0], r[1]], "stenosis_percent", 130)
    df = _set(df, [r[2]], "heart_rate", 400)
    df = _set(df, [r[3]], "diagnosis_code", "I652")
    return df


CAROTID_PLANTED = (
    Planted(
        "carotid_stenting",
        "implausible_value",
        "carotid_stenting",
        "stenosis_percent",
        2,
        "stenosis of 130%",
    ),
    Planted(
        "carotid_stenting",
        "implausible_value",
        "carotid_stenting",
        "heart_rate",
        1,
        "heart rate 400/min",
    ),
)


def county_hospital(scale: float = 1.0, seed: int = 20240603) -> dict[str, pl.DataFrame]:
    """A county hospital's neurology, cardiology and geriatrics data in four linked tables."""
    rng = np.random.default_rng(seed)
    n = max(60, round(3000 * scale))
    pid = _ids("CH", np.arange(1, n + 1), 6).to_numpy()
    birth = _dates(rng, n, "1925-01-01", "1995-12-31")
    sex = rng.choice(["男", "女"], n, p=[0.52, 0.48])
    township = rng.choice(["城关镇", "东湖镇", "西岭乡", "南山乡", "北塘镇", "青石乡", "河口镇"], n)
    died = rng.random(n) < 0.06
    death = np.where(died, _dates(rng, n, "2021-01-01", "2024-06-30"), np.datetime64("NaT"))
    patients = pl.DataFrame(
        {
            "patient_id": pid,
            "sex": sex,
            "birth_date": pl.Series(birth).cast(pl.Date),
            "township": township,
            "ethnicity": rng.choice(["汉族", "畲族", "回族"], n, p=[0.93, 0.05, 0.02]),
            "death_date": pl.Series(death).cast(pl.Date),
        }
    )
    visits = rng.poisson(1.1, n) + 1
    e_pid = np.repeat(pid, visits)
    e_birth = np.repeat(birth, visits)
    m = len(e_pid)
    dept = rng.choice(["神经内科", "心血管内科", "老年病科"], m, p=[0.38, 0.37, 0.25])
    admit = _dates(rng, m, "2020-01-01", "2024-06-30")
    stay = np.clip(rng.gamma(2.0, 4.0, m).round(), 1, 60).astype("timedelta64[D]")
    discharge = admit + stay
    has_proc = rng.random(m) < 0.25
    proc = np.where(
        has_proc,
        admit + (rng.random(m) * stay.astype(np.int64)).astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )
    eid = _ids("E", np.arange(1, m + 1), 7).to_numpy()
    encounters = pl.DataFrame(
        {
            "encounter_id": eid,
            "patient_id": e_pid,
            "department": dept,
            "admission_date": pl.Series(admit).cast(pl.Date),
            "discharge_date": pl.Series(discharge).cast(pl.Date),
            "procedure_date": pl.Series(proc).cast(pl.Date),
            "age_at_admission": ((admit - e_birth).astype(np.int64) // 365.25).astype(np.int64),
        }
    )
    pools = {
        "神经内科": (
            ["I63.9", "I63.5", "G45.9", "G40.9", "G20", "I61.9", "G43.9", "I67.2"],
            [0.3, 0.12, 0.12, 0.1, 0.1, 0.08, 0.1, 0.08],
        ),
        "心血管内科": (
            ["I10", "I25.1", "I50.9", "I48", "I21.9", "I20.0", "I11.9"],
            [0.25, 0.2, 0.15, 0.15, 0.1, 0.1, 0.05],
        ),
        "老年病科": (
            ["J44.9", "F03", "E11.9", "N18.9", "M81.9", "J18.9", "I10"],
            [0.2, 0.15, 0.2, 0.1, 0.1, 0.15, 0.1],
        ),
    }
    primary = np.empty(m, dtype=object)
    for d, (codes, p) in pools.items():  # three departments, not rows
        mask = dept == d
        primary[mask] = rng.choice(codes, mask.sum(), p=p)
    n_sec = rng.poisson(1.0, m)
    sec_enc = np.repeat(np.arange(m), n_sec)
    sec_codes = rng.choice(
        ["I10", "E11.9", "E78.5", "I25.1", "N18.9", "K21.9", "J44.9", "E11.65", "I10.x00x024"],
        len(sec_enc),
    )
    diagnoses = (
        pl.DataFrame(
            {
                "encounter_id": np.concatenate([eid, eid[sec_enc]]),
                "patient_id": np.concatenate([e_pid, e_pid[sec_enc]]),
                "icd_code": np.concatenate([primary.astype(str), sec_codes]),
                "diagnosis_type": np.concatenate(
                    [np.full(m, "primary"), np.full(len(sec_enc), "secondary")]
                ),
            }
        )
        .unique(maintain_order=True)
        .sort("encounter_id", "diagnosis_type", maintain_order=True)
    )
    labs = pl.DataFrame(
        {
            "encounter_id": eid,
            "patient_id": e_pid,
            "glucose_mmol_l": np.round(np.exp(rng.normal(1.75, 0.25, m)), 1),
            "creatinine_umol_l": np.round(np.exp(rng.normal(4.4, 0.35, m))),
            "sodium_mmol_l": np.round(rng.normal(139, 3, m)),
            "systolic_bp": np.round(rng.normal(142, 18, m)),
            "diastolic_bp": np.round(rng.normal(82, 11, m)),
            "heart_rate": np.round(rng.normal(76, 12, m)),
        }
    )
    # Planted: death before birth, procedures outside their stay, a duplicated patient id.
    r = [(n // 10) * k + 5 for k in range(10)]
    patients = patients.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([r[0], r[1]]))
        .then(pl.col("birth_date") - pl.duration(days=40000))
        .otherwise(pl.col("death_date"))
        .alias("death_date")
    )
    patients = pl.concat(
        [patients, patients.slice(r[2], 1).with_columns(pl.lit("女").alias("sex"))]
    )
    q = [(m // 10) * k + 11 for k in range(10)]
    encounters = encounters.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([q[0], q[1], q[2]]))
        .then(pl.col("discharge_date") + pl.duration(days=45))
        .otherwise(pl.col("procedure_date"))
        .alias("procedure_date")
    )
    labs = labs.with_columns(pl.col("systolic_bp").cast(pl.Float64))
    labs = _set(labs, [q[3]], "systolic_bp", 420.0)
    return {"patients": patients, "encounters": encounters, "diagnoses": diagnoses, "labs": labs}


COUNTY_PLANTED = (
    Planted(
        "county_hospital",
        "death_before_birth",
        "patients",
        "death_date",
        2,
        "death dated 40,000 days before birth",
    ),
    Planted(
        "county_hospital",
        "duplicate_ids",
        "patients",
        "patient_id",
        1,
        "one patient listed twice in the patient table",
    ),
    Planted(
        "county_hospital",
        "procedure_outside_encounter",
        "encounters",
        "procedure_date",
        3,
        "procedures 45 days after discharge",
    ),
    Planted(
        "county_hospital",
        "implausible_value",
        "labs",
        "systolic_bp",
        1,
        "systolic pressure 420 mmHg",
    ),
)

PLANTED = LIVER_PLANTED + CAROTID_PLANTED + COUNTY_PLANTED

_SPECS: dict[str, dict[str, object]] = {
    "liver_transplant": {
        "metadata": {
            "title": "Liver disease and transplant status cohort (synthetic)",
            "title_zh": "肝病与肝移植状态队列（合成数据）",
            "hospital": "Sample Provincial Hospital (synthetic)",
            "hospital_tier": "3A",
            "province": "Shandong",
            "city": "Jinan",
            "specialty": "hepatology",
            "modality": "structured EHR",
            "licence_intent": "non-exclusive research licence",
        },
        "tables": {
            "liver_transplant": {
                "kind": "patients",
                "columns": {
                    "death_90d": {
                        "role": "label",
                        "description": "death within 90 days of admission",
                    },
                    "diagnosis_name": {"role": "diagnosis_text"},
                },
            }
        },
    },
    "carotid_stenting": {
        "metadata": {
            "title": "Carotid artery stenting procedures (synthetic)",
            "title_zh": "颈动脉支架置入手术（合成数据）",
            "hospital": "Sample Beijing Hospital (synthetic)",
            "hospital_tier": "3A",
            "province": "Beijing",
            "city": "Beijing",
            "specialty": "neurology",
            "modality": "structured EHR",
            "licence_intent": "non-exclusive research licence",
        },
        "tables": {
            "carotid_stenting": {
                "kind": "procedures",
                "columns": {
                    "procedure_id": {"role": "encounter_id"},
                    "stroke_or_death_30d": {"role": "label"},
                    "comorbidity_1": {
                        "role": "diagnosis_code",
                        "code_system": "icd10",
                        "position": "secondary",
                    },
                    "comorbidity_2": {
                        "role": "diagnosis_code",
                        "code_system": "icd10",
                        "position": "secondary",
                    },
                    "comorbidity_3": {
                        "role": "diagnosis_code",
                        "code_system": "icd10",
                        "position": "secondary",
                    },
                    "diagnosis_code": {
                        "role": "diagnosis_code",
                        "code_system": "icd10",
                        "position": "primary",
                    },
                },
            }
        },
    },
    "county_hospital": {
        "metadata": {
            "title": "County hospital neurology, cardiology and geriatrics (synthetic)",
            "title_zh": "县医院神经内科、心血管内科与老年病科数据（合成数据）",
            "hospital": "Sample County People's Hospital (synthetic)",
            "hospital_tier": "2A",
            "province": "Zhejiang",
            "city": "Wenzhou",
            "specialty": "neurology; cardiology; geriatrics",
            "modality": "structured EHR",
            "licence_intent": "non-exclusive research licence",
        },
        "tables": {
            "patients": {"kind": "patients", "columns": {"township": {"role": "region"}}},
            "encounters": {"kind": "encounters", "columns": {"age_at_admission": {"role": "age"}}},
            "diagnoses": {"kind": "diagnoses", "columns": {}},
            "labs": {"kind": "labs", "columns": {}},
        },
        "links": [
            {"from": "encounters.patient_id", "to": "patients.patient_id"},
            {"from": "diagnoses.patient_id", "to": "patients.patient_id"},
            {"from": "labs.patient_id", "to": "patients.patient_id"},
            {"from": "diagnoses.encounter_id", "to": "encounters.encounter_id"},
            {"from": "labs.encounter_id", "to": "encounters.encounter_id"},
        ],
    },
}


def comparables_synthetic(rows: int = 80, seed: int = 11) -> pl.DataFrame:
    """A registry drawn from :data:`SYNTHETIC_PRICE_MODEL`, labelled synthetic in its file
    name and in every row: for tests and the hedonic-regression tutorial, never for a price."""
    rng = np.random.default_rng(seed)
    m = SYNTHETIC_PRICE_MODEL
    cases = np.round(np.exp(rng.uniform(np.log(200), np.log(2_000_000), rows))).astype(int)
    cn = rng.random(rows) < 0.6
    deal = rng.choice(
        ["dataset_sale", "licence", "analysis_report", "equity"], rows, p=[0.4, 0.3, 0.15, 0.15]
    )
    exclusive = rng.random(rows) < 0.3
    log_price = (
        m["intercept"] + m["log_cases"] * np.log(cases) + m["country_cn"] * cn
        + m["deal_analysis_report"] * (deal == "analysis_report")
        + m["deal_equity_or_acquisition"] * (deal == "equity") + m["exclusive"] * exclusive
        + rng.normal(0, m["sigma"], rows)
    )  # fmt: skip
    years = rng.integers(2019, 2026, rows)
    months = rng.integers(1, 13, rows)
    return pl.DataFrame({
        "id": [f"S{i + 1:03d}" for i in range(rows)],
        "synthetic": ["true"] * rows,
        "reliability": ["synthetic"] * rows,
        "date": [f"{y}-{mo:02d}" for y, mo in zip(years, months, strict=True)],
        "country": np.where(cn, "CN", "US"),
        "region": np.where(cn, "synthetic province", ""),
        "venue": ["synthetic"] * rows,
        "seller": [f"synthetic hospital {i + 1}" for i in range(rows)],
        "seller_tier": rng.choice(["tertiary", "secondary", "county"], rows),
        "buyer_type": rng.choice(["pharma", "medical_ai", "device_maker", "research_institute"], rows),
        "specialty": rng.choice(["cardiology", "oncology", "neurology", "hepatology"], rows),
        "modality": ["structured_ehr"] * rows,
        "cases": cases,
        "price": np.round(np.exp(log_price), -1),
        "currency": ["CNY"] * rows,
        "deal_type": deal,
        "exclusivity": np.where(exclusive, "exclusive", "non_exclusive"),
        "intended_use": ["synthetic (not a real trade)"] * rows,
        "source_url": [""] * rows,
    })  # fmt: skip


#: Cities and counties of the synthetic regional registry (Zhejiang, modelled on Wenzhou's plan).
REGIONS = {
    "温州市": ("鹿城区", "瓯海区", "瑞安市", "乐清市"),
    "杭州市": ("上城区", "西湖区"),
    "宁波市": ("海曙区", "鄞州区"),
}


def regional_registry(seed: int = 5) -> pl.DataFrame:
    """Synthetic data-product events in Zhejiang for 2025 and 2026 to the end of October, with
    planted problems: an unknown status, a product registered after it was listed, a product
    id used for two hospitals, and a trade before listing."""
    rng = np.random.default_rng(seed)
    tiers = ("tertiary", "secondary", "county")
    specialties = (
        "cardiology",
        "oncology",
        "neurology",
        "hepatology",
        "ophthalmology",
        "geriatrics",
    )
    rows: list[dict[str, object]] = []
    pid = 0
    end = dt.date(2026, 10, 31)
    for city, counties in REGIONS.items():
        per_year = 40 if city == "温州市" else 14
        for year in (2025, 2026):
            days = (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days
            for _ in range(int(rng.poisson(per_year * 1.2))):
                pid += 1
                planned = dt.date(year, 1, 1) + dt.timedelta(days=int(rng.integers(0, days)))
                base = {
                    "product_id": f"ZJ{pid:04d}", "name": f"{rng.choice(specialties)} dataset {pid}",
                    "hospital": f"{city}{rng.choice(['第一', '第二', '中心', '人民'])}医院",
                    "hospital_tier": str(rng.choice(tiers)), "province": "浙江省", "city": city,
                    "county": str(rng.choice(counties)), "specialty": str(rng.choice(specialties)),
                    "modality": str(rng.choice(["structured_ehr", "imaging", "multimodal"], p=[0.7, 0.2, 0.1])),
                    "exchange": str(rng.choice(["Zhejiang Data Exchange", "Shanghai Data Exchange", "Beijing International Big Data Exchange"], p=[0.6, 0.25, 0.15])),
                }  # fmt: skip
                when = planned
                for stage in ("planned", "registered", "listed"):
                    if when > end:
                        break
                    rows.append(
                        {
                            **base,
                            "event": stage,
                            "date": when.isoformat(),
                            "buyer_type": "",
                            "price": "",
                        }
                    )
                    if rng.random() < 0.12:
                        break  # stalls at this stage
                    when = when + dt.timedelta(days=int(rng.integers(10, 60)))
                else:
                    listed = when - dt.timedelta(days=0)
                    for _ in range(int(rng.poisson(0.35))):
                        trade = listed + dt.timedelta(days=int(rng.integers(5, 200)))
                        if trade <= end:
                            rows.append({**base, "event": "traded", "date": trade.isoformat(),
                                         "buyer_type": str(rng.choice(["pharma", "medical_ai", "device_maker", "research_institute"])),
                                         "price": str(int(round(float(np.exp(rng.normal(11.5, 0.8))), -3)))})  # fmt: skip
    frame = pl.DataFrame(rows)
    # Planted problems (tests/test_targets.py names each).
    first = frame.row(0, named=True)
    planted = [
        {**first, "event": "上架", "date": "2026-03-02"},
        {**first, "product_id": "ZJ9001", "event": "listed", "date": "2026-02-01"},
        {**first, "product_id": "ZJ9001", "event": "registered", "date": "2026-03-15"},
        {
            **first,
            "product_id": "ZJ9002",
            "hospital": "温州某医院",
            "event": "planned",
            "date": "2026-01-10",
        },
        {
            **first,
            "product_id": "ZJ9002",
            "hospital": "宁波某医院",
            "event": "registered",
            "date": "2026-02-10",
        },
        {
            **first,
            "product_id": "ZJ9003",
            "event": "traded",
            "date": "2026-04-01",
            "buyer_type": "pharma",
            "price": "80000",
        },
        {**first, "product_id": "ZJ9003", "event": "listed", "date": "2026-05-01"},
    ]
    return pl.concat([frame, pl.DataFrame(planted)]).sort("product_id", "date")


REGIONAL_TARGETS = """# Regional targets for the synthetic registry, modelled on Wenzhou's plan (45+ medical data
# products and 10+ transactions in one year). Synthetic; see data/sample/README.md.
targets:
  - {region: 温州市, year: 2026, products: 45, transactions: 10, value: 1000000}
  - {region: 杭州市, year: 2026, products: 20, transactions: 6}
  - {region: 宁波市, year: 2026, products: 15, transactions: 5}
  - {region: 浙江省, year: 2026, products: 80, transactions: 21}
  - {region: 台州市, year: 2026, products: 10, transactions: 2}
"""


def write_samples(out: str | Path, scale: float = 1.0) -> list[Path]:
    """Write every sample (and its spec) to ``out``; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    liver = liver_transplant(scale)
    written.append(_write_csv(liver, out / "liver_transplant.csv"))
    zh = liver.rename(LIVER_ZH_HEADERS).with_columns(
        pl.col("性别").replace({"M": "男", "F": "女"}),
        pl.col("是否列入移植等待").replace({"yes": "是", "no": "否"}),
    )
    written.append(_write_csv(zh, out / "liver_transplant_gb18030.csv", encoding="gb18030"))
    written.append(_write_excel(liver, out / "liver_transplant.xlsx", sheet="liver_transplant"))
    written.append(_write_csv(carotid_stenting(scale), out / "carotid_stenting.csv"))
    folder = out / "county_hospital"
    folder.mkdir(exist_ok=True)
    for name, frame in county_hospital(scale).items():
        written.append(_write_csv(frame, folder / f"{name}.csv"))
    for name, spec in _SPECS.items():
        path = out / f"{name}.spec.yaml"
        text = "# Spec for the synthetic sample; see data/sample/README.md.\n" + yaml.safe_dump(
            spec, allow_unicode=True, sort_keys=False
        )
        path.write_text(text, encoding="utf-8")
        written.append(path)
    written.append(_write_csv(comparables_synthetic(), out / "comparables_synthetic.csv"))
    written.append(_write_csv(regional_registry(), out / "regional_registry.csv"))
    (out / "targets.yaml").write_text(REGIONAL_TARGETS, encoding="utf-8")
    written.append(out / "targets.yaml")
    # Named cohorts of one's own, in the form --codes reads (ICD-10 prefixes).
    codes = out / "my_code_lists.yaml"
    codes.write_text(MY_CODE_LISTS, encoding="utf-8")
    written.append(codes)
    # The county sample in the two standards, small, for the README's tour.
    cdm = out / "omop_cdm"
    cdm.mkdir(exist_ok=True)
    for name, frame in omop_tables(scale=0.05).items():
        written.append(_write_csv(frame, cdm / f"{name}.csv"))
    written += write_fhir_ndjson(out / "fhir_export", fhir_resources(scale=0.02))
    written += write_pool(out / "county_pool")
    readme = out / "README.md"
    readme.write_text(readme_text(), encoding="utf-8")
    written.append(readme)
    zh_spec = {
        "metadata": _SPECS["liver_transplant"]["metadata"],
        "tables": {
            "liver_transplant": {
                "kind": "patients",
                "columns": {"90天死亡": {"role": "label"}, "诊断名称": {"role": "diagnosis_text"}},
            }
        },
    }
    path = out / "liver_transplant_gb18030.spec.yaml"
    path.write_text(yaml.safe_dump(zh_spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    written.append(path)
    return written


MY_CODE_LISTS = """# Cohorts of one's own for `medvalue coverage|report --codes`: name -> ICD-10 prefixes.
stroke_or_tia:
  en: Stroke or transient ischaemic attack
  zh: 卒中或短暂性脑缺血发作
  prefixes: [I63, I64, G45]
heart_failure:
  en: Heart failure
  zh: 心力衰竭
  prefixes: [I50]
"""

_README_HEAD = """# Sample datasets (synthetic)

Written by `medvalue.datasets` (`make samples`); deterministic, so regenerating gives the same
bytes (a test checks it). Nothing here is real patient data. Each dataset has a spec YAML
beside it with its column roles and listing metadata.

| file | what | rows |
|---|---|---|
| `liver_transplant.csv` | liver disease and transplant status, modelled on the reported Shandong trade (1,000+ cases, CNY 30,000): sex, age, admission and discharge dates in four hospital date styles, primary ICD-10 code (WHO form, China national clinical edition form such as `K72.100x001`, or lowercase without a dot), diagnosis name, aetiology, MELD inputs (bilirubin, INR, creatinine, sodium), albumin, ascites, encephalopathy, MELD, transplant listing and status, death within 90 days. INR and albumin are missing not at random: less often measured in milder disease. | 1,202 |
| `liver_transplant_gb18030.csv` | the same data with Chinese headers and values (男/女, 是/否), encoded GB18030 | 1,202 |
| `liver_transplant.xlsx` | the same data as an Excel workbook (sheet `liver_transplant`) | 1,202 |
| `carotid_stenting.csv` | carotid artery stenting procedures, modelled on the 2,550-case Beijing set: demographics, symptomatic status, stenosis %, primary and comorbidity ICD-10 codes (I10, E11.9, I25.1), blood pressure, heart rate, stent type, embolic protection, 30-day stroke or death | 2,550 |
| `county_hospital/` | a county hospital's neurology, cardiology and geriatrics data in four tables linked by `patient_id` and `encounter_id`: patients, encounters, diagnoses (primary and secondary), labs | 3,001 / 6,348 / 12,355 / 6,348 |
| `regional_registry.csv` + `targets.yaml` | SYNTHETIC data-product events (planned, registered, listed, traded) of hospitals in three Zhejiang cities, 2025 to October 2026, and 2026 targets modelled on Wenzhou's plan; planted: an unknown status (上架), a product registered after it was listed (ZJ9001), a product id used by two hospitals (ZJ9002), a trade before listing (ZJ9003), a target for a city with no products (台州市) | events |
| `comparables_synthetic.csv` | a SYNTHETIC comparables registry drawn from a known price model (`medvalue.value._comparables.SYNTHETIC_PRICE_MODEL`), for tests and the hedonic-regression tutorial; every row says `synthetic: true`; never used for a real valuation | 80 |
| `county_pool/` + `pool.yaml` | four hospitals of one county for `medvalue pool`: the county hospital (UTF-8 CSV), the TCM hospital (GB18030 CSV), a township health centre (Parquet, English headers, mapped in `pool.yaml`) and a haematology and rare-disease clinic (lowercase dotless ICD-10 codes) whose ten rare-disease categories no other site has; people overlap between sites; each export holds resident ID numbers and names (synthetic, valid check digits) to link by. Planted: 12 resident IDs with one digit mistyped (6 at the TCM hospital, 6 at the health centre, each a person also seen at the county hospital), and harmless variants the linkage must read as the same ID (spaces, lowercase x, full-width digits) | 2,832 / 1,798 / 1,009 / 343 |
| `my_code_lists.yaml` | two named cohorts (ICD-10 prefixes) in the form `--codes` reads | - |
| `omop_cdm/` | the county sample as OMOP CDM v5.4 CSV tables (person, visit_occurrence, condition_occurrence with ICD-10 and SNOMED source values mixed, measurement, death, concept) | small |
| `fhir_export/` | the county sample as a FHIR R4 Bulk Data export (Patient with names and phones, Encounter, Condition coded in ICD-10 and/or SNOMED with UUID ids, Observation, Procedure, MedicationRequest) | small |

Not here: the publicly reported health-data trades (`comparables.csv`, written by hand, one row
each with its source URL) and illustrative dated exchange rates to replace with your own
(`fx_rates.csv`) are runtime data and ship inside the package, in `medvalue/data/`.

## Planted problems

Each is put there on purpose for the analyses to find; `tests/test_profile.py` names every one.

| sample | check | table | column | count | what |
|---|---|---|---|---:|---|
"""


def readme_text() -> str:
    """The data/sample/README.md text, with the planted problems listed from :data:`PLANTED`."""
    rows = [
        f"| {p.sample} | {p.check} | {p.table} | {p.column or ''} | {p.count} | {p.description} |"
        for p in PLANTED
    ]
    return _README_HEAD + "\n".join(rows) + "\n"


def _write_csv(df: pl.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    text = df.write_csv(date_format="%Y-%m-%d")
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(text.encode(encoding))
    tmp.replace(path)
    return path


def _write_excel(df: pl.DataFrame, path: Path, sheet: str) -> Path:
    import xlsxwriter

    tmp = path.with_suffix(".tmp.xlsx")
    wb = xlsxwriter.Workbook(str(tmp))
    # A fixed creation time keeps the workbook byte-identical between runs.
    wb.set_properties({"created": dt.datetime(2024, 6, 1)})
    df.write_excel(workbook=wb, worksheet=sheet, autofit=False)
    wb.close()
    tmp.replace(path)
    return path


def benchmark_table(rows: int, seed: int = 7) -> pl.DataFrame:
    """About 25 columns x ``rows``: the liver sample, widened with vital signs and labs."""
    base = liver_transplant(scale=rows / 1200, seed=seed).head(rows)
    rng = np.random.default_rng(seed + 1)
    n = base.height
    departments = ["hepatology", "transplant surgery", "ICU", "gastroenterology"]
    extra = pl.DataFrame(
        {
            "department": rng.choice(departments, n),
            "systolic_bp": np.round(rng.normal(128, 16, n)),
            "diastolic_bp": np.round(rng.normal(78, 10, n)),
            "heart_rate": np.round(rng.normal(80, 12, n)),
            "glucose_mmol_l": np.round(np.exp(rng.normal(1.7, 0.25, n)), 1),
            "bmi": np.round(rng.normal(23.5, 3.5, n), 1),
        }
    )
    return pl.concat([base, extra], how="horizontal")


def measurements_table(rows: int, seed: int = 13) -> pl.DataFrame:
    """20 columns x ``rows`` shaped like a lab or vital-signs export, unlike
    :func:`benchmark_table`: eight continuous measurements as floats (nearly every value
    distinct), four integer columns, four categorical ones of 3 to 5,000 levels, two dates,
    an ICD-10 code and a patient id with about three rows per patient."""
    rng = np.random.default_rng(seed)
    n = rows
    patients = max(1, n // 3)
    epoch = (dt.date(2016, 1, 1) - dt.date(1970, 1, 1)).days
    taken = rng.integers(0, 8 * 365, n)
    codes = np.array([c for c, *_ in _LIVER_CODES] + ["I10", "E11.9", "I63.9", "N18.3", "J18.9"])
    wards = np.array([f"W{i:02d}" for i in range(40)])
    doctors = np.array([f"D{i:04d}" for i in range(5000)])
    lognormal = {"crp_mg_l": (1.2, 1.0), "alt_u_l": (3.3, 0.6), "creatinine_umol_l": (4.4, 0.3)}
    normal = {"sodium_mmol_l": (140, 3), "potassium_mmol_l": (4.2, 0.5), "hemoglobin_g_l": (132, 18),
              "temperature_c": (36.9, 0.6), "weight_kg": (64, 12)}  # fmt: skip
    floats = {k: rng.lognormal(m, s, n) for k, (m, s) in lognormal.items()}
    floats |= {k: rng.normal(m, s, n) for k, (m, s) in normal.items()}
    return pl.DataFrame(
        {
            "patient_id": _ids("P", rng.integers(0, patients, n), 8),
            **floats,
            "age": rng.integers(18, 96, n),
            "heart_rate": rng.normal(80, 12, n).round().astype(np.int64),
            "length_of_stay": rng.geometric(0.15, n),
            "visit_number": rng.integers(1, 30, n),
            "sex": rng.choice(["M", "F", "U"], n, p=[0.49, 0.49, 0.02]),
            "ward": wards[rng.integers(0, wards.size, n)],
            "department": rng.choice(
                ["hepatology", "nephrology", "cardiology", "ICU", "neurology", "endocrinology"], n
            ),
            "attending": doctors[rng.integers(0, doctors.size, n)],
            "sample_date": pl.Series(taken + epoch).cast(pl.Int32).cast(pl.Date),
            "report_date": pl.Series(taken + epoch + rng.integers(0, 3, n))
            .cast(pl.Int32)
            .cast(pl.Date),
            "diagnosis_code": codes[rng.integers(0, codes.size, n)],
        }
    )


def scaled(
    name: str, scale: float, seed: int | None = None
) -> pl.DataFrame | dict[str, pl.DataFrame]:
    """Generate one sample at ``scale`` times its committed size (for benchmarks)."""
    generators: dict[str, Callable[..., Any]] = {
        "liver_transplant": liver_transplant,
        "carotid_stenting": carotid_stenting,
        "county_hospital": county_hospital,
    }
    if name not in generators:
        msg = f"unknown sample '{name}'; use one of {sorted(generators)}"
        raise ValueError(msg)
    gen = generators[name]
    return gen(scale) if seed is None else gen(scale, seed)


# --- clinical data standards (OMOP CDM, FHIR) --------------------------------------------------------

#: OMOP gender concepts (OMOP Gender vocabulary) and SNOMED concepts for the sample's codes.
_OMOP_GENDER = {"男": 8507, "女": 8532}
_SNOMED = {"I10": ("38341003", "Hypertensive disorder"), "E11": ("44054006", "Diabetes mellitus type 2"),
           "I63": ("230690007", "Cerebrovascular accident"), "I25": ("53741008", "Coronary arteriosclerosis")}  # fmt: skip


def omop_tables(scale: float = 0.1, seed: int = 20240603) -> dict[str, pl.DataFrame]:
    """The county sample as OMOP CDM v5.4 tables (person, visit_occurrence,
    condition_occurrence, measurement, death, concept): ids become integers, sex becomes
    gender concepts, ICD-10 codes (as the hospital wrote them) go to condition_source_value
    and the matching SNOMED concept to condition_concept_id."""
    county = county_hospital(scale, seed)
    people = county["patients"].with_row_index("person_id", offset=1)
    pid = dict(zip(people["patient_id"], people["person_id"], strict=True))
    enc = county["encounters"].with_row_index("visit_occurrence_id", offset=1)
    vid = dict(zip(enc["encounter_id"], enc["visit_occurrence_id"], strict=True))
    person = people.select(
        pl.col("person_id").cast(pl.Int64),
        pl.col("sex").replace_strict(_OMOP_GENDER, default=0).alias("gender_concept_id"),
        pl.col("birth_date").dt.year().alias("year_of_birth"),
        pl.col("birth_date").dt.month().alias("month_of_birth"),
        pl.col("birth_date").dt.day().alias("day_of_birth"),
        pl.col("birth_date").cast(pl.Datetime("us")).alias("birth_datetime"),
        pl.lit(0).alias("race_concept_id"),
        pl.lit(0).alias("ethnicity_concept_id"),
        pl.col("patient_id").alias("person_source_value"),
        pl.col("sex").alias("gender_source_value"),
    )
    visit = enc.select(
        pl.col("visit_occurrence_id").cast(pl.Int64),
        pl.col("patient_id").replace_strict(pid).cast(pl.Int64).alias("person_id"),
        pl.lit(9201).alias("visit_concept_id"),  # inpatient visit
        pl.col("admission_date").alias("visit_start_date"),
        pl.col("discharge_date").alias("visit_end_date"),
        pl.lit(32817).alias("visit_type_concept_id"),
        pl.lit(None, dtype=pl.Int64).alias("admitted_from_concept_id"),  # the v5.4 name
    )
    dx = (
        county["diagnoses"]
        .with_row_index("condition_occurrence_id", offset=1)
        .join(enc.select("encounter_id", "admission_date"), on="encounter_id", how="left")
    )
    category = pl.col("icd_code").str.to_uppercase().str.slice(0, 3)
    snomed = {k: int(v[0]) for k, v in _SNOMED.items()}
    condition = dx.select(
        pl.col("condition_occurrence_id").cast(pl.Int64),
        pl.col("patient_id").replace_strict(pid).cast(pl.Int64).alias("person_id"),
        category.replace_strict(snomed, default=0).cast(pl.Int64).alias("condition_concept_id"),
        pl.col("admission_date").alias("condition_start_date"),
        pl.lit(32817).alias("condition_type_concept_id"),
        pl.col("encounter_id").replace_strict(vid).cast(pl.Int64).alias("visit_occurrence_id"),
        # Source values as a mixed export writes them: ICD-10 on most rows, the SNOMED code
        # on every fourth row that has one (as OHDSI's GiBleed mixes them).
        pl.when(
            (pl.col("condition_occurrence_id") % 4 == 0)
            & (category.replace_strict(snomed, default=0) != 0)
        )
        .then(category.replace_strict(snomed, default=0).cast(pl.String))
        .otherwise(pl.col("icd_code"))
        .alias("condition_source_value"),
    )
    labs = county["labs"].with_row_index("measurement_id", offset=1)
    measurement = labs.select(
        pl.col("measurement_id").cast(pl.Int64),
        pl.col("patient_id").replace_strict(pid).cast(pl.Int64).alias("person_id"),
        pl.lit(3004501).alias("measurement_concept_id"),  # glucose [mass/volume]
        pl.col("encounter_id").replace_strict(vid).cast(pl.Int64).alias("visit_occurrence_id"),
        pl.col("glucose_mmol_l").alias("value_as_number"),
    ).join(visit.select("visit_occurrence_id", pl.col("visit_start_date").alias("measurement_date")),
           on="visit_occurrence_id", how="left")  # fmt: skip
    death = people.filter(pl.col("death_date").is_not_null()).select(
        pl.col("person_id").cast(pl.Int64), pl.col("death_date")
    )
    concept = pl.DataFrame(
        {
            "concept_id": [int(v[0]) for v in _SNOMED.values()] + [8507, 8532],
            "concept_name": [v[1] for v in _SNOMED.values()] + ["MALE", "FEMALE"],
            "domain_id": ["Condition"] * len(_SNOMED) + ["Gender", "Gender"],
            "vocabulary_id": ["SNOMED"] * len(_SNOMED) + ["Gender", "Gender"],
            "concept_code": [v[0] for v in _SNOMED.values()] + ["M", "F"],
        }
    )
    return {"person": person, "visit_occurrence": visit, "condition_occurrence": condition,
            "measurement": measurement, "death": death, "concept": concept}  # fmt: skip


_GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋")
_FAMILY = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴")


def fhir_resources(scale: float = 0.05, seed: int = 20240603) -> dict[str, list[dict]]:
    """The county sample as FHIR R4 resources (Patient with name, telecom, address and
    identifier; Encounter; Condition coded in ICD-10 and SNOMED; Observation; Procedure;
    and MedicationRequest, which medvalue does not analyse)."""
    county = county_hospital(scale, seed)
    out: dict[str, list[dict]] = {k: [] for k in ("Patient", "Encounter", "Condition", "Observation",
                                                  "Procedure", "MedicationRequest")}  # fmt: skip
    for i, p in enumerate(county["patients"].iter_rows(named=True)):  # a sample of a few hundred
        resource = {
            "resourceType": "Patient", "id": p["patient_id"],
            "gender": "male" if p["sex"] == "男" else "female",
            "birthDate": p["birth_date"].isoformat(),
            "name": [{"family": _FAMILY[i % 10], "given": [_GIVEN[(i * 7) % 10]]}],
            "telecom": [{"system": "phone", "value": f"13{(i * 7919) % 10**9:09d}"}],
            "identifier": [{"system": "urn:oid:hospital-mrn", "value": f"MRN{100000 + i}"}],
            "address": [{"line": [f"人民路{i % 200 + 1}号"], "city": "温州市", "district": p["township"],
                         "state": "浙江省", "postalCode": "325000"}],
        }  # fmt: skip
        if p["death_date"] is not None:
            resource["deceasedDateTime"] = f"{p['death_date'].isoformat()}T00:00:00+08:00"
        out["Patient"].append(resource)
    for e in county["encounters"].iter_rows(named=True):
        out["Encounter"].append({
            "resourceType": "Encounter", "id": e["encounter_id"], "status": "finished",
            "class": {"code": "IMP"}, "subject": {"reference": f"Patient/{e['patient_id']}"},
            "type": [{"text": e["department"]}],
            "period": {"start": f"{e['admission_date'].isoformat()}T09:00:00+08:00",
                       "end": f"{e['discharge_date'].isoformat()}T10:00:00+08:00"},
        })  # fmt: skip
        if e["procedure_date"] is not None:
            out["Procedure"].append({
                "resourceType": "Procedure", "id": f"P{e['encounter_id']}", "status": "completed",
                "subject": {"reference": f"Patient/{e['patient_id']}"},
                "encounter": {"reference": f"Encounter/{e['encounter_id']}"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "36969009",
                                     "display": "Placement of stent in coronary artery"}]},
                "performedDateTime": e["procedure_date"].isoformat(),
            })  # fmt: skip
        out["MedicationRequest"].append({"resourceType": "MedicationRequest", "id": f"M{e['encounter_id']}",
                                         "subject": {"reference": f"Patient/{e['patient_id']}"}})  # fmt: skip
    starts = dict(
        zip(
            county["encounters"]["encounter_id"],
            county["encounters"]["admission_date"],
            strict=True,
        )
    )
    for j, d in enumerate(county["diagnoses"].iter_rows(named=True)):
        code = d["icd_code"].upper()
        coding = [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]
        snomed = _SNOMED.get(code[:3])
        if snomed:  # SNOMED first, as many systems send it, ICD-10 second
            coding.insert(
                0, {"system": "http://snomed.info/sct", "code": snomed[0], "display": snomed[1]}
            )
            if j % 5 == 0:  # some systems send SNOMED alone: a mixed export
                coding = coding[:1]
        # Resource ids are UUIDs whose last group holds an 11-digit run that reads like a
        # mobile number (13569764446...): a whole-token pattern must not flag it.
        stem = uuid.uuid5(uuid.NAMESPACE_URL, f"condition/{j}").hex
        out["Condition"].append({
            "resourceType": "Condition",
            "id": f"{stem[:8]}-{stem[8:12]}-{stem[12:16]}-{stem[16:20]}-{13569764446 + j:011d}f",
            "subject": {"reference": f"urn:uuid:{d['patient_id']}"},
            "encounter": {"reference": f"Encounter/{d['encounter_id']}"},
            "code": {"coding": coding}, "onsetDateTime": starts[d["encounter_id"]].isoformat(),
        })  # fmt: skip
    for k, lab in enumerate(county["labs"].iter_rows(named=True)):
        out["Observation"].append({
            "resourceType": "Observation", "id": f"O{k + 1}", "status": "final",
            "subject": {"reference": f"Patient/{lab['patient_id']}"},
            "encounter": {"reference": f"Encounter/{lab['encounter_id']}"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
            "valueQuantity": {"value": lab["glucose_mmol_l"], "unit": "mmol/L"},
            "effectiveDateTime": f"{starts[lab['encounter_id']].isoformat()}T08:00:00Z",
        })  # fmt: skip
    return out


def write_fhir_ndjson(folder: str | Path, resources: dict[str, list[dict]]) -> list[Path]:
    """A Bulk Data export: one ``<Type>.ndjson`` per resource type."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, items in resources.items():
        lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in items) + "\n"
        (folder / f"{kind}.ndjson").write_text(lines, encoding="utf-8")
        paths.append(folder / f"{kind}.ndjson")
    return paths


def write_fhir_bundles(
    folder: str | Path, resources: dict[str, list[dict]], per_bundle: int = 500
) -> list[Path]:
    """The same resources as collection Bundles of ``per_bundle`` entries each."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    everything = [r for items in resources.values() for r in items]
    paths = []
    for b, start in enumerate(range(0, len(everything), per_bundle)):
        chunk = everything[start : start + per_bundle]
        bundle = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in chunk]}  # fmt: skip
        path = folder / f"bundle_{b:03d}.json"
        path.write_text(json.dumps(bundle, ensure_ascii=False, indent=1), encoding="utf-8")
        paths.append(path)
    return paths


def fhir_observation_lines(n: int, seed: int = 11) -> pl.DataFrame:
    """``n`` Observation resources as NDJSON lines (one column ``line``), built with polars
    string expressions, for the streaming benchmark."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({
        "i": np.arange(n), "p": rng.integers(0, max(1, n // 20), n),
        "v": np.round(rng.normal(5.5, 1.2, n), 1), "d": rng.integers(0, 2000, n),
    })  # fmt: skip
    day = (pl.lit(dt.date(2019, 1, 1)) + pl.duration(days=pl.col("d"))).dt.strftime("%Y-%m-%d")
    parts: list[str | pl.Expr] = [
        '{"resourceType":"Observation","id":"O', pl.col("i"), '","status":"final","subject":{"reference":"Patient/P',
        pl.col("p"), '"},"code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},'
        '"valueQuantity":{"value":', pl.col("v"), ',"unit":"mmol/L"},"effectiveDateTime":"', day, 'T08:00:00+08:00"}',
    ]  # fmt: skip
    line = pl.concat_str([pl.lit(x) if isinstance(x, str) else x.cast(pl.String) for x in parts])
    return frame.select(line.alias("line"))


# --- a pool of four hospitals of one county -------------------------------------------------

#: The pool's sites: name, file, people, share of its people also seen at the county
#: hospital, age range, what it treats.
POOL_SITES = (
    ("县人民医院", "county_people.csv", 1800, 0.0, (18, 95), "general"),
    ("县中医院", "county_tcm.csv", 1100, 0.35, (25, 95), "general"),
    ("东湖镇卫生院", "donghu_health_centre.parquet", 500, 0.55, (55, 98), "elderly"),
    ("县第二人民医院血液与罕见病科", "rare_disease_clinic.csv", 220, 0.2, (3, 70), "rare"),
)
_POOL_COMMON = ("I10", "E11.9", "J18.9", "I63.9", "K29.7", "N18.3", "I25.1", "J44.1", "I50.9",
                "C34.9", "K80.2", "M17.9", "S72.0", "N39.0", "I48.9", "E78.5", "G45.9", "K35.8")  # fmt: skip
_POOL_ELDERLY = ("I10", "I50.9", "J44.1", "I63.9", "N18.3", "E11.9", "F03", "M81.9", "I48.9")
#: Rare diseases (China's first national list of rare diseases, 2018, includes each).
_POOL_RARE = ("D66", "D67", "E83.0", "G71.0", "E75.2", "G12.2", "D56.1", "Q87.4", "E70.0", "G35")
_POOL_HIGH_RISK = {"I50.9", "N18.3", "J44.1", "C34.9", *_POOL_RARE}
_POOL_TOWNSHIPS = ("城关镇", "东湖镇", "西岭乡", "南山乡", "北塘镇", "青石乡", "河口镇", "云溪镇")
_POOL_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红梅文斌辉宇浩然欣怡子轩雨涵晨"
)
#: Headers of the Chinese-language exports, and of the one export in English.
_POOL_ZH = {"patient_no": "住院号", "id_number": "身份证号", "name": "姓名", "sex": "性别",
            "birth_date": "出生日期", "township": "乡镇", "admit_date": "入院日期",
            "dx_code": "主要诊断编码", "los": "住院天数", "prior_admissions": "既往住院次数",
            "readmit_30d": "30天再入院"}  # fmt: skip


def _resident_ids(area: str, birth: np.ndarray, seq: np.ndarray, male: np.ndarray) -> list[str]:
    from medvalue.core._patterns import resident_id_check_char

    seq = np.where(male == (seq % 2 == 1), seq, seq + 1) % 1000  # odd: male (GB 11643)
    out = []
    for b, s in zip(birth, seq, strict=True):  # a few thousand ids, once, for a sample
        first17 = f"{area}{str(b)[:10].replace('-', '')}{int(s):03d}"
        out.append(first17 + resident_id_check_char(first17))
    return out


def county_pool(seed: int = 20250630) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Four hospitals of one county that see some of the same people: the county hospital,
    the TCM hospital, a township health centre (elderly, English headers, Parquet) and a
    haematology and rare-disease clinic whose rare diagnoses no other site has.

    Returns the sites' exports (keyed by site name, in the sites' own headers) and the truth
    the exports do not hold: which resident each (site, patient_no) is, and whether a typo was
    planted in that person's resident ID at that site.
    """
    rng = np.random.default_rng(seed)
    n = 6000
    birth = _dates(rng, n, "1928-01-01", "2021-12-31")
    male = rng.random(n) < 0.5
    names = [
        _POOL_SURNAMES[i] + _POOL_GIVEN[j] + (_POOL_GIVEN[k] if k >= 0 else "")
        for i, j, k in zip(rng.integers(0, len(_POOL_SURNAMES), n),
                           rng.integers(0, len(_POOL_GIVEN), n),
                           np.where(rng.random(n) < 0.6, rng.integers(0, len(_POOL_GIVEN), n), -1), strict=True)
    ]  # fmt: skip
    ids = _resident_ids("330326", birth, rng.integers(1, 999, n), male)
    township = rng.choice(_POOL_TOWNSHIPS, n)
    age_now = (np.datetime64("2025-06-30") - birth).astype("timedelta64[D]").astype(int) / 365.25
    sites: dict[str, pl.DataFrame] = {}
    truth = []
    first_people: np.ndarray | None = None
    for s, (site, _file, size, shared, (lo, hi), kind) in enumerate(POOL_SITES):
        eligible = np.flatnonzero((age_now >= lo) & (age_now <= hi))
        if kind == "elderly":
            eligible = eligible[np.isin(township[eligible], ["东湖镇", "城关镇", "西岭乡"])]
        take_shared = 0 if first_people is None else round(size * shared)
        pool_shared = (
            np.intersect1d(first_people, eligible)
            if first_people is not None
            else np.array([], int)
        )
        chosen_shared = rng.choice(pool_shared, min(take_shared, len(pool_shared)), replace=False)
        rest = np.setdiff1d(eligible, chosen_shared)
        chosen = np.concatenate(
            [chosen_shared, rng.choice(rest, size - len(chosen_shared), replace=False)]
        )
        if first_people is None:
            first_people = chosen
        visits = rng.poisson(0.6 if kind != "elderly" else 1.0, size) + 1
        person = np.repeat(chosen, visits)
        m = len(person)
        catalogue: tuple[str, ...] = {
            "general": _POOL_COMMON,
            "elderly": _POOL_ELDERLY,
            "rare": _POOL_RARE,
        }[kind]
        dx = rng.choice(catalogue, m)
        los = np.clip(rng.gamma(2.0, 3.5 if kind != "rare" else 6.0, m).round(), 1, 90).astype(int)
        prior = rng.poisson(0.5 if kind != "elderly" else 1.5, m)
        age = age_now[person]
        risk = -3.2 + 0.022 * (age - 50) + 0.08 * np.minimum(los, 30) + 0.35 * prior
        risk = risk + np.where(np.isin(dx, list(_POOL_HIGH_RISK)), 1.1, 0.0)
        readmit = (rng.random(m) < 1 / (1 + np.exp(-risk))).astype(int)
        patient_no = [f"{'ABCD'[s]}{i:06d}" for i in range(1, size + 1)]
        local = dict(zip(chosen.tolist(), patient_no, strict=True))
        id_col = [ids[p] for p in person]
        typo = np.zeros(m, bool)
        if s in (1, 2):
            # A typed-in digit wrong for a few people seen elsewhere (every visit copies the
            # registration), and harmless variants: a lowercase x, spaces, full-width digits.
            seen_before = (
                [i for i, p in enumerate(chosen) if p in set(first_people.tolist())] if s else []
            )
            wrong = set(rng.choice(seen_before, 6, replace=False).tolist())
            for r in range(m):
                slot = int(np.searchsorted(np.cumsum(visits), r, side="right"))
                if slot in wrong:
                    digits = list(id_col[r])
                    pos = 14 + slot % 3
                    digits[pos] = str((int(digits[pos]) + 1) % 10)
                    id_col[r] = "".join(digits)
                    typo[r] = True
                elif slot % 97 == 5:
                    id_col[r] = " ".join([id_col[r][:6], id_col[r][6:14], id_col[r][14:]]).lower()
                elif slot % 89 == 7:
                    id_col[r] = (
                        id_col[r][:17].translate(
                            str.maketrans("0123456789", "０１２３４５６７８９")
                        )
                        + id_col[r][17]
                    )
        codes = pl.Series(dx)
        if kind == "rare":  # exported lowercase and without the dot
            codes = codes.str.replace(".", "", literal=True).str.to_lowercase()
        frame = pl.DataFrame({
            "patient_no": [local[p] for p in person],
            "id_number": id_col,
            "name": [names[p] for p in person],
            "sex": np.where(male[person], "男", "女") if kind != "elderly" else np.where(male[person], "M", "F"),
            "birth_date": pl.Series(birth[person]).cast(pl.Date),
            "township": township[person],
            "admit_date": pl.Series(_dates(rng, m, "2023-01-01", "2025-05-31")).cast(pl.Date),
            "dx_code": codes,
            "los": los,
            "prior_admissions": prior,
            "readmit_30d": readmit,
        })  # fmt: skip
        sites[site] = frame if kind == "elderly" else frame.rename(_POOL_ZH)
        truth.append(pl.DataFrame({
            "site": [site] * m, "patient_no": frame["patient_no"], "resident": person.astype(np.int64),
            "typo": typo,
        }).unique(["site", "patient_no"], keep="first"))  # fmt: skip
    return sites, pl.concat(truth)


_POOL_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹"

POOL_SPEC = """# A pooled product of four hospitals of one (synthetic) county: `medvalue pool --spec`.
# Sites are linked by the resident ID number under a key the sites share (MEDVALUE_SECRET);
# see docs/methods.md, "Pooled products".
name: 示例县医共体住院数据 2023-2025 (synthetic)
metadata:
  title: Sample county medical community inpatient data, 2023-2025 (synthetic)
  title_zh: 示例县医共体住院数据 2023-2025（合成数据）
  province: Zhejiang
  city: Wenzhou
  hospital_tier: 2A
  specialty: general medicine; haematology; rare diseases
  modality: structured EHR
  licence_intent: non-exclusive research licence
linkage:
  key: resident_id
  secret_env: MEDVALUE_SECRET
label: 30天再入院
predictors: [住院天数, 既往住院次数, 主要诊断编码]
weights: {people: 1, categories: 1, model: 1}
sites:
  - name: 县人民医院
    path: county_people.csv
  - name: 县中医院
    path: county_tcm.csv
  - name: 东湖镇卫生院
    path: donghu_health_centre.parquet
    columns: {身份证号: id_number, 30天再入院: readmit_30d, 住院天数: los, 既往住院次数: prior_admissions, 主要诊断编码: dx_code}
  - name: 县第二人民医院血液与罕见病科
    path: rare_disease_clinic.csv
"""


def write_pool(out: str | Path) -> list[Path]:
    """The sample pool: four exports and ``pool.yaml``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    sites, _ = county_pool()
    written = []
    for (site, file, *_rest), frame in zip(POOL_SITES, sites.values(), strict=True):
        path = folder / file
        if file.endswith(".parquet"):
            tmp = path.with_suffix(".tmp.parquet")
            frame.write_parquet(tmp, statistics=False)
            tmp.replace(path)
            written.append(path)
        else:
            written.append(
                _write_csv(frame, path, encoding="gb18030" if site == "县中医院" else "utf-8")
            )
    spec = folder / "pool.yaml"
    spec.write_text(POOL_SPEC, encoding="utf-8")
    written.append(spec)
    return written
