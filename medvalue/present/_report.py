"""Render report notebooks: papermill executes, nbconvert writes offline HTML.

The only module that imports papermill and nbconvert. A report is three files written
atomically: ``<name>.html`` (self-contained, code hidden, opens with no network),
``<name>.ipynb`` (executed) and ``<name>.json`` (the results, as the CLI's ``--json``).
Parameters are checked before any kernel starts; absolute paths of this machine are
scrubbed from every output.
"""

from __future__ import annotations

import ast
import copy
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import polars as pl
from markupsafe import Markup
from nbconvert import HTMLExporter

from medvalue.analyses._coverage import load_code_lists, load_reference
from medvalue.analyses._targets import load_registry, load_targets
from medvalue.core._config import DEFAULT_LANG, NOTEBOOK_DIR, SMALL_CELL_THRESHOLD
from medvalue.core._errors import InputError, MedvalueError, ParameterError, ReportError
from medvalue.core._files import check_output, file_name, write_atomic
from medvalue.core._i18n import check_lang, text
from medvalue.present import _plots as plots
from medvalue.present._html import plotly_script, render_page
from medvalue.present.views import RESULTS_MIMETYPE
from medvalue.read._dataset import read_path
from medvalue.read._spec import spec_beside

VALUATION_NOTEBOOK = "valuation_report"
POOL_NOTEBOOK = "08_pool"
KERNEL_NAME = "medvalue"
_TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Rendered:
    """One rendered report and where its files are."""

    name: str
    html: Path
    notebook: Path
    json: Path
    pdf: Path | None
    seconds: float
    results: Mapping[str, Any] = field(repr=False)
    #: A report of the same name was there before and has been replaced.
    replaced: bool = False

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.html, self.notebook, self.json, self.pdf) if p is not None]


@dataclass(frozen=True)
class Portfolio:
    """Several reports plus the catalogue page that links them."""

    index: Path
    reports: tuple[Rendered, ...]
    seconds: float

    @property
    def files(self) -> list[Path]:
        return [f for r in self.reports for f in r.files] + [self.index]


def notebook_path(notebook: str | Path) -> Path:
    """Resolve a notebook name (``valuation_report``, ``01_profile``) or path."""
    p = Path(notebook)
    if p.suffix == ".ipynb" and p.exists():
        return p
    candidate = NOTEBOOK_DIR / f"{p.stem}.ipynb"
    if candidate.exists():
        return candidate
    names = (
        ", ".join(sorted(f.stem for f in NOTEBOOK_DIR.glob("*.ipynb")))
        if NOTEBOOK_DIR.exists()
        else "none"
    )
    msg = f"no report notebook '{notebook}'. Fix: use one of: {names}"
    raise ParameterError(msg)


def check_parameters(nb_path: Path, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Check names and types against the notebook's ``parameters`` cell before running it."""
    declared = pm.inspect_notebook(str(nb_path))
    if not declared:
        msg = f"{nb_path.name}: no cell tagged 'parameters'. Fix: tag the first code cell 'parameters'"
        raise ParameterError(msg)
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        msg = f"{nb_path.name}: unknown parameter(s) {unknown}. Fix: use {sorted(declared)}"
        raise ParameterError(msg)
    checked = {}
    for key, value in parameters.items():
        expected = _default_type(declared[key])
        ok = (
            value is None
            or expected is None
            or isinstance(value, expected)
            or (expected is float and isinstance(value, int) and not isinstance(value, bool))
        )
        if not ok or (expected is int and isinstance(value, bool)):
            msg = f"{nb_path.name}: parameter '{key}' must be {getattr(expected, '__name__', 'any')}, got {type(value).__name__}"
            raise ParameterError(msg)
        checked[key] = value
    if "lang" in checked:
        check_lang(str(checked["lang"]))
    if checked.get("as_of"):
        try:
            dt.date.fromisoformat(str(checked["as_of"]))
        except ValueError:
            msg = f"the valuation date must be YYYY-MM-DD, got '{checked['as_of']}'"
            raise ParameterError(msg) from None
    return checked


def _default_type(declared: Mapping[str, Any]) -> type | None:
    """The type of a parameter's default value in the notebook (e.g. ``small_cell = 5``: int)."""
    try:
        default = ast.literal_eval(str(declared.get("default")))
    except (ValueError, SyntaxError):
        return None
    return type(default) if isinstance(default, str | int | float | bool) else None


def kernel_name() -> str:
    """The registered 'medvalue' kernel if it runs this interpreter, else the native one.

    Naming the kernel explicitly avoids papermill's NoSuchKernel and wrong-environment
    failures (papermill#251, #638).
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
    except NoSuchKernel:
        return "python3"
    argv0 = Path(spec.argv[0])
    same = argv0.name.startswith("python") and (
        argv0 == Path(sys.executable)
        or argv0.resolve() == Path(sys.executable).resolve()
        or str(argv0) in ("python", "python3")
    )
    return KERNEL_NAME if same else "python3"


def render_notebook(
    notebook: str | Path,
    parameters: Mapping[str, Any],
    *,
    out_dir: str | Path = "reports",
    name: str,
    title: str | None = None,
    lang: str = DEFAULT_LANG,
    pdf: bool = False,
    progress: bool = False,
) -> Rendered:
    """Execute a report notebook with ``parameters`` and write HTML, ipynb and JSON."""
    started = time.perf_counter()
    _check_name(name)
    source = notebook_path(notebook)
    out = Path(out_dir)
    # Every file of the set is checked before a kernel starts: none may land on an input.
    for suffix in (*SET_SUFFIXES, ".failed.ipynb", ".pdf", MANIFEST_SUFFIX):
        check_output(out / f"{name}{suffix}")
    with tempfile.TemporaryDirectory(prefix="medvalue-") as tmp:
        nb_path, kernel = _with_kernel(source, Path(tmp))
        params = check_parameters(nb_path, parameters)
        out.mkdir(parents=True, exist_ok=True)
        executed = Path(tmp) / f"{name}.ipynb"
        try:
            pm.execute_notebook(
                str(nb_path),
                str(executed),
                parameters=dict(params),
                kernel_name=kernel,
                progress_bar=progress,
                report_mode=True,
                cwd=os.getcwd(),
                log_output=False,
                request_save_on_cell_execute=False,
                # ipykernel warns on every start that loopback TCP is unencrypted; the kernel
                # is local to this process, so keep the console for real errors.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
        except pm.PapermillExecutionError as exc:
            failed = out / f"{name}.failed.ipynb"
            if executed.exists():
                nb = _scrub(nbformat.read(executed, as_version=4), params)
                write_atomic(failed, nbformat.writes(nb))
            ename = exc.ename or "Error"
            msg = (
                f"{nb_path.name}: cell {exc.exec_count} failed with {ename}: "
                f"{_scrub_text(str(exc.evalue))}. The failed notebook is {failed}"
            )
            raise ReportError(msg) from None
        nb = _scrub(nbformat.read(executed, as_version=4), params)
    nb.metadata["title"] = title or name
    replaced = (out / f"{name}.html").exists()
    results = _extract_results(nb)
    html_text = _to_html(nb, lang)
    paths = _write_set(
        out,
        name,
        {
            "html": html_text,
            "notebook": nbformat.writes(nb),
            "json": json.dumps(results, ensure_ascii=False, indent=2, default=str) + "\n",
        },
    )
    pdf_path = print_pdf(paths["html"], out / f"{name}.pdf") if pdf else None
    return Rendered(
        name,
        paths["html"],
        paths["notebook"],
        paths["json"],
        pdf_path,
        time.perf_counter() - started,
        results,
        replaced,
    )


#: The files of one report, and the manifest written last that says the set is complete.
SET_SUFFIXES = (".html", ".ipynb", ".json")
MANIFEST_SUFFIX = ".manifest.json"


def _write_set(out: Path, name: str, texts: Mapping[str, str]) -> dict[str, Path]:
    """Write a report's files as a set: the old manifest goes first, the new one last, so a
    run killed between the files leaves a set without a manifest, which
    :func:`complete_set` rejects, never a new HTML that looks like it belongs to an old JSON."""
    manifest = out / f"{name}{MANIFEST_SUFFIX}"
    manifest.unlink(missing_ok=True)
    paths = {
        kind: write_atomic(out / f"{name}{suffix}", texts[kind])
        for kind, suffix in zip(("html", "notebook", "json"), SET_SUFFIXES, strict=True)
    }
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths.values()}
    write_atomic(manifest, json.dumps({"files": digests}, indent=2) + "\n")
    return paths


def complete_set(out: str | Path, name: str) -> bool:
    """True when the report ``name`` in ``out`` is a complete set: its manifest exists and
    every file it lists has the recorded content."""
    manifest = Path(out) / f"{name}{MANIFEST_SUFFIX}"
    if not manifest.exists():
        return False
    listed = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    for file, digest in listed.items():
        p = Path(out) / file
        if not p.exists() or hashlib.sha256(p.read_bytes()).hexdigest() != digest:
            return False
    return len(listed) == len(SET_SUFFIXES)


def render_valuation(
    path: str | Path,
    *,
    out_dir: str | Path = "reports",
    spec: str | Path | None = None,
    encoding: str | None = None,
    lang: str = DEFAULT_LANG,
    as_of: str | None = None,
    name: str | None = None,
    small_cell: int = SMALL_CELL_THRESHOLD,
    pdf: bool = False,
    progress: bool = False,
    notebook: str | Path = VALUATION_NOTEBOOK,
    codes: str | Path | None = None,
    reference: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> Rendered:
    """Render the valuation report of one dataset (or another report notebook on it).

    Examples
    --------
    >>> from medvalue.present._report import render_valuation
    >>> r = render_valuation("data/sample/carotid_stenting.csv", out_dir="reports")  # doctest: +SKIP
    >>> r.html.name  # doctest: +SKIP
    'carotid_stenting.html'

    ``options`` sets further notebook parameters by name (e.g. ``{"quasi": "age,sex",
    "k_target": 11}``); each is checked against the notebook's parameters cell.
    """
    check_lang(lang)
    # Fail fast on a bad path or spec, with exit code 2, before a kernel starts.
    read_path(path, encoding=encoding)
    if spec is not None and not Path(spec).exists():
        raise InputError.at(
            spec, "no such spec file", "check the path, or write one with `medvalue spec DATA`"
        )
    # Read them once here too, so a bad file is a one-line error before a kernel starts.
    if codes is not None:
        load_code_lists(codes)
    if reference is not None:
        load_reference(reference)
    report_name = name or _default_name(path)
    stem = Path(str(notebook)).stem
    if name is None and stem != VALUATION_NOTEBOOK:
        # A section notebook's outputs are named apart from the full report's.
        report_name = f"{report_name}.{stem}"
    params = {
        "data_path": _relative(path),
        "spec_path": _relative(spec) if spec else "",
        "encoding": encoding or "",
        "as_of": as_of or "",
        "lang": lang,
        "small_cell": small_cell,
        "codes_path": _relative(codes) if codes else "",
        "reference_path": _relative(reference) if reference else "",
        # Where the refine notebook writes its product: beside the report, not in the input.
        "refined_path": _relative(Path(out_dir) / f"{report_name}-refined"),
    }
    for key, value in (options or {}).items():
        if value is not None:
            params[key] = _relative(value) if key.endswith("_path") and value else value
    return render_notebook(
        notebook,
        params,
        out_dir=out_dir,
        name=report_name,
        title=report_name,
        lang=lang,
        pdf=pdf,
        progress=progress,
    )


TARGETS_NOTEBOOK = "06_regional_targets"


def render_targets(
    registry: str | Path,
    targets: str | Path,
    *,
    out_dir: str | Path = "reports",
    lang: str = DEFAULT_LANG,
    as_of: str | None = None,
    name: str | None = None,
    pdf: bool = False,
    progress: bool = False,
) -> Rendered:
    """Render the planner's report: a region's data products against its targets."""

    check_lang(lang)
    load_registry(registry)  # a bad file is a one-line error before a kernel starts
    load_targets(targets)
    report_name = name or f"{_default_name(registry)}_targets"
    params = {
        "registry_path": _relative(registry),
        "targets_path": _relative(targets),
        "as_of": as_of or "",
        "lang": lang,
    }
    return render_notebook(
        TARGETS_NOTEBOOK, params, out_dir=out_dir, name=report_name, title=report_name,
        lang=lang, pdf=pdf, progress=progress,
    )  # fmt: skip


def render_pool(
    sites: Sequence[str],
    *,
    spec: str | Path | None = None,
    out_dir: str | Path = "reports",
    lang: str = DEFAULT_LANG,
    as_of: str | None = None,
    name: str | None = None,
    small_cell: int = SMALL_CELL_THRESHOLD,
    comparables: str | None = None,
    secret_env: str | None = None,
    permutations: int = 200,
    seed: int = 0,
    pdf: bool = False,
    progress: bool = False,
) -> Rendered:
    """Render the pooled product's report (08_pool): sites, overlap, each site's share, the
    revenue split and the union's coverage, readiness, privacy and price."""
    from medvalue.value._pool import load_pool_spec

    check_lang(lang)
    pool_spec = load_pool_spec(spec) if spec else None  # a bad spec fails before a kernel starts
    report_name = name or (_default_name(spec) if spec else "pool")
    if spec and report_name == "pool":  # pool.yaml: named after its folder
        report_name = f"{Path(spec).resolve().parent.name}_pool"
    params = {
        "spec_path": _relative(spec) if spec else "",
        "sites": ";".join(_relative(s) if "=" not in s else s for s in sites),
        "as_of": as_of or "",
        "lang": lang,
        "small_cell": small_cell,
        "comparables_path": _relative(comparables) if comparables else "",
        "secret_env": secret_env or "",
        "permutations": permutations,
        "seed": seed,
    }
    title = pool_spec.name if pool_spec else report_name
    return render_notebook(
        POOL_NOTEBOOK, params, out_dir=out_dir, name=report_name, title=title,
        lang=lang, pdf=pdf, progress=progress,
    )  # fmt: skip


def render_portfolio(
    paths: Sequence[str | Path],
    *,
    out_dir: str | Path = "reports",
    encoding: str | None = None,
    lang: str = DEFAULT_LANG,
    as_of: str | None = None,
    small_cell: int = SMALL_CELL_THRESHOLD,
    pdf: bool = False,
    progress: bool = False,
    codes: str | Path | None = None,
    reference: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> Portfolio:
    """One report per dataset plus ``index.html``, the hospital's data-product catalogue.

    A ``<name>.spec.yaml`` beside a dataset is used as its spec.
    """
    started = time.perf_counter()
    names = [_default_name(p) for p in paths]
    if len(set(names)) != len(names):
        msg = "two datasets would get the same report name. Fix: give the files distinct names"
        raise ParameterError(msg)
    reports = []
    for p in paths:
        spec = spec_beside(p)
        reports.append(
            render_valuation(
                p,
                out_dir=out_dir,
                spec=spec,
                encoding=encoding,
                lang=lang,
                as_of=as_of,
                small_cell=small_cell,
                pdf=pdf,
                progress=progress,
                codes=codes,
                reference=reference,
                options=options,
            )
        )
    index = write_atomic(Path(out_dir) / "index.html", portfolio_index(reports, lang))
    return Portfolio(index, tuple(reports), time.perf_counter() - started)


def portfolio_index(reports: Sequence[Rendered], lang: str) -> str:
    """A sortable catalogue of the datasets (plain HTML and a few lines of inline script)."""

    def lab(key: str) -> str:
        return text("labels", key, lang)

    not_built = lab("not_built_short")
    rows = []
    for r in reports:
        prof = r.results.get("profile") or {}
        size = prof.get("size", {})
        quality = (prof.get("quality") or {}).get("score")
        readiness = (r.results.get("readiness") or {}).get("score")
        verdict = (r.results.get("privacy") or {}).get("verdict")
        band = (r.results.get("valuation") or {}).get("band")
        currency = (r.results.get("valuation") or {}).get("currency", "")
        price = f"{band['low']:,.0f} – {band['high']:,.0f} {currency}" if band else None
        rows.append([
            {"text": r.name, "sort": r.name, "href": r.html.name, "cls": None},
            _num_cell(size.get("rows")),
            _num_cell(size.get("patients")),
            _num_cell(quality, ".1f"),
            _num_cell(readiness, ".0f", not_built if "readiness" not in r.results
                      else text("readiness_labels", "no_label_short", lang)),
            _text_cell(text("verdicts", verdict, lang) if verdict else None, not_built),
            _text_cell(price, not_built),
        ])  # fmt: skip
    heads = ["dataset", "rows", "patients", "quality", "readiness", "privacy", "price"]
    return render_page(
        "portfolio.html.j2",
        html_lang="zh-CN" if lang == "zh" else "en",
        title=lab("portfolio_title"),
        intro=lab("portfolio_intro"),
        heads=[lab(h) for h in heads],
        rows=rows,
        comparison=_comparison_block(reports, lang),
    )


def _comparison_block(reports: Sequence[Rendered], lang: str) -> Markup:
    """Patients per ICD-10 chapter for each dataset, as a heat map (with plotly.js inlined)."""
    with_coverage = [r for r in reports if r.results.get("coverage")]
    if len(with_coverage) < 2:
        return Markup("")
    rows: dict[str, dict[str, int | None]] = {}
    for r in with_coverage:
        for c in r.results["coverage"]["chapters"]:
            rows.setdefault(c["chapter"], {})[r.name] = c["patients"]
    names = [r.name for r in with_coverage]
    table = pl.DataFrame(
        [{"kind": "chapter", "key": k, **{n: v.get(n) for n in names}} for k, v in rows.items()],
        schema={"kind": pl.String, "key": pl.String, **{n: pl.Int64 for n in names}},
    )
    figure = plots.to_html(plots.coverage_comparison(table, lang), "mv-portfolio-comparison")
    return plotly_script(plots.plotly_js()) + figure


#: A cell of the portfolio table: its text, the value it sorts by, a CSS class, a link.
Cell = dict[str, Any]


def _num_cell(v: float | None, fmt: str = ",", missing: str = "–") -> Cell:
    if v is None:
        return {"text": missing, "sort": "", "cls": "na", "href": None}
    return {"text": format(v, fmt), "sort": v, "cls": "n", "href": None}


def _text_cell(v: str | None, missing: str) -> Cell:
    if v is None:
        return {"text": missing, "sort": "", "cls": "na", "href": None}
    return {"text": v, "sort": v, "cls": None, "href": None}


#: A4's width less two 10 mm margins, in CSS pixels (96 per inch).
A4_PRINT_WIDTH_PX = 718


def print_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print the HTML report to PDF with a system Chromium (CJK fonts come from the system)."""
    browser = find_chromium()
    if browser is None:
        msg = (
            "--pdf needs Chromium, which was not found. "
            "Fix: install it (Debian: apt-get install chromium fonts-noto-cjk) or drop --pdf"
        )
        raise MedvalueError(msg)
    with tempfile.TemporaryDirectory(prefix="medvalue-chromium-") as profile_dir:
        tmp = pdf_path.with_name(f".{pdf_path.name}.tmp")
        cmd = [
            browser,
            *chromium_flags(profile_dir),
            "--no-pdf-header-footer",
            # Lay the page out at A4's printable width (190 mm at 96 dpi) before printing:
            # charts size themselves when the page loads and do not reflow on paper.
            f"--window-size={A4_PRINT_WIDTH_PX},1200",
            "--virtual-time-budget=20000",
            f"--print-to-pdf={tmp}",
            html_path.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
        if proc.returncode != 0 or not tmp.exists():
            tmp.unlink(missing_ok=True)
            msg = f"Chromium could not print {html_path.name} to PDF (exit {proc.returncode})"
            raise ReportError(msg)
        os.replace(tmp, pdf_path)
    return pdf_path


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_flags(profile_dir: str) -> list[str]:
    """Headless flags that keep Chromium off the network and out of the user's profile."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
        "--disable-extensions",
        f"--user-data-dir={profile_dir}",
    ]


def _with_kernel(source: Path, tmp: Path) -> tuple[Path, str]:
    """A copy of the notebook that names the kernel to run (papermill needs one), and the name."""
    nb = nbformat.read(source, as_version=4)
    kernel = kernel_name()
    nb.metadata["kernelspec"] = {
        "name": kernel,
        "language": "python",
        "display_name": "Python (medvalue)",
    }
    nb.metadata.setdefault("language_info", {"name": "python"})
    path = tmp / source.name
    nbformat.write(nb, path)
    return path, kernel


def _to_html(nb: nbformat.NotebookNode, lang: str) -> str:
    exporter = HTMLExporter(
        template_name="medvalue",
        extra_template_basedirs=[str(_TEMPLATE_DIR)],
        exclude_input=True,
        exclude_markdown=True,  # notes for notebook readers; the report's text comes from views
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        language_code=lang,  # ISO 639-1, as nbconvert requires
    )
    shown = copy.deepcopy(nb)
    for cell in shown.cells:  # the results bundle goes to the .json file, not the page
        if "outputs" in cell:
            cell.outputs = [o for o in cell.outputs if _shown(o)]
    body, _ = exporter.from_notebook_node(shown)
    return body


def _shown(output: Any) -> bool:
    """Whether a cell output belongs on the page: not the results bundle (it goes to the
    .json file), and not text a library printed to stderr (a warning is for the operator, who
    keeps it in the executed notebook, not for a finance committee)."""
    if output.get("output_type") == "stream" and output.get("name") == "stderr":
        return False
    return RESULTS_MIMETYPE not in output.get("data", {})


def _extract_results(nb: nbformat.NotebookNode) -> dict[str, Any]:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RESULTS_MIMETYPE in data:
                return dict(data[RESULTS_MIMETYPE])
    return {}


def _scrub(nb: nbformat.NotebookNode, params: Mapping[str, Any]) -> nbformat.NotebookNode:
    """Remove this machine's paths from an executed notebook: parameters, metadata, outputs."""
    nb = copy.deepcopy(nb)
    pm_meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if pm_meta.get(key):
            pm_meta[key] = Path(pm_meta[key]).name
    shown = {k: (Path(v).name if k.endswith("_path") and v else v) for k, v in params.items()}
    if "parameters" in pm_meta:
        pm_meta["parameters"] = shown
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            # Written anew from the shown values: papermill's own rendering (double quotes,
            # escaped non-ASCII) would escape a search for the original text.
            cell.source = "# Parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in shown.items())
    text_ = nbformat.writes(nb)
    for k, v in params.items():  # a path given in full, however an output spelled it
        if k.endswith("_path") and v and Path(str(v)).is_absolute():
            for spelled in {
                str(v),
                json.dumps(str(v))[1:-1],
                json.dumps(str(v), ensure_ascii=False)[1:-1],
            }:
                text_ = text_.replace(spelled, Path(str(v)).name)
    return nbformat.reads(_scrub_text(text_), as_version=4)


def _scrub_text(s: str) -> str:
    roots = {str(Path.cwd()), str(Path.home()), sys.prefix, sys.base_prefix, tempfile.gettempdir()}
    for root in sorted((r for r in roots if len(r) > 1), key=len, reverse=True):
        s = s.replace(root + os.sep, "").replace(root, ".")
    return s


def _relative(path: str | Path) -> str:
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)  # still scrubbed from every output by _scrub


def _default_name(path: str | Path) -> str:
    p = Path(str(path).rstrip("/"))
    return file_name(p.stem if p.suffix else p.name, "dataset")


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[\w.-]+", name):
        msg = f"report name '{name}' may hold only letters, digits, '.', '_' and '-'"
        raise ParameterError(msg)


__all__ = [
    "Portfolio",
    "Rendered",
    "check_parameters",
    "notebook_path",
    "print_pdf",
    "render_notebook",
    "render_portfolio",
    "render_valuation",
]
