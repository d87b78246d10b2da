"""A site's linkable extract: what a hospital sends to a pool without any identifier.

The site computes its people's pseudonyms itself, with the key the sites share, and writes
its tables with the pseudonym added (column ``link_pseudonym`` in the table holding the
linkage key) and every direct-identifier and free-text column dropped. The analyst pools the
extracts with ``linkage: {key: pseudonym}`` and never sees an identifier or the key.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from medvalue.analyses._identifiers import scan_identifiers
from medvalue.analyses._linkage import PERSON, PSEUDONYM_COLUMN, extract_site, person_expr
from medvalue.core._errors import ParameterError
from medvalue.core._files import check_output
from medvalue.read._dataset import Dataset


@dataclass(frozen=True)
class LinkedSite:
    """What :func:`link_site` wrote."""

    name: str
    folder: Path
    files: tuple[Path, ...]
    dropped: tuple[str, ...]  # table.column of every identifier and free-text column
    people: int
    without_key: int

    def to_dict(self) -> dict[str, object]:
        return {
            "site": self.name,
            "folder": self.folder.name,
            "files": [p.name for p in self.files],
            "dropped_columns": list(self.dropped),
            "people": self.people,
            "without_key": self.without_key,
        }


def link_site(
    ds: Dataset,
    name: str,
    out: str | Path,
    *,
    key: Sequence[str],
    secret: bytes,
    columns: Mapping[str, str] | None = None,
) -> LinkedSite:
    """Write ``ds`` to the new folder ``out`` as Parquet tables, with pseudonyms of the
    linkage ``key`` and without identifiers. The folder appears complete or not at all."""
    target = check_output(out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        msg = f"--link-out {out} exists and is not an empty folder; choose a new folder"
        raise ParameterError(msg)
    site = extract_site(ds, name, key=key, secret=secret, columns=columns)
    key_table = site.columns[key[0]].split(".", 1)[0]
    found = scan_identifiers(ds)
    drop = {(f.table, f.column) for f in found}
    drop |= {tuple(site.columns[f].split(".", 1)) for f in key if f in ("resident_id", "name")}  # type: ignore[misc]
    lookup = site.people.select(PERSON, "link")
    staging = target.parent / f".{target.name}.linking-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    files = []
    try:
        for t in ds.table_names:
            raw = ds.raw_frame(t)
            pid = ds.table_spec(t).first("patient_id")
            # The patient id stays as a column (it links the tables), its values replaced.
            kept = [c for c in raw.collect_schema().names() if (t, c) not in drop or c == pid]
            link = (
                person_expr(ds, t)
                .replace_strict(lookup[PERSON], lookup["link"], default=None)
                .alias(PSEUDONYM_COLUMN)
            )
            # The person is read from the typed view (ids trimmed, as the pool reads them).
            linked = pl.concat([raw.select(kept), ds.frame(t).select(link)], how="horizontal")
            frame = linked if (t == key_table or pid) else raw.select(kept)
            if pid and pid in kept:
                # The hospital's own patient numbers stay home: the pseudonym links the tables.
                frame = frame.with_columns(pl.col(PSEUDONYM_COLUMN).alias(pid))
            if t != key_table and PSEUDONYM_COLUMN in frame.collect_schema().names():
                frame = frame.drop(PSEUDONYM_COLUMN)
            path = staging / f"{t}.parquet"
            frame.sink_parquet(path)
            files.append(target / path.name)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    ids = {(t, ds.table_spec(t).first("patient_id")) for t in ds.table_names}
    dropped = tuple(sorted(f"{t}.{c}" for t, c in drop - ids))
    return LinkedSite(
        name, target, tuple(files), dropped, site.checks.people, site.checks.without_key
    )
