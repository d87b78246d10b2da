"""Every command of the README's tour runs, as written, from a copy of the project's data."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def tour_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = (
        text.split("## A tour of the command line", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    )
    out = []
    for line in block.splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command:
            out.append(command)
    return out


def test_the_tour_lists_the_commands_we_expect():
    commands = tour_commands()
    assert len(commands) >= 25
    assert any(c.startswith("export MEDVALUE_SECRET=") for c in commands)
    assert all(c.startswith(("medvalue ", "export ")) for c in commands)


@pytest.mark.slow
def test_every_readme_command_runs(tmp_path):
    work = tmp_path / "project"
    (work / "data").mkdir(parents=True)
    shutil.copytree(ROOT / "data" / "sample", work / "data" / "sample")
    env = {**os.environ, "MEDVALUE_CACHE_DIR": str(tmp_path / "cache")}
    # The installed command, as a user runs it (``python -m`` would put the current folder,
    # which holds a medvalue/data copy here, ahead of the package).
    exe = [str(Path(sys.executable).parent / "medvalue")]
    for command in tour_commands():
        if command.startswith("export MEDVALUE_SECRET="):
            value = subprocess.run(
                ["bash", "-c", command.split("=", 1)[1].removeprefix("$(").removesuffix(")")],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            env["MEDVALUE_SECRET"] = value
            continue
        args = shlex.split(command)[1:]
        if (
            "--pdf" in args
            and not shutil.which("chromium")
            and not os.environ.get("MEDVALUE_REQUIRE_BROWSER")
        ):
            args.remove("--pdf")  # without Chromium locally; CI has it and runs the PDF too
        done = subprocess.run(
            [*exe, *args], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (command, done.stderr[-2000:])


def test_perf_table_keeps_the_rows_not_measured_again_here(tmp_path):
    # results/ is not kept in git: re-running one benchmark at one size on a new machine
    # must replace those rows only and leave every other row as the README has it.
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import summary
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    current = readme.split(summary.START, 1)[1].split(summary.END, 1)[0]
    old = [r for r in current.splitlines() if r.startswith("| ") and r not in summary.HEADER]
    assert summary.table(tmp_path, current=current).splitlines() == [*summary.HEADER, *old]
    replaced = next(r for r in old if r.startswith("| refine (") and "| 10,000,000 |" in r)
    _, shape, rows, what, *_ = (c.strip() for c in replaced.strip("|").split("|"))
    fmt = shape.split()[-1]
    ratios = [
        {"rows": int(rows.replace(",", "")), "what": what, "ratio": 3.5, "goal": "<= 10",
         "met": True, "shape": "benchmark", "format": fmt},
        {"rows": 7, "what": "something new", "ratio": 1.0, "goal": "<= 1", "met": True,
         "shape": "benchmark", "format": fmt},
    ]  # fmt: skip
    (tmp_path / "refine.json").write_text(
        json.dumps({"meta": {"date": "2030-01-02"}, "ratios": ratios})
    )
    new = summary.table(tmp_path, current=current).splitlines()
    assert new[:2] == summary.HEADER
    assert f"| refine (2030-01-02) | benchmark {fmt} | {rows} | {what} | 3.50 | <= 10 | yes |" in new
    assert replaced not in new
    assert [r for r in new[2:] if r not in old] == [
        f"| refine (2030-01-02) | benchmark {fmt} | {rows} | {what} | 3.50 | <= 10 | yes |",
        f"| refine (2030-01-02) | benchmark {fmt} | 7 | something new | 1.00 | <= 1 | yes |",
    ]
    assert len(new) == len(old) + 2 + 1  # one row replaced in place, one added
