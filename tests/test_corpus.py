"""Every analysis on public tables nobody here wrote (tests/corpus.py), each number checked
against DuckDB SQL on the same rows."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import duckdb
import pytest

from tests.corpus import CORPUS, PBC_ZH, build

KEYS = sorted(CORPUS)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return build(tmp_path_factory.mktemp("corpus"))


def sql(corpus: dict[str, Path], key: str, query: str) -> list[tuple]:
    """Run ``query`` with ``t`` bound to the entry's rows (its UTF-8 reference CSV)."""
    path = corpus[key].parent / CORPUS[key].reference
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_csv_auto('{path}', header=true)")
    return con.execute(query).fetchall()


def ref_column(key: str, column: str) -> str:
    """The reference CSV's name of a column (the Chinese table renames pbc's)."""
    if key == "pbc_zh":
        return next(en for en, zh in PBC_ZH.items() if zh == column)
    return column


def as_json(run, *args) -> dict:
    r = run(*args, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)


@pytest.mark.parametrize("key", KEYS)
def test_inspect_finds_the_roles_from_names_and_values(run, corpus, key):
    entry = CORPUS[key]
    got = as_json(run, "inspect", corpus[key])
    columns = {c["name"]: c for t in got["tables"] for c in t["columns"]}
    for column, role in entry.roles.items():
        assert columns[column]["role"] == role, (column, columns[column])
    for column, evidence in entry.evidence.items():
        assert columns[column]["evidence"] == evidence
    for column in entry.names:
        assert columns[column]["detail"] == "name"
    # Numeric durations are numbers, never dates; the dates are dates.
    for column, role in entry.roles.items():
        kind = columns[column]["dtype"]
        if role == "duration":
            assert kind == "number"
        if role.endswith("_date"):
            assert kind == "datetime"


@pytest.mark.parametrize("key", KEYS)
def test_profile_counts_equal_duckdb_and_flags_no_whole_column(run, corpus, key):
    entry = CORPUS[key]
    got = as_json(run, "profile", corpus[key], "--as-of", "2026-06-01")
    (rows,) = sql(corpus, key, "SELECT count(*) FROM t")[0]
    assert got["size"]["rows"] == rows
    if entry.patient_id:
        ref = ref_column(key, entry.patient_id)
        (people,) = sql(corpus, key, f'SELECT count(DISTINCT "{ref}") FROM t')[0]
        assert got["size"]["patients"] == people
    for f in got["findings"]:
        # A unit or type mismatch is one finding, never every value of a column.
        if f["check"] in ("implausible_value", "unparseable_values"):
            assert f["count"] < 0.5 * f["evaluated"], f
        assert f["check"] != "unparseable_values" or entry.roles.get(f["column"]) != "duration"
    assumed = {f["column"]: f["message"] for f in got["findings"] if f["check"] == "unit_assumed"}
    for column, unit in entry.units.items():
        assert unit in assumed[column]
    # Dates are read in every form (ISO, Excel cells, dd/mm/yyyy) to the same range.
    if key.startswith("jasa"):
        dates = {c["name"]: c for c in got["columns"] if c["role"] == "event_date"}
        first, last = sql(corpus, key, 'SELECT min("accept.dt"), max("accept.dt") FROM t')[0]
        assert dates["accept.dt"]["min"][:10] == str(first)
        assert dates["accept.dt"]["max"][:10] == str(last)
        assert dates["accept.dt"]["unparseable"] == 0


@pytest.mark.parametrize("key", KEYS)
def test_coverage_without_diagnosis_codes_says_so_and_counts_people(run, corpus, key):
    entry = CORPUS[key]
    got = as_json(run, "coverage", corpus[key])
    assert got["has_codes"] is False and got["code_columns"] == []
    if entry.patient_id:
        ref = ref_column(key, entry.patient_id)
        (people,) = sql(corpus, key, f'SELECT count(DISTINCT "{ref}") FROM t')[0]
        assert got["patients"] == people
    if entry.roles.get(entry.label or "") == "label":  # labelled by its name
        label = ref_column(key, entry.label)
        who = (
            f'count(DISTINCT "{ref_column(key, entry.patient_id)}")'
            if entry.patient_id
            else "count(*)"
        )
        # Labels read as 0.0 / 1.0 are shown as 0 / 1, as medvalue shows them.
        value = f"regexp_replace(CAST(\"{label}\" AS VARCHAR), '\\.0$', '')"
        counted = dict(sql(corpus, key, f"SELECT {value}, {who} FROM t GROUP BY 1"))
        outcome = got["outcomes"][next(iter(got["outcomes"]))]
        assert {r["value"] for r in outcome} == set(counted)
        for row in outcome:
            if row["patients"] is not None:
                assert row["patients"] == counted[row["value"]]
            else:  # withheld: a small count, or its complement within the same label
                assert counted[row["value"]] < 5 or any(
                    counted[r["value"]] < 5 for r in outcome if r["patients"] is None
                )
        assert all(counted[r["value"]] >= 5 for r in outcome if r["patients"] is not None)


@pytest.mark.parametrize("key", KEYS)
def test_readiness_states_event_and_time(run, corpus, key):
    entry = CORPUS[key]
    args = ["readiness", corpus[key], "--label", entry.label]
    if entry.event:
        args += ["--event", entry.event]
    got = as_json(run, *args)
    label = got["label"]
    assert label["outcome"] == entry.outcome
    if entry.outcome == "survival":
        assert label["time"] == entry.time
        col = ref_column(key, entry.label)
        event = entry.event or label["positive"]
        (events,) = sql(
            corpus, key, f"SELECT count(*) FROM t WHERE CAST(\"{col}\" AS VARCHAR) = '{event}'"
        )[0]
        assert label["events"] == events and label["positive"] == event
        assert got["sample_size"]["outcome"] == "survival"
    if entry.outcome == "multiclass":
        assert got["sample_size"]["outcome"] == "multiclass"
    # Identifiers, names and row numbers are never predictors.
    used = set(got["predictors"]["used"])
    assert not used & {"rownames", "序号", *entry.names}


def test_readiness_refuses_an_unclear_event_and_names_the_levels(run, corpus):
    r = run("readiness", corpus["pbc"], "--label", "status")
    assert r.code == 2 and "0, 1, 2" in r.err and "--event" in r.err and "\n" not in r.err.strip()
    got = as_json(run, "readiness", corpus["transplant"], "--label", "event", "--event", "death")
    assert got["label"]["competing"] == ["ltx", "withdraw"]  # censored is censoring


def test_multiclass_leakage_is_found(run, corpus):
    got = as_json(run, "readiness", corpus["covid_testing"], "--label", "result")
    leaks = {leak["column"] for leak in got["leakage"]}
    assert "ct_result" in leaks  # 45 means "not detected": it separates negatives


@pytest.mark.parametrize("key", KEYS)
def test_privacy_finds_names_and_birth_dates(run, corpus, key):
    entry = CORPUS[key]
    got = as_json(run, "privacy", corpus[key])
    flagged = {d["column"] for d in got["direct_identifiers"] if d["kind"] == "name"}
    assert set(entry.names) <= flagged
    if entry.names:
        assert got["verdict"] != "anonymised"
    quasi = {q["column"] for q in got["quasi_identifiers"]}
    if "birth.dt" in entry.roles:
        assert "birth.dt" in quasi


@pytest.mark.parametrize("key", KEYS)
def test_price_is_finite_and_says_what_it_could_not_measure(run, corpus, key):
    got = as_json(run, "price", corpus[key], "--as-of", "2026-06-01")
    low, mid, high = (got["band"][k] for k in ("low", "mid", "high"))
    assert all(math.isfinite(v) and v > 0 for v in (low, mid, high)) and low <= mid <= high
    assert got["subject"]["density_basis"] == "completeness"
    for c in got["comparables_considered"]:
        assert c["adjusted_price"] is None or c["adjusted_price"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("key", ["pbc_zh", "covid_testing"])
def test_report_renders_every_section_and_prints_no_name(run, corpus, key, tmp_path):
    out = tmp_path / "reports"
    args = ["report", corpus[key], "--out", out, "--as-of", "2026-06-01", "--lang", "en"]
    r = run(*args)
    assert r.code == 0, r.err
    files = list(out.iterdir())
    assert any(f.suffix == ".html" for f in files)
    names: set[str] = set()
    if CORPUS[key].names:
        import polars as pl

        frame = pl.read_csv(corpus[key], infer_schema_length=0)
        for c in CORPUS[key].names:
            # Long enough not to be an English word of the report's own text ("small").
            names |= {v for v in frame[c].drop_nulls().unique().to_list() if len(v) >= 7}
        assert len(names) > 100
        # Words of the inlined plotly.js bundle (map projections such as "craster") are not names.
        from plotly.offline import get_plotlyjs

        bundle = get_plotlyjs()
        names = {n for n in names if n not in bundle}
    pattern = (
        re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b") if names else None
    )
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text
        leaked = sorted(set(pattern.findall(text))) if pattern else []
        assert not leaked, (f.name, leaked[:5])
