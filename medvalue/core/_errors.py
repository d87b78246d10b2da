"""The medvalue exception tree.

Every message names the file (and the column where there is one) and says how to fix the
problem, so that the command line can print it as one line and exit with code 2. The same
facts are attributes, for code that handles an error instead of printing it:

>>> try:
...     raise InputError.at("x.csv", "no such file", "check the path")
... except MedvalueError as err:
...     (err.path, err.fix, err.code)
('x.csv', 'check the path', 'input')
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Self


class MedvalueError(Exception):
    """Raised when the user's input or request cannot be handled; never for a bug.

    Attributes: ``path`` (the file as the user gave it), ``table``, ``column``, ``fix`` (what
    to do), ``code`` (a short reason code; the class's unless a raiser gave a finer one).
    Any of the first four may be None when the error is not about one.
    """

    exit_code = 2
    code = "medvalue"

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        table: str | None = None,
        column: str | None = None,
        fix: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = _show(path) if path is not None else None
        self.table = table
        self.column = column
        self.fix = fix
        if code is not None:
            self.code = code

    @classmethod
    def at(
        cls,
        path: str | Path,
        problem: str,
        fix: str,
        *,
        table: str | None = None,
        column: str | None = None,
        code: str | None = None,
    ) -> Self:
        """``path: problem. Fix: fix``, with each part kept as an attribute."""
        return cls(
            f"{_show(path)}: {problem}. Fix: {fix}",
            path=path, table=table, column=column, fix=fix, code=code,
        )  # fmt: skip

    @property
    def message(self) -> str:
        return str(self)


class InputError(MedvalueError):
    """Raised when an input file or folder cannot be read as a dataset."""

    code = "input"


class ColumnError(MedvalueError):
    """Raised when a named column is missing or unusable."""

    code = "column"

    @classmethod
    def missing(
        cls, path: str | Path, column: str, available: Iterable[str], what: str = "column"
    ) -> Self:
        names = ", ".join(list(available)[:20])
        fix = f"use one of the columns present ({names}) or correct the spec"
        return cls(
            f"{_show(path)}: no {what} named '{column}'. Fix: {fix}.",
            path=path, column=column, fix=fix, code="column_missing",
        )  # fmt: skip


class SpecError(MedvalueError):
    """Raised when a dataset spec (YAML) is malformed or contradicts the data."""

    code = "spec"


class ParameterError(MedvalueError):
    """Raised when a function or command is given an invalid option value."""

    code = "parameter"


class ReportError(MedvalueError):
    """Raised when a report notebook fails to execute; the failed notebook is kept."""

    exit_code = 1
    code = "report"


def _show(path: str | Path) -> str:
    # Show the path as the user gave it; never resolve it to an absolute path that
    # would leak the user's directory layout into logs and reports.
    return str(path)
