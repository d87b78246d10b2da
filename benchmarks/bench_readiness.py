"""AI-training readiness at scale: the whole analysis (label, predictors, leakage, sample size,
cross-validated baseline and learning curve) on N rows.

Run by hand: ``python benchmarks/bench_readiness.py [--rows 1000000]``. The table is the
profile benchmark's (``medvalue.samples.benchmark_table``: the liver sample widened with
vital signs and labs, label death_90d), as Parquet in benchmarks/_data. Models see a
stratified subsample of at most 50,000 rows, so the time is mostly reading and typing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from medvalue import load_dataset
from medvalue.readiness import readiness
from medvalue.samples import benchmark_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    path = Path(__file__).resolve().parent / "_data" / f"bench_{args.rows}.parquet"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        benchmark_table(args.rows).write_parquet(path)
    start = time.perf_counter()
    r = readiness(load_dataset(path), "death_90d")
    seconds = time.perf_counter() - start
    print(f"readiness of {args.rows:,} rows: {seconds:.1f} s (models on {r.model_rows:,} rows)")
    print(f"  {r.parameters} parameters, required n {r.sample_size.required_n:,}, "
          f"AUC {r.baseline.value:.3f}, score {r.score:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
