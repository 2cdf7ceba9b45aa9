"""Provider limits (members per audience, bytes per upload), checked offline by validate and plan
with the same messages. The limits come from the provider class (`Provider.limits`)."""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.config.model import AudienceSpec
from reconciler.errors import Problem, SourceError
from reconciler.providers import registry
from reconciler.sources import iter_members
from reconciler.sources.render import upload_size


@dataclass
class Upload:
    """The upload file the provider would receive, measured where the provider has limits."""

    bytes: int
    members: int
    max_bytes: int | None
    max_members: int | None


def measure_upload(spec: AudienceSpec) -> Upload | None:
    """The upload file of `spec` measured (rendered to nowhere), or None when its provider has no
    limit. Raises SourceError when the source cannot be read."""
    limits = registry.get(spec.provider).limits
    if limits.max_members is None and limits.max_upload_bytes is None:
        return None
    rows, size = upload_size(spec, iter_members(spec))
    return Upload(size, rows, limits.max_upload_bytes, limits.max_members)


def limit_problems(spec: AudienceSpec, upload: Upload) -> list[Problem]:
    """One problem per limit `upload` exceeds, located at the audience's key."""
    where = spec.location
    file, line, col = (where.file, where.line, where.col) if where else ("", 0, 0)
    title = registry.title(spec.provider)
    found = []
    if upload.max_members is not None and upload.members > upload.max_members:
        found.append(Problem(file, line, col, f"audience '{spec.key}' would have {upload.members:,} members; "
                             f"{title} allows at most {upload.max_members:,}: split the source"))
    if upload.max_bytes is not None and upload.bytes > upload.max_bytes:
        found.append(Problem(file, line, col, f"audience '{spec.key}' upload file would be {upload.bytes:,} "
                             f"bytes; {title} accepts at most {upload.max_bytes:,}: map fewer columns "
                             "or split the source"))
    return found


def check_limits(specs: list[AudienceSpec]) -> list[Problem]:
    """Every limit problem of `specs` (an unreadable source is reported by its scan, not here)."""
    problems: list[Problem] = []
    for spec in specs:
        try:
            upload = measure_upload(spec)
        except SourceError:
            continue
        if upload is not None:
            problems += limit_problems(spec, upload)
    return problems
