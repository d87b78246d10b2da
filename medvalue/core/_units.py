"""Plausibility ranges of measurements and the unit each column is checked in.

Hospital exports mix SI and US units: albumin in g/L or g/dL, creatinine in umol/L or
mg/dL. A range written for one unit flags every value of the other, so the unit is chosen
per column: from the spec, else from the header, else from the values (the listed unit
whose range holds most of them). A column whose values fit no unit is reported once and not
checked, rather than flagged value by value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from medvalue.core._config import PACKAGE_DATA
from medvalue.core._files import load_yaml

#: A unit is taken from the values when its range holds at least this share of them.
FIT_SHARE = 0.8


@cache
def rules() -> dict[str, Any]:
    return load_yaml((PACKAGE_DATA / "plausibility.yaml").read_text(encoding="utf-8"))


def units_of(role: str, measure: str | None) -> dict[str, dict[str, float]] | None:
    """The units of an age or a known measure with their ranges, the default first."""
    if role == "age":
        return dict(rules()["age"]["units"])
    if role == "measurement" and measure in rules()["measures"]:
        return dict(rules()["measures"][measure]["units"])
    return None


def unit_from_name(column: str, units: Sequence[str]) -> str | None:
    n = column.lower().replace("μ", "u").replace("µ", "u")
    hints = (
        ("umol", "umol/L"),
        ("mg/dl", "mg/dL"),
        ("mgdl", "mg/dL"),
        ("mg_dl", "mg/dL"),
        ("mmol", "mmol/L"),
        ("g/dl", "g/dL"),
        ("g_dl", "g/dL"),
        ("gdl", "g/dL"),
        ("g/l", "g/L"),
        ("g_l", "g/L"),
    )
    for hint, unit in hints:
        if hint in n and unit in units:
            return unit
    return None


@dataclass(frozen=True)
class UnitChoice:
    """The unit a column is checked in, and how it was chosen."""

    unit: str | None  # None: the values fit no listed unit; the column is not checked
    basis: str  # spec | name | values | default | none
    fit: float | None = None  # share of sampled values inside the chosen unit's range


def choose_unit(
    column: str,
    units: Mapping[str, Mapping[str, float]],
    values: np.ndarray,
    *,
    given: str | None = None,
) -> UnitChoice:
    """The unit for ``column``: ``given`` (the spec's), else the header's, else the unit
    whose range holds most of ``values`` (at least :data:`FIT_SHARE`; ties go to the
    first listed), else none."""
    if given:
        return UnitChoice(given, "spec")
    named = unit_from_name(column, list(units))
    if named:
        return UnitChoice(named, "name")
    finite = values[np.isfinite(values)] if len(values) else values
    if len(finite) == 0 or len(units) == 1:  # one unit: every value is checked in it
        return UnitChoice(next(iter(units)), "default")
    fits = {
        u: float(((finite >= r["low"]) & (finite <= r["high"])).mean()) for u, r in units.items()
    }
    best = max(units, key=lambda u: fits[u])  # max keeps the first listed on a tie
    if fits[best] < FIT_SHARE:
        return UnitChoice(None, "none", fits[best])
    return UnitChoice(best, "values" if len(units) > 1 else "default", fits[best])


def plausible_range(
    role: str, measure: str | None, unit: str | None
) -> tuple[str, float, float] | None:
    """(unit, low, high) for a column checked in ``unit`` (the default unit when None was
    recorded for a spec written before units were chosen per column)."""
    units = units_of(role, measure)
    if not units:
        return None
    chosen = unit if unit in units else next(iter(units))
    return chosen, float(units[chosen]["low"]), float(units[chosen]["high"])
