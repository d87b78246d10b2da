"""The wheel works anywhere: built, installed into a clean virtual environment, and run from
an empty folder on a copy of a sample, with no path of this machine in any output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_in_a_clean_venv_from_an_empty_folder(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
                   check=True, capture_output=True)  # fmt: skip
    wheel = next(dist.glob("medvalue-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True
    )
    work = tmp_path / "empty"
    work.mkdir()
    shutil.copy(ROOT / "data" / "sample" / "carotid_stenting.csv", work / "carotid.csv")
    shutil.copytree(ROOT / "data" / "sample" / "county_pool", work / "pool")
    env = {**os.environ, "MEDVALUE_SECRET": "wheel-test-key-0123456789abcdef",
           "MEDVALUE_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
    env.pop("PYTHONPATH", None)
    runs = [
        ["-m", "medvalue", "--help"],
        ["-m", "medvalue", "price", "carotid.csv", "--json"],
        ["-m", "medvalue", "refine", "carotid.csv", "--out", "product", "--no-price"],
        ["-m", "medvalue", "report", "carotid.csv", "--out", "reports", "--lang", "en"],
        ["-m", "medvalue", "pool", "--spec", "pool/pool.yaml", "--report", "reports"],
    ]
    for args in runs:
        done = subprocess.run(
            [str(py), *args], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (args, done.stderr[-2000:])
    # Spark is an optional extra: without pyspark, --engine spark says how to install it.
    done = subprocess.run(
        [str(py), "-m", "medvalue", "profile", "--engine", "spark", "carotid.csv"],
        cwd=work, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 2 and "pip install 'medvalue[spark]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert (work / "reports" / "carotid.html").exists()
    assert (work / "reports" / "pool_pool.html").exists()
    machine = [str(tmp_path), str(ROOT), str(Path.home())]
    for f in work.rglob("*"):
        if f.is_file() and f.suffix in (".html", ".ipynb", ".json", ".md", ".csv", ".yaml"):
            text = f.read_text(encoding="utf-8", errors="replace")
            assert not [m for m in machine if m in text], f
