"""A refined product as `medvalue refine` writes it: where its tables are, and its log (the
fixes it made and the time it took, which the cost approach of pricing reads instead of
estimating cleaning from rows)."""

from __future__ import annotations

import json
from pathlib import Path

from medvalue.core._errors import InputError

LOG_FILE = "refine_log.json"
TIMING_FILE = "timing.json"
#: A product's tables are in this folder, their spec beside it.
DATA_DIR = "data"
SPEC_FILE = "data.spec.yaml"

#: Steps that fix a quality problem (counted as fixes for the cost approach of pricing).
FIX_STEPS = (
    "normalise_codes",
    "unknown_codes_to_missing",
    "parse_dates",
    "parse_numbers",
    "placeholders_to_missing",
    "unparseable_to_missing",
    "implausible_to_missing",
    "future_or_pre1900_dates_to_missing",
    "duplicate_rows_removed",
)


def product_tables(path: str | Path) -> Path | None:
    """The tables folder of the product `medvalue refine` wrote at ``path``, or None if
    ``path`` is not one: a product is read as its tables (with their spec), not as the data
    dictionary and the datacard beside them."""
    p = Path(path)
    if p.is_dir() and (p / LOG_FILE).is_file() and (p / DATA_DIR).is_dir():
        return p / DATA_DIR
    return None


def load_refinement(folder: str | Path) -> dict[str, float]:
    """``fixes`` and ``seconds`` of a refined product, for the cost approach of pricing."""
    folder = Path(folder)
    log, timing = folder / LOG_FILE, folder / TIMING_FILE
    if not log.exists():
        raise InputError.at(
            folder, f"no {LOG_FILE} here", "give the folder `medvalue refine` wrote"
        )
    try:
        changes = json.loads(log.read_text(encoding="utf-8"))["changes"]
        seconds = (
            json.loads(timing.read_text(encoding="utf-8"))["total"] if timing.exists() else 0.0
        )
    except (ValueError, KeyError, TypeError):
        raise InputError.at(log, "not a refinement log", "run `medvalue refine` again") from None
    fixes = sum(int(c["values"]) for c in changes if c.get("step") in FIX_STEPS)
    return {"fixes": float(fixes), "seconds": float(seconds)}
