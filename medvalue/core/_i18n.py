"""One catalogue of user-facing text in Chinese and English (``data/messages.yaml``)."""

from __future__ import annotations

from functools import cache
from typing import Any

from medvalue.core._config import LANGUAGES, PACKAGE_DATA
from medvalue.core._errors import ParameterError
from medvalue.core._files import load_yaml


@cache
def catalogue() -> dict[str, Any]:
    return load_yaml((PACKAGE_DATA / "messages.yaml").read_text(encoding="utf-8"))


def check_lang(lang: str) -> str:
    if lang not in LANGUAGES:
        msg = f"language must be one of {', '.join(LANGUAGES)}, got '{lang}'"
        raise ParameterError(msg)
    return lang


def text(section: str, key: str, lang: str, field: str = "", /, **params: Any) -> str:
    """Look up ``section.key`` in ``lang`` (``field`` picks e.g. ``fix_``) and fill it in."""
    entry = catalogue()[section][key]
    template = entry[f"{field}{check_lang(lang)}"]
    return template.format(**params) if params else template
