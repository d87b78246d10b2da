"""Price band: the registry, the correction factors, the hedonic regression's calibration on
the synthetic registry, cost and income arithmetic, the band, the CLI and bad inputs."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest

import medvalue as mv
from medvalue.core._config import SAMPLE_DIR
from medvalue.datasets import SYNTHETIC_PRICE_MODEL, comparables_synthetic
from medvalue.value import _comparables as reg
from medvalue.value import _pricing as pricing
from tests.conftest import CAROTID, LIVER, LIVER_SPEC

AS_OF = "2026-06-01"

#: The tutorial registry drawn from a known model (a sample file, not runtime data).
SYNTHETIC_REGISTRY = SAMPLE_DIR / "comparables_synthetic.csv"


@pytest.fixture(scope="module")
def public():
    return reg.convert(reg.load_registry(), reg.load_rates(), "CNY")


@pytest.fixture(scope="module")
def synthetic():
    return reg.convert(reg.load_registry(SYNTHETIC_REGISTRY), reg.load_rates(), "CNY")


def _subject(**kw) -> pricing.Subject:
    base = {
        "name": "s",
        "cases": 1000,
        "quality": 0.9,
        "readiness": None,
        "density": 1.0,
        "specialty": "hepatology",
    }
    return pricing.Subject(**{**base, **kw})


# --- the registry ---------------------------------------------------------------------------


def test_every_public_row_has_a_source_and_the_schema(public):
    assert public.height >= 25
    assert public["source_url"].str.starts_with("http").all()
    assert not public["synthetic"].any()
    c1 = public.filter(pl.col("id") == "CN01").row(0, named=True)
    assert (c1["price"], c1["currency"], c1["cases"]) == (30000.0, "CNY", 1000)


def test_the_synthetic_registry_is_labelled_and_regenerates():
    frame = reg.load_registry(SYNTHETIC_REGISTRY)
    assert "synthetic" in SYNTHETIC_REGISTRY.name and frame["synthetic"].all()
    assert (frame["reliability"] == "synthetic").all()
    assert comparables_synthetic().height == frame.height


def test_exchange_rates_are_the_latest_on_or_before_the_trade():
    rates = reg.load_rates()
    frame = reg.convert(reg.load_registry(), rates, "CNY")
    i7 = frame.filter(pl.col("id") == "X09").row(0, named=True)  # 2015-01 trade, USD
    assert i7["rate_used"] == 6.23 and i7["price_converted"] == pytest.approx(10_000_000 * 6.23)
    f2 = frame.filter(pl.col("id") == "UK05").row(0, named=True)  # 2010-01 trade, GBP
    assert f2["rate_used"] == 10.55
    back = (
        reg.convert(reg.load_registry(), rates, "USD")
        .filter(pl.col("id") == "CN01")
        .row(0, named=True)
    )
    assert back["price_converted"] == pytest.approx(30000 / 7.10)  # inverse of the 2026 USD rate


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda f: f.drop("price"), "missing column(s) price"),
        (lambda f: f.with_columns(pl.lit("gift").alias("deal_type")), "deal_type"),
        (lambda f: f.with_columns(pl.lit("April 2026").alias("date")), "YYYY-MM"),
        (lambda f: f.with_columns(pl.lit("CN01").alias("id")), "appears twice"),
        (lambda f: f.with_columns(pl.lit("").alias("source_url")), "source"),
        (lambda f: f.with_columns(pl.lit("thirty").alias("price")), "not a number"),
    ],
)
def test_bad_registries_are_one_line_errors(tmp_path, run, edit, needle):
    frame = pl.read_csv(reg.PUBLIC_REGISTRY, infer_schema=False)
    edit(frame).write_csv(tmp_path / "bad.csv")
    r = run("price", LIVER, "--comparables", tmp_path / "bad.csv")
    assert r.code == 2 and needle in r.err and "bad.csv" in r.err and r.err.count("\n") == 1


# --- the market approach --------------------------------------------------------------------


def test_adjusting_a_comparable_to_itself_returns_its_price(public):
    row = public.filter(pl.col("id") == "CN01").row(0, named=True)
    market = pricing.default_inputs()["market"]
    twin = _subject(
        cases=row["cases"],
        quality=market["comparable_quality"],
        density=market["comparable_density"],
    )
    f = pricing.factors(twin, row, market, row["date"])
    assert all(v == pytest.approx(1.0) for v in f.values())
    est, _ = pricing.market_approach(
        twin, public.filter(pl.col("id") == "CN01"), market, row["date"]
    )
    assert est.mid == pytest.approx(30000)


def test_price_rises_with_cases_and_quality(public):
    market = pricing.default_inputs()["market"]
    day = dt.date(2026, 6, 1)

    def mid(**kw):
        return pricing.market_approach(_subject(**kw), public, market, day)[0].mid

    assert mid(cases=500) < mid(cases=1000) < mid(cases=5000)
    assert mid(quality=0.6) < mid(quality=0.8) < mid(quality=0.95)
    assert mid(density=0.5) < mid(density=1.0)
    assert mid(exclusive=True) > mid(exclusive=False)


def test_dissimilar_trades_are_shown_but_not_used(public):
    _, adjusted = pricing.market_approach(
        _subject(), public, pricing.default_inputs()["market"], dt.date(2026, 6, 1)
    )
    by = {a.id: a for a in adjusted}
    assert by["CN01"].used
    assert (
        not by["X01"].used and by["X01"].reason == "excl_layer_acquisition"
    )  # Roche buying Flatiron
    assert by["CN02"].reason == "excl_no_size" and by["CN03"].reason == "excl_no_price"


# --- the hedonic regression -----------------------------------------------------------------


def test_hedonic_recovers_the_synthetic_model(synthetic):
    est = pricing.hedonic_approach(_subject(country="CN"), synthetic)
    assert est.available
    coef = est.detail["coefficients"]
    m = SYNTHETIC_PRICE_MODEL
    assert coef["log_cases"] == pytest.approx(m["log_cases"], abs=0.1)
    assert coef["exclusive"] == pytest.approx(m["exclusive"], abs=0.4)
    assert est.detail["residual_sd"] == pytest.approx(m["sigma"], abs=0.12)


def test_prediction_interval_covers_about_80_percent_leaving_one_out(synthetic):
    hits = 0
    for i in range(synthetic.height):
        target = synthetic.row(i, named=True)
        low, high = pricing.hedonic_interval(synthetic.filter(pl.int_range(pl.len()) != i), target)
        hits += low <= target["price_converted"] <= high
    coverage = hits / synthetic.height
    assert 0.7 <= coverage <= 0.9, coverage


def test_hedonic_is_not_fitted_on_too_few_rows(public):
    est = pricing.hedonic_approach(_subject(), public)
    assert not est.available and est.detail["needed"] == 18
    # Only commercial trades with a date, a price and a size count: never fees or takeovers.
    commercial = public.filter(
        (pl.col("layer") == "commercial") & pl.col("price").is_not_null()
        & pl.col("cases").is_not_null() & pl.col("date").is_not_null()
    )  # fmt: skip
    assert est.detail["rows"] == commercial.height
    assert "commercial trades" in est.reason_text("en")


def test_leave_one_out_error_equals_refitting_without_each_trade(synthetic):
    est = pricing.hedonic_approach(_subject(country="CN"), synthetic)
    rows = synthetic.filter(pl.col("price_converted").is_not_null() & pl.col("cases").is_not_null())
    x = pricing._design(rows)
    keep = x.std(axis=0) > 0
    keep[0] = True  # the intercept, as the fit keeps it
    x = x[:, keep]
    y = np.log(rows["price_converted"].to_numpy())
    errors = []
    for i in range(len(y)):  # an independent computation: refit n times with numpy
        keep = np.arange(len(y)) != i
        beta, *_ = np.linalg.lstsq(x[keep], y[keep], rcond=None)
        errors.append(abs(y[i] - x[i] @ beta))
    assert est.detail["loo_median_factor"] == pytest.approx(np.exp(np.median(errors)), abs=1e-3)
    assert est.detail["loo_rmse_log"] == pytest.approx(
        np.sqrt(np.mean(np.square(errors))), abs=1e-4
    )


# --- price layers ---------------------------------------------------------------------------


def test_every_row_is_in_one_layer_and_only_commercial_trades_are_used(public):
    assert set(public["layer"]) == set(reg.LAYERS)
    # The notes on the reference search: public fees, commercial licences and takeovers
    # of data businesses are different markets.
    layer = dict(zip(public["id"], public["layer"], strict=True))
    assert (
        layer["UK01"] == "public_fee"
        and layer["X01"] == "acquisition"
        and layer["CN01"] == "commercial"
    )
    _, adjusted = pricing.market_approach(
        _subject(cases=1_000_000, country="US", specialty="oncology"), public,
        pricing.default_inputs()["market"], dt.date(2026, 6, 1),
    )  # fmt: skip
    for a in adjusted:
        if a.about["layer"] != "commercial":
            assert not a.used and a.reason == f"excl_layer_{a.about['layer']}"


def test_a_trade_without_a_size_is_an_anchor_for_products_of_its_kind(run):
    import json as _json

    out = _json.loads(
        run("price", SAMPLE_DIR / "county_hospital", "--as-of", "2026-06-30", "--json").out
    )
    minqing = next(c for c in out["comparables_considered"] if c["id"] == "CN02")
    assert minqing["excluded_because"] == "anchor" and minqing["seller_zh"] == "闽清县总医院"
    assert any("Minqing County General Hospital" in w and "450,000" in w for w in out["warnings"])
    # The liver dataset (a tertiary hepatology set) is not of Minqing's kind.
    liver = _json.loads(run("price", LIVER, "--as-of", "2026-06-30", "--json").out)
    assert all(c["excluded_because"] != "anchor" for c in liver["comparables_considered"])
    assert any("public cost-recovery fees" in w for w in liver["warnings"])


# --- cost and income ------------------------------------------------------------------------


def test_cost_approach_arithmetic():
    cost = pricing.default_inputs()["cost"]
    est = pricing.cost_approach(_subject(cases=1000), 20_000, cost)
    day = cost["staff_day_rate"]
    reproduction = (
        cost["extraction_days"] * day + cost["cleaning_days_per_10k_rows"] * 2 * day
        + cost["annotation_per_record"] * 1000 + cost["deidentification_review"]
        + cost["storage_platform_per_year"] * cost["years_of_storage"]
    )  # fmt: skip
    expected = (
        reproduction
        * (1 - cost["obsolescence"])
        * (1 + cost["margin"])
        / (1 - cost["exchange_seller_fee"])
    )
    assert est.mid == pytest.approx(expected)


def test_income_approach_discounts_licence_fees():
    income = {
        "fee_per_buyer": 100_000,
        "buyers_per_year": 2,
        "horizon_years": 3,
        "discount_rate": 0.1,
        "exclusive_multiplier": 2.5,
    }
    annuity = 1 / 1.1 + 1 / 1.1**2 + 1 / 1.1**3
    assert pricing.income_approach(_subject(), income).mid == pytest.approx(200_000 * annuity)
    assert pricing.income_approach(_subject(exclusive=True), income).mid == pytest.approx(
        250_000 * annuity
    )


@pytest.mark.parametrize(
    ("age", "years"), [(None, 3), (0.5, 3), (1.99, 3), (2.0, 2), (3.9, 2), (4.0, 1), (12.0, 1)]
)
def test_the_licence_horizon_shortens_as_the_data_ages(age, years):
    assert pricing.horizon(_subject(data_age_years=age), {"horizon_years": 3}) == years


def test_buyers_are_derived_from_what_the_dataset_can_be_used_for():
    class Ready:
        score = 70

    class Cov:
        patients = 1000
        top_conditions = (type("C", (), {"patients": 300})(),)

    small, large = _subject(cases=50, specialty=""), _subject(cases=5000, specialty="")
    assert pricing.buyer_groups(large, None, None, 500) == ("research",)
    assert pricing.buyer_groups(large, Cov(), Ready(), 500) == ("research", "ai", "pharma_device")
    # Below Riley's minimum for a simple model, no model developer buys it to train.
    assert "ai" not in pricing.buyer_groups(small, Cov(), Ready(), 500)
    income = {"buyers_per_group": 1, "buyers_per_year": None}
    assert pricing.buyers_per_year(_subject(buyer_groups=("research", "ai")), income) == 2
    assert pricing.buyers_per_year(_subject(), {**income, "buyers_per_year": 5}) == 5  # given


def test_income_differs_between_datasets_and_stays_near_the_market(run):
    mids = {}
    for name in ("liver_transplant.csv", "carotid_stenting.csv", "county_hospital", "omop_cdm"):
        out = json.loads(run("price", SAMPLE_DIR / name, "--as-of", AS_OF, "--json").out)
        mids[name] = out["methods"]["income"]["mid"]
        market = out["methods"]["market"]["mid"]
        # The income approach no longer dwarfs the evidence (it was 3-5x the band's top).
        assert market is None or mids[name] < 4 * market
        assert out["default_share"] == pytest.approx(
            out["weights"]["cost"] + out["weights"]["income"]
        )
        assert out["warnings"][0].startswith(f"{out['default_share']:.0%} of the band")
    assert len(set(mids.values())) == len(mids)


def test_inputs_given_by_the_hospital_are_not_called_defaults(tmp_path, run):
    costs = tmp_path / "costs.yaml"
    costs.write_text(
        "cost: {staff_day_rate: 1800}\nincome: {fee_per_buyer: 15000}\n", encoding="utf-8"
    )
    out = json.loads(run("price", LIVER, "--as-of", AS_OF, "--costs", costs, "--json").out)
    assert out["default_share"] == 0
    assert (
        "fee_per_buyer_scale" not in out["default_inputs"]
        and "cost_scale" not in out["default_inputs"]
    )
    assert "annual_price_index" in out["default_inputs"]


# --- the band -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def liver_price():
    return mv.price(mv.load_dataset(LIVER, spec=LIVER_SPEC), as_of=AS_OF)


def test_liver_band_is_ordered_and_honest(liver_price):
    low, mid, high = liver_price.band
    p10, p50, p90 = liver_price.distribution
    assert low < p10 <= p50 <= p90 < high  # widened: one priced, sized comparable
    assert mid == p50
    # What the band rests on comes first: the defaults, then the few comparables.
    assert [w[0] for w in liver_price.warnings[:2]] == ["warn_defaults", "warn_few"]
    assert "order of magnitude" in liver_price.paragraph("en")
    assert [c.id for c in liver_price.comparables if c.used] == ["CN01"]
    assert sum(liver_price.weights.values()) == pytest.approx(1.0)


def test_band_widens_as_comparables_are_removed():
    ds = mv.load_dataset(CAROTID)
    full = reg.load_registry(SYNTHETIC_REGISTRY)
    widths = []
    for n in (80, 20, 2):
        v = mv.price(ds, comparables=full.head(n), as_of=AS_OF)
        widths.append(v.band[2] / v.band[0])
    assert widths[0] < widths[1] < widths[2], widths


def test_no_usable_comparable_gives_cost_and_income_with_a_warning(tmp_path, run):
    frame = pl.read_csv(reg.PUBLIC_REGISTRY, infer_schema=False).with_columns(
        pl.lit("").alias("price")
    )
    frame.write_csv(tmp_path / "unpriced.csv")
    r = run("price", CAROTID, "--comparables", tmp_path / "unpriced.csv", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert not d["methods"]["market"]["available"] and d["comparables_used"] == []
    assert d["weights"]["cost"] > 0 and d["weights"]["income"] > 0
    assert any("cost and income" in w for w in d["warnings"])


def test_same_seed_same_band_and_seed_changes_draws():
    ds = mv.load_dataset(CAROTID)
    a = mv.price(ds, as_of=AS_OF, seed=3).to_dict()
    b = mv.price(ds, as_of=AS_OF, seed=3).to_dict()
    c = mv.price(ds, as_of=AS_OF, seed=4).to_dict()
    assert a == b and a["distribution"] != c["distribution"]


def test_tornado_lists_every_uncertain_input(liver_price):
    names = [f for f, _, _ in liver_price.tornado]
    assert set(names) == set(pricing.default_inputs()["uncertainty"])
    spans = [abs(b - a) for _, a, b in liver_price.tornado]
    assert spans == sorted(spans, reverse=True)


# --- CLI and inputs -------------------------------------------------------------------------


def test_price_json_contract(run):
    r = run("price", LIVER, "--spec", LIVER_SPEC, "--as-of", AS_OF, "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["currency"] == "CNY"
    assert set(d["band"]) == {"low", "mid", "high"} and set(d["distribution"]) == {
        "p10",
        "p50",
        "p90",
    }
    assert set(d["methods"]) == {"market", "hedonic", "cost", "income"}
    assert d["comparables_used"][0]["id"] == "CN01" and "factors" in d["comparables_used"][0]
    assert isinstance(d["warnings"], list)


def test_costs_file_overrides_defaults_and_bad_keys_fail(tmp_path, run):
    (tmp_path / "costs.yaml").write_text("income:\n  fee_per_buyer: 10000\n", encoding="utf-8")
    r = run("price", CAROTID, "--costs", tmp_path / "costs.yaml", "--json", "--as-of", AS_OF)
    assert r.code == 0, r.err
    assert json.loads(r.out)["methods"]["income"]["fee_per_buyer"] == 10000
    (tmp_path / "bad.yaml").write_text("income:\n  fees: 1\n", encoding="utf-8")
    r = run("price", CAROTID, "--costs", tmp_path / "bad.yaml")
    assert r.code == 2 and "income.fees" in r.err and r.err.count("\n") == 1


def test_currency_conversion_of_the_band(run):
    usd = json.loads(run("price", CAROTID, "--currency", "USD", "--json", "--as-of", AS_OF).out)
    cny = json.loads(run("price", CAROTID, "--currency", "CNY", "--json", "--as-of", AS_OF).out)
    c1_usd = usd["comparables_used"][0]["price"]
    assert c1_usd == pytest.approx(30000 / 7.10, rel=1e-6)
    # Every approach is in the band's currency: the cost inputs (CNY) are converted too.
    assert usd["methods"]["cost"]["mid"] == pytest.approx(
        cny["methods"]["cost"]["mid"] / 7.10, rel=1e-6
    )
    assert usd["band"]["mid"] == pytest.approx(cny["band"]["mid"] / 7.10, rel=0.05)
    assert math.isfinite(usd["band"]["mid"]) and np.isfinite(cny["band"]["mid"])


def test_a_dataset_that_is_not_anonymised_carries_a_warning():
    ds = mv.load_dataset(CAROTID)
    v = mv.price(ds, privacy=mv.privacy(ds), as_of=AS_OF)
    assert ("warn_privacy", {"verdict": "de_identified"}) in v.warnings
    assert "De-identified only" in v.paragraph("en") and "仅去标识化" in v.paragraph("zh")


def test_default_inputs_are_tagged_next_to_the_numbers_they_move(tmp_path):
    from medvalue.present import _plots as plots
    from medvalue.present import views

    ds = mv.load_dataset(LIVER, spec=LIVER_SPEC)
    costs = tmp_path / "costs.yaml"
    costs.write_text("income: {fee_per_buyer: 15000}\n", encoding="utf-8")
    for given, tagged in ((None, {"cost", "income"}), (costs, {"cost"})):
        v = mv.price(ds, as_of=AS_OF, costs=given)
        page = str(views.pricing_section(v, "en"))
        for key, label in (("cost", "cost"), ("income", "income")):
            assert (f"<td>{label} (default)</td>" in page) == (key in tagged), (given, key)
        names = plots.tornado(v, "en").data[0].y
        assert any("(default)" in n for n in names)  # the market's parameters stay defaults
        assert ("licence fee per buyer (default)" in names) == (given is None)


@pytest.mark.parametrize("which", ["liver", "county", "omop"])
def test_priced_cases_are_the_distinct_patients_with_or_without_a_profile(which):
    # The price takes the patients the profile counted; without a profile it counts them
    # itself. Both must be the dataset's distinct patients (DuckDB over the id column(s)).
    import duckdb

    from tests.conftest import COUNTY, COUNTY_SPEC

    paths = {"liver": (LIVER, LIVER_SPEC), "county": (COUNTY, COUNTY_SPEC),
             "omop": (SAMPLE_DIR / "omop_cdm", None)}  # fmt: skip
    path, spec = paths[which]
    ds = mv.load_dataset(path, spec=spec) if spec else mv.load_dataset(path)
    rows = sum(ds.raw_frame(t).select(pl.len()).collect().item() for t in ds.table_names)
    profiled = mv.profile(ds, as_of="2025-01-01")
    with_profile = pricing.subject_of(ds, rows, profile=profiled)
    alone = pricing.subject_of(ds, rows)
    hub = ds.hub("patient_id")
    held = [hub] if hub else ds.spec.columns_with_role("patient_id")
    ids = pl.concat(
        [ds.frame(t).select(pl.col(c).cast(pl.String).alias("id")).collect() for t, c in held]
    )
    con = duckdb.connect()
    con.register("ids", ids.to_arrow())
    expected = con.sql("SELECT count(DISTINCT id) FROM ids").fetchall()[0][0]
    assert with_profile.cases == alone.cases == expected > 0
