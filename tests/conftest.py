"""Shared fixtures: sample paths and an in-process CLI runner."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from medvalue.cli import main
from medvalue.core._config import SAMPLE_DIR

LIVER = SAMPLE_DIR / "liver_transplant.csv"
LIVER_SPEC = SAMPLE_DIR / "liver_transplant.spec.yaml"
LIVER_GB = SAMPLE_DIR / "liver_transplant_gb18030.csv"
LIVER_XLSX = SAMPLE_DIR / "liver_transplant.xlsx"
CAROTID = SAMPLE_DIR / "carotid_stenting.csv"
CAROTID_SPEC = SAMPLE_DIR / "carotid_stenting.spec.yaml"
COUNTY = SAMPLE_DIR / "county_hospital"
COUNTY_SPEC = SAMPLE_DIR / "county_hospital.spec.yaml"


#: The pseudonym key for tests: ``medvalue refine`` (and the 07_refine notebook, whose kernel
#: inherits the environment) read it from MEDVALUE_SECRET. Tests of a missing secret unset it.
TEST_SECRET = "medvalue-test-secret-0123456789"


@pytest.fixture(autouse=True)
def _refine_secret(monkeypatch):
    monkeypatch.setenv("MEDVALUE_SECRET", TEST_SECRET)


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


def require_browser() -> str:
    """Path of Chromium, or skip (fail under CI, where MEDVALUE_REQUIRE_BROWSER=1)."""
    import os

    from medvalue.present._report import find_chromium

    found = find_chromium()
    if found:
        return found
    if os.environ.get("MEDVALUE_REQUIRE_BROWSER"):
        pytest.fail("Chromium is required here (MEDVALUE_REQUIRE_BROWSER=1) but was not found")
    pytest.skip("Chromium not installed: browser tests skipped (Debian: apt-get install chromium)")
    raise AssertionError  # unreachable


def open_in_browser(html_path: Path) -> dict:
    """Open a page in headless Chromium with the network cut; report charts, requests, errors."""
    from playwright.sync_api import sync_playwright

    chromium = require_browser()
    requests: list[str] = []
    errors: list[str] = []

    def route(r):
        requests.append(r.request.url)
        if r.request.url.startswith(("file:", "data:", "blob:")):
            r.continue_()
        else:
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.wait_for_timeout(300)
            result = {
                "charts": page.locator(".js-plotly-plot").count(),
                "rendered": page.locator(".js-plotly-plot .main-svg").count(),
                "chart_divs": page.locator("div[id^='mv-']").count(),
                "text": page.inner_text("body"),
                "external": [u for u in requests if not u.startswith(("file:", "data:", "blob:"))],
                "errors": errors,
            }
        finally:
            browser.close()
    return result
