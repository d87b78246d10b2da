"""Pooled products: several hospitals' data as one product, and each hospital's fair share.

A county medical community or a city platform pools the exports of several hospitals
because one hospital's data is too small to sell. :func:`pool` links the sites' people by
keyed pseudonyms (:mod:`medvalue.analyses._linkage`), counts distinct people and the overlap
between sites, assesses the union as one dataset (coverage, readiness of the pooled label,
k-anonymity and risk, price band), and values each site's contribution with Shapley values
(:mod:`medvalue.analyses._shapley`) for distinct people, distinct ICD-10 categories and the
baseline model's AUC (or C-index) on the pooled data. The revenue split weighs those values;
the naive splits by rows and by people are shown beside it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import yaml

from medvalue.analyses import _baseline as baseline
from medvalue.analyses._anonymity import SUBJECT, summarise
from medvalue.analyses._linkage import (
    KEYS,
    LINK,
    LinkageChecks,
    SiteExtract,
    conflicts,
    extract_site,
    overlap_masks,
)
from medvalue.analyses._privacy import DEFAULT_K, plan_levels
from medvalue.analyses._readiness import model_design
from medvalue.analyses._shapley import DEFAULT_PERMUTATIONS, ShapleyValues, shapley
from medvalue.core import _codes as codes
from medvalue.core._config import SMALL_CELL_THRESHOLD
from medvalue.core._display import Displayed
from medvalue.core._errors import InputError, ParameterError
from medvalue.core._files import cache_dir, file_name, load_user_yaml
from medvalue.core._i18n import text
from medvalue.core._keys import SECRET_ENV, read_secret
from medvalue.core._suppression import suppress
from medvalue.read._dataset import Dataset, load_dataset, locate
from medvalue.read._spec import META_FIELDS, spec_beside
from medvalue.value._assess import Assessment, AssessOptions, assess

#: Rows the models behind the model Shapley values are fitted on (a stratified sample).
SHAPLEY_MODEL_ROWS = 10_000
#: Folds of the cross-validation each coalition's model is scored by.
SHAPLEY_FOLDS = 3
#: What the revenue split weighs, unless the pool spec says otherwise.
DEFAULT_WEIGHTS = {"people": 1.0, "categories": 1.0, "model": 1.0}
GAMES = ("people", "categories", "model")

# --- the pool spec ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteSpec:
    """One site: a name, its data and, where its columns are named differently, a mapping
    from the pool's names (linkage fields, label, predictors) to the site's."""

    name: str
    path: str
    spec: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    format: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class PoolSpec:
    """What ``pool.yaml`` says (see docs/json.md, "pool")."""

    name: str = "pool"
    sites: tuple[SiteSpec, ...] = ()
    key: tuple[str, ...] = KEYS["resident_id"]
    secret_env: str = SECRET_ENV
    label: str | None = None
    time: str | None = None
    event: str | None = None
    predictors: tuple[str, ...] = ()
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    metadata: Mapping[str, str] = field(default_factory=dict)
    k: int = DEFAULT_K
    source: str = "options"


_POOL_KEYS = {"name", "sites", "linkage", "label", "time", "event", "predictors", "weights",
              "metadata", "k"}  # fmt: skip
_SITE_KEYS = {"name", "path", "spec", "columns", "format", "encoding"}


def load_pool_spec(path: str | Path) -> PoolSpec:
    """Read and check a pool spec; site paths are relative to the spec's folder."""
    p = Path(path)
    if not p.is_file():
        raise InputError.at(str(p), "no such pool spec", "check the path to pool.yaml")
    try:
        body = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError.at(str(p), "not UTF-8 text", "save the pool spec as UTF-8") from None
    raw = load_user_yaml(body, p)
    if not isinstance(raw, dict):
        raise ParameterError.at(str(p), "a pool spec is a mapping", "see docs/json.md, pool")
    src = str(p)
    unknown = set(raw) - _POOL_KEYS
    if unknown:
        raise ParameterError.at(
            src, f"unknown key '{sorted(unknown)[0]}'", f"use {', '.join(sorted(_POOL_KEYS))}"
        )
    linkage = raw.get("linkage") or {}
    if not isinstance(linkage, dict) or set(linkage) - {"key", "secret_env"}:
        raise ParameterError.at(
            src, "linkage: takes key and secret_env", "e.g. linkage: {key: resident_id}"
        )
    key = _key(src, linkage.get("key", "resident_id"))
    sites = []
    for i, s in enumerate(raw.get("sites") or []):
        if not isinstance(s, dict) or "path" not in s:
            raise ParameterError.at(src, f"sites[{i}] needs a path", "give - name: ... path: ...")
        extra = set(s) - _SITE_KEYS
        if extra:
            raise ParameterError.at(
                src,
                f"sites[{i}]: unknown key '{sorted(extra)[0]}'",
                f"use {', '.join(sorted(_SITE_KEYS))}",
            )
        base = p.parent
        path_ = (
            str(base / str(s["path"])) if not Path(str(s["path"])).is_absolute() else str(s["path"])
        )
        spec = s.get("spec")
        sites.append(SiteSpec(
            name=str(s.get("name") or Path(path_).stem), path=path_,
            spec=str(base / str(spec)) if spec else None,
            columns={str(k): str(v) for k, v in (s.get("columns") or {}).items()},
            format=s.get("format"), encoding=s.get("encoding"),
        ))  # fmt: skip
    weights = dict(DEFAULT_WEIGHTS)
    for k, v in (raw.get("weights") or {}).items():
        if (
            k not in DEFAULT_WEIGHTS
            or isinstance(v, bool)
            or not isinstance(v, int | float)
            or v < 0
        ):
            raise ParameterError.at(
                src, f"weights: '{k}: {v}'", "use people, categories, model with numbers >= 0"
            )
        weights[k] = float(v)
    meta = {str(k): str(v) for k, v in (raw.get("metadata") or {}).items()}
    bad_meta = set(meta) - set(META_FIELDS)
    if bad_meta:
        raise ParameterError.at(
            src, f"metadata: unknown field '{sorted(bad_meta)[0]}'", f"use {', '.join(META_FIELDS)}"
        )
    predictors = raw.get("predictors") or []
    if isinstance(predictors, str):
        predictors = [x.strip() for x in predictors.split(",") if x.strip()]
    k = raw.get("k", DEFAULT_K)
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ParameterError.at(src, f"k: {k!r}", "give a whole number of at least 2")
    return PoolSpec(
        name=str(raw.get("name") or p.stem), sites=tuple(sites), key=key,
        secret_env=str(linkage.get("secret_env") or SECRET_ENV),
        label=_opt(raw.get("label")), time=_opt(raw.get("time")), event=_opt(raw.get("event")),
        predictors=tuple(str(x) for x in predictors), weights=weights, metadata=meta, k=k,
        source=src,
    )  # fmt: skip


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


def _opt(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


def _key(source: str, value: Any) -> tuple[str, ...]:
    if value == "pseudonym":
        return ("pseudonym",)
    if isinstance(value, str) and value in KEYS:
        return KEYS[value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ParameterError.at(
        source, f"linkage key {value!r}",
        "use resident_id, name_birth_sex, pseudonym or a list of fields",
    )  # fmt: skip


def site_from_argument(arg: str) -> SiteSpec:
    """``name=path`` or ``path`` (the site is then named after the file or folder)."""
    name, sep, path = arg.partition("=")
    if sep and name and not Path(arg).exists():
        return SiteSpec(name=name, path=path)
    return SiteSpec(name=Path(arg.rstrip("/")).stem, path=arg)


# --- the result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteContribution:
    """What one site brings to the pool. Counts of people below the small-cell threshold are
    None (shown as "< threshold")."""

    name: str
    rows: int
    people: int | None
    unique_people: int | None  # people no other site has
    categories: int  # ICD-10 categories among its people
    unique_categories: int  # categories no other site covers
    k_alone: int | None  # k-anonymity of its people alone, on the pool's quasi-identifiers
    unique_share_alone: float | None  # share of its people alone in a class of their own
    k_alone_generalised: int | None  # the same, at the generalisation the pool needs
    checks: LinkageChecks
    columns: Mapping[str, str]

    def to_dict(self, small_cell: int) -> dict[str, Any]:
        c = self.checks
        return {
            "name": self.name,
            "rows": self.rows,
            "people": self.people,
            "unique_people": self.unique_people,
            "categories": self.categories,
            "unique_categories": self.unique_categories,
            "k_alone": self.k_alone,
            "unique_share_alone": _round(self.unique_share_alone),
            "k_alone_generalised": self.k_alone_generalised,
            "linkage": {
                "people": suppress(c.people, small_cell),
                "without_key": suppress(c.without_key, small_cell),
                "invalid_resident_id": suppress(c.invalid_resident_id, small_cell),
                "columns": dict(self.columns),
            },
        }


@dataclass(frozen=True)
class RevenueSplit:
    """Shares of the pooled product's revenue: the recommended one and the naive ones."""

    sites: tuple[str, ...]
    recommended: tuple[float, ...]
    by_rows: tuple[float, ...]
    by_people: tuple[float, ...]
    by_game: Mapping[str, tuple[float, ...]]  # people | categories | model -> Shapley shares
    weights: Mapping[str, float]  # the weights actually used (a game without values drops)
    band: tuple[float, float, float] | None  # low, mid, high price of the pooled product
    currency: str | None

    def to_dict(self) -> dict[str, Any]:
        def by_site(values: Sequence[float]) -> dict[str, float]:
            return {s: round(v, 4) for s, v in zip(self.sites, values, strict=True)}

        out: dict[str, Any] = {
            "recommended": by_site(self.recommended),
            "by_rows": by_site(self.by_rows),
            "by_people": by_site(self.by_people),
            "by_shapley": {g: by_site(v) for g, v in self.by_game.items()},
            "weights": dict(self.weights),
            "currency": self.currency,
            "band": None if self.band is None else [round(b, 2) for b in self.band],
        }
        if self.band is not None:
            out["amounts"] = {
                s: [round(b * v, 2) for b in self.band]
                for s, v in zip(self.sites, self.recommended, strict=True)
            }
        return out


@dataclass(frozen=True, repr=False)
class Pool(Displayed):
    """Several sites as one product: who is in it, what each site adds, how to split."""

    _view: ClassVar[str] = "pool_section"

    name: str
    key: tuple[str, ...]
    small_cell: int
    sites: tuple[SiteContribution, ...]
    distinct_people: int
    people_in_several: int | None  # people held by two or more sites
    overlap: tuple[tuple[int | None, ...], ...]  # site x site: people both hold
    conflicts: int | None  # linked people whose sites disagree on sex or birth date
    k_pooled: int | None
    unique_share_pooled: float | None
    k_pooled_generalised: int | None  # at the pooled product's recommended generalisation
    generalisation: Mapping[str, str]  # quasi-identifier -> the recommended level
    quasi_identifiers: tuple[str, ...]
    shapley: Mapping[str, ShapleyValues]  # people | categories | model
    model_metric: str | None  # auc | c_index | r2 (None: no label)
    split: RevenueSplit
    assessment: Assessment  # the union, as one dataset
    notes: tuple[str, ...] = ()

    @property
    def site_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    def headline(self, lang: str) -> tuple[str, str]:
        total = sum(s.people or 0 for s in self.sites)
        return (
            text("pool_labels", "headline_value", lang, people=f"{self.distinct_people:,}"),
            text("pool_labels", "headline", lang, sites=len(self.sites), listed=f"{total:,}",
                 people=f"{self.distinct_people:,}"),
        )  # fmt: skip

    def people_shares(self) -> tuple[float, ...]:
        return self.split.by_game.get("people", ())

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        shap: dict[str, Any] = {}
        for game, sv in self.shapley.items():
            if game == "people":
                # In people, a value would let a suppressed count be worked out: shares only,
                # to whole percent (see docs/methods.md).
                shap[game] = {
                    "method": sv.method,
                    "shares": dict(zip(self.site_names, self.people_shares(), strict=True)),
                }
            else:
                shap[game] = sv.to_dict() | {
                    "shares": dict(zip(self.site_names, self.split.by_game[game], strict=True))
                }
        return {
            "pool": self.name,
            "linkage_key": list(self.key),
            "small_cell": self.small_cell,
            "sites": [s.to_dict(self.small_cell) for s in self.sites],
            "distinct_people": self.distinct_people,
            "people_in_several_sites": self.people_in_several,
            "overlap": {
                "sites": list(self.site_names),
                "people": [list(row) for row in self.overlap],
            },
            "linked_with_conflicts": self.conflicts,
            "k_anonymity": {
                "quasi_identifiers": list(self.quasi_identifiers),
                "pooled": self.k_pooled,
                "by_site": {s.name: s.k_alone for s in self.sites},
                "unique_share_pooled": _round(self.unique_share_pooled),
                "unique_share_by_site": {s.name: _round(s.unique_share_alone) for s in self.sites},
                "generalisation": dict(self.generalisation),
                "pooled_generalised": self.k_pooled_generalised,
                "by_site_generalised": {s.name: s.k_alone_generalised for s in self.sites},
            },
            "model_metric": self.model_metric,
            "shapley": shap,
            "revenue_split": self.split.to_dict(),
            "union": self.assessment.to_dict(lang),
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        return (
            f"<medvalue Pool {self.name}: {len(self.sites)} sites, {self.distinct_people:,} people>"
        )


# --- the pool --------------------------------------------------------------------------------


def pool(
    sites: str | Sequence[SiteSpec | str | tuple[str, Dataset]] | None = None,
    *,
    spec: str | Path | PoolSpec | None = None,
    secret: bytes | None = None,
    as_of: str | None = None,
    small_cell: int = SMALL_CELL_THRESHOLD,
    comparables: str | None = None,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    secret_env: str | None = None,
) -> Pool:
    """Pool several sites into one product and value each site's contribution.

    ``sites`` are paths (``name=path`` names one; one text may hold several separated by
    ";"), :class:`SiteSpec`, or ``(name, Dataset)`` pairs; without them the pool spec's
    sites are used. ``spec`` is a pool YAML (linkage key,
    label, predictors, weights, per-site column names). ``secret`` is the linkage key the
    sites share; without it, it is read from the environment variable ``secret_env`` names
    (default: the spec's ``secret_env``, else ``MEDVALUE_SECRET``).

    Examples
    --------
    >>> import os; os.environ.setdefault("MEDVALUE_SECRET", "doctest-pool-key-0123456789")
    '...'
    >>> from medvalue.core._config import SAMPLE_DIR
    >>> p = pool(spec=SAMPLE_DIR / "county_pool" / "pool.yaml", as_of="2025-06-30")
    >>> len(p.sites)
    4
    """
    ps = spec if isinstance(spec, PoolSpec) else (load_pool_spec(spec) if spec else PoolSpec())
    if isinstance(sites, str):
        sites = [s.strip() for s in sites.split(";") if s.strip()]
    chosen = resolve_sites(ps, sites)
    if len(chosen) < 2:
        msg = "a pool needs at least two sites; give SITE paths or sites: in the pool spec"
        raise ParameterError(msg)
    names = [n for n, _, _ in chosen]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        msg = f"two sites are named '{twice}'; name each site once (name=path)"
        raise ParameterError(msg)
    env = secret_env or ps.secret_env
    key_secret = None if ps.key == ("pseudonym",) else (secret or read_secret(env))
    extracts = [
        extract_site(
            ds,
            name,
            key=ps.key,
            secret=key_secret,
            columns=site.columns,
            label=ps.label,
            time=ps.time,
            predictors=ps.predictors,
            as_of=as_of,
        )
        for name, ds, site in chosen
    ]
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        # The union is named after the pool (its folder's name is the dataset's name).
        scratch = Path(tmp) / file_name(ps.name, "pool")
        scratch.mkdir()
        union = _union_dataset(ps, extracts, scratch)
        qis = _quasi_identifiers(union)
        options = AssessOptions(
            as_of=as_of, small_cell=small_cell, label=f"records.{ps.label}" if ps.label else None,
            time=ps.time, event=ps.event, quasi_identifiers=tuple(f"patients.{q}" for q in qis) or None,
            k=ps.k, comparables=comparables, seed=seed,
        )  # fmt: skip
        assessment = assess(union, options)
        design = (
            model_design(
                union,
                f"records.{ps.label}",
                time=ps.time,
                event=ps.event,
                seed=seed,
                max_rows=SHAPLEY_MODEL_ROWS,
            )
            if ps.label and assessment.readiness.label is not None
            else None
        )
        site_of_row = None
        if design is not None:
            site_col = pl.read_parquet(scratch / "records.parquet", columns=["site"])["site"]
            site_of_row = site_col.to_numpy()[design.rows]
        # The union's files are read again for the generalisation levels: still in scratch.
        return _result(ps, union, extracts, assessment, design, site_of_row, qis, small_cell,
                       permutations, seed)  # fmt: skip


def resolve_sites(
    ps: PoolSpec, given: Sequence[SiteSpec | str | tuple[str, Dataset]] | None
) -> list[tuple[str, Dataset, SiteSpec]]:
    """(name, dataset, site spec) of each site given, else of the pool spec's; a site given
    by name or path takes its column names and spec from the pool spec's entry."""
    by_name = {s.name: s for s in ps.sites}
    by_path = {str(Path(s.path).resolve()): s for s in ps.sites}
    out = []
    for item in given or ps.sites:
        if isinstance(item, tuple):
            name, ds = item
            out.append((name, ds, by_name.get(name, SiteSpec(name, ds.path))))
            continue
        site = site_from_argument(item) if isinstance(item, str) else item
        site = replace(site, path=locate(site.path))  # a notebook runs in its own folder
        known = by_name.get(site.name) or by_path.get(str(Path(site.path).resolve()))
        if known is not None and isinstance(item, str):
            site = replace(known, path=site.path, name=site.name if "=" in item else known.name)
        if not Path(site.path).exists():
            raise InputError.at(
                site.path,
                f"site '{site.name}': no such file or folder",
                "check the path in the pool spec or on the command line",
            )
        spec = site.spec or spec_beside(site.path)
        ds = load_dataset(site.path, spec=spec, encoding=site.encoding, format=site.format)
        out.append((site.name, ds, site))
    return out


def _union_dataset(ps: PoolSpec, extracts: Sequence[SiteExtract], scratch: Path) -> Dataset:
    """The pooled product as one dataset: one row per distinct person (the first site's
    values, then the next site's where missing), every diagnosis, every labelled record."""
    people = pl.concat(
        [
            e.people.drop("person").with_columns(pl.lit(i).alias("_site"))
            for i, e in enumerate(extracts)
        ]
    )
    persons = people.sort("_site", maintain_order=True).group_by(LINK, maintain_order=True).agg(
        [pl.col(c).drop_nulls().first() for c in ("sex", "birth_date", "age", "region")]
    )  # fmt: skip
    persons = persons.select(
        [c for c in persons.columns if persons[c].null_count() < persons.height or c == LINK]
    )
    persons.write_parquet(scratch / "patients.parquet")
    # A diagnosis says the person has the condition: once per person and code, whichever
    # sites recorded it.
    diagnoses = pl.concat([e.diagnoses for e in extracts]).unique(maintain_order=True)
    diagnoses.write_parquet(scratch / "diagnoses.parquet")
    spec: dict[str, Any] = {
        "metadata": {"title": ps.name, **ps.metadata},
        "tables": {
            "patients": {"kind": "patients", "columns": {
                LINK: {"role": "patient_id"}, "sex": {"role": "sex"}, "birth_date": {"role": "birth_date"},
                "age": {"role": "age"}, "region": {"role": "region"}}},
            "diagnoses": {"kind": "diagnoses", "columns": {LINK: {"role": "patient_id"}, "code": {"role": "diagnosis_code"}}},
        },
        "links": [{"from": f"diagnoses.{LINK}", "to": f"patients.{LINK}"}],
    }  # fmt: skip
    spec["tables"]["patients"]["columns"] = {
        c: v for c, v in spec["tables"]["patients"]["columns"].items() if c in persons.columns
    }
    records = [
        e.records.with_columns(pl.lit(e.name).alias("site"))
        for e in extracts
        if e.records is not None
    ]
    if records:
        frame = pl.concat(records, how="diagonal_relaxed")
        frame.write_parquet(scratch / "records.parquet")
        roles = {LINK: {"role": "patient_id"}, "site": {"role": "site"},
                 "sex": {"role": "sex", "quasi": False}, "age": {"role": "age", "quasi": False},
                 ps.label: {"role": "label", **({"event": ps.event} if ps.event else {})}}  # fmt: skip
        if ps.time:
            roles[ps.time] = {"role": "duration"}
        for e in extracts:
            for p, role in e.roles.items():
                roles.setdefault(p, {"role": role, "quasi": False})
        spec["tables"]["records"] = {"kind": "encounters", "columns": roles}
        spec["links"].append({"from": f"records.{LINK}", "to": f"patients.{LINK}"})
    spec_path = scratch / "pool.spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return load_dataset(scratch, spec=spec_path, format="tables")


def _quasi_identifiers(union: Dataset) -> list[str]:
    """sex, then birth date (or age where no site gives one), then region, when present."""
    schema = union.frame("patients").collect_schema().names()
    qis = [c for c in ("sex",) if c in schema]
    qis += ["birth_date"] if "birth_date" in schema else (["age"] if "age" in schema else [])
    qis += ["region"] if "region" in schema else []
    return qis


def _categories(extracts: Sequence[SiteExtract]) -> pl.DataFrame:
    """Each ICD-10 category with the bit mask of the sites whose people have it."""
    frames = [
        e.diagnoses.select("code").unique().with_columns(pl.lit(1 << i, pl.Int64).alias("bit"))
        for i, e in enumerate(extracts)
    ]
    stacked = pl.concat(frames)
    found = codes.normalise(stacked.lazy(), "code").collect()
    category = pl.col("code_icd10").str.slice(0, 3)
    return (
        found.filter(pl.col("code_icd10").is_not_null())
        .select(category.alias("category"), "bit")
        .unique()
        .group_by("category")
        .agg(pl.col("bit").sum().alias("mask"))
    )


def _union_game(masks: pl.DataFrame, names: Sequence[str]) -> Any:
    """v(S) = how many items (people, categories) at least one site of S holds."""
    counts = masks.group_by("mask").agg(pl.len().alias("n"))
    mask_values = counts["mask"].to_numpy()
    n_values = counts["n"].to_numpy()
    bit = {s: 1 << i for i, s in enumerate(names)}

    def value(coalition: frozenset[str]) -> float:
        bits = sum(bit[s] for s in coalition)
        return float(n_values[(mask_values & bits) != 0].sum())

    return value


def _model_game(design: Any, site_of_row: np.ndarray, seed: int) -> Any:
    """v(S) = the cross-validated score (AUC, C-index, R2) on all sites' held-out rows of a
    model trained on the rows of the sites in S; an empty or unfittable training set scores
    as a model that knows nothing (0.5; R2 0)."""
    kind = design.outcome
    floor = 0.0 if kind == "continuous" else 0.5
    splits = baseline.split_folds(design.y, kind, SHAPLEY_FOLDS, seed)

    def value(coalition: frozenset[str]) -> float:
        if not coalition:
            return floor
        member = np.isin(site_of_row, list(coalition))
        pred = (
            np.zeros((len(design.y), int(design.y.max()) + 1))
            if kind == "multiclass"
            else np.zeros(len(design.y))
        )
        for train, test in splits:
            tr = train[member[train]]
            y_tr = design.y[tr]
            if len(tr) < 20 or (kind != "continuous" and len(np.unique(y_tr)) < 2):
                return floor
            t_tr = None if design.time is None else design.time[tr]
            try:
                pred[test] = baseline.fit_predict(kind, design.x[tr], y_tr, design.x[test], t_tr)
            except (ValueError, np.linalg.LinAlgError):
                return floor
        return float(baseline.score_predictions(kind, design.y, pred, design.time))

    return value


def _result(
    ps: PoolSpec,
    union: Dataset,
    extracts: Sequence[SiteExtract],
    assessment: Assessment,
    design: Any,
    site_of_row: np.ndarray | None,
    qis: Sequence[str],
    small_cell: int,
    permutations: int,
    seed: int,
) -> Pool:
    names = [e.name for e in extracts]
    n = len(names)
    masks = overlap_masks(extracts)
    cats = _categories(extracts)
    mask_arr = masks["mask"].to_numpy()
    overlap = tuple(
        tuple(suppress(int((((mask_arr >> i) & 1) & ((mask_arr >> j) & 1)).sum()), small_cell) for j in range(n))
        for i in range(n)
    )  # fmt: skip
    sites_held = np.zeros(len(mask_arr), dtype=np.int64)
    for i in range(n):  # one pass per site, over people's masks
        sites_held += (mask_arr >> i) & 1
    several = int((sites_held >= 2).sum())
    cat_masks = cats["mask"].to_numpy()
    games = {
        "people": _union_game(masks, names),
        "categories": _union_game(cats, names),
    }
    values = {g: shapley(names, v, permutations=permutations, seed=seed) for g, v in games.items()}
    notes = []
    metric = None
    if design is not None and site_of_row is not None:
        game = _model_game(design, site_of_row, seed)
        values["model"] = shapley(names, game, permutations=permutations, seed=seed)
        metric = {"continuous": "r2", "survival": "c_index"}.get(design.outcome, "auc")
        notes.append(
            f"model values: {len(design.y):,} sampled records, {SHAPLEY_FOLDS}-fold cross-validation per coalition"
        )
    elif ps.label:
        notes.append("the pooled label could not be modelled; the split leaves the model out")
    levels = plan_levels(union, assessment.privacy)

    def generalised_k(frame: pl.DataFrame) -> int | None:
        if not qis or not levels:
            return None
        at_plan = frame.with_columns(levels[q](pl.col(q)).alias(q) for q in qis if q in levels)
        return summarise(at_plan.lazy(), list(qis)).k

    contributions = []
    for i, e in enumerate(extracts):
        mine = (mask_arr >> i) & 1 == 1
        people_frame = e.people.select([LINK, *qis]).rename({LINK: SUBJECT}).unique()
        alone = summarise(people_frame.lazy(), list(qis)) if qis else None
        contributions.append(SiteContribution(
            name=e.name, rows=e.rows, people=suppress(int(mine.sum()), small_cell),
            unique_people=suppress(int((mask_arr == (1 << i)).sum()), small_cell),
            categories=int(((cat_masks >> i) & 1).sum()), unique_categories=int((cat_masks == (1 << i)).sum()),
            k_alone=alone.k if alone else None,
            unique_share_alone=alone.share_below(2) if alone else None,
            k_alone_generalised=generalised_k(people_frame),
            checks=e.checks, columns=e.columns,
        ))  # fmt: skip
    all_people = pl.concat([e.people.select([LINK, *qis]) for e in extracts]).rename(
        {LINK: SUBJECT}
    )
    first = all_people.group_by(SUBJECT, maintain_order=True).first()
    pooled = summarise(first.lazy(), list(qis)) if qis else None
    people_counts = [int(((mask_arr >> i) & 1).sum()) for i in range(n)]
    split = _split(names, [e.rows for e in extracts], people_counts, values, ps.weights, assessment)
    found_conflicts = suppress(conflicts(extracts), small_cell)
    return Pool(
        name=ps.name, key=ps.key, small_cell=small_cell, sites=tuple(contributions),
        distinct_people=int(masks.height), people_in_several=suppress(several, small_cell),
        overlap=overlap, conflicts=found_conflicts, k_pooled=pooled.k if pooled else None,
        unique_share_pooled=pooled.share_below(2) if pooled else None,
        k_pooled_generalised=generalised_k(first), quasi_identifiers=tuple(qis),
        generalisation=dict(plan.keys) if (plan := assessment.privacy.plan) else {},
        shapley=values, model_metric=metric, split=split, assessment=assessment, notes=tuple(notes),
    )  # fmt: skip


def _shares(values: Sequence[float]) -> tuple[float, ...]:
    whole = sum(values)
    return tuple(v / whole if whole else 0.0 for v in values)


def _split(
    names: Sequence[str],
    rows: Sequence[int],
    people: Sequence[int],
    values: Mapping[str, ShapleyValues],
    weights: Mapping[str, float],
    assessment: Assessment,
) -> RevenueSplit:
    by_game = {g: sv.shares() for g, sv in values.items()}
    # People shares to whole percent: with a value in people, the overlap counts hidden as
    # small cells could be worked out from the diagonal.
    if "people" in by_game:
        by_game["people"] = _whole_percent(by_game["people"])
    used = {g: w for g, w in weights.items() if g in by_game and w > 0 and sum(by_game[g]) > 0}
    total_w = sum(used.values())
    recommended = tuple(
        sum(used[g] * by_game[g][i] for g in used) / total_w if total_w else 1 / len(names)
        for i in range(len(names))
    )
    v = assessment.valuation
    band = tuple(float(b) for b in v.band) if v is not None else None
    return RevenueSplit(
        tuple(names), recommended, _shares(rows), _shares(people), by_game,
        {g: w / total_w for g, w in used.items()} if total_w else {}, band,  # type: ignore[arg-type]
        v.currency if v is not None else None,
    )  # fmt: skip


def _whole_percent(shares: Sequence[float]) -> tuple[float, ...]:
    """Shares rounded to whole percent, still adding up to 1 (largest remainders)."""
    if not sum(shares):
        return tuple(shares)
    raw = [s * 100 for s in shares]
    floors = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: raw[i] - floors[i], reverse=True)
    for i in order[: 100 - sum(floors)]:
        floors[i] += 1
    return tuple(f / 100 for f in floors)
