"""What state records of an applied audience besides its members: the settings record (what the
provider sees of it), that record's digest, and the effective provider settings. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from reconciler.config.model import AudienceSpec, Declaration
from reconciler.providers import registry
from reconciler.sources.members import MemberSet
from reconciler.state.store import AudienceState, utcnow_iso


def provider_settings(declaration: Declaration, provider: str) -> dict[str, object]:
    """The effective settings of `provider` (environment defaults were applied at load)."""
    return dict(declaration.providers.get(provider) or {})


def settings_record(spec: AudienceSpec, settings: Mapping[str, object]) -> dict[str, Any]:
    """What the provider sees of an audience besides its members (canonical, JSON-able, no PII)."""
    cls = registry.get(spec.provider)
    return {
        "provider": spec.provider,
        "name": spec.name,
        "description": spec.description if "description" in cls.audience_options else None,
        "columns": dict(sorted(cls.upload_headers(spec.columns).items())),
        "settings": {k: settings[k] for k in cls.relevant_settings() if settings.get(k) is not None},
    }


def settings_digest(spec: AudienceSpec, settings: Mapping[str, object]) -> str:
    """The digest of `settings_record`; the executor records it after apply."""
    return record_digest(settings_record(spec, settings))


def record_digest(record: Mapping[str, Any]) -> str:
    """sha256 of a settings record's canonical JSON."""
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def applied_extra(spec: AudienceSpec, settings: Mapping[str, object]) -> dict[str, Any]:
    """What the executor stores in `AudienceState.extra` so later plans can explain changes."""
    return {"protect": spec.protect, "settings": settings_record(spec, settings)}


def applied_entry(
    spec: AudienceSpec,
    settings: Mapping[str, object],
    provider_id: str,
    members: MemberSet | None,
    *,
    source_sha256: str = "",
    member_count: int | None = None,
    applied_at: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> AudienceState:
    """The state entry recording that `spec` is applied as `provider_id` with `members` (None: the
    members are unknown, recorded as an empty digest and `member_count`). The one builder of state
    entries: the executor, import and the tests' helpers all use it."""
    return AudienceState(
        key=spec.key,
        provider=spec.provider,
        provider_id=provider_id,
        name=spec.name,
        settings_digest=settings_digest(spec, settings),
        member_digest=members.digest() if members is not None else "",
        member_count=len(members) if members is not None else (member_count or 0),
        source_sha256=source_sha256,
        applied_at=applied_at or utcnow_iso(),
        extra={**applied_extra(spec, settings), **(extra or {})},
    )
