"""AI-training readiness at scale: the whole analysis (label, predictors, leakage, sample size,
cross-validated baseline and learning curve) on N rows.

Run by hand: ``python benchmarks/bench_readiness.py [--rows 1000000]``, or with ``--corpus``
the small real tables of the conformance corpus (tests/corpus.py, needs the dev extra): a
418-row survival table with a three-level status (pbc, event 2), an 815-row one with four
(transplant, event death) and a 15,524-row multiclass label (covid_testing result), each
as a whole ``medvalue readiness`` process. The large table is the profile benchmark's (``medvalue.datasets.benchmark_table``: the liver sample widened with
vital signs and labs, label death_90d), as Parquet in benchmarks/_data. Models see a
stratified subsample of at most 50,000 rows, so the time is mostly reading and typing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from medvalue import load_dataset
from medvalue.analyses._readiness import readiness
from medvalue.datasets import benchmark_table

CORPUS_RUNS = (
    ("pbc", ["--label", "status", "--event", "2"]),
    ("transplant", ["--label", "event", "--event", "death"]),
    ("covid_testing", ["--label", "result"]),
)


def corpus() -> None:
    """Whole processes of `medvalue readiness` on the corpus tables, best of three."""
    import subprocess
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.corpus import build

    folder = Path(tempfile.mkdtemp())
    files = build(folder)
    for key, args in CORPUS_RUNS:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            cmd = [sys.executable, "-m", "medvalue", "readiness", str(files[key]), *args, "--json"]
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        print(f"readiness {key} {' '.join(args)}: {min(times):.1f} s (best of 3 whole processes)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--corpus", action="store_true", help="the real tables of tests/corpus.py")
    args = ap.parse_args()
    if args.corpus:
        corpus()
        return
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
