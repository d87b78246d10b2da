"""OMOP CDM (v5.3 and v5.4) tables read as a medvalue dataset.

Input: a folder of CDM tables (CSV or Parquet, column names in upper or lower case) or a
DuckDB database file holding them. The clinical tables become the dataset's tables, their
column roles filled in from the CDM's definitions (person_id links every table to person;
gender, birth year and the other birth and race fields are quasi-identifiers; dates,
visits and condition source codes get their roles); the ``concept`` table, when present,
is kept as a look-up for concept names. Other CDM tables are noted as not analysed; files
that are no CDM table, empty tables and a CSV header loaded as a data row are findings.

The CDM's column definitions: https://ohdsi.github.io/CommonDataModel/ (v5.3 and v5.4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl

from medvalue.core import _patterns as patterns
from medvalue.core._errors import InputError
from medvalue.core._patterns import share
from medvalue.read import _spark
from medvalue.read._rows import Rows
from medvalue.read._spec import ColumnSpec, DatasetSpec, Link, TableSpec
from medvalue.read._tables import SUPPORTED_SUFFIXES, RawData, ReadNote, Table, read_tables

#: The clinical tables analysed, with their kind in medvalue's terms.
TABLES: dict[str, str] = {
    "person": "patients",
    "observation_period": "records",
    "visit_occurrence": "encounters",
    "condition_occurrence": "diagnoses",
    "procedure_occurrence": "procedures",
    "drug_exposure": "records",
    "measurement": "labs",
    "observation": "records",
    "death": "records",
}
#: Vocabulary tables kept as look-ups, not analysed as data about people.
LOOKUPS = ("concept",)
#: Every other table of CDM v5.3/v5.4: recognised, noted as not analysed.
OTHER_CDM_TABLES = frozenset(
    [
        "visit_detail",
        "device_exposure",
        "note",
        "note_nlp",
        "specimen",
        "fact_relationship",
        "location",
        "care_site",
        "provider",
        "payer_plan_period",
        "cost",
        "drug_era",
        "dose_era",
        "condition_era",
        "episode",
        "episode_event",
        "metadata",
        "cdm_source",
        "vocabulary",
        "domain",
        "concept_class",
        "concept_relationship",
        "relationship",
        "concept_synonym",
        "concept_ancestor",
        "source_to_concept_map",
        "drug_strength",
        "cohort",
        "cohort_definition",
        "cohort_attribute",
        "attribute_definition",
    ]
)

_Q = {"quasi": True}
#: Column roles by table (lower-case names). Columns not listed keep their inferred role.
ROLES: dict[str, dict[str, dict[str, object]]] = {
    "person": {
        "person_id": {"role": "patient_id"},
        "gender_concept_id": {"role": "sex", **_Q},
        "gender_source_value": {"role": "quasi_identifier", **_Q},
        "year_of_birth": {"role": "quasi_identifier", **_Q, "description": "year of birth"},
        "month_of_birth": {"role": "quasi_identifier", **_Q},
        "day_of_birth": {"role": "quasi_identifier", **_Q},
        "birth_datetime": {"role": "birth_date", **_Q},
        "race_concept_id": {"role": "quasi_identifier", **_Q},
        "race_source_value": {"role": "quasi_identifier", **_Q},
        "ethnicity_concept_id": {"role": "quasi_identifier", **_Q},
        "ethnicity_source_value": {"role": "quasi_identifier", **_Q},
        "location_id": {"role": "region", **_Q},
        "care_site_id": {"role": "site"},
        "person_source_value": {"role": "direct_identifier", "kind": "medical_record_number"},
    },
    "observation_period": {
        "person_id": {"role": "patient_id"},
        "observation_period_start_date": {"role": "event_date"},
        "observation_period_end_date": {"role": "event_date"},
    },
    "visit_occurrence": {
        "visit_occurrence_id": {"role": "encounter_id"},
        "person_id": {"role": "patient_id"},
        "visit_start_date": {"role": "admission_date", **_Q},
        "visit_start_datetime": {"role": "admission_date", **_Q},
        "visit_end_date": {"role": "discharge_date", **_Q},
        "visit_end_datetime": {"role": "discharge_date", **_Q},
        "care_site_id": {"role": "site"},
    },
    "condition_occurrence": {
        "person_id": {"role": "patient_id"},
        "visit_occurrence_id": {"role": "encounter_id"},
        "condition_start_date": {"role": "event_date"},
        "condition_start_datetime": {"role": "event_date"},
        "condition_end_date": {"role": "event_date"},
        "condition_end_datetime": {"role": "event_date"},
        "condition_source_value": {"role": "diagnosis_code"},
        "stop_reason": {"role": "other"},
    },
    "procedure_occurrence": {
        "person_id": {"role": "patient_id"},
        "visit_occurrence_id": {"role": "encounter_id"},
        "procedure_date": {"role": "procedure_date"},
        "procedure_datetime": {"role": "procedure_date"},
    },
    "drug_exposure": {
        "person_id": {"role": "patient_id"},
        "visit_occurrence_id": {"role": "encounter_id"},
        "drug_exposure_start_date": {"role": "event_date"},
        "drug_exposure_start_datetime": {"role": "event_date"},
        "drug_exposure_end_date": {"role": "event_date"},
        "drug_exposure_end_datetime": {"role": "event_date"},
        "verbatim_end_date": {"role": "event_date"},
        "sig": {"role": "free_text"},
    },
    "measurement": {
        "person_id": {"role": "patient_id"},
        "visit_occurrence_id": {"role": "encounter_id"},
        "measurement_date": {"role": "event_date"},
        "measurement_datetime": {"role": "event_date"},
        "value_as_number": {"role": "measurement"},
    },
    "observation": {
        "person_id": {"role": "patient_id"},
        "visit_occurrence_id": {"role": "encounter_id"},
        "observation_date": {"role": "event_date"},
        "observation_datetime": {"role": "event_date"},
        "value_as_string": {"role": "free_text"},
    },
    "death": {
        "person_id": {"role": "patient_id"},
        "death_date": {"role": "death_date"},
        "death_datetime": {"role": "death_date"},
    },
}
#: The columns every CDM table of interest starts with, to recognise a header loaded as data.
_FIRST_COLUMNS = {t: next(iter(cols)) for t, cols in ROLES.items()}
_DUCKDB_SUFFIXES = (".duckdb", ".ddb", ".db")


def looks_like(path: str | Path) -> bool:
    """A DuckDB file with a ``person`` table, or a folder with person plus a clinical table."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() in _DUCKDB_SUFFIXES:
        return "person" in _duckdb_tables(p)
    if p.is_dir():
        stems = {f.stem.lower() for f in p.iterdir() if f.suffix.lower() in SUPPORTED_SUFFIXES}
        # Without person, two clinical CDM tables still say OMOP: read as plain tables, a
        # concept id would be guessed a date; read as OMOP, the missing person is a finding.
        return looks_like_names(stems)
    return False


def read(path: str | Path, *, encoding: str | None = None) -> RawData:
    """The CDM tables at ``path`` (folder or DuckDB file) as raw tables with lower-case names."""
    p = Path(path)
    shown = str(path)
    if not p.exists():
        raise InputError.at(shown, "no such file or folder", "check the path and spelling")
    if p.is_file() and p.suffix.lower() in _DUCKDB_SUFFIXES:
        found = _read_duckdb(p, shown)
    elif p.is_dir():
        found = {t.name.lower(): t for t in read_tables(p, encoding=encoding).tables}
    else:
        raise InputError.at(
            shown,
            "not an OMOP CDM folder or DuckDB file",
            "give the folder of CDM tables or the .duckdb file",
        )
    return assemble(found, shown)


def looks_like_names(names: set[str]) -> bool:
    """Table names (lower case) of a CDM: person plus a clinical table, or two clinical ones."""
    clinical = names & (set(TABLES) - {"person"})
    return bool(clinical) and ("person" in names or len(clinical) >= 2)


def assemble(found: Mapping[str, Table], shown: str) -> RawData:
    """The CDM from its tables by lower-case name: clinical tables cleaned, vocabularies kept
    as look-ups, other tables noted."""
    tables: list[Table] = []
    lookups: dict[str, pl.LazyFrame] = {}
    spark_lookups: dict[str, Any] = {}
    notes: list[ReadNote] = []
    skipped = []
    for name in sorted(found):
        table = found[name]
        if name in LOOKUPS:
            lookups[name] = _lower(table.frame)
            if table.spark is not None:
                spark_lookups[name] = _spark.lowered(table.spark)
        elif name in TABLES:
            tables.append(_clean_table(name, table))
        elif name in OTHER_CDM_TABLES:
            skipped.append(name)
        else:
            notes.append(
                ReadNote("unknown_table", name, None, 1, "not an OMOP CDM table; left out")
            )
    if skipped:
        notes.append(ReadNote("tables_not_analysed", "*", None, len(skipped), ", ".join(skipped)))
    if not tables:
        raise InputError.at(
            shown, "no OMOP CDM clinical table", "export person and the clinical tables"
        )
    if not any(t.name == "person" for t in tables):
        notes.append(ReadNote("missing_person", "person", None, 1,
                              "patients are counted from the person ids of the other tables"))  # fmt: skip
    if notes:  # notes about the dataset as a whole ride on the person table (else the first)
        i = next((i for i, t in enumerate(tables) if t.name == "person"), 0)
        tables[i] = replace(tables[i], notes=tables[i].notes + tuple(notes))
    version = _version(found, tables)
    return RawData(shown, "omop", tuple(tables), standard="omop", version=version,
                   lookups=lookups, spark_lookups=spark_lookups)  # fmt: skip


def _read_duckdb(p: Path, shown: str) -> dict[str, Table]:
    import duckdb

    try:
        con = duckdb.connect(str(p), read_only=True)
    except duckdb.Error as exc:
        raise InputError.at(shown, f"not a readable DuckDB database ({type(exc).__name__})",
                            "give a DuckDB file written by a DuckDB of this version") from None  # fmt: skip
    size = p.stat().st_size
    out: dict[str, Table] = {}
    try:
        names = [
            r[0]
            for r in con.sql(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
            ).fetchall()
        ]
        for name in names:
            lower = name.lower()
            if lower not in TABLES and lower not in LOOKUPS and lower != "cdm_source":
                out[lower] = Table(lower, f"{shown}#{name}", "duckdb", pl.LazyFrame())
                continue
            frame = pl.from_arrow(con.sql(f'SELECT * FROM "{name}"').to_arrow_table())
            assert isinstance(frame, pl.DataFrame)
            out[lower] = Table(lower, f"{shown}#{name}", "duckdb", frame.lazy(), bytes_on_disk=size)
    finally:
        con.close()
    return out


def _duckdb_tables(p: Path) -> set[str]:
    import duckdb

    try:
        con = duckdb.connect(str(p), read_only=True)
    except duckdb.Error:
        return set()
    try:
        return {r[0].lower() for r in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()


def _lower(frame: pl.LazyFrame) -> pl.LazyFrame:
    names = frame.collect_schema().names()
    return frame.rename({n: n.lower() for n in names if n != n.lower()})


def _clean_table(name: str, table: Table) -> Table:
    """Lower-case the column names; put back a header loaded as a data row; note empty tables."""
    frame = _lower(table.frame)
    names = frame.collect_schema().names()
    notes = list(table.notes)
    # A table in Spark is cleaned there too (its frame is its first rows).
    spark = _spark.lowered(table.spark) if table.spark is not None else None
    first = _FIRST_COLUMNS[name]
    if first not in names and names and all(n.startswith("column") for n in names):
        # The header became the first data row (columns column0, column1 ...).
        head = frame.head(1).collect()
        header = (
            [
                str(v).lower() if v is not None else n
                for n, v in zip(names, head.row(0), strict=True)
            ]
            if head.height
            else []
        )
        if first in header:
            frame = frame.slice(1).rename(dict(zip(names, header, strict=True)))
            if spark is not None:  # the header is the row whose first column reads its name
                spark = _spark.without_rows_equal(spark.toDF(*header), first, first)
            notes.append(
                ReadNote("header_row", name, None, 1, "the header was loaded as a data row")
            )
    elif first in names:
        # A header repeated inside the data (concatenated exports): rows whose id reads as its name.
        is_header = pl.col(first).cast(pl.String).str.to_lowercase() == first
        if spark is not None:
            repeats = _spark.rows_equal(spark, first, first)
        else:
            repeats = frame.select(is_header.sum()).collect().item()
        if repeats:
            frame = frame.filter(~is_header.fill_null(False))
            if spark is not None:
                spark = _spark.without_rows_equal(spark, first, first)
            notes.append(
                ReadNote("header_row", name, first, int(repeats), "a header row inside the data")
            )
    # An empty table is the profile's own finding (empty_table); nothing to note here.
    return replace(table, name=name, frame=frame, notes=tuple(notes), spark=spark)


def _version(found: Mapping[str, Table], tables: list[Table]) -> str:
    source = found.get("cdm_source")
    if source is not None:
        try:
            got = _lower(source.frame).select("cdm_version").head(1).collect()
            if got.height and got.item():
                return str(got.item())
        except pl.exceptions.PolarsError:
            pass
    visits = next((t for t in tables if t.name == "visit_occurrence"), None)
    if visits is not None:
        cols = set(visits.frame.collect_schema().names())
        if "admitted_from_concept_id" in cols:
            return "5.4"
        if "admitting_source_concept_id" in cols:
            return "5.3"
    return "5.x"


# --- spec -------------------------------------------------------------------------------------


def spec(raw: RawData, inferred: DatasetSpec) -> DatasetSpec:
    """The inferred spec with every CDM column's role, the table kinds and the links."""
    tables: dict[str, TableSpec] = {}
    for t in raw.tables:
        base = inferred.tables[t.name]
        roles = ROLES[t.name]
        cols: dict[str, ColumnSpec] = {}
        for c, cs in base.columns.items():
            if c in roles:
                fields = dict(roles[c])
                if fields.get("role") == "diagnosis_code":
                    fields["code_system"] = _code_system(t.frame, c)
                cols[c] = ColumnSpec(reason="spec", confidence=1.0, **fields)  # type: ignore[arg-type]
            elif c == "visit_source_value" and _mostly_distinct(t.frame, c):
                # Source visit numbers (one per visit) link back to the hospital's records.
                cols[c] = ColumnSpec("direct_identifier", "spec", 1.0, kind="medical_record_number")
            elif c.endswith("_source_value"):
                cols[c] = ColumnSpec("code", "spec", 1.0)  # codes as the source system wrote them
            elif cs.role in ("direct_identifier", "free_text") and not c.endswith("_id"):
                cols[c] = cs  # what the values show (a phone number, long text) still counts
            else:
                # Concept and row ids are not people, and the CDM defines every other column,
                # so name-based guesses (admitting_source -> admission date) are not used.
                cols[c] = ColumnSpec("other", "spec", 1.0)
        tables[t.name] = TableSpec(kind=TABLES[t.name], columns=cols)
    links = []
    for name, ts in tables.items():
        if name != "person" and "person_id" in ts.columns and "person" in tables:
            links.append(Link(name, "person_id", "person", "person_id"))
        if (
            name != "visit_occurrence"
            and "visit_occurrence_id" in ts.columns
            and "visit_occurrence" in tables
        ):
            links.append(
                Link(name, "visit_occurrence_id", "visit_occurrence", "visit_occurrence_id")
            )
    meta = dict(inferred.metadata) or {}
    meta.setdefault("modality", f"OMOP CDM {raw.version or ''}".strip())
    return replace(inferred, tables=tables, links=tuple(links), metadata=meta)


def _mostly_distinct(frame: pl.LazyFrame, column: str) -> bool:
    got = frame.select(pl.col(column).drop_nulls().head(5000)).collect()[column]
    return len(got) > 0 and got.n_unique() / len(got) > 0.5


def _code_system(frame: pl.LazyFrame, column: str) -> str:
    """icd10 when every sampled source value is ICD-10-shaped, icd9 when 80% are; otherwise
    ``mixed``: each value is classified by its own shape (ICD-10 on some rows, SNOMED on
    others, as in OHDSI's GiBleed), so no ICD-10 code is ignored because its neighbours are
    SNOMED."""

    s = pl.col(column).cast(pl.String).str.strip_chars()
    sample = frame.select(s).drop_nulls().unique().head(2000).collect()[column]
    if not len(sample):
        return "source"
    icd10 = sample.to_frame().select(patterns.is_icd10_shape(pl.col(column)).mean()).item()
    if icd10 == 1.0:
        return "icd10"
    if share(sample.str.contains(r"^\d{3}(\.\d{1,2})?$|^V\d{2}(\.\d{1,2})?$")) >= 0.8:
        return "icd9"
    return "mixed"


def concept_rows(raw: RawData) -> Rows | None:
    """(patient, code, name, vocabulary) per condition record: the condition concept (named
    later from the concept table, :func:`concept_names`), else the source value (vocabulary
    ``source``). Concept 0 means "no matching concept": the source value is all there is."""
    table = next((t for t in raw.tables if t.name == "condition_occurrence"), None)
    if table is None:
        return None
    cols = table.frame.collect_schema().names()
    if "condition_concept_id" not in cols:
        return None
    concept_id = pl.col("condition_concept_id").cast(pl.Int64, strict=False)
    is_concept = concept_id.fill_null(0) != 0
    source = (pl.col("condition_source_value").cast(pl.String) if "condition_source_value" in cols
              else pl.lit(None, dtype=pl.String))  # fmt: skip
    columns = (
        pl.col("person_id").cast(pl.String).alias("patient"),
        pl.coalesce(pl.when(is_concept).then(concept_id.cast(pl.String)), source).alias("code"),
        pl.lit(None, dtype=pl.String).alias("name"),
        pl.when(is_concept).then(pl.lit(None, dtype=pl.String)).otherwise(pl.lit("source"))
        .alias("vocabulary"),
    )  # fmt: skip
    keep = pl.col("patient").is_not_null() & pl.col("code").is_not_null()
    return Rows("condition_occurrence", columns, keep)


def concept_names(raw: RawData, codes: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
    """(name, vocabulary) of each of the concept ids ``codes`` found in the concept table."""
    ids = [int(c) for c in codes if c.isdigit()]
    wanted = ["concept_id", "concept_name", "vocabulary_id"]
    if not ids:
        return {}
    if "concept" in raw.spark_lookups:
        found = _spark.rows_where_in(raw.spark_lookups["concept"], "concept_id", ids, wanted)
    elif "concept" in raw.lookups and set(wanted) <= set(
        raw.lookups["concept"].collect_schema().names()
    ):
        found = raw.lookups["concept"].select(wanted).filter(
            pl.col("concept_id").cast(pl.Int64, strict=False).is_in(ids)
        ).collect()  # fmt: skip
    else:
        return {}
    named: dict[str, tuple[str | None, str | None]] = {}
    for concept_id, name, vocabulary in found.iter_rows():  # one row per concept asked for
        key = str(int(concept_id))
        if key not in named:
            named[key] = (None if name is None else str(name),
                          None if vocabulary is None else str(vocabulary))  # fmt: skip
    return named
