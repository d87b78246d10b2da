"""FHIR streaming: reading N Observation resources from a Bulk Data NDJSON file.

Run by hand::

    python benchmarks/bench_fhir.py --resources 1000000

The file is generated with ``medvalue.datasets.fhir_observation_lines`` into benchmarks/_data.
Each measurement runs in a fresh process (time after imports, peak resident memory):
medvalue reading every field of every resource (``load_dataset`` then collecting the
observation table), medvalue's whole profile of it, DuckDB's ``read_json`` of the same
file into a table, and Python's ``json`` module parsing every line into dicts (what a
hand-written reader does). The goal (standards issue): a million resources read without
holding the JSON in memory, i.e. peak memory well below the parsed-JSON footprint.
Results go to ``benchmarks/results/fhir.json``; a table is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import bench_profile  # run as a script: benchmarks/ is on sys.path
from bench_profile import DATA, measure, save

bench_profile.RUNNERS.update(
    {
        "medvalue_read": """
import polars as pl
from medvalue import load_dataset
t0 = time.perf_counter()
ds = load_dataset(path)
frame = ds.raw_frame("observation").collect()
assert frame.height > 0 and frame["value"].null_count() == 0
""",
        "medvalue_profile": bench_profile.RUNNERS["medvalue"],
        "duckdb_read_json": """
import duckdb, glob
t0 = time.perf_counter()
con = duckdb.connect()
con.sql(f"CREATE TABLE t AS SELECT * FROM read_json('{path}/Observation.ndjson', format='newline_delimited')")
assert con.sql("SELECT count(*) FROM t").fetchall()[0][0] > 0
""",
        "python_json": """
import json
t0 = time.perf_counter()
with open(path + "/Observation.ndjson", encoding="utf-8") as fh:
    resources = [json.loads(line) for line in fh]
assert resources
""",
    }
)


def make_data(n: int) -> Path:
    folder = DATA / f"fhir_{n}"
    target = folder / "Observation.ndjson"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        code = (
            "import sys; from medvalue.datasets import fhir_observation_lines; "
            "fhir_observation_lines(int(sys.argv[1]))['line'].to_frame()"
            ".write_csv(sys.argv[2], include_header=False, quote_style='never')"
        )
        subprocess.run([sys.executable, "-c", code, str(n), str(target)], check=True)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    results: list[dict[str, object]] = []
    for n in args.resources:
        folder = make_data(n)
        size_mb = (folder / "Observation.ndjson").stat().st_size / 2**20
        for tool in ("medvalue_read", "medvalue_profile", "duckdb_read_json", "python_json"):
            r = measure(tool, folder, sys.executable, args.repeat)
            results.append({"resources": n, "file_mb": round(size_mb, 1), "tool": tool, **r})
            print(results[-1], flush=True)
    save("fhir", results)
    print("\n| resources | file MB | what | seconds | peak MB |\n|---:|---:|---|---:|---:|")
    for r in results:
        if "error" in r:
            print(f"| {r['resources']:,} | {r['file_mb']} | {r['tool']} | error: {r['error']} | |")
        else:
            print(
                f"| {r['resources']:,} | {r['file_mb']} | {r['tool']} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} |"
            )


if __name__ == "__main__":
    main()
