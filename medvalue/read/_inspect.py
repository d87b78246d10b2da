"""What is in a dataset at a glance: tables, rows, columns, encoding and inferred roles."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from medvalue.read import _spark
from medvalue.read._dataset import Dataset


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    dtype: str
    source_dtype: str
    role: str
    reason: str
    confidence: float
    detail: str | None  # identifier kind, measure or code system
    #: name | values | both | conflict | spec | none: what the role rests on
    evidence: str = "none"
    note: str | None = None  # the evidence in one sentence (a conflict and who won)


@dataclass(frozen=True)
class TableInfo:
    name: str
    source: str
    kind: str
    rows: int
    encoding: str | None
    delimiter: str | None
    columns: tuple[ColumnInfo, ...]


@dataclass(frozen=True)
class Inspection:
    path: str
    format: str
    encoding: str | None
    tables: tuple[TableInfo, ...]
    notes: tuple[str, ...]
    standard: str | None = None  # omop | fhir
    version: str | None = None

    @property
    def standard_name(self) -> str:
        names = {"omop": "OMOP CDM", "fhir": "FHIR"}
        if not self.standard:
            return ""
        return f"{names.get(self.standard, self.standard)} {self.version or ''}".strip()

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "standard": self.standard,
            "standard_version": self.version,
            "encoding": self.encoding,
            "tables": [
                {
                    **{k: v for k, v in asdict(t).items() if k != "columns"},
                    "columns": [asdict(c) for c in t.columns],
                }
                for t in self.tables
            ],
            "notes": list(self.notes),
        }


#: What each inference reason means as evidence.
_EVIDENCE = {"pattern": "values", "default": "none"}


def inspect_dataset(ds: Dataset) -> Inspection:
    """Count rows and list columns with their planned type and inferred role."""
    tables = []
    for t in ds.raw.tables:
        # A Spark table's frame is its first rows: Spark counts them all.
        rows = (
            _spark.rows(t.spark)
            if t.spark is not None
            else t.frame.select(pl.len()).collect().item()
        )
        tspec = ds.spec.tables[t.name]
        cols = []
        for name, plan in ds.plans[t.name].items():
            c = tspec.columns[name]
            detail = c.kind or c.measure or c.code_system
            note: str | None
            if plan.kind == "datetime" and plan.date_ambiguous:
                note = "year-last dates with no day above 12: read day first (set date_format)"
            elif plan.kind == "datetime" and plan.date_order == "mdy":
                note = "year-last dates read month first (a value's second number exceeds 12)"
            else:
                note = c.note
            cols.append(
                ColumnInfo(
                    name, plan.kind, plan.source_dtype, c.role, c.reason, c.confidence, detail,
                    _EVIDENCE.get(c.reason, c.reason), note,
                )
            )  # fmt: skip
        tables.append(
            TableInfo(t.name, t.source, tspec.kind, rows, t.encoding, t.delimiter, tuple(cols))
        )
    encodings = ds.raw.encodings
    notes = tuple(
        f"{n.table}{'.' + n.column if n.column else ''}: {n.detail} ({n.count})"
        for n in ds.raw.notes
    )
    return Inspection(
        path=ds.path,
        format=ds.raw.format,
        encoding=", ".join(encodings) if encodings else None,
        tables=tuple(tables),
        notes=notes,
        standard=ds.raw.standard,
        version=ds.raw.version,
    )
