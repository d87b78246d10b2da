"""Counting in parts split by a hash of the person: the counts equal one pass over all rows."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from medvalue import load_dataset
from medvalue.analyses import _coverage as coverage_module
from medvalue.core import _parts
from medvalue.read import _by_patient
from tests.conftest import COUNTY, COUNTY_SPEC, LIVER, LIVER_SPEC

#: Patient ids, some missing, often repeated; collisions are forced by patching id_key.
ID_LISTS = st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "1", "男", " ", "ab"])))


@settings(max_examples=50, deadline=None)
@given(ids=ID_LISTS, collide=st.booleans())
def test_person_numbers_are_equal_exactly_when_the_ids_are(ids, collide):
    # Keys that collide for most ids (their length) must be caught and the numbers stay
    # exact: as many distinct numbers as distinct ids, equal where the ids are equal.
    given_ids = pl.Series("patient", ids, dtype=pl.String)
    with pytest.MonkeyPatch.context() as patch:
        if collide:
            patch.setattr(_parts, "id_key", lambda ids: ids.str.len_bytes().cast(pl.UInt64))
        numbers = _parts.person_numbers(given_ids)
    assert numbers.name == "patient" and numbers.dtype == pl.UInt64
    assert numbers.is_null().to_list() == given_ids.is_null().to_list()
    pairs = pl.DataFrame({"id": given_ids, "n": numbers}).drop_nulls()
    assert pairs["n"].n_unique() == pairs["id"].n_unique()
    assert pairs.group_by("id").agg(pl.col("n").n_unique())["n"].max() in (None, 1)


@settings(max_examples=50, deadline=None)
@given(ids=ID_LISTS, collide=st.booleans())
def test_all_distinct_only_when_no_two_ids_are_equal(ids, collide):
    # Missing ids are left out. With real keys the answer is exact; with keys that collide
    # for most ids (their length) it may say "not all distinct" of distinct ids (the caller
    # then groups), never the reverse.
    given_ids = pl.Series("patient", ids, dtype=pl.String)
    held = given_ids.drop_nulls()
    truth = held.n_unique() == held.len()
    with pytest.MonkeyPatch.context() as patch:
        if collide:
            patch.setattr(_parts, "id_key", lambda ids: ids.str.len_bytes().cast(pl.UInt64))
        found = _parts.all_distinct(given_ids.to_frame().lazy(), pl.col("patient"))
    assert found == truth if not collide else (not found or truth)
    if collide and truth:
        assert found == (held.str.len_bytes().n_unique() == held.len())


@settings(max_examples=50, deadline=None)
@given(
    ids=st.lists(
        st.one_of(st.none(), st.sampled_from(["a", "b", "c", "1", "男", " "])), max_size=40
    ),
    part_rows=st.integers(1, 7),
    collide=st.booleans(),
)
def test_count_distinct_in_parts_equals_duckdb(ids, part_rows, collide):
    # Values are counted as 64-bit keys checked by a second hash; a key that collides for
    # most values (their length) must be caught and the count stay exact.
    frame = pl.DataFrame({"id": ids}, schema={"id": pl.String})
    expected = duckdb.sql("SELECT count(DISTINCT id) FROM frame").fetchall()[0][0]
    original = _parts.PEOPLE_PART_ROWS, _parts.id_key
    _parts.PEOPLE_PART_ROWS = part_rows
    if collide:
        _parts.id_key = lambda ids: ids.str.len_bytes()
    try:
        assert _parts.count_distinct(frame.lazy(), "id") == expected
    finally:
        _parts.PEOPLE_PART_ROWS, _parts.id_key = original


@pytest.mark.parametrize(("path", "spec"), [(COUNTY, COUNTY_SPEC), (LIVER, LIVER_SPEC)])
def test_coverage_in_parts_equals_coverage_in_one(monkeypatch, path, spec):
    # Every count of people (chapters, categories, code lists, pairs, years, outcomes,
    # vocabularies) is added up over parts that share no patient; with parts of a few
    # hundred records the samples' patients fall in a dozen parts or more.
    ds = load_dataset(path, spec=spec)
    whole = coverage_module.coverage(ds).to_dict()
    monkeypatch.setattr(_by_patient, "PART_ROWS", 200)
    monkeypatch.setattr(_parts, "PEOPLE_PART_ROWS", 300)
    parted = coverage_module.coverage(ds).to_dict()
    assert parted == whole
    assert whole["chapters"] and whole["demographics"]["years"]
    assert whole["outcomes"] or whole["comorbidity_pairs"]


def test_outcomes_without_patient_ids_count_rows_as_people(tmp_path):
    # A table that names no patient: each row is a person of its own (no ids to count).
    path = tmp_path / "t.csv"
    pl.DataFrame(
        {"death_90d": [0, 1, 0, 0, 1, 0, 0, 0] * 3, "diagnosis": ["I10", "E11.9", "J44.1"] * 8}
    ).write_csv(path)
    got = coverage_module.coverage(load_dataset(path)).to_dict()["outcomes"]["t.death_90d"]
    expected = duckdb.sql(
        f"SELECT CAST(death_90d AS VARCHAR), count(*) FROM '{path}' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(o["value"], o["patients"], o["records"]) for o in got] == [
        (v, n, n) for v, n in expected
    ]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.sampled_from(["p1", "p22", "p333", "q1", "男", "r22"])),
            st.one_of(st.none(), st.sampled_from(["0", "1", "死亡"])),
        ),
        min_size=1,
        max_size=40,
    ),
    parts=st.integers(1, 9),
)
@example(rows=[("p1", "0"), ("q1", "0"), ("p22", "1")], parts=9)
def test_people_per_value_added_over_parts_equal_duckdb(rows, parts):
    # People and records per value are tallied in each part of the patients (split by a
    # hash of the id, as by_patient splits them) and added up; DuckDB counts directly (a
    # missing id counts as one person, as polars' n_unique has it).
    frame = pl.DataFrame(rows, schema={"patient": pl.String, "value": pl.String}, orient="row")
    expected = duckdb.sql(
        "SELECT value, count(DISTINCT patient) + max(CASE WHEN patient IS NULL THEN 1 ELSE 0 END),"
        " count(*) FROM frame GROUP BY value ORDER BY value NULLS LAST"
    ).fetchall()
    tallies = [
        coverage_module._tally("v", _parts.part(frame.lazy(), pl.col("patient"), p, parts),
                               pl.col("value")).collect()
        for p in range(parts)
    ]  # fmt: skip
    got = (
        pl.concat(tallies).group_by("key").agg(pl.col("patients", "records").sum())
        .sort("key", nulls_last=True)
    )  # fmt: skip
    assert [tuple(r) for r in got.iter_rows()] == [(v, p, r) for v, p, r in expected]
