"""Every input format and encoding, with fixtures written at test time."""

from __future__ import annotations

import polars as pl
import pytest

from medvalue.core._errors import InputError
from medvalue.read._dataset import read_path

ROWS = "患者ID,性别,年龄,入院日期\nA1,男,45,2024-01-05\nA2,女,61,2024/1/6\nA3,男,,20240107\n"


def _rows(raw) -> int:
    return raw.tables[0].frame.select(pl.len()).collect().item()


@pytest.mark.parametrize(
    ("encoding", "reported"),
    [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030"), ("gbk", "gb18030")],
)
def test_csv_encodings_detected(tmp_path, encoding, reported):
    path = tmp_path / "t.csv"
    path.write_bytes(ROWS.encode(encoding))
    raw = read_path(path)
    t = raw.tables[0]
    assert t.encoding == reported
    assert t.columns == ["患者ID", "性别", "年龄", "入院日期"]
    df = t.frame.collect()
    assert df["性别"].to_list() == ["男", "女", "男"]
    assert _rows(raw) == 3


def test_encoding_override(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(ROWS.encode("gbk"))
    raw = read_path(path, encoding="gbk")
    assert raw.tables[0].encoding == "gb18030"
    assert raw.tables[0].frame.collect()["性别"][0] == "男"
    with pytest.raises(InputError, match="unknown encoding"):
        read_path(path, encoding="klingon")


def test_large_gb18030_is_transcoded_in_chunks(tmp_path, monkeypatch):
    import medvalue.read._tables as mio

    monkeypatch.setattr(mio, "_CHUNK_BYTES", 1000)  # force many chunks and split characters
    monkeypatch.setenv("MEDVALUE_CACHE_DIR", str(tmp_path / "cache"))
    body = "".join(f"P{i},张三丰{i % 7},诊断{i}\n" for i in range(5000))
    path = tmp_path / "big.csv"
    path.write_bytes(("编号,名称,备注\n" + body).encode("gb18030"))
    before = path.read_bytes()
    df = read_path(path).tables[0].frame.collect()
    assert df.height == 5000
    assert df["名称"][4999] == "张三丰1"
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("sep", "suffix"), [(",", ".csv"), ("\t", ".tsv"), (";", ".csv"), ("|", ".txt"), ("\t", ".txt")]
)
def test_delimiters_sniffed(tmp_path, sep, suffix):
    path = tmp_path / f"t{suffix}"
    path.write_text(f"id{sep}sex{sep}age\n1{sep}M{sep}30\n2{sep}F{sep}40\n", encoding="utf-8")
    t = read_path(path).tables[0]
    assert t.delimiter == sep
    assert t.columns == ["id", "sex", "age"]


def test_headers_trimmed_and_duplicates_renamed(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\ufeff id , 诊断 ,诊断,\n1,a,b,c\n", encoding="utf-8")
    t = read_path(path).tables[0]
    assert t.columns == ["id", "诊断", "诊断_2", "column_4"]
    checks = {n.check for n in t.notes}
    assert {"duplicate_header", "blank_header"} <= checks


def test_excel_each_sheet_a_table(tmp_path):
    path = tmp_path / "book.xlsx"
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    pl.DataFrame({"patient_id": ["a", "b"], "age": [1, 2]}).write_excel(
        workbook=wb, worksheet="patients"
    )
    pl.DataFrame({"patient_id": ["a"], "icd": ["K74.6"]}).write_excel(
        workbook=wb, worksheet="diagnoses"
    )
    wb.close()
    raw = read_path(path)
    assert [t.name for t in raw.tables] == ["patients", "diagnoses"]
    assert raw.format == "excel"
    assert _rows(raw) == 2


def test_parquet_and_ndjson(tmp_path):
    df = pl.DataFrame({"patient_id": ["a", "b", "c"], "age": [1, 2, 3]})
    df.write_parquet(tmp_path / "t.parquet")
    df.write_ndjson(tmp_path / "t.ndjson")
    for name in ("t.parquet", "t.ndjson"):
        raw = read_path(tmp_path / name)
        assert raw.tables[0].frame.collect().equals(df)


def test_folder_is_one_multi_table_dataset(tmp_path):
    (tmp_path / "patients.csv").write_text("patient_id,sex\n1,M\n", encoding="utf-8")
    (tmp_path / "labs.parquet").write_bytes(b"")  # ignored? no: empty files are errors
    (tmp_path / "labs.parquet").unlink()
    pl.DataFrame({"patient_id": ["1"], "glucose": [5.5]}).write_parquet(tmp_path / "labs.parquet")
    (tmp_path / "README.md").write_text("not a table")
    raw = read_path(tmp_path)
    assert raw.format == "folder"
    assert sorted(t.name for t in raw.tables) == ["labs", "patients"]


def test_folder_with_same_table_twice_is_an_error(tmp_path):
    (tmp_path / "patients.csv").write_text("a\n1\n", encoding="utf-8")
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "patients.parquet")
    with pytest.raises(InputError, match="two files give the table name 'patients'"):
        read_path(tmp_path)


def test_folders_of_part_files_are_tables(tmp_path):
    """As Spark and Hive write a table: a folder of ``part-*.parquet`` files, read as one
    table named after the folder, alone or beside other tables."""
    labs = tmp_path / "data" / "labs.parquet"
    labs.mkdir(parents=True)
    parts = [pl.DataFrame({"patient_id": [str(i)], "glucose": [5.0 + i]}) for i in range(3)]
    for i, part in enumerate(parts):
        part.write_parquet(labs / f"part-{i:05d}.parquet")
    (labs / "_SUCCESS").write_text("")
    pl.DataFrame({"patient_id": ["1"], "sex": ["M"]}).write_parquet(tmp_path / "data" / "p.parquet")
    alone = read_path(labs)
    assert alone.tables[0].name == "labs" and alone.tables[0].frame.collect().equals(
        pl.concat(parts)
    )
    both = read_path(tmp_path / "data")
    assert sorted(t.name for t in both.tables) == ["labs", "p"]
    pl.DataFrame({"patient_id": [1]}).write_parquet(labs / "part-00009.parquet")
    with pytest.raises(InputError, match="part files hold different columns"):
        read_path(labs)
    # What the reader notes of a part file is said of the folder's table.
    (labs / "part-00009.parquet").unlink()
    timed = [p.with_columns(stay=pl.duration(days=2)) for p in parts]
    for i, part in enumerate(timed):
        part.write_parquet(labs / f"part-{i:05d}.parquet")
    notes = read_path(labs).tables[0].notes
    assert [(n.check, n.table, n.column) for n in notes] == [("duration_as_days", "labs", "stay")]


def test_columns_named_as_our_own_working_names(tmp_path):
    """Columns called column, value, rows or present (a data dictionary) are read and
    profiled like any other: the stacked working columns have names no header can take."""
    from medvalue import load_dataset, profile

    path = tmp_path / "dictionary.csv"
    path.write_text("column,value,rows,present\na,x,1,p\nb,y,2,q\nc,z,3,r\n", encoding="utf-8")
    ds = load_dataset(path)
    assert list(ds.spec.tables["dictionary"].columns) == ["column", "value", "rows", "present"]
    assert profile(ds).to_dict()["size"]["rows"] == 3


def test_parquet_types_medvalue_does_not_read_as_they_are(tmp_path):
    # Categories, decimals, times of day, durations, lists, records, bytes and all-empty
    # columns, as Parquet (or Excel) may hand them over: every command reads them, each
    # change a user should know of is a finding, and no byte of a file column is read.
    import datetime as dt
    import decimal
    import json

    from medvalue import coverage, load_dataset, privacy, profile

    n = 40
    secret = b"ID-CARD-SCAN-\xff\xd8"
    frame = pl.DataFrame(
        {
            "patient_id": pl.Series([i // 2 for i in range(n)], dtype=pl.UInt64),
            "sex": pl.Series(["M", "F"] * (n // 2)).cast(pl.Categorical),
            "ward": pl.Series(["A", "B"] * (n // 2)).cast(pl.Enum(["A", "B"])),
            "charge": pl.Series(
                [decimal.Decimal(f"{i}.25") for i in range(n)], dtype=pl.Decimal(8, 2)
            ),
            "visit_time": [dt.time(8 + i % 10, 30) for i in range(n)],
            "stay": [dt.timedelta(days=i % 7, hours=12) for i in range(n)],
            "codes": [["I10", "E11.9"][: i % 3] for i in range(n)],
            "vitals": [{"pulse": 70 + i, "unit": "bpm"} for i in range(n)],
            "contact": [{"name": "张伟", "phone": "13812345678"} for i in range(n)],
            "scan": pl.Series([secret] * n, dtype=pl.Binary),
            "empty": pl.Series([None] * n, dtype=pl.Null),
            "admit": [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(n)],
        }
    )
    path = tmp_path / "t.parquet"
    frame.write_parquet(path)
    ds = load_dataset(path)
    typed = ds.frame("t").collect()
    assert typed["charge"].to_list()[:2] == [0.25, 1.25]
    assert typed["stay"].to_list()[:2] == [0.5, 1.5]  # days
    assert typed["codes"].to_list()[:3] == ["[]", '["I10"]', '["I10","E11.9"]']
    assert json.loads(typed["vitals"][0]) == {"pulse": 70, "unit": "bpm"}
    assert typed["scan"].unique().to_list() == [f"<{len(secret)} bytes>"]
    assert ds.table_spec("t").columns["visit_time"].role == "other"  # a time of day, not a date
    p = profile(ds, as_of="2025-01-01")
    checks = {(f.check, f.column) for f in p.findings}
    assert {
        ("time_of_day_as_text", "visit_time"),
        ("duration_as_days", "stay"),
        ("nested_as_text", "codes"),
        ("nested_as_text", "vitals"),
        ("binary_as_size", "scan"),
        ("role_conflict", "visit_time"),
    } <= checks
    for f in p.findings:  # every finding has its message in both languages
        assert f.message("en") and f.message("zh") and f.fix("zh")
    outputs = [p.to_dict(), coverage(ds).to_dict(), privacy(ds).to_dict()]
    text = json.dumps(outputs, ensure_ascii=False, default=str)
    assert "ID-CARD" not in text and secret.hex() not in text
    # JSON text hides what no pattern sees inside it: it is free text, never shown.
    assert ds.table_spec("t").columns["contact"].role == "free_text"
    assert "13812345678" not in text and "张伟" not in text


def test_ndjson_with_nested_values(tmp_path):
    # A FHIR-like export line by line: lists and records in some fields.
    from medvalue import load_dataset, profile

    lines = [
        '{"patient_id": "p1", "dx": ["I10", "E11.9"], "vitals": {"hr": 70}, "admit": "2021-01-05"}',
        '{"patient_id": "p2", "dx": [], "vitals": null, "admit": "2021-02-05"}',
    ]
    path = tmp_path / "visits.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = load_dataset(path)
    typed = ds.frame("visits").collect()
    assert typed["vitals"].to_list() == ['{"hr":70}', None]
    checks = {(f.check, f.column) for f in profile(ds, as_of="2025-01-01").findings}
    assert {("nested_as_text", "dx"), ("nested_as_text", "vitals")} <= checks


def test_excel_time_cells_are_times_of_day_not_dates_of_1899(tmp_path):
    # Excel stores a time cell as a fraction of a day; read, it falls on 1899-12-31 and
    # would be taken for a birth date a century before every admission.
    import datetime as dt

    from medvalue import load_dataset, profile

    frame = pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(30)],
            "visit_time": [dt.time(8, i) for i in range(30)],
            "admit": [dt.datetime(2021, 1, 1, 8, i) for i in range(30)],
        }
    )
    path = tmp_path / "visits.xlsx"
    frame.write_excel(path, worksheet="visits")
    ds = load_dataset(path)
    cols = ds.table_spec("visits").columns
    assert (cols["visit_time"].role, cols["admit"].role) == ("other", "admission_date")
    assert ds.frame("visits").collect()["visit_time"][:2].to_list() == ["08:00:00", "08:01:00"]
    checks = {(f.check, f.column) for f in profile(ds, as_of="2025-01-01").findings}
    assert ("time_of_day_as_text", "visit_time") in checks
    assert ("date_before_1900", "visit_time") not in checks
