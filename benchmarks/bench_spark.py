"""The analyses, privacy --apply and refine on local Spark against the same on one machine (polars), same data.

Run by hand::

    python benchmarks/bench_spark.py --rows 10000000 50000000 [--analyses profile coverage privacy readiness apply refine]

The table is the benchmark shape (``medvalue.datasets.benchmark_table``, 25 columns, one
row per patient) in Parquet, generated in 10M-row chunks into ``benchmarks/_data/`` and
reused. Each measurement is a fresh process: *wall* is the whole process as a user waits
for it (Spark's start included), *driver MB* the Python driver's own high-water mark
(VmHWM: what the aggregates cost this machine's Python), *JVM MB* that of Spark's JVM,
which in local mode is the driver and both executors' cores in one process (on a cluster
the executors run elsewhere). Spark runs ``local[2]`` with its default 1 GB driver heap.
Adds to ``benchmarks/results/spark.json`` (replacing earlier runs of the same analysis and
rows) and prints the ratios. ``apply`` and ``refine`` write their output to a temporary
folder, removed after.
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
#: Each analysis as a run prints it: the rows it read and the peaks; ``source`` is the path,
#: or ``spark:`` and the path.
RUNNERS = {
    "profile": """
from medvalue import load_dataset, profile
rows = profile(load_dataset(source), as_of="2025-01-01").size.rows
""",
    "coverage": """
from medvalue import coverage, load_dataset
rows = coverage(load_dataset(source)).patients
""",
    "privacy": """
from medvalue import load_dataset, privacy
rows = privacy(load_dataset(source)).tables[0].summary.records
""",
    "readiness": """
from medvalue import load_dataset, readiness
rows = readiness(load_dataset(source), "death_90d").available_n
""",
    "apply": """
import tempfile
from medvalue import apply_generalisation, load_dataset
with tempfile.TemporaryDirectory() as out:
    rows = apply_generalisation(load_dataset(source), out + "/released").plan.records
""",
    "refine": """
import os, tempfile
from medvalue import load_dataset, refine
os.environ.setdefault("MEDVALUE_SECRET", "benchmark-secret-0123456789")
with tempfile.TemporaryDirectory() as out:
    done = refine(load_dataset(source), out + "/product", as_of="2025-01-01", price=False)
    rows = done.before.tables[0].summary.records  # the input's (exact repeats are dropped)
""",
}
_PEAKS = """
jvm = None
if source.startswith("spark:"):
    from medvalue.read import _spark
    jvm = hwm(_spark.session().sparkContext._gateway.proc.pid)
print(json.dumps({"rows": rows, "driver_mb": hwm(), "jvm_mb": jvm}))
"""


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


def measure(analysis: str, engine: str, path: Path) -> dict[str, float | None]:
    source = f"spark:{path}" if engine == "spark" else str(path)
    code = "\n".join(["import json, sys", "source = sys.argv[1]", _HWM,
                      textwrap.dedent(RUNNERS[analysis]), _PEAKS])  # fmt: skip
    start = time.perf_counter()
    env = {**os.environ, "MEDVALUE_SPARK_MASTER": "local[2]"}
    proc = subprocess.run([sys.executable, "-c", code, source], capture_output=True, text=True,
                          env=env)  # fmt: skip
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    ap.add_argument("--analyses", nargs="+", choices=sorted(RUNNERS), default=sorted(RUNNERS))
    args = ap.parse_args()
    results = []
    for rows in args.rows:
        path = make_parquet(rows)
        for analysis in args.analyses:
            for engine in ("polars", "spark"):
                got = measure(analysis, engine, path)
                results.append({"rows": rows, "analysis": analysis, "engine": engine, **got})
                print(json.dumps(results[-1]), flush=True)
    ratios = []
    for rows in args.rows:
        for analysis in args.analyses:
            by = {r["engine"]: r for r in results
                  if r["rows"] == rows and r["analysis"] == analysis and "wall" in r}  # fmt: skip
            if len(by) < 2:
                continue
            ratio = by["spark"]["wall"] / by["polars"]["wall"]
            driver = by["spark"]["driver_mb"] / 1024
            print(f"{rows:>11,} rows, {analysis}: spark/polars wall {ratio:.1f}x; "
                  f"spark driver {driver:.2f} GB (goal < 1), "
                  f"JVM {by['spark']['jvm_mb']:.0f} MB")  # fmt: skip
            ratios.append({"shape": "benchmark", "format": "parquet", "rows": rows,
                           "what": f"{analysis} on Spark: driver peak / 1 GB", "ratio": driver,
                           "goal": "< 1", "met": driver < 1})  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    day = time.strftime("%Y-%m-%d")
    meta = {"machine": platform.machine(), "python": platform.python_version(), "date": day}
    target = RESULTS / "spark.json"
    doc = json.loads(target.read_text()) if target.exists() else {}
    ran = {(r["rows"], r["analysis"]) for r in results}
    kept = [r for r in doc.get("results", []) if (r["rows"], r["analysis"]) not in ran]
    new_what = {(q["rows"], q["what"]) for q in ratios}
    old = [q for q in doc.get("ratios", []) if (q["rows"], q["what"]) not in new_what]
    old = [{"date": doc.get("meta", {}).get("date", ""), **q} for q in old]
    dated = [{"date": day, **q} for q in ratios]
    doc = {"meta": meta, "results": kept + results, "ratios": old + dated}
    target.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
