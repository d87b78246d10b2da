"""Privacy-safe outputs. Every count of people that reaches an output passes through here.

This is the minimal core the privacy issue builds on: small-cell suppression of single
counts and of count tables.
"""

from __future__ import annotations

from collections.abc import Sequence

from medvalue.config import SMALL_CELL_THRESHOLD


def suppress_count(n: int | None, threshold: int = SMALL_CELL_THRESHOLD) -> int | None:
    """Return ``n`` if it may be shown, else None. Zero may be shown (nobody to identify)."""
    if n is None:
        return None
    return n if n == 0 or n >= threshold else None


def suppress_partition(
    counts: Sequence[int], threshold: int = SMALL_CELL_THRESHOLD
) -> list[int | None]:
    """Suppress small cells of a table whose cells add up to a total that is shown.

    Primary suppression hides every count from 1 to ``threshold - 1``. If exactly one cell
    is hidden, the total would give it away, so the next-smallest non-zero cell is hidden
    too (complementary suppression, as the CMS policy requires).
    """
    out: list[int | None] = [suppress_count(n, threshold) for n in counts]
    hidden = [i for i, v in enumerate(out) if v is None]
    if len(hidden) == 1:
        shown = [(n, i) for i, n in enumerate(counts) if out[i] is not None and n > 0]
        if shown:
            out[min(shown)[1]] = None
    return out
