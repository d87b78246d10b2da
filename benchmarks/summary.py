"""Put the measured ratios of every benchmark in the README's performance table.

Run by hand after the benchmarks (``python benchmarks/summary.py``): reads the ``ratios``
each benchmark script saved in ``benchmarks/results/*.json`` and rewrites the table
between the README's ``perf-table`` markers. Nothing here measures anything.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"


def table(results: Path = HERE / "results") -> str:
    lines = [
        "| benchmark | table | rows | what | measured | goal | met |",
        "|---|---|---:|---|---:|---|---|",
    ]
    for path in sorted(results.glob("*.json")):
        doc = json.loads(path.read_text())
        if not isinstance(doc, dict):  # a results file from before the ratios were saved
            continue
        day = doc.get("meta", {}).get("date", "")
        for q in doc.get("ratios", []):
            when = q.get("date", day)  # a file gathering runs of several days dates each
            label = f"{path.stem} ({when})" if when else path.stem
            shape = q.get("shape", "")
            fmt = q.get("format", "")
            lines.append(
                f"| {label} | {shape} {fmt} | {q['rows']:,} | {q['what']} | {q['ratio']:.2f} "
                f"| {q['goal']} | {'yes' if q['met'] else '**no**'} |"
            )
    return "\n".join(lines)


def main() -> None:
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        msg = f"README.md has no {START} ... {END} section"
        raise SystemExit(msg)
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{table()}\n{END}{tail}", encoding="utf-8")
    print(table())


if __name__ == "__main__":
    main()
