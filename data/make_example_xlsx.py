"""Regenerate data/callers.xlsx, the bundled example's Excel source (synthetic, fictional numbers).

Numbers come from the Australian drama range 0491 570 006-159 (ACMA reserves it for fiction), so
they are valid to phonenumbers yet belong to nobody. A few rows are deliberately wrong so that
`reconciler validate` has something to report: a duplicate, a number typed as a numeric cell, a
number that is too short, and a row without a phone.

Run from the repository root:  python3 data/make_example_xlsx.py
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import openpyxl

FIRST_NAMES = ["Ada", "Ben", "Cleo", "Dev", "Ema", "Finn", "Gia", "Hal", "Ivy", "Jon"]
OUT = Path(__file__).resolve().parent / "callers.xlsx"
FIXED_TIME = dt.datetime(2026, 1, 1)  # so that regenerating gives the same bytes (and SHA-256)


def rows() -> list[list[object]]:
    """Header plus data rows; phones as text cells, as Excel users are told to store them."""
    data: list[list[object]] = []
    for i in range(32):
        number = 6 + i * 4  # 006, 010, ... within 006-159
        phone = f"0491 570 {number:03d}" if i % 2 else f"+61 491 570 {number:03d}"
        data.append([phone, f"C-{1000 + i}", FIRST_NAMES[i % len(FIRST_NAMES)]])
    data.insert(7, ["+61491570010", "C-2001", "Ben"])  # duplicate of row 3 after normalisation
    data.insert(12, [61491570150, "C-2002", "Kim"])  # numeric cell: Excel may have mangled it
    data.insert(18, ["0491 570", "C-2003", "Lou"])  # too short: invalid_phone
    data.insert(24, [None, "C-2004", "Mo"])  # no phone: missing_phone
    return [["Phone", "Caller ID", "First Name"], *data]


def main() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Callers"
    for row in rows():
        sheet.append(row)
    for cell in sheet["A"]:
        cell.number_format = "@"  # the phone column is text
    book.properties.creator = "reconciler example"
    book.properties.created = book.properties.modified = FIXED_TIME
    buffer = io.BytesIO()
    book.save(buffer)
    OUT.write_bytes(_fixed_timestamps(buffer.getvalue()))
    print(f"wrote {OUT}")


def _fixed_timestamps(data: bytes) -> bytes:
    """The same zip with every date set to FIXED_TIME (openpyxl stamps the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps `modified` at save time
                stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, content)
            dst.writestr(fixed, content)
    return out.getvalue()


if __name__ == "__main__":
    main()
