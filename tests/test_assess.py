"""The one orchestrator: assess(dataset, options) runs the chain the CLI, refine and the
notebooks share, with options from code, flags or the spec's assess: section."""

from __future__ import annotations

import json
import shutil

import pytest

import medvalue as mv
from medvalue.core._errors import ParameterError
from tests.conftest import LIVER, LIVER_SPEC

AS_OF = "2026-06-30"


@pytest.fixture(scope="module")
def liver():
    return mv.load_dataset(LIVER, spec=LIVER_SPEC)


def test_assess_equals_the_analyses_run_one_by_one(liver):
    options = mv.AssessOptions(as_of=AS_OF, label="death_90d", k=3, price_seed=7)
    a = mv.assess(liver, options)
    prof = mv.profile(liver, as_of=AS_OF)
    cov = mv.coverage(liver)
    ready = mv.readiness(liver, "death_90d", strict=False)
    priv = mv.privacy(liver, k=3)
    val = mv.price(liver, profile=prof, coverage=cov, readiness=ready, privacy=priv,
                   as_of=AS_OF, seed=7)  # fmt: skip
    assert a.profile.to_dict() == prof.to_dict()
    assert a.coverage.to_dict() == cov.to_dict()
    assert a.readiness.to_dict() == ready.to_dict()
    assert a.privacy.to_dict("en") == priv.to_dict("en")
    assert a.valuation is not None and a.valuation.to_dict() == val.to_dict()
    json.dumps(a.to_dict())  # the whole assessment is one JSON object
    assert f"{val.band[0]:,.0f}" in repr(a)


def test_no_price_when_asked(liver):
    assert mv.assess(liver, mv.AssessOptions(as_of=AS_OF, price=False)).valuation is None


def _spec_with(tmp_path, section: str):
    folder = tmp_path / "d"
    folder.mkdir()
    shutil.copy(LIVER, folder / LIVER.name)
    text = LIVER_SPEC.read_text(encoding="utf-8") + section
    (folder / "liver_transplant.spec.yaml").write_text(text, encoding="utf-8")
    return folder / LIVER.name


def test_options_come_from_the_spec_with_paths_beside_it(tmp_path, run):
    data = _spec_with(
        tmp_path, "assess:\n  k: 11\n  comparables: trades.csv\n  as_of: 2026-06-30\n"
    )
    ds = mv.load_dataset(data, spec=data.parent / "liver_transplant.spec.yaml")
    options = mv.AssessOptions.from_spec(ds.spec)
    assert options.k == 11 and options.as_of == "2026-06-30"
    assert options.comparables == str(data.parent / "trades.csv")
    # The command line reads the same section, and a flag given wins over it.
    assert json.loads(run("privacy", data, "--json").out)["target_k"] == 11
    assert json.loads(run("privacy", data, "--k", "4", "--json").out)["target_k"] == 4


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("assess:\n  kk: 3\n", ["unknown option 'kk'"]),
        ("assess:\n  k: five\n", ["'k' is 'five'", "whole number"]),
        ("assess:\n  exclusive: 1\n", ["'exclusive'", "true or false"]),
        ("assess:\n  small_cell: 1\n", ["small_cell", "--small-cell"]),
        ("assess: [1]\n", ["'assess' must be a mapping"]),
    ],
)
def test_a_bad_assess_section_is_one_line_naming_the_spec(tmp_path, run, section, words):
    data = _spec_with(tmp_path, section)
    result = run("price", data)
    assert result.code == 2, result.err
    line = result.err.strip()
    assert "\n" not in line and "liver_transplant.spec.yaml" in line and "Traceback" not in line
    for word in words:
        assert word in line


def test_options_reject_unknown_names_in_code():
    with pytest.raises(ParameterError) as err:
        mv.AssessOptions.from_mapping({"label": "x", "colour": "red"}, source="params")
    assert err.value.path == "params" and "colour" in str(err.value)


def test_replace_keeps_what_is_not_given():
    o = mv.AssessOptions(k=9, label="y")
    assert o.replace(k=None, label="z") == mv.AssessOptions(k=9, label="z")
    assert o.replace(exclusive=False).exclusive is False


def test_an_assessment_shows_itself_as_the_report_sections(liver):
    a = mv.assess(liver, mv.AssessOptions(as_of=AS_OF))
    page = str(a.html("en"))
    for heading in ("Executive summary", "5. What is it worth?"):
        assert f"<h2>{heading}</h2>" in page
    assert page.count('<div class="mv">') == 6  # summary, four analyses, the price
    assert "text/html" in a._repr_mimebundle_()
