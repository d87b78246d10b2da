"""Coverage: which diseases and which people a dataset covers.

Every diagnosis-code column of every table is stacked into one long frame of (patient,
code, position), normalised to WHO ICD-10 (:mod:`medvalue.core._codes`) and joined to the WHO
hierarchy; patients and records are then counted per chapter, block, category and named
code list. Demographics come from the table that records sex, one row per patient. Every
count of people passes the small-cell rule (:mod:`medvalue.analyses._privacy`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import polars as pl
import yaml

from medvalue.core import _codes as codes
from medvalue.core import _parts
from medvalue.core import _patterns as patterns
from medvalue.core._config import PACKAGE_DATA, SMALL_CELL_THRESHOLD
from medvalue.core._display import Displayed
from medvalue.core._errors import InputError
from medvalue.core._files import load_user_yaml, load_yaml
from medvalue.core._i18n import text
from medvalue.core._lookup import look_up
from medvalue.core._suppression import suppress
from medvalue.read import standards
from medvalue.read._by_patient import ROW, Input, Parts, Rows, by_patient, patient_parts
from medvalue.read._dataset import Dataset
from medvalue.read._spec import TableSpec
from medvalue.read._tables import read_user_table

TOP_CONDITIONS = 20
TOP_PAIRS = 20
AGE_BANDS_5 = tuple(range(0, 90, 5))  # 0-4 ... 85-89, then 90+ (ages top-coded at 90)
AGE_BANDS_BROAD = ((0, 17), (18, 44), (45, 64), (65, 79), (80, 200))


@dataclass(frozen=True)
class Count:
    """Patients and records for one key (a chapter, a category, a band ...)."""

    key: str
    title: str | None
    title_zh: str | None
    patients: int | None  # None: withheld by the small-cell rule
    records: int | None

    def condition(self, lang: str) -> str:
        """An ICD-10 category's name in ``lang``: WHO titles are English only, so in Chinese
        its own Chinese title where there is one, else the Chinese title of its chapter
        (a Chinese reader learns the disease area)."""
        if lang != "zh" or self.title_zh:
            return (self.title_zh if lang == "zh" else self.title) or ""
        chapter = codes.chapter_title_zh(self.key)
        return (
            text("coverage_labels", "in_chapter", lang, chapter=chapter)
            if chapter
            else (self.title or "")
        )

    def to_dict(self, key_name: str) -> dict[str, Any]:
        return {
            key_name: self.key,
            "title": self.title,
            "title_zh": self.title_zh,
            "patients": self.patients,
            "records": self.records,
            "suppressed": self.patients is None,
        }


@dataclass(frozen=True)
class ConceptCount:
    """Patients and records for one concept of a standard's vocabulary (OMOP concept, FHIR
    coding), for diagnoses not coded in ICD-10."""

    code: str
    name: str | None
    vocabulary: str | None
    patients: int | None  # None: withheld by the small-cell rule
    records: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "vocabulary": self.vocabulary,
                "patients": self.patients, "records": self.records}  # fmt: skip


@dataclass(frozen=True)
class Demographics:
    sex: tuple[Count, ...]
    age_bands: tuple[Count, ...]
    age_bands_broad: tuple[Count, ...]
    pyramid: tuple[tuple[str, str, int | None], ...]  # (age band, sex, patients)
    regions: tuple[Count, ...]
    years: tuple[Count, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sex": [c.to_dict("sex") for c in self.sex],
            "age_bands": [c.to_dict("band") for c in self.age_bands],
            "age_bands_broad": [c.to_dict("band") for c in self.age_bands_broad],
            "pyramid": [
                {"band": b, "sex": s, "patients": n, "suppressed": n is None}
                for b, s, n in self.pyramid
            ],
            "regions": [c.to_dict("region") for c in self.regions],
            "years": [c.to_dict("year") for c in self.years],
        }


@dataclass(frozen=True)
class ReferenceComparison:
    """The dataset's age-sex mix against a reference population (e.g. national shares).

    ``tvd`` is the total variation distance, half the sum of absolute differences between
    the two distributions over the age-band x sex cells: 0 when the mixes are identical, 1
    when they share nothing. Read it as "the share of patients that would have to move to
    another age-sex group for the dataset to look like the reference".
    """

    tvd: float
    cells: tuple[tuple[str, str, float, float], ...]  # band, sex, dataset share, reference share

    def to_dict(self) -> dict[str, Any]:
        return {
            "tvd": round(self.tvd, 4),
            "cells": [
                {"band": b, "sex": s, "dataset_share": round(d, 6), "reference_share": round(r, 6)}
                for b, s, d, r in self.cells
            ],
        }


@dataclass(frozen=True, repr=False)
class Coverage(Displayed):
    """What :func:`coverage` returns."""

    _view: ClassVar[str] = "coverage_section"

    dataset: str
    small_cell: int
    patients: int | None
    patients_with_valid_code: int | None
    code_status: Mapping[str, int]
    chapters: tuple[Count, ...]
    blocks: tuple[Count, ...]
    categories: tuple[Count, ...]
    positions: Mapping[str, tuple[Count, ...]]  # primary / secondary -> chapters
    code_lists: tuple[Count, ...]
    comorbidity_pairs: tuple[tuple[str, str, int | None], ...]
    demographics: Demographics
    reference: ReferenceComparison | None = None
    #: Diagnoses in a standard's own vocabulary (OMOP concepts, FHIR codings), most common first.
    concepts: tuple[ConceptCount, ...] = ()
    #: Columns holding diagnosis codes (ICD or a standard's concepts); none for a trial or a
    #: registry table, whose coverage is then its people and outcomes.
    code_columns: tuple[str, ...] = ()
    #: People per value of each outcome label (``table.column`` -> counts), small cells withheld.
    outcomes: Mapping[str, tuple[Count, ...]] = field(default_factory=dict)
    specialty: str | None = None
    #: Records and people per vocabulary of the diagnosis codes (ICD10, ICD9, SNOMED, LOINC,
    #: other; a standard's concepts by their vocabulary), most records first.
    vocabularies: tuple[Count, ...] = ()
    #: People with at least one code recognised in any vocabulary: a valid ICD-10 code, a
    #: SNOMED/LOINC-shaped code or a standard concept (what value density is measured on).
    patients_with_recognised_code: int | None = None

    #: The exact share of people with a recognised code, for the valuation only (never
    #: written out: with the total it would give away a small count of uncoded people).
    coded_share: float | None = field(default=None, repr=False)

    @property
    def share_with_recognised_code(self) -> float | None:
        if not self.patients or self.patients_with_recognised_code is None:
            return None
        return round(min(1.0, self.patients_with_recognised_code / self.patients), 6)

    @property
    def has_codes(self) -> bool:
        return bool(self.code_columns) or bool(self.concepts)

    @property
    def share_with_valid_code(self) -> float | None:
        """Share of patients with at least one valid ICD-10 code (None when withheld)."""
        if not self.patients or self.patients_with_valid_code is None:
            return None
        return round(self.patients_with_valid_code / self.patients, 6)

    @property
    def top_conditions(self) -> tuple[Count, ...]:
        ranked = sorted(self.categories, key=lambda c: (-(c.patients or 0), c.key))
        return tuple(c for c in ranked if c.patients is not None)[:TOP_CONDITIONS]

    def headline(self, lang: str) -> tuple[str, str]:
        """The summary card: chapters covered and the largest cohort, in one sentence."""
        covered = sum(1 for c in self.chapters if c.patients)
        top = self.top_conditions[0] if self.top_conditions else None
        shown = [c for c in self.concepts if c.patients]
        if not self.has_codes:
            people = f"{self.patients:,}" if self.patients is not None else "-"
            return (
                text("headlines", "coverage_no_codes", lang),
                text("headlines", "coverage_no_codes_sentence", lang, people=people),
            )
        if not covered and shown:  # no ICD-10 codes: say it in the standard's concepts
            concept = shown[0].name or shown[0].code
            n = len(self.concepts)
            return (
                text("headlines", "coverage_concepts", lang, n=n),
                text("headlines", "coverage_concepts_sentence", lang, n=n, concept=concept),
            )
        if top is None:
            sentence = text("headlines", "coverage_chapters_sentence", lang, covered=covered)
        else:
            title = top.condition(lang)
            if lang == "zh" and not top.title_zh and title != top.title:
                title = f"（{title}）"  # the chapter, not the category: said as an aside
            sentence = text("headlines", "coverage_top_sentence", lang, covered=covered,
                            code=top.key, title=title)  # fmt: skip
        return text("headlines", "coverage_chapters", lang, covered=covered), sentence

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "code_system": "icd10",
            "small_cell_threshold": self.small_cell,
            "patients": self.patients,
            "patients_with_valid_code": self.patients_with_valid_code,
            "share_with_valid_code": self.share_with_valid_code,
            "code_status": dict(self.code_status),
            "chapters": [c.to_dict("chapter") for c in self.chapters],
            "blocks": [c.to_dict("block") for c in self.blocks],
            "categories": [c.to_dict("code") for c in self.categories],
            "positions": {k: [c.to_dict("chapter") for c in v] for k, v in self.positions.items()},
            "top_conditions": [c.to_dict("code") for c in self.top_conditions],
            "code_lists": [c.to_dict("name") for c in self.code_lists],
            "comorbidity_pairs": [
                {"a": a, "b": b, "patients": n} for a, b, n in self.comorbidity_pairs
            ],
            "demographics": self.demographics.to_dict(),
            "reference": None if self.reference is None else self.reference.to_dict(),
            "concepts": [c.to_dict() for c in self.concepts],
            "has_codes": self.has_codes,
            "vocabularies": [c.to_dict("vocabulary") for c in self.vocabularies],
            "patients_with_recognised_code": self.patients_with_recognised_code,
            "share_with_recognised_code": self.share_with_recognised_code,
            "code_columns": list(self.code_columns),
            "outcomes": {k: [c.to_dict("value") for c in v] for k, v in self.outcomes.items()},
            "specialty": self.specialty,
        }


@cache
def default_code_lists() -> dict[str, Any]:
    return load_yaml((PACKAGE_DATA / "code_lists.yaml").read_text(encoding="utf-8"))


def load_code_lists(path: str | Path) -> dict[str, Any]:
    """Read named code lists (``name: {en, zh, prefixes: [...]}``) from YAML."""
    p = Path(path)
    if not p.exists():
        raise InputError.at(path, "no such code-list file", "check the path")
    try:
        doc = load_user_yaml(p.read_text(encoding="utf-8-sig"), p)
    except yaml.YAMLError:
        raise InputError.at(path, "not valid YAML", "fix the indentation or quoting") from None
    if not isinstance(doc, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("prefixes"), list) and v["prefixes"]
        for v in doc.values()
    ):
        raise InputError.at(
            path,
            "each code list needs a non-empty 'prefixes' list",
            "write name: {prefixes: [K72, K74]}",
        )
    return doc


def load_reference(path: str | Path) -> pl.DataFrame:
    """Read a reference age-sex distribution: CSV with columns band, sex (M/F), share."""
    df = read_user_table(
        path,
        "reference",
        ("band", "sex", "share"),
        "give columns band (e.g. 45-49), sex (M/F), share",
    )
    out = df.select(
        pl.col("band").str.strip_chars(),
        patterns.canonical_sex(pl.col("sex")).alias("sex"),
        pl.col("share").cast(pl.Float64, strict=False),
    )
    if out["share"].null_count() or out["sex"].null_count() or (out["share"] < 0).any():
        raise InputError.at(
            path, "a share is not a non-negative number, or a sex is not M/F", "fix those rows"
        )
    unknown = set(out["band"]) - set(_band_labels())
    if unknown:
        raise InputError.at(
            path,
            f"unknown age band(s) {sorted(unknown)[:5]}",
            f"use 5-year bands {_band_labels()[0]} .. 90+",
        )
    return out


def compare_with_reference(pyramid: pl.DataFrame, reference: pl.DataFrame) -> ReferenceComparison:
    """Total variation distance between two age-band x sex distributions (counts or shares)."""
    a = pyramid.select("band", "sex", (pl.col("n") / pl.col("n").sum()).alias("d"))
    b = reference.select("band", "sex", (pl.col("share") / pl.col("share").sum()).alias("r"))
    both = a.join(b, on=["band", "sex"], how="full", coalesce=True).fill_null(0.0)
    order = {label: i for i, label in enumerate(_band_labels())}
    both = both.sort(pl.col("band").replace_strict(order, default=99), "sex")
    tvd = 0.5 * float((both["d"] - both["r"]).abs().sum())
    return ReferenceComparison(tvd, tuple(both.select("band", "sex", "d", "r").iter_rows()))


def coverage(
    ds: Dataset,
    *,
    code_lists: Mapping[str, Any] | str | Path | None = None,
    reference: pl.DataFrame | str | Path | None = None,
    small_cell: int = SMALL_CELL_THRESHOLD,
) -> Coverage:
    """Count patients and records per ICD-10 chapter, block, category and code list.

    ``code_lists`` and ``reference`` may be given as file paths (YAML and CSV, read with
    :func:`load_code_lists` and :func:`load_reference`) or as loaded objects. Runs where the
    tables are: on one machine, or in Spark for a dataset that stays there (only counts
    reach the driver).

    Examples
    --------
    >>> from medvalue import load_dataset
    >>> from medvalue.core._config import SAMPLE_DIR
    >>> cov = coverage(load_dataset(SAMPLE_DIR / "county_hospital"))
    >>> cov.patients
    3000
    """
    if isinstance(code_lists, str | Path):
        code_lists = load_code_lists(code_lists)
    if isinstance(reference, str | Path):
        reference = load_reference(reference)
    lists = dict(code_lists if code_lists is not None else default_code_lists())

    patients = ds.distinct_count("patient_id")
    demographics, pyramid = _demographics(ds, small_cell)
    with patient_parts(ds, _diagnosis_inputs(ds)) as diagnoses:
        tallies = _diagnosis_tallies(diagnoses, lists)
        pairs = _pairs(diagnoses, _measure(tallies, "category"), small_cell)
    return _coverage(
        ds, tallies, pairs, patients, demographics, pyramid, lists, reference, small_cell
    )


def _coverage(
    ds: Dataset,
    tallies: pl.DataFrame,
    pairs: tuple[tuple[str, str, int | None], ...],
    patients: int | None,
    demographics: Demographics,
    pyramid: pl.DataFrame,
    lists: Mapping[str, Any],
    reference: pl.DataFrame | None,
    small_cell: int,
) -> Coverage:
    """The result from the diagnosis ``tallies`` (people and records per measure and key,
    added up over the parts of the patients: see :func:`_diagnosis_part`)."""
    status = {k: r for k, (_, r) in _measure(tallies, "status").items()}
    with_valid = _measure(tallies, "valid").get("", (0, 0))[0]
    recognised = _measure(tallies, "recognised").get("", (0, 0))[0]
    table = codes.code_table()
    chapters = _counts(
        _measure(tallies, "chapter"), small_cell, _titles(table, "chapter"),
        order=codes.CHAPTER_ORDER, total=with_valid,
    )  # fmt: skip
    blocks = _counts(
        _measure(tallies, "block"), small_cell, _titles(table, "block"), total=with_valid
    )
    categories = _counts(
        _measure(tallies, "category"), small_cell, _titles(table, "category"), total=with_valid
    )
    positions: dict[str, tuple[Count, ...]] = {
        pos: _counts(
            _measure(tallies, pos), small_cell, _titles(table, "chapter"), order=codes.CHAPTER_ORDER
        )
        for pos in ("primary", "secondary")
        if pos in _positions(ds)
    }
    listed = _measure(tallies, "list")
    cohorts = tuple(
        Count(name, spec.get("en"), spec.get("zh"),
              suppress(listed.get(name, (0, 0))[0], small_cell), None)
        for name, spec in lists.items()
    )  # fmt: skip
    return Coverage(
        dataset=ds.name,
        small_cell=small_cell,
        patients=suppress(patients, small_cell),
        # The people without a valid code are the total minus these: a small difference
        # is a small count of people, so the count is withheld then.
        patients_with_valid_code=suppress(with_valid, small_cell)
        if patients is None or not 0 < patients - with_valid < small_cell
        else None,
        code_status={s: int(status.get(s, 0)) for s in codes.STATUSES},
        chapters=chapters,
        blocks=blocks,
        categories=categories,
        positions=positions,
        code_lists=cohorts,
        comorbidity_pairs=pairs,
        demographics=demographics,
        reference=compare_with_reference(pyramid, reference) if reference is not None else None,
        concepts=_concepts(ds, tallies, small_cell),
        code_columns=tuple(
            f"{t}.{c}" for t in ds.table_names for c in ds.table_spec(t).icd_code_columns
        ),
        outcomes=_outcomes(ds, small_cell),
        specialty=ds.spec.metadata.get("specialty"),
        vocabularies=_vocabularies(_measure(tallies, "vocabulary"), small_cell),
        patients_with_recognised_code=suppress(recognised, small_cell)
        if patients is None or not 0 < patients - recognised < small_cell
        else None,
        coded_share=min(1.0, recognised / patients) if patients else None,
    )


#: What each part of the patients adds up to: people and records per measure (a count such
#: as chapter, list or vocabulary) and key (its value); concepts carry a name and vocabulary.
TALLY = {
    "measure": pl.String(),
    "key": pl.String(),
    "patients": pl.Int64(),
    "records": pl.Int64(),
    "name": pl.String(),
    "vocabulary": pl.String(),
}
_DIAGNOSES = {"patient": pl.String(), "code": pl.String(), "position": pl.String()}
_CODED = {"patient": pl.String(), "vocabulary": pl.String()}
_CONCEPTS = {"patient": pl.String(), "code": pl.String(), "name": pl.String(),
             "vocabulary": pl.String()}  # fmt: skip


def _diagnosis_inputs(ds: Dataset) -> dict[str, Input]:
    concept_rows = standards.concept_rows(ds.raw)
    return {
        "diagnoses": _diagnoses(ds),
        "coded": Input(_coded(ds), _CODED),
        "concepts": Input((concept_rows,) if concept_rows else (), _CONCEPTS),
    }


def _diagnosis_tallies(diagnoses: Parts, lists: Mapping[str, Any]) -> pl.DataFrame:
    """The tallies of :func:`_diagnosis_part`, added up over the parts of the patients."""
    prefixes = {name: [str(p).upper() for p in spec["prefixes"]] for name, spec in lists.items()}
    stacked = diagnoses.reduce(lambda f: _diagnosis_part(f, prefixes))
    return stacked.group_by("measure", "key").agg(
        pl.col("patients", "records").sum(), pl.col("name", "vocabulary").min()
    )


def _measure(tallies: pl.DataFrame, measure: str) -> dict[str, tuple[int, int]]:
    """(people, records) per key of ``measure`` (a few hundred at most: chapters, lists)."""
    rows = tallies.filter(pl.col("measure") == measure).select("key", "patients", "records")
    return {k: (int(p), int(r)) for k, p, r in rows.iter_rows() if k is not None}


def _normalised(diagnoses: pl.LazyFrame) -> pl.LazyFrame:
    """The diagnosis records with their code normalised to WHO ICD-10 and its hierarchy."""
    hierarchy = codes.hierarchy("code_icd10").select("code_icd10", "category", "block", "chapter")
    return codes.normalise(diagnoses, "code").join(hierarchy, on="code_icd10", how="left")


def _tally(
    measure: str, frame: pl.LazyFrame, key: pl.Expr | None, person: str = "patient"
) -> pl.LazyFrame:
    """People (distinct ``person``) and records of ``frame`` per value of ``key`` (one row
    without a key)."""
    counts = [pl.col(person).n_unique().alias("patients"), pl.len().alias("records")]
    grouped = frame.group_by(key.alias("key")).agg(counts) if key is not None else (
        frame.select(pl.lit("").alias("key"), *counts)
    )  # fmt: skip
    return grouped.select(pl.lit(measure).alias("measure"), pl.col("key").cast(pl.String),
                          pl.col("patients", "records").cast(pl.Int64))  # fmt: skip


def _diagnosis_part(
    frames: Mapping[str, pl.LazyFrame], prefixes: Mapping[str, Sequence[str]]
) -> pl.LazyFrame:
    """One part of the patients' diagnosis tallies: records per code status; people and
    records with a valid ICD-10 code, per chapter, block and category, per chapter of the
    primary and secondary diagnoses, and per code list; per vocabulary of the code columns;
    per concept of a standard; and the people with any recognised code (a valid ICD-10 code,
    a SNOMED or LOINC code, or a standard concept)."""
    # Held once, read by each count; people numbered alike in all three inputs, so that
    # they are counted as numbers (distinct text ids of 2.5M people: 1.5 s a count).
    held = [
        _normalised(frames["diagnoses"]).collect(engine="streaming"),
        frames["coded"].collect(engine="streaming"),
        frames["concepts"].collect(engine="streaming"),
    ]
    people = _parts.person_numbers(pl.concat([f["patient"] for f in held]))
    starts = [0, held[0].height, held[0].height + held[1].height]
    normal, coded_held, concepts_held = (
        f.with_columns(people.slice(at, f.height).alias("person"))
        for f, at in zip(held, starts, strict=True)
    )
    valid = normal.lazy().filter(pl.col("code_icd10").is_not_null())
    status = normal.lazy().group_by(pl.col("code_status").alias("key")).agg(
        pl.lit(0, pl.Int64).alias("patients"), pl.len().cast(pl.Int64).alias("records")
    ).select(pl.lit("status").alias("measure"), "key", "patients", "records")  # fmt: skip
    codes_held = valid.select("code_icd10").unique()
    membership = codes_held.select(
        "code_icd10",
        pl.concat_list([
            pl.when(pl.any_horizontal([pl.col("code_icd10").str.starts_with(p) for p in starts]))
            .then(pl.lit(name)) for name, starts in prefixes.items()
        ]).list.drop_nulls().alias("list") if prefixes else pl.lit([], pl.List(pl.String)).alias("list"),
    ).explode("list").drop_nulls("list")  # fmt: skip
    coded, concepts = coded_held.lazy(), concepts_held.lazy()
    standard = concepts.filter(pl.col("vocabulary").fill_null("") != "source")
    recognised = pl.concat([
        coded.filter(~pl.col("vocabulary").is_in(["ICD10", "ICD9", "other"])).select("person"),
        valid.select("person"), standard.select("person"),
    ])  # fmt: skip
    named = concepts.group_by(pl.col("code").alias("key")).agg(
        pl.col("person").n_unique().cast(pl.Int64).alias("patients"),
        pl.len().cast(pl.Int64).alias("records"), pl.col("name", "vocabulary").min(),
    ).select(pl.lit("concept").alias("measure"), pl.all())  # fmt: skip
    tallies = [
        status,
        _tally("valid", valid, None, "person"),
        *[_tally(level, valid, pl.col(level), "person") for level in ("chapter", "block", "category")],
        *[_tally(pos, valid.filter(pl.col("position") == pos), pl.col("chapter"), "person")
          for pos in ("primary", "secondary")],
        _tally("list", valid.join(membership, on="code_icd10"), pl.col("list"), "person"),
        _tally("vocabulary", coded, pl.col("vocabulary"), "person"),
        _tally("recognised", recognised, None, "person"),
        named,
    ]  # fmt: skip
    return pl.concat(tallies, how="diagonal_relaxed").select(
        [pl.col(c).cast(t) for c, t in TALLY.items()]
    )


def _coded(ds: Dataset) -> tuple[Rows, ...]:
    """(patient, vocabulary) for every diagnosis code of every code column, by its shape."""
    pieces = []
    for t in ds.table_names:
        pid = ds.table_spec(t).first("patient_id")
        if pid is None:
            continue
        for c in ds.table_spec(t).with_role("diagnosis_code"):
            columns = (pl.col(pid).cast(pl.String).alias("patient"),
                       patterns.vocabulary(pl.col(c)).alias("vocabulary"))  # fmt: skip
            keep = pl.col("patient").is_not_null() & pl.col("vocabulary").is_not_null()
            pieces.append(Rows(t, columns, keep))
    return tuple(pieces)


def _vocabularies(counted: Mapping[str, tuple[int, int]], small_cell: int) -> tuple[Count, ...]:
    """Records and people per vocabulary of the code columns, most records first."""
    mix = []
    for vocab, (people, records) in sorted(counted.items(), key=lambda kv: (-kv[1][1], kv[0])):
        shown = suppress(people, small_cell)
        mix.append(Count(vocab, None, None, shown, records if shown is not None else None))
    return tuple(mix)


#: A label with more levels than this is a measurement, not an outcome to count people by.
MAX_OUTCOME_LEVELS = 12


def _outcomes(ds: Dataset, small_cell: int) -> dict[str, tuple[Count, ...]]:
    """People (rows where the table names no patient id) per value of each label column;
    the values of one label partition its people, so they are suppressed together."""
    labels = ds.spec.columns_with_role("label")
    if not labels:
        return {}
    inputs = {}
    for i, (t, c) in enumerate(labels):
        pid = ds.table_spec(t).first("patient_id")
        # "0", "0.0" and 0.0 are one outcome (patterns.label_text), as readiness reads them.
        value = patterns.label_text(pl.col(c), ds.typed_schema(t)[c])
        # Rows stand for people where the table names none (one row each).
        patient = pl.col(pid) if pid else pl.col(ROW)
        rows = Rows(t, (patient.cast(pl.String).alias("patient"), value.alias("value")))
        inputs[f"{i}"] = Input((rows,), {"patient": pl.String(), "value": pl.String()})

    def part(frames: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
        # A part holding more levels than an outcome has tells the whole column has them:
        # one more than the limit is kept, not every value of a measurement.
        return pl.concat([
            _tally(name, frame, pl.col("value")).sort("key", nulls_last=True)
            .head(MAX_OUTCOME_LEVELS + 1) for name, frame in frames.items()
        ])  # fmt: skip

    tallies = by_patient(ds, inputs, part).group_by("measure", "key").agg(
        pl.col("patients", "records").sum()
    )  # fmt: skip
    out: dict[str, tuple[Count, ...]] = {}
    for i, (t, c) in enumerate(labels):
        counted = tallies.filter(pl.col("measure") == f"{i}").sort("key", nulls_last=True)
        if counted.height > MAX_OUTCOME_LEVELS:
            continue
        shown = suppress([int(n) for n in counted["patients"]], small_cell)
        out[f"{t}.{c}"] = tuple(
            Count(str(v) if v is not None else "(missing)", None, None, n,
                  int(r) if n is not None else None)
            for v, n, r in zip(counted["key"], shown, counted["records"], strict=True)
        )  # fmt: skip
    return out


#: Concepts listed at most (the most common first).
TOP_CONCEPTS = 50


def _concepts(ds: Dataset, tallies: pl.DataFrame, small_cell: int) -> tuple[ConceptCount, ...]:
    """The most common concepts of a standard, named from its vocabulary where it has one."""
    counted = (
        tallies.filter(pl.col("measure") == "concept")
        .sort(["patients", "key"], descending=[True, False])
        .head(TOP_CONCEPTS)
    )
    named = standards.concept_names(ds.raw, counted["key"].to_list())
    out = []
    for code, patients, records, name, vocabulary in counted.select(
        "key", "patients", "records", "name", "vocabulary"
    ).iter_rows():
        if vocabulary != "source" and code in named:
            name, vocabulary = named[code]
        shown = suppress(int(patients), small_cell)
        out.append(
            ConceptCount(
                str(code), name, vocabulary, shown, int(records) if shown is not None else None
            )
        )
    return tuple(out)


def _diagnoses(ds: Dataset) -> Input:
    """(patient, code, position) for every ICD diagnosis code in every table (no records
    when no column holds diagnosis codes)."""
    pieces = []
    for t in ds.table_names:
        tspec = ds.table_spec(t)
        pid = tspec.first("patient_id")
        # One row per patient when the table names no patient id.
        patient = pl.col(pid).cast(pl.String) if pid else pl.concat_str(
            pl.lit(f"{t}#"), pl.col(ROW).cast(pl.String)
        )  # fmt: skip
        for c in tspec.icd_code_columns:
            position = tspec.columns[c].position or _position_from_table(tspec)
            keep = pl.col("code").is_not_null() & pl.col("patient").is_not_null()
            if tspec.columns[c].code_system == "mixed":  # the ICD rows of a mixed column
                keep = keep & patterns.vocabulary(pl.col("code")).is_in(["ICD10", "ICD9"])
            columns = (patient.alias("patient"), pl.col(c).cast(pl.String).alias("code"),
                       _position_expr(tspec, position).alias("position"))  # fmt: skip
            pieces.append(Rows(t, columns, keep))
    return Input(tuple(pieces), _DIAGNOSES)


def _position_from_table(tspec: TableSpec) -> str | None:
    # A diagnoses table often says primary/secondary in a column of its own.
    return "column" if any(_is_position_column(c) for c in tspec.columns) else None


def _is_position_column(name: str) -> bool:
    n = name.lower()
    return n in ("diagnosis_type", "dx_type", "position", "诊断类型", "诊断类别") or "主次" in n


def _position_expr(tspec: TableSpec, position: str | None) -> pl.Expr:
    if position == "column":
        col = next(c for c in tspec.columns if _is_position_column(c))
        text = pl.col(col).cast(pl.String).str.to_lowercase()
        return (
            pl.when(text.str.contains("primary|main|principal|主要|主诊断|^1$"))
            .then(pl.lit("primary"))
            .when(text.is_not_null())
            .then(pl.lit("secondary"))
        )
    return pl.lit(position, dtype=pl.String)


def _positions(ds: Dataset) -> set[str]:
    out: set[str] = set()
    for t in ds.table_names:
        tspec = ds.table_spec(t)
        for c in tspec.icd_code_columns:
            pos = tspec.columns[c].position or _position_from_table(tspec)
            out |= {"primary", "secondary"} if pos == "column" else ({pos} if pos else set())
    return out


def _titles(table: pl.DataFrame, level: str) -> dict[str, tuple[str | None, str | None]]:
    if level == "chapter":
        rows = table.select("chapter", "chapter_title", "chapter_title_zh").unique()
    elif level == "block":
        rows = table.select("block", "block_title", pl.lit(None, dtype=pl.String)).unique()
    else:
        rows = table.select("category", "category_title", pl.lit(None, dtype=pl.String)).unique()
    return {k: (en, zh) for k, en, zh in rows.iter_rows()}  # the code table, not data rows


def _counts(
    counted: Mapping[str, tuple[int, int]],
    small_cell: int,
    titles: Mapping[str, tuple[str | None, str | None]],
    order: Sequence[str] | None = None,
    total: int | None = None,
) -> tuple[Count, ...]:
    """People and records per key of ``counted``, suppressed (see below), titled."""
    keys = list(order) if order else sorted(counted)
    people = [counted.get(k, (0, 0))[0] for k in keys]
    # Where every patient falls in exactly one key (one diagnosis each), the counts add up
    # to the shown total: suppress them as a partition, so no hidden one is a difference.
    partition = total is not None and sum(people) == total
    kept = suppress(people, small_cell) if partition else [suppress(n, small_cell) for n in people]
    out = []
    for k, shown in zip(keys, kept, strict=True):
        r = counted.get(k, (0, 0))[1]
        en, zh = titles.get(k, (None, None))
        out.append(Count(k, en, zh, shown, r if shown is not None else None))
    return tuple(out)


def _pairs(
    diagnoses: Parts, categories: Mapping[str, tuple[int, int]], small_cell: int
) -> tuple[tuple[str, str, int | None], ...]:
    """The most frequent pairs among the 30 commonest categories recorded for one patient.

    Each patient's categories become a bit mask; patients sharing a mask are counted once,
    so the pair counts come from a few thousand masks instead of a self-join of patients.
    """
    top = sorted(categories, key=lambda k: (-categories[k][0], k))[:30]
    if len(top) < 2:
        return ()
    bits = {c: 1 << i for i, c in enumerate(top)}

    def part(frames: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
        bit = look_up(pl.col("category"), bits, return_dtype=pl.UInt64)
        valid = _normalised(frames["diagnoses"]).filter(pl.col("code_icd10").is_not_null())
        return (
            valid.select("patient", bit.alias("bit")).drop_nulls("bit").unique()
            .group_by("patient").agg(pl.col("bit").sum().alias("mask"))
            .group_by("mask").agg(pl.len().cast(pl.Int64).alias("n"))
        )  # fmt: skip

    masks = diagnoses.reduce(part).group_by("mask").agg(pl.col("n").sum())
    has = [(pl.col("mask") // (1 << i)) % 2 == 1 for i in range(len(top))]
    exprs = [
        pl.col("n").filter(has[i] & has[j]).sum().alias(f"{i},{j}")
        for i in range(len(top))
        for j in range(i + 1, len(top))
    ]
    counts = masks.select(exprs).row(0, named=True)
    pairs = []
    for key, n in counts.items():  # at most 435 pairs, not data rows
        i, j = (int(x) for x in key.split(","))
        a, b = sorted((top[i], top[j]))
        if suppress(int(n), small_cell):
            pairs.append((a, b, int(n)))
    pairs.sort(key=lambda p: (-p[2], p[0], p[1]))
    return tuple(pairs[:TOP_PAIRS])


def _person_table(ds: Dataset) -> str | None:
    candidates = [t for t in ds.table_names if ds.table_spec(t).first("sex")]
    patients = [t for t in candidates if ds.table_spec(t).kind == "patients"]
    found = patients or candidates
    return found[0] if found else None


_EMPTY_PYRAMID = pl.DataFrame(schema={"band": pl.String, "sex": pl.String, "n": pl.Int64})


def _demographics(ds: Dataset, small_cell: int) -> tuple[Demographics, pl.DataFrame]:
    """The demographics (suppressed) and the exact age-sex counts (only for a share-based TVD)."""
    t = _person_table(ds)
    years = _years(ds, small_cell)
    if t is None:
        return Demographics((), (), (), (), (), years), _EMPTY_PYRAMID
    tspec = ds.table_spec(t)
    pid, sex, region = tspec.first("patient_id"), tspec.first("sex"), tspec.first("region")
    assert sex is not None  # _person_table chose a table with a sex column
    people = Rows(t, (
        (pl.col(pid) if pid else pl.col(ROW)).cast(pl.String).alias("patient"),
        patterns.canonical_sex(pl.col(sex)).fill_null("U").alias("sex"),
        _age_expr(ds, t).alias("age"),
        (pl.col(region) if region else pl.lit(None)).cast(pl.String).alias("region"),
    ), keep=pl.col("patient").is_not_null())  # fmt: skip
    person = {"patient": pl.String(), "sex": pl.String(), "age": pl.Float64(),
              "region": pl.String()}  # fmt: skip
    inputs = {"people": Input((people,), person)}
    # The youngest age recorded elsewhere (e.g. at admission in the encounters table), else
    # the age at the last recorded event, when the person table has birth dates only.
    elsewhere = _ages_elsewhere(ds, t) if pid else None
    if elsewhere is not None:
        inputs["ages"] = Input((elsewhere,), {"patient": pl.String(), "age": pl.Float64()})
    elif pid and (dated := _age_at_last_record(ds, t)) is not None:
        births, events = dated
        inputs["births"] = Input((births,), {"patient": pl.String(), "at": pl.Datetime("us")})
        inputs["events"] = Input(events, {"patient": pl.String(), "at": pl.Datetime("us")})
    kept = ["sex", "band", "broad", *(["region"] if region else [])]

    def part(frames: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
        # One row per patient: the first record's sex and region, the youngest recorded age.
        per = (
            frames["people"]
            .group_by("patient")
            .agg(pl.col("sex").first(), pl.col("age").min(), pl.col("region").first())
        )
        if "ages" in frames:
            other = frames["ages"].group_by("patient").agg(pl.col("age").min().alias("other"))
        elif "births" in frames:
            last = frames["events"].group_by("patient").agg(pl.col("at").max().alias("last"))
            born = frames["births"].unique("patient", keep="first", maintain_order=True)
            other = born.join(last, on="patient", how="inner").select(
                "patient", ((pl.col("last") - pl.col("at")).dt.total_days() / 365.25).alias("other")
            )
        else:
            other = None
        if other is not None:
            per = per.join(other, on="patient", how="left").with_columns(
                pl.coalesce("age", "other").alias("age")
            )
        return (
            per.with_columns(_band_expr(pl.col("age")).alias("band"),
                             _broad_expr(pl.col("age")).alias("broad"))
            .group_by(kept).agg(pl.len().cast(pl.Int64).alias(_PEOPLE))
        )  # fmt: skip

    # People per combination of sex, band and region: a few hundred rows, not one per person.
    df = by_patient(ds, inputs, part).group_by(kept).agg(pl.col(_PEOPLE).sum())
    by_sex = _partition(df, "sex", small_cell, order=("F", "M", "U"))
    bands = _partition(df, "band", small_cell, order=_band_labels())
    broad_counts = _partition(
        df, "broad", small_cell, order=[_broad_label(a, b) for a, b in AGE_BANDS_BROAD]
    )
    pyramid_counts = (
        df.group_by("band", "sex").agg(pl.col(_PEOPLE).sum()).filter(pl.col("band").is_not_null())
    )
    raw = {(b, s): int(n) for b, s, n in pyramid_counts.iter_rows()}
    keys = [(b, s) for b in _band_labels() for s in ("F", "M")]
    shown = suppress([raw.get(k, 0) for k in keys], small_cell)
    pyramid = tuple((b, s, n) for (b, s), n in zip(keys, shown, strict=True))
    regions = _partition(df, "region", small_cell, merge_small=True) if region else ()
    exact = pl.DataFrame(
        [{"band": b, "sex": s, "n": raw.get((b, s), 0)} for b, s in keys],
        schema={"band": pl.String, "sex": pl.String, "n": pl.Int64},
    )
    return Demographics(by_sex, bands, broad_counts, pyramid, regions, years), exact


def _ages_elsewhere(ds: Dataset, person_table: str) -> Rows | None:
    """(patient, age) from another table that records age (or can compute it)."""
    for t in ds.table_names:
        tspec = ds.table_spec(t)
        pid = tspec.first("patient_id")
        if t == person_table or pid is None:
            continue
        if tspec.first("age") or (tspec.first("birth_date") and tspec.first("admission_date")):
            columns = (pl.col(pid).cast(pl.String).alias("patient"), _age_expr(ds, t).alias("age"))
            return Rows(t, columns)
    return None


def _age_at_last_record(ds: Dataset, person_table: str) -> tuple[Rows, tuple[Rows, ...]] | None:
    """The person table's (patient, birth date) and every other table's (patient, date of a
    visit, procedure or event), for the age at the last recorded one when the person table
    has birth dates but no event date of its own (an OMOP person, a FHIR Patient). The last,
    not the first: an OMOP observation period starts at birth."""
    tspec = ds.table_spec(person_table)
    pid, birth = tspec.first("patient_id"), tspec.first("birth_date")
    if pid is None or birth is None:
        return None
    events = []
    for t in ds.table_names:
        ts = ds.table_spec(t)
        other_pid = ts.first("patient_id")
        if t == person_table or other_pid is None:
            continue
        for role in ("admission_date", "procedure_date", "event_date"):
            for when in ts.with_role(role):
                events.append(Rows(t, (pl.col(other_pid).cast(pl.String).alias("patient"),
                                       pl.col(when).cast(pl.Datetime("us")).alias("at"))))  # fmt: skip
    if not events:
        return None
    births = Rows(person_table, (pl.col(pid).cast(pl.String).alias("patient"),
                                 pl.col(birth).cast(pl.Datetime("us")).alias("at")))  # fmt: skip
    return births, tuple(events)


def _age_expr(ds: Dataset, t: str) -> pl.Expr:
    tspec = ds.table_spec(t)
    age = tspec.first("age")
    if age:
        return pl.col(age).cast(pl.Float64)
    birth = tspec.first("birth_date")
    ref = (
        tspec.first("admission_date") or tspec.first("procedure_date") or tspec.first("event_date")
    )
    if birth and ref:
        return (pl.col(ref) - pl.col(birth)).dt.total_days() / 365.25
    return pl.lit(None, dtype=pl.Float64)  # no age without an event date to measure it at


def _band_labels() -> list[str]:
    return [f"{a}-{a + 4}" for a in AGE_BANDS_5] + ["90+"]


def _band_expr(age: pl.Expr) -> pl.Expr:
    lower = (age.floor() // 5 * 5).cast(pl.Int64)
    plausible = age.is_between(0, 120)
    return (
        pl.when(plausible & (age >= 90))
        .then(pl.lit("90+"))
        .when(plausible)
        .then(pl.concat_str(lower.cast(pl.String), pl.lit("-"), (lower + 4).cast(pl.String)))
    )


def _broad_label(a: int, b: int) -> str:
    return f"{a}+" if b >= 200 else f"{a}-{b}"


def _broad_expr(age: pl.Expr) -> pl.Expr:
    expr: Any = pl.when(~age.is_between(0, 120)).then(None)
    for a, b in AGE_BANDS_BROAD:
        expr = expr.when(age.is_between(a, b + 0.999)).then(pl.lit(_broad_label(a, b)))
    return expr


#: The row that stands for every value held by too few people to be named (regions).
OTHER_KEY = "其他/other"


#: In the demographics' table of combinations: the people holding each.
_PEOPLE = "\x1fpeople"


def _partition(
    df: pl.DataFrame,
    column: str,
    small_cell: int,
    order: Sequence[str] | None = None,
    *,
    merge_small: bool = False,
) -> tuple[Count, ...]:
    """Counts per value (``df``: combinations with their people), suppressed as a partition.
    With ``merge_small`` (values taken from
    the data, such as township names), a value held by too few people is not named at
    all: such values are pooled into one "other" row, itself suppressed if small."""
    counted = df.filter(pl.col(column).is_not_null()).group_by(column).agg(pl.col(_PEOPLE).sum())
    raw = {str(k): int(n) for k, n in counted.iter_rows()}
    keys = list(order) if order else sorted(raw, key=lambda k: (-raw[k], k))
    shown = suppress([raw.get(k, 0) for k in keys], small_cell)
    if merge_small and any(n is None for n in shown):
        named = [k for k, n in zip(keys, shown, strict=True) if n is not None]
        pooled = sum(raw[k] for k, n in zip(keys, shown, strict=True) if n is None)
        keys = [*named, OTHER_KEY]
        shown = suppress([*(raw[k] for k in named), pooled], small_cell)
    return tuple(Count(k, None, None, n, None) for k, n in zip(keys, shown, strict=True))


def _years(ds: Dataset, small_cell: int) -> tuple[Count, ...]:
    """Records and patients by calendar year of the first event date of each table."""
    pieces = []
    for t in ds.table_names:
        tspec = ds.table_spec(t)
        when = (
            tspec.first("admission_date")
            or tspec.first("procedure_date")
            or tspec.first("event_date")
        )
        pid = tspec.first("patient_id")
        if when and pid:
            columns = (pl.col(when).dt.year().alias("year"),
                       pl.col(pid).cast(pl.String).alias("patient"))  # fmt: skip
            pieces.append(Rows(t, columns, pl.col("year").is_between(1900, dt.date.today().year)))
    if not pieces:
        return ()
    inputs = {"dated": Input(tuple(pieces), {"year": pl.Int32(), "patient": pl.String()})}
    counted = (
        by_patient(ds, inputs, lambda f: _tally("year", f["dated"], pl.col("year")))
        .group_by("key").agg(pl.col("patients", "records").sum())
        .sort(pl.col("key").cast(pl.Int32))
    )  # fmt: skip
    out = []
    for year, p, r in counted.iter_rows():  # one row per year
        shown = suppress(int(p), small_cell)
        out.append(Count(str(year), None, None, shown, int(r) if shown is not None else None))
    return tuple(out)


def comparison(coverages: Sequence[Coverage]) -> pl.DataFrame:
    """Patients per chapter and per code list, one column per dataset (suppressed as null)."""
    rows: dict[tuple[str, str], dict[str, int | None]] = {}
    for cov in coverages:
        for c in cov.chapters:
            rows.setdefault(("chapter", c.key), {})[cov.dataset] = c.patients
        for c in cov.code_lists:
            rows.setdefault(("code_list", c.key), {})[cov.dataset] = c.patients
    names = [c.dataset for c in coverages]
    return pl.DataFrame(
        [{"kind": k, "key": key, **{n: v.get(n) for n in names}} for (k, key), v in rows.items()],
        schema={"kind": pl.String, "key": pl.String, **{n: pl.Int64 for n in names}},
    )
