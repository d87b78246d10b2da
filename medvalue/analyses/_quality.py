"""Quality dimensions after GB/T 36344-2018, mapped to Kahn et al. 2016, and their score.

Every dimension is scored in the standard's A/B form, X = 1 - failed / evaluated, from the
counters the profile's checks produce; see docs/methods.md for each dimension's checks.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from medvalue.core._i18n import text

#: Weights of the quality dimensions in the overall score (sum to 1). Completeness leads
#: because missing fields are what buyers complain about first; timeliness and uniqueness
#: weigh less because they are rarely the reason a clinical dataset cannot be used.
DIMENSION_WEIGHTS = {
    "completeness": 0.25,
    "conformance": 0.20,
    "plausibility": 0.20,
    "consistency": 0.15,
    "uniqueness": 0.10,
    "timeliness": 0.10,
}
#: Grades used by published GB/T 36344 implementations: 优 >= 95, 良 >= 80, 中 >= 60.
GRADES = ((95.0, "excellent"), (80.0, "good"), (60.0, "fair"), (0.0, "poor"))
#: Timeliness is full for data at most a year old and falls to 0 at five years.
FRESH_DAYS, STALE_DAYS = 365, 5 * 365


@dataclass(frozen=True)
class DimensionScore:
    """One dimension's score with its evaluated and failed counts (the A/B of GB/T 36344)."""

    name: str
    score: float | None  # 0-100; None when nothing could be evaluated
    evaluated: int
    failed: int
    weight: float
    detail: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Quality:
    """The overall quality score (0-100), its grade and the dimension scores."""

    score: float
    grade: str
    dimensions: Mapping[str, DimensionScore]

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "score": display_score(self.score),
            "grade": text("grades", self.grade, lang),
            "weights": dict(DIMENSION_WEIGHTS),
            "dimensions": {
                k: {
                    "name": text("dimensions", k, lang),
                    "score": display_score(d.score),
                    "evaluated": d.evaluated,
                    "failed": d.failed,
                    "weight": d.weight,
                    **{kk: round(v, 4) for kk, v in d.detail.items()},
                }
                for k, d in self.dimensions.items()
            },
        }


def score_quality(
    totals: Mapping[str, tuple[int, int]], last_date: dt.date | None, as_of: dt.date
) -> Quality:
    """Score each dimension as X = 1 - failed / evaluated, then the weighted overall score.

    ``totals`` maps a part (``element``, ``record``, ``conformance``, ``plausibility``,
    ``consistency``, ``uniqueness``) to (evaluated, failed) summed over the dataset.
    """

    def ratio(part: str) -> float | None:
        evaluated, failed = totals.get(part, (0, 0))
        return None if evaluated == 0 else 1.0 - failed / evaluated

    dims: dict[str, DimensionScore] = {}
    element, record = ratio("element"), ratio("record")
    parts = [x for x in (element, record) if x is not None]
    detail = {
        k: v
        for k, v in (("element_completeness", element), ("record_completeness", record))
        if v is not None
    }
    dims["completeness"] = DimensionScore(
        "completeness",
        100 * sum(parts) / len(parts) if parts else None,
        totals.get("element", (0, 0))[0],
        totals.get("element", (0, 0))[1],
        DIMENSION_WEIGHTS["completeness"],
        detail,
    )
    for name in ("conformance", "plausibility", "consistency", "uniqueness"):
        r = ratio(name)
        evaluated, failed = totals.get(name, (0, 0))
        dims[name] = DimensionScore(
            name, None if r is None else 100 * r, evaluated, failed, DIMENSION_WEIGHTS[name]
        )
    if last_date is None:
        dims["timeliness"] = DimensionScore(
            "timeliness", None, 0, 0, DIMENSION_WEIGHTS["timeliness"]
        )
    else:
        age = (as_of - last_date).days
        share = min(1.0, max(0.0, 1 - (age - FRESH_DAYS) / (STALE_DAYS - FRESH_DAYS)))
        dims["timeliness"] = DimensionScore(
            "timeliness",
            100 * share,
            1,
            int(share < 1),
            DIMENSION_WEIGHTS["timeliness"],
            {"age_days": float(age)},
        )
    scored = [d for d in dims.values() if d.score is not None]
    weight = sum(d.weight for d in scored)
    overall = sum((d.score or 0.0) * d.weight for d in scored) / weight if weight else 0.0
    grade = next(g for cut, g in GRADES if overall >= cut)
    return Quality(overall, grade, dims)


@overload
def display_score(x: float) -> float: ...
@overload
def display_score(x: None) -> None: ...
def display_score(x: float | None) -> float | None:
    """Round a 0-100 score down to one decimal, so that any failure keeps it below 100."""
    return None if x is None else math.floor(x * 10 + 1e-9) / 10
