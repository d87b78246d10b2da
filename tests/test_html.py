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


ESCAPED_TAG = re.compile(r"&lt;/?(h\d|p|table|thead|tbody|tr|td|th|div|ul|li|span|b|a|script)\b")


@pytest.fixture(scope="module")
def liver_assessment():
    import medvalue as mv
    from tests.conftest import LIVER, LIVER_SPEC

    ds = mv.load_dataset(LIVER, spec=LIVER_SPEC)
    return ds, mv.assess(ds, mv.AssessOptions(as_of="2026-06-30", label="death_90d"))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_block_is_escaped_twice(liver_assessment, lang):
    # A block passed where text is expected would show its tags as text: the page says
    # "<h2>" instead of drawing a heading. Every view, both languages.
    from medvalue.present import views

    ds, a = liver_assessment
    pages = [
        views.page_start(ds, lang, "2026-06-30"),
        views.executive_summary(lang, profile=a.profile, coverage=a.coverage,
                                readiness=a.readiness, privacy=a.privacy, valuation=a.valuation),
        views.profile_section(a.profile, lang), views.coverage_section(a.coverage, lang),
        views.readiness_section(a.readiness, lang), views.privacy_section(a.privacy, lang),
        views.pricing_section(a.valuation, lang), views.methods(lang, 5),
        views.parameters({"data_path": "x.csv", "k_target": 5, "label": ""}, lang),
        views.assessment_section(a, lang),
    ]  # fmt: skip
    for page in pages:
        assert not ESCAPED_TAG.search(str(page)), ESCAPED_TAG.search(str(page))


def test_a_chinese_report_names_things_in_chinese(liver_assessment):
    from medvalue.present import views

    ds, a = liver_assessment
    assert "肝病与肝移植状态队列" in str(views.page_start(ds, "zh", "2026-06-30"))
    coverage = str(views.coverage_section(a.coverage, "zh"))
    assert "属消化系统疾病" in coverage and "Fibrosis and cirrhosis" not in coverage
    profile = str(views.profile_section(a.profile, "zh"))
    for word in ("患者", "出院日期", "数值", "日期"):  # a table kind, a role, value kinds
        assert word in profile
    # Parameters left empty are not listed.
    params = str(views.parameters({"data_path": "x.csv", "label": ""}, "zh"))
    assert "data_path" in params and "label" not in params


def test_price_axes_read_in_the_report_units(liver_assessment):
    from medvalue.present import _plots as plots

    _, a = liver_assessment
    axis = plots.football_field(a.valuation, "zh").layout.xaxis
    assert axis.ticktext and all("万" in t or t.isdigit() for t in axis.ticktext)
    assert [t for t in plots.football_field(a.valuation, "en").layout.xaxis.ticktext if "k" in t]
