"""Set-up files agree with each other; imports stay at the edges."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import yaml

from medvalue.core._config import PACKAGE_DIR, PROJ_ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=!\[ ;]", req, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((PROJ_ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((PROJ_ROOT / "environment.yml").read_text())
    conda = {_name(d): d for d in env["dependencies"] if isinstance(d, str)}
    for req in project["dependencies"]:
        name = _name(req)
        assert name in conda, f"{name} missing from environment.yml"
        bound = re.search(r">=\s*([\d.]+)", req).group(1)
        assert f">={bound}" in conda[name], f"{name}: lower bound differs"
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "-e .[dev]" in pip


def test_every_dependency_has_a_lower_bound():
    project = tomllib.loads((PROJ_ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert all(">=" in r for r in reqs)


#: Heavy libraries and the one module of the presentation layer each may be imported from.
ALLOWED = {
    "plotly": {"present/_plots.py"},
    "papermill": {"present/_report.py"},
    "nbconvert": {"present/_report.py"},
}


def test_heavy_imports_stay_at_the_edges():
    for path in PACKAGE_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                top = n.split(".")[0]
                if top in ALLOWED:
                    where = path.relative_to(PACKAGE_DIR).as_posix()
                    assert where in ALLOWED[top], f"{where} imports {top}"


def test_notebooks_folder_holds_the_packaged_notebooks():
    # notebooks/ is what users open in JupyterLab; medvalue/notebooks/ ships in the wheel.
    root = Path(__file__).resolve().parent.parent
    top = {p.name: p.read_bytes() for p in (root / "notebooks").glob("*.ipynb")}
    packaged = {p.name: p.read_bytes() for p in (root / "medvalue" / "notebooks").glob("*.ipynb")}
    assert top and top == packaged


def test_runtime_code_reads_nothing_outside_the_package():
    from medvalue.core._config import PACKAGE_DIR
    from medvalue.present import _report as report
    from medvalue.value import _comparables as comparables

    for path in (comparables.PUBLIC_REGISTRY, comparables.FX_RATES, report.NOTEBOOK_DIR):
        assert PACKAGE_DIR in path.parents and path.exists()


def test_results_display_themselves_and_repr_is_one_line():
    import medvalue as mv
    from medvalue.core._config import SAMPLE_DIR

    ds = mv.load_dataset(SAMPLE_DIR / "carotid_stenting.csv")
    results = [
        mv.profile(ds, as_of="2025-01-01"),
        mv.coverage(ds),
        mv.readiness(ds, "stroke_or_death_30d"),
        mv.privacy(ds),
    ]
    results.append(mv.price(ds, profile=results[0], coverage=results[1], as_of="2025-01-01"))
    for r in results:
        bundle = r._repr_mimebundle_()
        assert "<h2>" in bundle["text/html"] and bundle["text/plain"] == repr(r)
        assert "\n" not in repr(r) and len(repr(r)) < 120
    assert "Profile" in repr(results[0]) and "2,550 rows" in repr(results[0])
