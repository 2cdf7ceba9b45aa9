"""Fuzz target for sources (issue 8): hostile CSV bytes and .xlsx workbooks.

For every input: no error but the project's own (`SourceError`, located and bounded), no silent
loss (members + duplicates + invalid rows = the non-blank rows the file holds, checked against an
independent strict parse), and nothing unmasked in the issues or the rejects file.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import openpyxl
from hostile_support import address, addresses, digit_run, hostile, phone, phone_in_email, several
from hypothesis import given, settings
from hypothesis import strategies as st
from sources_support import KEY, make_spec
from test_sources_hostile import lying_dimension

from reconciler.commands.validate import write_rejects
from reconciler.errors import SourceError
from reconciler.sources import SourceScan, scan, scan_source
from reconciler.sources.xlsxread import cell_text

HEADER = ["Phone", "Email", "First", "Country"]
COLUMNS = {"phone": "Phone", "email": "Email", "first_name": "First", "country": "Country"}
cell = st.one_of(hostile, st.sampled_from(["", " ", "US", "gb", "+14155550123", "ann@example.com"]))
row = st.lists(cell.map(lambda text: text[:500]), min_size=4, max_size=4)
INSERTS = [b'"', b",", b"\n", b"\r", b"\xff", b"\x00", b'""', b"\xef\xbb\xbf"]
mutation = st.one_of(
    st.none(),
    st.tuples(st.floats(0, 1), st.sampled_from(INSERTS)),
    st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=8)),
)


def expected_rows(data: bytes) -> int | None:
    """Non-blank data records of `data` by an independent strict parse; None when it is not a
    well-formed CSV of the header's width (then reading it must fail)."""
    try:
        records = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error):
        return None
    if not records or not any(cell.strip() for cell in records[0]):
        return None
    names = [cell.strip() for cell in records[0]]
    if any(names.count(name) != 1 for name in HEADER):
        return None
    width = len(records[0])
    body = [r for r in records[1:] if any(r)]
    if any(len(r) != width for r in body):
        return None
    return len(body)


def check_outputs(result: SourceScan, cells: list[str], root: Path) -> None:
    """Nothing of any cell is unmasked in the issues or the rejects file."""
    write_rejects([result], root / "rejects.csv")
    text = (root / "rejects.csv").read_text(encoding="utf-8") + repr(result.issues)
    digits = "\n".join("".join(ch for ch in c if ch.isdigit()) for c in cells)
    for run in re.findall(r"\d{6,}", text):
        assert run not in digits
    for value in cells:
        for found in addresses(value):
            assert found not in text


def check_source(path: Path, expected: int | None, cells: list[str], workers: int = 1) -> None:
    try:
        result = scan_source(make_spec(path, COLUMNS, delimiter=","), KEY, workers=workers)
    except SourceError as err:
        message = str(err)
        assert path.name in message and len(message) < 2000
        assert expected is None, f"a well-formed file was refused: {message}"
        return
    assert expected is not None, "a malformed file was read"
    assert result.rows_read == result.valid + result.invalid_count
    assert result.member_count + result.duplicates + result.invalid_count == expected
    check_outputs(result, cells, path.parent)


def mutate(data: bytes, change: Any) -> bytes:
    if change is None:
        return data
    where, inserted = change
    at = int(where * len(data))
    return data[:at] + inserted + data[at:]


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows([HEADER, *rows])  # '\r\n' ends rows, so a cell's '\r' is quoted
    return out.getvalue().encode("utf-8", errors="surrogatepass")


@settings(max_examples=150)
@given(st.lists(row, max_size=12), mutation)
def test_fuzz_csv_bytes(rows: list[list[str]], change: Any) -> None:
    data = mutate(csv_bytes(rows), change)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(data)
        expected = expected_rows(data)
        if change is None:
            assert expected == sum(1 for r in rows if any(r))  # the oracle agrees with the writer
        check_source(path, expected, [c for r in rows for c in r])


# Enough rows to span several byte ranges, drawn from a small pool of short cells: 20-30 rows of
# freshly drawn hostile cells exceed hypothesis's entropy budget and are slow to draw on a loaded
# machine, while repeated cells still exercise every span boundary.
short_cell = st.one_of(
    st.text(max_size=40), address, phone, several, phone_in_email, digit_run,
    st.sampled_from(["", " ", "US", "gb", "+14155550123", "ann@example.com"]),
).map(lambda text: text[:40])
span_rows = st.lists(short_cell, min_size=1, max_size=8).flatmap(
    lambda pool: st.lists(st.lists(st.sampled_from(pool), min_size=4, max_size=4), min_size=20, max_size=30)
)


@settings(max_examples=20)
@given(span_rows, mutation)
def test_fuzz_csv_bytes_by_parallel_spans(rows: list[list[str]], change: Any) -> None:
    data = mutate(csv_bytes(rows), change)
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(scan, "RANGE_MIN_BYTES", 200), \
            mock.patch.object(scan, "RANGE_BYTES", 120):
        path = Path(tmp) / "spans.csv"
        path.write_bytes(data)
        check_source(path, expected_rows(data), [c for r in rows for c in r], workers=2)


sheet_cell = st.one_of(
    st.none(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=60),
    st.sampled_from(["+14155550123", "ann@example.com", "ann@a.example; jane@b.example", "US", "Narnia"]),
)


@settings(max_examples=40)
@given(st.lists(st.lists(sheet_cell, min_size=0, max_size=5), max_size=15),
       st.sampled_from([None, "A1", "A1:C2", "B3:D4"]))
def test_fuzz_xlsx_workbooks(rows: list[list[Any]], dimension: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.xlsx"
        book = openpyxl.Workbook()
        book.active.append(HEADER)
        for values in rows:
            book.active.append(values)
        book.save(path)
        if dimension:
            lying_dimension(path, dimension)
        texts = [[cell_text(v) for v in values] for values in rows]
        expected = sum(1 for t in texts if any(t))
        result = scan_source(make_spec(path, COLUMNS), KEY)
        assert result.rows_read == expected == result.member_count + result.duplicates + result.invalid_count
        check_outputs(result, [t for r in texts for t in r], Path(tmp))
