"""Split a large, simple CSV into byte ranges that workers read and parse themselves.

The reading process then never parses nor pickles rows: it reads the file once (for its SHA-256,
which it needs anyway) and checks that every line break is a record boundary. That holds when the
file has no quote character (so no field spans lines), no lone carriage return, and an encoding
in which byte 0x0A is always a line feed. Any other file, or any range that fails to decode or
parse, or holds a record with another number of fields than the header, goes through the
streaming reader (`csvread`), which also words the errors. The csv module's field limit
(`limits.MAX_CELL_CHARS`) holds in the workers too.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass

from reconciler.sources import limits  # noqa: F401  (sets the csv module's cell limit)

# encodings (codecs' canonical names) in which every byte below 0x80 is that ASCII character
_ASCII_SAFE = frozenset({
    "utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "iso8859-15", "cp1252", "cp1250", "cp1251",
})
_READ = 1 << 22


@dataclass(frozen=True)
class RangePlan:
    """How to read a file by ranges: the byte spans of its data records, after the header line."""

    path: str
    encoding: str  # for decoding a range (never with a BOM-stripping codec)
    delimiter: str
    spans: tuple[tuple[int, int], ...]
    fields: int  # the header's number of fields: every non-blank record has as many


def file_facts(path: str) -> tuple[str, bool]:
    """(SHA-256 hex of the file, True when no byte is '"' and every CR is followed by LF)."""
    digest = hashlib.sha256()
    simple = True
    carry = b""
    with open(path, "rb") as handle:
        while block := handle.read(_READ):
            digest.update(block)
            if simple:
                text = carry + block
                carry = text[-1:] if text.endswith(b"\r") else b""
                body = text[:-1] if carry else text
                simple = b'"' not in body and body.count(b"\r") == body.count(b"\r\n")
    if carry:  # the file ends in a lone CR
        simple = False
    return digest.hexdigest(), simple


def plan_ranges(path: str, encoding: str, delimiter: str, span_bytes: int) -> RangePlan | None:
    """Spans of about `span_bytes` each, cut just after a line feed, covering the records after
    the header line; None when the encoding is not ASCII-safe or the file has no data lines."""
    name = codecs.lookup(encoding).name
    if name not in _ASCII_SAFE:
        return None
    spans: list[tuple[int, int]] = []
    with open(path, "rb") as handle:
        header = handle.readline()
        start = len(header)
        if not header.endswith(b"\n"):
            return None
        size = handle.seek(0, io.SEEK_END)
        while start < size:
            handle.seek(min(size, start + span_bytes))
            end = handle.tell()
            if end < size:
                end += len(handle.readline())
            spans.append((start, end))
            start = end
    if not spans:
        return None
    try:
        fields = len(next(csv.reader([header.decode(name).rstrip("\r\n")], delimiter=delimiter)))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return RangePlan(path, "utf-8" if name == "utf-8-sig" else name, delimiter, tuple(spans), fields)


def read_span(plan: RangePlan, span: tuple[int, int]) -> list[list[str]] | None:
    """The records of one span, or None when it does not decode or parse, or a non-blank record
    has another number of fields than the header (the caller falls back to word the error)."""
    start, end = span
    with open(plan.path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    try:
        text = data.decode(plan.encoding)
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=plan.delimiter, strict=True))
    except (UnicodeDecodeError, csv.Error):
        return None
    if set(map(len, records)) - {plan.fields, 0} and any(
        len(cells) != plan.fields and any(cells) for cells in records
    ):
        return None
    return records
