"""Streaming CSV records: encoding, BOM, delimiter sniffing, quoted fields, embedded newlines.

A file is read exactly or not at all: an unclosed or unbalanced quote, a record with more or fewer
fields than the header, and a cell over `limits.MAX_CELL_CHARS` are errors naming the line where
the problem starts (never a guess: merging rows or padding a short one would change members).
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import TextIO

from reconciler.config.model import SourceSpec
from reconciler.errors import Problem, SourceError
from reconciler.masking import shown_text
from reconciler.sources.limits import MAX_CELL_CHARS

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE = 64 * 1024
_BREAK = re.compile(r"\r\n|\r|\n")
_BOMS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
}


def source_error(source: SourceSpec, detail: str, line: int = 0) -> SourceError:
    """A SourceError naming the file (and the line when known)."""
    return SourceError(
        f"cannot read source {source.display}", problems=[Problem(source.display, line, 0, detail)]
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


def encoding_problem(name: str) -> str | None:
    """Why `name` cannot be a source's encoding (unknown, or not a text encoding), else None."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return f"unknown encoding '{shown_text(name)}'; use a text encoding such as utf-8 or cp1252"
    if not getattr(info, "_is_text_encoding", True):
        return (f"'{shown_text(name)}' is not a text encoding (it transforms bytes or text, like "
                "base64 or rot13); use a text encoding such as utf-8 or cp1252")
    return None


def _check_encoding(source: SourceSpec) -> None:
    problem = encoding_problem(source.encoding)
    if problem:
        raise source_error(source, problem)


def _check_bom(source: SourceSpec, head: bytes) -> None:
    """UTF-16 and UTF-32 without a byte order say nothing about it: the file must start with a BOM."""
    name = codecs.lookup(source.encoding).name
    boms = _BOMS.get(name)
    if boms and head and not head.startswith(boms):
        raise source_error(source, f"declared '{source.encoding}' but the file does not start with a "
                           f"byte-order mark; declare {name}-le or {name}-be", 1)


@contextmanager
def _open_text(source: SourceSpec) -> Iterator[TextIO]:
    if source.path.suffix.lower() in (".xls", ".ods", ".numbers"):
        raise source_error(source, "this spreadsheet format is not supported: save it as .xlsx or CSV")
    _check_encoding(source)
    try:
        with open(source.path, "rb") as raw:
            _check_bom(source, raw.read(4))
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
        sample = raw.read(_SAMPLE)
    try:
        text = sample.decode(source.encoding, errors="replace")
    except (UnicodeError, LookupError, ValueError, TypeError):
        return ","  # the reader words the error
    return sniff_delimiter(text.lstrip("\ufeff"))


def _records(source: SourceSpec, delimiter: str) -> Iterator[tuple[int, int, list[str]]]:
    """(row, line where the record starts, cells) of every record, leniently (errors path only)."""
    with open(source.path, encoding=source.encoding, errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=False)
        line = 1
        for row, cells in enumerate(reader, start=1):
            yield row, line, cells
            line = reader.line_num + 1


def record_line(source: SourceSpec, delimiter: str, row: int) -> int:
    """The line where record `row` starts (0 when it cannot be found)."""
    if row <= 1:
        return 1
    try:
        with open(source.path, encoding=source.encoding, errors="surrogateescape", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=False)
            for number, _ in enumerate(reader, start=1):
                if number == row - 1:
                    return reader.line_num + 1
    except (OSError, UnicodeError, csv.Error):
        return 0
    return 0


def _decode_error_line(source: SourceSpec, delimiter: str) -> int:
    """Line of the first record holding bytes that are not valid in the encoding."""
    try:
        for _, line, cells in _records(source, delimiter):
            if any(_has_surrogate(cell) for cell in cells):
                return line
    except (OSError, UnicodeError, csv.Error):
        pass
    return 0


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def quote_trouble(text: str, delimiter: str) -> tuple[int, int] | None:
    """For `text` starting where a record starts: (offset of the '"' that opens the broken quoted
    field, offset of the text after its closing '"', or -1 when it never closes); None when the
    record's quotes are well formed."""
    stop = re.compile("[" + re.escape(delimiter) + "\r\n]")
    pos, size = 0, len(text)
    while pos < size:
        if text[pos] == '"':
            opened, pos = pos, pos + 1
            while True:
                close = text.find('"', pos)
                if close < 0:
                    return opened, -1
                if text.startswith('"', close + 1):  # a doubled quote inside the field
                    pos = close + 2
                    continue
                pos = close + 1
                break
            if pos < size and text[pos] != delimiter and text[pos] not in "\r\n":
                return opened, pos
        found = stop.search(text, pos)
        if found is None or found.group() != delimiter:
            return None  # the record ends
        pos = found.end()
    return None


def _quote_lines(source: SourceSpec, delimiter: str, start: int) -> tuple[int, int] | None:
    """(line where the broken quoted field opens, line of the text after its closing quote or 0)
    for the record starting on line `start`."""
    try:
        with open(source.path, encoding=source.encoding, errors="replace", newline="") as handle:
            for _ in islice(handle, start - 1):
                pass
            text = handle.read()
    except (OSError, UnicodeError):
        return None
    found = quote_trouble(text, delimiter)
    if found is None:
        return None
    opened, after = found

    def line_at(offset: int) -> int:
        return start + len(_BREAK.findall(text, 0, offset))

    return line_at(opened), (line_at(after) if after >= 0 else 0)


def _csv_problem(source: SourceSpec, delimiter: str, exc: Exception, row: int) -> SourceError:
    """The error of a record the strict reader refused, located at the line where it starts."""
    if isinstance(exc, UnicodeError):
        line = _decode_error_line(source, delimiter) or record_line(source, delimiter, row)
        detail = f"not valid {source.encoding} text (set `encoding:` for this source)"
        return source_error(source, detail, line)
    start = record_line(source, delimiter, row)
    quotes = _quote_lines(source, delimiter, start) if start else None
    text = str(exc)
    if quotes and quotes[1] == 0:
        return source_error(source, "a quoted field opens here and is never closed: every '\"' that starts "
                            "a field needs its closing '\"' (the rest of the file would be read as one cell)",
                            quotes[0])
    if quotes:
        return source_error(source, f"a quoted field opens here and has text after its closing '\"' "
                            f"on line {quotes[1]}: close every quoted field, and double a '\"' inside "
                            "one (\"\")", quotes[0])
    if "field limit" in text:
        return source_error(source, f"a cell longer than {MAX_CELL_CHARS:,} characters (the most a "
                            "spreadsheet cell holds); is a quote or a line break missing?", start)
    return source_error(source, f"malformed CSV ({shown_text(text)})", start)


def _width_error(source: SourceSpec, delimiter: str, row: int, fields: int, width: int) -> SourceError:
    line = record_line(source, delimiter, row) or row
    where = "" if line == row else f" (row {row})"
    shown = "a tab" if delimiter == "\t" else f"'{delimiter}'"
    plural = "" if fields == 1 else "s"
    return source_error(
        source, f"this row{where} has {fields} field{plural} but the header has {width}: every row needs "
        f"exactly one field per header column (put a field holding {shown} in double quotes)", line)


@contextmanager
def csv_records(
    source: SourceSpec, block_size: int = 5_000
) -> Iterator[tuple[list[str], Iterator[tuple[int, list[list[str]]]]]]:
    """(header, blocks): each block is (row number of its first record, up to `block_size` records).

    The header is row 1; rows count records (not physical lines), blank records included. Every
    non-blank record has exactly the header's number of fields (else SourceError)."""
    with _open_text(source) as handle:
        delimiter = source_delimiter(source)
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        try:
            header = next(reader, None)
        except (UnicodeError, csv.Error) as exc:
            raise _csv_problem(source, delimiter, exc, 1) from None
        if header is None or not any(cell.strip() for cell in header):
            raise source_error(source, "no header row (the file is empty)", 1)
        if header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        width = len(header)

        def blocks() -> Iterator[tuple[int, list[list[str]]]]:
            first = 2
            while True:
                block: list[list[str]] = []
                try:
                    block.extend(islice(reader, block_size))  # keeps what was read before an error
                except (UnicodeError, csv.Error) as exc:
                    raise _csv_problem(source, delimiter, exc, first + len(block)) from None
                if not block:
                    return
                if set(map(len, block)) - {width, 0}:
                    for offset, cells in enumerate(block):
                        if len(cells) != width and any(cells):
                            raise _width_error(source, delimiter, first + offset, len(cells), width)
                yield first, block
                first += len(block)

        yield [cell.strip() for cell in header], blocks()
