"""Open a source (CSV or .xlsx) and stream its mapped cells as `RawRow`s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.errors import Problem, SourceError
from reconciler.model import AudienceSpec, SourceSpec
from reconciler.sources.csvread import csv_records, source_error
from reconciler.sources.normalise import FIELDS, RawRow
from reconciler.sources.xlsxread import xlsx_records


def read_headers(source: SourceSpec) -> list[str]:
    """The header row of a source (BOM stripped, delimiter sniffed); SourceError if unreadable."""
    opener = xlsx_records if source.is_excel else csv_records
    with opener(source) as (header, _):
        return header


def column_indexes(spec: AudienceSpec, header: list[str]) -> list[int | None]:
    """Index in `header` of each of FIELDS (None when unmapped); SourceError for missing headers."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(name, index)
    missing = [h for h in spec.columns.values() if h not in positions]
    if missing:
        found = ", ".join(repr(h) for h in header if h) or "none"
        problems = [
            Problem(spec.source.display, 1, 0, f"no column {h!r} (mapped in audience {spec.key!r})")
            for h in missing
        ]
        raise SourceError(
            f"source {spec.source.display} lacks mapped columns; its header has: {found}",
            problems=problems,
        )
    return [positions[spec.columns[f]] if f in spec.columns else None for f in FIELDS]


@contextmanager
def raw_rows(spec: AudienceSpec) -> Iterator[Iterator[RawRow]]:
    """Every non-blank record of `spec.source` as (row, mapped cells in FIELDS order, numeric)."""
    source = spec.source
    if source.is_excel:
        with xlsx_records(source) as (header, records):
            indexes = column_indexes(spec, header)
            phone = indexes[0]

            def sheet_rows() -> Iterator[RawRow]:
                for row, cells, numeric in records:
                    yield row, _pick(cells, indexes), phone is not None and phone in numeric

            yield sheet_rows()
    else:
        with csv_records(source) as (header, lines):
            yield _csv_rows(lines, column_indexes(spec, header))


def _pick(cells: list[str], indexes: list[int | None]) -> tuple[str | None, ...]:
    width = len(cells)
    return tuple(None if i is None else (cells[i] if i < width else "") for i in indexes)


def _csv_rows(records: Iterator[tuple[int, list[str]]], indexes: list[int | None]) -> Iterator[RawRow]:
    needed = max((i for i in indexes if i is not None), default=-1) + 1
    mapped = [(slot, i) for slot, i in enumerate(indexes) if i is not None]
    template: list[str | None] = [None] * len(FIELDS)
    for row, cells in records:
        if len(cells) < needed:
            cells = cells + [""] * (needed - len(cells))
        out = template.copy()
        for slot, i in mapped:
            out[slot] = cells[i]
        yield row, tuple(out), False


__all__ = ["column_indexes", "raw_rows", "read_headers", "source_error"]
