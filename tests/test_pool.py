"""Pooled products: linkage by keyed pseudonyms, overlap, Shapley values, the revenue split.

Counts are checked against an independent computation on the raw identifiers (DuckDB over
the sites' own files, normalised in Python), the linkage error against the truth the sample
generator knows, and the Shapley values against their axioms and a closed form.
"""

from __future__ import annotations

import json
import math
import shutil
import unicodedata
from pathlib import Path

import duckdb
import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import given, settings

from medvalue.analyses import _shapley as shap
from medvalue.analyses._linkage import normalised, pseudonyms
from medvalue.core._config import SAMPLE_DIR
from medvalue.datasets._synthetic import POOL_SITES, county_pool
from medvalue.value._pool import _whole_percent, load_pool_spec, pool
from tests.conftest import TEST_SECRET, open_in_browser

POOL_DIR = SAMPLE_DIR / "county_pool"
POOL_SPEC = POOL_DIR / "pool.yaml"
AS_OF = "2025-06-30"


def _read_site(path: str | Path) -> pl.DataFrame:
    """A sample site's export as written (text as text); the TCM hospital's is GB18030."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    encoding = "gb18030" if path.name == "county_tcm.csv" else "utf8"
    return pl.read_csv(path, infer_schema=False, encoding=encoding)


@pytest.fixture(scope="module")
def sample_pool():
    import os

    os.environ.setdefault("MEDVALUE_SECRET", TEST_SECRET)
    return pool(spec=POOL_SPEC, as_of=AS_OF, secret=TEST_SECRET.encode())


# --- Shapley values --------------------------------------------------------------------------


def _union_game(sets: dict[str, set[int]]):
    return lambda coalition: float(len(set().union(*[sets[p] for p in coalition])))


def _closed_form(sets: dict[str, set[int]]) -> dict[str, float]:
    """For "how many items does the coalition hold", each item's 1 is split equally among
    the players holding it: an independent formula for the exact values."""
    holders: dict[int, int] = {}
    for items in sets.values():
        for item in items:
            holders[item] = holders.get(item, 0) + 1
    return {p: sum(1 / holders[i] for i in items) for p, items in sets.items()}


games = st.dictionaries(
    st.sampled_from("ABCDEFG"), st.sets(st.integers(0, 30), max_size=12), min_size=1, max_size=6
)


@settings(max_examples=60, deadline=None)
@given(games)
def test_exact_values_equal_the_closed_form_and_add_up(sets):
    players = sorted(sets)
    sv = shap.exact(players, _union_game(sets))
    expected = _closed_form(sets)
    for p in players:
        assert sv.of(p) == pytest.approx(expected[p], abs=1e-9)
    # Efficiency: the values add up to what everyone together holds.
    assert sum(sv.values) == pytest.approx(len(set().union(*sets.values())), abs=1e-9)
    assert sv.total == pytest.approx(sum(sv.values), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(games, st.sampled_from("ABCDEFG"))
def test_symmetric_players_get_the_same_and_a_null_player_nothing(sets, twin):
    base = sorted(sets)[0]
    with_twin = {**sets, f"{base}2": set(sets[base])}  # holds exactly what base holds
    with_null = {**sets, "null": set()}
    sv = shap.exact(sorted(with_twin), _union_game(with_twin))
    assert sv.of(base) == pytest.approx(sv.of(f"{base}2"), abs=1e-9)
    sv = shap.exact(sorted(with_null), _union_game(with_null))
    assert sv.of("null") == pytest.approx(0.0, abs=1e-12)


def test_monte_carlo_agrees_with_exact_on_six_sites():
    sets = {
        "a": set(range(0, 400)), "b": set(range(300, 500)), "c": set(range(450, 520)),
        "d": set(range(0, 50)) | {900, 901}, "e": set(range(510, 530)), "f": set(range(100, 600, 7)),
    }  # fmt: skip
    players = sorted(sets)
    exact = shap.exact(players, _union_game(sets))
    mc = shap.monte_carlo(players, _union_game(sets), permutations=3000, seed=3)
    assert mc.method == "monte_carlo" and mc.standard_errors is not None
    for p, se in zip(players, mc.standard_errors, strict=True):
        assert abs(mc.of(p) - exact.of(p)) <= 4 * se + 1e-9, p
        assert se > 0 or exact.of(p) == mc.of(p)
    # Every order's contributions add up to v(all), so the estimate is efficient too.
    assert sum(mc.values) == pytest.approx(exact.total, abs=1e-9)


def test_beyond_ten_players_the_estimate_is_used():
    sets = {f"s{i:02d}": {i, i + 1, 100} for i in range(12)}
    sv = shap.shapley(sorted(sets), _union_game(sets), permutations=50, seed=1)
    assert sv.method == "monte_carlo" and sv.permutations == 50
    assert sum(sv.values) == pytest.approx(sv.total)


def test_shares_count_negative_values_as_zero():
    sv = shap.ShapleyValues(("a", "b", "c"), (0.3, -0.1, 0.1), 0.3, "exact")
    assert sv.shares() == pytest.approx((0.75, 0.0, 0.25))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12).filter(lambda v: sum(v) > 0))
def test_whole_percent_shares_add_up(values):
    total = sum(values)
    shares = [v / total for v in values]
    rounded = _whole_percent(shares)
    assert sum(rounded) == pytest.approx(1.0)
    assert all(abs(r - s) < 0.01 + 1e-9 for r, s in zip(rounded, shares, strict=True))


# --- linkage ---------------------------------------------------------------------------------


def _python_normalised_id(value: str | None) -> str | None:
    """An independent normalisation of a resident ID (the library's is a polars expression)."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in text if not ch.isspace() and ch != "-").upper() or None


def _site_ids() -> dict[str, set[str]]:
    """Each site's normalised resident IDs, read from its own file."""
    spec = load_pool_spec(POOL_SPEC)
    out = {}
    for site in spec.sites:
        frame = _read_site(site.path)
        column = site.columns.get("身份证号", "身份证号")
        out[site.name] = {_python_normalised_id(v) for v in frame[column].to_list()} - {None}
    return out


def test_overlap_counts_equal_a_join_on_the_raw_identifiers(sample_pool):
    ids = _site_ids()
    con = duckdb.connect()
    for name, values in ids.items():
        con.execute(f'CREATE TABLE "{name}" (id VARCHAR)')
        con.executemany(f'INSERT INTO "{name}" VALUES (?)', [(v,) for v in values])
    names = list(sample_pool.site_names)
    assert names == list(ids)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            shared = con.execute(f'SELECT count(*) FROM "{a}" JOIN "{b}" USING (id)').fetchone()[0]
            shown = sample_pool.overlap[i][j]
            assert shown == (shared if shared >= sample_pool.small_cell or shared == 0 else None), (
                a,
                b,
            )
    union = " UNION ".join(f'SELECT id FROM "{n}"' for n in names)
    distinct = con.execute(f"SELECT count(*) FROM ({union})").fetchone()[0]
    assert sample_pool.distinct_people == distinct


def test_typos_count_each_mistyped_person_twice_and_fail_the_check_digit(sample_pool):
    _, truth = county_pool()
    typos = int(truth["typo"].sum())
    assert typos > 0
    # Each planted typo breaks one link (the person is seen correctly at another site).
    assert sample_pool.distinct_people == truth["resident"].n_unique() + typos
    by_site = truth.group_by("site").agg(pl.col("typo").sum()).rows()
    for site, planted in by_site:
        found = next(s for s in sample_pool.sites if s.name == site)
        # A single wrong digit always fails the MOD 11-2 check (GB 11643); the harmless
        # variants planted beside them (spaces, lowercase x, full-width digits) never do.
        assert found.checks.invalid_resident_id == planted


def test_pseudonyms_are_the_hmac_of_the_normalised_key():
    import hashlib
    import hmac

    key = b"pool-key-0123456789abcdef"
    raw = pl.Series(["３３０３２６２００３１１２８９５０X", " 330326 20031128 950x "])
    keys = pl.select(normalised("resident_id", pl.lit(raw))).to_series()
    assert keys.n_unique() == 1
    got = pseudonyms(keys.unique(), key)[0]
    expected = hmac.new(key, b"medvalue-pool-link:" + keys[0].encode(), hashlib.sha256).hexdigest()
    assert got == expected[:20]


def test_sites_that_ship_their_own_pseudonyms_give_the_same_counts(sample_pool, tmp_path):
    """A site computes pseudonyms with the shared key and sends no identifier."""
    spec = load_pool_spec(POOL_SPEC)
    lines = ["linkage: {key: pseudonym}", "sites:"]
    for site, (name, file, *_rest) in zip(spec.sites, POOL_SITES, strict=True):
        path = Path(site.path)
        frame = _read_site(path)
        column = site.columns.get("身份证号", "身份证号")
        keys = pl.select(normalised("resident_id", pl.lit(frame[column]))).to_series()
        distinct = keys.drop_nulls().unique()
        link = keys.replace_strict(
            distinct, pseudonyms(distinct, TEST_SECRET.encode()), default=None
        )
        names = [c for c in frame.columns if c in ("姓名", "name", column)]
        shipped = frame.drop(names).with_columns(link.alias("link_pseudonym"))
        shipped.write_parquet(tmp_path / f"{Path(file).stem}.parquet")
        lines.append(f"  - {{name: {name}, path: {Path(file).stem}.parquet}}")
    (tmp_path / "pool.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shipped_pool = pool(spec=tmp_path / "pool.yaml", as_of=AS_OF)
    assert shipped_pool.distinct_people == sample_pool.distinct_people
    assert shipped_pool.overlap == sample_pool.overlap


def test_name_birth_sex_key_links_on_those_fields(tmp_path):
    spec = POOL_SPEC.read_text(encoding="utf-8").replace("key: resident_id", "key: name_birth_sex")
    spec = spec.replace(
        "columns: {身份证号: id_number,", "columns: {姓名: name, 出生日期: birth_date, 性别: sex,"
    )
    for f in POOL_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "pool.yaml").write_text(spec, encoding="utf-8")
    p = pool(spec=tmp_path / "pool.yaml", as_of=AS_OF, secret=TEST_SECRET.encode())
    # Independently: distinct (name, birth date, sex) over the four files.
    frames = []
    for site in load_pool_spec(tmp_path / "pool.yaml").sites:
        frame = _read_site(site.path).rename(
            {"name": "姓名", "birth_date": "出生日期", "sex": "性别"}, strict=False
        )
        frames.append(frame.select(
            pl.col("姓名"), pl.col("出生日期").cast(pl.String),
            pl.col("性别").replace({"男": "M", "女": "F"}),
        ))  # fmt: skip
    expected = pl.concat(frames).unique().height
    assert p.distinct_people == expected
    assert p.key == ("name", "birth_date", "sex")


# --- the pool --------------------------------------------------------------------------------


def test_the_rare_disease_site_is_worth_more_than_its_rows(sample_pool):
    rare = sample_pool.site_names.index("县第二人民医院血液与罕见病科")
    split = sample_pool.split
    assert split.by_game["categories"][rare] > 3 * split.by_rows[rare]
    assert split.recommended[rare] > 2 * split.by_rows[rare]
    site = sample_pool.sites[rare]
    assert site.unique_categories == site.categories == 10
    assert sum(split.recommended) == pytest.approx(1.0)
    assert sum(split.by_rows) == pytest.approx(1.0)


def test_model_values_add_up_to_the_pooled_gain(sample_pool):
    model = sample_pool.shapley["model"]
    assert model.method == "exact" and model.coalitions == 2 ** len(sample_pool.sites)
    assert sum(model.values) == pytest.approx(model.total, abs=1e-9)
    # v(all) - v(none): the pooled model's cross-validated AUC above chance.
    assert 0 < model.total < 0.5
    assert sample_pool.model_metric == "auc"


def test_a_site_that_duplicates_another_adds_no_marginal_coverage(tmp_path):
    """Null player: with the original in the coalition, a copy adds no person and no
    category; symmetric with the original, each gets half of what the original alone adds."""
    from medvalue.analyses._linkage import extract_site, overlap_masks
    from medvalue.read._dataset import load_dataset
    from medvalue.value._pool import _categories, _union_game

    ds = load_dataset(POOL_DIR / "rare_disease_clinic.csv")
    other = load_dataset(POOL_DIR / "county_people.csv")
    extracts = [
        extract_site(d, n, key=("resident_id",), secret=b"k" * 20)
        for n, d in (("rare", ds), ("copy", ds), ("people", other))
    ]
    names = ["rare", "copy", "people"]
    for game in (
        _union_game(overlap_masks(extracts), names),
        _union_game(_categories(extracts), names),
    ):
        for coalition in (frozenset({"rare"}), frozenset({"rare", "people"})):
            assert game(coalition | {"copy"}) - game(coalition) == 0
        sv = shap.exact(names, game)
        assert sv.of("rare") == pytest.approx(sv.of("copy"))


def test_pool_is_deterministic(sample_pool):
    again = pool(spec=POOL_SPEC, as_of=AS_OF, secret=TEST_SECRET.encode())
    assert json.dumps(again.to_dict(), sort_keys=True, default=str) == json.dumps(
        sample_pool.to_dict(), sort_keys=True, default=str
    )


def test_pooling_the_same_people_never_lowers_k(sample_pool):
    assert sample_pool.k_pooled_generalised is not None
    assert all(sample_pool.k_pooled_generalised >= s.k_alone_generalised for s in sample_pool.sites)


# --- the command, privacy of outputs, the report ---------------------------------------------


def _identifiers() -> list[str]:
    out: set[str] = set()
    spec = load_pool_spec(POOL_SPEC)
    for site in spec.sites:
        path = Path(site.path)
        frame = _read_site(path)
        for c in ("身份证号", "姓名", "id_number", "name"):
            if c in frame.columns:
                out |= {v.strip() for v in frame[c].to_list() if v}
    return sorted(out)


def test_cli_json_and_no_identifier_in_any_output(run, tmp_path):
    r = run("pool", "--spec", POOL_SPEC, "--as-of", AS_OF, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["distinct_people"] > 0 and len(d["sites"]) == 4
    assert set(d["revenue_split"]["recommended"]) == set(d["overlap"]["sites"])
    text = run(
        "pool", "--spec", POOL_SPEC, "--as-of", AS_OF, "--lang", "zh", "--report", tmp_path / "r"
    )
    assert text.code == 0, text.err
    files = sorted((tmp_path / "r").iterdir())
    assert {f.suffix for f in files} >= {".html", ".ipynb", ".json"}
    bodies = [r.out, r.err, text.out, text.err] + [f.read_text(encoding="utf-8") for f in files]
    needles = _identifiers()
    assert len(needles) > 1000
    for body in bodies:
        found = [n for n in needles if n in body]
        assert not found, found[:3]
    page = open_in_browser(next(f for f in files if f.suffix == ".html"))
    assert page["external"] == [] and page["errors"] == []
    assert page["rendered"] >= 4
    assert "Shapley" in page["text"]


def test_cli_sites_on_the_command_line(run, tmp_path):
    a = f"人民={POOL_DIR / 'county_people.csv'}"
    b = f"罕见病={POOL_DIR / 'rare_disease_clinic.csv'}"
    r = run("pool", a, b, "--json", "--as-of", AS_OF)
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert [s["name"] for s in d["sites"]] == ["人民", "罕见病"]
    assert d["model_metric"] is None  # no label named: the split weighs coverage only
    assert set(d["revenue_split"]["weights"]) == {"people", "categories"}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "give the sites"),
        (("only=" + str(POOL_DIR / "county_people.csv"),), "at least two sites"),
        (
            ("a=" + str(POOL_DIR / "county_people.csv"), "a=" + str(POOL_DIR / "county_tcm.csv")),
            "named 'a'",
        ),
        (("a=/no/such.csv", "b=" + str(POOL_DIR / "county_tcm.csv")), "no such file"),
    ],
)
def test_cli_errors_are_one_line(run, args, says):
    r = run("pool", *args)
    assert r.code == 2 and says in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_missing_secret_and_bad_spec_are_one_line_errors(run, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDVALUE_SECRET")
    r = run("pool", "--spec", POOL_SPEC)
    assert r.code == 2 and "MEDVALUE_SECRET is not set" in r.err
    bad = tmp_path / "pool.yaml"
    bad.write_text("sites: []\nshare: rows\n", encoding="utf-8")
    r = run("pool", "--spec", bad)
    assert r.code == 2 and "unknown key 'share'" in r.err
    bad.write_text(
        POOL_SPEC.read_text(encoding="utf-8").replace("身份证号: id_number, ", ""), encoding="utf-8"
    )
    for f in POOL_DIR.iterdir():
        if f.name != "pool.yaml":
            shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("MEDVALUE_SECRET", TEST_SECRET)
    r = run("pool", "--spec", bad)
    # The English export's ID column is still found by its values (resident IDs).
    assert r.code == 0, r.err


def test_a_site_without_a_linkage_column_names_the_fix(run, tmp_path):
    frame = pl.read_csv(POOL_DIR / "county_people.csv").drop("身份证号", "姓名")
    frame.write_csv(tmp_path / "no_ids.csv")
    r = run("pool", f"x={tmp_path / 'no_ids.csv'}", f"y={POOL_DIR / 'county_people.csv'}")
    assert r.code == 2 and "resident_id" in r.err and "columns:" in r.err


def test_inputs_are_never_modified(run, tmp_path):
    from tests.conftest import digest

    before = digest(POOL_DIR)
    assert run("pool", "--spec", POOL_SPEC, "--json").code == 0
    assert digest(POOL_DIR) == before


def test_small_counts_are_hidden(sample_pool):
    t = sample_pool.small_cell
    for row in sample_pool.overlap:
        assert all(v is None or v == 0 or v >= t for v in row)
    assert any(v is None for row in sample_pool.overlap for v in row) or all(
        v >= t for row in sample_pool.overlap for v in row if v
    )
    d = sample_pool.to_dict()
    # People values would let a hidden count be worked out: shares to whole percent only.
    assert set(d["shapley"]["people"]) == {"method", "shares"}
    assert all(
        math.isclose(v * 100, round(v * 100)) for v in d["shapley"]["people"]["shares"].values()
    )


def test_standards_as_sites_omop_linked_to_a_folder_and_fhir_by_name(tmp_path):
    """An OMOP CDM folder linked by person_source_value to a folder of tables, and a FHIR
    export linked to itself by name + birth date + sex."""
    omop, county = SAMPLE_DIR / "omop_cdm", SAMPLE_DIR / "county_hospital"
    spec = tmp_path / "pool.yaml"
    spec.write_text(
        "linkage: {key: [person_source_value]}\nsites:\n"
        f"  - {{name: omop, path: {omop}}}\n"
        f"  - {{name: county, path: {county}, spec: {SAMPLE_DIR / 'county_hospital.spec.yaml'},"
        " columns: {person_source_value: patients.patient_id}}\n",
        encoding="utf-8",
    )
    p = pool(spec=spec, as_of=AS_OF)
    source = set(pl.read_csv(omop / "person.csv", infer_schema=False)["person_source_value"])
    ids = set(pl.read_csv(county / "patients.csv", infer_schema=False)["patient_id"])
    assert p.overlap[0][1] == len(source & ids) and p.distinct_people == len(source | ids)
    spec.write_text(
        "linkage: {key: name_birth_sex}\nsites:\n"
        f"  - {{name: a, path: {SAMPLE_DIR / 'fhir_export'}}}\n"
        f"  - {{name: b, path: {SAMPLE_DIR / 'fhir_export'}}}\n",
        encoding="utf-8",
    )
    p = pool(spec=spec, as_of=AS_OF)
    assert p.sites[0].columns["name"] == "patient.name"
    assert p.overlap[0][1] == p.overlap[0][0] == p.distinct_people > 0


def test_sites_link_at_home_and_the_analyst_pools_without_identifiers(
    run, sample_pool, tmp_path, monkeypatch
):
    """`medvalue pool --link-out` at the sites, then a pool of the extracts with no key."""
    r = run("pool", "--spec", POOL_SPEC, "--link-out", tmp_path / "linked", "--json")
    assert r.code == 0, r.err
    linked = json.loads(r.out)["linked"]
    assert [s["site"] for s in linked] == list(sample_pool.site_names)
    files = sorted((tmp_path / "linked").rglob("*.parquet"))
    assert len(files) == 4
    needles = set(_identifiers())
    mrns = set()
    for site in load_pool_spec(POOL_SPEC).sites:
        path = Path(site.path)
        frame = _read_site(path)
        mrns |= set(frame[frame.columns[0]].to_list())
    for f in files:
        cells = set(pl.read_parquet(f).unpivot().get_column("value").cast(pl.String).to_list())
        assert not cells & (needles | mrns)
    spec = POOL_SPEC.read_text(encoding="utf-8").replace("key: resident_id", "key: pseudonym")
    for site in load_pool_spec(POOL_SPEC).sites:
        spec = spec.replace(f"path: {Path(site.path).name}", f"path: {site.name}")
    (tmp_path / "linked" / "pool.yaml").write_text(spec, encoding="utf-8")
    monkeypatch.delenv("MEDVALUE_SECRET")  # the analyst holds no key
    again = pool(spec=tmp_path / "linked" / "pool.yaml", as_of=AS_OF)
    assert again.distinct_people == sample_pool.distinct_people
    assert again.overlap == sample_pool.overlap
    assert again.split.recommended == pytest.approx(sample_pool.split.recommended)


def test_a_time_to_event_label_is_valued_by_c_index(tmp_path):
    """Two sites with a follow-up time: the model values are C-index gains over 0.5."""
    import numpy as np

    rng = np.random.default_rng(5)
    sites = []
    for name, file in (("a", "county_people.csv"), ("b", "county_tcm.csv")):
        frame = _read_site(POOL_DIR / file)
        risk = frame["住院天数"].cast(pl.Float64).to_numpy() / 10
        time = rng.exponential(365 / np.exp(risk)).round() + 1
        frame = frame.with_columns(
            pl.Series("随访天数", time.astype(int)), pl.Series("死亡", (time < 200).astype(int))
        ).drop("30天再入院")
        frame.write_csv(tmp_path / f"{name}.csv")
        sites.append(f"  - {{name: {name}, path: {name}.csv}}")
    spec = (
        "label: 死亡\ntime: 随访天数\npredictors: [住院天数, 既往住院次数]\nsites:\n"
        + "\n".join(sites)
        + "\n"
    )
    (tmp_path / "pool.yaml").write_text(spec, encoding="utf-8")
    p = pool(spec=tmp_path / "pool.yaml", as_of=AS_OF)
    assert p.model_metric == "c_index"
    model = p.shapley["model"]
    assert 0 < model.total < 0.5 and sum(model.values) == pytest.approx(model.total)
    assert (
        p.assessment.readiness.label is not None
        and p.assessment.readiness.label.outcome == "survival"
    )


def test_eleven_sites_use_the_monte_carlo_estimate_with_standard_errors():
    from medvalue.read._dataset import load_dataset

    small = load_dataset(POOL_DIR / "rare_disease_clinic.csv")
    big = load_dataset(POOL_DIR / "county_people.csv")
    sites = [(f"s{i:02d}", small if i % 2 else big) for i in range(11)]
    p = pool(sites, permutations=40, seed=2, as_of=AS_OF)
    categories = p.shapley["categories"]
    assert categories.method == "monte_carlo" and categories.standard_errors is not None
    assert sum(categories.values) == pytest.approx(categories.total)
    d = p.to_dict()
    assert d["shapley"]["categories"]["permutations"] == 40
    # Copies of one file: the union holds what the two files hold.
    assert p.distinct_people == len(
        set(pl.read_csv(POOL_DIR / "rare_disease_clinic.csv", infer_schema=False)["身份证号"])
        | set(pl.read_csv(POOL_DIR / "county_people.csv", infer_schema=False)["身份证号"])
    )


def test_link_out_keeps_every_site_inside_its_folder(run, tmp_path):
    site = f"../../县/人民={POOL_DIR / 'county_people.csv'}"
    r = run("pool", site, "--link-out", tmp_path / "out", "--json")
    assert r.code == 0, r.err
    made = [p for p in tmp_path.rglob("*.parquet")]
    assert made and all((tmp_path / "out") in p.parents for p in made)
    assert json.loads(r.out)["linked"][0]["site"] == "../../县/人民"
