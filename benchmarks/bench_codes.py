"""ICD-10 normalisation speed: N diagnosis codes in the forms hospitals write them.

Run by hand: ``python benchmarks/bench_codes.py [--rows 10000000]``. The codes are drawn
from the liver and county samples' code pools, in WHO, dotless lower-case and national
clinical edition forms, plus malformed and ICD-9 ones; the time covers normalisation
(three joins against the WHO code table) of an in-memory column.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from medvalue.codes import code_table, normalise

FORMS = [
    "K74.6",
    "k746",
    "K74.600x002",
    "I10.x00x024",
    "E11.65",
    "I63.9",
    "J44.9",
    "250.00",
    "K7A.1",
    "Z94.4",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    df = pl.DataFrame({"dx": np.array(FORMS)[rng.integers(0, len(FORMS), args.rows)]})
    code_table()  # built once per process; measured separately
    start = time.perf_counter()
    out = normalise(df, "dx").collect()
    seconds = time.perf_counter() - start
    counts = out["dx_status"].value_counts().sort("dx_status")
    print(f"{args.rows:,} codes normalised in {seconds:.2f} s")
    print(counts)


if __name__ == "__main__":
    main()
