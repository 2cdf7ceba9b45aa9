"""Excel sources: text cells, numeric phone cells, sheets, damaged workbooks, fuzz."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sources_support import KEY, make_spec

from reconciler.errors import SourceError
from reconciler.sources import iter_members, read_headers, scan_source
from reconciler.sources.xlsxread import cell_text


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def test_rows_become_members_and_numeric_phone_cells_are_rejected(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "c.xlsx", {"Contacts": [
        ["Phone", "Email", "First"],
        ["+14155550123", "Ann@Example.com", "Ann"],
        [447700900123, "bob@example.com", "Bob"],  # typed as a number in Excel
        [4.41e11, None, "Cy"],
        ["(415) 555-0124", None, 42],
    ]})
    spec = make_spec(path, {"phone": "Phone", "email": "Email", "first_name": "First"})
    assert read_headers(spec.source) == ["Phone", "Email", "First"]
    scan = scan_source(spec, KEY)
    assert scan.rows_read == 4 and scan.member_count == 2
    assert [(i.row, i.reason, i.column) for i in scan.issues] == [
        (3, "numeric_phone_cell", "Phone"), (4, "numeric_phone_cell", "Phone"),
    ]
    assert "447700900123" not in repr(scan.issues)  # masked
    members = list(iter_members(spec))
    assert [(m.phone, m.email, m.first_name) for m in members] == [
        ("+14155550123", "ann@example.com", "Ann"), ("+14155550124", None, "42"),
    ]


def test_sheet_option_and_missing_sheet(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "s.xlsx", {"First": [["Other"]], "People": [["Phone"], ["+14155550123"]]})
    assert read_headers(make_spec(path).source) == ["Other"]
    assert scan_source(make_spec(path, sheet="People"), KEY).member_count == 1
    with pytest.raises(SourceError, match="no sheet named 'Nope'") as err:
        scan_source(make_spec(path, sheet="Nope"), KEY)
    assert "First, People" in str(err.value)


def test_empty_rows_keep_row_numbers(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet["A1"] = "Phone"
    sheet["A2"] = "+14155550123"
    sheet["A5"] = "bad"
    path = tmp_path / "gap.xlsx"
    book.save(path)
    scan = scan_source(make_spec(path), KEY)
    assert [(i.row, i.reason) for i in scan.issues] == [(5, "invalid_phone")]


def test_empty_sheet_is_a_source_error(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "e.xlsx", {"Sheet": []})
    with pytest.raises(SourceError, match="no header row"):
        scan_source(make_spec(path), KEY)


def test_cell_text() -> None:
    import datetime as dt

    assert cell_text(None) == ""
    assert cell_text(3.0) == "3"
    assert cell_text(2.5) == "2.5"
    assert cell_text(True) == "TRUE"
    assert cell_text(dt.date(2024, 1, 2)) == "2024-01-02"


def test_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "fake.xlsx"
    path.write_text("Phone\n+14155550123\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"not a readable \.xlsx") as err:
        scan_source(make_spec(path), KEY)
    assert "fake.xlsx" in str(err.value)


def _valid_xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["Phone"])
    book.active.append(["+14155550123"])
    book.save(buffer)
    return buffer.getvalue()


VALID = _valid_xlsx_bytes()


@settings(max_examples=60)
@given(data=st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.xlsx"
    path.write_bytes(data)
    with pytest.raises(SourceError):
        scan_source(make_spec(path), KEY)


@settings(max_examples=60)
@given(offset=st.integers(0, len(VALID) - 1), junk=st.binary(min_size=1, max_size=64))
def test_fuzz_damaged_workbook(tmp_path: Path, offset: int, junk: bytes) -> None:
    path = tmp_path / "damaged.xlsx"
    path.write_bytes(VALID[:offset] + junk + VALID[offset + len(junk):])
    try:
        scan = scan_source(make_spec(path), KEY)
    except SourceError as err:
        assert "damaged.xlsx" in str(err)
    else:
        assert scan.rows_read <= 1


def test_damaged_sheet_xml(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    with zipfile.ZipFile(io.BytesIO(VALID)) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    with pytest.raises(SourceError) as err:
        scan_source(make_spec(path), KEY)
    assert "x.xlsx" in str(err.value)
