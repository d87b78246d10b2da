"""ICD-10 normalisation and coverage speed on N diagnosis codes written as hospitals do.

Run by hand: ``python benchmarks/bench_codes.py [--rows 10000000]``. The codes are drawn
from the liver and county samples' code pools, in WHO, dotless lower-case and national
clinical edition forms, plus malformed and ICD-9 ones; the first time covers normalisation
(three joins against the WHO code table) of an in-memory column; the second the whole
coverage analysis of a Parquet diagnoses table with patient ids (one patient per 4 rows).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl

from medvalue import coverage, load_dataset
from medvalue.core._codes import code_table, normalise

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
    path = Path(__file__).resolve().parent / "_data" / f"diagnoses_{args.rows}.parquet"
    path.parent.mkdir(exist_ok=True)
    df.with_columns(
        patient_id=pl.int_range(pl.len()).floordiv(4).cast(pl.String),
        diagnosis_type=pl.lit("secondary"),
    ).rename({"dx": "icd_code"}).write_parquet(path)
    start = time.perf_counter()
    cov = coverage(load_dataset(path))
    print(f"coverage of {args.rows:,} diagnosis rows, {cov.patients:,} patients: "
          f"{time.perf_counter() - start:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
