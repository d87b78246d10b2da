"""Profile speed and memory against DuckDB SUMMARIZE and ydata-profiling (minimal mode).

Run by hand (``make bench``)::

    python benchmarks/bench_profile.py --rows 1000000 10000000 --ydata-python /path/to/python

Data comes from ``medvalue.datasets.benchmark_table`` (about 25 columns), written once to
``benchmarks/_data/`` as Parquet and UTF-8 CSV. Every measurement runs in a fresh Python
process, which reports its own peak resident memory (``ru_maxrss``) and the time of the
work itself (after imports); the median of ``--repeat`` runs is kept. Results go to
``benchmarks/results/profile.json`` and a markdown table is printed for docs/benchmarks.md.
ydata-profiling is slow enough that it is measured at 100k rows only, as the issue asks;
install it in a separate environment and pass that interpreter with ``--ydata-python``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
RESULTS = HERE / "results"

_CHILD_PRELUDE = """
import sys, time, json
path = sys.argv[1]
"""
# Peak memory is the child's own high-water mark (VmHWM). ru_maxrss would not do: Linux keeps
# it across fork and exec, so a child would inherit the parent's peak.
_CHILD_REPORT = """
elapsed = time.perf_counter() - t0
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"seconds": elapsed, "peak_mb": hwm / 1024}))
"""
RUNNERS = {
    "medvalue": """
from medvalue import load_dataset, profile
t0 = time.perf_counter()
p = profile(load_dataset(path), as_of="2025-01-01")
assert p.size.rows > 0
""",
    "duckdb_summarize": """
import duckdb
t0 = time.perf_counter()
con = duckdb.connect()
# The dirty CSV defeats DuckDB's type sniffer on its default sample; sniff the whole file.
source = f"read_csv('{path}', sample_size=-1)" if path.endswith(".csv") else f"'{path}'"
rows = con.sql(f"SUMMARIZE SELECT * FROM {source}").fetchall()
assert rows
""",
    "ydata_minimal": """
import pandas as pd
from ydata_profiling import ProfileReport
t0 = time.perf_counter()
df = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
ProfileReport(df, minimal=True, progress_bar=False).to_json()
""",
}


def make_data(rows: int) -> dict[str, Path]:
    """Write the benchmark table at ``rows`` rows as Parquet and CSV (reused if present).

    Generated in a child process, so this process stays small while it measures others.
    """
    DATA.mkdir(parents=True, exist_ok=True)
    parquet, csv = DATA / f"bench_{rows}.parquet", DATA / f"bench_{rows}.csv"
    if not (parquet.exists() and csv.exists()):
        code = (
            "import sys; from medvalue.datasets import benchmark_table; "
            "df = benchmark_table(int(sys.argv[1])); df.write_parquet(sys.argv[2]); df.write_csv(sys.argv[3])"
        )
        subprocess.run([sys.executable, "-c", code, str(rows), str(parquet), str(csv)],
                       check=True, cwd=HERE.parent)  # fmt: skip
    return {"parquet": parquet, "csv": csv}


def measure(tool: str, path: Path, python: str, repeat: int) -> dict[str, float]:
    code = _CHILD_PRELUDE + textwrap.dedent(RUNNERS[tool]) + _CHILD_REPORT
    runs = []
    for _ in range(repeat):
        proc = subprocess.run(
            [python, "-c", code, str(path)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            return {
                "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
            }
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "runs": len(runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--ydata-rows", type=int, default=100_000)
    ap.add_argument(
        "--ydata-python", default=None, help="Interpreter with ydata-profiling installed."
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="Runs per measurement up to 1M rows (larger: 1)."
    )
    ap.add_argument("--formats", nargs="+", default=["parquet", "csv"], choices=["parquet", "csv"])
    args = ap.parse_args()

    results: list[dict[str, object]] = []
    for rows in args.rows:
        files = make_data(rows)
        for fmt, path in ((f, files[f]) for f in args.formats):
            repeat = args.repeat if rows <= 1_000_000 else 1
            for tool in ("medvalue", "duckdb_summarize"):
                r = measure(tool, path, sys.executable, repeat)
                results.append({"rows": rows, "format": fmt, "tool": tool, **r})
                print(results[-1], flush=True)
    if args.ydata_python:
        files = make_data(args.ydata_rows)
        for tool, python, repeat in (
            ("medvalue", sys.executable, args.repeat),
            ("ydata_minimal", args.ydata_python, 1),
        ):
            r = measure(tool, files["parquet"], python, repeat)
            results.append({"rows": args.ydata_rows, "format": "parquet", "tool": tool, **r})
            print(results[-1], flush=True)

    save("profile", results)
    print("\n| rows | format | tool | seconds | peak MB |\n|---:|---|---|---:|---:|")
    for r in results:
        if "error" in r:
            print(f"| {r['rows']:,} | {r['format']} | {r['tool']} | error: {r['error']} | |")
        else:
            print(
                f"| {r['rows']:,} | {r['format']} | {r['tool']} | {r['seconds']:.2f} | {r['peak_mb']:,.0f} |"
            )


def save(name: str, results: list[dict[str, object]]) -> None:
    """Write ``results/<name>.json`` with the machine it was measured on."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "python": platform.python_version(), "cpus": _cpus()}
    (RESULTS / f"{name}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
