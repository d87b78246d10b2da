"""Reports: rendering, offline HTML in a real browser, JSON, safety, failure, portfolio, PDF."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from medvalue.core._errors import MedvalueError, ParameterError, ReportError
from medvalue.core._i18n import catalogue
from medvalue.present._report import render_notebook, render_portfolio, render_valuation
from tests.conftest import CAROTID, COUNTY, LIVER, LIVER_SPEC, open_in_browser, require_browser

AS_OF = "2025-01-01"
NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def zh_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    return render_valuation(LIVER, spec=LIVER_SPEC, out_dir=out, as_of=AS_OF, lang="zh")


@pytest.fixture(scope="module")
def en_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports_en")
    return render_valuation(LIVER, spec=LIVER_SPEC, out_dir=out, as_of=AS_OF, lang="en")


def test_three_files_written_and_nothing_else(zh_report):
    names = sorted(p.name for p in zh_report.html.parent.iterdir())
    assert names == ["liver_transplant.html", "liver_transplant.ipynb", "liver_transplant.json",
                     "liver_transplant.manifest.json"]  # fmt: skip
    from medvalue.present._report import complete_set

    assert complete_set(zh_report.html.parent, "liver_transplant")


def test_json_is_the_same_as_the_cli(zh_report, en_report, run):
    for rendered, lang in ((zh_report, "zh"), (en_report, "en")):
        cli = json.loads(
            run(
                "profile", "--json", "--lang", lang, "--as-of", AS_OF, LIVER, "--spec", LIVER_SPEC
            ).out
        )
        saved = json.loads(rendered.json.read_text(encoding="utf-8"))
        assert saved["profile"] == cli
        assert saved["dataset"] == "liver_transplant"


def test_html_is_self_contained(zh_report):
    page = zh_report.html.read_text(encoding="utf-8")
    # plotly.js inlined exactly once, however many charts.
    assert page.count("plotly.js v") == 1
    assert page.count('id="mv-') >= 4
    # Outside that bundle (whose source mentions map-tile servers it never loads here),
    # nothing is loaded from the network. Links a reader may follow (the sources of the
    # comparable trades) are <a href>, which load nothing.
    bundle_start = page.index("plotly.js v")
    bundle_end = page.index("</script>", bundle_start)
    rest = page[:bundle_start] + page[bundle_end:]
    assert not re.search(r"src\s*=\s*[\"']?(https?:)?//", rest)
    assert not re.search(r"<link[^>]*href\s*=\s*[\"']?(https?:)?//", rest)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", rest)
    links = re.findall(r"<a [^>]*href=\"(https?://[^\"]+)\"", rest)
    assert links and all('target="_blank"' in a for a in re.findall(r"<a [^>]*>", rest))
    assert "cdn" not in rest.lower()


def test_both_languages(zh_report, en_report):
    zh, en = zh_report.html.read_text(encoding="utf-8"), en_report.html.read_text(encoding="utf-8")
    assert "数据集价值评估报告" in zh and 'lang="zh"' in zh
    assert "Dataset valuation report" in en and "数据集价值评估报告" not in en
    for word in ("完整性", "规范性", "价格区间", "发布结论"):
        assert word in zh


def test_every_section_is_built(en_report):
    page = en_report.html.read_text(encoding="utf-8")
    assert "Not built yet" not in page
    assert "Price band" in page and " CNY" in page  # the price card
    assert "ICD-10 chapters; most common" in page  # the coverage card is built
    assert "De-identified only" in page  # the privacy card is built
    assert "AI-training readiness" in page and " / 100" in page  # so is readiness


def test_coverage_section_in_the_report(en_report):
    saved = json.loads(en_report.json.read_text(encoding="utf-8"))
    assert saved["coverage"]["patients"] == 1200
    page = en_report.html.read_text(encoding="utf-8")
    assert 'id="mv-coverage-sunburst"' in page and 'id="mv-coverage-pyramid"' in page


def test_privacy_section_in_the_report(zh_report, en_report, run):
    for rendered, lang in ((zh_report, "zh"), (en_report, "en")):
        cli = json.loads(run("privacy", "--json", "--lang", lang, LIVER, "--spec", LIVER_SPEC).out)
        assert json.loads(rendered.json.read_text(encoding="utf-8"))["privacy"] == cli
    page = en_report.html.read_text(encoding="utf-8")
    assert 'id="mv-privacy-classes"' in page and 'id="mv-privacy-steps"' in page
    assert "Release verdict" in page and "Recommended generalisations" in page


def test_readiness_section_in_the_report(zh_report, en_report, run):
    for rendered, lang in ((zh_report, "zh"), (en_report, "en")):
        cli = json.loads(
            run("readiness", "--json", "--lang", lang, LIVER, "--spec", LIVER_SPEC).out
        )
        assert json.loads(rendered.json.read_text(encoding="utf-8"))["readiness"] == cli
    page = en_report.html.read_text(encoding="utf-8")
    for chart in ("balance", "samplesize", "curve", "calibration"):
        assert f'id="mv-readiness-{chart}"' in page


def test_pricing_section_in_the_report(zh_report, en_report, run):
    for rendered, lang in ((zh_report, "zh"), (en_report, "en")):
        saved = json.loads(rendered.json.read_text(encoding="utf-8"))
        cli = json.loads(
            run(
                "price", "--json", "--lang", lang, LIVER, "--spec", LIVER_SPEC, "--as-of", AS_OF
            ).out
        )
        assert saved["valuation"] == cli
    page = en_report.html.read_text(encoding="utf-8")
    assert 'id="mv-pricing-football"' in page and 'id="mv-pricing-tornado"' in page
    assert "order of magnitude" in page  # one priced comparable: said plainly


def test_report_passes_privacy_options(tmp_path, run):
    r = run("report", CAROTID, "--out", tmp_path, "--lang", "en", "--quasi", "sex,age",
            "--sensitive", "stroke_or_death_30d", "--k", "11")  # fmt: skip
    assert r.code == 0, r.err
    saved = json.loads((tmp_path / "carotid_stenting.json").read_text(encoding="utf-8"))
    assert saved["privacy"]["target_k"] == 11
    assert saved["privacy"]["tables"][0]["diversity"]["sensitive"] == "stroke_or_death_30d"
    r = run("report", CAROTID, "--out", tmp_path, "--k", "1")
    assert r.code == 2 and r.err.count("\n") == 1


@pytest.mark.browser
def test_report_renders_offline_in_chromium(zh_report):
    seen = open_in_browser(zh_report.html)
    assert seen["external"] == []
    assert seen["errors"] == []
    assert seen["charts"] == seen["chart_divs"] >= 12
    assert seen["rendered"] >= seen["charts"]  # every chart drew its SVG
    assert "质量得分" in seen["text"] and "发布结论" in seen["text"]


def test_no_absolute_path_or_secret_in_any_output(tmp_path, monkeypatch):
    data = tmp_path / "hospital_export"
    data.mkdir()
    shutil.copy(LIVER, data / "export.csv")
    secret = "s3cr3t-value-that-must-not-leak"
    monkeypatch.setenv("MEDVALUE_SECRET", secret)
    out = tmp_path / "out"
    render_valuation(
        (data / "export.csv").resolve(), spec=LIVER_SPEC.resolve(), out_dir=out, as_of=AS_OF
    )
    roots = {
        str(tmp_path),
        str(Path.home()),
        str(Path.cwd()),
        sys.prefix,
        str(LIVER.parent.resolve()),
    }
    for f in out.iterdir():
        body = f.read_text(encoding="utf-8")
        assert secret not in body
        for root in roots:
            assert root not in body, f"{root} appears in {f.name}"


def test_failing_cell_keeps_the_notebook_and_exits_1(tmp_path, run):
    template = nbformat.read(NOTEBOOKS[-1], as_version=4)
    params = next(c for c in template.cells if "parameters" in c.metadata.get("tags", []))
    nb = nbformat.v4.new_notebook()
    nb.cells = [params, nbformat.v4.new_code_cell('raise ValueError("boom")')]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ReportError, match=r"cell \d+ failed with ValueError: boom"):
        render_notebook(path, {}, out_dir=tmp_path / "out", name="broken")
    assert (tmp_path / "out" / "broken.failed.ipynb").exists()
    assert not (tmp_path / "out" / "broken.html").exists()
    r = run("report", LIVER, "--notebook", path, "--out", tmp_path / "out2")
    assert r.code == 1 and "failed with ValueError" in r.err


def test_parameters_checked_before_running(tmp_path, run):
    with pytest.raises(ParameterError, match="unknown parameter"):
        render_notebook("valuation_report", {"colour": "blue"}, out_dir=tmp_path, name="x")
    with pytest.raises(ParameterError, match="must be int"):
        render_notebook("valuation_report", {"small_cell": "five"}, out_dir=tmp_path, name="x")
    r = run("report", LIVER, "--as-of", "yesterday", "--out", tmp_path)
    assert r.code == 2 and "YYYY-MM-DD" in r.err
    r = run("report", tmp_path / "missing.csv", "--out", tmp_path)
    assert r.code == 2 and "no such file" in r.err
    assert not list(tmp_path.glob("*.html"))


def test_portfolio_index(tmp_path):
    folder = tmp_path / "county_hospital"
    shutil.copytree(COUNTY, folder)
    shutil.copy(COUNTY.parent / "county_hospital.spec.yaml", tmp_path / "county_hospital.spec.yaml")
    shutil.copy(CAROTID, tmp_path / "carotid_stenting.csv")
    shutil.copy(
        CAROTID.parent / "carotid_stenting.spec.yaml", tmp_path / "carotid_stenting.spec.yaml"
    )
    result = render_portfolio(
        [tmp_path / "carotid_stenting.csv", folder],
        out_dir=tmp_path / "out",
        as_of=AS_OF,
        lang="en",
    )
    index = result.index.read_text(encoding="utf-8")
    assert 'href="carotid_stenting.html"' in index and 'href="county_hospital.html"' in index
    assert "sortBy(" in index and "2,550" in index
    assert 'id="mv-portfolio-comparison"' in index  # patients per chapter, both datasets
    assert (tmp_path / "out" / "county_hospital.json").exists()
    # The spec beside the folder was used: its title reached the report.
    assert "County hospital neurology" in (tmp_path / "out" / "county_hospital.html").read_text(
        encoding="utf-8"
    )


@pytest.mark.browser
def test_portfolio_heatmap_renders_offline(tmp_path):
    from medvalue.present._report import Rendered, portfolio_index

    chapters = [{"chapter": "IX", "patients": 20}, {"chapter": "X", "patients": None}]
    fake = [Rendered(n, tmp_path / f"{n}.html", tmp_path / "x", tmp_path / "y", None, 0,
                     {"coverage": {"chapters": chapters}}) for n in ("a", "b")]  # fmt: skip
    page = tmp_path / "index.html"
    page.write_text(portfolio_index(fake, "zh"), encoding="utf-8")
    seen = open_in_browser(page)
    assert seen["external"] == [] and seen["errors"] == []
    assert seen["charts"] == seen["chart_divs"] == 1 and seen["rendered"] >= 1


@pytest.mark.browser
def test_portfolio_table_sorts_in_the_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    from medvalue.present._report import Rendered, portfolio_index

    fake = [
        Rendered(
            n,
            tmp_path / f"{n}.html",
            tmp_path / "x",
            tmp_path / "y",
            None,
            0,
            {"profile": {"size": {"rows": r, "patients": r}, "quality": {"score": q}}},
        )
        for n, r, q in (("a", 10, 90.0), ("b", 30, 70.0), ("c", 20, 80.0))
    ]
    page_path = tmp_path / "index.html"
    page_path.write_text(portfolio_index(fake, "en"), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_browser(), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(page_path.as_uri())
        page.click("th:nth-child(2)")
        first = page.inner_text("#catalogue tbody tr:first-child td:first-child")
        page.click("th:nth-child(2)")
        again = page.inner_text("#catalogue tbody tr:first-child td:first-child")
        browser.close()
    assert (first, again) == ("a", "b")


@pytest.mark.browser
def test_pdf(tmp_path):
    require_browser()
    r = render_valuation(CAROTID, out_dir=tmp_path, as_of=AS_OF, pdf=True, lang="zh")
    assert r.pdf is not None and r.pdf.read_bytes()[:5] == b"%PDF-"


def test_pdf_without_chromium_is_a_clear_error(tmp_path, monkeypatch, en_report):
    import medvalue.present._report as report

    monkeypatch.setattr(report, "find_chromium", lambda: None)
    with pytest.raises(MedvalueError, match="--pdf needs Chromium"):
        report.print_pdf(en_report.html, tmp_path / "x.pdf")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_runs_on_the_sample(tmp_path, path):
    params = {"as_of": AS_OF, "lang": "en"}
    if path.stem == "07_refine":  # it writes a product: into the test's folder, not reports/
        params["refined_path"] = str(tmp_path / "product")
    r = render_notebook(path, params, out_dir=tmp_path, name=path.stem)
    keys = ("profile", "coverage", "privacy", "readiness", "valuation", "targets", "refined", "pool")
    assert any(r.results.get(k) for k in keys)
    assert r.html.exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_thin_templates(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None
        assert not re.search(r"^\s*(def|class) ", c.source, re.M)
        assert "import polars" not in c.source


def test_catalogue_has_both_languages_with_the_same_placeholders():
    fields = re.compile(r"{(\w+)}")
    for section, entries in catalogue().items():
        for key, entry in entries.items():
            for prefix in ("", "fix_"):
                if f"{prefix}en" in entry or f"{prefix}zh" in entry:
                    en, zh = entry[f"{prefix}en"], entry[f"{prefix}zh"]
                    assert set(fields.findall(en)) == set(fields.findall(zh)), f"{section}.{key}"


def test_kernel_is_named_explicitly():
    from medvalue.present._report import kernel_name

    assert kernel_name() in ("medvalue", "python3")


def test_report_with_own_code_lists_and_reference(tmp_path, run):
    lists = tmp_path / "lists.yaml"
    lists.write_text("cirrhosis: {en: Cirrhosis, zh: 肝硬化, prefixes: [K74]}\n", encoding="utf-8")
    ref = tmp_path / "ref.csv"
    rows = [f"{a}-{a + 4},{s},1" for a in range(0, 90, 5) for s in "MF"] + ["90+,M,1", "90+,F,1"]
    ref.write_text("band,sex,share\n" + "\n".join(rows) + "\n", encoding="utf-8")
    r = render_valuation(LIVER, spec=LIVER_SPEC, out_dir=tmp_path / "out", as_of=AS_OF, lang="en",
                         codes=lists, reference=ref)  # fmt: skip
    cov = r.results["coverage"]
    assert [c["name"] for c in cov["code_lists"]] == ["cirrhosis"]
    assert 0 < cov["reference"]["tvd"] < 1
    assert "total variation distance" in r.html.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("x: {prefixes: []}\n", encoding="utf-8")
    out = run("report", LIVER, "--codes", bad, "--out", tmp_path / "out2")
    assert out.code == 2 and "prefixes" in out.err
