"""Paths and defaults. No side effects at import."""

from __future__ import annotations

from pathlib import Path

#: The package version (pyproject.toml says the same; tests/test_packaging.py checks it).
VERSION = "0.1.0"

#: The installed package (this file is medvalue/core/_config.py).
PACKAGE_DIR = Path(__file__).resolve().parent.parent
PACKAGE_DATA = PACKAGE_DIR / "data"
#: A source checkout's root and its samples: for the tests and doctests, run from a checkout.
#: Nothing at run time reads or writes there (an installed wheel has no such folder).
PROJ_ROOT = PACKAGE_DIR.parent
SAMPLE_DIR = PROJ_ROOT / "data" / "sample"
#: The report notebooks, shipped in the package (notebooks/ at the top of a checkout holds the
#: same files for JupyterLab; tests/test_packaging.py keeps them equal).
NOTEBOOK_DIR = PACKAGE_DIR / "notebooks"

#: Counts of people below this are never shown (see docs/methods.md, small cells).
SMALL_CELL_THRESHOLD = 5

#: Languages every user-facing text exists in. Reports default to Chinese: the people who
#: list and buy these datasets work in Chinese; `--lang en` gives English.
LANGUAGES = ("zh", "en")
DEFAULT_LANG = "zh"


#: The environment variable naming the folder for medvalue's private scratch files.
CACHE_ENV = "MEDVALUE_CACHE_DIR"
