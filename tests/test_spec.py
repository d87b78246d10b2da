"""Role inference from Chinese and English names and from value patterns; YAML specs."""

from __future__ import annotations

import polars as pl
import pytest
import yaml

from medvalue import load_dataset
from medvalue.core._errors import SpecError
from tests.conftest import LIVER, LIVER_GB, LIVER_SPEC

NAMES = {
    "患者ID": "patient_id",
    "病案号": "patient_id",
    "住院号": "patient_id",
    "性别": "sex",
    "年龄": "age",
    "出生日期": "birth_date",
    "入院日期": "admission_date",
    "出院日期": "discharge_date",
    "主要诊断编码": "diagnosis_code",
    "ICD编码": "diagnosis_code",
    "诊断名称": "diagnosis_text",
    "身份证号": "direct_identifier",
    "姓名": "direct_identifier",
    "手机号": "direct_identifier",
    "联系电话": "direct_identifier",
    "住址": "direct_identifier",
    "科室": "site",
    "备注": "free_text",
    "patient_id": "patient_id",
    "MRN": "patient_id",
    "Sex": "sex",
    "gender": "sex",
    "Age": "age",
    "date_of_birth": "birth_date",
    "Admission Date": "admission_date",
    "discharge_date": "discharge_date",
    "primary_dx_code": "diagnosis_code",
    "icd10": "diagnosis_code",
    "phone": "direct_identifier",
    "address": "direct_identifier",
    "full_name": "direct_identifier",
    "notes": "free_text",
    "encounter_id": "encounter_id",
    "就诊流水号": "encounter_id",
    "death_date": "death_date",
}


@pytest.mark.parametrize(("column", "role"), sorted(NAMES.items()))
def test_role_from_column_name(tmp_path, column, role):
    path = tmp_path / "t.csv"
    # Dates and numbers by name are confirmed by such values; other roles take any text.
    confirmed = {"date": ["2024-01-05", "2024-02-06"], "age": ["45", "60"]}
    kind = "date" if role.endswith("_date") else role
    values = confirmed.get(kind, ["x1", "x2"])
    pl.DataFrame({column: values, "other": ["a", "b"]}).write_csv(path)
    cs = load_dataset(path).spec.tables["t"].columns[column]
    assert cs.role == role
    assert cs.reason == ("both" if kind in confirmed else "name") and 0 < cs.confidence <= 1


def test_roles_from_value_patterns(tmp_path):
    path = tmp_path / "t.csv"
    pl.DataFrame(
        {
            "c1": ["11010519491231002X", "34052419800101001X", "360426199101010071"],
            "c2": ["13812345678", "15900001111", "18611112222"],
            "c3": ["K74.6", "k721", "I10.x00x024"],
            "c4": ["张伟", "王秀英", "李娜"],
            "c5": ["2024-01-05", "2024/1/6", "20240107"],
            "c6": ["a@b.cn", "x.y@hosp.org", "z@q.com"],
        }
    ).write_csv(path)
    cols = load_dataset(path).spec.tables["t"].columns
    assert (cols["c1"].role, cols["c1"].kind, cols["c1"].reason) == (
        "direct_identifier",
        "resident_id",
        "pattern",
    )
    assert (cols["c2"].role, cols["c2"].kind) == ("direct_identifier", "phone")
    assert cols["c3"].role == "diagnosis_code"
    assert (cols["c4"].role, cols["c4"].kind) == ("direct_identifier", "name")
    assert cols["c5"].role == "event_date"
    assert (cols["c6"].role, cols["c6"].kind) == ("direct_identifier", "email")


def test_values_beat_a_misleading_name(tmp_path):
    path = tmp_path / "t.csv"
    pl.DataFrame({"remark_code": ["11010519491231002X", "34052419800101001X"]}).write_csv(path)
    assert load_dataset(path).spec.tables["t"].columns["remark_code"].kind == "resident_id"


def test_chinese_and_english_samples_agree():
    en = load_dataset(LIVER).spec.tables["liver_transplant"].columns
    zh = load_dataset(LIVER_GB).spec.tables["liver_transplant_gb18030"].columns
    assert [c.role for c in en.values()][:7] == [c.role for c in zh.values()][:7]


def test_yaml_spec_overrides_and_round_trips(tmp_path):
    ds = load_dataset(LIVER, spec=LIVER_SPEC)
    cols = ds.spec.tables["liver_transplant"].columns
    assert cols["death_90d"].role == "label" and cols["death_90d"].reason == "spec"
    assert ds.spec.metadata["hospital_tier"] == "3A"
    out = tmp_path / "spec.yaml"
    out.write_text(ds.spec.to_yaml(), encoding="utf-8")
    again = load_dataset(LIVER, spec=out)
    assert {k: v.role for k, v in again.spec.tables["liver_transplant"].columns.items()} == {
        k: v.role for k, v in cols.items()
    }
    assert yaml.safe_load(out.read_text())["metadata"]["province"] == "Shandong"


def test_spec_names_table_for_single_table_variants(tmp_path):
    # The liver spec names its table 'liver_transplant'; the Excel sheet has the same name,
    # and a single-table spec also fits a differently named single table.
    path = tmp_path / "renamed.csv"
    path.write_bytes(LIVER.read_bytes())
    ds = load_dataset(path, spec=LIVER_SPEC)
    assert ds.spec.tables["renamed"].columns["death_90d"].role == "label"


def test_spec_errors_name_the_fix(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("colour: blue\n")
    with pytest.raises(SpecError, match="unknown top-level key"):
        load_dataset(LIVER, spec=bad)
    bad.write_text("links:\n  - {from: a.b}\n")
    with pytest.raises(SpecError, match="bad link"):
        load_dataset(LIVER, spec=bad)


def test_spec_command_writes_a_usable_starter(tmp_path, run):
    out = tmp_path / "s.yaml"
    r = run("spec", LIVER_GB, "-o", out)
    assert r.code == 0 and out.exists()
    text = out.read_text(encoding="utf-8")
    assert "患者ID" in text and "role: patient_id" in text
    assert run("inspect", LIVER_GB, "--spec", out).code == 0


# --- names confirmed by values (real exports) --------------------------------------------------


def _roles(tmp_path, frame: pl.DataFrame, name: str = "t") -> dict:
    path = tmp_path / f"{name}.csv"
    frame.write_csv(path)
    return dict(load_dataset(path).spec.tables[name].columns)


def test_a_time_named_column_of_numbers_is_a_duration_not_a_date(tmp_path):
    cols = _roles(tmp_path, pl.DataFrame({
        "time": ["400", "4500", "1012"], "wait.time": ["5", "12", "0"],
        "凝血酶原时间": ["12.2", "10.6", "12.0"], "检查时间": ["2024-01-05 08:00"] * 3,
    }))  # fmt: skip
    assert (cols["time"].role, cols["time"].reason) == ("duration", "both")
    assert cols["wait.time"].role == "duration"
    assert cols["凝血酶原时间"].role == "measurement"  # prothrombin time is a lab value
    assert cols["检查时间"].role == "event_date"


def test_values_overrule_a_date_name_and_the_profile_says_so(tmp_path):
    frame = pl.DataFrame(
        {"admission_date": ["12", "3", "40", "7"], "charges": ["12000", "45000", "99000", "23456"]}
    )
    cols = _roles(tmp_path, frame)
    adm = cols["admission_date"]
    assert (adm.role, adm.reason, adm.named_as) == ("other", "conflict", "admission_date")
    assert "plain numbers" in adm.note
    # Five-digit amounts are not Excel serial dates unless the name says date.
    assert cols["charges"].role == "other"
    ds = load_dataset(tmp_path / "t.csv")
    assert ds.plans["t"]["charges"].kind == "number"
    from medvalue import profile

    found = {f.check: f for f in profile(ds, as_of="2026-01-01").findings}
    assert found["role_conflict"].column == "admission_date"
    assert "the values win" in found["role_conflict"].message("en")
    assert "以数值为准" in found["role_conflict"].message("zh")
    assert "unparseable_values" not in found


def test_codes_under_a_text_name_are_codes_and_the_profile_says_so(tmp_path):
    # "诊断" (diagnosis) names text, but its values are ICD-10 codes, lowercase and dotless
    # among them: the values win, as codes, and the profile reports the conflict.
    codes = ["I21.9", "i10", "E119", "J18.9", "K70.3", None] * 20
    cols = _roles(tmp_path, pl.DataFrame({"诊断": codes, "说明": ["好转"] * 120}))
    dx = cols["诊断"]
    assert (dx.role, dx.reason, dx.named_as, dx.code_system) == (
        "diagnosis_code", "conflict", "diagnosis_text", "icd10",
    )  # fmt: skip
    assert "ICD-10 codes" in dx.note
    from medvalue import coverage, profile

    ds = load_dataset(tmp_path / "t.csv")
    found = {f.check: f for f in profile(ds, as_of="2026-01-01").findings}
    assert found["role_conflict"].column == "诊断"
    assert coverage(ds).chapters  # counted as codes: the coverage has ICD-10 chapters


def test_json_text_is_free_text_whatever_its_name(tmp_path):
    # A CSV export with JSON records in a column: a name and a phone number inside them are
    # invisible to every identifier pattern, so the column is hidden as free text, even
    # under a name that would show its values.
    record = '{"name": "张伟", "phone": "13812345678"}'
    cols = _roles(tmp_path, pl.DataFrame({"ward": [record] * 30, "note": ['["a", "b"]'] * 30}))
    assert (cols["ward"].role, cols["ward"].reason, cols["ward"].named_as) == (
        "free_text", "conflict", "site",
    )  # fmt: skip
    assert cols["note"].role == "free_text"


def test_excel_serial_numbers_under_a_date_name_stay_dates(tmp_path):
    cols = _roles(tmp_path, pl.DataFrame({"admission_date": ["45296", "45300", "45310"]}))
    assert (cols["admission_date"].role, cols["admission_date"].note) == (
        "admission_date", "Excel serial day numbers",
    )  # fmt: skip


def test_person_names_by_header_words_and_by_values(tmp_path):
    rng = __import__("random").Random(3)
    given = [
        f"{a}{b}"
        for a in ("jo", "ma", "li", "an", "ke", "su", "ra", "de")
        for b in ("hn", "ry", "sa", "ne", "vin", "lia", "mon", "ra")
    ]
    n = 600
    frame = pl.DataFrame({
        "patient_first_name": [rng.choice(given) for _ in range(n)],
        "surname": [rng.choice(["wang", "li", "zhang", "smith"]) for _ in range(n)],
        "姓名": [rng.choice(["张伟", "王芳", "李娜"]) for _ in range(n)],
        "given": [rng.choice(given) for _ in range(n)],  # no name word: values decide
        "clinic_name": [rng.choice(["clinical lab", "emergency dept", "icu"]) for _ in range(n)],
        "result": [rng.choice(["negative", "positive", "invalid"]) for _ in range(n)],
    })  # fmt: skip
    cols = _roles(tmp_path, frame)
    for c in ("patient_first_name", "surname", "姓名", "given"):
        assert (cols[c].role, cols[c].kind) == ("direct_identifier", "name"), c
    assert cols["given"].reason == "pattern"
    assert cols["clinic_name"].role == "other" and cols["result"].role == "other"


def test_row_numbers_are_an_index_by_name_or_by_value(tmp_path):
    n = 50
    frame = pl.DataFrame({
        "Unnamed: 0": list(range(n)), "n": list(range(1, n + 1)), "序号": list(range(7, 7 + n)),
        "dose": [i % 7 for i in range(n)],
    })  # fmt: skip
    cols = _roles(tmp_path, frame)
    assert cols["Unnamed: 0"].role == "row_index" and cols["序号"].role == "row_index"
    assert (cols["n"].role, cols["n"].reason) == ("row_index", "pattern")
    assert cols["dose"].role == "other"


def test_birth_dates_by_name_and_by_evidence(tmp_path):
    days = [f"2020-0{m}-1{d}" for m in range(1, 6) for d in range(0, 3)]
    born = [f"19{40 + i}-03-0{1 + i % 9}" for i in range(len(days))]
    frame = pl.DataFrame({"d1": born, "seen": days, "left": days})
    cols = _roles(tmp_path, frame)
    assert (cols["d1"].role, cols["d1"].quasi, cols["d1"].reason) == ("birth_date", True, "pattern")
    named = _roles(tmp_path, pl.DataFrame({"birth.dt": born, "dob": born, "出生日期": born}), "n")
    assert {c.role for c in named.values()} == {"birth_date"}


def test_units_from_header_unit_column_or_values(tmp_path):
    frame = pl.DataFrame({
        "albumin": ["3.1", "4.2", "2.9", "3.8"], "creatinine": ["88", "120", "65", "300"],
        "bilirubin_mg_dl": ["1.1", "0.6", "14.5", "2.0"], "glucose": ["5.5", "6.1", "7.0", "4.9"],
        "glucose_unit": ["mg/dL"] * 4,
    })  # fmt: skip
    cols = _roles(tmp_path, frame)
    assert cols["albumin"].unit == "g/dL" and "g/dL" in cols["albumin"].note
    assert cols["creatinine"].unit == "umol/L"
    assert cols["bilirubin_mg_dl"].unit == "mg/dL"
    assert cols["glucose"].unit == "mg/dL"  # the unit column beats the values
    assert cols["glucose_unit"].role == "other"


def test_day_first_month_first_and_ambiguous_dates(tmp_path):
    frame = pl.DataFrame({
        "visit_date": ["25/12/2023", "05/01/2024", "13-02-2024"],
        "us_date": ["12/25/2023", "01/05/2024", "02/13/2024"],
        "unclear_date": ["05/01/2024", "06/02/2024", "07/03/2024"],
    })  # fmt: skip
    path = tmp_path / "d.csv"
    frame.write_csv(path)
    ds = load_dataset(path)
    plans = ds.plans["d"]
    assert (plans["visit_date"].date_order, plans["visit_date"].date_ambiguous) == ("dmy", False)
    assert (plans["us_date"].date_order, plans["us_date"].date_ambiguous) == ("mdy", False)
    assert plans["unclear_date"].date_ambiguous
    typed = ds.frame("d").collect()
    assert typed["visit_date"].dt.strftime("%Y-%m-%d").to_list() == [
        "2023-12-25",
        "2024-01-05",
        "2024-02-13",
    ]
    assert typed["us_date"].dt.strftime("%Y-%m-%d").to_list() == [
        "2023-12-25",
        "2024-01-05",
        "2024-02-13",
    ]
    from medvalue import profile

    found = [
        f for f in profile(ds, as_of="2026-01-01").findings if f.check == "ambiguous_date_order"
    ]
    assert [f.column for f in found] == ["unclear_date"] and "dd/mm/yyyy" in found[0].message("en")
    # The spec settles it: month first.
    spec = tmp_path / "d.spec.yaml"
    spec.write_text(
        "tables:\n  d:\n    columns:\n      unclear_date: {role: event_date, date_format: mdy}\n"
    )
    month_first = load_dataset(path, spec=spec).frame("d").collect()["unclear_date"]
    assert month_first.dt.strftime("%Y-%m-%d").to_list() == [
        "2024-05-01",
        "2024-06-02",
        "2024-07-03",
    ]
    spec.write_text(
        "tables:\n  d:\n    columns:\n      unclear_date: {role: event_date, date_format: '%d/%m/%Y'}\n"
    )
    strftime = load_dataset(path, spec=spec).frame("d").collect()["unclear_date"]
    assert strftime.dt.strftime("%Y-%m-%d").to_list() == ["2024-01-05", "2024-02-06", "2024-03-07"]


def test_columns_a_file_typed_as_dates_are_dates_whatever_their_name(tmp_path):
    # Parquet written by pandas: a datetime column with a zone under a name that says
    # nothing, and the index pandas stores as a column.
    import datetime as dt

    frame = pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(30)],
            "adm": pl.datetime_range(
                dt.datetime(2021, 1, 1), dt.datetime(2021, 1, 30), "1d", eager=True,
                time_zone="Asia/Shanghai",
            ),
            "d": [dt.date(2022, 1, 1) + dt.timedelta(days=i) for i in range(30)],
            "__index_level_0__": [7 + 3 * i for i in range(30)],
        }
    )  # fmt: skip
    path = tmp_path / "t.parquet"
    frame.write_parquet(path)
    cols = load_dataset(path).spec.tables["t"].columns
    assert (cols["adm"].role, cols["adm"].reason) == ("event_date", "pattern")
    assert cols["d"].role == "event_date"
    assert cols["__index_level_0__"].role == "row_index"
