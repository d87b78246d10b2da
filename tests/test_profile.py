"""Profile: planted problems found, statistics equal to DuckDB SQL, privacy of top values."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medvalue import load_dataset
from medvalue.analyses import _profile as profile_module
from medvalue.analyses._profile import profile
from medvalue.analyses._quality import DIMENSION_WEIGHTS
from medvalue.core import _parts
from medvalue.datasets import PLANTED, measurements_table
from medvalue.read._dataset import PLACEHOLDERS, PLACEHOLDERS_UNLESS_TEXT
from tests.conftest import CAROTID, CAROTID_SPEC, COUNTY, COUNTY_SPEC, LIVER, LIVER_SPEC

AS_OF = "2025-01-01"
SAMPLES = {
    "liver_transplant": (LIVER, LIVER_SPEC),
    "carotid_stenting": (CAROTID, CAROTID_SPEC),
    "county_hospital": (COUNTY, COUNTY_SPEC),
}


@pytest.fixture(scope="module")
def profiles():
    return {k: profile(load_dataset(p, spec=s), as_of=AS_OF) for k, (p, s) in SAMPLES.items()}


@pytest.mark.parametrize(
    "planted",
    [p for p in PLANTED if p.check != "placeholder_values"],
    ids=lambda p: f"{p.sample}-{p.check}-{p.column}",
)
def test_every_planted_problem_is_found(profiles, planted):
    found = [
        f
        for f in profiles[planted.sample].findings
        if f.check == planted.check
        and f.table == planted.table
        and (planted.column is None or f.column == planted.column)
    ]
    assert found, f"not found: {planted}"
    assert sum(f.count for f in found) == planted.count


def test_placeholders_counted_as_missing_and_reported(profiles):
    col = next(c for c in profiles["liver_transplant"].columns if c.name == "albumin_g_l")
    assert col.placeholder_count == 5
    finding = next(
        f for f in profiles["liver_transplant"].findings if f.check == "placeholder_values"
    )
    assert finding.column == "albumin_g_l" and finding.count == 5
    assert col.null_count >= 5


def test_no_findings_beyond_the_planted_ones(profiles):
    planted = {(p.sample, p.check, p.table, p.column) for p in PLANTED}
    # Checks that follow from a planted problem by construction.
    consequential = {
        ("liver_transplant", "duplicate_rows", "liver_transplant", None),
        ("liver_transplant", "future_date", "liver_transplant", "discharge_date"),
        ("county_hospital", "date_before_1900", "patients", "death_date"),
        ("county_hospital", "duplicate_rows", "patients", None),
    }
    for name, p in profiles.items():
        for f in p.findings:
            if f.check == "stale_data":
                continue
            assert (name, f.check, f.table, f.column) in planted | consequential, f


def test_size(profiles):
    s = profiles["county_hospital"].size
    assert [t.name for t in s.tables] == ["diagnoses", "encounters", "labs", "patients"]
    assert s.patients == 3000
    assert s.encounters == pl.read_csv(COUNTY / "encounters.csv")["encounter_id"].n_unique()
    assert s.first_date >= dt.date(2020, 1, 1)
    liver = profiles["liver_transplant"].size
    assert liver.rows == 1202 and liver.patients == 1200
    assert liver.records_per_patient["max"] == 2.0


def test_quality_scores_are_bounded_and_weights_sum_to_one(profiles):
    assert math.isclose(sum(DIMENSION_WEIGHTS.values()), 1.0)
    for p in profiles.values():
        assert 0 <= p.quality.score <= 100
        for d in p.quality.dimensions.values():
            assert d.score is None or 0 <= d.score <= 100


def test_a_clean_table_scores_higher_than_a_dirty_one(tmp_path):
    clean = pl.DataFrame(
        {
            "patient_id": ["a", "b", "c", "d"],
            "age": [30, 40, 50, 60],
            "admission_date": ["2024-01-01"] * 4,
            "discharge_date": ["2024-01-05"] * 4,
        }
    )
    dirty = clean.with_columns(
        pl.Series("age", [30, 400, None, 60]),
        pl.Series("discharge_date", ["2023-01-01"] * 2 + ["2024-01-05"] * 2),
    )
    clean.write_csv(tmp_path / "clean.csv")
    dirty.write_csv(tmp_path / "dirty.csv")
    a = profile(load_dataset(tmp_path / "clean.csv"), as_of="2024-06-01").quality
    b = profile(load_dataset(tmp_path / "dirty.csv"), as_of="2024-06-01").quality
    assert a.score == 100.0
    assert b.score < a.score
    for dim in ("completeness", "plausibility", "consistency"):
        assert b.dimensions[dim].score < a.dimensions[dim].score


def test_top_values_never_show_small_cells(profiles):
    for p in profiles.values():
        for c in p.columns:
            assert all(n >= p.small_cell for _, n in c.top_values)
            if c.role in ("patient_id", "encounter_id", "direct_identifier", "free_text"):
                assert c.top_values == () and c.min is None and c.max is None


def test_json_contract(profiles, run):
    r = run("profile", "--json", LIVER, "--spec", LIVER_SPEC, "--as-of", AS_OF)
    d = json.loads(r.out)
    assert {"rows", "columns", "patients", "first_date", "last_date"} <= set(d["size"])
    assert {
        "table",
        "name",
        "dtype",
        "null_count",
        "null_fraction",
        "n_unique",
        "min",
        "max",
        "mean",
    } <= set(d["columns"][0])
    assert {"score", "dimensions"} <= set(d["quality"])
    assert {"check", "table", "column", "severity", "count", "message"} <= set(d["findings"][0])
    zh = json.loads(run("profile", "--json", "--lang", "zh", LIVER, "--as-of", AS_OF).out)
    assert "完整性" in json.dumps(zh["quality"], ensure_ascii=False)


# --- agreement with DuckDB -------------------------------------------------------------------


def _sql_missing(col: str, kind: str) -> str:
    tokens = PLACEHOLDERS + (() if kind == "string" else PLACEHOLDERS_UNLESS_TEXT)
    quoted = ", ".join("'" + t.replace("'", "''") + "'" for t in tokens)
    return f'("{col}" IS NULL OR trim("{col}") = \'\' OR upper(trim("{col}")) IN ({quoted}))'


def _sql_number(col: str, kind: str) -> str:
    return (
        f"CASE WHEN {_sql_missing(col, kind)} THEN NULL ELSE TRY_CAST(regexp_extract("
        f"replace(trim(\"{col}\"), ',', ''), '^\\s*([-+]?\\d+(\\.\\d+)?)', 1) AS DOUBLE) END"
    )


@pytest.mark.parametrize("sample", ["liver_transplant", "carotid_stenting"])
def test_statistics_equal_duckdb_on_csv_samples(profiles, sample):
    path = SAMPLES[sample][0]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_csv('{path}', all_varchar=true, header=true)")
    for c in profiles[sample].columns:
        if c.dtype == "datetime":
            continue  # date parsing rules are compared in test_dates
        kind = c.dtype
        typed = (
            _sql_number(c.name, kind)
            if kind == "number"
            else (f'CASE WHEN {_sql_missing(c.name, kind)} THEN NULL ELSE trim("{c.name}") END')
        )
        nulls, distinct, lo, hi, mean = con.execute(
            f"SELECT count(*) FILTER (WHERE {_sql_missing(c.name, kind)}), count(DISTINCT {typed}), "
            + (
                f"min({typed}), max({typed}), avg({typed}) FROM t"
                if kind == "number"
                else "NULL, NULL, NULL FROM t"
            )
        ).fetchone()
        assert c.null_count == nulls, c.name
        assert c.n_unique == distinct, c.name
        if kind == "number" and c.min is not None and c.role == "age":
            # A quasi-identifier's range stops at the 5th smallest and largest values, so
            # it never shows one person's age.
            lo, hi = con.execute(
                f"SELECT (SELECT max(v) FROM (SELECT {typed} AS v FROM t WHERE v IS NOT NULL ORDER BY v LIMIT 5)), "
                f"(SELECT min(v) FROM (SELECT {typed} AS v FROM t WHERE v IS NOT NULL ORDER BY v DESC LIMIT 5))"
            ).fetchone()
        if kind == "number" and c.min is not None:
            assert c.min == lo and c.max == hi, c.name
            assert math.isclose(c.mean, mean, rel_tol=1e-12), c.name


#: The profile summarises a column over its distinct values or, when nearly every value is
#: distinct, over its sorted rows; the statistics must not depend on which.
ROUTES = {"distinct": float("inf"), "sorted": 0.0}


def _profile_by(route: str, path, **kwargs):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(profile_module, "DIRECT_DISTINCT_SHARE", ROUTES[route])
        return profile(load_dataset(path), **kwargs)


frames = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "i": st.lists(
                st.one_of(st.none(), st.integers(-(10**6), 10**6)), min_size=n, max_size=n
            ),
            "f": st.lists(
                st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=n, max_size=n
            ),
            "s": st.lists(
                st.one_of(st.none(), st.sampled_from(["a", "b", "中文", " x ", "NULL", ""])),
                min_size=n,
                max_size=n,
            ),
            "d": st.lists(
                st.one_of(st.none(), st.dates(dt.date(1990, 1, 1), dt.date(2030, 1, 1))),
                min_size=n,
                max_size=n,
            ),
        }
    )
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.parametrize("route", ROUTES)
@given(data=frames)
def test_random_frames_agree_with_duckdb(tmp_path_factory, route, data):
    path = tmp_path_factory.mktemp("h") / "t.parquet"
    pl.DataFrame(
        data, schema={"i": pl.Int64, "f": pl.Float64, "s": pl.String, "d": pl.Date}
    ).write_parquet(path)
    p = _profile_by(route, path, as_of="2024-01-01", small_cell=1)  # statistics, not privacy
    cols = {c.name: c for c in p.columns}
    con = duckdb.connect()
    for name in ("i", "f", "d"):
        nulls, distinct, lo, hi = con.execute(
            f"SELECT count(*) - count({name}), count(DISTINCT {name}), min({name}), max({name}) FROM '{path}'"
        ).fetchone()
        c = cols[name]
        assert (c.null_count, c.n_unique) == (nulls, distinct)
        if name == "d":
            as_date = lambda v: v.date() if isinstance(v, dt.datetime) else v  # noqa: E731
            assert (as_date(c.min), as_date(c.max)) == (lo, hi)
        else:
            assert (c.min, c.max) == (lo, hi)
    mean = con.execute(f"SELECT avg(i), avg(f) FROM '{path}'").fetchone()
    for name, m in zip("if", mean, strict=True):
        assert (cols[name].mean is None) == (m is None)
        if m is not None:
            assert math.isclose(cols[name].mean, m, rel_tol=1e-9, abs_tol=1e-9)
    missing = _sql_missing("s", "string")
    nulls, distinct = con.execute(
        f"SELECT count(*) FILTER (WHERE {missing}), count(DISTINCT CASE WHEN {missing} THEN NULL ELSE trim(s) END) FROM '{path}'"
    ).fetchone()
    assert (cols["s"].null_count, cols["s"].n_unique) == (nulls, distinct)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.parametrize("route", ROUTES)
@given(data=frames)
def test_count_weighted_statistics_equal_polars_over_the_rows(tmp_path_factory, route, data):
    # The profile computes quartiles, std and the open ends of histograms from each column's
    # distinct values and their counts; polars computes them here from the rows themselves.
    path = tmp_path_factory.mktemp("w") / "t.parquet"
    frame = pl.DataFrame(
        data, schema={"i": pl.Int64, "f": pl.Float64, "s": pl.String, "d": pl.Date}
    )
    frame.write_parquet(path)
    cols = {c.name: c for c in _profile_by(route, path, as_of="2024-01-01", small_cell=1).columns}
    for name in ("i", "f"):
        values = frame.get_column(name).cast(pl.Float64).drop_nulls()
        c = cols[name]
        for q, got in ((0.25, c.q25), (0.5, c.median), (0.75, c.q75)):
            assert got == (values.quantile(q, "nearest") if len(values) else None)
        expected_std = values.std() if len(values) > 1 else None
        assert (c.std is None) == (expected_std is None)
        if expected_std is not None:
            assert math.isclose(c.std, expected_std, rel_tol=1e-9, abs_tol=1e-6)
    days = frame.get_column("d").drop_nulls().cast(pl.Datetime("us"))
    for q, got in ((0.25, cols["d"].q25), (0.5, cols["d"].median), (0.75, cols["d"].q75)):
        expected = days.to_physical().quantile(q, "nearest") if len(days) else None
        assert (None if got is None else int(pl.Series([got]).to_physical()[0])) == expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.parametrize("route", ROUTES)
@given(
    ages=st.lists(st.one_of(st.none(), st.integers(0, 110)), min_size=1, max_size=40),
    k=st.integers(1, 12),
)
def test_quasi_identifier_range_is_the_kth_value_over_the_rows(tmp_path_factory, route, ages, k):
    # An age range never shows one person's age: the k-th smallest and k-th largest ages
    # (k = the small-cell threshold); with fewer than k ages, none of them.
    path = tmp_path_factory.mktemp("k") / "t.parquet"
    ids = [str(i) for i in range(len(ages))]
    pl.DataFrame(
        {"patient_id": ids, "age": ages}, schema_overrides={"age": pl.Int64}
    ).write_parquet(path)
    col = next(
        c
        for c in _profile_by(route, path, as_of="2024-01-01", small_cell=k).columns
        if c.name == "age"
    )
    present = sorted(a for a in ages if a is not None)
    if not present:
        assert (col.min, col.max) == (None, None)
        return
    if k == 1:
        assert (col.min, col.max) == (present[0], present[-1])
        return
    if len(present) < k:  # a column with fewer values than k shows no statistic at all
        assert (col.min, col.max, col.mean) == (None, None, None)
        return
    assert (col.min, col.max) == (present[k - 1], present[-k])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["p1", "p2", "p3", None]), st.sampled_from(["a", "b", None])),
        min_size=1,
        max_size=40,
    ),
    st.booleans(),
    st.booleans(),
)
def test_duplicate_rows_equal_duckdb_even_when_every_hash_collides(
    tmp_path_factory, monkeypatch, rows, collide, unique
):
    # A column with a different value in every row (``unique``) means no row repeats, and
    # the rows are not compared at all; text that types alike ("1", "1.0") or a missing
    # value does not count as different.
    checks = importlib.import_module("medvalue.analyses._checks")
    path = tmp_path_factory.mktemp("d") / "t.parquet"
    values = ["1", "1.0", "2", " 2", None, "NA"]
    v = [str(i) for i in range(len(rows))] if unique else [values[i % 6] for i in range(len(rows))]
    pl.DataFrame(
        [(*r, x) for r, x in zip(rows, v, strict=True)],
        schema={"patient_id": pl.String, "x": pl.String, "v": pl.String},
        orient="row",
    ).write_parquet(path)
    compared = []
    with monkeypatch.context() as patch:
        if collide:  # every row hashes alike: only the exact comparison tells rows apart
            patch.setattr(
                checks, "row_hash", lambda cols: (pl.col(cols[0]).hash() * 0).alias(checks.ROW_HASH)
            )
        counted = profile_module.duplicate_rows
        patch.setattr(
            profile_module, "duplicate_rows", lambda *a: compared.append(a) or counted(*a)
        )
        p = profile(load_dataset(path), as_of="2024-01-01", small_cell=1)  # statistics, not privacy
    found = sum(f.count for f in p.findings if f.check == "duplicate_rows")
    expected = duckdb.sql(
        f"SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM '{path}')) FROM '{path}'"
    ).fetchall()[0][0]
    assert found == expected
    if unique and len(rows) > 1:
        assert not compared


def test_same_input_same_output():
    ds = load_dataset(LIVER, spec=LIVER_SPEC)
    runs = [json.dumps(profile(ds, as_of=AS_OF).to_dict(), ensure_ascii=False) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    top = next(c for c in profile(ds, as_of=AS_OF).columns if c.name == "aetiology").top_values
    assert [n for _, n in top] == sorted((n for _, n in top), reverse=True)


def test_numbers_written_with_units_are_read_as_people_read_them(tmp_path):
    path = tmp_path / "t.csv"
    pl.DataFrame({"patient_id": ["a", "b", "c"], "年龄": ["45岁", "1,203", " 61 "]}).write_csv(path)
    col = next(
        c
        for c in profile(load_dataset(path), as_of=AS_OF, small_cell=1).columns
        if c.name == "年龄"
    )
    assert (col.min, col.max, col.unparseable) == (45.0, 1203.0, 0)


def test_a_stray_value_past_the_typing_sample_is_counted_not_lost(tmp_path):
    path = tmp_path / "t.csv"
    ages = ["50"] * 12_000 + ["45岁"]
    pl.DataFrame({"patient_id": [str(i) for i in range(len(ages))], "age": ages}).write_csv(path)
    p = profile(load_dataset(path), as_of=AS_OF)
    col = next(c for c in p.columns if c.name == "age")
    assert col.unparseable == 1
    assert any(f.check == "unparseable_values" and f.column == "age" for f in p.findings)


def test_well_formed_but_unknown_codes_and_icd9(tmp_path):
    path = tmp_path / "t.csv"
    codes = ["K74.6", "K99.9", "Z99.99", "250.00", "K72.100x001", "K7A.1"]
    pl.DataFrame({"patient_id": [str(i) for i in range(6)], "icd10": codes}).write_csv(path)
    p = profile(load_dataset(path), as_of=AS_OF)
    by = {f.check: f.count for f in p.findings if f.column == "icd10"}
    # K99.9 is shaped like ICD-10 but K99 is no WHO category; Z99.99 maps to Z99.9.
    # 250.00 (ICD-9) and K7A.1 are not shaped like ICD-10 at all: the malformed check's.
    assert by.get("unknown_code") == 1
    assert by.get("malformed_code") == 2


def _close(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)  # sums in another order
    return a == b


def test_both_routes_give_the_same_profile(tmp_path):
    # Every statistic, check, histogram and finding, whichever way each column is summarised;
    # floats with NaN, infinities and signed zeros, native dates and integers, a repeating id.
    frame = measurements_table(3_000).with_columns(
        pl.when(pl.int_range(pl.len()) % 97 == 0)
        .then(float("nan"))
        .when(pl.int_range(pl.len()) % 89 == 0)
        .then(float("inf"))
        .when(pl.int_range(pl.len()) % 83 == 0)
        .then(-0.0)
        .when(pl.int_range(pl.len()) % 79 == 0)
        .then(0.0)
        .when(pl.int_range(pl.len()) % 71 == 0)
        .then(None)
        .otherwise(pl.col("crp_mg_l"))
        .alias("crp_mg_l")
    )
    path = tmp_path / "m.parquet"
    frame.write_parquet(path)
    a, b = (_profile_by(r, path, as_of="2025-01-01").to_dict() for r in ROUTES)
    assert _close(a, b)
    assert a["columns"] and a["histograms"], "the comparison must cover statistics and histograms"


def test_continuous_columns_are_sorted_and_categories_counted(tmp_path):
    # The route follows the cardinality of the table's head: the eight float measurements
    # (nearly every value distinct) are sorted; integers, categories, dates, the code and
    # the patient id are counted by distinct value.
    path = tmp_path / "m.parquet"
    measurements_table(20_000).write_parquet(path)
    ds = load_dataset(path)
    name = ds.table_names[0]
    direct = profile_module._direct_columns(ds.raw_frame(name), ds.table_spec(name), ds.plans[name])
    floats = {c for c, t in pl.read_parquet_schema(path).items() if t == pl.Float64}
    assert len(floats) == 8 and direct == floats


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from([f"p{i}" for i in range(12)] + [None]),
            st.sampled_from(["男", "女", None]),
            st.one_of(st.none(), st.integers(0, 99)),
        ),
        min_size=1,
        max_size=60,
    ),
    part_rows=st.integers(1, 8),
    distinct_ids=st.booleans(),
    columns=st.sampled_from([("sex", "age"), ("age",), ()]),
)
def test_patients_counted_in_parts_equal_one_group_by(
    tmp_path_factory, monkeypatch, rows, part_rows, distinct_ids, columns
):
    # Past PATIENT_PART_ROWS records, patients are grouped in parts split by a hash of the
    # id; every patient statistic must equal the whole table's, and records per patient
    # must equal polars' statistics over the per-patient counts. Where no two records share
    # an id, nothing is grouped at all: that too must equal the group-by.
    if distinct_ids:
        rows = [(pid and f"q{i}", sex, age) for i, (pid, sex, age) in enumerate(rows)]
    path = tmp_path_factory.mktemp("pp") / "t.parquet"
    frame = pl.DataFrame(
        rows, schema={"patient_id": pl.String, "sex": pl.String, "age": pl.Int64}, orient="row"
    ).select("patient_id", *columns)  # a table of ids alone too: no field, no sex
    frame.write_parquet(path)
    routes = []
    records_table = profile_module._records_table

    def spy(*args, one_each=False, **kwargs):
        routes.append(one_each)
        return records_table(*args, one_each=one_each, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(profile_module, "_records_table", spy)
        whole = profile(load_dataset(path), as_of="2024-01-01", small_cell=1).to_dict()
    assert routes == [distinct_ids or frame["patient_id"].drop_nulls().is_unique().all()]
    with monkeypatch.context() as patch:
        patch.setattr(profile_module, "_one_record_each", lambda records: False)
        grouped = profile(load_dataset(path), as_of="2024-01-01", small_cell=1).to_dict()
        # Key fields no row lacks are not carried through the group-by: the same either way.
        patch.setattr(profile_module, "_complete_fields", lambda tspec, stats: frozenset())
        carried = profile(load_dataset(path), as_of="2024-01-01", small_cell=1).to_dict()
    assert grouped == whole
    assert carried == whole
    with monkeypatch.context() as patch:
        patch.setattr(profile_module, "PATIENT_PART_ROWS", part_rows)
        parted = profile(load_dataset(path), as_of="2024-01-01", small_cell=1).to_dict()
        # Patients are grouped by a hash of the id; with a key that collides for most ids
        # (their length), the second hash must catch it and the part be grouped by the ids.
        patch.setattr(_parts, "id_key", lambda pid: pid.str.len_bytes())
        collided = profile(load_dataset(path), as_of="2024-01-01", small_cell=1).to_dict()
    assert parted == whole
    assert collided == whole
    counts = frame.drop_nulls("patient_id").group_by("patient_id").len()["len"]
    rpp = whole["size"]["records_per_patient"]
    if len(counts) == 0:
        assert rpp is None or rpp["max"] == 0
        return
    expected = {
        "min": counts.min(),
        "median": counts.median(),
        "mean": counts.mean(),
        "p90": counts.quantile(0.9, "nearest"),
        "max": counts.max(),
    }
    assert rpp == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["p1", "p2", None]),
            st.sampled_from(["a", "b", None]),
            st.one_of(st.none(), st.integers(0, 2)),
            st.one_of(st.none(), st.sampled_from([0.5, 1.5, float("nan")])),
        ),
        min_size=1,
        max_size=40,
    ),
    st.lists(st.sampled_from(["pid", "s", "i", "f"]), max_size=4),
    st.booleans(),
)
def test_duplicate_rows_narrowed_by_some_columns_equal_duckdb(rows, narrow_by, collide):
    """Narrowing the candidates by a few columns first finds every repeated row: equal rows
    are equal in those columns too (even when every hash collides)."""
    checks = importlib.import_module("medvalue.analyses._checks")
    frame = pl.DataFrame(
        rows, schema={"pid": pl.String, "s": pl.String, "i": pl.Int64, "f": pl.Float64},
        orient="row",
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        if collide:
            patch.setattr(
                checks, "row_hash", lambda cols: (pl.col(cols[0]).hash() * 0).alias(checks.ROW_HASH)
            )
        found = checks.duplicate_rows(frame.lazy(), frame.columns, narrow_by)
    con = duckdb.connect()
    con.register("t", frame.to_arrow())
    expected = con.sql(
        "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM t)) FROM t"
    ).fetchall()[0][0]
    assert found == expected


def test_profile_narrows_the_duplicate_check_by_the_patient_and_most_varied_columns():
    ds = load_dataset(COUNTY, spec=COUNTY_SPEC)
    name = "patients"
    tspec, plans = ds.table_spec(name), ds.plans[name]
    row = {f"{c}\x1fn_unique": i for i, c in enumerate(plans)}
    pid = tspec.first("patient_id")
    row.pop(f"{pid}\x1fn_unique", None)
    chosen = profile_module._most_varied(tspec, plans, row)
    others = [c for c in plans if c != pid]
    assert chosen == [pid, others[-1], others[-2]]


def test_times_stored_with_a_zone_are_read_as_local_times(tmp_path):
    # Parquet datetimes that carry a time zone (Europe/Berlin: a DST change inside) are
    # profiled as the wall-clock times they were recorded at, like text dates; every
    # statistic equals polars' on those local times, and the date checks run.
    n = 20_000
    start = dt.datetime(2023, 3, 20, tzinfo=dt.UTC)
    frame = pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "sample_time": pl.datetime_range(
                start, start + dt.timedelta(minutes=7 * (n - 1)), "7m", eager=True,
                time_zone="Europe/Berlin",
            ),
        }
    )  # fmt: skip
    path = tmp_path / "t.parquet"
    frame.write_parquet(path)
    p = profile(load_dataset(path), as_of="2024-01-01", small_cell=1)
    col = next(c for c in p.columns if c.name == "sample_time")
    local = frame["sample_time"].dt.replace_time_zone(None)
    assert (col.min, col.max) == (local.min(), local.max())
    median = local.to_frame().select(pl.col("sample_time").quantile(0.5, "nearest")).item()
    assert col.median == median
    assert p.size.first_date == local.min().date() and col.n_unique == local.n_unique()
