"""Profile speed and memory against DuckDB SUMMARIZE, a plain polars read and
ydata-profiling (minimal mode), on two shapes of table.

Run by hand (``make bench``)::

    python benchmarks/bench_profile.py --rows 1000000 10000000 --ydata-python /path/to/python

Shapes: ``benchmark`` (``medvalue.datasets.benchmark_table``, 25 columns of a hospital
export with dirty text dates and numbers, one row per patient; Parquet and UTF-8 CSV) and
``measurements`` (``medvalue.datasets.measurements_table``, 20 columns: continuous floats
with nearly every value distinct, integers, categories of 3 to 5,000 levels, dates, a code,
about three rows per patient; Parquet), written once to ``benchmarks/_data/``. Every
measurement is a fresh Python process: *seconds* is the work after imports, *wall* the
whole process as a user waits for it, *peak MB* its own high-water mark (VmHWM); the
median of ``--repeat`` runs is kept. It prints the ratios the goals are stated in and
writes ``benchmarks/results/profile.json`` (``benchmarks/summary.py`` puts them in the
README). Install ydata-profiling in a separate environment and pass that interpreter with
``--ydata-python``; it runs on the measurements shape at ``--ydata-rows``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import textwrap
import time
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
    "polars_read": """
import polars as pl
t0 = time.perf_counter()
frame = pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path, infer_schema=False)
assert frame.height > 0
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


def make_data(rows: int, shape: str = "benchmark") -> dict[str, Path]:
    """Write the ``shape`` table at ``rows`` rows as Parquet (and, for the benchmark
    table, CSV), reused if present.

    Generated in a child process, so this process stays small while it measures others.
    """
    DATA.mkdir(parents=True, exist_ok=True)
    if shape == "measurements":
        parquet = DATA / f"meas_{rows}.parquet"
        if not parquet.exists():
            code = ("import sys; from medvalue.datasets import measurements_table; "
                    "measurements_table(int(sys.argv[1])).write_parquet(sys.argv[2])")  # fmt: skip
            subprocess.run([sys.executable, "-c", code, str(rows), str(parquet)], check=True)
        return {"parquet": parquet}
    parquet, csv = DATA / f"bench_{rows}.parquet", DATA / f"bench_{rows}.csv"
    if not (parquet.exists() and csv.exists()):
        subprocess.run([sys.executable, "-c", _CHUNKED, str(rows), str(parquet), str(csv)],
                       check=True, cwd=HERE.parent)  # fmt: skip
    return {"parquet": parquet, "csv": csv}


#: The benchmark table in chunks of at most 10M rows (one 30M-row table needs about 12 GB
#: to generate): each chunk its own seed and patient ids (LT... in the first, L1..., L2...
#: after), streamed into one Parquet and one CSV file. Up to 10M rows: one chunk, the same
#: table as ``benchmark_table(rows)``.
_CHUNKED = """
import sys, tempfile
from pathlib import Path
import polars as pl
from medvalue.datasets import benchmark_table
rows, parquet, csv = int(sys.argv[1]), sys.argv[2], sys.argv[3]
chunk = 10_000_000
with tempfile.TemporaryDirectory(dir=Path(parquet).parent) as tmp:
    parts = []
    for i, start in enumerate(range(0, rows, chunk)):
        df = benchmark_table(min(chunk, rows - start), seed=7 + i)
        if i:
            df = df.with_columns(pl.col("patient_id").str.replace("^LT", f"L{i}"))
        parts.append(Path(tmp) / f"{i}.parquet")
        df.write_parquet(parts[-1])
        del df
    pl.scan_parquet(parts).sink_parquet(parquet)
    pl.scan_parquet(parts).sink_csv(csv)
"""


def measure(tool: str, path: Path, python: str, repeat: int) -> dict[str, float]:
    code = _CHILD_PRELUDE + textwrap.dedent(RUNNERS[tool]) + _CHILD_REPORT
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(
            [python, "-c", code, str(path)], capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            return {
                "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
            }
        runs.append({**json.loads(proc.stdout.strip().splitlines()[-1]), "wall": wall})
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "wall": statistics.median(r["wall"] for r in runs),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "runs": len(runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--shapes", nargs="+", default=["benchmark", "measurements"],
                    choices=["benchmark", "measurements"])  # fmt: skip
    ap.add_argument("--ydata-rows", type=int, default=1_000_000)
    ap.add_argument(
        "--ydata-python", default=None, help="Interpreter with ydata-profiling installed."
    )
    ap.add_argument(
        "--repeat", type=int, default=3, help="Runs per measurement up to 1M rows (larger: 1)."
    )
    ap.add_argument("--formats", nargs="+", default=["parquet", "csv"], choices=["parquet", "csv"])
    args = ap.parse_args()

    results: list[dict[str, object]] = []
    for shape in args.shapes:
        for rows in args.rows:
            files = make_data(rows, shape)
            for fmt, path in ((f, files[f]) for f in args.formats if f in files):
                repeat = args.repeat if rows <= 1_000_000 else 1
                for tool in ("medvalue", "duckdb_summarize", "polars_read"):
                    r = measure(tool, path, sys.executable, repeat)
                    results.append({"shape": shape, "rows": rows, "format": fmt, "tool": tool, **r})
                    print(results[-1], flush=True)
    if args.ydata_python:
        path = make_data(args.ydata_rows, "measurements")["parquet"]
        for tool, python, repeat in (
            ("medvalue", sys.executable, args.repeat),
            ("ydata_minimal", args.ydata_python, 1),
        ):
            r = measure(tool, path, python, repeat)
            results.append({"shape": "measurements", "rows": args.ydata_rows, "format": "parquet",
                            "tool": tool, "versus": "ydata", **r})  # fmt: skip
            print(results[-1], flush=True)

    ratios = profile_ratios(results)
    save("profile", results, ratios)
    print("\n| shape | rows | format | tool | seconds | wall s | peak MB |")
    print("|---|---:|---|---|---:|---:|---:|")
    for r in results:
        if "error" in r:
            print(
                f"| {r['shape']} | {r['rows']:,} | {r['format']} | {r['tool']} | error: {r['error']} | | |"
            )
        else:
            print(f"| {r['shape']} | {r['rows']:,} | {r['format']} | {r['tool']} | {r['seconds']:.2f} "
                  f"| {r['wall']:.2f} | {r['peak_mb']:,.0f} |")  # fmt: skip
    print_ratios(ratios)


def profile_ratios(results: list[dict[str, object]]) -> list[dict[str, object]]:
    """The ratios the goals are stated in (#23), each with its goal and whether it is met."""

    def find(**match: object) -> dict[str, object] | None:
        return next((r for r in results if "error" not in r
                     and all(r.get(k) == v for k, v in match.items())), None)  # fmt: skip

    out: list[dict[str, object]] = []
    for r in results:
        if r["tool"] != "medvalue" or "error" in r or r.get("versus"):
            continue
        key = {k: r[k] for k in ("shape", "rows", "format")}
        duck = find(**key, tool="duckdb_summarize")
        if duck:
            ratio = float(r["wall"]) / float(duck["wall"])  # type: ignore[arg-type]
            out.append({**key, "what": "profile / DuckDB SUMMARIZE (whole processes)",
                        "ratio": ratio, "goal": "<= 1", "met": ratio <= 1})  # fmt: skip
        read = find(**key, tool="polars_read")
        if read and r["rows"] >= 10_000_000:
            ratio = float(r["seconds"]) / float(read["seconds"])  # type: ignore[arg-type]
            out.append({**key, "what": "profile / polars read (work after imports)",
                        "ratio": ratio, "goal": "<= 3", "met": ratio <= 3})  # fmt: skip
    ours, ydata = find(tool="medvalue", versus="ydata"), find(tool="ydata_minimal")
    if ours and ydata:
        key = {k: ours[k] for k in ("shape", "rows", "format")}
        speed = float(ydata["wall"]) / float(ours["wall"])  # type: ignore[arg-type]
        memory = float(ours["peak_mb"]) / float(ydata["peak_mb"])  # type: ignore[arg-type]
        out.append({**key, "what": "ydata-profiling minimal / profile, wall (whole processes)",
                    "ratio": speed, "goal": ">= 30", "met": speed >= 30})  # fmt: skip
        out.append({**key, "what": "profile / ydata-profiling minimal, peak memory",
                    "ratio": memory, "goal": "< 0.1", "met": memory < 0.1})  # fmt: skip
    return out


def print_ratios(ratios: list[dict[str, object]]) -> None:
    print(
        "\n| shape | rows | format | ratio | value | goal | met |\n|---|---:|---|---|---:|---|---|"
    )
    for q in ratios:
        print(f"| {q['shape']} | {q['rows']:,} | {q['format']} | {q['what']} | {q['ratio']:.2f} "
              f"| {q['goal']} | {'yes' if q['met'] else 'no'} |")  # fmt: skip


def save(
    name: str, results: list[dict[str, object]], ratios: list[dict[str, object]] | None = None
) -> None:
    """Write ``results/<name>.json`` with the machine and day it was measured on, and the
    ratios the goals are stated in (read by ``summary.py``)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "python": platform.python_version(), "cpus": _cpus(),
            "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    doc = {"meta": meta, "results": results, "ratios": ratios or []}
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=2))


def _cpus() -> int:
    import os

    return os.cpu_count() or 0


if __name__ == "__main__":
    main()
