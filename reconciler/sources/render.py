"""Provider upload files: deterministic, streamed CSV rendering in the provider's own format.

Which columns a file has and how each value is written is declared by the provider class
(`Provider.upload_headers` and `Provider.upload_cell`); this module only writes the file.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from reconciler.config.model import AudienceSpec
from reconciler.errors import SourceError
from reconciler.sources.members import Member, UploadFile


def upload_headers(spec: AudienceSpec) -> dict[str, str]:
    """Mapped field -> header used in the rendered upload file for `spec.provider`
    (e.g. {"phone": "phone1", ...}); providers use it for column names and mappings."""
    from reconciler.providers import registry  # the registry imports provider modules, which import us

    return registry.get(spec.provider).upload_headers(spec.columns)


class _Counter:
    """A text sink that only counts the UTF-8 bytes written to it."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text.encode("utf-8"))
        return len(text)


def upload_size(spec: AudienceSpec, members: Iterable[Member]) -> tuple[int, int]:
    """(rows, bytes) of the upload file `render_upload` would write, without writing it."""
    from reconciler.providers import registry

    cls = registry.get(spec.provider)
    headers = cls.upload_headers(spec.columns)
    sink = _Counter()
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(headers.values())
    rows = 0
    for member in members:
        writer.writerow([cls.upload_cell(f, str(getattr(member, f) or "")) for f in headers])
        rows += 1
    return rows, sink.size


def render_upload(spec: AudienceSpec, members: Iterable[Member], dest: Path) -> UploadFile:
    """Write the upload CSV for `spec.provider` to `dest`, in the columns and value format its
    provider class declares."""
    from reconciler.providers import registry

    cls = registry.get(spec.provider)
    headers = cls.upload_headers(spec.columns)
    fields = list(headers)
    cell = cls.upload_cell
    digest = hashlib.sha256()
    rows = 0
    tmp = dest.with_name(dest.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(headers.values())
            for member in members:
                writer.writerow([cell(f, str(getattr(member, f) or "")) for f in fields])
                rows += 1
        os.replace(tmp, dest)
        with open(dest, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SourceError(f"cannot write upload file {dest}: {exc.strerror}") from None
    return UploadFile(
        path=dest, rows=rows, size=dest.stat().st_size, sha256=digest.hexdigest(),
        headers=tuple(headers.values()),
    )
