"""Report HTML comes from templates with autoescaping: text is escaped wherever it lands."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from medvalue.present import _html

PRESENT = Path(__file__).resolve().parent.parent / "medvalue" / "present"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&'


@pytest.mark.parametrize(
    "block",
    [
        lambda t: _html.h2(t),
        lambda t: _html.para(t, "sub"),
        lambda t: _html.runs((t, True), (t, False)),
        lambda t: _html.bullets([t, t], bold=[0]),
        lambda t: _html.table([t], [[t], [None]], numeric=(0,)),
        lambda t: _html.card(t, t, t),
        lambda t: _html.verdict(t, t, "#000"),
        lambda t: _html.section([t, _html.para(t)]),
        lambda t: _html.markdown_outline(f"# {t}\n- {t}\n  - {t}\n{t}"),
    ],
)
def test_every_block_escapes_its_text(block):
    out = str(block(HOSTILE))
    assert "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;" in out


@given(st.text())
def test_a_plain_string_never_becomes_markup(text):
    # What a section holds is escaped unless it is Markup made by a block: any string,
    # escaped and then unescaped, gives back exactly the string.
    out = _html.section([text])
    inner = str(out)[len('<div class="mv">') : -len("</div>")]
    assert Markup(inner).unescape() == text


def test_markup_made_by_a_block_passes_as_it_is():
    table = _html.table(["a"], [["1"]])
    assert str(table) in str(_html.section([table]))


def test_views_and_the_report_runner_write_no_html_themselves():
    # HTML lives in templates/html/; the Python modules build it only through _html.
    for name in ("views.py", "_report.py"):
        tree = ast.parse((PRESENT / name).read_text(encoding="utf-8"))
        strings = [
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        ]
        docstrings = {
            ast.get_docstring(n, clean=False)
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.Module | ast.ClassDef)
        }
        tags = [s for s in strings if s not in docstrings and re.search(r"<[a-zA-Z/!]", s)]
        assert not tags, f"{name} writes HTML: {tags[:3]}"


def test_a_hostile_dataset_title_is_escaped_in_the_page(tmp_path):
    import medvalue as mv
    from medvalue.present import views

    data = tmp_path / "x.csv"
    data.write_text("patient_id,age\n1,30\n2,40\n", encoding="utf-8")
    spec = tmp_path / "x.spec.yaml"
    spec.write_text(f"metadata:\n  title: '{HOSTILE}'\n", encoding="utf-8")
    page = str(views.page_start(mv.load_dataset(data, spec=spec), "en", "2026-01-01"))
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
