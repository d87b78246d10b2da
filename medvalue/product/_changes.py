"""The refinement log: each change says where and how many rows and values it touched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The environment variable holding the pseudonym key unless ``--secret-env`` names another.


@dataclass(frozen=True)
class Change:
    """One transformation: where, how many rows and values it touched (never the values)."""

    step: str
    table: str
    column: str | None
    rows: int
    values: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "table": self.table,
            "column": self.column,
            "rows": self.rows,
            "values": self.values,
            "detail": self.detail,
        }


#: Steps that protect people.
PROTECT_STEPS = (
    "drop_direct_identifier",
    "drop_free_text",
    "mask_identifiers_in_text",
    "pseudonymise",
    "shift_dates",
    "coarsen_dates",
    "generalise",
    "suppress",
)


def values_of(changes: Sequence[Change], steps: Sequence[str]) -> int:
    """Values touched by the changes of the given steps."""
    return sum(c.values for c in changes if c.step in steps)
