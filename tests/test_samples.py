"""The committed samples: deterministic, small, and read correctly by inspect."""

from __future__ import annotations

import json

import polars as pl
import pytest

from medvalue.core._config import SAMPLE_DIR
from medvalue.datasets import PLANTED, liver_transplant, scaled, write_samples
from tests.conftest import CAROTID, COUNTY, LIVER, LIVER_GB, LIVER_XLSX


def test_regenerating_samples_gives_identical_bytes(tmp_path):
    write_samples(tmp_path)
    for f in sorted(tmp_path.rglob("*")):
        if not f.is_file():
            continue
        committed = SAMPLE_DIR / f.relative_to(tmp_path)
        if f.suffix == ".parquet":
            # A Parquet file names the polars that wrote it (created_by): the same rows and
            # types from another polars release are other bytes.
            same = pl.read_parquet(committed).equals(pl.read_parquet(f))
            assert same and pl.read_parquet_schema(committed) == pl.read_parquet_schema(f), (
                f"{committed.name} differs: run make samples"
            )
            continue
        assert committed.read_bytes() == f.read_bytes(), (
            f"{committed.name} differs: run make samples"
        )


def test_committed_samples_stay_small():
    total = sum(f.stat().st_size for f in SAMPLE_DIR.rglob("*") if f.is_file())
    assert total < 5_000_000


@pytest.mark.parametrize(
    ("path", "rows", "encoding"),
    [
        (LIVER, 1202, "utf-8"),
        (LIVER_GB, 1202, "gb18030"),
        (LIVER_XLSX, 1202, None),
        (CAROTID, 2550, "utf-8"),
    ],
)
def test_inspect_reports_rows_and_encoding(run, path, rows, encoding):
    d = json.loads(run("inspect", "--json", path).out)
    assert d["tables"][0]["rows"] == rows
    assert d["encoding"] == encoding
    roles = {c["name"]: c["role"] for c in d["tables"][0]["columns"]}
    assert "patient_id" in roles.values() and "sex" in roles.values()
    assert "diagnosis_code" in roles.values()


def test_inspect_multi_table_folder(run):
    d = json.loads(run("inspect", "--json", COUNTY).out)
    assert {t["name"]: t["rows"] for t in d["tables"]}["patients"] == 3001
    assert {t["name"]: t["kind"] for t in d["tables"]} == {
        "diagnoses": "diagnoses",
        "encounters": "encounters",
        "labs": "labs",
        "patients": "patients",
    }


def test_liver_sample_meets_the_brief():
    df = liver_transplant()
    assert df["patient_id"].n_unique() >= 1000
    codes = df["primary_diagnosis_code"]
    assert codes.str.contains(r"x\d{3}$").sum() > 50  # national clinical edition forms
    assert codes.str.contains(r"^[a-z]").sum() > 20  # lowercase dotless
    assert df["inr"].null_count() > 0


def test_scaled_generation_and_planted_list():
    big = scaled("carotid_stenting", 2.0)
    assert big.height == 5100
    assert {p.sample for p in PLANTED} == {
        "liver_transplant",
        "carotid_stenting",
        "county_hospital",
    }
    with pytest.raises(ValueError, match="unknown sample"):
        scaled("nope", 1)
