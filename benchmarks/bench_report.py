"""Wall time of `medvalue report` on the sample and on a generated 1M-row dataset.

Run by hand::

    python benchmarks/bench_report.py [--rows 1000000] [--repeat 3]

Each run is the whole command in a fresh process (interpreter start, kernel start, every
cell, HTML export), as a user waits for it. The median is kept. Results go to
``benchmarks/results/report.json``; the markdown table is for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
MEDVALUE = [sys.executable, "-m", "medvalue"]


def timed_report(path: Path, spec: Path | None, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            cmd = [*MEDVALUE, "report", str(path), "--out", out, "--as-of", "2025-01-01"]
            if spec:
                cmd += ["--spec", str(spec)]
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            runs.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(runs),
        "min": min(runs),
        "max": max(runs),
        "runs": len(runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_profile import make_data

    sample = ROOT / "data" / "sample" / "liver_transplant.csv"
    results = [
        {"dataset": "liver_transplant sample (1,202 rows)",
         **timed_report(sample, sample.with_name("liver_transplant.spec.yaml"), args.repeat)},
    ]  # fmt: skip
    big = make_data(args.rows)["parquet"]
    results.append({"dataset": f"generated, {args.rows:,} rows x 25 columns (Parquet)",
                    **timed_report(big, None, args.repeat)})  # fmt: skip
    seconds = float(results[0]["seconds"])  # type: ignore[arg-type]
    ratios = [{"shape": "liver_transplant sample", "rows": 1202, "format": "CSV",
               "what": "make report's command, seconds (median, whole process)",
               "ratio": seconds, "goal": "< 10", "met": seconds < 10}]  # fmt: skip
    from benchmarks.bench_profile import print_ratios, save

    save("report", results, ratios)
    print_ratios(ratios)
    print("| dataset | median s | min s | max s |\n|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['dataset']} | {r['seconds']:.1f} | {r['min']:.1f} | {r['max']:.1f} |")


if __name__ == "__main__":
    main()
