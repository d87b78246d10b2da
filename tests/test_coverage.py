"""Coverage: counts equal DuckDB SQL on the samples; small cells suppressed; code lists; CLI."""

from __future__ import annotations

import json

import duckdb
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from medvalue import load_dataset
from medvalue.analyses._coverage import comparison, coverage, load_code_lists
from medvalue.core._codes import code_table
from medvalue.core._errors import InputError
from medvalue.core._suppression import suppress
from tests.conftest import CAROTID, CAROTID_SPEC, COUNTY, COUNTY_SPEC, LIVER, LIVER_SPEC


@pytest.fixture(scope="module")
def county():
    return coverage(load_dataset(COUNTY, spec=COUNTY_SPEC))


def test_patients_per_chapter_equal_duckdb(county, tmp_path):
    # Independent count: DuckDB maps each code's first three characters to its chapter with
    # the WHO category table, and counts distinct patients per chapter.
    cats = code_table().filter(pl.col("code").str.len_chars() == 3).select("code", "chapter")
    cats.write_parquet(tmp_path / "cats.parquet")
    con = duckdb.connect()
    rows = con.execute(
        f"""SELECT c.chapter, count(DISTINCT d.patient_id), count(*)
            FROM read_csv('{COUNTY / "diagnoses.csv"}', all_varchar=true) d
            JOIN '{tmp_path / "cats.parquet"}' c ON upper(substr(d.icd_code, 1, 3)) = c.code
            GROUP BY 1"""
    ).fetchall()
    expected = {ch: (p, r) for ch, p, r in rows}
    got = {c.key: (c.patients, c.records) for c in county.chapters if c.patients}
    assert got == expected


def test_code_lists_equal_duckdb(county):
    con = duckdb.connect()
    n = con.execute(
        f"SELECT count(DISTINCT patient_id) FROM read_csv('{COUNTY / 'diagnoses.csv'}', all_varchar=true) "
        "WHERE upper(icd_code) LIKE 'I10%' OR upper(icd_code) LIKE 'I11%' OR upper(icd_code) LIKE 'I12%' "
        "OR upper(icd_code) LIKE 'I13%' OR upper(icd_code) LIKE 'I15%'"
    ).fetchone()[0]
    assert next(c for c in county.code_lists if c.key == "hypertension").patients == n


def test_code_status_on_the_liver_sample():
    cov = coverage(load_dataset(LIVER, spec=LIVER_SPEC))
    assert cov.code_status["unknown"] == 3  # K7A.1, 肝硬化, KK74 (planted)
    assert cov.code_status["icd9"] == 1  # 99999 has the shape of an ICD-9 code
    assert cov.code_status["normalised"] > 400  # national edition and dotless forms
    assert cov.patients == 1200
    assert next(c for c in cov.code_lists if c.key == "liver_transplant_status").patients > 100


def test_primary_and_secondary_kept_apart(county):
    assert set(county.positions) == {"primary", "secondary"}
    primary = {c.key: c.patients for c in county.positions["primary"]}
    assert primary["IX"] > 0


def test_demographics_partition_the_patients(county):
    d = county.demographics
    assert sum(c.patients or 0 for c in d.sex) == county.patients
    assert [c.key for c in d.age_bands][-1] == "90+"  # ages top-coded
    assert all(n is None or n == 0 or n >= 5 for _, _, n in d.pyramid)
    assert sum(c.patients or 0 for c in d.age_bands_broad) <= county.patients


def test_no_count_below_the_threshold_anywhere():
    cov = coverage(load_dataset(LIVER, spec=LIVER_SPEC), small_cell=11)

    def walk(obj):
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in ("patients",) and isinstance(v, int):
                    assert v == 0 or v >= 11, obj
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(cov.to_dict())


@given(st.lists(st.integers(0, 40), min_size=1, max_size=12))
def test_partition_suppression_never_reveals_a_small_cell(counts):
    shown = suppress(counts, 5)
    hidden = [i for i, v in enumerate(shown) if v is None]
    assert all(v is None or v == 0 or v >= 5 for v in shown)
    # A single hidden cell could be recovered from the total: never leave exactly one while
    # another non-zero cell could be hidden with it (a one-cell table has its total hidden
    # by the caller, which suppresses totals the same way).
    if len(hidden) == 1:
        assert not [v for v in shown if v]
    assert all(counts[i] == shown[i] for i in range(len(counts)) if shown[i] is not None)


def test_comparison_side_by_side(county):
    carotid = coverage(load_dataset(CAROTID, spec=CAROTID_SPEC))
    table = comparison([carotid, county])
    assert set(table.columns) == {"kind", "key", "carotid_stenting", "county_hospital"}
    ix = table.filter((pl.col("kind") == "chapter") & (pl.col("key") == "IX"))
    assert ix["carotid_stenting"][0] > 0 and ix["county_hospital"][0] > 0


def test_cli_json_contract(run, tmp_path):
    d = json.loads(run("coverage", "--json", COUNTY).out)
    assert {"code_system", "patients", "patients_with_valid_code", "code_status", "chapters",
            "categories", "code_lists", "demographics"} <= set(d)  # fmt: skip
    assert {"chapter", "title", "patients", "records"} <= set(d["chapters"][0])
    both = json.loads(run("coverage", "--json", CAROTID, COUNTY).out)
    assert len(both["datasets"]) == 2 and both["comparison"]
    lists = tmp_path / "lists.yaml"
    lists.write_text("stroke: {en: Stroke, prefixes: [I63, I64]}\n")
    d = json.loads(run("coverage", "--json", "--codes", lists, COUNTY).out)
    assert [c["name"] for c in d["code_lists"]] == ["stroke"]


def test_bad_code_lists_and_no_codes(tmp_path, run):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stroke: {prefixes: []}\n")
    with pytest.raises(InputError, match="prefixes"):
        load_code_lists(bad)
    path = tmp_path / "t.csv"
    path.write_text("patient_id,sex\n1,M\n", encoding="utf-8")
    r = run("coverage", path)
    assert r.code == 0 and "no diagnosis codes" in r.out


def test_reference_comparison_tvd(tmp_path):
    from medvalue.analyses._coverage import compare_with_reference, load_reference

    dataset = pl.DataFrame(
        {"band": ["20-24", "20-24", "60-64"], "sex": ["F", "M", "M"], "n": [10, 30, 60]}
    )
    ref_path = tmp_path / "ref.csv"
    ref_path.write_text("band,sex,share\n20-24,F,0.5\n20-24,M,0.5\n", encoding="utf-8")
    result = compare_with_reference(dataset, load_reference(ref_path))
    # |0.1-0.5| + |0.3-0.5| + |0.6-0| = 1.2, halved.
    assert result.tvd == pytest.approx(0.6)
    same = dataset.select("band", "sex", (pl.col("n") / 100).alias("share"))
    assert compare_with_reference(dataset, same).tvd == pytest.approx(0.0)


def test_reference_from_the_cli_and_bad_reference(run, tmp_path):
    ref = tmp_path / "ref.csv"
    rows = [f"{a}-{a + 4},{s},1" for a in range(0, 90, 5) for s in "MF"] + ["90+,M,1", "90+,F,1"]
    ref.write_text("band,sex,share\n" + "\n".join(rows) + "\n", encoding="utf-8")
    d = json.loads(run("coverage", "--json", "--reference", ref, CAROTID).out)
    assert 0 < d["reference"]["tvd"] < 1
    ref.write_text("band,sex,share\nadults,M,1\n", encoding="utf-8")
    r = run("coverage", "--reference", ref, CAROTID)
    assert r.code == 2 and "unknown age band" in r.err


def test_share_with_valid_code_never_gives_away_a_small_complement(tmp_path):
    cov = coverage(load_dataset(LIVER, spec=LIVER_SPEC))
    uncoded = 1200 - round(cov.coded_share * 1200)
    if 0 < uncoded < 5:  # the total minus the coded would be a small count of people
        assert (
            cov.patients_with_valid_code is None and cov.to_dict()["share_with_valid_code"] is None
        )
    else:
        assert cov.to_dict()["share_with_valid_code"] == pytest.approx(
            cov.patients_with_valid_code / 1200
        )
    # Every patient with one diagnosis: the chapters partition the coded patients, so a
    # single small chapter is withheld with a second one.
    path = tmp_path / "one.csv"
    codes_ = ["I10"] * 50 + ["E11"] * 40 + ["K72"] * 3
    pl.DataFrame({"patient_id": [str(i) for i in range(93)], "diagnosis_code": codes_}).write_csv(
        path
    )
    one = coverage(load_dataset(path))
    shown = {c.key: c.patients for c in one.chapters if c.patients != 0}
    assert shown["XI"] is None and None in (shown["IX"], shown["IV"])


@pytest.mark.parametrize("sample", ["county_hospital", "omop_cdm", "fhir_export"])
def test_parts_give_the_same_coverage(sample, monkeypatch):
    # Past PART_ROWS records the diagnoses are normalised in parts split by a hash
    # of the patient; with parts of 300 records every count (chapters, categories, code
    # lists, pairs, vocabularies, recognised codes) must equal the one-part result.
    from medvalue.core._config import SAMPLE_DIR
    from medvalue.read import _by_patient

    path = SAMPLE_DIR / sample
    spec = SAMPLE_DIR / f"{sample}.spec.yaml"
    ds = load_dataset(path, spec=spec) if spec.exists() else load_dataset(path)
    whole = coverage(ds).to_dict()
    monkeypatch.setattr(_by_patient, "PART_ROWS", 300)
    parted = coverage(ds).to_dict()
    assert parted == whole
    assert whole["chapters"] and whole["vocabularies"]
