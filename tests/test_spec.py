"""Role inference from Chinese and English names and from value patterns; YAML specs."""

from __future__ import annotations

import polars as pl
import pytest
import yaml

from medvalue import load_dataset
from medvalue.errors import SpecError
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
    # Dates by name are confirmed by date values; other roles take any text.
    values = ["2024-01-05", "2024-02-06"] if role.endswith("_date") else ["x1", "x2"]
    pl.DataFrame({column: values, "other": ["a", "b"]}).write_csv(path)
    cs = load_dataset(path).spec.tables["t"].columns[column]
    assert cs.role == role
    assert cs.reason == ("both" if role.endswith("_date") else "name") and 0 < cs.confidence <= 1


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
