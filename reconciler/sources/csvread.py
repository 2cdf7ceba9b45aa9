"""Streaming CSV records: encoding, BOM, delimiter sniffing, quoted fields, embedded newlines."""

from __future__ import annotations

import codecs
import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import TextIO

from reconciler.config.model import SourceSpec
from reconciler.errors import Problem, SourceError

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE = 64 * 1024
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def source_error(source: SourceSpec, detail: str, row: int = 0) -> SourceError:
    """A SourceError naming the file (and the row when known)."""
    return SourceError(
        f"cannot read source {source.display}", problems=[Problem(source.display, row, 0, detail)]
    )


def sniff_delimiter(sample: str) -> str:
    """The candidate delimiter occurring most often in the header line (outside quotes); ','."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in sample:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "\r\n":
            break
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _check_encoding(source: SourceSpec) -> None:
    try:
        codecs.lookup(source.encoding)
    except LookupError:
        raise source_error(source, f"unknown encoding {source.encoding!r}") from None


@contextmanager
def _open_text(source: SourceSpec) -> Iterator[TextIO]:
    if source.path.suffix.lower() in (".xls", ".ods", ".numbers"):
        raise source_error(source, "this spreadsheet format is not supported: save it as .xlsx or CSV")
    _check_encoding(source)
    try:
        handle = open(source.path, encoding=source.encoding, newline="")  # noqa: SIM115
    except FileNotFoundError:
        raise source_error(source, "file not found") from None
    except IsADirectoryError:
        raise source_error(source, "is a directory, not a file") from None
    except OSError as exc:
        raise source_error(source, exc.strerror or "cannot open") from None
    try:
        yield handle
    finally:
        handle.close()


def source_delimiter(source: SourceSpec) -> str:
    """The declared delimiter, else the one sniffed from the header line."""
    if source.delimiter:
        return source.delimiter
    with open(source.path, "rb") as raw:
        sample = raw.read(_SAMPLE).decode(source.encoding, errors="replace")
    return sniff_delimiter(sample.lstrip("\ufeff"))


def _decode_error_row(source: SourceSpec, delimiter: str) -> int:
    """Row number of the first record holding bytes that are not valid in the encoding."""
    try:
        with open(source.path, encoding=source.encoding, errors="surrogateescape", newline="") as handle:
            for row, cells in enumerate(csv.reader(handle, delimiter=delimiter, strict=False), start=1):
                if any(_has_surrogate(cell) for cell in cells):
                    return row
    except (OSError, UnicodeError, csv.Error):
        pass
    return 0


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


@contextmanager
def csv_records(
    source: SourceSpec, block_size: int = 5_000
) -> Iterator[tuple[list[str], Iterator[tuple[int, list[list[str]]]]]]:
    """(header, blocks): each block is (row number of its first record, up to `block_size` records).

    The header is row 1; rows count records (not physical lines), blank records included."""
    with _open_text(source) as handle:
        delimiter = source_delimiter(source)
        reader = csv.reader(handle, delimiter=delimiter, strict=False)

        def fail(exc: Exception, row: int) -> SourceError:
            if isinstance(exc, UnicodeDecodeError):
                row = _decode_error_row(source, delimiter) or row
            return source_error(source, _describe(exc, source), row)

        try:
            header = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise fail(exc, 1) from None
        if header is None or not any(cell.strip() for cell in header):
            raise source_error(source, "no header row (the file is empty)", 1)
        if header[0].startswith("\ufeff"):
            header[0] = header[0][1:]

        def blocks() -> Iterator[tuple[int, list[list[str]]]]:
            first = 2
            while True:
                block: list[list[str]] = []
                try:
                    block.extend(islice(reader, block_size))  # keeps what was read before an error
                except (UnicodeDecodeError, csv.Error) as exc:
                    raise fail(exc, first + len(block)) from None
                if not block:
                    return
                yield first, block
                first += len(block)

        yield [cell.strip() for cell in header], blocks()


def _describe(exc: Exception, source: SourceSpec) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid {source.encoding} text (set `encoding:` for this source)"
    return f"malformed CSV: {exc}"
