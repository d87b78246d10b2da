"""The privacy gate: direct identifiers, k-anonymity and re-identification risk, what to
generalise, and whether the dataset is anonymised enough to sell.

The release model: every table is released with the others, so a table that names its
patients is assessed with its own quasi-identifiers plus those of the patient table
(sex, birth date, region ...) joined by patient id, and class sizes count people. The
verdict follows PIPL article 73: data is *anonymised* only if no person can be
identified and the processing cannot be reversed; otherwise it is at best
*de-identified* (still personal information), or *identifiable* while direct identifiers
remain. Here "anonymised" means: no direct identifiers, no free text, and every table's
highest prosecutor risk at or below 1/k (k = 5 by default).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import polars as pl

from medvalue.analyses import _generalise as generalise
from medvalue.analyses._anonymity import (
    CLASS_PART_ROWS,
    SIZE,
    SUBJECT,
    ClassSummary,
    Diversity,
    all_missing,
    class_sizes,
    diversity,
    summarise,
)
from medvalue.analyses._identifiers import IdentifierFinding, scan_identifiers
from medvalue.core._config import SMALL_CELL_THRESHOLD
from medvalue.core._display import Displayed
from medvalue.core._errors import ColumnError, InputError, ParameterError
from medvalue.core._files import (
    FORMULA_REGEX,
    cache_dir,
    check_output,
    spreadsheet_safe,
    staged,
)
from medvalue.core._i18n import text
from medvalue.core._parts import SCRATCH_COMPRESSION
from medvalue.read import _spark
from medvalue.read._dataset import Dataset
from medvalue.read._records import Joined, Records, records, view
from medvalue.read._rows import Rows

DEFAULT_K = 5
#: The generalisation search runs over at most this many quasi-identifiers.
MAX_SEARCH_QUASI = 20
#: Share of records that may be suppressed (quasi-identifiers blanked) to reach k.
DEFAULT_MAX_SUPPRESSION = 0.01

VERDICTS = ("anonymised", "de_identified", "identifiable")


@dataclass(frozen=True)
class QuasiIdentifier:
    name: str  # as shown: "column", or "table.column" when the dataset has several tables
    table: str
    column: str
    role: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "table": self.table, "column": self.column, "role": self.role}


@dataclass(frozen=True)
class TableRisk:
    """The classes of one released table."""

    table: str
    summary: ClassSummary
    diversity: Diversity | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"table": self.table, **self.summary.to_dict()}
        out["diversity"] = None if self.diversity is None else self.diversity.to_dict()
        return out


@dataclass(frozen=True)
class Reason:
    """One reason behind the verdict: a catalogue key plus its numbers."""

    key: str
    blocking: bool
    params: Mapping[str, object] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return text("privacy_reasons", self.key, lang, **self.params)

    def to_dict(self, lang: str) -> dict[str, object]:
        return {"reason": self.key, "blocking": self.blocking, "text": self.text(lang)}


@dataclass(frozen=True, repr=False)
class PrivacyAssessment(Displayed):
    """What :func:`privacy` returns."""

    _view: ClassVar[str] = "privacy_section"

    dataset: str
    target_k: int
    small_cell: int
    direct_identifiers: tuple[IdentifierFinding, ...]
    quasi_identifiers: tuple[QuasiIdentifier, ...]
    tables: tuple[TableRisk, ...]
    plan: generalise.Plan | None
    verdict: str
    reasons: tuple[Reason, ...]
    population: bool = False

    @property
    def threshold(self) -> float:
        return 1.0 / self.target_k

    @property
    def worst(self) -> TableRisk | None:
        """The table with the smallest k (then the most records in classes under 5)."""
        if not self.tables:
            return None
        return min(self.tables, key=lambda t: (t.summary.k, -t.summary.share_below(5)))

    @property
    def k_anonymity(self) -> int | None:
        return None if self.worst is None else self.worst.summary.k

    def headline(self, lang: str) -> tuple[str, str]:
        value = text("verdicts", self.verdict, lang)
        blocking = [r for r in self.reasons if r.blocking]
        sentence = (
            blocking[0].text(lang)
            if blocking
            else text("privacy_labels", "all_clear", lang, k=self.target_k)
        )
        return value, sentence

    def plan_sentence(self, lang: str) -> str:
        """What applying the recommendations achieves, and the command that applies them."""
        p = self.plan
        if p is None:
            return ""
        if not p.reached:
            share = p.steps[-1].share_below if p.steps else 1.0
            return text(
                "privacy_labels", "plan_unreached", lang, share=f"{share:.1%}", k=self.target_k
            )
        return text(
            "privacy_labels", "plan_summary", lang, suppressed=f"{p.suppressed:,}",
            share=f"{p.suppressed / p.records:.1%}" if p.records else "0%", k=p.k,
            loss=f"{p.information_loss:.0%}", target=self.target_k,
        )  # fmt: skip

    def to_dict(self, lang: str = "en") -> dict[str, object]:
        w = self.worst
        return {
            "dataset": self.dataset,
            "target_k": self.target_k,
            "threshold": round(self.threshold, 6),
            "small_cell_threshold": self.small_cell,
            "direct_identifiers": [f.to_dict() for f in self.direct_identifiers],
            "quasi_identifiers": [q.to_dict() for q in self.quasi_identifiers],
            "k_anonymity": self.k_anonymity,
            "records_below_k": None
            if w is None
            else {str(b): n for b, n in w.summary.below.items()},
            "risk": None if w is None else w.summary.risk.to_dict(),
            "tables": [t.to_dict() for t in self.tables],
            "verdict": self.verdict,
            "reasons": [r.to_dict(lang) for r in self.reasons],
            "recommendations": [] if self.plan is None else [s.to_dict() for s in self.plan.steps],
            "plan": None if self.plan is None else self.plan.to_dict(),
            "population_supplied": self.population,
        }


# --- assessing -------------------------------------------------------------------------------


def privacy(
    ds: Dataset,
    *,
    quasi_identifiers: Sequence[str] | None = None,
    sensitive: str | None = None,
    k: int = DEFAULT_K,
    population: pl.DataFrame | str | Path | None = None,
    max_suppression: float = DEFAULT_MAX_SUPPRESSION,
    small_cell: int = SMALL_CELL_THRESHOLD,
    recommend: bool = True,
) -> PrivacyAssessment:
    """Scan for direct identifiers, measure k-anonymity and ARX risks, recommend
    generalisations reaching ``k`` (unless ``recommend`` is false: then ``plan`` is None
    and the search, the slow part, is skipped) and give a release verdict.

    ``quasi_identifiers`` names columns (``column`` or ``table.column``) instead of the
    spec's; ``sensitive`` adds l-diversity and t-closeness for that column; ``population``
    (CSV or frame: the quasi-identifier columns plus ``count``) adds journalist risk.

    Examples
    --------
    >>> from medvalue import load_dataset
    >>> from medvalue.core._config import SAMPLE_DIR
    >>> p = privacy(load_dataset(SAMPLE_DIR / "carotid_stenting.csv"))
    >>> p.verdict
    'de_identified'
    """
    if k < 2:
        msg = f"k must be at least 2, got {k}"
        raise ParameterError(msg)
    if not 0 <= max_suppression < 1:
        msg = f"max_suppression must be in [0, 1), got {max_suppression}"
        raise ParameterError(msg)
    qis = resolve_quasi_identifiers(ds, quasi_identifiers)
    pop = load_population(population) if isinstance(population, str | Path) else population
    sens = _resolve_sensitive(ds, qis, sensitive) if sensitive else None
    releases = release_frames(ds, qis, sensitive=sens)
    # The search tries generalisations of every quasi-identifier against each other: past a
    # few dozen (a wide table, a spec that marks everything) it is capped, and says so.
    capped = len(qis) > MAX_SEARCH_QUASI
    searching = bool(releases) and recommend and not capped
    tables: list[TableRisk] = []
    coded: list[generalise.CodedTable] = []
    counts: dict[str, pl.DataFrame] = {}  # each quasi-identifier's values, for its ladder
    try:
        for table, (given, names) in releases.items():
            with records(ds, given) as release:
                matches = pop is not None and set(pop.columns) - {"count"} == set(names)
                summary = summarise(
                    release, names, threshold=1.0 / k, population=_as_text(pop if matches else None)
                )
                div = None
                if sens is not None and sens[0] == table:
                    div = diversity(release, names, _SENSITIVE)
                    div = replace(div, sensitive=sensitive or sens[1])
                tables.append(TableRisk(table, summary, div))
                if searching:
                    coded.append(generalise.coded_class_table(release, names))
                    # Counted from the release already typed (and, on Spark, cached).
                    counts |= release.counts([q.name for q in qis if q.table == table])
        if pop is not None and not any(t.summary.risk.journalist_max is not None for t in tables):
            source = str(population) if isinstance(population, str | Path) else "population table"
            raise InputError.at(
                source,
                f"its columns {sorted(set(pop.columns) - {'count'})} do not match the quasi-identifiers of any table",
                "give the quasi-identifier columns with the same names plus a 'count' column",
            )
        ladders = _ladders_of(qis, counts, k) if searching else {}
        plan = generalise.search(coded, ladders, k, max_suppression) if searching else None
    finally:
        for c in coded:
            c.release()
    ids = scan_identifiers(ds)
    reasons = _reasons(ds, ids, tables, plan, k)
    if capped and recommend:
        reasons.append(Reason("search_capped", False, {"n": len(qis), "cap": MAX_SEARCH_QUASI}))
    verdict = _verdict(reasons, ids)
    return PrivacyAssessment(
        dataset=ds.name,
        target_k=k,
        small_cell=small_cell,
        direct_identifiers=ids,
        quasi_identifiers=tuple(qis),
        tables=tuple(tables),
        plan=plan,
        verdict=verdict,
        reasons=tuple(reasons),
        population=pop is not None,
    )


def resolve_quasi_identifiers(ds: Dataset, names: Sequence[str] | None) -> list[QuasiIdentifier]:
    """The spec's quasi-identifiers, or the named ones (``column`` or ``table.column``)."""
    multi = len(ds.table_names) > 1

    def qi(t: str, c: str) -> QuasiIdentifier:
        return QuasiIdentifier(f"{t}.{c}" if multi else c, t, c, ds.spec.role_of(t, c).role)

    if names is None:
        return [qi(t, c) for t in ds.table_names for c in ds.table_spec(t).quasi_identifiers]
    if not any(n.strip() for n in names):
        msg = "--quasi names no column. Fix: give quasi-identifier columns, e.g. --quasi age,sex"
        raise ParameterError(msg)
    out = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        table, _, column = name.rpartition(".")
        hits = [
            (t, c)
            for t in ds.table_names
            for c in ds.table_spec(t).columns
            if c == (column if table else name) and (not table or t == table)
        ]
        if not hits and table == "":
            hits = []
        if not hits:
            every = [
                f"{t}.{c}" if multi else c for t in ds.table_names for c in ds.table_spec(t).columns
            ]
            raise ColumnError.missing(ds.path, name, every, what="quasi-identifier column")
        out += [qi(t, c) for t, c in hits]
    return out


def _resolve_sensitive(ds: Dataset, qis: Sequence[QuasiIdentifier], name: str) -> tuple[str, str]:
    table, _, column = name.rpartition(".")
    for t in ds.table_names:
        for c in ds.table_spec(t).columns:
            if c == (column if table else name) and (not table or t == table):
                if any(q.table == t and q.column == c for q in qis):
                    msg = (
                        f"the sensitive attribute '{name}' is also a quasi-identifier; "
                        "choose another column or leave it out of --quasi"
                    )
                    raise ParameterError(msg)
                return t, c
    every = [c for t in ds.table_names for c in ds.table_spec(t).columns]
    raise ColumnError.missing(ds.path, name, every, what="sensitive column")


def _hub(ds: Dataset, qis: Sequence[QuasiIdentifier]) -> str | None:
    """The patient table whose quasi-identifiers other tables inherit by patient id."""
    for t in ds.table_names:
        ts = ds.table_spec(t)
        if ts.kind == "patients" and ts.first("patient_id") and any(q.table == t for q in qis):
            return t
    return None


_SENSITIVE = "_sensitive"


def release_frames(
    ds: Dataset,
    qis: Sequence[QuasiIdentifier],
    sensitive: tuple[str, str] | None = None,
    levels: Mapping[str, Callable[[pl.Expr], pl.Expr]] | None = None,
) -> dict[str, tuple[Rows | Joined, list[str]]]:
    """Per table with its own quasi-identifiers: the records an attacker sees (own and
    inherited quasi-identifiers named as shown, each generalised by its entry in
    ``levels`` when given, plus the person id and, in its table, the sensitive column), as
    :func:`medvalue.read._records.records` reads them, and the QI names."""

    def shown(q: QuasiIdentifier) -> pl.Expr:
        value = pl.col(q.column) if levels is None else levels[q.name](pl.col(q.column))
        return value.alias(q.name)

    hub = _hub(ds, qis)
    hub_cols: list[QuasiIdentifier] = [q for q in qis if q.table == hub]
    out: dict[str, tuple[Rows | Joined, list[str]]] = {}
    for t in ds.table_names:
        own = [q for q in qis if q.table == t]
        if not own:
            continue
        pid = ds.table_spec(t).first("patient_id")
        cols = [shown(q) for q in own]
        if pid:
            cols.append(pl.col(pid).cast(pl.String).alias(SUBJECT))
        if sensitive is not None and sensitive[0] == t:
            cols.append(pl.col(sensitive[1]).alias(_SENSITIVE))
        given: Rows | Joined = Rows(t, tuple(cols))
        names = [q.name for q in own]
        if hub and t != hub and pid and hub_cols:
            hub_pid = ds.table_spec(hub).first("patient_id")
            assert hub_pid is not None  # a hub is the table that defines the patient ids
            people = Rows(hub, (
                pl.col(hub_pid).cast(pl.String).alias(SUBJECT),
                *[shown(q) for q in hub_cols],
            ))  # fmt: skip
            given = Joined(Rows(t, tuple(cols)), people, SUBJECT)
            names += [q.name for q in hub_cols]
        out[t] = (given, names)
    return out


def load_population(path: str | Path) -> pl.DataFrame:
    """A population table: quasi-identifier columns plus ``count`` (CSV, UTF-8)."""
    p = Path(path)
    if not p.exists():
        raise InputError.at(path, "no such population file", "check the path")
    try:
        frame = pl.read_csv(p, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise InputError.at(
            path, f"not a readable CSV ({type(exc).__name__})", "save it as UTF-8 CSV"
        ) from None
    if "count" not in frame.columns:
        raise ColumnError.missing(path, "count", frame.columns)
    counts = frame["count"].cast(pl.Int64, strict=False)
    if counts.is_null().any() or (counts < 0).any():
        raise InputError.at(
            path, "column 'count' must hold whole numbers >= 0", "correct the counts"
        )
    return frame.with_columns(counts.alias("count"))


def _as_text(pop: pl.DataFrame | None) -> pl.DataFrame | None:
    return None if pop is None else pop.with_columns(pl.exclude("count").cast(pl.String))


def plan_levels(ds: Dataset, a: PrivacyAssessment) -> dict[str, Callable[[pl.Expr], pl.Expr]]:
    """Each quasi-identifier column's generalisation at the assessment's recommended level
    (none without a plan), to apply the same levels to other records."""
    if a.plan is None:
        return {}
    ladders = _ladders(ds, a.quasi_identifiers, a.target_k)
    return {
        q.column: ladders[q.name].levels[a.plan.levels[q.name]].apply for q in a.quasi_identifiers
    }


def _ladders(
    ds: Dataset, qis: Sequence[QuasiIdentifier], k: int
) -> dict[str, generalise.Hierarchy]:
    """Each quasi-identifier's ladder, chosen from its values' counts (see
    :func:`generalise.hierarchy_for`), counted where its table is."""
    counts: dict[str, pl.DataFrame] = {}
    for t in dict.fromkeys(q.table for q in qis):
        own = [q for q in qis if q.table == t]
        values = view(ds, Rows(t, tuple(pl.col(q.column).alias(q.name) for q in own)))
        counts |= values.counts([q.name for q in own])
    return _ladders_of(qis, counts, k)


def _ladders_of(
    qis: Sequence[QuasiIdentifier], counts: Mapping[str, pl.DataFrame], k: int
) -> dict[str, generalise.Hierarchy]:
    """Each quasi-identifier's ladder from ``counts``: by name, its values with their rows."""
    return {q.name: generalise.hierarchy_for(q.name, q.role, counts[q.name], k) for q in qis}


# --- verdict ---------------------------------------------------------------------------------


def _reasons(
    ds: Dataset,
    ids: Sequence[IdentifierFinding],
    tables: Sequence[TableRisk],
    plan: generalise.Plan | None,
    k: int,
) -> list[Reason]:
    out: list[Reason] = []
    direct = [f for f in ids if f.kind != "free_text"]
    if direct:
        kinds = sorted({f.kind for f in direct})
        columns = sorted(
            {f"{f.table}.{f.column}" if len(ds.table_names) > 1 else f.column for f in direct}
        )
        out.append(
            Reason(
                "direct_identifiers",
                True,
                {"n": len(columns), "kinds": ", ".join(kinds), "columns": ", ".join(columns)},
            )
        )
    free = sorted({f.column for f in ids if f.kind == "free_text"})
    if free:
        out.append(Reason("free_text", True, {"columns": ", ".join(free)}))
    if not tables:  # nothing to measure anonymity on: never call that "anonymised"
        out.append(Reason("no_quasi_identifiers", True, {}))
    for t in tables:
        s = t.summary
        if s.records and s.k < k:
            out.append(
                Reason(
                    "small_classes",
                    True,
                    {
                        "table": t.table,
                        "k": s.k,
                        "target": k,
                        "share": f"{s.risk.prosecutor_at_risk:.1%}",
                        "risk": f"{s.risk.prosecutor_max:.0%}",
                    },
                )
            )
    if plan is not None and any(r.key == "small_classes" for r in out):
        key = "plan_reaches" if plan.reached else "plan_fails"
        out.append(
            Reason(
                key,
                False,
                {
                    "k": k,
                    "loss": f"{plan.information_loss:.0%}",
                    "suppressed": f"{plan.suppressed / plan.records:.1%}" if plan.records else "0%",
                },
            )
        )
    if ds.spec.columns_with_role("patient_id"):
        out.append(Reason("record_ids", False, {}))
    return out


def _verdict(reasons: Sequence[Reason], ids: Sequence[IdentifierFinding]) -> str:
    if any(f.kind != "free_text" for f in ids):
        return "identifiable"
    if any(r.blocking for r in reasons):
        return "de_identified"
    return "anonymised"


# --- applying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What :func:`apply_generalisation` wrote."""

    files: tuple[Path, ...]
    dropped_columns: tuple[str, ...]
    suppressed_people: int
    plan: generalise.Plan

    def to_dict(self) -> dict[str, object]:
        return {
            "files": [p.name for p in self.files],
            "dropped_columns": list(self.dropped_columns),
            "suppressed_people_or_records": self.suppressed_people,
            "plan": self.plan.to_dict(),
        }


def apply_generalisation(
    ds: Dataset,
    out: str | Path,
    *,
    assessment: PrivacyAssessment | None = None,
    k: int = DEFAULT_K,
    quasi_identifiers: Sequence[str] | None = None,
    max_suppression: float = DEFAULT_MAX_SUPPRESSION,
    keep: Collection[tuple[str, str]] = (),
) -> Applied:
    """Write a generalised copy of the dataset to ``out`` (a folder; or a .csv/.parquet
    file for a one-table dataset; on Spark each table is a folder of Parquet part files).
    The input is never touched.

    Quasi-identifiers are generalised to the plan's levels; records still in classes
    smaller than ``k`` get their quasi-identifiers blanked (all of a person's records, in
    every table); direct-identifier and free-text columns are dropped, except the
    ``(table, column)`` pairs in ``keep``. Patient ids stay so tables still link: replace
    them with keyed pseudonyms before release (``medvalue refine`` does).
    """
    out = Path(out)
    targets = release_targets(ds, out)
    a = assessment or privacy(
        ds, quasi_identifiers=quasi_identifiers, k=k, max_suppression=max_suppression
    )
    if a.plan is None:
        msg = "no quasi-identifiers to generalise; name them with --quasi or in the spec"
        raise ParameterError(msg)
    ladders = _ladders(ds, a.quasi_identifiers, a.target_k)
    levels = {
        q.name: ladders[q.name].levels[a.plan.levels[q.name]].apply for q in a.quasi_identifiers
    }
    drop = {(f.table, f.column) for f in a.direct_identifiers} - set(keep)
    blanked = _to_blank(ds, a.quasi_identifiers, levels, a.target_k)
    # Each row is rewritten on its own (generalised, blanked where its person or class was
    # found above), so the tables stream from the input to the output.
    columns = {
        t: [c for c in ds.table_spec(t).columns if (t, c) not in drop] for t in ds.table_names
    }
    rewritten = {
        t: _rewritten(ds, t, columns[t], a.quasi_identifiers, levels, blanked)
        for t in ds.table_names
    }
    files = _write(ds, rewritten, targets, {q.table for q in a.quasi_identifiers})
    dropped = tuple(sorted(f"{t}.{c}" if len(ds.table_names) > 1 else c for t, c in drop))
    return Applied(files, dropped, blanked.people + blanked.records, a.plan)


def release_targets(ds: Dataset, out: Path) -> dict[str, Path]:
    """Where :func:`apply_generalisation` would write each table to ``out``; a one-line
    error, before any work, when that is the input, inside it, or a form it cannot take."""
    _refuse_overwriting_input(ds, out)
    return _targets(ds, out)


def _refuse_overwriting_input(ds: Dataset, out: Path) -> None:
    target = out.resolve()
    folders, files = ds.locations()
    for src in folders:
        if target == src or src in target.parents or (src.is_dir() and target.parent == src):
            msg = f"--out {out} would write into the input; choose another path"
            raise ParameterError(msg)
    if target in files:
        msg = f"--out {out} is the input file; choose another path"
        raise ParameterError(msg)


@dataclass(frozen=True)
class _Blanked:
    """Whose quasi-identifiers to blank: the people (ids as text) in a class smaller than
    k, and, per table, a hash of each such class (:func:`_class_hash`) whose records
    without a person go too (every record of a table without people); ``people`` and
    ``records`` count them."""

    persons: pl.Series
    classes: Mapping[str, pl.Series]
    records: int

    @property
    def people(self) -> int:
        return self.persons.len()


def _class_hash(names: Sequence[str]) -> pl.Expr:
    """A 64-bit hash of a record's class (signed: Spark has no unsigned integers): two
    classes sharing one are both blanked when one is small, never left."""
    return pl.struct(names).hash(seed=0).reinterpret(signed=True)


def _to_blank(
    ds: Dataset,
    qis: Sequence[QuasiIdentifier],
    levels: Mapping[str, Callable[[pl.Expr], pl.Expr]],
    k: int,
) -> _Blanked:
    """The people, and the classes (of tables without people; of records without a person
    id), whose quasi-identifiers (at ``levels``) must be blanked so that every class holds
    at least ``k`` (people, else records).

    Each table's generalised records are read once (:func:`records`) and counted in parts
    that share no class (:meth:`Records.by_key`): on one machine memory follows a part, on
    Spark only the people found reach the driver. Blanking a person removes all of their
    records, in every table, from their classes, which can shrink others: the rounds repeat
    until no one new is found. Records without a person id in a small class cannot be
    blanked by person: they are blanked by their class's hash."""
    persons = pl.Series(SUBJECT, [], dtype=pl.String)
    classes: dict[str, pl.Series] = {}
    blanked_records = 0
    with contextlib.ExitStack() as stack:
        opened = {
            t: (stack.enter_context(records(ds, given)), names)
            for t, (given, names) in release_frames(ds, qis, levels=levels).items()
        }
        with_people = {t: o for t, o in opened.items() if SUBJECT in o[0].schema}
        for t, (release, names) in opened.items():
            if t in with_people:
                continue
            small = release.by_key(pl.struct(names), _small_classes(names, k), CLASS_PART_ROWS)
            classes[t] = small["hash"]
            blanked_records += int(small["records"].sum())
        for _ in range(10):  # blanking people can shrink other classes; a few rounds settle it
            found = [
                release.by_key(
                    pl.struct(names), _people_in_small(names, k, persons), CLASS_PART_ROWS
                )
                for release, names in with_people.values()
            ]
            # Classes only shrink from round to round, so the last round's small classes
            # holding records without a person are all of them.
            unnamed = [f.filter(pl.col(SUBJECT).is_null()) for f in found]
            classes.update((t, f["hash"]) for t, f in zip(with_people, unnamed, strict=True))
            nameless = sum(int(f["records"].sum()) for f in unnamed)
            found = [f.filter(pl.col(SUBJECT).is_not_null()) for f in found]
            new = pl.concat([f[SUBJECT] for f in found] or [persons.head(0)]).unique()
            new = new.filter(~new.is_in(persons.implode()))
            if new.is_empty():
                break
            persons = pl.concat([persons, new]).sort()
            # Only a class of k or more holding a record of someone just blanked can shrink
            # below k. If every record of theirs lies in the small classes they were found
            # in, the next round would find no one: a cheap count instead of another round.
            if all(
                _records_of(release, names, new) == int(f["records"].sum())
                for (release, names), f in zip(with_people.values(), found, strict=True)
            ):
                break
    return _Blanked(persons, classes, blanked_records + nameless)


def _records_of(release: Records, names: Sequence[str], people: pl.Series) -> int:
    """The records of ``people`` in ``release`` that have a quasi-identifier."""
    theirs = pl.col(SUBJECT).is_in(people.implode()).fill_null(False) & ~all_missing(names)
    counted = release.reduce(lambda f: f.select(theirs.sum().alias("n")), lambda _: "sum")
    return int(counted["n"] or 0)


def _small_classes(names: Sequence[str], k: int) -> Callable[[pl.LazyFrame], pl.DataFrame]:
    """Of a part of a table without people: the hash and records of each class below k."""

    def found(part: pl.LazyFrame) -> pl.DataFrame:
        small = class_sizes(part, names).filter(pl.col(SIZE) < k)
        return small.select(
            _class_hash(names).alias("hash"), pl.col(SIZE).alias("records")
        ).collect(engine="streaming")

    return found


def _people_in_small(
    names: Sequence[str], k: int, gone: pl.Series
) -> Callable[[pl.LazyFrame], pl.DataFrame]:
    """Of a part of a table with people: the people in a class below k, counting neither
    records without any quasi-identifier nor the people ``gone`` (blanked already), with
    their ``records`` in those classes; records without a person, by their class's
    ``hash`` (a missing person)."""

    def found(part: pl.LazyFrame) -> pl.DataFrame:
        live = part.filter(~pl.col(SUBJECT).is_in(gone.implode()).fill_null(False))
        small = class_sizes(live, names).filter(pl.col(SIZE) < k).select(names)
        inside = live.filter(~all_missing(names)).join(small, on=list(names), how="semi",
                                                         nulls_equal=True)  # fmt: skip
        class_hash = pl.when(pl.col(SUBJECT).is_null()).then(_class_hash(names))
        grouped = inside.group_by(pl.col(SUBJECT), class_hash.alias("hash"))
        return grouped.agg(pl.len().cast(pl.Int64).alias("records")).collect(engine="streaming")

    return found


def _rewritten(
    ds: Dataset,
    t: str,
    columns: Sequence[str],
    qis: Sequence[QuasiIdentifier],
    levels: Mapping[str, Callable[[pl.Expr], pl.Expr]],
    blanked: _Blanked,
) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    """Table ``t``'s raw rows -> its released ``columns``: each quasi-identifier generalised
    from its typed value, blanked where :func:`_to_blank` found its person or class."""
    own = [q for q in qis if q.table == t]
    if not own:
        return lambda raw: raw.select(columns)
    plans = ds.plans[t]
    value = {q.column: levels[q.name](plans[q.column].typed()).alias(q.name) for q in own}
    pid = ds.table_spec(t).first("patient_id")
    found = blanked.classes.get(t, pl.Series([], dtype=pl.Int64))
    in_small_class = _class_hash([q.name for q in own]).is_in(found.implode())
    if pid:
        person = plans[pid].typed().cast(pl.String)  # as the release read it
        hide = person.is_in(blanked.persons.implode()).fill_null(False) | (
            person.is_null() & in_small_class
        )
    else:
        hide = in_small_class
    out = [
        pl.when(pl.col(_HIDE)).then(None).otherwise(pl.col(_name(c, own))).alias(c)
        if c in value else pl.col(c)
        for c in columns
    ]  # fmt: skip

    def rewrite(raw: pl.LazyFrame) -> pl.LazyFrame:
        generalised = raw.with_columns(*value.values())
        return generalised.with_columns(hide.alias(_HIDE)).select(out)

    return rewrite


def _name(column: str, own: Sequence[QuasiIdentifier]) -> str:
    return next(q.name for q in own if q.column == column)


_HIDE = "\x1fhide"


#: Cells rewritten at once on one machine (a slice's rows times its columns): polars runs a
#: value look-up (some generalisations are) outside its streaming engine, holding the table.
_SLICE_CELLS = 20_000_000


def _in_slices(
    raw: pl.LazyFrame, fn: Callable[[pl.LazyFrame], pl.LazyFrame], folder: Path
) -> pl.LazyFrame:
    """``fn`` over ``raw`` a slice of rows at a time, each slice written to a Parquet file in
    ``folder``; the slices read back lazily, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = int(raw.select(pl.len()).collect().item())
    size = max(1, _SLICE_CELLS // max(1, len(raw.collect_schema())))
    paths = []
    for i, offset in enumerate(range(0, max(rows, 1), size)):
        paths.append(folder / f"{i:05d}.parquet")
        fn(raw.slice(offset, size)).sink_parquet(paths[-1], compression=SCRATCH_COMPRESSION)
    return pl.scan_parquet(paths)


def _spreadsheet_safe(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Text cells and column names that a spreadsheet would run as formulas are written
    with a leading apostrophe (OWASP's rule for CSV injection); numbers are untouched."""
    schema = frame.collect_schema()
    text = [c for c, t in schema.items() if t == pl.String]
    safe = frame.with_columns(
        pl.when(
            pl.col(c).str.contains(FORMULA_REGEX)
            & pl.col(c).cast(pl.Float64, strict=False).is_null()
        )
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in text
    )
    return safe.rename({c: spreadsheet_safe(c) for c in schema if spreadsheet_safe(c) != c})


def _eager(fn: Callable[[pl.LazyFrame], pl.LazyFrame]) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda frame: fn(frame.lazy()).collect()


def _targets(ds: Dataset, out: Path) -> dict[str, Path]:
    """Where each table is written: ``out`` itself for one table named as a file, else a
    file (a folder of part files on Spark) per table in the folder ``out``. Checked before
    any work: an input is never replaced."""
    parquet_in = ds.raw.format == "parquet" or all(t.format == "parquet" for t in ds.raw.tables)
    if out.suffix.lower() in (".csv", ".parquet"):
        if len(ds.table_names) != 1:
            msg = f"--out {out}: a dataset of {len(ds.table_names)} tables needs a folder"
            raise ParameterError(msg)
        if ds.on_spark and out.suffix.lower() == ".csv":
            msg = f"--out {out}: Spark tables are written as Parquet; give a folder or a .parquet name"
            raise ParameterError(msg)
        targets = {ds.table_names[0]: out}
    else:
        ext = ".parquet" if parquet_in or ds.on_spark else ".csv"
        targets = {t: out / f"{t}{ext}" for t in ds.table_names}
    for path in targets.values():
        check_output(path)
    return targets


def _write(
    ds: Dataset,
    rewrites: Mapping[str, Callable[[pl.LazyFrame], pl.LazyFrame]],
    targets: Mapping[str, Path],
    generalised: Collection[str],
) -> tuple[Path, ...]:
    """Each table's raw rows through its rewrite (see :func:`_rewritten`) to its target: a
    Parquet or CSV file, streamed to a temporary file and renamed into place; on Spark a
    folder of Parquet part files."""
    if ds.on_spark:
        for t, path in targets.items():
            # The rewrite runs in Spark's executors on each batch: no dataset in its closure.
            schema = rewrites[t](pl.LazyFrame(schema=ds.raw.table(t).frame.collect_schema()))
            rows = _spark.map_batches(
                ds.spark_frame(t), _eager(rewrites[t]), schema.collect_schema()
            )
            _spark.write_parquet(rows, path)
        return tuple(targets.values())
    with tempfile.TemporaryDirectory(dir=cache_dir()) as folder:
        columnar = ds.columnar(Path(folder) / "raw")  # slices of a Parquet copy, not of a CSV
        for i, (t, path) in enumerate(targets.items()):
            raw = columnar.raw_frame(t)
            if t in generalised:
                frame = _in_slices(raw, rewrites[t], Path(folder) / f"table-{i}")
            else:
                frame = rewrites[t](raw)
            with staged(path) as tmp:  # streamed beside the target, then renamed into place
                if path.suffix.lower() == ".parquet":
                    frame.sink_parquet(tmp)
                else:
                    _spreadsheet_safe(frame).sink_csv(tmp)
    return tuple(targets.values())
