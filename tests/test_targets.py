"""Regional planner: forecasts that are calibrated, exact at the year's end and rising with
pace; the funnel and breakdowns; every planted registry problem; the CLI and the report."""

from __future__ import annotations

import datetime as dt
import importlib
import json

import numpy as np
import polars as pl
import pytest

from medvalue.core._config import SAMPLE_DIR
from tests.conftest import open_in_browser

# The module, not the function of the same name that the package exports.
tg = importlib.import_module("medvalue.analyses._targets")
REGISTRY = SAMPLE_DIR / "regional_registry.csv"
TARGETS = SAMPLE_DIR / "targets.yaml"


def _registry(dates: list[dt.date], city: str = "测试市", event: str = "traded") -> pl.DataFrame:
    n = len(dates)
    base = {c: [""] * n for c in tg.REGISTRY_COLUMNS if c not in ("date", "price", "event")}
    return pl.DataFrame(base).with_columns(
        pl.Series("product_id", [f"P{i}" for i in range(n)]), pl.Series("city", [city] * n),
        pl.Series("event", [event] * n), pl.Series("date", dates, dtype=pl.Date),
        pl.Series("price", [10_000.0] * n),
    )  # fmt: skip


def _targets(transactions: float, year: int = 2025) -> pl.DataFrame:
    return pl.DataFrame(
        {"region": ["测试市"], "year": [year], "products": [None], "transactions": [transactions], "value": [None]},
        schema={"region": pl.String, "year": pl.Int64, "products": pl.Float64, "transactions": pl.Float64, "value": pl.Float64},
    )  # fmt: skip


def test_the_80_percent_interval_covers_about_80_percent_of_simulated_years():
    hits = 0
    runs = 300
    for seed in range(runs):
        final, (low, _, high), _ = tg.simulate_year(30, 30, 0.5, seed)
        hits += low <= final <= high
    assert 0.72 <= hits / runs <= 0.92, hits / runs


def test_at_the_years_end_the_forecast_is_the_actual():
    dates = [dt.date(2025, m, 15) for m in range(1, 13)]
    for target, met in ((10, 1.0), (12, 1.0), (13, 0.0)):
        p = tg.targets(_registry(dates), _targets(target), as_of="2025-12-31").regions[0]
        assert p.forecast == (12.0, 12.0, 12.0) and p.p_meet == met


def test_p_meet_rises_with_pace():
    chances = []
    for per_month in (1, 2, 3, 4):
        dates = [dt.date(2025, m, d) for m in range(1, 7) for d in range(1, 1 + per_month)]
        chances.append(
            tg.targets(_registry(dates), _targets(30), as_of="2025-06-30").regions[0].p_meet
        )
    assert chances == sorted(chances) and chances[0] < 0.1 < 0.9 < chances[-1]


def test_the_sample_registry(tmp_path):
    t = tg.targets(REGISTRY, TARGETS, as_of="2026-10-31")
    by = {(p.region, p.metric): p for p in t.regions}
    raw = pl.read_csv(REGISTRY, infer_schema=False).with_columns(pl.col("date").str.to_date())
    wz = raw.filter(
        (pl.col("city") == "温州市")
        & (pl.col("date").dt.year() == 2026)
        & (pl.col("date") <= dt.date(2026, 10, 31))
    )
    assert by[("温州市", "transactions")].actual == wz.filter(pl.col("event") == "traded").height
    assert (
        by[("温州市", "products")].actual
        == wz.filter(pl.col("event") == "listed")["product_id"].n_unique()
    )
    assert by[("浙江省", "products")].level == "province"
    province = sum(by[(c, "products")].actual for c in ("温州市", "杭州市", "宁波市"))
    assert by[("浙江省", "products")].actual == province
    assert list(t.funnel) == ["planned", "registered", "listed", "traded"]
    assert t.funnel["planned"] >= t.funnel["registered"] >= t.funnel["listed"] >= t.funnel["traded"]
    assert {p.region for p in t.laggards} >= {"台州市"}
    for p in t.regions:
        low, mid, high = p.forecast
        assert p.actual <= low <= mid <= high or p.metric == "value"


def test_every_planted_problem_is_a_finding():
    t = tg.targets(REGISTRY, TARGETS, as_of="2026-10-31")
    found = {f.key: f.example for f in t.findings}
    assert found["unknown_event"]
    assert found["conflicting_product"] == "ZJ9002"
    assert found["dates_out_of_order"] == "ZJ9001"
    assert found["trade_before_listing"] == "ZJ9003"
    assert found["target_without_products"] == "台州市"


def test_targets_json_contract(run):
    r = run("targets", REGISTRY, "--targets", TARGETS, "--as-of", "2026-10-31", "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    assert d["as_of"] == "2026-10-31"
    row = d["regions"][0]
    for key in ("region", "year", "metric", "target", "actual", "expected_to_date"):
        assert key in row
    assert set(row["forecast"]) == {"low", "mid", "high"} and 0 <= row["p_meet"] <= 1
    assert d["findings"] and {"finding", "count", "text"} <= set(d["findings"][0])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["targets", "missing.csv", "--targets", TARGETS], "missing.csv"),
        (["targets", REGISTRY, "--targets", "none.yaml"], "none.yaml"),
        (["targets", REGISTRY, "--targets", TARGETS, "--as-of", "soon"], "YYYY-MM-DD"),
    ],
)
def test_bad_inputs_are_one_line_errors(run, args, needle):
    r = run(*args)
    assert r.code == 2 and needle in r.err and r.err.count("\n") == 1


def test_a_registry_without_the_event_column(tmp_path, run):
    pl.read_csv(REGISTRY, infer_schema=False).drop("event").write_csv(tmp_path / "r.csv")
    r = run("targets", tmp_path / "r.csv", "--targets", TARGETS)
    assert r.code == 2 and "event" in r.err and r.err.count("\n") == 1


@pytest.mark.browser
def test_the_planners_report_renders_offline(tmp_path, run):
    r = run(
        "report",
        REGISTRY,
        "--targets",
        TARGETS,
        "--as-of",
        "2026-10-31",
        "--out",
        tmp_path,
        "--lang",
        "zh",
    )
    assert r.code == 0, r.err
    html = tmp_path / "regional_registry_targets.html"
    saved = json.loads((tmp_path / "regional_registry_targets.json").read_text(encoding="utf-8"))
    cli = json.loads(
        run(
            "targets",
            REGISTRY,
            "--targets",
            TARGETS,
            "--as-of",
            "2026-10-31",
            "--json",
            "--lang",
            "zh",
        ).out
    )
    assert saved["targets"] == cli
    seen = open_in_browser(html)
    assert seen["external"] == [] and seen["errors"] == []
    # ranking, the burn-ups as one grid of small multiples, funnel, monthly transactions
    assert seen["charts"] == seen["chart_divs"] >= 4 and seen["rendered"] >= seen["charts"]
    assert 'id="mv-targets-burnup"' in html.read_text(encoding="utf-8")
    assert "区域数据产品目标进度" in seen["text"]
    # The title names the registry's regions and year, not its file.
    assert (
        "温州市" in seen["text"]
        and "2026 年" in seen["text"]
        and "regional_registry.csv" not in seen["text"]
    )
    assert np.isfinite(saved["targets"]["regions"][0]["p_meet"])


def test_months_without_trades_are_zero_and_laggards_are_behind(run):

    out = json.loads(
        run("targets", REGISTRY, "--targets", TARGETS, "--as-of", "2026-10-31", "--json").out
    )
    months = [m["month"] for m in out["monthly"]]
    # Every month from the first trade to the progress date, in order, none skipped.
    assert months == sorted(months) and months[-1] == "2026-10"
    first = dt.date.fromisoformat(months[0] + "-01")
    assert len(months) == (2026 - first.year) * 12 + 10 - first.month + 1
    behind = {f"{p['region']}/{p['metric']}": p for p in out["regions"]}
    for key in out["laggards"]:
        assert (
            behind[key]["p_meet"] < 0.5 and behind[key]["actual"] < behind[key]["expected_to_date"]
        )
