"""Leak test: plant identifiers and rare combinations in copies of every sample, run every
CLI command and render every notebook, then scan every output file and every log line.

Nothing planted may appear anywhere: no name, resident ID number or phone number, and no
value held by a single person (a rare occupation, township or ethnicity). The test fails
when a command or notebook is added without being exercised here.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from medvalue.cli import cli
from medvalue.core._config import NOTEBOOK_DIR, SAMPLE_DIR
from medvalue.core._patterns import resident_id_check_char
from medvalue.present._report import (
    POOL_NOTEBOOK,
    TARGETS_NOTEBOOK,
    render_portfolio,
    render_targets,
    render_valuation,
)
from tests.conftest import CAROTID, CAROTID_SPEC, COUNTY, COUNTY_SPEC, LIVER, LIVER_SPEC

NAMES = ("王大锤", "李逍遥", "张无忌", "赵灵儿", "林月如", "周芷若")
RARE = ("宇航员", "雪山乡", "珞巴族")


def _ids(n: int) -> list[str]:
    out = []
    for i in range(n):
        first17 = f"330302{1940 + i % 60}{1 + i % 12:02d}{1 + i % 28:02d}{(i * 7) % 1000:03d}"
        out.append(first17 + resident_id_check_char(first17))
    return out


def _phones(n: int) -> list[str]:
    return [f"1{3 + i % 7}{(i * 7919) % 10**9:09d}" for i in range(n)]


def _personal(n: int) -> dict[str, list[str]]:
    return {
        "姓名": [NAMES[i % len(NAMES)] for i in range(n)],
        "身份证号": _ids(n),
        "联系电话": _phones(n),
    }


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[str, tuple[Path, Path, list[str]]]:
    """(data, spec, planted identifiers) for each sample, with identifiers and rare values."""
    root = tmp_path_factory.mktemp("planted")
    out: dict[str, tuple[Path, Path, list[str]]] = {}

    liver = pl.read_csv(LIVER, infer_schema=False)
    n = liver.height
    personal = _personal(n)
    occupation = ["工人" if i % 3 else "教师" for i in range(n)]
    occupation[17] = RARE[0]
    notes = [
        f"家属{NAMES[i % 6]}电话{_phones(n)[i]}" if i % 40 == 0 else "随访正常" for i in range(n)
    ]
    liver = liver.with_columns(
        *[pl.Series(k, v) for k, v in personal.items()],
        pl.Series("职业", occupation),
        pl.Series("备注", notes),
    )
    liver.write_csv(root / "liver_transplant.csv")
    shutil.copy(LIVER_SPEC, root / "liver_transplant.spec.yaml")
    out["liver_transplant"] = (root / "liver_transplant.csv", root / "liver_transplant.spec.yaml",
                               [*NAMES, *personal["身份证号"], *personal["联系电话"]])  # fmt: skip

    carotid = pl.read_csv(CAROTID, infer_schema=False)
    personal = _personal(carotid.height)
    personal["身份证号"] = _ids(carotid.height + 5000)[5000:]
    carotid = carotid.with_columns(*[pl.Series(k, v) for k, v in personal.items()])
    carotid.write_csv(root / "carotid_stenting.csv")
    shutil.copy(CAROTID_SPEC, root / "carotid_stenting.spec.yaml")
    out["carotid_stenting"] = (root / "carotid_stenting.csv", root / "carotid_stenting.spec.yaml",
                               [*personal["身份证号"], *personal["联系电话"]])  # fmt: skip

    county = root / "county_hospital"
    shutil.copytree(COUNTY, county)
    patients = pl.read_csv(county / "patients.csv", infer_schema=False)
    personal = _personal(patients.height)
    personal["联系电话"] = _phones(patients.height + 9000)[9000:]
    township = patients["township"].to_list()
    township[5] = RARE[1]
    ethnicity = patients["ethnicity"].to_list()
    ethnicity[11] = RARE[2]
    patients = patients.with_columns(
        *[pl.Series(k, v) for k, v in personal.items()],
        pl.Series("township", township),
        pl.Series("ethnicity", ethnicity),
    )
    patients.write_csv(county / "patients.csv")
    shutil.copy(COUNTY_SPEC, root / "county_hospital.spec.yaml")
    out["county_hospital"] = (county, root / "county_hospital.spec.yaml",
                              [*personal["身份证号"], *personal["联系电话"]])  # fmt: skip
    return out


#: How each command is exercised on every planted dataset ({data}, {spec}, {out} filled in).
COMMANDS: dict[str, list[list[str]]] = {
    "inspect": [["{data}"], ["{data}", "--json"]],
    "spec": [["{data}"], ["{data}", "-o", "{out}/spec.yaml"]],
    "profile": [["{data}", "--spec", "{spec}"], ["{data}", "--spec", "{spec}", "--json", "--lang", "zh"]],
    "coverage": [["{data}", "--spec", "{spec}"], ["{data}", "--spec", "{spec}", "--json"]],
    "privacy": [
        ["{data}", "--spec", "{spec}", "--lang", "zh"],
        ["{data}", "--spec", "{spec}", "--json"],
        ["{data}", "--spec", "{spec}", "--apply", "--out", "{out}/released"],
    ],
    "readiness": [["{data}", "--spec", "{spec}"], ["{data}", "--spec", "{spec}", "--json", "--lang", "zh"]],
    "refine": [["{data}", "--spec", "{spec}", "--out", "{out}/refined", "--as-of", "2026-06-01", "--json"]],
    "price": [["{data}", "--spec", "{spec}", "--json"], ["{data}", "--spec", "{spec}", "--lang", "zh"]],
    # The planner's command reads a product registry (no people in it); run on the sample.
    "targets": [[str(SAMPLE_DIR / "regional_registry.csv"), "--targets", str(SAMPLE_DIR / "targets.yaml"), "--json"]],
    "samplesize": [["--outcome", "binary", "--parameters", "10", "--prevalence", "0.2", "--cstatistic", "0.8"]],
    # Two sites holding the same people: linked by the planted resident IDs, never shown.
    "pool": [
        ["a={data}", "b={data}", "--json", "--as-of", "2026-06-01"],
        ["a={data}", "b={data}", "--lang", "zh", "--report", "{out}/pool"],
        ["a={data}", "--link-out", "{out}/linked"],
    ],
    # Reports are rendered below (one portfolio of all three, every notebook on one).
    "report": [],
}  # fmt: skip


def _scan(files: list[Path], logs: list[str], needles: list[str]) -> list[tuple[str, str]]:
    """Every (where, needle) found. Numbers (ID and phone numbers) are matched as windows
    of digit runs against a set, so thousands of planted numbers scan in one pass."""
    numbers = {n for n in needles if n[:1].isdigit()}
    words = [n for n in needles if n not in numbers]
    lengths = sorted({len(n) for n in numbers})
    texts = [(str(f), _text_of(f)) for f in files]
    texts += [(f"log {i}", log) for i, log in enumerate(logs)]
    hits = []
    for where, body in texts:
        windows: set[str] = set()
        shortest = lengths[0] if lengths else 1
        for run in re.findall(rf"[0-9Xx]{{{shortest},}}", body):
            for n in lengths:
                windows.update(run[i : i + n] for i in range(len(run) - n + 1))
        hits += [(where, n) for n in sorted(numbers & windows)]
        for word in words:
            escaped = json.dumps(word)[1:-1]  # \uXXXX form, as JSON may write it
            if word in body or escaped in body:
                hits.append((where, word))
    return hits


def _text_of(f: Path) -> str:
    """A file's text; Parquet is compressed, so its rows are scanned as CSV."""
    if f.suffix == ".parquet":
        return pl.read_parquet(f).write_csv()
    return f.read_bytes().decode("utf-8", errors="ignore")


def test_every_command_is_exercised():
    assert set(COMMANDS) == set(cli.commands), "add the new command to COMMANDS in this test"


def test_nothing_planted_reaches_any_output(planted, run, tmp_path):
    logs: list[str] = []
    data_outputs: list[Path] = []
    for name, (data, spec, _) in planted.items():
        out = tmp_path / name
        out.mkdir()
        for command, variants in COMMANDS.items():
            for args in variants:
                filled = [a.format(data=data, spec=spec, out=out) for a in args]
                r = run(command, *filled)
                assert r.code == 0, (command, filled, r.err)
                logs += [r.out, r.err]
        data_outputs += [p for p in (out / "released").rglob("*") if p.is_file()]
        data_outputs += [p for p in (out / "linked").rglob("*") if p.is_file()]

    reports = tmp_path / "reports"
    portfolio = render_portfolio(
        [data for data, _, _ in planted.values()], out_dir=reports, lang="zh"
    )
    assert len(portfolio.reports) == 3
    liver, liver_spec, _ = planted["liver_transplant"]
    notebooks = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    render_targets(
        SAMPLE_DIR / "regional_registry.csv",
        SAMPLE_DIR / "targets.yaml",
        out_dir=reports,
        lang="en",
    )
    for nb in notebooks:
        if nb in ("valuation_report", TARGETS_NOTEBOOK, POOL_NOTEBOOK):
            continue  # the pool's report is rendered by the pool command above
        render_valuation(
            liver, spec=liver_spec, out_dir=reports, notebook=nb, name=f"liver-{nb}", lang="en"
        )
    report_files = [p for p in reports.rglob("*") if p.is_file()]
    rendered = {p.stem.removeprefix("liver-") for p in report_files if p.suffix == ".html"}
    assert set(notebooks) - {"valuation_report", TARGETS_NOTEBOOK, POOL_NOTEBOOK} <= rendered
    assert all((tmp_path / n / "pool").glob("*.html") for n in planted)
    assert "regional_registry_targets" in {p.stem for p in report_files}
    outputs = [p for p in tmp_path.rglob("*") if p.is_file() and p not in data_outputs]
    outputs = [p for p in outputs if not str(p).startswith(str(tmp_path / "planted"))]
    assert len(outputs) > 20

    identifiers = sorted({v for _, _, values in planted.values() for v in values})
    assert _scan(outputs + data_outputs, logs, identifiers) == []
    # Values one person holds may stay in the released data, never in a report or a log.
    assert _scan(outputs, logs, list(RARE)) == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The leak scan itself can fail: planted values written out are found."""
    number, phone = _ids(1)[0], _phones(1)[0]
    page = tmp_path / "page.html"
    page.write_text(f"<td>x{number}y</td><td>{phone}</td>" + json.dumps(NAMES[0]), encoding="utf-8")
    hits = _scan([page], [f"log {RARE[1]}"], [number, phone, NAMES[0], RARE[1]])
    assert sorted(n for _, n in hits) == sorted([number, phone, NAMES[0], RARE[1]])
