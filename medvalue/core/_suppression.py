"""Small-cell suppression: the one gate every count of people passes before any output.

``suppress`` takes a single count, a sequence of counts that add up to a shown total, or a
mapping of category -> count, and hides every count from 1 to ``threshold - 1``. Where
exactly one cell of a partition is hidden, the total would give it away, so the next
smallest non-zero cell is hidden too (complementary suppression, as the CMS cell-size
policy requires). Zero may be shown: nobody can be identified from an empty cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, overload

from medvalue.core._config import SMALL_CELL_THRESHOLD


@overload
def suppress(counts: int | None, threshold: int = ...) -> int | None: ...
@overload
def suppress(counts: Sequence[int], threshold: int = ...) -> list[int | None]: ...
@overload
def suppress(counts: Mapping[str, int], threshold: int = ...) -> dict[str, int | None]: ...


def suppress(counts: Any, threshold: int = SMALL_CELL_THRESHOLD) -> Any:
    """Hide counts of people below ``threshold``; see the module docstring.

    Examples
    --------
    >>> suppress(3), suppress(0), suppress(12)
    (None, 0, 12)
    >>> suppress([40, 3, 7, 20])
    [40, None, None, 20]
    >>> suppress({"M": 9, "F": 2}, threshold=5)
    {'M': None, 'F': None}
    """
    if threshold < 1:
        msg = "the small-cell threshold must be at least 1"
        raise ValueError(msg)
    if counts is None or isinstance(counts, int):
        return _one(counts, threshold)
    if isinstance(counts, Mapping):
        keys = list(counts)
        shown = _partition([int(counts[k]) for k in keys], threshold)
        return dict(zip(keys, shown, strict=True))
    return _partition([int(n) for n in counts], threshold)


def _one(n: int | None, threshold: int) -> int | None:
    if n is None:
        return None
    return n if n == 0 or n >= threshold else None


def _partition(counts: list[int], threshold: int) -> list[int | None]:
    out: list[int | None] = [_one(n, threshold) for n in counts]
    hidden = [i for i, v in enumerate(out) if v is None]
    if len(hidden) == 1:
        shown = [(n, i) for i, n in enumerate(counts) if out[i] is not None and n > 0]
        if shown:
            out[min(shown)[1]] = None
    return out
