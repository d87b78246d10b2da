"""The refined product described in MLCommons Croissant 1.0 (JSON-LD), with its
Responsible-AI fields, so dataset catalogues and loaders can read it.

Written beside the datacard as ``croissant.json``: one ``cr:FileObject`` per Parquet file (with
its SHA-256), one ``cr:RecordSet`` per table with a ``cr:Field`` per column, and the RAI fields
from the datacard (how the data was collected and de-identified, its limitations, the uses
it is meant for). Validated with the ``mlcroissant`` reference library in the tests.
Specification: https://docs.mlcommons.org/croissant/docs/croissant-spec.html and its RAI
extension.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

CONFORMS_TO = "http://mlcommons.org/croissant/1.0"

#: The JSON-LD context of Croissant 1.0 with the RAI vocabulary.
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


def type_name(dtype: pl.DataType) -> str:
    """The type of a product column as the data dictionary and the datacard name it."""
    if dtype == pl.Date:
        return "date"
    if dtype.is_temporal():
        return "datetime"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "number"
    if dtype == pl.Boolean:
        return "boolean"
    return "text"


#: The same types in schema.org's vocabulary, as Croissant fields declare them.
_SCHEMA_ORG = {"date": "sc:Date", "datetime": "sc:DateTime", "integer": "sc:Integer",
               "number": "sc:Float", "boolean": "sc:Boolean", "text": "sc:Text"}  # fmt: skip


def croissant(
    product: str | Path, card: Mapping[str, Any], descriptions: Mapping[str, str]
) -> dict[str, Any]:
    """Croissant metadata for the refined product folder ``product`` (its ``data/*.parquet``),
    from the English side of its datacard ``card``; ``descriptions`` maps ``table.column`` to
    the data dictionary's description of each column."""
    root = Path(product)
    en = card["en"]
    files, records = [], []
    for path in sorted((root / "data").glob("*.parquet")):
        table = path.stem
        if path.is_dir():  # written by Spark: a folder of part files
            parts = sorted(path.glob("*.parquet"))
            files.append({
                "@type": "cr:FileSet", "@id": f"{table}-parquet", "name": f"{table}-parquet",
                "includes": f"data/{path.name}/*.parquet", "encodingFormat": "application/x-parquet",
            })  # fmt: skip
            schema = pl.read_parquet_schema(parts[0])
        else:
            files.append({
                "@type": "cr:FileObject", "@id": f"{table}-parquet", "name": f"{table}-parquet",
                "contentUrl": f"data/{path.name}", "encodingFormat": "application/x-parquet",
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            })  # fmt: skip
            schema = pl.read_parquet_schema(path)
        fields = [
            {
                "@type": "cr:Field",
                "@id": f"{table}/{column}",
                "name": column,
                "description": descriptions.get(f"{table}.{column}") or column,
                "dataType": _SCHEMA_ORG[type_name(dtype)],
                "source": {
                    "fileObject": {"@id": f"{table}-parquet"},
                    "extract": {"column": column},
                },
            }
            for column, dtype in schema.items()
        ]
        records.append({"@type": "cr:RecordSet", "@id": table, "name": table, "field": fields})
    deid = en["deidentification"]
    span = en["time_span"]
    source = en["source"]
    where = (
        ", ".join(v for v in (source.get("hospital"), source.get("region")) if v) or "a hospital"
    )
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": en["product_name"],
        "description": (
            f"Clinical records from {where}, {span.get('first_month') or '?'} to "
            f"{span.get('last_month') or '?'}, refined by medvalue {en['medvalue_version']}: "
            f"{en['coverage']['headline']}."
        ),
        "conformsTo": CONFORMS_TO,
        "license": en.get("licence") or "proprietary: see the datacard's restrictions",
        "url": "datacard.md",
        "version": "1.0.0",
        "datePublished": en["parameters"].get("as_of"),
        "citeAs": f"{en['product_name']} (medvalue datacard)",
        "distribution": files,
        "recordSet": records,
        # Responsible AI (Croissant RAI 1.0): how it was made, what it holds, what it is for.
        "rai:dataCollection": (
            f"Exported from the hospital information system of {where}; "
            f"{en['size']['patients'] or 'some'} patients, {en['size']['records']} records."
        ),
        "rai:dataPreprocessingProtocol": [
            "codes normalised to WHO ICD-10, dates parsed, impossible values and duplicates removed",
            *deid["methods"],
        ],
        "rai:personalSensitiveInformation": (
            f"Health data. Direct identifiers removed ({deid['direct_identifiers_remaining']} "
            f"left); ids are keyed pseudonyms; quasi-identifiers generalised to k = "
            f"{deid['k_anonymity']} (target {deid['target_k']}); verdict: {deid['verdict']}."
        ),
        "rai:dataLimitations": (
            f"Quality score {en['quality']['score']} ({en['quality']['grade']}); "
            "generalised and suppressed values lose precision; one hospital's population."
        ),
        "rai:dataUseCases": list(en.get("intended_uses") or []),
        "rai:dataSocialImpact": "; ".join(en.get("restrictions") or []),
    }
