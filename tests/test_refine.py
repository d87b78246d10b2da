"""Refine: the refined product is clean, safe, linked, documented and reproducible.

The proofs the issue asks for: profile, coverage and privacy run on the output (no direct
identifiers, k at or above the target, coverage counts equal to the raw data's, the
findings of fixed problems gone), a log of every change, byte-identical reruns, and the
link to the cost approach of pricing. Pseudonyms and date shifts are recomputed here with
the standard library's HMAC, independently of the code under test.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import medvalue as mv
from medvalue.core._config import SAMPLE_DIR
from medvalue.product._dictionary import DICTIONARY_COLUMNS
from medvalue.product._refine import (
    DATACARD_JSON,
    DATACARD_MD,
    DICTIONARY_FILE,
    PSEUDONYM_HEX,
    SPEC_FILE,
)
from medvalue.read._refined import LOG_FILE, TIMING_FILE, load_refinement
from medvalue.read._spec import spec_beside
from medvalue.value._pricing import load_inputs
from tests.conftest import COUNTY, COUNTY_SPEC, LIVER, LIVER_SPEC, TEST_SECRET, digest

SECRET = TEST_SECRET.encode()
AS_OF = "2026-06-01"
FIXED = ("unparseable_values", "implausible_value", "date_before_1900", "future_date",
         "duplicate_rows", "placeholder_values")  # fmt: skip


def _pseudonym(value: str, domain: str = "patient") -> str:
    return hmac.new(SECRET, f"{domain}:{value}".encode(), "sha256").hexdigest()[:PSEUDONYM_HEX]


def _findings(ds: mv.Dataset) -> dict[tuple[str, str | None], int]:
    p = mv.profile(ds, as_of=AS_OF)
    return {(f.check, f.column): f.count for f in p.findings}


@pytest.fixture(scope="module")
def liver(tmp_path_factory) -> tuple[mv.Refined, Path]:
    out = tmp_path_factory.mktemp("liver") / "product"
    ds = mv.load_dataset(LIVER, spec=LIVER_SPEC)
    before = digest(LIVER)
    r = mv.refine(ds, out, secret=SECRET, as_of=AS_OF, quasi_identifiers=["sex", "age"])
    assert digest(LIVER) == before, "the input was modified"
    return r, out


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> tuple[mv.Refined, Path, Path]:
    """The county sample with per-patient date shifting (dates kept exact, so intervals can
    be compared) and its spec asking to keep raw codes."""
    root = tmp_path_factory.mktemp("county")
    spec = yaml.safe_load(COUNTY_SPEC.read_text(encoding="utf-8"))
    spec["refine"] = {"dates": "shift", "max_shift_days": 30, "keep_raw_codes": True,
                      "product_name": "县医院神经心血管老年病数据集", "intended_uses": ["stroke research"]}  # fmt: skip
    spec_path = root / "county.spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    ds = mv.load_dataset(COUNTY, spec=spec_path)
    out = root / "product"
    r = mv.refine(ds, out, secret=SECRET, as_of=AS_OF,
                  quasi_identifiers=["patients.sex", "patients.ethnicity"], price=False)  # fmt: skip
    return r, out, spec_path


# --- the product -------------------------------------------------------------------------------


def test_writes_the_product_layout(liver):
    r, out = liver
    names = {p.name for p in out.iterdir()}
    assert names == {
        "data",
        SPEC_FILE,
        DICTIONARY_FILE,
        DATACARD_MD,
        DATACARD_JSON,
        "croissant.json",
        LOG_FILE,
        TIMING_FILE,
    }
    assert [p.name for p in (out / "data").iterdir()] == ["liver_transplant.parquet"]
    assert set(r.files) == {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert not list(out.parent.glob(".product.*")), "no work folder left behind"


def test_refined_output_passes_the_privacy_gate(liver):
    r, out = liver
    final = mv.load_dataset(out / "data", spec=out / SPEC_FILE)
    a = mv.privacy(final, quasi_identifiers=["sex", "age"], k=5)
    assert a.direct_identifiers == ()
    assert a.k_anonymity is not None and a.k_anonymity >= 5
    assert a.verdict == "anonymised"
    assert r.after.k_anonymity == a.k_anonymity
    assert r.before.k_anonymity < 5  # the raw data did not pass


def test_ids_are_keyed_pseudonyms(liver):
    _, out = liver
    raw = pl.read_csv(LIVER, infer_schema=False)["patient_id"].str.strip_chars()
    refined = pl.read_parquet(out / "data" / "liver_transplant.parquet")["patient_id"]
    expected = {_pseudonym(v) for v in raw.drop_nulls().to_list() if v}
    assert set(refined.drop_nulls().to_list()) == expected
    assert not set(raw.to_list()) & set(refined.to_list())


def test_fixed_problems_are_gone_and_logged(liver):
    r, out = liver
    raw = _findings(mv.load_dataset(LIVER, spec=LIVER_SPEC))
    refined = _findings(mv.load_dataset(out / "data", spec=out / SPEC_FILE))
    fixed = [key for key in raw if key[0] in FIXED]
    assert len(fixed) >= 6  # the planted problems of the liver sample
    for key in fixed:
        assert key not in refined, key
    steps = {c.step for c in r.changes}
    assert {"normalise_codes", "parse_dates", "parse_numbers", "implausible_to_missing",
            "future_or_pre1900_dates_to_missing", "duplicate_rows_removed", "pseudonymise",
            "placeholders_to_missing", "unknown_codes_to_missing", "generalise"} <= steps  # fmt: skip


def test_log_counts_match_duckdb(liver):
    """Counts in the log recomputed from the raw CSV with DuckDB SQL."""
    r, _ = liver
    logged = {(c.step, c.column): c.values for c in r.changes}
    con = duckdb.connect()
    con.execute(f"CREATE VIEW raw AS SELECT * FROM read_csv('{LIVER}', all_varchar=true)")
    ages = con.execute(r"""
        SELECT count(*) FILTER (WHERE a < 0 OR a > 120),
               count(*) FILTER (WHERE trim(age) <> '' AND TRY_CAST(trim(age) AS DOUBLE) IS NULL AND a IS NOT NULL)
        FROM (SELECT age, TRY_CAST(regexp_extract(age, '^\s*([-+]?\d+(\.\d+)?)', 1) AS DOUBLE) AS a FROM raw)
    """).fetchone()  # fmt: skip
    assert logged[("implausible_to_missing", "age")] == ages[0]
    assert logged[("parse_numbers", "age")] == ages[1]
    ids = con.execute("SELECT count(patient_id) FROM raw WHERE trim(patient_id) <> ''").fetchone()[
        0
    ]
    assert logged[("pseudonymise", "patient_id")] == ids
    rows_in = con.execute("SELECT count(*) FROM raw").fetchone()[0]
    rows_out = (
        pl.scan_parquet(r.out / "data" / "liver_transplant.parquet")
        .select(pl.len())
        .collect()
        .item()
    )
    removed = next(c.rows for c in r.changes if c.step == "duplicate_rows_removed")
    assert rows_in - removed == rows_out


def test_same_input_spec_and_secret_give_identical_bytes(liver, tmp_path, run):
    """A second run, from the command line this time, writes the same bytes."""
    _r, out = liver
    again = tmp_path / "again"
    res = run(
        "refine",
        LIVER,
        "--spec",
        LIVER_SPEC,
        "--out",
        again,
        "--as-of",
        AS_OF,
        "--quasi",
        "sex,age",
    )
    assert res.code == 0, res.err
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for f in files:
        if f.name != TIMING_FILE:
            assert (out / f).read_bytes() == (again / f).read_bytes(), f


def test_another_secret_gives_other_pseudonyms(liver, tmp_path, run, monkeypatch):
    _, out = liver
    monkeypatch.setenv("OTHER_KEY", "another-secret-of-enough-length")
    res = run("refine", LIVER, "--spec", LIVER_SPEC, "--out", tmp_path / "p", "--secret-env", "OTHER_KEY",
              "--as-of", AS_OF, "--no-price")  # fmt: skip
    assert res.code == 0, res.err
    a = pl.read_parquet(out / "data" / "liver_transplant.parquet")["patient_id"]
    b = pl.read_parquet(tmp_path / "p" / "data" / "liver_transplant.parquet")["patient_id"]
    assert not set(a.to_list()) & set(b.to_list())


def test_the_secret_is_written_nowhere(liver):
    _, out = liver
    for f in out.rglob("*"):
        if f.is_file():
            body = (
                pl.read_parquet(f).write_csv()
                if f.suffix == ".parquet"
                else f.read_text(encoding="utf-8")
            )
            assert TEST_SECRET not in body, f


# --- dictionary and datacard -------------------------------------------------------------------


def test_data_dictionary_describes_every_column(liver):
    _, out = liver
    d = pl.read_csv(out / DICTIONARY_FILE, infer_schema=False)
    assert tuple(d.columns) == DICTIONARY_COLUMNS
    refined = pl.read_parquet(out / "data" / "liver_transplant.parquet")
    assert d["column"].to_list() == refined.columns
    row = {r["column"]: r for r in d.iter_rows(named=True)}
    assert row["bilirubin_umol_l"]["unit"] == "umol/L"
    assert row["sex"]["allowed_values_or_range"] in ("M | F", "F | M")
    assert row["patient_id"]["allowed_values_or_range"] is None  # never listed
    completeness = float(row["inr"]["completeness"])
    assert completeness == pytest.approx(1 - refined["inr"].null_count() / refined.height, abs=1e-4)


def test_datacard_in_both_languages(liver):
    _r, out = liver
    card = json.loads((out / DATACARD_JSON).read_text(encoding="utf-8"))
    assert set(card) == {"zh", "en"}
    for lang in ("zh", "en"):
        c = card[lang]
        for key in ("product_name", "source", "time_span", "size", "specialty", "coverage", "quality",
                    "ai_readiness", "deidentification", "intended_uses", "restrictions", "price_band",
                    "medvalue_version", "parameters"):  # fmt: skip
            assert key in c, (lang, key)
        refined = pl.read_parquet(out / "data" / "liver_transplant.parquet")
        assert c["size"]["patients"] == refined["patient_id"].n_unique()
        assert c["size"]["records"] == refined.height
        assert c["deidentification"]["k_anonymity"] >= 5
        assert c["deidentification"]["direct_identifiers_remaining"] == 0
        assert c["price_band"]["low"] < c["price_band"]["mid"] < c["price_band"]["high"]
        assert set(c["quality"]["dimensions"]) >= {"completeness", "conformance", "plausibility"}
        assert c["parameters"]["secret_env"] == "MEDVALUE_SECRET"
        assert c["ai_readiness"]["label"] == "death_90d"
    md = (out / DATACARD_MD).read_text(encoding="utf-8")
    assert "数据产品说明书" in md and "Datacard" in md and "k = " in md


def test_datacard_span_hides_single_dates(liver):
    """The time span is given to the month, at the small-cell-th earliest and latest date."""
    _, out = liver
    span = json.loads((out / DATACARD_JSON).read_text(encoding="utf-8"))["en"]["time_span"]
    assert len(span["first_month"]) == 7 and span["first_month"] <= span["last_month"]


def test_cost_approach_uses_the_refinement(liver):
    r, out = liver
    measured = load_refinement(out)
    assert measured["fixes"] == r.fixes > 0
    ds = mv.load_dataset(LIVER, spec=LIVER_SPEC)
    plain = mv.price(ds, as_of=AS_OF)
    refined = mv.price(ds, as_of=AS_OF, refinement=measured)
    assert plain.methods["cost"].detail["cleaning_basis"] == "rows"
    assert refined.methods["cost"].detail["cleaning_basis"] == "refinement"
    inputs = load_inputs(None)["cost"]
    expected = (
        inputs["refine_setup_days"] + r.fixes / 10_000 * inputs["review_days_per_10k_fixes"]
    ) * inputs["staff_day_rate"] + inputs["compute_cost_per_hour"]  # one started hour
    assert refined.methods["cost"].detail["components"]["cleaning"] == pytest.approx(
        expected, abs=0.01
    )


def test_price_command_reads_a_refined_folder(liver, run):
    _, out = liver
    res = run("price", LIVER, "--spec", LIVER_SPEC, "--as-of", AS_OF, "--refined", out, "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["methods"]["cost"]["cleaning_basis"] == "refinement"


def test_a_product_folder_is_read_as_its_tables_with_their_spec(county, run):
    """Given the product's own folder, a command reads its tables, not the data dictionary
    beside them (it used to profile data_dictionary.csv as the dataset)."""
    _, out, _ = county
    whole = run("profile", out, "--json", "--as-of", AS_OF)
    assert whole.code == 0, whole.err
    tables = run("profile", out / "data", "--json", "--as-of", AS_OF)
    assert tables.code == 0, tables.err
    got, expected = json.loads(whole.out), json.loads(tables.out)
    assert [t["name"] for t in got["size"]["tables"]] == ["diagnoses", "encounters", "labs",
                                                          "patients"]  # fmt: skip
    assert got["size"] == expected["size"]
    assert got["columns"] == expected["columns"]  # the roles of data.spec.yaml
    assert spec_beside(out) == out / "data.spec.yaml"


# --- several tables, date shifting, raw codes ---------------------------------------------------


def test_links_survive_pseudonymisation(county):
    _, out, _ = county
    con = duckdb.connect()
    raw = con.execute(f"""
        SELECT count(*) FROM read_csv('{COUNTY}/diagnoses.csv', all_varchar=true) d
        JOIN (SELECT DISTINCT encounter_id FROM read_csv('{COUNTY}/encounters.csv', all_varchar=true)) e
        USING (encounter_id)""").fetchone()[0]  # fmt: skip
    refined = con.execute(f"""
        SELECT count(*) FROM (SELECT DISTINCT * FROM read_csv('{COUNTY}/diagnoses.csv', all_varchar=true)) x
    """).fetchone()[0]  # fmt: skip
    joined = con.execute(f"""
        SELECT count(*) FROM '{out}/data/diagnoses.parquet' d
        JOIN (SELECT DISTINCT encounter_id FROM '{out}/data/encounters.parquet') e USING (encounter_id)
    """).fetchone()[0]  # fmt: skip
    # Every diagnosis that found its encounter before finds it after (duplicates aside).
    assert joined == min(raw, refined)


def test_coverage_counts_equal_the_raw_data(county):
    _, out, spec_path = county
    raw = mv.coverage(mv.load_dataset(COUNTY, spec=spec_path))
    refined = mv.coverage(mv.load_dataset(out / "data", spec=out / SPEC_FILE))
    compared = 0
    for a, b in zip(raw.chapters, refined.chapters, strict=True):
        assert a.key == b.key
        if a.patients is not None and b.patients is not None:
            assert a.patients == b.patients, a.key
            compared += 1
    assert compared >= 3


def test_date_shift_is_per_patient_and_keeps_intervals(county):
    _, out, _ = county
    raw = mv.load_dataset(COUNTY).frame("encounters").collect()
    refined = pl.read_parquet(out / "data" / "encounters.parquet")
    # Match rows through the pseudonym of the encounter id, recomputed here.
    raw = raw.with_columns(
        pl.col("encounter_id").map_elements(
            lambda v: _pseudonym(v, "encounter"), return_dtype=pl.String
        ),
        pl.col("patient_id").map_elements(_pseudonym, return_dtype=pl.String).alias("pid"),
    ).unique("encounter_id", keep="first")
    both = raw.join(refined.unique("encounter_id", keep="first"), on="encounter_id", suffix="_r")
    assert both.height == raw.height
    shift = (
        both["admission_date_r"].cast(pl.Date) - both["admission_date"].cast(pl.Date)
    ).dt.total_days()
    stay_raw = (both["discharge_date"] - both["admission_date"]).dt.total_days()
    stay_new = (
        both["discharge_date_r"].cast(pl.Date) - both["admission_date_r"].cast(pl.Date)
    ).dt.total_days()
    assert (stay_raw == stay_new).all()
    assert shift.drop_nulls().abs().max() <= 30
    per_patient = (
        both.with_columns(shift.alias("s")).group_by("pid").agg(pl.col("s").drop_nulls().n_unique())
    )
    assert (per_patient["s"] <= 1).all()
    assert shift.drop_nulls().n_unique() > 10  # patients get different offsets
    assert refined.schema["admission_date"] == pl.Date


def test_raw_codes_kept_when_the_spec_asks(county):
    _, out, _ = county
    d = pl.read_parquet(out / "data" / "diagnoses.parquet")
    assert {"icd_code", "icd_code_raw"} <= set(d.columns)
    changed = d.filter(pl.col("icd_code") != pl.col("icd_code_raw"))
    assert changed.height > 0
    assert changed["icd_code"].str.contains(r"^[A-Z]\d{2}(\.\d)?$").all()


def test_datacard_uses_the_spec_section(county):
    _r, out, _ = county
    card = json.loads((out / DATACARD_JSON).read_text(encoding="utf-8"))
    assert card["zh"]["product_name"] == "县医院神经心血管老年病数据集"
    assert card["en"]["intended_uses"] == ["stroke research"]
    assert card["en"]["price_band"] is None  # price=False
    assert "±30" in card["en"]["time_span"]["note"]
    assert card["en"]["size"]["tables"] == 4


# --- identifiers, free text and month coarsening ----------------------------------------------------


def test_identifiers_dropped_and_kept_text_masked(tmp_path):
    raw = pl.read_csv(LIVER, infer_schema=False).head(300)
    phones = [f"13{i:09d}" for i in range(300)]
    raw = raw.with_columns(
        pl.Series("联系电话", phones),
        pl.Series("姓名", ["王大锤"] * 300),
        pl.Series("备注", [f"家属电话{p}，随访" for p in phones]),
        pl.Series("主诉", ["腹胀三天"] * 300),
    )
    data = tmp_path / "export.csv"
    raw.write_csv(data)
    spec = yaml.safe_load(LIVER_SPEC.read_text(encoding="utf-8"))
    spec["tables"] = {"export": spec["tables"]["liver_transplant"]}
    spec["refine"] = {"dates": "month", "keep_free_text": ["备注"]}
    spec_path = tmp_path / "export.spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    ds = mv.load_dataset(data, spec=spec_path)
    r = mv.refine(
        ds, tmp_path / "out", secret=SECRET, as_of=AS_OF, price=False, quasi_identifiers=["sex"]
    )
    out = pl.read_parquet(tmp_path / "out" / "data" / "export.parquet")
    assert "联系电话" not in out.columns and "姓名" not in out.columns and "主诉" not in out.columns
    assert "备注" in out.columns
    assert not out["备注"].str.contains(r"1[3-9]\d{9}").any()
    assert out["备注"].str.contains("已删除").all()
    steps = {c.step: c for c in r.changes}
    assert steps["mask_identifiers_in_text"].values == 300
    assert steps["drop_free_text"].column == "主诉"
    assert {c.column for c in r.changes if c.step == "drop_direct_identifier"} == {
        "联系电话",
        "姓名",
    }
    days = out["discharge_date"].drop_nulls().dt.day()
    assert (days == 1).all()


# --- bad requests --------------------------------------------------------------------------------


def test_missing_or_short_secret_is_a_one_line_error(run, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDVALUE_SECRET")
    res = run("refine", LIVER, "--out", tmp_path / "p")
    assert res.code == 2 and "MEDVALUE_SECRET" in res.err and "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1
    monkeypatch.setenv("MEDVALUE_SECRET", "short")
    res = run("refine", LIVER, "--out", tmp_path / "p")
    assert res.code == 2 and "at least 16" in res.err
    assert not (tmp_path / "p").exists()


def test_refuses_to_write_into_the_input_or_over_other_files(run, tmp_path):
    copy = tmp_path / "county"
    shutil.copytree(COUNTY, copy)
    before = digest(copy)
    res = run("refine", copy, "--out", copy / "refined")
    assert res.code == 2 and "overlaps the input" in res.err
    other = tmp_path / "taken"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    res = run("refine", copy, "--out", other)
    assert res.code == 2 and "not an earlier refined product" in res.err
    assert (other / "notes.txt").read_text() == "mine"
    assert digest(copy) == before


def test_bad_refine_section_in_spec(tmp_path, run):
    spec = yaml.safe_load(LIVER_SPEC.read_text(encoding="utf-8"))
    spec["refine"] = {"dates": "scramble"}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(spec), encoding="utf-8")
    res = run("refine", LIVER, "--spec", p, "--out", tmp_path / "o")
    assert res.code == 2 and "refine: 'dates'" in res.err and "keep | shift | month" in res.err


def test_rerun_replaces_an_earlier_product(liver, tmp_path):
    _, out = liver
    target = tmp_path / "product"
    shutil.copytree(out, target)
    (target / "stale.txt").write_text("old")
    ds = mv.load_dataset(LIVER, spec=LIVER_SPEC)
    mv.refine(ds, target, secret=SECRET, as_of=AS_OF, quasi_identifiers=["sex", "age"], price=False)
    assert not (target / "stale.txt").exists()
    assert (target / LOG_FILE).exists()
    assert dt.date.fromisoformat(json.loads((target / LOG_FILE).read_text())["parameters"]["as_of"])


@settings(max_examples=60, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=150),
    values=st.lists(st.text(max_size=30), max_size=5),
    prefixes=st.lists(st.binary(max_size=12), min_size=1, max_size=3),
)
def test_fast_hmac_equals_the_standard_library(key, values, prefixes):
    from medvalue.core._keys import hmac_hex, hmac_hexes

    def expected(prefix: bytes) -> list[str]:
        return [hmac.new(key, prefix + v.encode(), "sha256").hexdigest() for v in values]

    together = hmac_hexes(key, prefixes, values)  # one pass, a digest per prefix
    assert [h.to_list() for h in together] == [expected(p) for p in prefixes]
    assert hmac_hex(key, prefixes[0], values).to_list() == expected(prefixes[0])


def test_croissant_metadata_validates_and_loads_the_product(tmp_path):
    import logging

    import mlcroissant as mlc

    out = tmp_path / "product"
    refined = mv.refine(
        mv.load_dataset(SAMPLE_DIR / "carotid_stenting.csv"),
        out,
        secret=b"croissant-test-key-0123456789",
        price=False,
    )
    path = out / "croissant.json"
    assert path.exists() and "croissant.json" in refined.files
    records = logging.getLogger("absl")
    records.setLevel(logging.ERROR)
    ds = mlc.Dataset(jsonld=path)  # raises on any validation error
    assert ds.metadata.ctx.issues.warnings == set() and ds.metadata.ctx.issues.errors == set()
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["rai:dataUseCases"] and "k = " in doc["rai:personalSensitiveInformation"]
    table = pl.read_parquet(next((out / "data").glob("*.parquet")))
    rows = list(ds.records(record_set=doc["recordSet"][0]["@id"]))
    assert len(rows) == table.height


def test_slices_give_the_same_product(county, tmp_path, monkeypatch):
    # Large tables are cleaned slice by slice (memory follows a slice); with slices of 97
    # rows the county sample (shifted dates, patients over many slices, a duplicate across
    # a slice boundary) must give the same data and the same log as in one slice.
    from medvalue.product import _refine as refine_module

    _, whole, spec_path = county
    monkeypatch.setattr(refine_module, "_SLICE_CELLS", 1)
    monkeypatch.setattr(refine_module, "_MIN_SLICE_ROWS", 97)
    out = tmp_path / "sliced"
    mv.refine(mv.load_dataset(COUNTY, spec=spec_path), out, secret=SECRET, as_of=AS_OF,
              quasi_identifiers=["patients.sex", "patients.ethnicity"], price=False)  # fmt: skip
    names = sorted(p.name for p in (whole / "data").glob("*.parquet"))
    assert names == sorted(p.name for p in (out / "data").glob("*.parquet"))
    assert any(pl.scan_parquet(whole / "data" / n).select(pl.len()).collect().item() > 2 * 97
               for n in names), "no table spans several slices"  # fmt: skip
    for n in names:
        assert pl.read_parquet(out / "data" / n).equals(pl.read_parquet(whole / "data" / n)), n
    log = json.loads((out / LOG_FILE).read_text(encoding="utf-8"))
    assert log == json.loads((whole / LOG_FILE).read_text(encoding="utf-8"))


@settings(max_examples=200, deadline=None)
@given(
    digests=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=20),
    span=st.integers(min_value=1, max_value=20_000),
)
def test_date_shift_is_the_first_64_bits_of_the_hmac_modulo_the_span(digests, span):
    from medvalue.core._keys import shift_days

    hexes = [d.hex() for d in digests]
    assert shift_days(pl.Series(hexes), span).to_list() == [int(h[:16], 16) % span for h in hexes]
