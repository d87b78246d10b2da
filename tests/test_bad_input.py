"""The bad-input table: each case is a clear one-line error (exit 2) or a finding.

After every command, the input's bytes are unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import LIVER, digest

COMMANDS = (("inspect",), ("spec",), ("profile",), ("inspect", "--json"), ("profile", "--json"))


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _truncated_xlsx(tmp_path: Path) -> Path:
    good = tmp_path / "good.xlsx"
    pl.DataFrame({"a": list(range(500))}).write_excel(good)
    data = good.read_bytes()
    return _write(tmp_path, "truncated.xlsx", data[: len(data) // 2])


ERRORS = {
    "missing path": (lambda d: d / "nope.csv", "no such file"),
    "empty file": (lambda d: _write(d, "empty.csv", b""), "empty"),
    "binary garbage named .csv": (
        lambda d: _write(d, "garbage.csv", bytes(range(256)) * 40),
        "binary",
    ),
    "truncated xlsx": (_truncated_xlsx, "damaged or truncated"),
    "not really xlsx": (lambda d: _write(d, "fake.xlsx", b"id,name\n1,2\n"), "not a valid Excel"),
    "folder with no tables": (lambda d: (d / "empty_dir").mkdir() or d / "empty_dir", "no tables"),
    "broken parquet": (lambda d: _write(d, "t.parquet", b"PAR1 not really"), "Parquet"),
    "ndjson not objects": (lambda d: _write(d, "t.ndjson", b"[1,2]\n"), "JSON object"),
    "unsupported type": (lambda d: _write(d, "t.sav", b"x"), "unsupported"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_bad_input_gives_one_line_error(tmp_path, run, case, command):
    make, words = ERRORS[case]
    path = make(tmp_path)
    before = digest(path) if path.exists() else None
    r = run(*command, path)
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert words in lines[0]
    assert "Fix:" in lines[0]
    assert str(path.name) in lines[0] or case == "folder with no tables"
    assert "Traceback" not in r.err
    if before is not None:
        assert digest(path) == before


FINDINGS = {
    "header only": (b"patient_id,sex,age\n", "empty_table"),
    "ragged rows": (b"patient_id,sex,age\n1,M,30\n2,F\n3,M,40,extra\n4,F,50\n", "ragged_rows"),
    "duplicate headers": (b"patient_id,age,age\n1,30,31\n2,40,41\n", "duplicate_header"),
    "undecodable bytes": (
        "patient_id,诊断名称\n".encode()
        + b"".join(f"{i},肝硬化\n".encode() for i in range(200))
        + b"999,\xff\xfe broken\n",
        "undecodable_bytes",
    ),
    "entirely null column": (b"patient_id,sex,notes\n1,M,\n2,F,\n3,M,\n", "empty_column"),
}


@pytest.mark.parametrize("case", sorted(FINDINGS))
def test_bad_input_gives_a_finding(tmp_path, run, case):
    data, check = FINDINGS[case]
    path = _write(tmp_path, "t.csv", data)
    before = digest(path)
    for command in COMMANDS:
        r = run(*command, path)
        assert r.code == 0, (command, r.err)
    r = run("profile", "--json", path)
    findings = json.loads(r.out)["findings"]
    assert check in {f["check"] for f in findings}
    assert digest(path) == before


def test_real_process_exit_code_and_no_traceback(tmp_path):
    path = _write(tmp_path, "empty.csv", b"")
    proc = subprocess.run(
        [sys.executable, "-m", "medvalue", "profile", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_sample_inputs_untouched_by_every_command(tmp_path, run):
    before = digest(LIVER)
    for command in COMMANDS:
        assert run(*command, LIVER).code == 0
    assert digest(LIVER) == before


def test_bad_spec_is_a_clear_error(tmp_path, run):
    spec = tmp_path / "s.yaml"
    spec.write_text("tables:\n  liver_transplant:\n    columns:\n      nope: {role: sex}\n")
    r = run("inspect", LIVER, "--spec", spec)
    assert r.code == 2 and "no column 'nope'" in r.err
    spec.write_text("tables:\n  liver_transplant:\n    columns:\n      sex: {role: gender}\n")
    r = run("inspect", LIVER, "--spec", spec)
    assert r.code == 2 and "unknown role 'gender'" in r.err
    spec.write_text("tables: [\n")
    r = run("inspect", LIVER, "--spec", spec)
    assert r.code == 2 and "not valid YAML" in r.err


def test_zip_named_xlsx_without_workbook(tmp_path, run):
    path = tmp_path / "z.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hi")
    r = run("inspect", path)
    assert r.code == 2 and "Fix:" in r.err


def test_errors_carry_their_facts_as_attributes(tmp_path):
    # Code that handles an error reads the file, table, column, fix and a reason code
    # instead of parsing the message; the message itself is the one line the CLI prints.
    import medvalue as mv
    from medvalue.core._errors import ColumnError, InputError, SpecError

    with pytest.raises(InputError) as err:
        mv.load_dataset(tmp_path / "missing.csv")
    e = err.value
    assert (e.path, e.code, e.column) == (str(tmp_path / "missing.csv"), "input", None)
    assert e.fix == "check the path and spelling" and str(e).endswith(f"Fix: {e.fix}")

    data = tmp_path / "x.csv"
    data.write_text("patient_id,age\n1,30\n", encoding="utf-8")
    spec = tmp_path / "x.spec.yaml"
    spec.write_text("tables:\n  x:\n    columns:\n      age: {role: colour}\n", encoding="utf-8")
    with pytest.raises(SpecError) as err:
        mv.load_dataset(data, spec=spec)
    assert (err.value.table, err.value.column, err.value.code) == ("x", "age", "spec_unknown_role")
    assert err.value.path == str(spec)

    missing = ColumnError.missing("x.csv", "sex", ["age"])
    assert (missing.column, missing.code) == ("sex", "column_missing")
    assert str(missing) == (
        "x.csv: no column named 'sex'. Fix: use one of the columns present (age) or correct the spec."
    )


@pytest.mark.parametrize("out", ["heart.html", "sub/report.PDF", "r.json"])
def test_report_out_that_names_a_file_is_a_clear_error(tmp_path, run, out):
    target = tmp_path / out
    r = run("report", LIVER, "--out", target)
    assert r.code == 2
    assert "folder" in r.err and f"--name {target.stem}" in r.err
    assert r.err.strip().count("\n") == 0
    assert not target.exists()
