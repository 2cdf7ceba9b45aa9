"""Open a source (CSV or .xlsx) and stream its records in blocks; turn blocks into `RawRow`s.

Reading happens in one process; `block_rows` (pure) runs wherever the rows are normalised, so the
reader only parses records and never builds per-row objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from operator import itemgetter

from reconciler.config.model import AudienceSpec, QuerySpec, SourceSpec
from reconciler.errors import Problem, SourceError
from reconciler.masking import header_listing, shown_header
from reconciler.sources.csvread import csv_records
from reconciler.sources.normalise import FIELDS, RawRow
from reconciler.sources.query import QueryBlock, query_column_indexes, query_records
from reconciler.sources.xlsxread import xlsx_records

# (row number of the first record, records, per record: phone cell was a number in a sheet or a
# numeric result column). A query's records hold None for NULL, which every step reads as ''.
Block = tuple[int, Sequence[Sequence[str | None]], list[bool] | None]
# index of each of FIELDS in a record (None: unmapped)
Indexes = tuple[int | None, ...]


def read_headers(source: SourceSpec) -> list[str]:
    """The header row of a source (BOM stripped, delimiter sniffed); SourceError if unreadable."""
    opener = xlsx_records if source.is_excel else csv_records
    with opener(source) as (header, _):
        return header


def column_indexes(spec: AudienceSpec, header: list[str]) -> Indexes:
    """Index in `header` of each of FIELDS (None when unmapped); SourceError for missing headers
    and for a mapped header that names more than one column (which one holds the field?)."""
    positions: dict[str, int] = {}
    repeated: set[str] = set()
    for index, name in enumerate(header):
        if name in positions:
            repeated.add(name)
        positions.setdefault(name, index)
    display = spec.source.display
    missing = [h for h in spec.columns.values() if h not in positions]
    if missing:
        problems = [
            Problem(display, 1, 0, f"no column '{shown_header(h)}' (mapped in audience '{spec.key}')")
            for h in missing
        ]
        raise SourceError(
            f"source {display} lacks mapped columns; its header has: {header_listing(header)}",
            problems=problems,
        )
    twice = [h for h in dict.fromkeys(spec.columns.values()) if h in repeated]
    if twice:
        problems = [
            Problem(display, 1, 0, f"the header names column '{shown_header(h)}' {header.count(h)} times "
                    f"(mapped in audience '{spec.key}'): rename all but one so the column to read is clear")
            for h in twice
        ]
        raise SourceError(f"source {display} has duplicate headers", problems=problems)
    return tuple(positions[spec.columns[f]] if f in spec.columns else None for f in FIELDS)


@contextmanager
def source_blocks(spec: AudienceSpec, block_size: int) -> Iterator[tuple[Indexes, Iterator[Block]]]:
    """(column indexes, blocks of records) of `spec.source`; SourceError when unreadable."""
    source = spec.source
    if isinstance(source, QuerySpec):
        with query_records(spec, block_size) as (header, numeric, rows):
            indexes = query_column_indexes(spec, header, FIELDS)
            phone = indexes[0]
            yield indexes, _query_blocks(rows, phone if phone in numeric else None)
    elif source.is_excel:
        with xlsx_records(source) as (header, records):
            indexes = column_indexes(spec, header)
            yield indexes, _sheet_blocks(records, indexes[0], block_size)
    else:
        with csv_records(source, block_size) as (header, blocks):
            indexes = column_indexes(spec, header)
            yield indexes, ((first, records, None) for first, records in blocks)


def _sheet_blocks(
    records: Iterator[tuple[int, list[str], frozenset[int]]], phone: int | None, size: int
) -> Iterator[Block]:
    while batch := list(islice(records, size)):
        numeric = [phone is not None and phone in flags for _, _, flags in batch]
        yield batch[0][0], [cells for _, cells, _ in batch], numeric


def _query_blocks(blocks: Iterator[QueryBlock], numeric_phone: int | None) -> Iterator[Block]:
    """A query's blocks; when the phone column is numeric, each non-NULL phone is a numeric cell."""
    for first, rows in blocks:
        numeric = None if numeric_phone is None else [row[numeric_phone] is not None for row in rows]
        yield first, rows, numeric


def block_rows(block: Block, indexes: Indexes) -> Iterator[RawRow]:
    """The non-blank records of a block as (row number, mapped cells in FIELDS order, numeric)."""
    first, records, numeric = block
    needed = max((i for i in indexes if i is not None), default=-1) + 1
    # each record gets a trailing None, which the unmapped fields pick (index -1)
    pick = itemgetter(*(-1 if i is None else i for i in indexes))
    for offset, cells in enumerate(records):
        if not any(cells):  # blank line, or only delimiters (",,,," from spreadsheets)
            continue
        missing = needed - len(cells)
        padded: list[str | None] = [*cells, *[""] * missing] if missing > 0 else [*cells]
        padded.append(None)
        yield first + offset, pick(padded), bool(numeric and numeric[offset])
