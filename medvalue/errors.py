"""The medvalue exception tree.

Every message names the file (and the column where there is one) and says how to fix the
problem, so that the command line can print it as one line and exit with code 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class MedvalueError(Exception):
    """Raised when the user's input or request cannot be handled; never for a bug."""

    exit_code = 2


class InputError(MedvalueError):
    """Raised when an input file or folder cannot be read as a dataset."""

    @classmethod
    def at(cls, path: str | Path, problem: str, fix: str) -> InputError:
        return cls(f"{_show(path)}: {problem}. Fix: {fix}")


class ColumnError(MedvalueError):
    """Raised when a named column is missing or unusable."""

    @classmethod
    def missing(
        cls, path: str | Path, column: str, available: Iterable[str], what: str = "column"
    ) -> ColumnError:
        names = ", ".join(list(available)[:20])
        return cls(
            f"{_show(path)}: no {what} named '{column}'. "
            f"Fix: use one of the columns present ({names}) or correct the spec."
        )


class SpecError(MedvalueError):
    """Raised when a dataset spec (YAML) is malformed or contradicts the data."""

    @classmethod
    def at(cls, path: str | Path, problem: str, fix: str) -> SpecError:
        return cls(f"{_show(path)}: {problem}. Fix: {fix}")


class ParameterError(MedvalueError):
    """Raised when a function or command is given an invalid option value."""


class ReportError(MedvalueError):
    """Raised when a report notebook fails to execute; the failed notebook is kept."""

    exit_code = 1


def _show(path: str | Path) -> str:
    # Show the path as the user gave it; never resolve it to an absolute path that
    # would leak the user's directory layout into logs and reports.
    return str(path)
