"""Shared fixtures: sample paths and an in-process CLI runner."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from medvalue.cli import main
from medvalue.config import SAMPLE_DIR

LIVER = SAMPLE_DIR / "liver_transplant.csv"
LIVER_SPEC = SAMPLE_DIR / "liver_transplant.spec.yaml"
LIVER_GB = SAMPLE_DIR / "liver_transplant_gb18030.csv"
LIVER_XLSX = SAMPLE_DIR / "liver_transplant.xlsx"
CAROTID = SAMPLE_DIR / "carotid_stenting.csv"
CAROTID_SPEC = SAMPLE_DIR / "carotid_stenting.spec.yaml"
COUNTY = SAMPLE_DIR / "county_hospital"
COUNTY_SPEC = SAMPLE_DIR / "county_hospital.spec.yaml"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys):
    """Run the medvalue CLI in-process; return exit code, stdout and stderr."""

    def _run(*args: str | Path) -> CliResult:
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return _run


def digest(path: Path) -> str:
    """A hash of a file or of every file below a folder, to prove inputs are untouched."""
    h = hashlib.sha256()
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    for f in files:
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()
