"""Notebooks run where JupyterLab runs them: in the notebooks/ folder, with only data_path
set. Every dataset notebook runs once, each on another sample, and the valuation report on
every sample (every notebook and every sample covered, pairwise rather than all 49 pairs,
to keep `make test` under ten minutes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [
    "data/sample/liver_transplant.csv",
    "data/sample/carotid_stenting.csv",
    "data/sample/county_hospital",
    "data/sample/liver_transplant_gb18030.csv",
    "data/sample/liver_transplant.xlsx",
    "data/sample/omop_cdm",
    "data/sample/fhir_export",
]
NOTEBOOKS = ["01_profile", "02_coverage", "03_readiness", "04_privacy", "05_pricing", "07_refine"]
CASES = [(nb, SAMPLES[i % len(SAMPLES)]) for i, nb in enumerate(NOTEBOOKS)] + [
    ("valuation_report", sample) for sample in SAMPLES
]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project's notebooks and samples, so outputs land in the copy."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    shutil.copytree(ROOT / "data" / "sample", root / "data" / "sample")
    return root


@pytest.mark.slow
@pytest.mark.parametrize(("notebook", "sample"), CASES)
def test_notebook_runs_from_its_folder_with_only_data_path(project, notebook, sample, tmp_path):
    folder = project / "notebooks"
    pm.execute_notebook(
        str(folder / f"{notebook}.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={"data_path": sample, "lang": "en"},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(folder),
    )


@pytest.mark.slow
def test_pool_notebook_runs_from_its_folder_with_its_defaults(project, tmp_path):
    """The pool spec's default path is relative to the project; the notebook's folder is one
    below it, and the spec's sites are relative to the spec."""
    folder = project / "notebooks"
    pm.execute_notebook(
        str(folder / "08_pool.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={"lang": "en", "as_of": "2025-06-30"},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(folder),
    )
