"""medvalue: what a clinical dataset contains, how good and safe it is, and what it is worth.

The public API: ``load_dataset`` reads a file or folder with its spec; each analysis is a
function of the dataset returning a frozen result with ``to_dict()``, which shows itself as
its report section in a notebook.

Names are imported when first used (PEP 562), so ``medvalue --help`` and ``import medvalue``
do not load the statistics and plotting libraries.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_API = {
    "Coverage": "medvalue.coverage",
    "coverage": "medvalue.coverage",
    "Dataset": "medvalue.dataset",
    "load_dataset": "medvalue.dataset",
    "locate": "medvalue.dataset",
    "open_dataset": "medvalue.dataset",
    "MedvalueError": "medvalue.errors",
    "inspect_dataset": "medvalue.inspect",
    "read_path": "medvalue.io",
    "Valuation": "medvalue.pricing",
    "price": "medvalue.pricing",
    "PrivacyAssessment": "medvalue.privacy",
    "privacy": "medvalue.privacy",
    "Profile": "medvalue.profile",
    "profile": "medvalue.profile",
    "Readiness": "medvalue.readiness",
    "readiness": "medvalue.readiness",
    "Refined": "medvalue.refine",
    "refine": "medvalue.refine",
    "DatasetSpec": "medvalue.spec",
    "infer_spec": "medvalue.spec",
    "TargetProgress": "medvalue.targets",
    "targets": "medvalue.targets",
}

__all__ = [
    "Coverage",
    "Dataset",
    "DatasetSpec",
    "MedvalueError",
    "PrivacyAssessment",
    "Profile",
    "Readiness",
    "Refined",
    "TargetProgress",
    "Valuation",
    "__version__",
    "coverage",
    "infer_spec",
    "inspect_dataset",
    "load_dataset",
    "locate",
    "open_dataset",
    "price",
    "privacy",
    "profile",
    "read_path",
    "readiness",
    "refine",
    "targets",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        msg = f"module 'medvalue' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    # A submodule named like its function (medvalue.profile) is replaced by the function
    # here, as the eager imports did.
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


class _Package(types.ModuleType):
    """``medvalue.profile`` is the function even after ``medvalue.profile`` the module was
    imported (the import system sets the submodule as an attribute of the package)."""

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if isinstance(value, types.ModuleType) and name in _API and hasattr(value, name):
            return getattr(value, name)
        return value


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from medvalue.coverage import Coverage, coverage
    from medvalue.dataset import Dataset, load_dataset, locate, open_dataset
    from medvalue.errors import MedvalueError
    from medvalue.inspect import inspect_dataset
    from medvalue.io import read_path
    from medvalue.pricing import Valuation, price
    from medvalue.privacy import PrivacyAssessment, privacy
    from medvalue.profile import Profile, profile
    from medvalue.readiness import Readiness, readiness
    from medvalue.refine import Refined, refine
    from medvalue.spec import DatasetSpec, infer_spec
    from medvalue.targets import TargetProgress, targets
