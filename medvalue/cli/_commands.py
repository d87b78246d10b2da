"""The ``medvalue`` command: a thin caller of the package's public functions.

Exit codes: 0 success, 2 a user error (one line on stderr naming the problem and the fix),
1 a bug (with a traceback, so it can be reported).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from medvalue.core._config import DEFAULT_LANG, LANGUAGES, SMALL_CELL_THRESHOLD
from medvalue.core._config import VERSION as __version__
from medvalue.core._errors import MedvalueError

if TYPE_CHECKING:
    from medvalue.read._dataset import Dataset
    from medvalue.value._assess import AssessOptions

# What a command needs is imported when it runs: `medvalue --help` loads click and no more.


def _dataset_options(func: Callable[..., Any]) -> Callable[..., Any]:
    @click.argument("path", type=click.Path(path_type=str))
    @click.option(
        "--spec",
        "spec_path",
        type=click.Path(path_type=str),
        help="Spec YAML overriding inferred roles.",
    )
    @click.option("--encoding", default=None, help="Force the text encoding (utf-8, gb18030, gbk).")
    @_format_option
    @_engine_option
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _remember_format(kwargs.pop("data_format"))
        kwargs["path"] = _on_engine(kwargs["path"], kwargs.pop("engine"))
        return func(*args, **kwargs)

    return wrapper


_format_option = click.option(
    "--format",
    "data_format",
    type=click.Choice(["omop", "fhir"]),
    default=None,
    help="Read as OMOP CDM or FHIR (default: recognised from the files).",
)


_engine_option = click.option(
    "--engine",
    type=click.Choice(["polars", "spark"]),
    default="polars",
    show_default=True,
    help="spark: the data stays in Spark (PATH may be spark:db.table or spark:db); "
    "only aggregates reach this machine. Needs pip install 'medvalue[spark]'.",
)


def _on_engine(path: str, engine: str) -> str:
    """``path`` as the source ``--engine`` reads: with ``spark``, read by Spark."""
    return "spark:" + path if engine == "spark" and not path.startswith("spark:") else path


def _remember_format(fmt: str | None) -> None:
    # Every dataset command reads through _load; the format rides on the click context.
    click.get_current_context().meta["medvalue.format"] = fmt


_as_of_option = click.option(
    "--as-of", "as_of", default=None, help="Valuation date (YYYY-MM-DD); default today."
)
_codes_option = click.option(
    "--codes", "codes_path", type=click.Path(path_type=str), help="Named ICD-10 code lists (YAML)."
)
_reference_option = click.option(
    "--reference",
    "reference_path",
    type=click.Path(path_type=str),
    help="Reference age-sex shares to compare with (CSV: band, sex, share).",
)
_small_cell_option = click.option(
    "--small-cell",
    type=click.IntRange(min=1),
    default=SMALL_CELL_THRESHOLD,
    show_default=True,
    help="Hide counts of people below this.",
)


_quasi_option = click.option(
    "--quasi",
    default=None,
    help="Quasi-identifier columns, comma-separated (column or table.column); default: the spec's.",
)
_sensitive_option = click.option(
    "--sensitive", default=None, help="Sensitive column for l-diversity and t-closeness."
)
_population_option = click.option(
    "--population",
    "population_path",
    type=click.Path(path_type=str),
    help="Population counts (CSV: the quasi-identifier columns plus count) for journalist risk.",
)
_k_option = click.option(
    "--k",
    "k",
    type=int,
    default=None,
    help="Target k: every group of people at least this large (default: the spec's, else 5).",
)
_max_suppression_option = click.option(
    "--max-suppression",
    type=float,
    default=0.01,
    show_default=True,
    help="Share of records whose quasi-identifiers may be blanked to reach k.",
)
_time_option = click.option(
    "--time",
    "time_col",
    default=None,
    help="Follow-up time column: makes the label a time-to-event outcome (event 0/1).",
)
_event_option = click.option(
    "--event",
    default=None,
    help="Label value that counts as the event (default: the spec's event, or inferred for a "
    "two-level label); other levels of a time-to-event label are competing events.",
)
_comparables_option = click.option(
    "--comparables",
    "comparables_path",
    type=click.Path(path_type=str),
    help="Comparables registry (CSV or Excel); default: the public registry shipped with medvalue.",
)
_costs_option = click.option(
    "--costs",
    "costs_path",
    type=click.Path(path_type=str),
    help="Pricing inputs (YAML) overriding the illustrative defaults.",
)
_rates_option = click.option(
    "--rates",
    "rates_path",
    type=click.Path(path_type=str),
    help="Dated exchange rates (CSV: date, currency, per_unit_in, rate).",
)
_exclusive_option = click.option(
    "--exclusive", is_flag=True, help="Price an exclusive licence instead of a non-exclusive one."
)


def _options(ds: Dataset, **given: Any) -> AssessOptions:
    """The spec's ``assess:`` options with what was given on the command line on top."""
    from medvalue.value._assess import AssessOptions

    return AssessOptions.from_spec(ds.spec).replace(**given)


def _load(path: str, spec_path: str | Path | None, encoding: str | None) -> Dataset:
    from medvalue.read._dataset import load_dataset

    ctx = click.get_current_context(silent=True)
    fmt = ctx.meta.get("medvalue.format") if ctx is not None else None
    return load_dataset(path, spec=spec_path, encoding=encoding, format=fmt)


def spec_beside(path: str) -> Path | None:
    from medvalue.read._spec import spec_beside as beside

    return beside(path)


def _emit_json(obj: dict[str, Any]) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _show(result: Any, as_json: bool, lang: str, summary: str) -> None:
    """One JSON object, or the console summary named ``summary`` in medvalue.present._text."""
    if as_json:
        _emit_json(result.to_dict(lang))
        return
    from medvalue.present import _text as text

    _console().print(getattr(text, summary)(result, lang=lang))


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=110)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medvalue")
def cli() -> None:
    """Profile, check and value clinical datasets; render reports for finance teams.

    Long commands say on the terminal when they start and end; --quiet (anywhere on the
    line) turns that off, and --json output is never mixed with it."""


@cli.command()
@_dataset_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect(path: str, spec_path: str | None, encoding: str | None, as_json: bool) -> None:
    """Tables, rows, columns, detected encoding and inferred roles."""
    from medvalue.read._inspect import inspect_dataset

    result = inspect_dataset(_load(path, spec_path or spec_beside(path), encoding))
    if as_json:
        _emit_json(result.to_dict())
        return
    from rich.table import Table as RichTable

    console = _console()
    standard = f" ({result.standard_name})" if result.standard else ""
    console.print(
        f"[bold]{path}[/bold]  format: {result.format}{standard}  encoding: {result.encoding or '-'}"
    )
    for t in result.tables:
        table = RichTable(
            title=f"{t.name}: {t.rows:,} rows x {len(t.columns)} columns", title_justify="left"
        )
        for head in ("column", "type", "role", "evidence", "confidence", "why"):
            table.add_column(head)
        for c in t.columns:
            extra = f" ({c.detail})" if c.detail else ""
            evidence = f"[yellow]{c.evidence}[/yellow]" if c.evidence == "conflict" else c.evidence
            table.add_row(
                c.name, c.dtype, c.role + extra, evidence, f"{c.confidence:.2f}", c.note or ""
            )
        console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note[/yellow] {note}")


@cli.command()
@_dataset_options
@click.option(
    "-o", "--output", type=click.Path(path_type=str), help="Write to a file instead of stdout."
)
def spec(path: str, spec_path: str | None, encoding: str | None, output: str | None) -> None:
    """Write a starter spec (YAML) to edit and pass back with --spec."""
    text = _load(path, spec_path, encoding).spec.to_yaml()
    if output:
        from medvalue.core._files import write_atomic

        write_atomic(Path(output), text.encode("utf-8"))
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@_dataset_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_as_of_option
@_small_cell_option
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def profile(
    path: str,
    spec_path: str | None,
    encoding: str | None,
    as_json: bool,
    as_of: str | None,
    small_cell: int,
    lang: str,
) -> None:
    """Size, completeness, quality score and findings."""
    from medvalue.analyses._profile import profile as run_profile

    ds = _load(path, spec_path or spec_beside(path), encoding)
    options = _options(ds, as_of=as_of, small_cell=small_cell)
    result = run_profile(ds, as_of=options.as_of, small_cell=options.small_cell)
    if as_json:
        _emit_json(result.to_dict(lang=lang))
        return
    from medvalue.present._text import profile_summary

    _console().print(profile_summary(result, lang=lang))


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--spec", "spec_path", type=click.Path(path_type=str), help="Spec YAML (one dataset)."
)
@click.option("--encoding", default=None, help="Force the text encoding.")
@_format_option
@_engine_option
@_codes_option
@_reference_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_small_cell_option
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def coverage(
    paths: tuple[str, ...],
    spec_path: str | None,
    encoding: str | None,
    data_format: str | None,
    engine: str,
    codes_path: str | None,
    reference_path: str | None,
    as_json: bool,
    small_cell: int,
    lang: str,
) -> None:
    """Diseases (ICD-10 chapters, categories, code lists) and people a dataset covers."""
    from medvalue.analyses._coverage import comparison, load_code_lists, load_reference
    from medvalue.analyses._coverage import coverage as run_coverage

    if spec_path and len(paths) > 1:
        msg = "--spec applies to one dataset; give one PATH, or put a <name>.spec.yaml beside each"
        raise MedvalueError(msg)
    _remember_format(data_format)
    lists = load_code_lists(codes_path) if codes_path else None
    reference = load_reference(reference_path) if reference_path else None
    results = []
    for path in paths:
        ds = _load(_on_engine(path, engine), spec_path or spec_beside(path), encoding)
        options = _options(ds, small_cell=small_cell)
        results.append(
            run_coverage(
                ds,
                code_lists=lists if lists is not None else options.code_lists,
                reference=reference if reference is not None else options.reference,
                small_cell=options.small_cell,
            )
        )
    if as_json:
        if len(results) == 1:
            _emit_json(results[0].to_dict(lang))
        else:
            _emit_json(
                {
                    "datasets": [r.to_dict(lang) for r in results],
                    "comparison": comparison(results).to_dicts(),
                }
            )
        return
    from medvalue.present._text import coverage_summary

    console = _console()
    for r in results:
        console.print(coverage_summary(r, lang=lang))
    if len(results) > 1:
        console.print(comparison(results))


@cli.command()
@_dataset_options
@_quasi_option
@_sensitive_option
@_k_option
@_population_option
@_max_suppression_option
@click.option(
    "--apply",
    "do_apply",
    is_flag=True,
    help="Write a generalised copy to --out (the input is never touched).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=str),
    help="Where --apply writes: a folder, or a .csv/.parquet file for one table.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_small_cell_option
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def privacy(
    path: str,
    spec_path: str | None,
    encoding: str | None,
    quasi: str | None,
    sensitive: str | None,
    k: int | None,
    population_path: str | None,
    max_suppression: float,
    do_apply: bool,
    out_path: str | None,
    as_json: bool,
    small_cell: int,
    lang: str,
) -> None:
    """Direct identifiers, k-anonymity, re-identification risk, what to generalise, verdict."""
    from medvalue.analyses._privacy import apply_generalisation, release_targets
    from medvalue.analyses._privacy import privacy as run_privacy

    if do_apply and not out_path:
        msg = "--apply needs --out NEW (a folder, or a .csv/.parquet file)"
        raise MedvalueError(msg)
    if out_path and not do_apply:
        msg = "--out is only used with --apply"
        raise MedvalueError(msg)
    ds = _load(path, spec_path or spec_beside(path), encoding)
    if do_apply and out_path:  # refused before the assessment, not after it
        release_targets(ds, Path(out_path))
    options = _options(ds, quasi_identifiers=tuple(quasi.split(",")) if quasi else None,
                       sensitive=sensitive, k=k, population=population_path, small_cell=small_cell)  # fmt: skip
    result = run_privacy(
        ds,
        quasi_identifiers=list(options.quasi_identifiers) if options.quasi_identifiers else None,
        sensitive=options.sensitive,
        k=options.k,
        population=options.population,
        max_suppression=max_suppression,
        small_cell=options.small_cell,
    )
    applied = (
        apply_generalisation(ds, out_path, assessment=result) if do_apply and out_path else None
    )
    if as_json:
        payload = result.to_dict(lang)
        if applied is not None:
            payload["applied"] = applied.to_dict()
        _emit_json(payload)
    else:
        from medvalue.present._text import privacy_summary

        _console().print(privacy_summary(result, lang=lang))
    if applied is not None and out_path:
        target = Path(out_path)
        for p in applied.files:
            click.echo(f"wrote {target if target.suffix else target / p.name}", err=True)


@cli.command()
@_dataset_options
@click.option(
    "--label",
    default=None,
    help="Outcome column (column or table.column); default: the spec's label.",
)
@_time_option
@_event_option
@click.option(
    "--outcome-date",
    default=None,
    help="Date the outcome happened; columns dated after it are leakage (default: a death date).",
)
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed for folds, subsamples and the learning curve (default: the spec's, else 0).",
)
@click.option(
    "--shrinkage",
    type=float,
    default=0.9,
    show_default=True,
    help="Target shrinkage for the sample size.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@_small_cell_option
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def readiness(
    path: str,
    spec_path: str | None,
    encoding: str | None,
    label: str | None,
    time_col: str | None,
    event: str | None,
    outcome_date: str | None,
    seed: int | None,
    shrinkage: float,
    as_json: bool,
    small_cell: int,
    lang: str,
) -> None:
    """Label balance, minimum sample size (Riley), baseline model, learning curve, leakage."""
    from medvalue.analyses._readiness import readiness as run_readiness

    ds = _load(path, spec_path or spec_beside(path), encoding)
    o = _options(ds, label=label, time=time_col, event=event, seed=seed, small_cell=small_cell)
    result = run_readiness(
        ds, o.label, time=o.time, event=o.event, outcome_date=outcome_date, seed=o.seed,
        shrinkage=shrinkage, small_cell=o.small_cell,
    )  # fmt: skip
    _show(result, as_json, lang, "readiness_summary")


@cli.command()
@_dataset_options
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=str),
    help="A new folder for the refined product (an earlier refined product there is replaced).",
)
@_k_option
@click.option(
    "--secret-env",
    default="MEDVALUE_SECRET",
    show_default=True,
    help="Environment variable holding the pseudonym key (at least 16 characters).",
)
@_quasi_option
@_max_suppression_option
@click.option("--label", default=None, help="Outcome column for the datacard's AI-readiness score.")
@_as_of_option
@_comparables_option
@click.option("--no-price", is_flag=True, help="Leave the price band out of the datacard.")
@_small_cell_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def refine(
    path: str,
    spec_path: str | None,
    encoding: str | None,
    out_path: str,
    k: int | None,
    secret_env: str,
    quasi: str | None,
    max_suppression: float,
    label: str | None,
    as_of: str | None,
    comparables_path: str | None,
    no_price: bool,
    small_cell: int,
    as_json: bool,
    lang: str,
) -> None:
    """Refine a raw export into a listing-ready product in a new folder, with its datacard."""
    from medvalue.product._refine import read_secret
    from medvalue.product._refine import refine as run_refine

    secret = read_secret(secret_env)  # before reading the data: fail fast
    ds = _load(path, spec_path or spec_beside(path), encoding)
    o = _options(ds, k=k, quasi_identifiers=tuple(quasi.split(",")) if quasi else None,
                 label=label, as_of=as_of, comparables=comparables_path, small_cell=small_cell)  # fmt: skip
    result = run_refine(
        ds, out_path, k=o.k, secret=secret, secret_env=secret_env,
        quasi_identifiers=o.quasi_identifiers, max_suppression=max_suppression,
        label=o.label, as_of=o.as_of, price=not no_price and o.price, comparables=o.comparables,
        small_cell=o.small_cell,
    )  # fmt: skip
    _show(result, as_json, lang, "refine_summary")


@cli.command()
@click.option("--outcome", type=click.Choice(["binary", "survival", "continuous"]), required=True)
@click.option("--parameters", type=int, required=True, help="Candidate predictor parameters.")
@click.option(
    "--r2", type=float, default=None, help="Anticipated Cox-Snell R2 (R2 for continuous)."
)
@click.option("--nagelkerke", type=float, default=None, help="Anticipated Nagelkerke R2 (binary).")
@click.option("--cstatistic", type=float, default=None, help="Anticipated C-statistic (binary).")
@click.option("--prevalence", type=float, default=None, help="Outcome proportion (binary).")
@click.option("--rate", type=float, default=None, help="Event rate per unit time (survival).")
@click.option("--timepoint", type=float, default=None, help="Time point of interest (survival).")
@click.option("--meanfup", type=float, default=None, help="Mean follow-up (survival).")
@click.option("--intercept", type=float, default=None, help="Mean outcome (continuous).")
@click.option("--sd", type=float, default=None, help="Outcome standard deviation (continuous).")
@click.option("--shrinkage", type=float, default=0.9, show_default=True)
@click.option(
    "--mmoe",
    type=float,
    default=1.1,
    show_default=True,
    help="Multiplicative margin of error for the intercept (continuous).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def samplesize(
    outcome: str,
    parameters: int,
    r2: float | None,
    nagelkerke: float | None,
    cstatistic: float | None,
    prevalence: float | None,
    rate: float | None,
    timepoint: float | None,
    meanfup: float | None,
    intercept: float | None,
    sd: float | None,
    shrinkage: float,
    mmoe: float,
    as_json: bool,
) -> None:
    """Minimum sample size for a prediction model (Riley et al.; as pmsampsize 1.1.3)."""
    from medvalue.analyses import _samplesize as ss

    def need(name: str, value: float | None) -> float:
        if value is None:
            msg = f"--outcome {outcome} needs --{name}"
            raise MedvalueError(msg)
        return value

    if outcome == "binary":
        result = ss.binary(
            parameters, need("prevalence", prevalence), r2_cs=r2, nagelkerke=nagelkerke,
            cstatistic=cstatistic, shrinkage=shrinkage,
        )  # fmt: skip
    elif outcome == "survival":
        result = ss.survival(
            parameters, r2_cs=need("r2", r2), rate=need("rate", rate),
            timepoint=need("timepoint", timepoint), meanfup=need("meanfup", meanfup),
            shrinkage=shrinkage,
        )  # fmt: skip
    else:
        result = ss.continuous(
            parameters, r2=need("r2", r2), intercept=need("intercept", intercept),
            sd=need("sd", sd), shrinkage=shrinkage, mmoe=mmoe,
        )  # fmt: skip
    if as_json:
        _emit_json(result.to_dict())
        return
    for c in result.criteria:
        shrink = "" if c.shrinkage is None else f"  (shrinkage {c.shrinkage:.3f})"
        click.echo(f"{c.name:<14} n = {c.n:>7,}{shrink}")
    extra = f", events {math.ceil(result.events):,}" if result.events is not None else ""
    per = "EPP" if result.events is not None else "SPP"
    click.echo(f"{'required':<14} n = {result.required_n:>7,}{extra}, {per} {result.epp:.2f}")
    for note in result.notes:
        click.echo(note)


@cli.command()
@_dataset_options
@_comparables_option
@_costs_option
@_rates_option
@click.option("--currency", default=None, help="Currency of the band (default CNY).")
@_exclusive_option
@click.option(
    "--label",
    default=None,
    help="Outcome column for readiness, which refines the quality factor (default: the spec's label).",
)
@_as_of_option
@click.option(
    "--seed", type=int, default=None, help="Monte Carlo seed (default: the inputs file's)."
)
@click.option(
    "--refined",
    "refined_path",
    type=click.Path(path_type=str),
    help="A `medvalue refine` output folder: its measured fixes and time set the cleaning cost.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def price(
    path: str,
    spec_path: str | None,
    encoding: str | None,
    comparables_path: str | None,
    costs_path: str | None,
    rates_path: str | None,
    currency: str | None,
    exclusive: bool,
    label: str | None,
    as_of: str | None,
    seed: int | None,
    refined_path: str | None,
    as_json: bool,
    lang: str,
) -> None:
    """A price band: comparables (market, hedonic), cost and income approaches, Monte Carlo."""
    from medvalue.value._assess import assess

    ds = _load(path, spec_path or spec_beside(path), encoding)
    # The same chain as the valuation report: quality from the profile, value density from
    # coverage, the readiness score when there is a label (named, or in the spec), and the
    # privacy verdict.
    options = _options(
        ds, as_of=as_of, comparables=comparables_path, costs=costs_path, rates=rates_path,
        currency=currency, exclusive=exclusive or None, label=label, price_seed=seed,
        refined=refined_path,
    )  # fmt: skip
    _show(assess(ds, options).valuation, as_json, lang, "pricing_summary")


@cli.command()
@click.argument("registry", type=click.Path(path_type=str))
@click.option(
    "--targets",
    "targets_path",
    required=True,
    type=click.Path(path_type=str),
    help="Targets (YAML or CSV: region, year, products, transactions, value).",
)
@_as_of_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def targets(registry: str, targets_path: str, as_of: str | None, as_json: bool, lang: str) -> None:
    """A region's data products against its targets, with year-end forecasts (for planners)."""
    from medvalue.analyses._targets import targets as run_targets

    result = run_targets(registry, targets_path, as_of=as_of)
    _show(result, as_json, lang, "targets_summary")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option(
    "--out", "out_dir", default="reports", show_default=True, type=click.Path(path_type=str)
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=str),
    help="Spec YAML (one dataset) overriding inferred roles.",
)
@click.option("--encoding", default=None, help="Force the text encoding.")
@click.option("--lang", type=click.Choice(LANGUAGES), default=DEFAULT_LANG, show_default=True)
@_as_of_option
@click.option("--name", default=None, help="Report name (default: the dataset's file name).")
@_small_cell_option
@click.option(
    "--notebook",
    default=None,
    help="Render a section notebook (e.g. 01_profile) instead of the valuation report.",
)
@_codes_option
@_reference_option
@_quasi_option
@_sensitive_option
@click.option(
    "--k",
    "k_target",
    type=int,
    default=None,
    help="Privacy target k (default: the spec's, else 5).",
)
@_population_option
@click.option("--label", default=None, help="Outcome column for the AI-readiness section.")
@_time_option
@_event_option
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed for the readiness models (default: the spec's, else 0).",
)
@_comparables_option
@_costs_option
@_rates_option
@click.option(
    "--currency", default=None, help="Currency of the price band (default: the spec's, else CNY)."
)
@_exclusive_option
@click.option(
    "--targets",
    "targets_path",
    type=click.Path(path_type=str),
    help="Planner's report: PATH is a product registry, this its targets.",
)
@click.option("--pdf", is_flag=True, help="Also print the report to PDF with Chromium.")
def report(
    paths: tuple[str, ...],
    out_dir: str,
    spec_path: str | None,
    encoding: str | None,
    lang: str,
    as_of: str | None,
    name: str | None,
    small_cell: int,
    notebook: str | None,
    codes_path: str | None,
    reference_path: str | None,
    quasi: str | None,
    sensitive: str | None,
    k_target: int | None,
    population_path: str | None,
    label: str | None,
    time_col: str | None,
    event: str | None,
    seed: int | None,
    comparables_path: str | None,
    costs_path: str | None,
    rates_path: str | None,
    currency: str | None,
    exclusive: bool,
    targets_path: str | None,
    pdf: bool,
) -> None:
    """Render the valuation report (HTML, executed notebook, JSON) for one or more datasets,
    or with --targets the planner's report for a product registry."""
    _check_report_folder(out_dir)
    if targets_path:
        from medvalue.present._report import render_targets

        if len(paths) != 1:
            msg = "--targets renders one product registry; give one PATH"
            raise MedvalueError(msg)
        out = render_targets(paths[0], targets_path, out_dir=out_dir, lang=lang, as_of=as_of,
                             name=name, pdf=pdf, progress=True)  # fmt: skip
        for p in out.files:
            click.echo(f"wrote {p}")
        click.echo(f"done in {out.seconds:.1f} s")
        return
    from medvalue.analyses._privacy import load_population
    from medvalue.present._report import VALUATION_NOTEBOOK, render_portfolio, render_valuation

    if k_target is not None and k_target < 2:
        msg = f"--k must be at least 2, got {k_target}"
        raise MedvalueError(msg)
    if population_path:
        load_population(population_path)  # a bad file fails here, before a kernel starts
    from medvalue.value._comparables import load_rates, load_registry
    from medvalue.value._pricing import load_inputs

    if comparables_path:
        load_registry(comparables_path)
    if costs_path:
        load_inputs(costs_path)
    if rates_path:
        load_rates(rates_path)
    options = {"quasi": quasi or "", "sensitive": sensitive or "", "k_target": k_target,
               "population_path": population_path or "", "label": label or "",
               "time": time_col or "", "event": event or "", "seed": seed, "comparables_path": comparables_path or "",
               "costs_path": costs_path or "", "rates_path": rates_path or "",
               "currency": currency.upper() if currency else "", "exclusive": exclusive}  # fmt: skip

    if spec_path and len(paths) > 1:
        msg = "--spec applies to one dataset; put a <name>.spec.yaml beside each dataset instead"
        raise MedvalueError(msg)
    if notebook and len(paths) > 1:
        msg = "--notebook renders one dataset; give one PATH"
        raise MedvalueError(msg)
    if len(paths) == 1:
        out = render_valuation(
            paths[0],
            out_dir=out_dir,
            spec=spec_path or spec_beside(paths[0]),
            encoding=encoding,
            lang=lang,
            as_of=as_of,
            name=name,
            pdf=pdf,
            progress=True,
            small_cell=small_cell,
            notebook=notebook or VALUATION_NOTEBOOK,
            codes=codes_path,
            reference=reference_path,
            options=options,
        )
        verb = "replaced" if out.replaced else "wrote"  # say so when an earlier report is gone
        for p in out.files:
            click.echo(f"{verb} {p}")
        click.echo(f"done in {out.seconds:.1f} s")
    else:
        outs = render_portfolio(
            list(paths),
            out_dir=out_dir,
            encoding=encoding,
            lang=lang,
            as_of=as_of,
            pdf=pdf,
            progress=True,
            small_cell=small_cell,
            codes=codes_path,
            reference=reference_path,
            options=options,
        )
        for p in outs.files:
            click.echo(f"wrote {p}")
        click.echo(f"done in {outs.seconds:.1f} s")


@cli.command()
@click.argument("sites", nargs=-1, type=click.Path(path_type=str))
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=str),
    help="Pool spec (YAML): linkage key, label, predictors, weights, sites and their column names.",
)
@click.option(
    "--secret-env",
    default=None,
    help="Environment variable holding the linkage key the sites share (default: the spec's, else MEDVALUE_SECRET).",
)
@_as_of_option
@_comparables_option
@click.option(
    "--permutations",
    type=int,
    default=200,
    show_default=True,
    help="Random orders for the Shapley estimate beyond 10 sites.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for models and orders.")
@_small_cell_option
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=str),
    default=None,
    help="Also render the pool report (HTML, notebook, JSON) into this folder.",
)
@click.option("--pdf", is_flag=True, help="With --report: also print it to PDF with Chromium.")
@click.option(
    "--link-out",
    "link_out",
    type=click.Path(path_type=str),
    default=None,
    help="Run at a site: write each SITE to LINK_OUT/<name>/ with linkage pseudonyms and no identifiers, instead of pooling.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def pool(
    sites: tuple[str, ...],
    spec_path: str | None,
    secret_env: str | None,
    as_of: str | None,
    comparables_path: str | None,
    permutations: int,
    seed: int,
    small_cell: int,
    report_dir: str | None,
    pdf: bool,
    link_out: str | None,
    as_json: bool,
    lang: str,
) -> None:
    """Several hospitals' data as one product: distinct people (linked by keyed pseudonyms),
    what each site adds (Shapley values) and a revenue split. SITE is name=path or path."""
    from medvalue.value._pool import PoolSpec, load_pool_spec
    from medvalue.value._pool import pool as run_pool

    if not sites and not spec_path:
        msg = "give the sites (name=path ...) or --spec pool.yaml listing them"
        raise MedvalueError(msg)
    if permutations < 2:
        msg = f"--permutations must be at least 2, got {permutations}"
        raise MedvalueError(msg)
    ps = load_pool_spec(spec_path) if spec_path else PoolSpec()
    if link_out:
        _link_sites(ps, list(sites), link_out, secret_env, as_json)
        return
    result = run_pool(list(sites) or None, spec=ps, as_of=as_of, small_cell=small_cell,
                      comparables=comparables_path, permutations=permutations, seed=seed,
                      secret_env=secret_env)  # fmt: skip
    _show(result, as_json, lang, "pool_summary")
    if report_dir:
        from medvalue.present._report import render_pool

        out = render_pool(list(sites), spec=spec_path, out_dir=report_dir, lang=lang, as_of=as_of,
                          small_cell=small_cell, comparables=comparables_path,
                          secret_env=secret_env, permutations=permutations, seed=seed, pdf=pdf)  # fmt: skip
        for p in out.files:
            click.echo(f"wrote {p}", err=as_json)


#: Endings of the report's own files: an --out that ends so names a file, not a folder.
_REPORT_FILE_SUFFIXES = (".html", ".htm", ".pdf", ".json", ".ipynb")


def _check_report_folder(out_dir: str) -> None:
    """Refuse ``--out report.html``: --out is the folder the report's files go into (HTML,
    notebook, JSON, named after the dataset), and a folder called report.html surprises."""
    out = Path(out_dir)
    if out.suffix.lower() in _REPORT_FILE_SUFFIXES and not out.is_dir():
        folder = out.parent if str(out.parent) != "." else Path("reports")
        msg = (f"--out {out_dir} names a file, but --out is the folder the report's files go "
               f"into (HTML, notebook, JSON). Fix: --out {folder}/ --name {out.stem}")  # fmt: skip
        raise MedvalueError(msg)


def _link_sites(ps: Any, sites: list[str], out: str, secret_env: str | None, as_json: bool) -> None:
    """Each site's linkable extract, for sites that send pseudonyms instead of identifiers."""
    from medvalue.core._files import file_name
    from medvalue.core._keys import read_secret
    from medvalue.product._link import link_site
    from medvalue.value._pool import resolve_sites

    if ps.key == ("pseudonym",):
        msg = "--link-out computes the pseudonyms: give the linkage key (resident_id, name_birth_sex ...), not pseudonym"
        raise MedvalueError(msg)
    secret = read_secret(secret_env or ps.secret_env)
    done = [
        link_site(
            ds,
            name,
            Path(out) / file_name(name, "site"),
            key=ps.key,
            secret=secret,
            columns=site.columns,
        )
        for name, ds, site in resolve_sites(ps, sites or None)
    ]
    if as_json:
        _emit_json({"linked": [d.to_dict() for d in done]})
        return
    for d in done:
        click.echo(
            f"wrote {d.folder} ({d.people:,} people; dropped {', '.join(d.dropped) or 'nothing'})"
        )
    click.echo("pool these folders with `linkage: {key: pseudonym}` in the pool spec")


#: Commands that can take more than a moment on a large export.
_LONG = {"profile", "coverage", "readiness", "privacy", "price", "refine", "report", "pool"}


@contextlib.contextmanager
def _working(args: list[str]) -> Iterator[None]:
    """On a terminal, a spinner on stderr while a long command works and one line when it
    ends, so a 10-minute refine is not silent; never with --json (its output stays clean),
    --quiet or when stderr is a file or a pipe."""
    command = next((a for a in args if not a.startswith("-")), "")
    quiet = {"--json", "--quiet", "-h", "--help"} & set(args)
    if command not in _LONG or quiet or not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    started = time.perf_counter()
    # A spinner with the elapsed time on stderr; what the command prints goes above it.
    with Console(stderr=True).status(f"medvalue {command}: working (--quiet hides this)"):
        yield
    click.echo(f"medvalue {command}: done in {time.perf_counter() - started:.1f} s", err=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map user errors to exit code 2 with one line on stderr."""
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        if not {"-h", "--help", "--version"} & set(args):
            from medvalue.core._files import remove_stale_scratch

            remove_stale_scratch()  # what a killed run left in the scratch folder goes first
        with _working(args):
            cli.main(args=[a for a in args if a != "--quiet"], prog_name="medvalue",
                     standalone_mode=False)  # fmt: skip
    except MedvalueError as exc:
        click.echo(f"medvalue: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("medvalue: aborted", err=True)
        return 2
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return 2
    except OSError as exc:  # a write that failed: read-only folder, a file where a folder is ...
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(
            f"medvalue: error: {where}{exc.strerror or type(exc).__name__}. "
            "Fix: check that the folder exists and is writable, or choose another output path.",
            err=True,
        )
        return 2
    except RecursionError:
        click.echo(
            "medvalue: error: the input is nested too deeply to read. "
            "Fix: flatten it (FHIR: export Bulk NDJSON instead of nested Bundles).",
            err=True,
        )
        return 2
    except Exception as exc:
        polars = sys.modules.get("polars")
        if polars is None or not isinstance(exc, polars.exceptions.ComputeError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        click.echo(
            f"medvalue: error: the data could not be parsed ({first}). "
            "Fix: check the file's quoting and delimiter, or export it again.",
            err=True,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
