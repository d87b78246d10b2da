"""``python -m medvalue.datasets [FOLDER]``: write the samples (default data/sample/ in the
current folder, never inside the installed package)."""

import sys
from pathlib import Path

from medvalue.datasets._synthetic import write_samples

target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("data") / "sample"
for path in write_samples(target):
    print(path)
