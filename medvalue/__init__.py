"""medvalue: what a clinical dataset contains, how good and safe it is, and what it is worth.

The public API: ``load_dataset`` reads a file or folder with its spec; each analysis is a
function of the dataset returning a frozen result with ``to_dict()``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from medvalue.coverage import Coverage, coverage
from medvalue.dataset import Dataset, load_dataset
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
    "price",
    "privacy",
    "profile",
    "read_path",
    "readiness",
    "refine",
    "targets",
]
