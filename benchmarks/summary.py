"""Put the measured ratios of every benchmark in the README's performance table.

Run by hand after the benchmarks (``python benchmarks/summary.py``): reads the ``ratios``
each benchmark script saved in ``benchmarks/results/*.json`` and rewrites the table
between the README's ``perf-table`` markers. A row no results file here measures again
(``results/`` is not kept in git, and a run may cover only some sizes) stays as the README
has it, with its date. Nothing here measures anything.
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
    """The table from the results files, keeping each row of ``current`` (the README's
    table) that no results file here measures again: the same benchmark, table, rows and
    quantity. Each row carries the date it was measured."""
    rows: dict[tuple[str, ...], str] = {}
    for line in current.splitlines():
        if line.startswith("| ") and line not in HEADER:
            rows[_key(line)] = line
    for path in sorted(results.glob("*.json")):
        rows.update((_key(line), line) for line in _rows(path))
    # Grouped by benchmark; within one, the README's order, rows new to it last.
    return "\n".join([*HEADER, *(rows[k] for k in sorted(rows, key=lambda k: k[0]))])


def _key(line: str) -> tuple[str, ...]:
    """A row's identity: benchmark (without its date), table, rows, what is measured."""
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    return (cells[0].split(" (")[0], cells[1], cells[2], cells[3])


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
