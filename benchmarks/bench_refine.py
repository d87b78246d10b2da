"""Refine speed: a whole ``medvalue refine`` against reading the same export.

Run by hand::

    MEDVALUE_SECRET=... python benchmarks/bench_refine.py --rows 1000000 10000000

The goals (#23): peak memory under 2 GB at 10M and 30M rows; wall time within 10x a polars
read of the same file at 10M rows (CSV and Parquet).
"A read" is measured two ways, each in a fresh process: polars reading every column the
way medvalue reads an export (text as text), and DuckDB loading it into a table. The data
is the profile benchmark's (``medvalue.datasets.benchmark_table``, about 25 columns, UTF-8
CSV and Parquet in benchmarks/_data). The refinement includes everything it writes: the
cleaned Parquet, generalisation to k = 5, the data dictionary and the datacard (profile,
coverage, readiness and a price band of the refined product). Results go to
``benchmarks/results/refine.json``; a markdown table is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import sys

import bench_profile  # run as a script: benchmarks/ is on sys.path
from bench_profile import make_data, measure, save

bench_profile.RUNNERS.update(
    {
        "polars_read": """
from medvalue.read._dataset import read_path
import polars as pl
t0 = time.perf_counter()
frames = pl.collect_all([t.frame for t in read_path(path).tables])
assert frames[0].height > 0
""",
        "duckdb_read": """
import duckdb
t0 = time.perf_counter()
con = duckdb.connect()
source = f"read_csv('{path}', all_varchar=true)" if path.endswith(".csv") else f"'{path}'"
con.sql(f"CREATE TABLE t AS SELECT * FROM {source}")
assert con.sql("SELECT count(*) FROM t").fetchall()[0][0] > 0
""",
        "medvalue_refine": """
import shutil, tempfile
import medvalue.cli  # the command's process settings (the allocator's), as `medvalue refine` runs
from medvalue import load_dataset, refine
out = tempfile.mkdtemp(prefix="bench-refine-")
t0 = time.perf_counter()
r = refine(load_dataset(path), out + "/product", as_of="2025-01-01")
assert r.after.k_anonymity is None or r.after.k_anonymity >= 5
shutil.rmtree(out)
""",
    }
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["parquet", "csv"])
    args = ap.parse_args()
    if not os.environ.get("MEDVALUE_SECRET"):
        sys.exit("set MEDVALUE_SECRET (any 16+ characters) before running this benchmark")
    results: list[dict[str, object]] = []
    for rows in args.rows:
        files = make_data(rows)
        for fmt in args.formats:
            for tool in ("polars_read", "duckdb_read", "medvalue_refine"):
                r = measure(tool, files[fmt], sys.executable, args.repeat)
                results.append({"rows": rows, "format": fmt, "tool": tool, **r})
                print(results[-1], flush=True)
    ratios = []
    for rows in args.rows:
        for fmt in args.formats:
            got = {r["tool"]: r for r in results if r["rows"] == rows and r["format"] == fmt}
            ref, read = got.get("medvalue_refine", {}), got.get("polars_read", {})
            if "seconds" not in ref:
                continue
            key = {"shape": "benchmark", "rows": rows, "format": fmt}
            peak = float(ref["peak_mb"])
            ratios.append({**key, "what": "refine peak memory, MB", "ratio": peak,
                           "goal": "< 2048", "met": peak < 2048})  # fmt: skip
            if "seconds" in read and rows >= 10_000_000:
                ratio = float(ref["seconds"]) / float(read["seconds"])
                ratios.append({**key, "what": "refine / polars read (work after imports)",
                               "ratio": ratio, "goal": "<= 10", "met": ratio <= 10})  # fmt: skip
    save("refine", results, ratios)
    bench_profile.print_ratios(ratios)
    print(
        "\n| rows | format | polars read s | DuckDB read s | refine s | refine / polars read | refine peak MB |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for rows in args.rows:
        for fmt in args.formats:
            got = {r["tool"]: r for r in results if r["rows"] == rows and r["format"] == fmt}
            if any("error" in got[t] for t in got):
                print(f"| {rows:,} | {fmt} | error: {[got[t].get('error') for t in got]} |")
                continue
            read, duck, ref = (
                got[t]["seconds"] for t in ("polars_read", "duckdb_read", "medvalue_refine")
            )
            print(f"| {rows:,} | {fmt} | {read:.1f} | {duck:.1f} | {ref:.1f} | {ref / read:.1f}x | "
                  f"{got['medvalue_refine']['peak_mb']:,.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
