"""The data dictionary of a refined product: one row per column, as a CSV a buyer reads."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from medvalue.analyses._checks import plausible_range
from medvalue.core._files import (
    spreadsheet_safe,
)
from medvalue.product._croissant import type_name
from medvalue.read._dataset import Dataset
from medvalue.read._spec import ColumnSpec

#: The environment variable holding the pseudonym key unless ``--secret-env`` names another.

DICTIONARY_COLUMNS = (
    "table", "column", "type", "role", "description", "unit", "completeness", "allowed_values_or_range",
)  # fmt: skip


def data_dictionary(ds: Dataset, prof: Any) -> str:
    """The data dictionary as CSV text: one row per column of every table."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DICTIONARY_COLUMNS)
    by_key = {(c.table, c.name): c for c in prof.columns}
    for t in ds.table_names:
        schema = ds.raw.table(t).frame.collect_schema()  # on Spark, of its first rows
        for c, dtype in schema.items():
            cspec = ds.spec.role_of(t, c)
            cp = by_key.get((t, c))
            completeness = "" if cp is None or not cp.rows else f"{1 - cp.null_fraction:.4f}"
            unit = cspec.unit or _unit_of(cspec, c)
            row = [t, c, type_name(dtype), cspec.role, cspec.description or "", unit,
                   completeness, _allowed(cspec, cp)]  # fmt: skip
            w.writerow([spreadsheet_safe(str(v)) for v in row])  # no cell runs as a formula
    return buf.getvalue()


def _unit_of(cspec: ColumnSpec, column: str) -> str:
    rule = plausible_range(cspec, column)
    return rule[0] if rule else ""


def _allowed(cspec: ColumnSpec, cp: Any) -> str:
    """Listed values (each held by at least the small-cell count) or the observed range;
    nothing for identifier and free-text columns."""
    if cp is None or cspec.role in ("patient_id", "encounter_id", "direct_identifier", "free_text"):
        return ""
    if cspec.role == "diagnosis_code":
        return "WHO ICD-10 codes"
    if cp.top_values and not cp.top_values_suppressed and len(cp.top_values) == cp.n_unique:
        return " | ".join(str(v) for v, _ in cp.top_values)
    if cp.min is not None and cp.max is not None:
        return f"{_range_end(cp.min)} – {_range_end(cp.max)}"
    return ""


def _range_end(v: Any) -> str:
    # A date range is given to the month: the earliest date can be one person's.
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m")
    return _plain(v)


def _plain(v: Any) -> str:
    if isinstance(v, dt.datetime) and v.time() == dt.time(0):
        return v.date().isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


# --- datacard ---------------------------------------------------------------------------------
