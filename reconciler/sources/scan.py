"""Streaming scan of a source: read, normalise, validate, de-duplicate, fingerprint.

The public functions of the sources package; the work lives in sibling modules (csvread,
xlsxread, records, phones, normalise, parallel, render)."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn

import numpy as np

from reconciler.config.model import AudienceSpec, QuerySpec, SourceSpec
from reconciler.errors import SourceError
from reconciler.sources import parallel
from reconciler.sources.csvread import source_delimiter, source_error
from reconciler.sources.heap import return_large_blocks
from reconciler.sources.members import Member, MemberSet, RowIssue, SourceScan
from reconciler.sources.normalise import (
    RowRules,
    fingerprint,
    fingerprint_values,
    normalise_row,
    normalise_values,
)
from reconciler.sources.parallel import map_chunks
from reconciler.sources.query import result_digest, row_hash
from reconciler.sources.ranges import RangePlan, file_facts, plan_ranges, read_span
from reconciler.sources.records import Block, Indexes, block_rows, read_headers, source_blocks
from reconciler.sources.render import render_upload, upload_headers
from reconciler.sources.seen import TagSet, identity_tags, new_tag_key

__all__ = [
    "fingerprint",
    "iter_members",
    "read_headers",
    "render_upload",
    "scan_source",
    "upload_headers",
    "write_rejects",
]


RANGE_BYTES = 1 << 19  # a span of about 512 KB: ~5,000-10,000 rows
MEMBER_RANGE_BYTES = 1 << 17  # iter_members' spans come back as Member objects: keep them small
RANGE_MIN_BYTES = 4 << 20  # smaller files stream through the one reader


@dataclass
class _Chunk:
    """What a worker returns for one chunk: fingerprints of its valid rows and its issues."""

    ids: np.ndarray
    attrs: np.ndarray
    rows: int
    issues: list[RowIssue] = field(default_factory=list)
    records: int = 0  # records in the block, blank ones included
    hashes: np.ndarray | None = None  # unkeyed hash of each valid row (`RowRules.row_hashes`)


def _rules(spec: AudienceSpec) -> RowRules:
    from reconciler.providers import registry  # provider modules import this package
    from reconciler.providers.base import Identity

    return RowRules(
        headers=dict(spec.columns),
        default_region=spec.phone_region,
        phone_required=registry.get(spec.provider).identity is Identity.PHONE,
        row_hashes=isinstance(spec.source, QuerySpec),
    )


def _scan_chunk(context: tuple[RowRules, Indexes, bytes], block: Block) -> _Chunk:
    rules, indexes, key = context
    ids: list[int] = []
    attrs: list[int] = []
    issues: list[RowIssue] = []
    hashes: list[int] | None = [] if rules.row_hashes else None
    rows = 0
    for row in block_rows(block, indexes):
        rows += 1
        result = normalise_values(row, rules)
        if isinstance(result, RowIssue):
            issues.append(result)
        else:
            ident, attr = fingerprint_values(result, key)
            ids.append(ident)
            attrs.append(attr)
            if hashes is not None:
                hashes.append(row_hash(result))
    records = len(block[1])
    chunk = _Chunk(np.array(ids, dtype=np.uint64), np.array(attrs, dtype=np.uint32), rows, issues, records)
    if hashes is not None:
        chunk.hashes = np.array(hashes, dtype=np.uint64)
    return chunk


def _scan_span(context: tuple[RowRules, Indexes, bytes, RangePlan], span: tuple[int, int]) -> _Chunk | None:
    """`_scan_chunk` of a byte span the worker reads itself; row numbers relative to the span
    (0 = its first record). None when the span does not decode or parse."""
    records = read_span(context[3], span)
    return None if records is None else _scan_chunk(context[:3], (0, records, None))


def _members_chunk(context: tuple[RowRules, Indexes, bytes], block: Block) -> tuple[list[Member], np.ndarray]:
    """The chunk's valid members and the 64-bit identity tag of each (see `seen.identity_tags`)."""
    rules, indexes, tag_key = context
    results = (normalise_row(row, rules) for row in block_rows(block, indexes))
    members = [m for m in results if isinstance(m, Member)]
    return members, identity_tags([m.identity() for m in members], tag_key)


def _members_span(
    context: tuple[RowRules, Indexes, bytes, RangePlan], span: tuple[int, int]
) -> tuple[list[Member], np.ndarray] | None:
    """`_members_chunk` of a byte span the worker reads itself; None when it does not parse."""
    records = read_span(context[3], span)
    return None if records is None else _members_chunk(context[:3], (0, records, None))


def _file_facts(spec: AudienceSpec) -> tuple[str, bool]:
    """(SHA-256 of the source, whether its lines are its records: see `ranges.file_facts`).

    A query source has no bytes to hash (its digest is its result's: `result_digest`)."""
    if isinstance(spec.source, QuerySpec):
        return "", False
    try:
        return file_facts(str(spec.source.path))
    except FileNotFoundError:
        raise source_error(spec.source, "file not found") from None
    except IsADirectoryError:
        raise source_error(spec.source, "is a directory, not a file") from None
    except OSError as exc:
        raise source_error(spec.source, exc.strerror or "cannot read") from None


def _range_plan(spec: AudienceSpec, simple: bool, workers: int, span_bytes: int) -> RangePlan | None:
    """Byte spans for the workers to read themselves, when the file is large and simple enough."""
    source = spec.source
    if not simple or isinstance(source, QuerySpec) or source.is_excel or workers <= 1:
        return None
    if source.path.stat().st_size < RANGE_MIN_BYTES:
        return None
    return plan_ranges(str(source.path), source.encoding, source_delimiter(source), span_bytes)


def _raise_read_error(blocks: Iterator[Block], spec: AudienceSpec) -> NoReturn:
    """A span failed to decode or parse: the streaming reader finds and words the error."""
    for _ in blocks:
        pass
    assert isinstance(spec.source, SourceSpec)  # only files are read by spans
    raise source_error(spec.source, "the file changed while it was being read")


def scan_source(
    spec: AudienceSpec,
    key: bytes,
    *,
    workers: int | None = None,
    facts: tuple[str, bool] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SourceScan:
    """Read `spec.source` once, streaming: row counts, masked issues, duplicates, `MemberSet`.

    Sources over `parallel.INLINE_ROWS` rows are normalised on `workers` processes (default: one
    per CPU); smaller ones inline. `facts`: the source's `ranges.file_facts` when the caller has
    just hashed it (not hashed again). `progress(rows)` is called with the rows read so far as
    they come in. SourceError when the source cannot be read at all."""
    return_large_blocks()
    sha256, simple = facts or _file_facts(spec)
    scan = SourceScan(audience=spec.key, source=spec.source.display, sha256=sha256)
    id_parts: list[np.ndarray] = []
    attr_parts: list[np.ndarray] = []
    reasons: Counter[str] = Counter()
    hash_parts: list[np.ndarray] = []
    workers = parallel.default_workers() if workers is None else workers
    with source_blocks(spec, parallel.CHUNK_ROWS) as (indexes, blocks):
        context = (_rules(spec), indexes, key)
        plan = _range_plan(spec, simple, workers, RANGE_BYTES)
        parts: Iterator[_Chunk | None]
        if plan is None:
            parts = map_chunks(_scan_chunk, context, blocks, workers)
        else:
            parts = map_chunks(_scan_span, (*context, plan), iter(plan.spans), workers)
        next_row = 2  # the span results' row numbers count from their span's first record
        for part in parts:
            if part is None:
                _raise_read_error(blocks, spec)
            if plan is not None:
                part.issues = [replace(issue, row=issue.row + next_row) for issue in part.issues]
                next_row += part.records
            scan.rows_read += part.rows
            if progress is not None:
                progress(scan.rows_read)
            id_parts.append(part.ids)
            attr_parts.append(part.attrs)
            if part.hashes is not None:
                hash_parts.append(part.hashes)
            scan.issues.extend(part.issues)
            reasons.update(issue.reason for issue in part.issues)
    scan.valid = sum(int(part.shape[0]) for part in id_parts)
    scan.invalid = dict(sorted(reasons.items()))
    scan.members, scan.duplicates, scan.conflicting_duplicates = _first_occurrences(id_parts, attr_parts)
    if isinstance(spec.source, QuerySpec):
        scan.sha256 = result_digest(scan, hash_parts)
    return scan


def _first_occurrences(
    id_parts: list[np.ndarray], attr_parts: list[np.ndarray]
) -> tuple[MemberSet, int, int]:
    """(set of each identity's first occurrence, duplicates dropped, of those with other attributes).

    Empties the lists it is given (memory: the parts go as soon as they are joined). One stable
    sort: within a run of equal identities, the first is the earliest row."""
    ids = np.concatenate(id_parts) if id_parts else np.empty(0, np.uint64)
    id_parts.clear()
    order = np.argsort(ids, kind="stable")
    attrs = np.concatenate(attr_parts)[order] if attr_parts else np.empty(0, np.uint32)
    attr_parts.clear()
    del order
    ids.sort()  # in place, as ids[order] would be (equal ids are indistinguishable)
    first = np.ones(ids.shape[0], dtype=bool)
    np.not_equal(ids[1:], ids[:-1], out=first[1:])
    if first.all():  # no repeated identity: the arrays are the set as they are
        return MemberSet.from_sorted(ids, attrs), 0, 0
    unique, unique_attrs = ids[first], attrs[first]
    duplicates = int(ids.shape[0] - unique.shape[0])
    conflicting = 0
    if duplicates:
        group = np.cumsum(first) - 1  # index in `unique` of each sorted row's identity
        conflicting = int(np.count_nonzero(attrs != unique_attrs[group]))  # first rows never differ
    return MemberSet.from_sorted(unique, unique_attrs), duplicates, conflicting


def iter_members(spec: AudienceSpec, *, workers: int | None = None) -> Iterator[Member]:
    """Valid, de-duplicated members in source order, normalised exactly as `scan_source` does.

    Memory stays flat in the member count: the identities seen so far are kept as sorted 64-bit
    tags (`seen.TagSet`, 8 bytes a member), checked a block at a time."""
    return_large_blocks()
    seen = TagSet()
    workers = parallel.default_workers() if workers is None else workers
    _, simple = _file_facts(spec)
    with source_blocks(spec, parallel.CHUNK_ROWS) as (indexes, blocks):
        context = (_rules(spec), indexes, new_tag_key())
        plan = _range_plan(spec, simple, workers, MEMBER_RANGE_BYTES)
        parts: Iterator[tuple[list[Member], np.ndarray] | None]
        if plan is None:
            parts = map_chunks(_members_chunk, context, blocks, workers)
        else:
            parts = map_chunks(_members_span, (*context, plan), iter(plan.spans), workers)
        for part in parts:
            if part is None:
                _raise_read_error(blocks, spec)
            members, tags = part
            for index in seen.first_new(tags).tolist():
                yield members[index]


def write_rejects(scan: SourceScan, dest: Path) -> None:
    """Write `scan.issues` as CSV (row, reason, column, masked value)."""
    try:
        with open(dest, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["row", "reason", "column", "masked_value"])
            for issue in sorted(scan.issues, key=lambda i: i.row):
                writer.writerow([issue.row, issue.reason, issue.column or "", issue.masked])
    except OSError as exc:
        raise SourceError(f"cannot write rejects file {dest}: {exc.strerror}") from None
