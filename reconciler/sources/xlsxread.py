"""Streaming .xlsx records via openpyxl's read-only mode; every cell becomes text.

The sheet's stored `<dimension ref>` is ignored (read-only mode would trust it and hide the rows
and columns outside it): every row and column the sheet holds is read."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reconciler.config.model import SourceSpec
from reconciler.errors import SourceError
from reconciler.sources.csvread import source_error
from reconciler.sources.limits import MAX_CELL_CHARS

# (row number, cells as text, indexes of cells that were numbers in the sheet)
XlsxRecord = tuple[int, list[str], frozenset[int]]


def cell_text(value: Any) -> str:
    """A cell's value as the text a user sees (integral floats without '.0')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@contextmanager
def xlsx_records(source: SourceSpec) -> Iterator[tuple[list[str], Iterator[XlsxRecord]]]:
    """(header, records) of the chosen sheet (the first when `source.sheet` is None); records
    are consecutive rows from row 2, blank ones included."""
    import openpyxl  # slow import, only when a workbook is read

    if not source.path.is_file():
        raise source_error(source, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(source.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types on damaged files
        raise source_error(source, f"not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        try:
            sheet = book[source.sheet] if source.sheet is not None else book.worksheets[0]
        except (KeyError, IndexError):
            names = ", ".join(book.sheetnames) or "none"
            raise source_error(source, f"no sheet named {source.sheet!r} (sheets: {names})") from None
        rows = _rows(source, sheet)
        first = next(rows, None)
        if first is None or not any(cell.strip() for cell in first[1]):
            raise source_error(source, "no header row (the sheet is empty)", 1)
        yield [cell.strip() for cell in first[1]], rows
    finally:
        book.close()


def _rows(source: SourceSpec, sheet: Any) -> Iterator[XlsxRecord]:
    row = 0
    try:
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()  # the stored dimension may lie: read what the sheet holds
        for values in sheet.iter_rows(values_only=True):
            row += 1
            cells = [cell_text(v) for v in values]
            if any(len(cell) > MAX_CELL_CHARS for cell in cells):
                raise source_error(source, f"row {row}: a cell longer than {MAX_CELL_CHARS:,} characters "
                                   "(the most a spreadsheet cell holds)", row)
            numeric = frozenset(i for i, v in enumerate(values) if _is_number(v))
            yield row, cells, numeric
    except SourceError:
        raise
    except Exception as exc:
        raise source_error(source, f"damaged worksheet data ({type(exc).__name__})", row + 1) from None
