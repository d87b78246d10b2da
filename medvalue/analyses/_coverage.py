"""Coverage: which diseases and which people a dataset covers.

Every diagnosis-code column of every table is stacked into one long frame of (patient,
code, position), normalised to WHO ICD-10 (:mod:`medvalue.core._codes`) and joined to the WHO
hierarchy; patients and records are then counted per chapter, block, category and named
code list. Demographics come from the table that records sex, one row per patient. Every
count of people passes the small-cell rule (:mod:`medvalue.analyses._privacy`).
"""

from __future__ import annotations

import datetime as dt
import tempfile
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
from medvalue.core._files import cache_dir, load_user_yaml, load_yaml
from medvalue.core._i18n import text
from medvalue.core._lookup import look_up
from medvalue.core._suppression import suppress
from medvalue.read import standards
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
    :func:`load_code_lists` and :func:`load_reference`) or as loaded objects.

    Examples
    --------
    >>> from medvalue import load_dataset
    >>> from medvalue.core._config import SAMPLE_DIR
    >>> cov = coverage(load_dataset(SAMPLE_DIR / "county_hospital"))
    >>> cov.patients
    3000
    """
    ds.require_local("coverage")
    if isinstance(code_lists, str | Path):
        code_lists = load_code_lists(code_lists)
    if isinstance(reference, str | Path):
        reference = load_reference(reference)
    lists = dict(code_lists if code_lists is not None else default_code_lists())

    # The per-person counts first, while no diagnosis frame is held: both are large.
    patients = ds.distinct_count("patient_id")
    demographics, pyramid = _demographics(ds, small_cell)
    concept_frame = standards.concepts(ds.raw)
    with tempfile.TemporaryDirectory(dir=cache_dir()) as folder:
        scratch = Path(folder)
        # Typed once (codes stacked, vocabularies recognised) into private copies that each
        # part of the patients then scans.
        long = _parts.copy_to(_diagnoses(ds), scratch / "diagnoses.parquet")
        coded = _parts.copy_to(_coded(ds), scratch / "coded.parquet")
        concepts = _parts.copy_to(_with_concept(concept_frame), scratch / "concepts.parquet")
        normal, mix, recognised = _normalised_in_parts(long, coded, concepts, scratch, small_cell)
        return _coverage(ds, normal, mix, recognised, patients, demographics, pyramid,
                         concept_frame, lists, reference, small_cell)  # fmt: skip


def _coverage(
    ds: Dataset,
    normal: Sequence[pl.LazyFrame],
    mix: tuple[Count, ...],
    recognised: int,
    patients: int | None,
    demographics: Demographics,
    pyramid: pl.DataFrame,
    concept_frame: pl.LazyFrame | None,
    lists: Mapping[str, Any],
    reference: pl.DataFrame | None,
    small_cell: int,
) -> Coverage:
    """The counts per chapter, block, category, position and code list, from ``normal``
    (the normalised records with patients as integers, in parts that share no patient), and
    the result."""
    status = dict(
        pl.concat(normal).group_by("code_status").agg(pl.len())
        .collect(engine="streaming").iter_rows()  # five statuses at most
    )  # fmt: skip
    valid = [part.filter(pl.col("code_icd10").is_not_null()) for part in normal]
    with_valid = sum(
        int(v.select(pl.col("patient").n_unique()).collect(engine="streaming").item())
        for v in valid
    )
    table = codes.code_table()
    chapters = _counts(
        valid, "chapter", small_cell, _titles(table, "chapter"), order=codes.CHAPTER_ORDER,
        total=with_valid,
    )  # fmt: skip
    blocks = _counts(valid, "block", small_cell, _titles(table, "block"), total=with_valid)
    categories = _counts(
        valid, "category", small_cell, _titles(table, "category"), total=with_valid
    )
    positions: dict[str, tuple[Count, ...]] = {
        pos: _counts(
            [v.filter(pl.col("position") == pos) for v in valid],
            "chapter",
            small_cell,
            _titles(table, "chapter"),
            order=codes.CHAPTER_ORDER,
        )
        for pos in ("primary", "secondary")
        if pos in _positions(ds)
    }
    cohorts, pairs = _cohorts(valid, lists, small_cell), _pairs(valid, small_cell)
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
        concepts=_concepts(concept_frame, small_cell) if concept_frame is not None else (),
        code_columns=tuple(
            f"{t}.{c}" for t in ds.table_names for c in ds.table_spec(t).icd_code_columns
        ),
        outcomes=_outcomes(ds, small_cell),
        specialty=ds.spec.metadata.get("specialty"),
        vocabularies=mix,
        patients_with_recognised_code=suppress(recognised, small_cell)
        if patients is None or not 0 < patients - recognised < small_cell
        else None,
        coded_share=min(1.0, recognised / patients) if patients else None,
    )


def _coded(ds: Dataset) -> pl.LazyFrame:
    """(patient, vocabulary) for every diagnosis code of every code column, by its shape."""
    parts = []
    for t in ds.table_names:
        tspec = ds.table_spec(t)
        pid = tspec.first("patient_id")
        if pid is None:
            continue
        for c in tspec.with_role("diagnosis_code"):
            parts.append(
                ds.frame(t).select(
                    pl.col(pid).cast(pl.String).alias("patient"),
                    patterns.vocabulary(pl.col(c)).alias("vocabulary"),
                )
            )
    schema = {"patient": pl.String, "vocabulary": pl.String}
    return pl.concat(parts).drop_nulls() if parts else pl.LazyFrame(schema=schema)


def _with_concept(concept_frame: pl.LazyFrame | None) -> pl.LazyFrame:
    """Patients with a concept of a standard (an OMOP concept id, a FHIR coding with a
    system); a bare OMOP source value (concept 0) is not one."""
    if concept_frame is None:
        return pl.LazyFrame(schema={"patient": pl.String})
    return concept_frame.filter(pl.col("vocabulary").fill_null("") != "source").select(
        pl.col("patient").cast(pl.String)
    )


#: Records worked on at once (diagnoses normalised, people grouped): past it, the records
#: are split into parts by a hash of the patient (a patient's records are all in one part),
#: so memory follows a part and counts of people add up over the parts.
PART_ROWS = 2_500_000


def _part(frame: pl.LazyFrame, p: int, parts: int) -> pl.LazyFrame:
    """Part ``p`` of ``parts`` of ``frame``'s records, by a hash of the patient id."""
    return _parts.part(frame, pl.col("patient"), p, parts)


def _normalised_in_parts(
    long: pl.LazyFrame,
    coded: pl.LazyFrame,
    concepts: pl.LazyFrame,
    scratch: Path,
    small_cell: int,
) -> tuple[list[pl.LazyFrame], tuple[Count, ...], int]:
    """The normalised diagnosis records (written to ``scratch`` in parts, read back lazily),
    with the records and people per vocabulary of the code columns and the people with any
    recognised code (a valid ICD-10 code, a SNOMED or LOINC code, or a standard concept).

    Patient ids become integers, unique over the parts (a part's patients are numbered after
    the previous part's), so every distinct count reads numbers. Counts of people add up over
    parts because no patient is in two.
    """
    parts = _parts.count(long, PART_ROWS)
    hierarchy = codes.hierarchy("code_icd10").select("code_icd10", "category", "block", "chapter")
    written: list[Path] = []
    vocabularies: dict[str, list[int]] = {}
    recognised = offset = 0

    for p in range(parts):
        normal = codes.normalise(_part(long, p, parts), "code").join(
            hierarchy, on="code_icd10", how="left"
        )
        numbered, valid_ids = pl.collect_all(
            [
                normal.select(
                    (pl.col("patient").rank("dense").cast(pl.Int64) + offset).alias("patient"),
                    "code_icd10", "position", "code_status", "category", "block", "chapter",
                ),
                normal.filter(pl.col("code_icd10").is_not_null()).select("patient").unique(),
            ],
            engine="streaming",
        )  # fmt: skip
        offset += numbered.select(pl.col("patient").n_unique()).item()
        written.append(scratch / f"diagnoses-{p:04d}.parquet")
        numbered.write_parquet(written[-1])
        del numbered
        own = _part(coded, p, parts)
        for vocab, people, records in (
            own.group_by("vocabulary")
            .agg(pl.col("patient").n_unique(), pl.len().alias("records"))
            .collect(engine="streaming")
            .iter_rows()
        ):
            total = vocabularies.setdefault(vocab, [0, 0])
            total[0] += int(people)
            total[1] += int(records)
        recognised += int(
            pl.concat(
                [
                    own.filter(~pl.col("vocabulary").is_in(["ICD10", "ICD9", "other"])).select("patient"),
                    valid_ids.lazy(),
                    _part(concepts, p, parts),
                ]
            )
            .select(pl.col("patient").n_unique())
            .collect(engine="streaming")
            .item()
        )  # fmt: skip
    mix = []
    for vocab, (people, records) in sorted(vocabularies.items(), key=lambda kv: (-kv[1][1], kv[0])):
        shown = suppress(people, small_cell)
        mix.append(Count(vocab, None, None, shown, records if shown is not None else None))
    return [pl.scan_parquet(w) for w in written], tuple(mix), recognised


#: A label with more levels than this is a measurement, not an outcome to count people by.
MAX_OUTCOME_LEVELS = 12


def _outcomes(ds: Dataset, small_cell: int) -> dict[str, tuple[Count, ...]]:
    """People (rows where the table names no patient id) per value of each label column;
    the values of one label partition its people, so they are suppressed together."""
    out: dict[str, tuple[Count, ...]] = {}
    for t, c in ds.spec.columns_with_role("label"):
        pid = ds.table_spec(t).first("patient_id")
        frame = ds.frame(t)
        # "0", "0.0" and 0.0 are one outcome (patterns.label_text), as readiness reads them.
        value = patterns.label_text(pl.col(c), frame.collect_schema()[c])
        labelled = frame.select(
            value.alias("value"),
            (pl.col(pid).cast(pl.String) if pid else pl.lit(None, pl.String)).alias("patient"),
        )
        counted = (
            labelled.group_by("value").agg(pl.len().alias("records"))
            .collect(engine="streaming").sort("value", nulls_last=True)
        )  # fmt: skip
        if counted.height > MAX_OUTCOME_LEVELS:
            continue
        if pid:
            people = _people_per_value(labelled, counted["value"])
            counted = counted.with_columns(pl.Series("people", people))
        else:  # rows stand for people where the table names none (one row each)
            counted = counted.with_columns(pl.col("records").alias("people"))
        shown = suppress([int(n) for n in counted["people"]], small_cell)
        out[f"{t}.{c}"] = tuple(
            Count(
                str(v) if v is not None else "(missing)",
                None,
                None,
                n,
                int(r) if n is not None else None,
            )
            for v, n, r in zip(counted["value"], shown, counted["records"], strict=True)
        )
    return out


def _people_per_value(labelled: pl.LazyFrame, values: pl.Series) -> list[int]:
    """Distinct ``patient``s per value of ``values`` (at most 63, a missing value among
    them) in ``labelled``. Each person's values are gathered as bits of one 64-bit mask, so
    the group-by has one 64-bit key a person (a key of value and text id held 1.6 GB at 30M
    records); parts of :data:`~medvalue.core._parts.PEOPLE_PART_ROWS` records."""
    known = values.drop_nulls()
    bits = [1 << i for i in range(known.len() + 1)]  # the last bit: a missing value
    bit = look_up(pl.col("value"), known, bits[:-1], default=bits[-1], return_dtype=pl.UInt64)
    person = pl.col("patient")
    parts = _parts.count(labelled, _parts.PEOPLE_PART_ROWS)
    order = bits[:-1] + ([bits[-1]] if values.null_count() else [])
    held = [((pl.col("mask") & b) != 0).sum().alias(f"v{i}") for i, b in enumerate(order)]
    totals = [0] * len(order)
    for p in range(parts):
        rows = _part(labelled, p, parts).select(person, bit.alias("bit"))
        mask = pl.col("bit").bitwise_or().alias("mask")
        sums = _parts.per_person(
            rows, person, [mask], lambda people, extra: people.select(*held, *extra)
        )
        totals = [t + int(sums[f"v{i}"].item()) for i, t in enumerate(totals)]
    return totals


#: Concepts listed at most (the most common first).
TOP_CONCEPTS = 50


def _concepts(frame: pl.LazyFrame, small_cell: int) -> tuple[ConceptCount, ...]:
    counted = (
        frame.group_by("code")
        .agg(
            pl.col("patient").n_unique().alias("patients"),
            pl.len().alias("records"),
            pl.col("name").drop_nulls().first(),
            pl.col("vocabulary").drop_nulls().first(),
        )
        .sort(["patients", "code"], descending=[True, False])
        .head(TOP_CONCEPTS)
        .collect()
    )
    out = []
    for code, patients, records, name, vocabulary in counted.iter_rows():
        shown = suppress(int(patients), small_cell)
        out.append(
            ConceptCount(
                str(code), name, vocabulary, shown, int(records) if shown is not None else None
            )
        )
    return tuple(out)


def _diagnoses(ds: Dataset) -> pl.LazyFrame:
    """(patient, code, position) for every ICD diagnosis code in every table, stacked
    (empty when no column holds diagnosis codes)."""
    parts = []
    for t in ds.table_names:
        tspec = ds.table_spec(t)
        pid = tspec.first("patient_id")
        frame = ds.frame(t)
        if pid is None:  # one row per patient when the table names no patient id
            frame = frame.with_row_index("__row")
            patient = pl.concat_str(pl.lit(f"{t}#"), pl.col("__row").cast(pl.String))
        else:
            patient = pl.col(pid).cast(pl.String)
        for c in tspec.icd_code_columns:
            position = tspec.columns[c].position or _position_from_table(tspec)
            keep = pl.col("code").is_not_null() & pl.col("patient").is_not_null()
            if tspec.columns[c].code_system == "mixed":  # the ICD rows of a mixed column
                keep = keep & patterns.vocabulary(pl.col("code")).is_in(["ICD10", "ICD9"])
            parts.append(
                frame.select(
                    patient.alias("patient"),
                    pl.col(c).cast(pl.String).alias("code"),
                    _position_expr(tspec, position).alias("position"),
                ).filter(keep)
            )
    if not parts:
        schema = {"patient": pl.String, "code": pl.String, "position": pl.String}
        return pl.LazyFrame(schema=schema)
    return pl.concat(parts)


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


def _people_and_records(parts: Sequence[pl.LazyFrame], keys: Sequence[str]) -> pl.DataFrame:
    """Distinct ``patient``s (``patients``) and rows (``records``) per value of ``keys``,
    from ``parts`` that share no patient: counted a part at a time and added up, so memory
    follows a part's people."""
    counted = []
    for part in parts:
        exact = part.group_by(keys).agg(
            pl.col("patient").n_unique().alias("patients"), pl.len().alias("records")
        )
        if part.collect_schema()["patient"].is_integer():  # numbered already: exact and cheap
            counted.append(exact.collect(engine="streaming"))
            continue
        # Text ids: each person as a 64-bit key, checked by a second hash (core/_parts).
        person = pl.col("patient")
        per_person = part.group_by(*keys, _parts.id_key(person).alias("\x1fkey")).agg(
            pl.len().alias("records"), _parts.collided(_parts.id_check(person)).alias("\x1fclash")
        )
        table = (
            per_person.group_by(keys)
            .agg(pl.len().alias("patients"), pl.col("records").sum(), pl.col("\x1fclash").any())
            .collect(engine="streaming")
        )
        if table["\x1fclash"].any():
            table = exact.collect(engine="streaming")
        counted.append(table.select(*keys, "patients", "records"))
    return (
        pl.concat(counted, how="vertical_relaxed")
        .group_by(keys)
        .agg(pl.col("patients", "records").sum())
    )


def _counts(
    valid: Sequence[pl.LazyFrame],
    level: str,
    small_cell: int,
    titles: Mapping[str, tuple[str | None, str | None]],
    order: Sequence[str] | None = None,
    total: int | None = None,
) -> tuple[Count, ...]:
    counted = _people_and_records(valid, [level]).select(level, "patients", "records")
    rows = {k: (int(p), int(r)) for k, p, r in counted.iter_rows() if k is not None}
    keys = list(order) if order else sorted(rows)
    people = [rows.get(k, (0, 0))[0] for k in keys]
    # Where every patient falls in exactly one key (one diagnosis each), the counts add up
    # to the shown total: suppress them as a partition, so no hidden one is a difference.
    partition = total is not None and sum(people) == total
    kept = suppress(people, small_cell) if partition else [suppress(n, small_cell) for n in people]
    out = []
    for k, shown in zip(keys, kept, strict=True):
        r = rows.get(k, (0, 0))[1]
        en, zh = titles.get(k, (None, None))
        out.append(Count(k, en, zh, shown, r if shown is not None else None))
    return tuple(out)


def _cohorts(
    valid: Sequence[pl.LazyFrame], lists: Mapping[str, Any], small_cell: int
) -> tuple[Count, ...]:
    """Patients per named code list: list membership is decided once per distinct code."""
    if not lists:
        return ()
    distinct = pl.concat(valid).select("code_icd10").unique().collect(engine="streaming")
    membership = (
        distinct.select(
            "code_icd10",
            pl.concat_list(
                [
                    pl.when(
                        pl.any_horizontal(
                            [
                                pl.col("code_icd10").str.starts_with(str(p).upper())
                                for p in spec["prefixes"]
                            ]
                        )
                    ).then(pl.lit(name))
                    for name, spec in lists.items()
                ]
            )
            .list.drop_nulls()
            .alias("list"),
        )
        .explode("list")
        .drop_nulls("list")
    )
    members = [v.join(membership.lazy(), on="code_icd10") for v in valid]
    counted = dict(
        _people_and_records(members, ["list"]).select("list", "patients").iter_rows()
    )  # one row per code list
    return tuple(
        Count(
            name,
            spec.get("en"),
            spec.get("zh"),
            suppress(int(counted.get(name, 0)), small_cell),
            None,
        )
        for name, spec in lists.items()
    )


def _pairs(
    valid: Sequence[pl.LazyFrame], small_cell: int
) -> tuple[tuple[str, str, int | None], ...]:
    """The most frequent pairs among the 30 commonest categories recorded for one patient.

    Each patient's categories become a bit mask; patients sharing a mask are counted once,
    so the pair counts come from a few thousand masks instead of a self-join of patients.
    """
    top = (
        _people_and_records(valid, ["category"])
        .sort(["patients", "category"], descending=[True, False]).head(30)["category"].to_list()
    )  # fmt: skip
    if len(top) < 2:
        return ()
    bit = look_up(pl.col("category"), {c: 1 << i for i, c in enumerate(top)},
                  return_dtype=pl.UInt64)  # fmt: skip
    masks = pl.concat([
        v.select("patient", bit.alias("bit")).drop_nulls("bit").unique()
        .group_by("patient").agg(pl.col("bit").sum().alias("mask"))
        .group_by("mask").agg(pl.len().alias("n")).collect(engine="streaming")
        for v in valid
    ]).group_by("mask").agg(pl.col("n").sum())  # fmt: skip
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
    pid = tspec.first("patient_id")
    frame = ds.frame(t)
    age = _age_expr(ds, t)
    sex = tspec.first("sex")
    assert sex is not None  # _person_table chose a table with a sex column
    cols = [
        patterns.canonical_sex(pl.col(sex)).fill_null("U").alias("sex"),
        age.alias("age"),
    ]
    region = tspec.first("region")
    if region:
        cols.append(pl.col(region).cast(pl.String).alias("region"))
    people = frame.select(
        (pl.col(pid).cast(pl.String) if pid else pl.int_range(pl.len()).cast(pl.String)).alias(
            "patient"
        ),
        *cols,
    ).filter(pl.col("patient").is_not_null())
    elsewhere = _ages_elsewhere(ds, t) if pid else None
    if elsewhere is None and pid:
        elsewhere = _age_at_last_record(ds, t)
    band = _band_expr(pl.col("age"))
    broad = _broad_expr(pl.col("age"))
    # People per combination of sex, band and region: a few hundred rows, not one per person.
    kept = ["sex", "band", "broad", *(["region"] if region else [])]
    counted = []
    with tempfile.TemporaryDirectory(dir=cache_dir()) as scratch:
        # Typed once into private copies that each part of the patients then scans.
        people = _parts.copy_to(people, Path(scratch) / "people.parquet")
        if elsewhere is not None:  # e.g. age at admission in the encounters table
            elsewhere = _parts.copy_to(elsewhere, Path(scratch) / "elsewhere.parquet")
        parts = _parts.count(people, PART_ROWS)
        for p in range(parts):
            # One row per patient: the first record's sex, the youngest recorded age.
            per = _part(people, p, parts).group_by("patient").agg(
                pl.col("sex").first(), pl.col("age").min(),
                *([pl.col("region").first()] if region else []),
            )  # fmt: skip
            if elsewhere is not None:
                per = per.join(_part(elsewhere, p, parts), on="patient", how="left").select(
                    pl.exclude("age", "age_elsewhere"),
                    pl.coalesce("age", "age_elsewhere").alias("age"),
                )
            counted.append(
                per.with_columns(band.alias("band"), broad.alias("broad"))
                .group_by(kept)
                .agg(pl.len().alias(_PEOPLE))
                .collect(engine="streaming")
            )
    df = pl.concat(counted).group_by(kept).agg(pl.col(_PEOPLE).sum())
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


def _ages_elsewhere(ds: Dataset, person_table: str) -> pl.LazyFrame | None:
    """The youngest age per patient from another table that records age (or can compute it)."""
    for t in ds.table_names:
        tspec = ds.table_spec(t)
        pid = tspec.first("patient_id")
        if t == person_table or pid is None:
            continue
        age = _age_expr(ds, t)
        if tspec.first("age") or (tspec.first("birth_date") and tspec.first("admission_date")):
            return (
                ds.frame(t)
                .select(pl.col(pid).cast(pl.String).alias("patient"), age.alias("age_elsewhere"))
                .group_by("patient")
                .agg(pl.col("age_elsewhere").min())
            )
    return None


def _age_at_last_record(ds: Dataset, person_table: str) -> pl.LazyFrame | None:
    """Age at the last recorded visit, procedure or event in any table, when the person
    table has birth dates but no event date of its own (an OMOP person, a FHIR Patient).
    The last, not the first: an OMOP observation period starts at birth."""
    tspec = ds.table_spec(person_table)
    pid, birth = tspec.first("patient_id"), tspec.first("birth_date")
    if pid is None or birth is None:
        return None
    dated = []
    for t in ds.table_names:
        ts = ds.table_spec(t)
        other_pid = ts.first("patient_id")
        if t == person_table or other_pid is None:
            continue
        for role in ("admission_date", "procedure_date", "event_date"):
            for when in ts.with_role(role):
                dated.append(ds.frame(t).select(pl.col(other_pid).cast(pl.String).alias("patient"),
                                                pl.col(when).cast(pl.Datetime("us")).alias("first")))  # fmt: skip
    if not dated:
        return None
    last = pl.concat(dated).group_by("patient").agg(pl.col("first").max().alias("last"))
    births = ds.frame(person_table).select(
        pl.col(pid).cast(pl.String).alias("patient"), pl.col(birth).cast(pl.Datetime("us")).alias("birth")
    ).unique("patient", keep="first")  # fmt: skip
    age = (pl.col("last") - pl.col("birth")).dt.total_days() / 365.25
    return births.join(last, on="patient", how="inner").select(
        "patient", age.alias("age_elsewhere")
    )


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
    parts = []
    for t in ds.table_names:
        tspec = ds.table_spec(t)
        when = (
            tspec.first("admission_date")
            or tspec.first("procedure_date")
            or tspec.first("event_date")
        )
        pid = tspec.first("patient_id")
        if when and pid:
            parts.append(
                ds.frame(t).select(
                    pl.col(when).dt.year().alias("year"),
                    pl.col(pid).cast(pl.String).alias("patient"),
                )
            )
    if not parts:
        return ()
    dated = pl.concat(parts).filter(pl.col("year").is_between(1900, dt.date.today().year))
    with _parts.private_copy(dated) as copy:  # typed once, then read a part at a time
        n = _parts.count(copy, PART_ROWS)
        counted = (
            _people_and_records([_part(copy, p, n) for p in range(n)], ["year"])
            .select("year", "patients", "records")
            .sort("year")
        )
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
