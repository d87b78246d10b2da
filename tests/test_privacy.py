"""Privacy gate: reference values (pycanon, ARX), DuckDB cross-checks, identifier scan,
generalisation, verdicts, --apply and the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from unittest import mock

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import medvalue as mv
from medvalue.analyses import _anonymity as anonymity
from medvalue.analyses import _generalise as generalise
from medvalue.analyses import _privacy as privacy_module
from medvalue.analyses._identifiers import scan_identifiers
from medvalue.analyses._privacy import apply_generalisation, privacy
from medvalue.core import _parts
from medvalue.core._patterns import resident_id_check_char
from tests.conftest import CAROTID, COUNTY, COUNTY_SPEC, LIVER, LIVER_SPEC, digest

PYCANON = Path(__file__).parent / "data" / "pycanon"
QI = ["Teacher", "Gender", "Ethnic", "Freeredu", "wesson"]


# --- reference values -----------------------------------------------------------------------


def test_pycanon_published_values_on_its_own_test_data():
    """pycanon's tests/test_anonymity.py: raw StudentsMath_Score and the k = 5 release."""
    raw = pl.scan_csv(PYCANON / "StudentsMath_Score.csv")
    k5 = pl.scan_csv(PYCANON / "StudentsMath_Score_k5.csv")
    assert anonymity.summarise(raw, QI).k == 1
    d = anonymity.diversity(raw, QI, "Score")
    assert d.l_distinct == 1
    assert int(d.l_entropy) == 1  # pycanon reports the integer part
    assert (d.alpha, anonymity.summarise(raw, QI).k) == (1.0, 1)
    assert d.t_closeness == pytest.approx(0.4165919952210274, rel=1e-12)
    assert anonymity.summarise(k5, QI).k == 5
    d5 = anonymity.diversity(k5, QI, "Score")
    assert (d5.alpha, anonymity.summarise(k5, QI).k) == (0.5, 5)


@pytest.mark.parametrize(
    ("file", "qi", "sa", "k", "l_distinct", "entropy_l", "alpha", "t"),
    [
        # Computed with pycanon 1.3.6 (pip install pycanon) on the same files.
        ("StudentsMath_Score.csv", ["Teacher", "Gender"], "Ethnic", 28, 4, 3, 0.358974358974359, 0.14880952380952384),
        ("StudentsMath_Score_k5.csv", QI, "Score", 5, 4, 3, 0.5, 0.31023287057769827),
        ("StudentsMath_Score_k5.csv", ["Teacher", "Gender"], "Ethnic", 18, 3, 2, 0.5833333333333334, 0.319077474249888),
    ],
)  # fmt: skip
def test_pycanon_values_on_more_cases(file, qi, sa, k, l_distinct, entropy_l, alpha, t):
    frame = pl.scan_csv(PYCANON / file)
    assert anonymity.summarise(frame, qi).k == k
    d = anonymity.diversity(frame, qi, sa)
    assert (d.l_distinct, int(d.l_entropy)) == (l_distinct, entropy_l)
    assert d.alpha == pytest.approx(alpha, rel=1e-12)
    assert d.t_closeness == pytest.approx(t, rel=1e-9)


def test_t_closeness_of_a_number_read_as_text_uses_equal_distance():
    # pycanon 1.3.6 with Score as strings: 0.972222... (raw), 0.928571... (k = 5).
    for file, expected in (
        ("StudentsMath_Score.csv", 0.972222222222222),
        ("StudentsMath_Score_k5.csv", 0.9285714285714283),
    ):
        frame = pl.scan_csv(PYCANON / file).with_columns(pl.col("Score").cast(pl.String))
        assert anonymity.diversity(frame, QI, "Score").t_closeness == pytest.approx(
            expected, rel=1e-9
        )


def _classes(sizes: list[int]) -> pl.LazyFrame:
    return pl.DataFrame({"q": [i for i, f in enumerate(sizes) for _ in range(f)]}).lazy()


def test_arx_prosecutor_risk_worked_example():
    s = anonymity.summarise(_classes([2, 3, 5]), ["q"], threshold=0.2)
    assert (s.risk.prosecutor_at_risk, s.risk.prosecutor_max, s.risk.prosecutor_avg) == (
        0.5,
        0.5,
        0.3,
    )
    assert s.risk.marketer == 0.3  # J / n without a population
    assert s.k == 2 and s.below == {2: 0, 5: 5, 11: 10}


def test_arx_journalist_and_marketer_with_a_population():
    population = pl.DataFrame({"q": ["0", "1", "2"], "count": [10, 20, 50]})
    s = anonymity.summarise(_classes([2, 3, 5]), ["q"], threshold=0.2, population=population)
    assert s.risk.journalist_max == pytest.approx(0.1)
    assert s.risk.journalist_avg == pytest.approx(0.045)
    assert s.risk.marketer == pytest.approx(0.045)
    assert s.risk.journalist_at_risk == 0.0


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["F", "M", None]), st.integers(18, 30) | st.none(),
                  st.integers(0, 40)),
        min_size=1, max_size=80,
    ),
    parts=st.integers(2, 7),
    with_population=st.booleans(),
)  # fmt: skip
def test_classes_counted_in_parts_give_the_same_summary(rows, parts, with_population):
    # Large tables count their equivalence classes in parts split by a hash of the
    # quasi-identifiers; every statistic must equal the one-part count.
    frame = pl.DataFrame(rows, schema={"sex": pl.String, "age": pl.Int64, anonymity.SUBJECT: pl.Int64},
                         orient="row").lazy()  # fmt: skip
    population = None
    if with_population:
        population = pl.DataFrame({"sex": ["F", "M"] * 13, "age": [str(a) for a in range(18, 31) for _ in (0, 1)],
                                   "count": list(range(5, 31))})  # fmt: skip
    one, split = (
        anonymity.summarise(frame, ["sex", "age"], threshold=0.2, population=population, parts=n)
        for n in (1, parts)
    )
    assert (one.k, one.records, one.classes, one.below, one.suppressed, one.buckets) == (
        split.k, split.records, split.classes, split.below, split.suppressed, split.buckets)  # fmt: skip
    for field_ in type(one.risk).__dataclass_fields__:
        a, b = getattr(one.risk, field_), getattr(split.risk, field_)
        assert (a is None and b is None) or a == pytest.approx(b, rel=1e-12), field_


def test_classes_count_people_not_rows():
    frame = pl.DataFrame({"_subject": ["a", "a", "a", "b"], "q": [1, 1, 1, 1]}).lazy()
    assert anonymity.summarise(frame, ["q"]).k == 2


def test_records_with_every_quasi_identifier_missing_are_suppressed():
    frame = pl.DataFrame({"a": [1, 1, None, 2], "b": ["x", "x", None, None]}).lazy()
    s = anonymity.summarise(frame, ["a", "b"])
    assert (s.suppressed, s.records, s.k) == (1, 3, 1)


@pytest.mark.parametrize("path", [CAROTID, COUNTY])
def test_k_and_small_classes_equal_duckdb(path):
    ds = mv.load_dataset(path)
    a = privacy(ds)
    con = duckdb.connect()
    for t in a.tables:
        qis = [q for q in a.quasi_identifiers if q.table == t.table]
        frame = ds.frame(t.table).collect()
        pid = ds.table_spec(t.table).first("patient_id")
        con.register("t", frame.to_arrow())
        cols = ", ".join(f'"{q.column}"' for q in qis)
        hub = next((n for n in ds.table_names if ds.table_spec(n).kind == "patients"), None)
        if hub and hub != t.table:  # inherits the patient table's QIs
            hub_qis = [q for q in a.quasi_identifiers if q.table == hub]
            con.register("h", ds.frame(hub).collect().to_arrow())
            hub_pid = ds.table_spec(hub).first("patient_id")
            hcols = ", ".join(f'h."{q.column}" AS "h_{q.column}"' for q in hub_qis)
            con.execute(
                f"CREATE OR REPLACE VIEW r AS SELECT t.*, {hcols} FROM t LEFT JOIN "
                f'(SELECT * FROM h QUALIFY row_number() OVER (PARTITION BY "{hub_pid}") = 1) h '
                f'ON CAST(t."{pid}" AS VARCHAR) = CAST(h."{hub_pid}" AS VARCHAR)'
            )
            cols += ", " + ", ".join(f'"h_{q.column}"' for q in hub_qis)
            source = "r"
        else:
            source = "t"
        everything_missing = " AND ".join(f"{c.strip()} IS NULL" for c in cols.split(","))
        sizes = [
            f
            for (f,) in con.execute(
                f'SELECT count(DISTINCT "{pid}") FROM {source} WHERE NOT ({everything_missing}) GROUP BY {cols}'
            ).fetchall()
        ]
        assert t.summary.k == min(sizes)
        assert t.summary.classes == len(sizes)
        for b in (2, 5, 11):
            assert t.summary.below[b] == sum(f for f in sizes if f < b)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 99), st.sampled_from("MF")), min_size=1, max_size=300))
def test_generalising_never_shrinks_the_smallest_class(rows):
    frame = pl.DataFrame({"age": [float(a) for a, _ in rows], "sex": [s for _, s in rows]})
    ladder = generalise.hierarchy_for("age", "age", frame["age"].value_counts(), 5)
    sex = generalise.hierarchy_for("sex", "sex", frame["sex"].value_counts(), 5)
    table = generalise.class_table(frame.lazy(), ["age", "sex"])
    ks = [
        generalise.evaluate(table, {"age": ladder, "sex": sex}, {"age": lv, "sex": 0}, 5).k
        for lv in range(ladder.height + 1)
    ]
    assert ks == sorted(ks)
    assert ks[-1] == frame.group_by("sex").len()["len"].min()
    assert ks[0] == frame.group_by(["age", "sex"]).len()["len"].min()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40),  # person
            st.one_of(st.none(), st.integers(0, 99)),  # age
            st.one_of(st.none(), st.sampled_from("MF")),  # sex
            st.one_of(st.none(), st.dates()),  # admission date
        ),
        min_size=1,
        max_size=200,
    ),
    st.data(),
)
def test_the_search_counts_classes_as_the_reference_does(rows, data):
    """The search's coded evaluation (distinct values generalised, people counted by sorting
    one packed integer) equals generalising every record and counting distinct people."""
    frame = pl.DataFrame(
        {
            anonymity.SUBJECT: [f"p{p}" for p, *_ in rows],
            "age": [None if a is None else float(a) for _, a, _, _ in rows],
            "sex": [s for *_, s, _ in rows],
            "admitted": [d for *_, d in rows],
        },
        schema={
            anonymity.SUBJECT: pl.String,
            "age": pl.Float64,
            "sex": pl.String,
            "admitted": pl.Date,
        },
    )
    qi = ["age", "sex", "admitted"]
    ladders = {
        "age": generalise.hierarchy_for("age", "age", frame["age"].value_counts(), 5),
        "sex": generalise.hierarchy_for("sex", "sex", frame["sex"].value_counts(), 5),
        "admitted": generalise.hierarchy_for(
            "admitted", "admission_date", frame["admitted"].value_counts(), 5
        ),
    }
    if not data.draw(st.booleans()):  # records without people: classes weigh records
        frame = frame.drop(anonymity.SUBJECT)
    table = generalise.class_table(frame.lazy(), qi)
    # People are keyed by a hash of the id; a key colliding for most ids (their length) must
    # be caught by the second hash and the part counted by the ids.
    key = (lambda ids: ids.str.len_bytes()) if data.draw(st.booleans()) else _parts.id_key
    with mock.patch.object(_parts, "id_key", key):
        coded = generalise._Coded([generalise.coded_class_table(frame.lazy(), qi)], ladders)
    levels = {c: data.draw(st.integers(0, h.height)) for c, h in ladders.items()}
    assert coded.evaluate(0, levels, 5) == generalise.evaluate(table, ladders, levels, 5)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 30),
            st.one_of(st.none(), st.integers(0, 4)),
            st.one_of(st.none(), st.sampled_from("xyz")),
            st.booleans(),
        ),
        min_size=1,
        max_size=200,
    ),
    st.integers(2, 6),
    st.booleans(),
)
def test_who_is_blanked_equals_a_window_count(rows, k, people):
    """The suppression's finds, counted in parts that share no class, equal a direct count:
    the people in a class of fewer than k distinct people (the people found before blanked
    everywhere), or, without people, the classes of fewer than k records."""
    from medvalue.read._records import Records

    frame = pl.DataFrame(
        {
            anonymity.SUBJECT: [f"p{p}" for p, *_ in rows],
            "a": [a for _, a, _, _ in rows],
            "b": [b for _, _, b, _ in rows],
        },
        schema={anonymity.SUBJECT: pl.String, "a": pl.Int64, "b": pl.String},
    )
    gone = frame.filter(pl.Series([h for *_, h in rows]))[anonymity.SUBJECT].unique()
    names = ["a", "b"]
    if not people:
        frame = frame.drop(anonymity.SUBJECT)
        gone = gone.head(0)
    blanked = frame.with_columns(
        pl.when(pl.col(anonymity.SUBJECT).is_in(gone.implode()) if people else pl.lit(False))
        .then(None)
        .otherwise(pl.col(c))
        .alias(c)
        for c in names
    )
    size = pl.col(anonymity.SUBJECT).n_unique() if people else pl.len()
    small = blanked.filter(~anonymity.all_missing(names)).filter(size.over(names) < k)
    records = Records.of(frame.lazy())
    for parts in (1, 3):
        if people:
            find = privacy_module._people_in_small(names, k, gone)
            got = records.by_key(pl.struct(names), find, 0, parts)[anonymity.SUBJECT].unique()
            assert sorted(got.to_list()) == sorted(small[anonymity.SUBJECT].unique().to_list())
        else:
            found = records.by_key(
                pl.struct(names), privacy_module._small_classes(names, k), 0, parts
            )
            hashes = small.select(privacy_module._class_hash(names).unique())
            assert sorted(found["hash"].to_list()) == sorted(hashes.to_series().to_list())
            assert int(found["records"].sum()) == small.height


# --- direct identifiers ---------------------------------------------------------------------


def _resident_id(i: int) -> str:
    first17 = f"110105{1950 + i % 50}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def _luhn(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


@pytest.fixture
def planted(tmp_path):
    rows = 30_000
    rng = random.Random(7)
    frame = pl.DataFrame(
        {
            "patient_id": [f"P{i:06d}" for i in range(rows)],
            "sex": [rng.choice("MF") for _ in range(rows)],
            "age": [rng.randint(18, 95) for _ in range(rows)],
            "证件": [_resident_id(i) for i in range(rows)],
            "联系": [f"139{i:08d}" for i in range(rows)],
            "email_addr": [f"user{i}@example.com" for i in range(rows)],
            "card": [_luhn(f"622202{i:09d}") for i in range(rows)],
            "host": [f"10.0.{i % 255}.{i % 250}" for i in range(rows)],
            "patient_name": [rng.choice(["张伟", "王芳", "李娜", "刘洋"]) for _ in range(rows)],
            "contact_person": [rng.choice(["John Smith", "Mary Jones"]) for _ in range(rows)],
            "病案号": [f"{100000 + i}" for i in range(rows)],
            # An identifier inside text, only after the scanned sample.
            "备注": [
                "无特殊" if i < 25_000 or i % 100 else "患者电话13812345678请回访"
                for i in range(rows)
            ],
            "diagnosis_name": [
                rng.choice(["高血压", "糖尿病", "冠心病", "脑梗死"]) for _ in range(rows)
            ],
        }
    )
    path = tmp_path / "planted.csv"
    frame.write_csv(path)
    return path


def test_every_kind_of_identifier_is_found_with_exact_counts(planted):
    ds = mv.load_dataset(planted)
    found = {(f.column, f.kind): f for f in scan_identifiers(ds)}
    expected = {
        ("证件", "resident_id"): 30_000,
        ("联系", "phone"): 30_000,
        ("email_addr", "email"): 30_000,
        ("card", "bank_card"): 30_000,
        ("host", "ip_address"): 30_000,
        ("patient_name", "name"): 30_000,
        ("contact_person", "english_name"): 30_000,
        ("病案号", "medical_record_number"): 30_000,
        ("备注", "free_text"): 30_000,
    }
    for key, count in expected.items():
        assert key in found, key
        assert found[key].count == count, key
    # No diagnosis name is taken for a personal name, though 高血压 starts with a surname.
    assert not any(c == "diagnosis_name" for c, _ in found)


def test_identifiers_inside_text_are_counted_beyond_the_sample(tmp_path):
    rows = 30_000
    frame = pl.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(rows)],
            "备注": [
                ("电话13812345678" if i % 1000 == 0 else "随访正常，无不适") for i in range(rows)
            ],
        }
    )
    frame.write_csv(tmp_path / "notes.csv")
    found = {
        (f.column, f.kind, f.in_text): f.count
        for f in scan_identifiers(mv.load_dataset(tmp_path / "notes.csv"))
    }
    assert found[("备注", "phone", True)] == 30


@pytest.mark.parametrize("path", [LIVER, CAROTID, COUNTY])
def test_samples_have_no_direct_identifiers(path):
    assert scan_identifiers(mv.load_dataset(path)) == ()


# --- verdicts, recommendations and --apply -------------------------------------------------


def test_planted_identifiers_make_the_data_identifiable(planted):
    a = privacy(mv.load_dataset(planted))
    assert a.verdict == "identifiable"
    assert a.reasons[0].key == "direct_identifiers" and a.reasons[0].blocking
    assert "resident_id" in a.reasons[0].text("en")


@pytest.mark.parametrize("path,spec", [(LIVER, LIVER_SPEC), (CAROTID, None), (COUNTY, COUNTY_SPEC)])
def test_samples_are_de_identified_and_the_plan_reaches_k(path, spec):
    a = privacy(mv.load_dataset(path, spec=spec))
    assert a.verdict == "de_identified"
    assert a.k_anonymity == 1
    assert a.plan is not None and a.plan.reached
    assert a.plan.k >= 5
    assert a.plan.suppressed <= 0.01 * a.plan.records
    assert any(r.key == "small_classes" and r.blocking for r in a.reasons)
    assert 0 < a.plan.information_loss <= 1


def test_carotid_needs_only_five_year_age_bands():
    a = privacy(mv.load_dataset(CAROTID))
    assert a.plan.keys == {"sex": "exact", "age": "band5"}
    assert [(s.column, s.level) for s in a.plan.steps] == [("age", "band5")]


def test_the_plan_is_the_cheapest_feasible_combination_on_a_small_lattice():
    ds = mv.load_dataset(LIVER, spec=LIVER_SPEC)
    a = privacy(ds)
    import itertools

    from medvalue.analyses._privacy import _ladders, release_frames
    from medvalue.read._records import records

    ladders = _ladders(ds, a.quasi_identifiers, 5)
    given, qi = next(iter(release_frames(ds, a.quasi_identifiers).values()))
    with records(ds, given) as release:
        assert release.local is not None
        frame = generalise.class_table(release.local, qi)
    names = list(ladders)
    feasible = []
    for combo in itertools.product(*[range(h.height + 1) for h in ladders.values()]):
        lv = dict(zip(names, combo, strict=True))
        s = generalise.evaluate(frame, ladders, lv, 5)
        if s.below <= 0.01 * s.records:
            feasible.append(generalise.loss(ladders, lv))
    assert a.plan.information_loss == pytest.approx(min(feasible))


@pytest.mark.parametrize("path,out_name", [(CAROTID, "carotid_k5.csv"), (COUNTY, "county_k5")])
def test_apply_writes_a_k_anonymous_copy_and_leaves_the_input(path, out_name, tmp_path, run):
    before = digest(path)
    out = tmp_path / out_name
    r = run("privacy", path, "--apply", "--k", "5", "--out", out)
    assert r.code == 0, r.err
    assert digest(path) == before
    after = privacy(mv.load_dataset(out))
    assert after.k_anonymity >= 5
    assert after.verdict == "anonymised"
    assert all(t.summary.k >= 5 for t in after.tables)


def test_apply_drops_identifier_columns_and_keeps_rows(planted, tmp_path):
    ds = mv.load_dataset(planted)
    applied = apply_generalisation(ds, tmp_path / "out.csv")
    out = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    assert out.height == 30_000
    for column in (
        "证件",
        "联系",
        "email_addr",
        "card",
        "host",
        "patient_name",
        "contact_person",
        "备注",
    ):
        assert column not in out.columns
    assert "病案号" in applied.dropped_columns
    assert privacy(mv.load_dataset(tmp_path / "out.csv")).k_anonymity >= 5


def test_apply_refuses_to_write_over_its_input(run, tmp_path):
    copy = tmp_path / "carotid.csv"
    copy.write_bytes(CAROTID.read_bytes())
    before = digest(copy)
    r = run("privacy", copy, "--apply", "--out", copy)
    assert r.code == 2 and "input" in r.err and r.err.count("\n") == 1
    assert digest(copy) == before


def test_parquet_in_parquet_out(tmp_path):
    pl.read_csv(CAROTID).write_parquet(tmp_path / "carotid.parquet")
    ds = mv.load_dataset(tmp_path / "carotid.parquet")
    applied = apply_generalisation(ds, tmp_path / "release")
    assert [p.name for p in applied.files] == ["carotid.parquet"]


# --- CLI ------------------------------------------------------------------------------------


def test_privacy_json_contract(run):
    r = run("privacy", COUNTY, "--json", "--sensitive", "encounters.department")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    for key in ("direct_identifiers", "quasi_identifiers", "k_anonymity", "records_below_k", "risk",
                "verdict", "reasons", "recommendations"):  # fmt: skip
        assert key in d
    assert set(d["records_below_k"]) == {"2", "5", "11"}
    assert {"prosecutor_max", "prosecutor_avg", "marketer"} <= set(d["risk"])
    assert d["verdict"] in ("anonymised", "de_identified", "identifiable")
    encounters = next(t for t in d["tables"] if t["table"] == "encounters")
    assert encounters["diversity"]["sensitive"] == "encounters.department"
    assert encounters["diversity"]["distance"] == "equal"


def test_privacy_with_named_quasi_identifiers_and_population(run, tmp_path):
    frame = pl.read_csv(CAROTID)
    pop = frame.group_by("sex").len().rename({"len": "count"}).with_columns(pl.col("count") * 100)
    pop.write_csv(tmp_path / "pop.csv")
    r = run("privacy", CAROTID, "--quasi", "sex", "--population", tmp_path / "pop.csv", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert [q["name"] for q in d["quasi_identifiers"]] == ["sex"]
    assert d["population_supplied"] is True
    smallest = pop["count"].min()
    assert d["risk"]["journalist_max"] == pytest.approx(1 / smallest, abs=1e-6)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--quasi", "sex,nope"], "nope"),
        (["--sensitive", "nope"], "nope"),
        (["--sensitive", "sex"], "quasi-identifier"),
        (["--k", "1"], "k must be"),
        (["--apply"], "--out"),
        (["--population", "missing.csv"], "missing.csv"),
    ],
)
def test_privacy_bad_options_are_one_line_errors(run, args, needle):
    r = run("privacy", CAROTID, *args)
    assert r.code == 2
    assert needle in r.err and r.err.count("\n") == 1


def test_privacy_text_output_in_both_languages(run):
    for lang, word in (("en", "Release verdict"), ("zh", "发布结论")):
        r = run("privacy", LIVER, "--lang", lang)
        assert r.code == 0 and word in r.out


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.integers(1, 30), min_size=1, max_size=12),
    st.integers(2, 12),
    st.booleans(),
    st.integers(1, 3),
)
def test_apply_reaches_k_on_random_class_structures(tmp_path, sizes, k, with_ids, visits):
    # People with one to three records each (or rows without a patient id); every row has
    # both quasi-identifiers, so a blank in the release is a suppression, and the count
    # reported must be the people (rows, without ids) blanked.
    rows = [
        (f"p{j}-{i}", (i % 2 and "M") or "F", 20 + i)
        for i, f in enumerate(sizes)
        for j in range(f)
        for _ in range(visits if with_ids else 1)
    ]
    frame = pl.DataFrame(rows, schema=["patient_id", "sex", "age"], orient="row")
    if not with_ids:
        frame = frame.drop("patient_id")
    name = f"{len(rows)}-{k}-{with_ids}-{visits}"
    path = tmp_path / f"r{name}.csv"
    frame.write_csv(path)
    out = tmp_path / f"out-{name}.csv"
    a = privacy(mv.load_dataset(path), k=k, max_suppression=0.5)
    if a.plan is None or not a.plan.reached:
        return
    applied = apply_generalisation(mv.load_dataset(path), out, assessment=a)
    released = pl.read_csv(out, infer_schema=False)
    blank = pl.col("sex").is_null() & pl.col("age").is_null()
    kept = released.filter(~blank)
    if kept.height:
        assert kept.group_by(["sex", "age"]).len()["len"].min() >= k
    blanked = released.filter(blank)
    expected = blanked["patient_id"].n_unique() if with_ids else blanked.height
    assert applied.suppressed_people == expected


def test_privacy_counted_in_parts_gives_the_same_assessment(monkeypatch):
    # Past CLASS_PART_ROWS records, classes and the search's (person, class) table are
    # counted in parts from a typed copy; with parts of 50 records the liver sample's whole
    # assessment (summary, risks, the generalisation plan) must not change.
    ds = mv.load_dataset(LIVER, spec=LIVER_SPEC)
    whole = privacy(ds)
    monkeypatch.setattr(anonymity, "CLASS_PART_ROWS", 50)
    assert anonymity.parts_for(ds.frame(ds.table_names[0])) > 10
    parted = privacy(ds)
    assert parted.to_dict() == whole.to_dict()
    assert whole.plan is not None and parted.plan == whole.plan


def test_apply_written_in_slices_equals_one_slice(monkeypatch, tmp_path):
    # The generalised columns are put beside the others a slice of rows at a time; slices
    # of a few hundred cells must write the same release as one slice (CSV and Parquet).
    parquet = tmp_path / "carotid.parquet"
    pl.read_csv(CAROTID).write_parquet(parquet)
    inputs = [mv.load_dataset(COUNTY, spec=COUNTY_SPEC), mv.load_dataset(parquet)]
    plans = [privacy(ds) for ds in inputs]
    whole = [
        apply_generalisation(ds, tmp_path / f"whole{i}", assessment=a)
        for i, (ds, a) in enumerate(zip(inputs, plans, strict=True))
    ]
    monkeypatch.setattr(privacy_module, "_SLICE_CELLS", 500)
    sliced = [
        apply_generalisation(ds, tmp_path / f"sliced{i}", assessment=a)
        for i, (ds, a) in enumerate(zip(inputs, plans, strict=True))
    ]
    for one, many in zip(whole, sliced, strict=True):
        assert one.suppressed_people == many.suppressed_people
        assert [p.name for p in one.files] == [p.name for p in many.files]
        for a_file, b_file in zip(one.files, many.files, strict=True):
            if a_file.suffix == ".csv":
                assert a_file.read_bytes() == b_file.read_bytes(), a_file.name
            else:
                assert pl.read_parquet(a_file).equals(pl.read_parquet(b_file)), a_file.name


@pytest.mark.parametrize("numeric", [True, False])
def test_diversity_measured_in_parts_equals_diversity_of_the_whole(monkeypatch, numeric):
    """Classes split into parts (as Spark partitions split them) and measured against the
    table's distribution: l, entropy, alpha and t-closeness as measured on all at once."""
    rng = np.random.default_rng(3)
    n = 400
    values = rng.integers(0, 12, n)
    frame = pl.DataFrame(
        {
            "a": rng.integers(0, 4, n),
            "b": rng.choice(["x", "y", "z"], n),
            "s": values.astype(float) if numeric else [f"v{v}" for v in values],
        }
    ).with_columns(pl.when(pl.int_range(pl.len()) % 17 == 0).then(None).otherwise("s").alias("s"))
    whole = anonymity.diversity(frame.lazy(), ["a", "b"], "s")
    monkeypatch.setattr(anonymity, "CLASS_PART_ROWS", 37)  # about 11 parts
    parts = anonymity.diversity(frame.lazy(), ["a", "b"], "s")
    assert (parts.l_distinct, parts.numeric) == (whole.l_distinct, whole.numeric)
    assert parts.alpha == pytest.approx(whole.alpha, rel=1e-12)
    assert parts.l_entropy == pytest.approx(whole.l_entropy, rel=1e-12)
    assert parts.t_closeness == pytest.approx(whole.t_closeness, rel=1e-12)
    assert whole.t_closeness > 0


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.lists(st.tuples(st.sampled_from("MF"), st.integers(20, 23)), min_size=1, max_size=3),
            st.booleans(),
        ),
        min_size=1,
        max_size=25,
    ),
    st.integers(2, 4),
)
def test_people_blanked_are_the_fixpoint_of_blanking_rounds(tmp_path, people, k):
    # A person's records may sit in several classes: blanking them in a small class
    # shrinks the others, which may then fall below k. Who is blanked must be what
    # repeating "blank everyone in a class of fewer than k people" until no one new is
    # found gives, computed here directly. Records without a patient id (a missing id
    # counts as one more person of its class) are blanked by their class when it ends small.
    rows = [
        (f"p{j}" if has_id else None, sex, age)
        for j, (visits, has_id) in enumerate(people)
        for sex, age in visits
    ]
    frame = pl.DataFrame(
        rows, schema={"patient_id": pl.String, "sex": pl.String, "age": pl.Int64}, orient="row"
    )
    path = tmp_path / f"visits-{len(rows)}-{k}-{hash(tuple(rows)) & 0xFFFFFF}.csv"
    frame.write_csv(path)
    ds = mv.load_dataset(path)
    a = privacy(ds, k=k, recommend=False)
    assert {q.column for q in a.quasi_identifiers} == {"sex", "age"}
    exact = {q.name: (lambda e: e) for q in a.quasi_identifiers}
    found = privacy_module._to_blank(ds, a.quasi_identifiers, exact, k)

    gone: set[str] = set()
    while True:
        live = frame.filter(~pl.col("patient_id").is_in(sorted(gone)).fill_null(False))
        small = live.filter(pl.col("patient_id").n_unique().over("sex", "age") < k)
        new = set(small["patient_id"].drop_nulls()) - gone
        if not new:
            break
        gone |= new
    assert sorted(found.persons.to_list()) == sorted(gone)
    nameless = small.filter(pl.col("patient_id").is_null())
    assert found.records == nameless.height
    (table,) = ds.table_names
    assert found.classes[table].len() == nameless.select("sex", "age").n_unique()
    # As written: exactly the records of the people blanked and those without an id in a
    # class that ended small lose their quasi-identifiers.
    rewrite = privacy_module._rewritten(
        ds, table, list(frame.columns), a.quasi_identifiers, exact, found
    )
    released = rewrite(ds.raw_frame(table)).collect()
    ends_small = frame.join(nameless.select("sex", "age").unique(), on=["sex", "age"], how="semi")
    expected = frame.with_row_index().filter(
        pl.col("patient_id").is_in(sorted(gone)).fill_null(False)
        | (
            pl.col("patient_id").is_null()
            & pl.struct("sex", "age").is_in(
                ends_small.select(pl.struct("sex", "age")).to_series().implode()
            )
        )
    )["index"]
    hidden = released.with_row_index().filter(pl.col("sex").is_null())["index"]
    assert hidden.to_list() == expected.to_list()
