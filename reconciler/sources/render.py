"""Provider upload files: column naming per provider and deterministic, streamed CSV rendering."""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from reconciler.config.model import AudienceSpec
from reconciler.errors import SourceError
from reconciler.sources.members import Member, UploadFile

_COMMBOX_FIELDS = ("email", "first_name", "last_name")
_WHOP_FIELDS = ("phone", "email", "first_name", "last_name", "country")
_NOT_NAME_CHAR = re.compile(r"[^A-Za-z0-9_]+")


def sanitise_header(name: str, fallback: str) -> str:
    """A column name of letters, digits and '_' only (Smallest's rule)."""
    clean = _NOT_NAME_CHAR.sub("_", name).strip("_")
    return clean or fallback


def upload_headers(spec: AudienceSpec) -> dict[str, str]:
    """Mapped field -> header used in the rendered upload file for `spec.provider`
    (e.g. CommBox {"phone": "phone1", ...}); providers use it for column names and mappings."""
    mapped = spec.columns
    if spec.provider == "commbox":
        headers = {"phone": "phone1"} if "phone" in mapped else {}
        headers.update({f: f for f in _COMMBOX_FIELDS if f in mapped})
        return headers
    if spec.provider == "smallest":
        headers = {}
        if "phone" in mapped:
            headers["phone"] = sanitise_header(mapped["phone"], "phone")
        if "identifier" in mapped:
            name = sanitise_header(mapped["identifier"], "identifier")
            if name in headers.values():
                name = "identifier" if "identifier" not in headers.values() else f"{name}_id"
            headers["identifier"] = name
        return headers
    return {f: f for f in _WHOP_FIELDS if f in mapped}


def _value(member: Member, fieldname: str, provider: str) -> str:
    value = getattr(member, fieldname) or ""
    if fieldname == "phone" and provider == "commbox":
        return value.lstrip("+")
    return str(value)


def render_upload(spec: AudienceSpec, members: Iterable[Member], dest: Path) -> UploadFile:
    """Write the upload CSV for `spec.provider` to `dest` (CommBox `phone1`; Smallest the declared
    phone header; Whop headers matching its column_mapping)."""
    headers = upload_headers(spec)
    fields = list(headers)
    digest = hashlib.sha256()
    rows = 0
    tmp = dest.with_name(dest.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(headers.values())
            for member in members:
                writer.writerow([_value(member, f, spec.provider) for f in fields])
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
