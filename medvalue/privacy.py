"""Privacy-safe outputs. Every count of people that reaches an output passes through here.

This is the minimal core the privacy issue builds on: small-cell suppression of single
counts and of count tables.
"""

from __future__ import annotations

from medvalue.config import SMALL_CELL_THRESHOLD


def suppress_count(n: int | None, threshold: int = SMALL_CELL_THRESHOLD) -> int | None:
    """Return ``n`` if it may be shown, else None. Zero may be shown (nobody to identify)."""
    if n is None:
        return None
    return n if n == 0 or n >= threshold else None
