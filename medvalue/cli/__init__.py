"""The ``medvalue`` command: a thin caller of the package's functions (the top layer)."""

from medvalue.cli._commands import cli, main

__all__ = ["cli", "main"]
