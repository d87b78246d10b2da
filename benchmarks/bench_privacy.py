"""Privacy gate speed: equivalence classes of N rows x 5 quasi-identifiers against DuckDB,
the direct-identifier scan, and the whole assessment (with the generalisation search).

Run by hand: ``python benchmarks/bench_privacy.py [--rows 10000000] [--full-rows 1000000]``.
The table is synthetic (generated here, written to benchmarks/_data as Parquet): patient id,
sex, age, admission and discharge dates, township, ethnicity, a phone-number column and
a lab value. Times are wall-clock on this machine; results go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from medvalue import load_dataset
from medvalue.analyses import _anonymity as anonymity
from medvalue.analyses._identifiers import scan_identifiers
from medvalue.analyses._privacy import privacy

QI = ["sex", "age", "admission_date", "discharge_date", "township"]


def table(rows: int, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    epoch = (dt.date(2018, 1, 1) - dt.date(1970, 1, 1)).days
    admit = rng.integers(0, 6 * 365, rows)
    stay = rng.geometric(0.15, rows)
    townships = np.array([f"镇{i:02d}" for i in range(40)])
    return pl.DataFrame(
        {
            "patient_id": np.char.add("P", (np.arange(rows) // 2).astype(str)),
            "sex": rng.choice(["M", "F"], rows),
            "age": rng.integers(18, 96, rows),
            "admission_date": pl.Series(admit + epoch).cast(pl.Int32).cast(pl.Date),
            "discharge_date": pl.Series(admit + stay + epoch).cast(pl.Int32).cast(pl.Date),
            "township": townships[rng.integers(0, 40, rows)],
            "ethnicity": rng.choice(["汉族", "回族", "畲族"], rows, p=[0.97, 0.02, 0.01]),
            "联系电话": np.char.add("139", rng.integers(10**7, 10**8, rows).astype(str)),
            "creatinine_umol_l": np.round(rng.normal(80, 20, rows), 1),
        }
    )


def timed(label: str, func, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t)
    print(f"{label}: {best:.2f} s (best of {repeat})")
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--full-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    data = Path(__file__).resolve().parent / "_data"
    data.mkdir(exist_ok=True)
    path = data / f"privacy_{args.rows}.parquet"
    if not path.exists():
        table(args.rows).write_parquet(path)

    frame = pl.scan_parquet(path).select(QI)
    ours = timed(
        f"classes, k and ARX risks, {args.rows:,} rows x {len(QI)} QIs (polars)",
        lambda: anonymity.summarise(frame, QI),
    )
    cols = ", ".join(QI)
    sql = (
        f"SELECT min(f), count(*), sum(f) FILTER (WHERE f < 5) FROM "
        f"(SELECT count(*) AS f FROM '{path}' GROUP BY {cols})"
    )
    con = duckdb.connect()
    theirs = timed(
        "the same k, classes and records below 5 (DuckDB SQL)", lambda: con.execute(sql).fetchall()
    )
    s = anonymity.summarise(frame, QI)
    k, classes, below = con.execute(sql).fetchone()
    assert (s.k, s.classes, s.below[5]) == (k, classes, below or 0), "polars and DuckDB disagree"
    print(f"  k = {s.k}, classes = {s.classes:,}; ratio polars / DuckDB = {ours / theirs:.2f}")

    ds = load_dataset(path)
    timed(
        f"direct-identifier scan, {args.rows:,} rows x 9 columns",
        lambda: scan_identifiers(ds),
        repeat=1,
    )

    small = data / f"privacy_{args.full_rows}.parquet"
    if not small.exists():
        table(args.full_rows).write_parquet(small)
    sds = load_dataset(small)
    whole = timed(
        f"whole assessment with the generalisation search, {args.full_rows:,} rows",
        lambda: privacy(sds),
        repeat=3,
    )
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_profile import print_ratios, save

    key = {"shape": "privacy table", "format": "parquet"}
    ratios = [
        {**key, "rows": args.rows, "what": "equivalence classes, polars / DuckDB", "ratio": ours / theirs,
         "goal": "<= 1", "met": ours / theirs <= 1},
        {**key, "rows": args.full_rows, "what": "privacy with the generalisation search, seconds",
         "ratio": whole, "goal": "< 10", "met": whole < 10},
    ]  # fmt: skip
    save("privacy", [], ratios)
    print_ratios(ratios)


if __name__ == "__main__":
    main()
