"""Every JSON output of the samples, kept byte for byte as golden files.

A change to the package's layout, or any refactor, must leave these identical; a change
that is meant to move a number regenerates them on purpose and shows the diff in review:

    MEDVALUE_REGOLD=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medvalue.core._config import SAMPLE_DIR

GOLDEN = Path(__file__).parent / "golden"
AS_OF = "2026-06-30"

SAMPLES = {
    "liver": ["liver_transplant.csv"],
    "liver_xlsx": ["liver_transplant.xlsx", "--spec", "liver_transplant.spec.yaml"],
    "liver_gb18030": ["liver_transplant_gb18030.csv"],
    "carotid": ["carotid_stenting.csv"],
    "county": ["county_hospital"],
    "omop": ["omop_cdm"],
    "fhir": ["fhir_export"],
}
DATASET_COMMANDS = {
    "inspect": [],
    "profile": ["--as-of", AS_OF],
    "coverage": [],
    "privacy": [],
    "readiness": [],
    "price": ["--as-of", AS_OF, "--seed", "7"],
}
CASES = [(sample, command) for sample in SAMPLES for command in DATASET_COMMANDS]
OTHER = {
    "targets": ["targets", "regional_registry.csv", "--targets", "targets.yaml", "--as-of", AS_OF],
    "samplesize": [
        "samplesize",
        "--outcome",
        "binary",
        "--parameters",
        "12",
        "--prevalence",
        "0.2",
        "--cstatistic",
        "0.75",
    ],
}


def _check(run, monkeypatch, name: str, argv: list[str]) -> None:
    # Paths relative to the sample folder, as a user in it would type them: outputs that echo
    # the input path then hold no path of this machine.
    monkeypatch.chdir(SAMPLE_DIR)
    result = run(*argv, "--json")
    assert result.code == 0, result.err
    path = GOLDEN / f"{name}.json"
    if os.environ.get("MEDVALUE_REGOLD"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(result.out, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with MEDVALUE_REGOLD=1 once"
    assert result.out == path.read_text(encoding="utf-8"), f"{name}: JSON output changed"


@pytest.mark.parametrize(("sample", "command"), CASES, ids=[f"{s}.{c}" for s, c in CASES])
def test_sample_json_is_unchanged(run, monkeypatch, sample, command):
    argv = [command, *SAMPLES[sample], *DATASET_COMMANDS[command]]
    _check(run, monkeypatch, f"{sample}.{command}", argv)


@pytest.mark.parametrize("name", sorted(OTHER))
def test_other_json_is_unchanged(run, monkeypatch, name):
    _check(run, monkeypatch, name, OTHER[name])


def test_report_json_is_unchanged(run, monkeypatch, tmp_path):
    # The valuation report's results file, from the report notebook (the one a finance
    # committee's numbers come from), as `make report` renders it but in English.
    monkeypatch.chdir(SAMPLE_DIR)
    argv = ["report", "liver_transplant.csv", "--as-of", AS_OF, "--lang", "en", "--out", tmp_path]
    result = run(*argv, "--quiet")
    assert result.code == 0, result.err
    path = GOLDEN / "report.liver_en.json"
    produced = (tmp_path / "liver_transplant.json").read_text(encoding="utf-8")
    if os.environ.get("MEDVALUE_REGOLD"):
        path.write_text(produced, encoding="utf-8")
    assert produced == path.read_text(encoding="utf-8"), "report JSON changed"
