"""medvalue tried as an attacker and a careless user would: outputs aimed at inputs, hostile
specs, injections, kills, unusable folders, planted small groups. Every case ends in exit 0
or exit 2 with one line, leaves its inputs byte-identical and no partial output or scratch
file behind, and shows no value from which a small count of people can be derived."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import LIVER, TEST_SECRET, digest


def one_line_error(r) -> bool:
    return r.code == 2 and r.err.startswith("medvalue: error: ") and r.err.count("\n") == 1


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    (d / "x.csv").write_bytes(LIVER.read_bytes())
    return d


# --- outputs never land on an input ------------------------------------------------------------


def test_no_option_writes_over_an_input(run, folder, tmp_path):
    x = folder / "x.csv"
    before = digest(folder)
    bundle = folder / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": "male"}}]}))  # fmt: skip
    before = digest(folder)
    cases = [
        ("privacy", x, "--apply", "--out", f"{folder}/"),
        ("privacy", x, "--apply", "--out", x),
        ("spec", x, "-o", x),
        ("report", bundle, "--out", folder, "--notebook", "01_profile", "--name", "bundle"),
        ("refine", x, "--out", x),
    ]
    for args in cases:
        r = run(*args)
        assert one_line_error(r), (args, r.err)
    assert digest(folder) == before
    # Any file that was read (a spec, a registry) is an input too.
    spec = tmp_path / "x.spec.yaml"
    spec.write_text("tables: {}\n")
    r = run("spec", x, "--spec", spec, "-o", spec)
    assert one_line_error(r) and spec.read_text() == "tables: {}\n"


# --- hostile specs and files -------------------------------------------------------------------

HOSTILE_SPECS = [
    "tables: [a]",
    "tables: {x: {columns: {age: age}}}",
    "metadata: [1, 2]",
    "links: 5",
    "tables: {x: {columns: {age: {role: age, confidence: high}}}}",
    "tables: {x: {columns: {age: {role: age, quasi: maybe}}}}",
    "infer: sometimes",
    "a: &a [1, 1]\nb: &b [*a, *a]\nc: &c [*b, *b]\n",
    "!!python/object/apply:os.system ['echo pwned']",
    "tables: {x: {columns: {age: {role: wizard}}}}",
]


@pytest.mark.parametrize("text", HOSTILE_SPECS)
def test_hostile_specs_are_one_line_errors(run, folder, tmp_path, text):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text, encoding="utf-8")
    before = digest(folder)
    r = run("inspect", folder / "x.csv", "--spec", spec)
    assert one_line_error(r), r.err
    assert digest(folder) == before


def test_bad_inputs_and_options_are_one_line_errors(run, folder, tmp_path):
    u16 = tmp_path / "u16.csv"
    u16.write_bytes("a,b\n1,2\n".encode("utf-16-le"))
    deep = tmp_path / "deep.json"
    inner = '{"resourceType":"Bundle","type":"collection","entry":[]}'
    for _ in range(2000):
        inner = '{"resourceType":"Bundle","type":"collection","entry":[{"resource":' + inner + "}]}"
    deep.write_text(inner)
    x = folder / "x.csv"
    cases = [
        ("inspect", u16, "--encoding", "utf-16"),
        ("inspect", deep, "--format", "fhir"),
        ("coverage", x, "--small-cell", "0"),
        ("spec", x, "-o", x / "s.yaml"),  # a path under a file
        ("privacy", x, "--quasi", ","),
    ]
    for args in cases:
        r = run(*args)
        assert r.code == 2, (args, r.err)
        assert "Traceback" not in r.err
    arr = tmp_path / "arr.json"
    arr.write_text('[{"resourceType": "Patient", "id": "1", "gender": "female"}]')
    assert run("inspect", arr, "--format", "fhir").code == 0  # an array of resources reads


def test_unusable_cache_folder_is_one_line(run, folder, monkeypatch):
    import medvalue.core._files as files

    monkeypatch.setattr(files, "_RUN", None)
    monkeypatch.setenv("MEDVALUE_CACHE_DIR", str(folder / "x.csv"))
    r = run("profile", folder / "x.csv")
    assert one_line_error(r) and "MEDVALUE_CACHE_DIR" in r.err


def test_weak_keys_and_system_variables_are_refused(run, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("MEDVALUE_SECRET", " " * 20)
    assert one_line_error(run("refine", folder / "x.csv", "--out", tmp_path / "p"))
    monkeypatch.setenv("MEDVALUE_SECRET", TEST_SECRET)
    r = run("refine", folder / "x.csv", "--out", tmp_path / "p", "--secret-env", "PATH")
    assert one_line_error(r) and "system variable" in r.err
    assert not (tmp_path / "p").exists()


# --- injections --------------------------------------------------------------------------------


def test_formulas_are_neutralised_and_markdown_escaped(run, tmp_path):
    n = 60
    frame = pl.DataFrame({
        "patient_id": [f"p{i}" for i in range(n)],
        "sex": ["M", "F"] * (n // 2),
        "age": [str(30 + i % 40) for i in range(n)],
        "=HYPERLINK(\"http://evil\")": ["=cmd|' /C calc'!A0", "+1+1", "@SUM(1)", "-2+3", "ok", "-3.5"] * (n // 6),
    })  # fmt: skip
    data = tmp_path / "inj.csv"
    frame.write_csv(data)
    spec = tmp_path / "inj.spec.yaml"
    spec.write_text(
        "metadata:\n  title: '<script>alert(1)</script>'\n  hospital: '[x](javascript:alert(1))'\n"
        "refine:\n  product_name: '<img src=x onerror=alert(1)>'\n",
        encoding="utf-8",
    )
    out = tmp_path / "applied.csv"
    assert run("privacy", data, "--apply", "--out", out, "--k", "2").code == 0
    text = out.read_text(encoding="utf-8")
    header, *rows = text.splitlines()
    cells = [c for line in rows for c in line.split(",")]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert not header.split(",")[-1].strip('"').startswith("=")
    assert "-3.5" in cells  # numbers are left alone
    product = tmp_path / "product"
    r = run("refine", data, "--spec", spec, "--out", product, "--no-price")
    assert r.code == 0, r.err
    dictionary = (product / "data_dictionary.csv").read_text(encoding="utf-8")
    assert not any(
        line.split(",")[1].startswith(("=", '"=')) for line in dictionary.splitlines()[1:]
    )
    card = (product / "datacard.md").read_text(encoding="utf-8")
    assert "<script>" not in card and "<img" not in card and "](javascript:" not in card


# --- scratch and partial outputs ---------------------------------------------------------------


def _medvalue(*args, env=None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "medvalue", *map(str, args)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def test_no_raw_copy_is_left_behind(tmp_path):
    cache = tmp_path / "cache"
    gb = tmp_path / "gb.csv"
    gb.write_bytes(LIVER.read_text(encoding="utf-8").encode("gb18030"))
    proc = _medvalue("profile", gb, env={"MEDVALUE_CACHE_DIR": str(cache)})
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert not [p for p in cache.rglob("*") if p.is_file()]  # the transcoded copy is gone


def test_a_killed_refine_leaves_no_readable_copy_and_the_next_run_cleans_up(tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "product"
    env = {"MEDVALUE_CACHE_DIR": str(cache), "MEDVALUE_SECRET": TEST_SECRET}
    proc = _medvalue("refine", LIVER, "--out", out, "--no-price", env=env)
    deadline = time.time() + 120
    while time.time() < deadline and not any(cache.rglob("*.parquet")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    # Nothing beside --out holds the original ids; the private scratch is owner-only.
    beside = [p for p in tmp_path.iterdir() if p.name not in ("cache",)]
    for p in beside:
        assert not any(f.suffix == ".parquet" for f in p.rglob("*")), p
    for run_dir in cache.glob("run-*"):
        assert run_dir.stat().st_mode & 0o077 == 0
    # The next run removes what the killed one left.
    again = _medvalue("inspect", LIVER, env=env)
    again.communicate(timeout=120)
    assert again.returncode == 0
    assert not list(cache.glob(f"run-{proc.pid}-*"))


def test_a_report_set_is_complete_or_marked_incomplete(folder, tmp_path, monkeypatch):
    from medvalue.core import _files as files
    from medvalue.present import _report as report

    out = tmp_path / "reports"
    written: list[str] = []
    real = files.write_atomic

    def fail_on_json(path, data):
        if str(path).endswith(".json") and not str(path).endswith("manifest.json"):
            raise OSError(28, "No space left on device", str(path))
        written.append(str(path))
        return real(path, data)

    monkeypatch.setattr(report, "write_atomic", fail_on_json)
    with pytest.raises(OSError):
        report.render_valuation(folder / "x.csv", out_dir=out, notebook="01_profile", lang="en")
    name = "x.01_profile"
    assert any(p.endswith(f"{name}.html") for p in written)
    assert not report.complete_set(out, name)  # no manifest: readers know the set is partial
    monkeypatch.setattr(report, "write_atomic", real)
    report.render_valuation(folder / "x.csv", out_dir=out, notebook="01_profile", lang="en")
    assert report.complete_set(out, name)


# --- small counts are not recoverable ----------------------------------------------------------


def test_planted_small_groups_cannot_be_derived(run, tmp_path):
    n = 1001
    frame = pl.DataFrame({
        "patient_id": [f"p{i}" for i in range(n)],
        "sex": ["F"] * 3 + ["M"] * (n - 3),  # 3 women
        "died": ["1"] * 3 + ["0"] * (n - 3),  # 3 deaths
        "rare_lab": ["7.5", "8.1"] + [""] * (n - 2),  # two values in a sparse column
        "diagnosis_code": ["K72.1"] * 3 + ["I10"] * (n - 3),  # 3 people in chapter XI
        "age": [str(20 + i % 60) for i in range(n)],
    })  # fmt: skip
    data = tmp_path / "planted.csv"
    frame.write_csv(data)
    prof = json.loads(run("profile", data, "--json", "--as-of", "2026-01-01").out)
    cols = {c["name"]: c for c in prof["columns"]}
    assert cols["sex"]["top_values"] == []  # M alone would give F = rows - M
    assert cols["died"]["mean"] is None and cols["died"]["std"] is None
    assert cols["rare_lab"]["min"] is None and cols["rare_lab"]["max"] is None
    cov = json.loads(run("coverage", data, "--json").out)
    chapters = {c["chapter"]: c["patients"] for c in cov["chapters"] if c["patients"] != 0}
    assert chapters["XI"] is None and chapters["IX"] is None  # a partition: both withheld
    sex = {s["sex"]: s["patients"] for s in cov["demographics"]["sex"]}
    assert sex["F"] is None and sex["M"] is None
    texts = json.dumps(prof) + json.dumps(cov)
    assert not re.search(r'"(count|patients|records)": 3\b', texts)


def test_no_quasi_identifiers_is_never_anonymised(run, tmp_path):
    data = tmp_path / "labs.csv"
    pl.DataFrame({"glucose": [5.1, 6.2, 7.3] * 20, "sodium": [140, 138, 141] * 20}).write_csv(data)
    got = json.loads(run("privacy", data, "--json").out)
    assert got["verdict"] != "anonymised"
    assert any(r["reason"] == "no_quasi_identifiers" and r["blocking"] for r in got["reasons"])


# --- no machine path in a report ---------------------------------------------------------------


@pytest.mark.slow
def test_report_from_a_path_outside_home_and_temp_shows_no_path(tmp_path):
    import shutil
    import uuid

    root = Path("/var/tmp") / f"medvalue-test-{uuid.uuid4().hex[:8]}"
    data = root / "数据 导出" / "x.csv"
    data.parent.mkdir(parents=True)
    try:
        data.write_bytes(LIVER.read_bytes())
        out = tmp_path / "reports"
        proc = _medvalue("report", data, "--out", out, "--notebook", "01_profile", "--lang", "en")
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        for f in out.iterdir():
            text = f.read_text(encoding="utf-8", errors="replace")
            for spelled in (str(root), json.dumps(str(root))[1:-1], "/var/tmp", "数据 导出"):
                assert spelled not in text, (f.name, spelled)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_outputs_follow_the_umask(run, folder, tmp_path):
    old = os.umask(0o022)
    try:
        spec = tmp_path / "s.yaml"
        applied = tmp_path / "applied.csv"
        assert run("spec", folder / "x.csv", "-o", spec).code == 0
        assert run("privacy", folder / "x.csv", "--apply", "--out", applied).code == 0
    finally:
        os.umask(old)
    for f in (spec, applied):
        assert f.stat().st_mode & 0o777 == 0o644, f  # shared like any other tool's output
