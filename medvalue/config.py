"""Paths and defaults. No side effects at import."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE_DATA = PACKAGE_DIR / "data"
PROJ_ROOT = PACKAGE_DIR.parent
SAMPLE_DIR = PROJ_ROOT / "data" / "sample"
NOTEBOOK_DIR = PROJ_ROOT / "notebooks"
REPORTS_DIR = PROJ_ROOT / "reports"

#: Counts of people below this are never shown (see docs/methods.md, small cells).
SMALL_CELL_THRESHOLD = 5

#: Languages every user-facing text exists in. Reports default to Chinese: the people who
#: list and buy these datasets work in Chinese; `--lang en` gives English.
LANGUAGES = ("zh", "en")
DEFAULT_LANG = "zh"


def cache_dir() -> Path:
    """Return the folder for transcoded copies of non-UTF-8 inputs (never the input's)."""
    root = os.environ.get("MEDVALUE_CACHE_DIR") or str(Path(tempfile.gettempdir()) / "medvalue")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
