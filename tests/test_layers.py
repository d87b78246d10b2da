"""The package's layers: the tree shows the data flow and nothing below imports anything above.

Read from the source (every import, at module level or inside a function), so a lazy
import cannot hide an upward dependency, and no cycle between modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "medvalue"

#: Lowest first. A module may import its own layer and the layers before it.
LAYERS = ("core", "read", "analyses", "value", "product", "present", "cli")
#: Beside the flow: synthetic data for tests and benchmarks. Nothing in medvalue imports it.
ASIDE = "datasets"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every medvalue module ``path`` imports, resolved to module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "medvalue"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "medvalue":
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None  # None: the package's top, medvalue itself


def test_every_module_is_in_a_layer():
    loose = [m for m in MODULES if _layer(m) not in (*LAYERS, ASIDE, None, "__main__")]
    assert not loose, f"modules outside the layers: {loose}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in LAYERS))
def test_nothing_below_imports_anything_above(module):
    rank = LAYERS.index(_layer(module))
    upward = sorted(
        imported
        for imported in GRAPH[module]
        if _layer(imported) is None
        or _layer(imported) == ASIDE
        or (_layer(imported) in LAYERS and LAYERS.index(_layer(imported)) > rank)
    )
    assert not upward, f"{module} imports {upward}, above its layer"


def test_nothing_imports_the_synthetic_datasets():
    users = sorted(
        m
        for m, imports in GRAPH.items()
        if _layer(m) != ASIDE and any(_layer(i) == ASIDE for i in imports)
    )
    assert not users


def test_no_import_cycle():
    # Depth-first search over the module graph; a back edge is a cycle.
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for nxt in sorted(GRAPH.get(module, ())):
            if nxt not in MODULES or nxt == "medvalue":
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(MODULES):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_check_sees_a_planted_upward_import(tmp_path):
    # The walk must find imports inside functions, or the layer rule checks nothing.
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from medvalue.present import views\n    return views\n")
    assert "medvalue.present.views" in _imports(source)
