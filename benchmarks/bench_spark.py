"""The profile on local Spark against the profile on one machine (polars), same data.

Run by hand::

    python benchmarks/bench_spark.py --rows 10000000 50000000

The table is the benchmark shape (``medvalue.datasets.benchmark_table``, 25 columns, one
row per patient) in Parquet, generated in 10M-row chunks into ``benchmarks/_data/`` and
reused. Each measurement is a fresh process: *wall* is the whole process as a user waits
for it (Spark's start included), *driver MB* the Python driver's own high-water mark
(VmHWM: what the aggregates cost this machine's Python), *JVM MB* that of Spark's JVM,
which in local mode is the driver and both executors' cores in one process (on a cluster
the executors run elsewhere). Spark runs ``local[2]`` with its default 1 GB driver heap.
Writes ``benchmarks/results/spark.json`` and prints the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
RESULTS = HERE / "results"
CHUNK = 10_000_000

_HWM = """
def hwm(pid="self"):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
"""
RUNNERS = {
    "polars": """
from medvalue import load_dataset, profile
p = profile(load_dataset(path), as_of="2025-01-01")
print(json.dumps({"rows": p.size.rows, "driver_mb": hwm(), "jvm_mb": None}))
""",
    "spark": """
from medvalue import load_dataset, profile
from medvalue.read import _spark
p = profile(load_dataset("spark:" + path), as_of="2025-01-01")
jvm = _spark.session().sparkContext._gateway.proc.pid
print(json.dumps({"rows": p.size.rows, "driver_mb": hwm(), "jvm_mb": hwm(jvm)}))
""",
}


def make_parquet(rows: int) -> Path:
    """The benchmark table at ``rows`` rows (a multiple of 10M above 10M), Parquet only."""
    DATA.mkdir(parents=True, exist_ok=True)
    target = DATA / f"bench_{rows}.parquet"
    if target.exists():
        return target
    code = textwrap.dedent("""
        import sys, tempfile
        from pathlib import Path
        import polars as pl
        from medvalue.datasets import benchmark_table
        rows, target, chunk = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        with tempfile.TemporaryDirectory(dir=Path(target).parent) as tmp:
            parts = []
            for i, start in enumerate(range(0, rows, chunk)):
                df = benchmark_table(min(chunk, rows - start), seed=7 + i)
                if i:  # each chunk its own patients (LT... first, L1..., L2... after)
                    df = df.with_columns(pl.col("patient_id").str.replace("^LT", f"L{i}"))
                parts.append(Path(tmp) / f"{i}.parquet")
                df.write_parquet(parts[-1])
                del df
            pl.scan_parquet(parts).sink_parquet(target)
    """)
    subprocess.run([sys.executable, "-c", code, str(rows), str(target), str(CHUNK)], check=True)
    return target


def measure(engine: str, path: Path) -> dict[str, float | None]:
    code = "import json, sys\npath = sys.argv[1]\n" + _HWM + textwrap.dedent(RUNNERS[engine])
    start = time.perf_counter()
    env = {**os.environ, "MEDVALUE_SPARK_MASTER": "local[2]"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    args = ap.parse_args()
    results = []
    for rows in args.rows:
        path = make_parquet(rows)
        for engine in ("polars", "spark"):
            got = measure(engine, path)
            results.append({"rows": rows, "engine": engine, **got})
            print(json.dumps(results[-1]), flush=True)
    ratios = []
    for rows in args.rows:
        by = {r["engine"]: r for r in results if r["rows"] == rows and "wall" in r}
        if len(by) == 2:
            ratio = by["spark"]["wall"] / by["polars"]["wall"]
            driver = by["spark"]["driver_mb"] / 1024
            print(f"{rows:>11,} rows: spark/polars wall {ratio:.1f}x; "
                  f"spark driver {driver:.2f} GB (goal < 1), "
                  f"JVM {by['spark']['jvm_mb']:.0f} MB")  # fmt: skip
            ratios.append({"shape": "benchmark", "format": "parquet", "rows": rows,
                           "what": "profile on Spark: driver peak / 1 GB", "ratio": driver,
                           "goal": "< 1", "met": driver < 1})  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    meta = {"machine": platform.machine(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    doc = {"meta": meta, "results": results, "ratios": ratios}
    (RESULTS / "spark.json").write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
