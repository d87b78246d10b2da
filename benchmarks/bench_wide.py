"""Wide tables: time and peak memory of `medvalue profile` and `medvalue privacy` on 200 rows
x 200 / 1,000 / 5,000 integer columns, as whole processes. Run by hand:
``python benchmarks/bench_wide.py``; the tables are generated in benchmarks/_data/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

ROWS = 200
WIDTHS = (200, 1000, 5000)


def main() -> None:
    data = Path(__file__).resolve().parent / "_data"
    data.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for width in WIDTHS:
        path = data / f"wide_{width}.csv"
        if not path.exists():
            pl.DataFrame({f"c{i}": rng.integers(0, 50, ROWS) for i in range(width)}).write_csv(path)
        for command in ("profile", "privacy"):
            cmd = [
                "/usr/bin/time",
                "-f",
                "%e %M",
                sys.executable,
                "-m",
                "medvalue",
                command,
                str(path),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            seconds, kb = re.findall(r"([\d.]+) (\d+)\s*$", done.stderr)[-1]
            print(
                f"{command} {ROWS} x {width}: {float(seconds):.1f} s, peak {int(kb) / 1024:.0f} MB"
            )


if __name__ == "__main__":
    main()
