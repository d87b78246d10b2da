"""medvalue: what a clinical dataset contains, how good and safe it is, and what it is worth."""

from __future__ import annotations

from medvalue.dataset import Dataset, load_dataset
from medvalue.errors import MedvalueError
from medvalue.io import read_path
from medvalue.spec import DatasetSpec, infer_spec

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "DatasetSpec",
    "MedvalueError",
    "__version__",
    "infer_spec",
    "load_dataset",
    "read_path",
]
