"""Source files -> normalised, validated, de-duplicated members. Public API of the package.

Contract (other modules rely on exactly these names). Internals, one job each: csvread/xlsxread
(streaming records), records (blocks of records -> mapped cells), phones (E.164), normalise (row
validation, fingerprints), parallel (process pool), render (upload files), scan (this API).

- `scan_source(spec, key)` streams a source once and returns a `SourceScan`: row statistics, every
  invalid row (masked), and the audience's `MemberSet` of keyed fingerprints and its digest.
- `iter_members(spec)` streams the valid, de-duplicated members in source order (first occurrence
  wins), normalised exactly as `scan_source` does; used to render upload files at apply time.
- `render_upload(spec, members, dest)` writes the upload CSV for `spec.provider` to `dest`
  deterministically and streaming, returning an `UploadFile`.
- `write_rejects(scan, dest)` writes a scan's invalid rows (masked) as CSV.
- `read_headers(source)` is the header row, for the declaration's column checks.
- `upload_headers(spec)` names the upload file's columns per mapped field.
- `fingerprint(member, key)` is the (identity, attributes) fingerprint pair of one member.
"""

from reconciler.sources.members import Member, MemberSet, RowIssue, SourceScan, UploadFile
from reconciler.sources.scan import (
    fingerprint,
    iter_members,
    read_headers,
    render_upload,
    scan_source,
    upload_headers,
    write_rejects,
)

__all__ = [
    "Member",
    "MemberSet",
    "RowIssue",
    "SourceScan",
    "UploadFile",
    "fingerprint",
    "iter_members",
    "read_headers",
    "render_upload",
    "scan_source",
    "upload_headers",
    "write_rejects",
]
