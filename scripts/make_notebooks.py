"""Write the report notebooks (``make notebooks``). Notebooks are committed without outputs;
edit this file, not the .ipynb, so every notebook keeps the same parameters cell."""

from pathlib import Path

import nbformat as nbf
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

KERNEL = {
    "kernelspec": {"display_name": "Python (medvalue)", "language": "python", "name": "medvalue"},
    "language_info": {"name": "python"},
}

# The options of every analysis in one object: the spec's `assess:` section, with what is set
# in the parameters cell on top (an empty or None parameter leaves the spec's value).
OPTIONS = """options = mv.AssessOptions.from_spec(dataset.spec).replace(
    as_of=as_of or None, small_cell=small_cell, code_lists=codes_path or None,
    reference=reference_path or None, label=label or None, time=time or None, event=event or None,
    seed=seed, quasi_identifiers=tuple(quasi.split(",")) if quasi else None,
    sensitive=sensitive or None, k=k_target, population=population_path or None,
    comparables=comparables_path or None, costs=costs_path or None, rates=rates_path or None,
    currency=currency or None, exclusive=exclusive or None)"""

PROFILE = "profile = mv.profile(dataset, as_of=options.as_of, small_cell=options.small_cell)"
COVERAGE = """coverage = mv.coverage(dataset, code_lists=options.code_lists, reference=options.reference,
                       small_cell=options.small_cell)"""
PRIV = """privacy = mv.privacy(dataset, quasi_identifiers=options.quasi_identifiers, sensitive=options.sensitive,
                     k=options.k, population=options.population, small_cell=options.small_cell)"""
READY = """readiness = mv.readiness(dataset, options.label, time=options.time, event=options.event, seed=options.seed,
                         small_cell=options.small_cell, strict=False)"""
PRICE = """valuation = mv.price(dataset, comparables=options.comparables, costs=options.costs, rates=options.rates,
                     currency=options.currency, exclusive=options.exclusive, profile=profile,
                     readiness=readiness, coverage=coverage, privacy=privacy, as_of=str(profile.as_of))"""

PARAMS = """data_path = "data/sample/liver_transplant.csv"  # a file or a folder of tables
spec_path = ""  # spec YAML, or "" for the <name>.spec.yaml beside the data (else roles are inferred)
encoding = ""  # force a text encoding (utf-8, gb18030), or "" to detect it
as_of = ""  # valuation date YYYY-MM-DD, or "" for today
lang = "zh"  # report language: "zh" or "en"
small_cell = 5  # counts of fewer people than this are never shown
codes_path = ""  # named ICD-10 code lists (YAML), or "" for the lists that ship with medvalue
reference_path = ""  # reference age-sex shares (CSV: band, sex, share), or "" for none
quasi = ""  # quasi-identifier columns, comma-separated (column or table.column), or "" for the spec's
sensitive = ""  # sensitive column for l-diversity and t-closeness, or "" for none
k_target = None  # privacy target: every group sharing quasi-identifiers at least this large; None: the spec's, else 5
population_path = ""  # population counts for journalist risk (CSV: quasi-identifiers + count), or ""
label = ""  # outcome column for AI readiness, or "" for the spec's label
time = ""  # follow-up time column (makes the label a time-to-event outcome), "none", or "" for the table's follow-up column
event = ""  # label value counted as the event, or "" for the spec's (or inferred from a two-level label)
seed = None  # seed for cross-validation folds, subsamples and the learning curve; None: the spec's, else 0
comparables_path = ""  # comparables registry (CSV or Excel), or "" for the public one
costs_path = ""  # pricing inputs (YAML) overriding the illustrative defaults, or ""
rates_path = ""  # dated exchange rates (CSV), or "" for the illustrative ones shipped
currency = ""  # currency of the price band, or "" for the spec's (else CNY)
exclusive = False  # price an exclusive licence instead of a non-exclusive one
refined_path = ""  # 07_refine: a new folder for the refined product, or "" for reports/<dataset>-refined
secret_env = "MEDVALUE_SECRET"  # 07_refine: environment variable holding the pseudonym key"""


def nb(cells):
    # Stable cell ids: regenerating a notebook changes only what was edited.
    for i, cell in enumerate(cells):
        cell["id"] = f"cell-{i:02d}"
    return new_notebook(cells=cells, metadata=KERNEL)


def opening():
    """The cells every dataset notebook starts with: parameters, imports, the dataset."""
    return [
        params_cell(PARAMS),
        new_code_cell("import medvalue as mv\nfrom medvalue.present import views"),
        new_code_cell(
            "dataset = mv.open_dataset(data_path, spec_path or None, encoding=encoding or None)\n"
            "views.page_start(dataset, lang, as_of or None)"
        ),
        new_code_cell(OPTIONS),
    ]


def write(notebook, name):
    """Each notebook twice: in notebooks/ (users open it in JupyterLab) and inside the
    package (medvalue report runs it from an installed wheel); a test keeps them equal."""
    for folder in ("notebooks", "medvalue/notebooks"):
        Path(folder).mkdir(exist_ok=True)
        nbf.write(notebook, f"{folder}/{name}")


def params_cell(src):
    c = new_code_cell(src)
    c.metadata["tags"] = ["parameters"]
    return c


valuation = nb(
    [
        new_markdown_cell(
            "# Dataset valuation report\n\nA papermill template: `medvalue report PATH` runs it. "
            "Each section is one call into `medvalue` and one display; the analyses live in the package."
        ),
        *opening(),
        new_markdown_cell("## Profile, coverage, readiness, privacy and price"),
        new_code_cell(
            "assessment = mv.assess(dataset, options)\n"
            "profile, coverage, readiness = assessment.profile, assessment.coverage, assessment.readiness\n"
            "privacy, valuation = assessment.privacy, assessment.valuation"
        ),
        new_markdown_cell("## Executive summary and sections"),
        new_code_cell(
            "views.executive_summary(lang, profile=profile, coverage=coverage, readiness=readiness,\n"
            "                        privacy=privacy, valuation=valuation)"
        ),
        new_code_cell("views.profile_section(profile, lang)"),
        new_code_cell("views.coverage_section(coverage, lang)"),
        new_code_cell("views.readiness_section(readiness, lang)"),
        new_code_cell("views.privacy_section(privacy, lang)"),
        new_code_cell("views.pricing_section(valuation, lang)"),
        new_markdown_cell("## Methods, parameters and the results file"),
        new_code_cell("views.methods(lang, options.small_cell)"),
        new_code_cell(
            'views.parameters({"data_path": data_path, "spec_path": spec_path, "encoding": encoding,\n'
            '                   "as_of": str(profile.as_of), "lang": lang, "small_cell": options.small_cell,\n'
            '                   "quasi": quasi, "sensitive": sensitive, "k_target": options.k,\n'
            '                   "population_path": population_path, "label": label, "time": time,\n'
            '                   "event": event, "seed": options.seed, "comparables_path": comparables_path,\n'
            '                   "costs_path": costs_path, "rates_path": rates_path, "currency": valuation.currency,\n'
            '                   "exclusive": options.exclusive}, lang)'
        ),
        new_code_cell(
            "views.results(lang=lang, dataset=dataset.name, as_of=str(profile.as_of), profile=profile,\n"
            "              coverage=coverage, readiness=readiness, privacy=privacy, valuation=valuation)"
        ),
    ]
)
write(valuation, "valuation_report.ipynb")

cov = nb(
    [
        new_markdown_cell(
            "# Coverage: which diseases and which people\n\nICD-10 chapters, blocks and categories, "
            "code-list cohorts, comorbidity pairs and demographics, every count of people passed "
            "through the small-cell rule. `medvalue report PATH --notebook 02_coverage`."
        ),
        *opening(),
        new_code_cell(COVERAGE),
        new_code_cell("views.coverage_section(coverage, lang)"),
        new_code_cell("views.results(lang=lang, dataset=dataset.name, coverage=coverage)"),
    ]
)
write(cov, "02_coverage.ipynb")

prof = nb(
    [
        new_markdown_cell(
            "# Profile: size, completeness and quality\n\nParameters: the data, its spec, the valuation date "
            "and the language. Run it in JupyterLab, or `medvalue report PATH --notebook 01_profile`."
        ),
        *opening(),
        new_code_cell(PROFILE),
        new_code_cell("views.profile_section(profile, lang)"),
        new_code_cell(
            "views.results(lang=lang, dataset=dataset.name, as_of=str(profile.as_of), profile=profile)"
        ),
    ]
)
write(prof, "01_profile.ipynb")

priv = nb(
    [
        new_markdown_cell(
            "# Privacy: identifiers, re-identification risk and what to generalise\n\n"
            "Direct identifiers (kinds and counts only), k-anonymity and ARX risks per released table, "
            "l-diversity and t-closeness for a sensitive column, the recommended generalisations and "
            "the release verdict. `medvalue report PATH --notebook 04_privacy`; "
            "`medvalue privacy PATH --apply --k 5 --out NEW` writes the generalised copy."
        ),
        *opening(),
        new_code_cell(PRIV),
        new_code_cell("views.privacy_section(privacy, lang)"),
        new_code_cell("views.results(lang=lang, dataset=dataset.name, privacy=privacy)"),
    ]
)
write(priv, "04_privacy.ipynb")

ready = nb(
    [
        new_markdown_cell(
            "# AI-training readiness: is it enough data, and is there signal?\n\n"
            "Label balance, Riley's minimum sample size for the candidate predictors, a cross-validated "
            "baseline model, the learning curve and what more data would add, leakage, and the 0-100 "
            "readiness score. `medvalue report PATH --notebook 03_readiness --label COL`."
        ),
        *opening(),
        new_code_cell(READY),
        new_code_cell("views.readiness_section(readiness, lang)"),
        new_code_cell("views.results(lang=lang, dataset=dataset.name, readiness=readiness)"),
    ]
)
write(ready, "03_readiness.ipynb")

pricing = nb(
    [
        new_markdown_cell(
            "# Price band: what to ask for this dataset, and why\n\n"
            "Comparable trades adjusted with the China Appraisal Society's correction factors, a hedonic "
            "regression when the registry allows it, the cost and income approaches, a seeded Monte Carlo, "
            "the football field and the tornado. Set `comparables_path` to "
            "`data/sample/comparables_synthetic.csv` to see the hedonic regression on the synthetic "
            "tutorial registry (never for a real price). `medvalue report PATH --notebook 05_pricing`."
        ),
        *opening(),
        new_code_cell(
            "assessment = mv.assess(dataset, options.replace(price=False))\n"
            "profile, coverage, readiness = assessment.profile, assessment.coverage, assessment.readiness\n"
            "privacy = assessment.privacy"
        ),
        new_code_cell(PRICE),
        new_code_cell("views.pricing_section(valuation, lang)"),
        new_markdown_cell(
            "## Tutorial: the hedonic regression on the synthetic registry\n\n"
            "The public registry has too few priced, sized trades for a regression. The synthetic registry, "
            "drawn from a known model, shows what the regression does when there are enough."
        ),
        new_code_cell(
            'tutorial = mv.price(dataset, comparables=mv.locate("data/sample/comparables_synthetic.csv"), profile=profile,\n'
            "                    coverage=coverage, readiness=readiness, as_of=str(profile.as_of))\n"
            "views.hedonic_tutorial(tutorial, lang)"
        ),
        new_code_cell("views.results(lang=lang, dataset=dataset.name, valuation=valuation)"),
    ]
)
write(pricing, "05_pricing.ipynb")

TARGET_PARAMS = '''registry_path = "data/sample/regional_registry.csv"  # product registry (CSV or Excel): one row per status event
targets_path = "data/sample/targets.yaml"  # targets (YAML or CSV): region, year, products, transactions, value
as_of = ""  # progress date YYYY-MM-DD, or "" for today
lang = "zh"  # report language: "zh" or "en"'''

regional = nb(
    [
        new_markdown_cell(
            "# Regional data-product targets\n\nFor planners: a region's data products against its yearly "
            "targets (products released, transactions, value), with year-end forecasts, the funnel, "
            "breakdowns and registry problems. `medvalue report REGISTRY --targets T`."
        ),
        params_cell(TARGET_PARAMS),
        new_code_cell("import medvalue as mv\nfrom medvalue.present import views"),
        new_code_cell(
            "progress = mv.targets(mv.locate(registry_path), mv.locate(targets_path), as_of=as_of or None)\n"
            "views.targets_page_start(progress.title(lang), lang, progress.as_of)"
        ),
        new_code_cell("views.targets_section(progress, lang)"),
        new_code_cell("views.results(lang=lang, targets=progress)"),
    ]
)
write(regional, "06_regional_targets.ipynb")

refine = nb(
    [
        new_markdown_cell(
            "# Refine: from a raw export to a listing-ready data product\n\n"
            "Codes normalised, dates parsed, impossible values and duplicates removed, identifiers dropped, "
            "ids replaced by keyed pseudonyms (the key is read from the environment variable named by "
            "`secret_env`, never written), quasi-identifiers generalised to reach `k_target`; then the "
            "data dictionary and the datacard. The input is never touched. "
            "`medvalue refine PATH --out DIR` does the same from the command line."
        ),
        *opening(),
        new_code_cell(
            'refined = mv.refine(dataset, refined_path or f"reports/{dataset.name}-refined", k=options.k,\n'
            "                    secret_env=secret_env, quasi_identifiers=options.quasi_identifiers,\n"
            "                    label=options.label, as_of=options.as_of, comparables=options.comparables,\n"
            "                    small_cell=options.small_cell)"
        ),
        new_code_cell("views.refine_section(refined, lang)"),
        new_code_cell("views.results(lang=lang, dataset=dataset.name, refined=refined)"),
    ]
)
write(refine, "07_refine.ipynb")

POOL_PARAMS = """spec_path = "data/sample/county_pool/pool.yaml"  # pool spec (YAML): linkage key, label, weights, sites
sites = ""  # sites separated by semicolons, each a path (or a name, an equals sign and a path); empty for the pool spec's sites
as_of = ""  # valuation date YYYY-MM-DD, or "" for today
lang = "zh"  # report language: "zh" or "en"
small_cell = 5  # counts of fewer people than this are never shown
comparables_path = ""  # comparables registry (CSV or Excel), or "" for the public one
secret_env = ""  # environment variable holding the sites' shared linkage key, or "" for the pool spec's
permutations = 200  # random orders for the Shapley estimate beyond 10 sites
seed = 0  # seed for the models and the random orders"""

pooled = nb(
    [
        new_markdown_cell(
            "# Pooled product: several hospitals' data as one product\n\n"
            "How many distinct people the sites hold together (linked by keyed pseudonyms of a shared "
            "linkage key, read from the environment variable the pool spec names), what each site adds "
            "(Shapley values for people, ICD-10 categories and the baseline model), a revenue split beside "
            "the naive ones, and the pooled product's coverage, readiness, privacy and price. "
            "`medvalue pool --spec POOL.yaml --report reports/` renders it from the command line."
        ),
        params_cell(POOL_PARAMS),
        new_code_cell("import medvalue as mv\nfrom medvalue.present import views"),
        new_code_cell(
            "pooled = mv.pool(sites or None, spec=mv.locate(spec_path) if spec_path else None, as_of=as_of or None,\n"
            "                 small_cell=small_cell, comparables=comparables_path or None,\n"
            "                 secret_env=secret_env or None, permutations=permutations, seed=seed)\n"
            "views.pool_page_start(pooled, lang, as_of or None)"
        ),
        new_code_cell("views.pool_section(pooled, lang)"),
        new_markdown_cell("## The pooled product as one dataset"),
        new_code_cell("views.assessment_section(pooled.assessment, lang)"),
        new_code_cell("views.results(lang=lang, pool=pooled)"),
    ]
)
write(pooled, "08_pool.ipynb")
