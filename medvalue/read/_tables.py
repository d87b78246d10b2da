"""Read hospital exports into polars LazyFrames without ever touching the input.

Formats: CSV/TSV/TXT (delimiter sniffed; UTF-8, UTF-8 with BOM or GB18030/GBK, detected),
Excel ``.xlsx`` (each sheet a table), Parquet, NDJSON, and a folder of such files (one table
per file). Text formats are read with every column as a string: typing is decided later from
the spec and a sample (see :mod:`medvalue.read._dataset`), so a stray value deep in a file can never
crash a read. Non-UTF-8 text is transcoded in bounded-memory chunks to a cache file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io as _io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
from charset_normalizer import from_bytes

from medvalue.core._errors import InputError
from medvalue.core._files import cache_dir, register_input

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xls")
PARQUET_SUFFIXES = (".parquet", ".pq")
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + EXCEL_SUFFIXES + PARQUET_SUFFIXES + NDJSON_SUFFIXES

_SAMPLE_BYTES = 4 << 20  # enough to sniff encoding, delimiter and ragged rows
_CHUNK_BYTES = 8 << 20  # transcoding chunk: memory stays bounded whatever the file size
_DELIMITERS = ",\t;|"
_HIGH_BYTES = bytes(range(0x80, 0x100))
_ENCODING_ALIASES = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "utf-8-sig": "utf-8-sig",
    "utf8-sig": "utf-8-sig",
    "gbk": "gb18030",  # GB18030 is a superset of GBK and GB2312
    "gb2312": "gb18030",
    "gb18030": "gb18030",
    "cp936": "gb18030",
}


@dataclass(frozen=True)
class ReadNote:
    """Something noticed while reading that a user should know (never a value)."""

    check: str
    table: str
    column: str | None
    count: int
    detail: str


@dataclass(frozen=True)
class Table:
    """One table of a dataset as read: a lazy frame plus where and how it was read."""

    name: str
    source: str
    format: str
    frame: pl.LazyFrame = field(repr=False)
    encoding: str | None = None
    delimiter: str | None = None
    bytes_on_disk: int = 0
    notes: tuple[ReadNote, ...] = ()
    #: For a table that stays in Spark (``format`` ``spark``): its Spark DataFrame; ``frame``
    #: then holds only its first rows, for reading roles and types (see read._spark).
    spark: Any = field(default=None, repr=False, compare=False)

    @property
    def columns(self) -> list[str]:
        return self.frame.collect_schema().names()


@dataclass(frozen=True)
class RawData:
    """Every table found at a path, untyped for text formats."""

    path: str
    format: str
    tables: tuple[Table, ...]
    #: A clinical data standard the tables follow (``omop``, ``fhir``), and its version.
    standard: str | None = None
    version: str | None = None
    #: Vocabulary tables (e.g. OMOP ``concept``) kept for look-ups, not analysed as data.
    lookups: Mapping[str, pl.LazyFrame] = field(default_factory=dict, repr=False)
    #: The same vocabulary tables as Spark DataFrames, when they stay in Spark (``lookups``
    #: then holds their first rows only).
    spark_lookups: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        names = ", ".join(t.name for t in self.tables)
        msg = f"{self.path}: no table named '{name}'. Fix: use one of: {names}"
        raise InputError(msg)

    @property
    def encodings(self) -> list[str]:
        return sorted({t.encoding for t in self.tables if t.encoding})

    @property
    def notes(self) -> list[ReadNote]:
        return [note for t in self.tables for note in t.notes]


def read_tables(path: str | Path, *, encoding: str | None = None) -> RawData:
    """Read a file or folder of plain tables (no standard recognised: see
    :func:`medvalue.read._dataset.read_path`).

    Raises
    ------
    InputError
        When the path is missing, empty, not a table, or cannot be decoded; the message
        names the file and the fix.
    """
    shown = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError.at(shown, "no such file or folder", "check the path and spelling")
    register_input(p)
    if p.is_dir() and _parquet_parts(p):  # one table Spark (or Hive) wrote as part files
        table = _read_parquet_parts(p, shown)
        return RawData(path=shown, format="parquet", tables=(table,))
    if p.is_dir():
        files = sorted(
            f
            for f in p.iterdir()
            if ((f.is_file() and f.suffix.lower() in SUPPORTED_SUFFIXES) or _parquet_parts(f))
            and not f.name.startswith(".")
        )
        if not files:
            raise InputError.at(
                shown,
                "the folder holds no tables",
                f"put files ending in {', '.join(SUPPORTED_SUFFIXES)} in it",
            )
        tables: list[Table] = []
        for f in files:
            tables.extend(_read_file(f, f"{shown.rstrip('/')}/{f.name}", encoding, prefix=True))
        _check_unique_names(shown, tables)
        return RawData(path=shown, format="folder", tables=tuple(tables))
    tables = _read_file(p, shown, encoding, prefix=False)
    return RawData(path=shown, format=tables[0].format, tables=tuple(tables))


def read_user_table(
    path: str | Path, what: str, columns: Sequence[str], fix: str, optional: Sequence[str] = ()
) -> pl.DataFrame:
    """A small table the user supplies (a registry, targets, rates), CSV or Excel, read as
    text with ``columns`` required and trimmed; any failure is one line naming the file."""
    p = Path(path)
    if not p.exists():
        raise InputError.at(path, f"no such {what} file", "check the path")
    register_input(p)
    try:
        if p.suffix.lower() in (".xlsx", ".xlsm"):
            raw = pl.read_excel(p, infer_schema_length=0)
        else:
            raw = pl.read_csv(p, infer_schema=False, encoding="utf8-lossy")
    except Exception as exc:  # any reader failure is the file's problem, said in one line
        raise InputError.at(
            path, f"not a readable CSV or Excel file ({type(exc).__name__})", "save it as UTF-8 CSV"
        ) from None
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise InputError.at(path, f"missing column(s) {', '.join(missing)}", fix)
    kept = [*columns, *(c for c in optional if c in raw.columns)]
    return raw.select(kept).with_columns(pl.col(c).str.strip_chars() for c in kept)


def _check_unique_names(shown: str, tables: Sequence[Table]) -> None:
    seen: dict[str, str] = {}
    for t in tables:
        if t.name in seen:
            raise InputError.at(
                shown,
                f"two files give the table name '{t.name}' ({seen[t.name]} and {t.source})",
                "rename one of them or keep one format per table",
            )
        seen[t.name] = t.source


def _read_file(p: Path, shown: str, encoding: str | None, *, prefix: bool) -> list[Table]:
    if p.is_dir():
        return [_read_parquet_parts(p, shown)]
    suffix = p.suffix.lower()
    size = p.stat().st_size
    if size == 0:
        raise InputError.at(shown, "the file is empty (0 bytes)", "export the table again")
    if suffix in TEXT_SUFFIXES:
        return [_read_text(p, shown, encoding, size)]
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(p, shown, size, prefix=prefix)
    if suffix in PARQUET_SUFFIXES:
        return [_read_parquet(p, shown, size)]
    if suffix in NDJSON_SUFFIXES:
        return [_read_ndjson(p, shown, size)]
    raise InputError.at(
        shown,
        f"unsupported file type '{p.suffix}'",
        f"save the table as one of {', '.join(SUPPORTED_SUFFIXES)}",
    )


# --- text ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoding:
    name: str  # what we report: utf-8, utf-8-sig, gb18030, or a detector's name
    replaced: int  # undecodable bytes replaced while reading the sample


def detect_encoding(sample: bytes) -> _Encoding | None:
    """Guess the encoding of a text sample; None when nothing decodes it sensibly.

    UTF-8 is tried first, then GB18030 (which covers GBK and GB2312), then the
    charset-normalizer detector. A UTF-8 file with a few corrupt bytes stays UTF-8: GBK text
    read as UTF-8 fails on nearly every Chinese character, a corrupt UTF-8 file on a handful.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return _Encoding("utf-8-sig", _count_bad(sample, "utf-8-sig"))
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _Encoding("utf-16", 0)
    bad_utf8 = _count_bad(sample, "utf-8")
    if bad_utf8 == 0:
        return _Encoding("utf-8", 0)
    if _count_bad(sample, "gb18030") == 0:
        return _Encoding("gb18030", 0)
    non_ascii = len(sample) - len(sample.translate(None, _HIGH_BYTES))
    if bad_utf8 <= max(3, non_ascii // 100):
        return _Encoding("utf-8", bad_utf8)
    best = from_bytes(sample).best()
    if best is None or best.encoding is None:
        return None
    name = _ENCODING_ALIASES.get(best.encoding.replace("_", "-").lower(), best.encoding)
    return _Encoding(name, _count_bad(sample, name))


def _count_bad(sample: bytes, encoding: str) -> int:
    # The sample may end inside a multi-byte character: ignore an incomplete tail.
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    text = decoder.decode(sample, final=False)
    return text.count("\ufffd")


def _read_text(p: Path, shown: str, encoding: str | None, size: int) -> Table:
    with p.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    if b"\x00" in sample[:65536] and not sample.startswith(
        (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    ):
        raise InputError.at(
            shown,
            "this is binary data, not a text table",
            "export the table as CSV, or give the file its real extension (.xlsx, .parquet)",
        )
    if encoding:
        name = _ENCODING_ALIASES.get(encoding.lower(), encoding.lower())
        try:
            codecs.lookup(name)
        except LookupError:
            msg = f"unknown encoding '{encoding}'"
            raise InputError.at(shown, msg, "use utf-8, gb18030 or gbk") from None
        enc = _Encoding(name, _count_bad(sample, name))
    else:
        detected = detect_encoding(sample)
        if detected is None:
            raise InputError.at(
                shown,
                "the text encoding could not be recognised (undecodable bytes)",
                "save the file as UTF-8, or pass --encoding gb18030 (or the right encoding)",
            )
        enc = detected
    name = p.stem
    notes: list[ReadNote] = []
    if enc.replaced:
        notes.append(
            ReadNote(
                "undecodable_bytes",
                name,
                None,
                enc.replaced,
                f"bytes that are not valid {enc.name} were replaced by U+FFFD "
                "(counted in the first 4 MB)",
            )
        )
    text_sample = sample.decode(enc.name, errors="replace")
    source_for_polars = p if enc.name in ("utf-8", "utf-8-sig") else _transcode(p, enc.name)
    delimiter = _sniff_delimiter(text_sample, p.suffix.lower())
    header, ragged, n_lines = _header_and_ragged(text_sample, delimiter, size <= _SAMPLE_BYTES)
    if not header:
        raise InputError.at(
            shown, "no header row was found", "the first line must hold the column names"
        )
    columns, dup_notes = _clean_header(header, name)
    notes.extend(dup_notes)
    if ragged:
        notes.append(
            ReadNote(
                "ragged_rows",
                name,
                None,
                ragged,
                f"rows whose number of fields differs from the header's {len(columns)} "
                f"(in the first {n_lines} lines); extra fields are dropped, missing ones empty",
            )
        )
    frame = pl.scan_csv(
        source_for_polars,
        separator=delimiter,
        has_header=True,
        new_columns=columns,
        infer_schema=False,
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
        quote_char='"',
    )
    return Table(
        name=name,
        source=shown,
        format="csv",
        frame=frame,
        encoding=enc.name,
        delimiter=delimiter,
        bytes_on_disk=size,
        notes=tuple(notes),
    )


def _transcode(p: Path, encoding: str) -> Path:
    """Write a UTF-8 copy of ``p`` to the cache (chunked, bounded memory); reuse if fresh."""
    stat = p.stat()
    key = f"{p.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{encoding}"
    target = cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.csv"
    if target.exists():
        return target
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with p.open("rb") as src, tmp.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(_CHUNK_BYTES):
            dst.write(decoder.decode(chunk))
        dst.write(decoder.decode(b"", final=True))
    os.replace(tmp, target)
    return target


def _sniff_delimiter(text: str, suffix: str) -> str:
    head = "\n".join(text.splitlines()[:50])
    if suffix == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(head, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = head.splitlines()[0] if head else ""
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _header_and_ragged(text: str, delimiter: str, whole_file: bool) -> tuple[list[str], int, int]:
    lines = text.splitlines(keepends=True)
    if not whole_file and lines:
        lines = lines[:-1]  # the sample may cut the last line in two
    reader = csv.reader(_io.StringIO("".join(lines)), delimiter=delimiter)
    header = next(reader, [])
    width = len(header)
    ragged = 0
    n = 1
    for row in reader:  # the sample only: bounded, and csv's reader is C code
        n += 1
        if row and len(row) != width:
            ragged += 1
    return header, ragged, n


def _clean_header(header: list[str], table: str) -> tuple[list[str], list[ReadNote]]:
    cleaned = [h.replace("\ufeff", "").strip() for h in header]
    notes: list[ReadNote] = []
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(cleaned):
        base = name or f"column_{i + 1}"
        if base in seen:
            seen[base] += 1
            new = f"{base}_{seen[base]}"
            notes.append(
                ReadNote(
                    "duplicate_header",
                    table,
                    base,
                    1,
                    f"the header names '{base}' more than once; this copy was renamed '{new}'",
                )
            )
            out.append(new)
        else:
            seen[base] = 1
            if not name:
                notes.append(
                    ReadNote("blank_header", table, base, 1, f"a blank header was named '{base}'")
                )
            out.append(base)
    return out, notes


# --- binary and structured formats ------------------------------------------------------------

_MICROSECONDS_A_DAY = 86_400_000_000


def plain_types(frame: pl.LazyFrame, table: str) -> tuple[pl.LazyFrame, list[ReadNote]]:
    """``frame`` with the column types a binary format may carry, and medvalue does not read
    as they are, given as the types it does (lazily, one expression a column), and a note for
    each change a user should know of.

    Categories and all-empty columns become text, decimals numbers (as every other amount);
    a time of day, text ("08:30:00": it is not a date); a duration, a number of days (a
    length of stay as it is counted); lists and records, their JSON text; bytes (files,
    images), only their size ("<2048 bytes>").
    """
    exprs, notes = [], []
    for c, dtype in frame.collect_schema().items():
        col = pl.col(c)
        if isinstance(dtype, pl.Categorical | pl.Enum | pl.Null):
            exprs.append(col.cast(pl.String).alias(c))
        elif isinstance(dtype, pl.Decimal):
            exprs.append(col.cast(pl.Float64).alias(c))
        elif isinstance(dtype, pl.Time):
            exprs.append(col.dt.to_string("%H:%M:%S").alias(c))
            notes.append(ReadNote("time_of_day_as_text", table, c, 1, "times of day read as text"))
        elif isinstance(dtype, pl.Duration):
            exprs.append((col.dt.total_microseconds() / _MICROSECONDS_A_DAY).alias(c))
            notes.append(ReadNote("duration_as_days", table, c, 1, "durations read as days"))
        elif isinstance(dtype, pl.List | pl.Array | pl.Struct):
            # {"name": value} encoded, then the value's JSON cut out of it.
            encoded = pl.struct(col).struct.json_encode()
            value = encoded.str.replace(r'^\{"(?:[^"\\]|\\.)*":', "").str.head(-1)
            exprs.append(pl.when(col.is_null()).then(None).otherwise(value).alias(c))
            notes.append(
                ReadNote("nested_as_text", table, c, 1, "lists or records read as JSON text")
            )
        elif isinstance(dtype, pl.Binary):
            # Files and images (a scanned ID card, a face): never read, only their sizes.
            exprs.append(pl.format("<{} bytes>", col.bin.size()).alias(c))
            notes.append(ReadNote("binary_as_size", table, c, 1, "bytes: only their sizes read"))
    return (frame.with_columns(exprs) if exprs else frame), notes


#: The days Excel writes a time of day on (its day 0 and the day before; time cells
#: carry no date of their own).
_EXCEL_TIME_DAYS = (dt.date(1899, 12, 30), dt.date(1899, 12, 31), dt.date(1900, 1, 1))


def _excel_times(sheet: pl.DataFrame) -> pl.DataFrame:
    """``sheet`` with its time-of-day cells as times: Excel stores a time as a fraction of a
    day, and the reader gives it a date of 1899 (every value of such a column falls on
    Excel's day 0), which would read as a birth date a century before every visit."""
    times = [
        c
        for c, dtype in sheet.schema.items()
        if isinstance(dtype, pl.Datetime)
        and sheet[c].drop_nulls().len() > 0
        and sheet[c].drop_nulls().dt.date().is_in(_EXCEL_TIME_DAYS).all()
    ]
    return sheet.with_columns(pl.col(c).dt.time() for c in times) if times else sheet


def _read_excel(p: Path, shown: str, size: int, *, prefix: bool) -> list[Table]:
    if p.suffix.lower() == ".xls":
        raise InputError.at(
            shown, "old binary Excel (.xls) is not supported", "save the workbook as .xlsx"
        )
    with p.open("rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":
        raise InputError.at(
            shown,
            "this is not a valid Excel workbook",
            "open it in Excel and save it again as .xlsx",
        )
    try:
        sheets = pl.read_excel(p, sheet_id=0, engine="calamine", raise_if_empty=False)
    except Exception as exc:  # fastexcel raises its own types for damaged workbooks
        raise InputError.at(
            shown,
            f"the workbook could not be read ({type(exc).__name__}); it is damaged or truncated",
            "open it in Excel and save it again as .xlsx",
        ) from exc
    tables = []
    for sheet, df in sheets.items():
        if df.width == 0:
            continue
        columns, notes = _clean_header(list(df.columns), sheet)
        name = f"{p.stem}.{sheet}" if prefix and len(sheets) > 1 else (p.stem if prefix else sheet)
        frame, converted = plain_types(
            _excel_times(df.rename(dict(zip(df.columns, columns, strict=True)))).lazy(), name
        )
        tables.append(
            Table(
                name=name,
                source=f"{shown}#{sheet}",
                format="excel",
                frame=frame,
                bytes_on_disk=size,
                notes=(*notes, *converted),
            )
        )
    if not tables:
        raise InputError.at(shown, "every sheet of the workbook is empty", "export the data again")
    return tables


def _read_parquet(p: Path, shown: str, size: int) -> Table:
    with p.open("rb") as fh:
        head = fh.read(4)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        raise InputError.at(
            shown, "this is not a complete Parquet file", "write the Parquet file again"
        )
    frame = pl.scan_parquet(p)
    try:
        schema = frame.collect_schema()
    except Exception as exc:
        raise InputError.at(
            shown,
            f"the Parquet file could not be read ({exc.__class__.__name__})",
            "write the Parquet file again",
        ) from exc
    columns, notes = _clean_header(schema.names(), p.stem)
    frame = frame.rename(dict(zip(schema.names(), columns, strict=True)))
    frame, converted = plain_types(frame, p.stem)
    return Table(p.stem, shown, "parquet", frame, bytes_on_disk=size, notes=(*notes, *converted))


def _parquet_parts(p: Path) -> list[Path]:
    """The part files of a folder holding one table as Parquet part files (as Spark and Hive
    write them: ``part-*.parquet``); empty for any other path."""
    if not p.is_dir():
        return []
    return sorted(f for f in p.glob("part-*.parquet") if f.is_file())


def _read_parquet_parts(p: Path, shown: str) -> Table:
    """A folder of Parquet part files as one table, named after the folder."""
    parts = [_read_parquet(f, f"{shown}/{f.name}", f.stat().st_size) for f in _parquet_parts(p)]
    schemas = {tuple(t.frame.collect_schema().items()) for t in parts}
    if len(schemas) > 1:
        raise InputError.at(shown, "its part files hold different columns", "write the table again")
    frame = pl.concat([t.frame for t in parts])
    size = sum(t.bytes_on_disk for t in parts)
    notes = tuple(replace(n, table=p.stem) for n in parts[0].notes)  # the folder is the table
    return Table(p.stem, shown, "parquet", frame, bytes_on_disk=size, notes=notes)


def _read_ndjson(p: Path, shown: str, size: int) -> Table:
    with p.open("rb") as fh:
        first = fh.readline()
    try:
        obj = json.loads(first)
    except ValueError as exc:
        raise InputError.at(
            shown, "the first line is not a JSON object", "write one JSON object per line"
        ) from exc
    if not isinstance(obj, dict):
        raise InputError.at(
            shown, "the first line is not a JSON object", "write one JSON object per line"
        )
    frame, notes = plain_types(pl.scan_ndjson(p, infer_schema_length=10_000), p.stem)
    return Table(
        p.stem, shown, "ndjson", frame, encoding="utf-8", bytes_on_disk=size, notes=tuple(notes)
    )
