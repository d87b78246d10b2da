"""Clinical data standards read as ordinary medvalue datasets: OMOP CDM and FHIR R4.

:func:`detect` recognises a standard from what is at a path (OMOP table names, FHIR
``resourceType``); :func:`read` reads it into the same :class:`~medvalue.read._tables.RawData` every
analysis takes, and :func:`spec` fills in the column roles the standard defines, so profile,
coverage, privacy, readiness, pricing, refine and reports work on it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medvalue.core._errors import InputError
from medvalue.read._rows import Rows
from medvalue.read._spec import DatasetSpec
from medvalue.read._tables import RawData
from medvalue.read.standards import _fhir as fhir
from medvalue.read.standards import _omop as omop

FORMATS = ("omop", "fhir")


def detect(path: str | Path) -> str | None:
    """``omop``, ``fhir`` or None (ordinary tables)."""
    p = Path(path)
    if not p.exists():
        return None
    if omop.looks_like(p):
        return "omop"
    if fhir.looks_like(p):
        return "fhir"
    return None


def read(path: str | Path, fmt: str, *, encoding: str | None = None) -> RawData:
    if fmt == "omop":
        return omop.read(path, encoding=encoding)
    if fmt == "fhir":
        return fhir.read(path)
    raise InputError.at(path, f"unknown format '{fmt}'", f"use one of {', '.join(FORMATS)}")


def recognise(raw: RawData, fmt: str | None = None) -> RawData:
    """Tables read from elsewhere (a Spark database) as the standard their names follow:
    OMOP CDM table names (or ``fmt`` ``omop``) make them a CDM; otherwise as they are."""
    if fmt == "omop" or (
        fmt is None and omop.looks_like_names({t.name.lower() for t in raw.tables})
    ):
        return omop.assemble({t.name.lower(): t for t in raw.tables}, raw.path)
    if fmt is not None and fmt != "tables":
        raise InputError.at(raw.path, f"{fmt} is not read from Spark tables", "use omop or none")
    return raw


def spec(raw: RawData, inferred: DatasetSpec) -> DatasetSpec:
    """The spec a standard defines, over the generic inference."""
    if raw.standard == "omop":
        return omop.spec(raw, inferred)
    if raw.standard == "fhir":
        return fhir.spec(raw, inferred)
    return inferred


def concept_rows(raw: RawData) -> Rows | None:
    """(patient, code, name, vocabulary) per diagnosis record in the standard's own terms
    (OMOP concepts, FHIR codings), for coverage when the codes are not ICD-10; vocabulary
    ``source`` marks a code that is no concept of the standard (an OMOP source value)."""
    if raw.standard == "omop":
        return omop.concept_rows(raw)
    if raw.standard == "fhir":
        return fhir.concept_rows(raw)
    return None


def concept_names(raw: RawData, codes: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
    """(name, vocabulary) of the concepts ``codes`` from the standard's vocabulary tables
    (OMOP's concept table; FHIR codings carry their names, so none)."""
    return omop.concept_names(raw, codes) if raw.standard == "omop" else {}
