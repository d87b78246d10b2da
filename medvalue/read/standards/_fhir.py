"""FHIR R4 resources read as a medvalue dataset.

Input: a FHIR Bulk Data export (a folder of NDJSON files, one resource per line, such as
Patient.ndjson and Condition.ndjson, or one such file) or a folder of Bundle JSON files (or
one Bundle file).
Patient, Condition, Observation, Encounter and Procedure resources become the tables
``patient``, ``condition``, ``observation``, ``encounter`` and ``procedure``; other resource
types are noted and left out.

NDJSON is read streaming: each line stays text and every field is picked out with a JSON
path by polars (``str.json_path_match``), so a million resources are never held as parsed
JSON. Bundles are split once into per-type NDJSON files in medvalue's cache folder (the
input is never touched), then read the same way.

Name, telecom, address and identifier map to direct-identifier roles, so the privacy gate
finds them; gender, birth date, city, state and postal code are quasi-identifiers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from medvalue.core._errors import InputError
from medvalue.core._files import cache_dir, write_atomic
from medvalue.read._rows import Rows
from medvalue.read._spec import ColumnSpec, DatasetSpec, Link, TableSpec
from medvalue.read._tables import RawData, ReadNote, Table

#: Resource type -> table name and kind.
RESOURCES: dict[str, tuple[str, str]] = {
    "Patient": ("patient", "patients"),
    "Encounter": ("encounter", "encounters"),
    "Condition": ("condition", "diagnoses"),
    "Observation": ("observation", "labs"),
    "Procedure": ("procedure", "procedures"),
}
ICD10_SYSTEMS = ("http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm")
SNOMED_SYSTEM = "http://snomed.info/sct"


@dataclass(frozen=True)
class Field:
    """One column: its name, how it is picked from the resource, and its role."""

    name: str
    paths: tuple[str, ...]  # JSON paths tried in order (the first non-null wins)
    role: str = "other"
    quasi: bool = False
    kind: str | None = None
    reference: bool = False  # "Patient/123" or "urn:uuid:123" -> "123"
    date: bool = False  # FHIR dateTime: the time-zone offset is dropped
    number: bool = False


def _f(name: str, *paths: str, **kw: object) -> Field:
    return Field(name, paths, **kw)  # type: ignore[arg-type]


def _coding(system: str) -> str:
    return f'$.code.coding[?(@.system=="{system}")]'


FIELDS: dict[str, tuple[Field, ...]] = {
    "patient": (
        _f("patient_id", "$.id", role="patient_id"),
        _f("gender", "$.gender", role="sex", quasi=True),
        _f("birth_date", "$.birthDate", role="birth_date", quasi=True, date=True),
        _f("deceased_date", "$.deceasedDateTime", role="death_date", date=True),
        _f("name", "$.name[0].text", "$.name[0].family", role="direct_identifier", kind="name"),
        _f("given_name", "$.name[0].given[0]", role="direct_identifier", kind="name"),
        _f("telecom", "$.telecom[0].value", role="direct_identifier", kind="phone"),
        _f(
            "identifier",
            "$.identifier[0].value",
            role="direct_identifier",
            kind="medical_record_number",
        ),
        _f(
            "address",
            "$.address[0].line[0]",
            "$.address[0].text",
            role="direct_identifier",
            kind="address",
        ),
        _f("city", "$.address[0].city", role="region", quasi=True),
        _f("state", "$.address[0].state", role="region", quasi=True),
        _f("postal_code", "$.address[0].postalCode", role="region", quasi=True),
        _f(
            "marital_status",
            "$.maritalStatus.coding[0].code",
            "$.maritalStatus.text",
            role="quasi_identifier",
            quasi=True,
        ),
    ),
    "encounter": (
        _f("encounter_id", "$.id", role="encounter_id"),
        _f("patient_id", "$.subject.reference", role="patient_id", reference=True),
        _f("class", "$.class.code"),
        _f("type", "$.type[0].coding[0].display", "$.type[0].text"),
        _f("start", "$.period.start", role="admission_date", quasi=True, date=True),
        _f("end", "$.period.end", role="discharge_date", quasi=True, date=True),
    ),
    "condition": (
        _f("condition_id", "$.id"),
        _f("patient_id", "$.subject.reference", role="patient_id", reference=True),
        _f("encounter_id", "$.encounter.reference", role="encounter_id", reference=True),
        _f("icd10_code", *(f"{_coding(s)}.code" for s in ICD10_SYSTEMS), role="diagnosis_code"),
        _f("system", "$.code.coding[0].system"),
        _f("code", "$.code.coding[0].code", role="code"),
        _f("display", "$.code.coding[0].display", "$.code.text", role="diagnosis_text"),
        _f("onset", "$.onsetDateTime", "$.onsetPeriod.start", role="event_date", date=True),
        _f("recorded", "$.recordedDate", role="event_date", date=True),
        _f("clinical_status", "$.clinicalStatus.coding[0].code"),
    ),
    "observation": (
        _f("observation_id", "$.id"),
        _f("patient_id", "$.subject.reference", role="patient_id", reference=True),
        _f("encounter_id", "$.encounter.reference", role="encounter_id", reference=True),
        _f("category", "$.category[0].coding[0].code"),
        _f("loinc", f"{_coding('http://loinc.org')}.code", "$.code.coding[0].code"),
        _f("display", "$.code.coding[0].display", "$.code.text"),
        _f("value", "$.valueQuantity.value", role="measurement", number=True),
        _f("unit", "$.valueQuantity.unit", "$.valueQuantity.code"),
        _f("value_text", "$.valueCodeableConcept.text", "$.valueString"),
        _f(
            "effective",
            "$.effectiveDateTime",
            "$.effectivePeriod.start",
            role="event_date",
            date=True,
        ),
    ),
    "procedure": (
        _f("procedure_id", "$.id"),
        _f("patient_id", "$.subject.reference", role="patient_id", reference=True),
        _f("encounter_id", "$.encounter.reference", role="encounter_id", reference=True),
        _f("system", "$.code.coding[0].system"),
        _f("code", "$.code.coding[0].code"),
        _f("display", "$.code.coding[0].display", "$.code.text"),
        _f(
            "performed",
            "$.performedDateTime",
            "$.performedPeriod.start",
            role="procedure_date",
            date=True,
        ),
    ),
}


# --- detection ------------------------------------------------------------------------------


def _first_line(f: Path) -> bytes:
    with f.open("rb") as fh:
        return fh.readline(1 << 20)


def _resource_type(text: bytes) -> str | None:
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    return obj.get("resourceType") if isinstance(obj, dict) else None


def _json_files(p: Path) -> list[Path]:
    return sorted(
        f
        for f in p.iterdir()
        if f.is_file() and f.suffix.lower() == ".json" and not f.name.startswith(".")
    )


def _ndjson_files(p: Path) -> list[Path]:
    return sorted(
        f
        for f in p.iterdir()
        if f.is_file() and f.suffix.lower() == ".ndjson" and not f.name.startswith(".")
    )


def _is_bundle(f: Path) -> bool:
    with f.open("rb") as fh:
        head = fh.read(4096)
    return b'"resourceType"' in head and b'"Bundle"' in head


def looks_like(path: str | Path) -> bool:
    """NDJSON files of FHIR resources, or Bundle JSON files (a folder or one file)."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".ndjson":
        return _resource_type(_first_line(p)) is not None
    if p.is_file():
        return p.suffix.lower() == ".json" and _is_bundle(p)
    if not p.is_dir():
        return False
    nd = _ndjson_files(p)
    if nd:
        return any(_resource_type(_first_line(f)) for f in nd[:5])
    js = _json_files(p)
    return bool(js) and _is_bundle(js[0])


# --- reading --------------------------------------------------------------------------------


def read(path: str | Path) -> RawData:
    """The FHIR resources at ``path`` as tables, one per resource type."""
    p = Path(path)
    shown = str(path)
    if not p.exists():
        raise InputError.at(shown, "no such file or folder", "check the path and spelling")
    notes: list[ReadNote] = []
    if p.is_file() and p.suffix.lower() == ".ndjson":
        kind = _resource_type(_first_line(p))
        if kind is None:
            raise InputError.at(
                shown, "the first line is not a FHIR resource", "give a Bulk Data NDJSON file"
            )
        files = {kind: [p]}
    elif p.is_file() or not _ndjson_files(p):
        bundles = [p] if p.is_file() else [f for f in _json_files(p) if _is_bundle(f)]
        if not bundles:
            raise InputError.at(shown, "no FHIR NDJSON or Bundle files here",
                                "give the Bulk Data export folder or a folder of Bundle .json files")  # fmt: skip
        files = _split_bundles(bundles, shown)
    else:
        files = {}
        for f in _ndjson_files(p):
            kind = _resource_type(_first_line(f))
            if kind is None:
                notes.append(
                    ReadNote("unknown_table", f.stem, None, 1, "not FHIR NDJSON; left out")
                )
                continue
            files.setdefault(kind, []).append(f)
    tables: list[Table] = []
    skipped = sorted(kind for kind in files if kind not in RESOURCES)
    if skipped:
        notes.append(ReadNote("tables_not_analysed", "*", None, len(skipped), ", ".join(skipped)))
    for kind, paths in sorted(files.items()):
        if kind not in RESOURCES:
            continue
        name, _ = RESOURCES[kind]
        lines = pl.concat([_lines(f) for f in paths])
        # Bulk Data files hold one type each; a stray resource of another type, or a line that
        # is not JSON, is skipped, and counted so the reader knows.
        mark = rf'"resourceType"\s*:\s*"{kind}"'
        dropped = lines.select((~pl.col("line").str.contains(mark)).sum()).collect().item()
        if dropped:
            notes.append(ReadNote("skipped_lines", name, None, int(dropped),
                                  f"lines that are not {kind} resources"))  # fmt: skip
        lines = lines.filter(pl.col("line").str.json_path_match("$.resourceType") == kind)
        frame, exact = _decoded(lines, FIELDS[name])
        if not exact:
            notes.append(ReadNote("nonconformant_resources", name, None, 1,
                                  "resources whose fields have unexpected JSON types; read field by field"))  # fmt: skip
        size = sum(f.stat().st_size for f in paths)
        source = shown if len(paths) > 1 or p.is_file() else f"{shown.rstrip('/')}/{paths[0].name}"
        tables.append(Table(name, source, "fhir", frame, encoding="utf-8", bytes_on_disk=size))
    if not tables:
        raise InputError.at(shown, "none of Patient, Condition, Observation, Encounter or Procedure found",
                            "export those resource types")  # fmt: skip
    if notes:
        tables[0] = replace(tables[0], notes=tables[0].notes + tuple(notes))
    return RawData(shown, "fhir", tuple(tables), standard="fhir", version="R4")


def _lines(f: Path) -> pl.LazyFrame:
    # One text column per line: \x1f never occurs unescaped in JSON, and quotes are data.
    return pl.scan_csv(f, has_header=False, separator="\x1f", quote_char=None,
                       schema={"line": pl.String}, encoding="utf8-lossy")  # fmt: skip


# --- decoding -------------------------------------------------------------------------------
#
# Each line is parsed once into a struct holding only the fields medvalue reads (every leaf
# as text, so a number where text is expected still decodes); the fields are then picked out
# of the struct. Resources that do not fit that shape (an object where FHIR has a list) make
# the decoder fail; such files are read the slow, tolerant way, one JSON path per field.

_TOKEN = re.compile(r'^([A-Za-z_]\w*)(?:\[(\d+)\]|\[\?\(@\.(\w+)=="([^"]*)"\)\])?$')


def _steps(path: str) -> list[tuple[str, int | None, tuple[str, str] | None]]:
    """``$.code.coding[?(@.system=="x")].code`` -> [(code, None, None), (coding, None,
    (system, x)), (code, None, None)]; ``$.name[0].given[0]`` -> indexes."""
    parts = re.findall(r"[A-Za-z_]\w*(?:\[[^\]]*\])?", path.removeprefix("$."))
    out = []
    for part in parts:
        m = _TOKEN.match(part)
        if m is None:
            msg = f"unsupported JSON path step {part!r} in {path}"
            raise ValueError(msg)
        name, index, key, value = m.groups()
        out.append((name, int(index) if index is not None else None, (key, value) if key else None))
    return out


def _schema(fields: tuple[Field, ...]) -> pl.DataType:
    """The struct type holding every path of ``fields`` (leaves as text)."""
    tree: dict = {}
    for f in fields:
        for path in f.paths:
            node = tree
            steps = _steps(path)
            for name, index, where in steps:
                entry = node.setdefault(name, {"list": False, "children": {}})
                entry["list"] = entry["list"] or index is not None or where is not None
                if where is not None:
                    entry["children"].setdefault(where[0], {"list": False, "children": {}})
                node = entry["children"]
    return _to_dtype({"children": tree, "list": False})


def _to_dtype(entry: dict) -> pl.DataType:
    children = entry["children"]
    if not children:
        inner: pl.DataType = pl.String()
    else:
        inner = pl.Struct({k: _to_dtype(v) for k, v in children.items()})
    return pl.List(inner) if entry["list"] else inner


def _struct_value(root: pl.Expr, path: str) -> pl.Expr:
    value = root
    for name, index, where in _steps(path):
        value = value.struct.field(name)
        if index is not None:
            value = value.list.get(index, null_on_oob=True)
        elif where is not None:
            key, wanted = where
            value = value.list.eval(
                pl.element().filter(pl.element().struct.field(key) == wanted)
            ).list.first()
    return value


def _finish(f: Field, value: pl.Expr) -> pl.Expr:
    if f.reference:
        value = value.str.replace(r"^(?:urn:uuid:|.*/)", "")
    if f.date:
        # 2019-03-01T10:00:00+08:00 -> 2019-03-01T10:00:00: local time as recorded.
        value = value.str.replace(r"(?:Z|[+-]\d{2}:\d{2})$", "")
    if f.number:
        value = value.cast(pl.Float64, strict=False)
    return value.alias(f.name)


def _decoded(lines: pl.LazyFrame, fields: tuple[Field, ...]) -> tuple[pl.LazyFrame, bool]:
    """The table from one parse per line when every resource fits; else field by field."""
    dtype = _schema(fields)
    root = pl.col("__r")
    exprs = []
    for f in fields:
        values = [_struct_value(root, p) for p in f.paths]
        exprs.append(_finish(f, pl.coalesce(values) if len(values) > 1 else values[0]))
    fast = lines.select(pl.col("line").str.json_decode(dtype).alias("__r")).select(exprs)
    try:  # one streamed pass that decodes every line, to know the fast way works
        lines.select(pl.col("line").str.json_decode(dtype).is_null().sum()).collect(
            engine="streaming"
        )
    except pl.exceptions.PolarsError:
        return lines.select([_column(f) for f in fields]), False
    return fast, True


def _column(f: Field) -> pl.Expr:
    """One field by JSON path straight from the text (the tolerant, slower way)."""
    line = pl.col("line")
    matches = [line.str.json_path_match(p) for p in f.paths]
    return _finish(f, pl.coalesce(matches) if len(matches) > 1 else matches[0])


def _split_bundles(bundles: list[Path], shown: str) -> dict[str, list[Path]]:
    """Write each resource of the Bundles as a line of ``<Type>.ndjson`` in the cache; a
    second read of unchanged Bundles reuses the files."""
    key = hashlib.sha256()
    for b in bundles:
        st = b.stat()
        key.update(f"{b.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    folder = cache_dir() / f"fhir-{key.hexdigest()[:16]}"
    done = folder / ".complete"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        by_type: dict[str, list[str]] = {}
        for b in bundles:
            for resource in _resources(b, shown):
                by_type.setdefault(str(resource.get("resourceType")), []).append(
                    json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
                )
        for kind, lines in by_type.items():
            write_atomic(folder / f"{kind}.ndjson", "\n".join(lines) + "\n")
        write_atomic(done, "")
    return {f.stem: [f] for f in sorted(folder.glob("*.ndjson"))}


def _resources(bundle: Path, shown: str) -> Iterator[dict]:
    where = f"{shown}/{bundle.name}" if bundle.name not in shown else shown
    try:
        doc = json.loads(bundle.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        raise InputError.at(where, "not a readable JSON Bundle", "export the Bundle again as UTF-8 JSON") from None  # fmt: skip
    except RecursionError:
        raise InputError.at(
            where, "nested too deeply to read", "export Bulk NDJSON instead"
        ) from None
    if isinstance(doc, list):  # a JSON array of resources: read each one
        yield from (r for r in doc if isinstance(r, dict) and r.get("resourceType"))
        return
    if not isinstance(doc, dict):
        raise InputError.at(
            where, "not a FHIR Bundle or resource", "export a Bundle or Bulk NDJSON"
        )
    if doc.get("resourceType") not in (None, "Bundle"):  # one resource on its own
        yield doc
        return
    for entry in doc.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType"):
            if resource["resourceType"] == "Bundle":  # nested bundles (rare) are flattened
                yield from (
                    e["resource"]
                    for e in resource.get("entry") or []
                    if isinstance(e, dict) and "resource" in e
                )
            else:
                yield resource


# --- spec -----------------------------------------------------------------------------------


def spec(raw: RawData, inferred: DatasetSpec) -> DatasetSpec:
    """Every column's role from :data:`FIELDS`; codes get their system; links by id."""
    tables: dict[str, TableSpec] = {}
    for t in raw.tables:
        kind = next(k for name, k in RESOURCES.values() if name == t.name)
        cols: dict[str, ColumnSpec] = {}
        for f in FIELDS[t.name]:
            # ICD-10 codings feed ICD coverage; the first coding (often SNOMED) feeds the
            # concept counts, with its system recorded.
            system = (
                "icd10"
                if f.name == "icd10_code"
                else (_system_of(t.frame) if f.name == "code" else None)
            )
            cols[f.name] = ColumnSpec(
                f.role, "spec", 1.0, quasi=f.quasi, kind=f.kind, code_system=system
            )
        tables[t.name] = TableSpec(kind=kind, columns=cols)
    links = []
    for name in tables:
        if name != "patient" and "patient" in tables:
            links.append(Link(name, "patient_id", "patient", "patient_id"))
        if (
            name not in ("patient", "encounter")
            and "encounter" in tables
            and "encounter_id" in tables[name].columns
        ):
            links.append(Link(name, "encounter_id", "encounter", "encounter_id"))
    meta = dict(inferred.metadata) or {}
    meta.setdefault("modality", "FHIR R4")
    return DatasetSpec(tables=tables, links=tuple(links), metadata=meta)


def _system_of(frame: pl.LazyFrame) -> str:
    top = frame.select(pl.col("system").drop_nulls().head(2000).mode().first()).collect().item()
    if top in ICD10_SYSTEMS:
        return "icd10"
    if top == SNOMED_SYSTEM:
        return "snomed"
    return "source"


def concept_rows(raw: RawData) -> Rows | None:
    """(patient, code, name, vocabulary) per condition: the first coding, named by its display."""
    table = next((t for t in raw.tables if t.name == "condition"), None)
    if table is None:
        return None
    vocabulary = (
        pl.when(pl.col("system") == SNOMED_SYSTEM).then(pl.lit("SNOMED"))
        .when(pl.col("system").is_in(ICD10_SYSTEMS)).then(pl.lit("ICD10"))
        .otherwise(pl.col("system").str.replace(r"^.*/", ""))
    )  # fmt: skip
    columns = (
        pl.col("patient_id").cast(pl.String).alias("patient"),
        pl.col("code").cast(pl.String),
        pl.col("display").cast(pl.String).alias("name"),
        vocabulary.alias("vocabulary"),
    )
    return Rows(
        "condition", columns, pl.col("code").is_not_null() & pl.col("patient").is_not_null()
    )
