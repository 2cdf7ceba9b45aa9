"""What state records of an applied audience besides its members: the settings record (what the
provider sees of it), that record's digest, the effective provider settings, the normaliser
identity its source was read with and the row statistics of that read. Pure: no I/O."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from collections.abc import Mapping
from functools import cache, lru_cache
from importlib import metadata
from typing import Any

import phonenumbers

from reconciler.config.model import AudienceSpec, Declaration, QuerySpec
from reconciler.providers import registry
from reconciler.sources.members import MemberSet, SourceScan
from reconciler.sources.normalise import NORMALISATION_VERSION
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
    normaliser: str = "",
    rows: Mapping[str, Any] | None = None,
) -> AudienceState:
    """The state entry recording that `spec` is applied as `provider_id` with `members` (None: the
    members are unknown, recorded as an empty digest and `member_count`). The one builder of state
    entries: the executor, import and the tests' helpers all use it. `normaliser` and `rows`: the
    `normaliser_digest` and `recorded_rows` of the read that gave `members` (when known)."""
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
        normaliser_digest=normaliser,
        rows=dict(rows or {}),
    )


def recorded_rows(scan: SourceScan) -> dict[str, Any]:
    """The row statistics of `scan` as state records them (`AudienceState.rows`): counts only, no
    samples and no member data."""
    return {
        "read": scan.rows_read,
        "valid": scan.valid,
        "invalid": scan.invalid_count,
        "invalid_by_reason": dict(sorted(scan.invalid.items())),
        "duplicates": scan.duplicates,
        "conflicting_duplicates": scan.conflicting_duplicates,
    }


_KEY_LABEL = b"reconciler normaliser identity v1"


@cache
def _openpyxl_version() -> str:
    try:
        return metadata.version("openpyxl")
    except metadata.PackageNotFoundError:  # pragma: no cover - a declared dependency
        return "unknown"


@lru_cache(maxsize=4)
def _key_check(key: bytes) -> str:
    """A check value of the fingerprint key (an HMAC of a constant; the key cannot be recovered)."""
    return hmac.new(key, _KEY_LABEL, hashlib.sha256).hexdigest()[:32]


def normaliser_identity(spec: AudienceSpec, key: bytes) -> dict[str, Any]:
    """Everything besides the source's bytes that decides what its rows normalise to.

    Equal identities and equal source bytes give the same rows, members and fingerprints, so a
    plan may reuse what the last apply recorded instead of reading the source again:
      - `normalisation`: the reconciler normalisation rules' version (NORMALISATION_VERSION);
      - `phonenumbers`: the installed phonenumbers version, which is the libphonenumber metadata
        release it ships (which numbers are valid, how they are written in E.164);
      - `python`, `reader`: the text decoders and CSV parser (Python), or openpyxl for .xlsx;
      - `columns`, `phone_region`, `identity` (the provider's rule: a phone in every row, or a
        phone or an e-mail), `delimiter`, `encoding`, `sheet`: the declaration settings that
        change how a row is read and validated;
      - `key`: a check value of the fingerprint key (an HMAC; the key itself is never recorded).
    A query source records its query (it is read on every plan anyway). Settings that change only
    what the provider sees (name, description, provider settings) are in the settings record; the
    guards' settings (protect, max_shrink, shrink_min_members) change neither, so they never force
    a read."""
    source = spec.source
    reading: dict[str, Any]
    if isinstance(source, QuerySpec):  # recorded, never compared: a query is always read
        reading = {"reader": "postgresql", "query": source.query}
    else:
        reader = f"openpyxl {_openpyxl_version()}" if source.is_excel else "csv"
        reading = {"reader": reader, "delimiter": source.delimiter, "encoding": source.encoding,
                   "sheet": source.sheet}
    return {
        "normalisation": NORMALISATION_VERSION,
        "phonenumbers": phonenumbers.__version__,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        **reading,
        "columns": dict(sorted(spec.columns.items())),
        "phone_region": spec.phone_region,
        "identity": registry.get(spec.provider).identity.value,
        "key": _key_check(key),
    }


def normaliser_digest(spec: AudienceSpec, key: bytes) -> str:
    """The digest of `normaliser_identity`; the executor records it after apply."""
    return record_digest(normaliser_identity(spec, key))
