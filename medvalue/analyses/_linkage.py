"""One site of a pool: its people under keyed pseudonyms of a shared linkage key, their
demographics, diagnoses and labelled records, in one site-neutral shape.

Sites may not exchange identifiers. Each person's linkage key (the resident ID number, or
name + birth date + sex where the pool says so) is normalised the same way at every site and
hashed with a key the sites share (HMAC-SHA256): equal keys give equal pseudonyms, so the
overlap between sites is counted from pseudonyms alone, and nobody without the key can
compute or reverse one. The plain keys exist only inside this step and are never returned.

Exact matching misses a person whose key was typed differently at two sites: each such typo
counts one person twice (docs/methods.md measures it). The checks here count what can be seen
without the identifiers: keys missing, resident IDs failing their check digit, and (across
sites, in the pool) one pseudonym with two sexes or birth dates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from medvalue.analyses._coverage import _diagnoses
from medvalue.analyses._identifiers import scan_identifiers
from medvalue.core import _patterns as patterns
from medvalue.core._errors import ColumnError, ParameterError
from medvalue.core._keys import hmac_hex
from medvalue.read._by_patient import stacked
from medvalue.read._dataset import Dataset

#: Linkage keys a pool can name, as their fields.
KEYS: dict[str, tuple[str, ...]] = {
    "resident_id": ("resident_id",),
    "name_birth_sex": ("name", "birth_date", "sex"),
}
#: A site that computed its pseudonyms itself ships them in this column (or names another).
PSEUDONYM_COLUMN = "link_pseudonym"
#: Hex characters kept of each pseudonym: 80 bits (ten million people collide with
#: probability about 4e-11).
LINK_HEX = 20
#: The pseudonym of a person, the person's site-local number, and the site, in every frame.
LINK, PERSON, SITE = "link", "person", "site"
_SEPARATOR = "\x1f"  # between the fields of a key: never inside a normalised value
_DOMAIN = b"medvalue-pool-link:"


@dataclass(frozen=True)
class LinkageChecks:
    """What can be seen of one site's linkage keys without showing any of them."""

    people: int
    without_key: int  # people whose key is missing or incomplete (linked to nobody)
    invalid_resident_id: int | None  # resident IDs failing their check digit (None: not used)


@dataclass(frozen=True)
class SiteExtract:
    """One site in the pool's shape: pseudonyms, never names or ID numbers (``person``, the
    site's own patient number, stays in memory and in no output)."""

    name: str
    rows: int  # rows of the site's largest table (what a split "by rows" counts)
    people: pl.DataFrame  # link, person, sex, birth_date, age, region: one row per person
    diagnoses: pl.DataFrame  # link, code
    records: pl.DataFrame | None  # link, label (and time, predictors): one row per record
    checks: LinkageChecks
    columns: Mapping[str, str]  # logical field -> the site's column (table.column)
    roles: Mapping[str, str]  # predictor -> its role at this site


def normalised(field: str, value: pl.Expr) -> pl.Expr:
    """A linkage field written the same way everywhere: full-width characters folded
    (NFKC), spaces and separators removed, letters in one case, dates as YYYY-MM-DD."""
    text = value.cast(pl.String).str.normalize("NFKC")
    if field == "resident_id":
        return text.str.replace_all(r"[\s\-]", "").str.to_uppercase()
    if field == "name":
        # "张 三", "张三 ", "Zhang·San" and "ZHANG SAN" are one name.
        return text.str.replace_all(r"[\s·•・.\-']", "").str.to_lowercase()
    if field == "sex":
        return patterns.canonical_sex(value)
    return text.str.strip_chars().str.to_uppercase()


def _date_text(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype.is_temporal():
        return value.dt.strftime("%Y-%m-%d")
    return value.cast(pl.String).str.strip_chars()


def pseudonyms(keys: pl.Series, secret: bytes, domain: bytes = _DOMAIN) -> pl.Series:
    """HMAC-SHA256 of each distinct key under the pool's shared secret (hex, truncated)."""
    return hmac_hex(secret, domain, keys).str.slice(0, LINK_HEX)


def _column(ds: Dataset, ref: str, what: str) -> tuple[str, str]:
    """``table.column`` or ``column`` (the first table holding it) as (table, column)."""
    if "." in ref:
        t, c = ref.split(".", 1)
        if t in ds.table_names and c in ds.frame(t).collect_schema().names():
            return t, c
    for t in ds.table_names:
        if ref in ds.frame(t).collect_schema().names():
            return t, ref
    every = [c for t in ds.table_names for c in ds.frame(t).collect_schema().names()]
    raise ColumnError.missing(ds.path, ref, every, what=what)


def _find_field(
    ds: Dataset, field: str, found_kinds: Mapping[str, tuple[str, str]]
) -> tuple[str, str] | None:
    """The column holding a logical field, from the spec's roles or the identifier scan."""
    if field in ("birth_date", "sex", "region", "age"):
        hub = ds.hub("patient_id")
        tables = [hub[0]] if hub else []
        tables += [t for t in ds.table_names if t not in tables]
        for t in tables:
            found = ds.table_spec(t).first(field)
            if found:
                return t, found
        return None
    if field == "pseudonym":
        for t in ds.table_names:
            if PSEUDONYM_COLUMN in ds.frame(t).collect_schema().names():
                return t, PSEUDONYM_COLUMN
        return None
    if field in found_kinds:
        return found_kinds[field]
    # Any other field is a column of that name (e.g. an OMOP person_source_value).
    for t in ds.table_names:
        if field in ds.frame(t).collect_schema().names():
            return t, field
    return None


def _identifier_columns(ds: Dataset) -> dict[str, tuple[str, str]]:
    """The first column found of each identifier kind (resident_id, name)."""
    out: dict[str, tuple[str, str]] = {}
    found = [f for f in scan_identifiers(ds) if not f.in_text]
    # A whole name before its parts (FHIR's name before given_name).
    found.sort(
        key=lambda f: any(p in f.column.lower() for p in ("given", "family", "first", "last"))
    )
    for f in found:
        kind = "name" if f.kind in ("name", "english_name") else f.kind
        out.setdefault(kind, (f.table, f.column))
    return out


def extract_site(
    ds: Dataset,
    name: str,
    *,
    key: Sequence[str],
    secret: bytes | None,
    columns: Mapping[str, str] | None = None,
    label: str | None = None,
    time: str | None = None,
    predictors: Sequence[str] = (),
    as_of: str | None = None,
) -> SiteExtract:
    """The site ``ds`` as the pool sees it. ``key`` lists the linkage fields (``KEYS``), or
    is ``("pseudonym",)`` for a site whose column already holds the shared pseudonyms;
    ``columns`` maps a field, the label or a predictor to the site's own column name."""
    columns = dict(columns or {})
    prelinked = tuple(key) == ("pseudonym",)
    if not prelinked and secret is None:
        msg = f"site '{name}': linking needs the pool's shared secret; set it in the environment"
        raise ParameterError(msg)
    kinds = {} if prelinked or all(f in columns for f in key) else _identifier_columns(ds)
    where: dict[str, tuple[str, str]] = {}
    for f in (*key, "sex", "birth_date", "age", "region"):
        ref = columns.get(f)
        found = _column(ds, ref, f"{f} column") if ref else _find_field(ds, f, kinds)
        if found is None and f in key:
            raise ParameterError.at(
                ds.path, f"site '{name}': no column holds the linkage field '{f}'",
                f"name it in the pool spec: sites: - name: {name} columns: {{{f}: <column>}}",
            )  # fmt: skip
        if found is not None:
            where[f] = found
    table = where[key[0]][0]
    if any(where[f][0] != table for f in key):
        msg = (f"site '{name}': the linkage fields {', '.join(key)} are in different tables. "
               "Fix: put them in one table, or link by one field")  # fmt: skip
        raise ParameterError.at(ds.path, msg.split(". Fix: ")[0], msg.split(". Fix: ")[1])
    people, checks = _people(ds, name, table, where, key, secret, prelinked, as_of)
    diagnoses = _site_diagnoses(ds, people)
    records, roles = _records(ds, name, people, columns, label, time, predictors)
    rows = max(int(ds.frame(t).select(pl.len()).collect().item()) for t in ds.table_names)
    shown = {f: f"{t}.{c}" for f, (t, c) in where.items()}
    return SiteExtract(name, rows, people, diagnoses, records, checks, shown, roles)


def person_expr(ds: Dataset, table: str) -> pl.Expr:
    pid = ds.table_spec(table).first("patient_id")
    if pid is None:  # one row per person: the row number, as coverage numbers them
        return pl.concat_str(pl.lit(f"{table}#"), pl.int_range(pl.len()).cast(pl.String))
    return pl.col(pid).cast(pl.String)


def _people(
    ds: Dataset,
    name: str,
    table: str,
    where: Mapping[str, tuple[str, str]],
    key: Sequence[str],
    secret: bytes | None,
    prelinked: bool,
    as_of: str | None,
) -> tuple[pl.DataFrame, LinkageChecks]:
    frame = ds.frame(table)
    schema = frame.collect_schema()
    parts = []
    for f in key:
        c = where[f][1]
        v = _date_text(pl.col(c), schema[c]) if f == "birth_date" else pl.col(c)
        parts.append(v.cast(pl.String) if prelinked else normalised(f, v))
    complete = pl.all_horizontal([p.is_not_null() & (p != "") for p in parts])
    keyed = pl.when(complete).then(pl.concat_str(parts, separator=_SEPARATOR))
    demo = {}
    for f in ("sex", "birth_date", "age", "region"):
        if f in where and where[f][0] == table:
            c = where[f][1]
            demo[f] = {
                "sex": patterns.canonical_sex(pl.col(c)),
                "birth_date": pl.col(c).cast(pl.Date, strict=False) if schema[c].is_temporal() else pl.lit(None, pl.Date),
                "age": pl.col(c).cast(pl.Float64, strict=False),
                "region": pl.col(c).cast(pl.String),
            }[f]  # fmt: skip
    selected = [person_expr(ds, table).alias(PERSON), keyed.alias("_key")]
    selected += [e.alias(f) for f, e in demo.items()]
    if "resident_id" in key and not prelinked:
        # Judged as hashed (normalised): a space or a full-width digit is not a typo.
        written = normalised("resident_id", pl.col(where["resident_id"][1]))
        selected.append(patterns.is_resident_id(written).alias("_valid"))
    rows = frame.select(selected).filter(pl.col(PERSON).is_not_null())
    # One row per person: the first key and value each field has.
    agg = [pl.col(c).drop_nulls().first().alias(c) for c in ("_key", *demo)]
    if "_valid" in rows.collect_schema():
        agg.append(pl.col("_valid").any().alias("_valid"))
    people = rows.group_by(PERSON, maintain_order=True).agg(agg).collect(engine="streaming")
    invalid = None
    if "_valid" in people.columns:
        invalid = int(people.filter(pl.col("_key").is_not_null() & ~pl.col("_valid")).height)
        people = people.drop("_valid")
    without = int(people["_key"].null_count())
    if prelinked:
        link = people["_key"]
    else:
        distinct = people["_key"].drop_nulls().unique()
        lookup = pseudonyms(distinct, secret or b"")
        link = people["_key"].replace_strict(distinct, lookup, default=None, return_dtype=pl.String)
    # A person without a key links to nobody: a pseudonym of their own, keyed too (it may
    # leave the site in a linked extract).
    people = people.with_columns(link.alias(LINK)).drop("_key")
    alone = people.filter(pl.col(LINK).is_null())[PERSON]
    if alone.len():
        own = pl.Series([f"{name}\x1f{p}" for p in alone.to_list()])
        names = (
            pseudonyms(own, secret, b"medvalue-pool-unlinked:")
            if secret
            else own.hash(seed=0).cast(pl.String)
        )
        people = people.with_columns(
            pl.coalesce(
                pl.col(LINK),
                pl.lit("u") + pl.col(PERSON).replace_strict(alone, names, default=None),
            )
        )
    for f, dtype in (
        ("sex", pl.String),
        ("birth_date", pl.Date),
        ("age", pl.Float64),
        ("region", pl.String),
    ):
        if f not in people.columns:
            people = people.with_columns(pl.lit(None, dtype).alias(f))
    if as_of is not None:
        day = pl.lit(as_of).str.to_date()
        years = (day.dt.year() - pl.col("birth_date").dt.year()) - (
            day.dt.ordinal_day() < pl.col("birth_date").dt.ordinal_day()
        ).cast(pl.Int32)
        people = people.with_columns(
            pl.coalesce(pl.col("age"), years.cast(pl.Float64)).alias("age")
        )
    checks = LinkageChecks(people.height, without, invalid)
    return people.select(LINK, PERSON, "sex", "birth_date", "age", "region"), checks


def _site_diagnoses(ds: Dataset, people: pl.DataFrame) -> pl.DataFrame:
    found = (
        stacked(ds, _diagnoses(ds))
        .select(pl.col("patient").alias(PERSON), "code")
        .collect(engine="streaming")
    )
    return found.join(people.select(PERSON, LINK), on=PERSON, how="inner").select(LINK, "code")


def _records(
    ds: Dataset,
    name: str,
    people: pl.DataFrame,
    columns: Mapping[str, str],
    label: str | None,
    time: str | None,
    predictors: Sequence[str],
) -> tuple[pl.DataFrame | None, dict[str, str]]:
    if label is None:
        return None, {}
    t, c = _column(ds, columns.get(label, label), f"label column of site '{name}'")
    wanted = {label: c}
    if time:
        wanted[time] = _column(ds, columns.get(time, time), f"time column of site '{name}'")[1]
    roles = {}
    for p in predictors:
        pt, pc = _column(ds, columns.get(p, p), f"predictor of site '{name}'")
        if pt != t:
            msg = f"site '{name}': predictor '{p}' is not in the label's table {t}"
            raise ParameterError.at(ds.path, msg, "give predictors from the label's table")
        wanted[p] = pc
        roles[p] = ds.spec.role_of(t, pc).role
    frame = ds.frame(t).select(
        person_expr(ds, t).alias(PERSON), *[pl.col(src).alias(dst) for dst, src in wanted.items()]
    )
    records = frame.collect(engine="streaming").join(
        people.select(PERSON, LINK, "sex", "age"), on=PERSON, how="left", maintain_order="left"
    )
    return records.drop(PERSON), roles


def overlap_masks(extracts: Sequence[SiteExtract]) -> pl.DataFrame:
    """Each distinct person (pseudonym) with the bit mask of the sites holding them."""
    frames = [
        e.people.select(LINK).unique().with_columns(pl.lit(1 << i, pl.Int64).alias("bit"))
        for i, e in enumerate(extracts)
    ]
    return pl.concat(frames).group_by(LINK).agg(pl.col("bit").sum().alias("mask"))


def conflicts(extracts: Sequence[SiteExtract]) -> int:
    """People linked across sites whose sites disagree on sex or birth date: a typo in a
    field that is not part of the key, or two people sharing a key."""
    both = pl.concat([e.people.select(LINK, "sex", "birth_date") for e in extracts])
    per = both.group_by(LINK).agg(
        pl.col("sex").drop_nulls().n_unique().alias("sexes"),
        pl.col("birth_date").drop_nulls().n_unique().alias("dates"),
    )
    return int(per.filter((pl.col("sexes") > 1) | (pl.col("dates") > 1)).height)
