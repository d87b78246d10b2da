"""Put the measured ratios of every benchmark in the README's performance table.

Run by hand after the benchmarks (``python benchmarks/summary.py``): reads the ``ratios``
each benchmark script saved in ``benchmarks/results/*.json`` and rewrites the table
between the README's ``perf-table`` markers. A benchmark without a results file here (not
run on this machine: ``results/`` is not kept in git) keeps its rows as the README has
them. Nothing here measures anything.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"


HEADER = [
    "| benchmark | table | rows | what | measured | goal | met |",
    "|---|---|---:|---|---:|---|---|",
]


def table(results: Path = HERE / "results", current: str = "") -> str:
    """The table from the results files, with the rows of ``current`` (the README's table)
    of every benchmark that has no results file."""
    files = sorted(results.glob("*.json"))
    rows: dict[str, list[str]] = {}
    for line in current.splitlines():
        if line.startswith("| ") and line not in HEADER:
            rows.setdefault(line[2:].split(" ", 1)[0], []).append(line)
    for path in files:
        rows[path.stem] = _rows(path)
    return "\n".join([*HEADER, *(line for name in sorted(rows) for line in rows[name])])


def _rows(path: Path) -> list[str]:
    """The README rows of one benchmark's results file."""
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict):  # a results file from before the ratios were saved
        return []
    day = doc.get("meta", {}).get("date", "")
    lines = []
    for q in doc.get("ratios", []):
        when = q.get("date", day)  # a file gathering runs of several days dates each
        label = f"{path.stem} ({when})" if when else path.stem
        shape, fmt = q.get("shape", ""), q.get("format", "")
        lines.append(
            f"| {label} | {shape} {fmt} | {q['rows']:,} | {q['what']} | {q['ratio']:.2f} "
            f"| {q['goal']} | {'yes' if q['met'] else '**no**'} |"
        )
    return lines


def main() -> None:
    text = README.read_text(encoding="utf-8")
    if START not in text or END not in text:
        msg = f"README.md has no {START} ... {END} section"
        raise SystemExit(msg)
    head, rest = text.split(START, 1)
    current, tail = rest.split(END, 1)
    new = table(current=current)
    README.write_text(f"{head}{START}\n{new}\n{END}{tail}", encoding="utf-8")
    print(new)


if __name__ == "__main__":
    main()
