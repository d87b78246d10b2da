"""The reports as a reader sees them: screenshots in Chromium, on screen and on A4 paper, in
Chinese and English, with the layout rules checked on the page itself.

- no element is wider than the page (nothing runs off the right edge);
- no text is clipped: a table cell, a card or a paragraph shows all it holds, and every chart
  label lies inside its chart;
- the PDF is A4, every page draws, and nothing is printed past the right margin.

Screenshots go to the test's temporary folder (kept by pytest for the last runs), for a person
to look at.
"""

from __future__ import annotations

import pytest

from medvalue.core._config import SAMPLE_DIR
from medvalue.present._report import print_pdf, render_targets, render_valuation
from tests.conftest import COUNTY, LIVER, LIVER_SPEC, require_browser

AS_OF = "2026-06-30"
A4_POINTS = (595.0, 842.0)

#: Found on the page: elements past its right edge, clipped text, chart text outside its chart.
LAYOUT_PROBLEMS = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = [], clipped = [], outside = [];
  const name = el => el.tagName.toLowerCase() + (el.className && typeof el.className === 'string'
    ? '.' + el.className.split(' ')[0] : '') + ': ' + (el.textContent || '').trim().slice(0, 40);
  for (const el of document.querySelectorAll('.mv *')) {
    if (el.closest('svg')) continue;
    const box = el.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 1) wide.push(name(el));
    const style = getComputedStyle(el);
    if (['hidden', 'clip'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1
        && el.textContent.trim()) clipped.push(name(el));
  }
  for (const chart of document.querySelectorAll('.js-plotly-plot')) {
    const frame = chart.getBoundingClientRect();
    for (const t of chart.querySelectorAll('svg text')) {
      const box = t.getBoundingClientRect();
      if (!t.textContent.trim() || box.width === 0) continue;
      if (box.left < frame.left - 1 || box.right > frame.right + 1)
        outside.push(chart.id + ': ' + t.textContent.trim().slice(0, 40));
    }
  }
  return {wide: wide.slice(0, 10), clipped: clipped.slice(0, 10), outside: outside.slice(0, 10)};
}
"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("layout")
    made = {}
    for lang in ("zh", "en"):
        made[f"liver-{lang}"] = render_valuation(LIVER, spec=LIVER_SPEC, out_dir=out, as_of=AS_OF,
                                                 lang=lang, name=f"liver-{lang}").html  # fmt: skip
    made["county-zh"] = render_valuation(COUNTY, out_dir=out, as_of=AS_OF, lang="zh",
                                         name="county-zh").html  # fmt: skip
    made["profile-en"] = render_valuation(LIVER, spec=LIVER_SPEC, out_dir=out, as_of=AS_OF, lang="en",
                                          notebook="01_profile", name="profile-en").html  # fmt: skip
    made["targets-zh"] = render_targets(SAMPLE_DIR / "regional_registry.csv", SAMPLE_DIR / "targets.yaml",
                                        out_dir=out, as_of=AS_OF, lang="zh", name="targets-zh").html  # fmt: skip
    return out, made


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", [1200, 718], ids=["screen", "a4-width"])
def test_no_element_is_wider_than_the_page_and_no_text_is_clipped(reports, width):
    from playwright.sync_api import sync_playwright

    out, made = reports
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_browser(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 1000})
        for name, html in made.items():
            page.goto(html.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length > 0"
            )
            page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True)
            problems = page.evaluate(LAYOUT_PROBLEMS)
            assert problems == {"wide": [], "clipped": [], "outside": []}, (name, width, problems)
        browser.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_pdf_is_a4_and_every_page_draws_inside_its_margins(reports):
    import pypdfium2 as pdfium

    require_browser()
    out, made = reports
    for name in ("liver-zh", "targets-zh"):
        pdf = print_pdf(made[name], out / f"{name}.pdf")
        doc = pdfium.PdfDocument(pdf)
        assert len(doc) >= 2
        for i in range(len(doc)):
            page = doc[i]
            assert tuple(round(x) for x in page.get_size()) == tuple(round(x) for x in A4_POINTS)
            image = page.render(scale=1).to_pil().convert("L")
            image.save(out / f"{name}-page{i + 1}.png")
            ink = image.point(lambda v: 255 if v < 245 else 0).getbbox()
            assert ink is not None, f"{name}: page {i + 1} is blank"
            # Printed content stays left of the right margin (10 mm = 28 pt): nothing was cut.
            assert ink[2] <= A4_POINTS[0] - 20, f"{name}: page {i + 1} prints to {ink[2]} pt"


def test_no_report_shows_a_raw_dataframe(reports):
    # A polars or pandas repr in a report is a table nobody formatted: shape lines and dtype
    # rows, not the report's own tables.
    _, made = reports
    for name, html in made.items():
        page = html.read_text(encoding="utf-8")
        assert "shape: (" not in page and "<small>shape" not in page, name
        assert 'class="dataframe"' not in page, name
