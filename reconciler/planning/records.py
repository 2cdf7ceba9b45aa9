"""What state records of an applied audience besides its members: the settings record (what the
provider sees of it), that record's digest, and the effective provider settings. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from reconciler.config.model import AudienceSpec, Declaration
from reconciler.sources.scan import upload_headers

# Provider settings that change what a provider sees (the rest, if any, only tune the tool).
RELEVANT_SETTINGS: dict[str, tuple[str, ...]] = {"commbox": (), "whop": ("account_id",), "smallest": ()}
WHOP_ACCOUNT_ENV = "WHOP_ACCOUNT_ID"


def provider_settings(
    declaration: Declaration, provider: str, environ: Mapping[str, str]
) -> dict[str, object]:
    """The effective settings of `provider`: the declaration's, with env defaults (WHOP_ACCOUNT_ID)."""
    settings = dict(declaration.providers.get(provider) or {})
    if provider == "whop" and not settings.get("account_id") and environ.get(WHOP_ACCOUNT_ENV):
        settings["account_id"] = environ[WHOP_ACCOUNT_ENV]
    return settings


def settings_record(spec: AudienceSpec, settings: Mapping[str, object]) -> dict[str, Any]:
    """What the provider sees of an audience besides its members (canonical, JSON-able, no PII)."""
    relevant = RELEVANT_SETTINGS.get(spec.provider, ())
    return {
        "provider": spec.provider,
        "name": spec.name,
        "description": spec.description if spec.provider == "smallest" else None,
        "columns": dict(sorted(upload_headers(spec).items())),
        "settings": {k: settings[k] for k in sorted(relevant) if settings.get(k) is not None},
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
