"""medvalue: what a clinical dataset contains, how good and safe it is, and what it is worth.

The public API: ``load_dataset`` reads a file or folder with its spec; each analysis is a
function of the dataset returning a frozen result with ``to_dict()``, which shows itself as
its report section in a notebook; ``assess`` runs them all and the price, from one
``AssessOptions``. Everything else is internal (modules named ``_name`` in the layer
subpackages: core, read, analyses, value, product, present, cli).

Names are imported when first used (PEP 562), so ``medvalue --help`` and ``import medvalue``
do not load the statistics and plotting libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from medvalue.core import _display
from medvalue.core._config import VERSION

__version__ = VERSION

#: Public name -> the module that defines it.
_API = {
    "AssessOptions": "medvalue.value._assess",
    "Assessment": "medvalue.value._assess",
    "assess": "medvalue.value._assess",
    "Coverage": "medvalue.analyses._coverage",
    "coverage": "medvalue.analyses._coverage",
    "Dataset": "medvalue.read._dataset",
    "load_dataset": "medvalue.read._dataset",
    "locate": "medvalue.read._dataset",
    "open_dataset": "medvalue.read._dataset",
    "MedvalueError": "medvalue.core._errors",
    "inspect_dataset": "medvalue.read._inspect",
    "read_path": "medvalue.read._dataset",
    "Valuation": "medvalue.value._pricing",
    "price": "medvalue.value._pricing",
    "PrivacyAssessment": "medvalue.analyses._privacy",
    "apply_generalisation": "medvalue.analyses._privacy",
    "render_valuation": "medvalue.present._report",
    "privacy": "medvalue.analyses._privacy",
    "Pool": "medvalue.value._pool",
    "PoolSpec": "medvalue.value._pool",
    "SiteSpec": "medvalue.value._pool",
    "load_pool_spec": "medvalue.value._pool",
    "pool": "medvalue.value._pool",
    "Profile": "medvalue.analyses._profile",
    "profile": "medvalue.analyses._profile",
    "Readiness": "medvalue.analyses._readiness",
    "readiness": "medvalue.analyses._readiness",
    "Refined": "medvalue.product._refine",
    "refine": "medvalue.product._refine",
    "DatasetSpec": "medvalue.read._spec",
    "infer_spec": "medvalue.read._dataset",
    "TargetProgress": "medvalue.analyses._targets",
    "targets": "medvalue.analyses._targets",
}

__all__ = [
    "AssessOptions",
    "Assessment",
    "Coverage",
    "Dataset",
    "DatasetSpec",
    "MedvalueError",
    "Pool",
    "PoolSpec",
    "PrivacyAssessment",
    "Profile",
    "Readiness",
    "Refined",
    "SiteSpec",
    "TargetProgress",
    "Valuation",
    "__version__",
    "apply_generalisation",
    "assess",
    "coverage",
    "infer_spec",
    "inspect_dataset",
    "load_dataset",
    "load_pool_spec",
    "locate",
    "open_dataset",
    "pool",
    "price",
    "privacy",
    "profile",
    "read_path",
    "readiness",
    "refine",
    "render_valuation",
    "targets",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        msg = f"module 'medvalue' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    # A submodule named like its function (medvalue.analyses._profile) is replaced by the function
    # here, as the eager imports did.
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def _render(result: Any, view: str, lang: str) -> Any:
    # The presentation layer, imported when a result is first displayed: analyses never
    # import it (see medvalue.core._display).
    from medvalue.present import views

    return views.standalone(getattr(views, view)(result, lang))


_display.use_renderer(_render)


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, eagerly
    from medvalue.analyses._coverage import Coverage, coverage
    from medvalue.analyses._privacy import PrivacyAssessment, apply_generalisation, privacy
    from medvalue.analyses._profile import Profile, profile
    from medvalue.analyses._readiness import Readiness, readiness
    from medvalue.analyses._targets import TargetProgress, targets
    from medvalue.core._errors import MedvalueError
    from medvalue.present._report import render_valuation
    from medvalue.product._refine import Refined, refine
    from medvalue.read._dataset import (
        Dataset,
        infer_spec,
        load_dataset,
        locate,
        open_dataset,
        read_path,
    )
    from medvalue.read._inspect import inspect_dataset
    from medvalue.read._spec import DatasetSpec
    from medvalue.value._assess import Assessment, AssessOptions, assess
    from medvalue.value._pricing import Valuation, price
