"""``python -m medvalue.datasets [FOLDER]``: write the samples (default data/sample/)."""

import sys
from pathlib import Path

from medvalue.core._config import SAMPLE_DIR
from medvalue.datasets._synthetic import write_samples

target = Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE_DIR
for path in write_samples(target):
    print(path)
