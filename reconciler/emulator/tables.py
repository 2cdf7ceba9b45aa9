"""Reading uploaded member files (CSV text or .xlsx) from disk, row by row.

Files are streamed, never loaded whole: CSV through the csv module, Excel through openpyxl's
read-only mode. Any failure to read is an `ApiError(400)` for the provider to word its own way.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.emulator.wire import ApiError

XLSX_MAGIC = b"PK\x03\x04"
# what a malformed CSV or workbook raises (openpyxl's own errors derive from Exception directly)
READ_ERRORS: tuple[type[Exception], ...] = (
    UnicodeDecodeError,
    csv.Error,
    zipfile.BadZipFile,
    KeyError,
    OSError,
    ValueError,
    TypeError,
    IndexError,
)


@dataclass(frozen=True)
class Table:
    """An uploaded member file: its header and a way to stream its data rows."""

    path: Path
    header: tuple[str, ...]
    excel: bool

    def rows(self) -> Iterator[dict[str, str]]:
        """Data rows as {header: cell text}; blank rows are skipped. ApiError(400) if unreadable."""
        try:
            cells = _xlsx_cells(self.path) if self.excel else _csv_cells(self.path)
            next(cells, None)  # the header
            width = len(self.header)
            for row in cells:
                if not any(c.strip() for c in row):
                    continue
                padded = (list(row) + [""] * width)[:width]
                yield dict(zip(self.header, padded, strict=True))
        except READ_ERRORS:
            raise ApiError(400, "file could not be read") from None


def open_table(path: Path, *, allow_excel: bool = True) -> Table:
    """Read the header of the CSV (UTF-8, optional BOM, `,` `;` or tab) or .xlsx file at `path`."""
    with path.open("rb") as fh:
        head = fh.read(8192)
    excel = head.startswith(XLSX_MAGIC)
    if excel and not allow_excel:
        raise ApiError(400, "file is not a CSV text file")
    if not excel and b"\x00" in head:
        raise ApiError(400, "file is not a CSV text file")
    try:
        cells = _xlsx_cells(path) if excel else _csv_cells(path)
        header = next(cells, None)
        cells.close()
    except READ_ERRORS:
        raise ApiError(400, "file could not be read as " + ("Excel" if excel else "CSV")) from None
    if not header or not any(h.strip() for h in header):
        raise ApiError(400, "file is empty or has no header row")
    return Table(path, tuple(h.strip() for h in header), excel)


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_cells(path: Path) -> Generator[list[str], None, None]:
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        yield from csv.reader(fh, delimiter=_delimiter(first))


def _xlsx_cells(path: Path) -> Generator[list[str], None, None]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    with path.open("rb") as fh:
        try:
            book = load_workbook(fh, read_only=True, data_only=True)
        except InvalidFileException as exc:
            raise ValueError(str(exc)) from None
        yield from _sheet_cells(book)


def _sheet_cells(book: Any) -> Iterator[list[str]]:
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [_cell_text(v) for v in row]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
