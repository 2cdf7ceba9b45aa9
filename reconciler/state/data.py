"""State data: the dataclasses of a state document and its JSON codec. Pure, no I/O.

`reconciler.state.store` re-exports every public name here; import them from there.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.errors import Problem, StateError

STATE_FORMAT_VERSION = 1
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}")  # MemberSet.digest(): names a members/<digest>.fp file


def utcnow_iso() -> str:
    """The current time as ISO 8601 UTC to the second, e.g. '2026-11-23T15:54:43Z'."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AudienceState:
    """What the tool knows of one managed audience after the last successful apply."""

    key: str
    provider: str
    provider_id: str
    name: str
    settings_digest: str = ""  # digest of name/description/columns/provider settings as applied
    member_digest: str = ""  # MemberSet.digest() of the members as applied ("" when none recorded)
    member_count: int = 0
    source_sha256: str = ""
    applied_at: str = ""  # ISO 8601 UTC
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific, never PII
    # What the source was read with at that apply (records.normaliser_digest; "" when unknown) and
    # the row statistics of that read (records.recorded_rows; counts only, {} when unknown). With
    # the source's SHA-256 they let a plan reuse that read instead of parsing the source again.
    normaliser_digest: str = ""
    rows: dict[str, Any] = field(default_factory=dict)


@dataclass
class Intent:
    """Written before a mutating provider call; removed (settled) once its result is committed."""

    id: str
    key: str
    provider: str
    operation: str  # create | replace_members | add_members | remove_members | rename | delete | ...
    name: str  # display name involved (to find a create whose answer was lost)
    started_at: str
    provider_id: str | None = None  # the audience the call acts on (None for a create)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    """The whole state document. Methods are pure (no I/O); `StateStore.save` persists."""

    lineage: str | None = None  # None until the first write
    serial: int = 0  # the serial this State was loaded at (or last saved as); 0 when never written
    fingerprint_key: str = ""  # hex secret created with the state (unless the env var supplies one)
    fingerprint_key_check: str = ""  # HMAC check of the env-supplied key (the key itself is not kept)
    audiences: dict[str, AudienceState] = field(default_factory=dict)
    intents: list[Intent] = field(default_factory=list)

    @property
    def pending_intents(self) -> list[Intent]:
        """Intents not settled yet: calls a previous run started and may not have finished."""
        return list(self.intents)

    def add_intent(
        self,
        key: str,
        provider: str,
        operation: str,
        name: str,
        *,
        provider_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Intent:
        """Record (in memory) that a provider call is about to be made; returns the new intent."""
        intent = Intent(
            id=str(uuid.uuid4()),
            key=key,
            provider=provider,
            operation=operation,
            name=name,
            started_at=utcnow_iso(),
            provider_id=provider_id,
            details=dict(details or {}),
        )
        self.intents.append(intent)
        return intent

    def settle_intent(self, intent_id: str) -> Intent:
        """Remove the intent `intent_id` (its outcome is recorded); KeyError if unknown."""
        for index, intent in enumerate(self.intents):
            if intent.id == intent_id:
                return self.intents.pop(index)
        raise KeyError(intent_id)

    def audience(self, key: str) -> AudienceState:
        """The entry for `key`; StateError naming the known keys when there is none."""
        try:
            return self.audiences[key]
        except KeyError:
            known = ", ".join(sorted(self.audiences)) or "none"
            raise StateError(f"no audience {key!r} in state (known: {known})") from None

    def remove_audience(self, key: str) -> AudienceState:
        """Forget `key` (state only; nothing happens at the provider); returns the removed entry."""
        entry = self.audience(key)
        del self.audiences[key]
        return entry

    def rename_audience(self, old: str, new: str) -> AudienceState:
        """Move the entry (and any pending intents) of `old` to `new`; StateError if `new` exists."""
        entry = self.audience(old)
        if new in self.audiences:
            raise StateError(f"audience {new!r} already exists in state; remove it first")
        del self.audiences[old]
        entry.key = new
        self.audiences[new] = entry
        for intent in self.intents:
            if intent.key == old:
                intent.key = new
        return entry


def has_fingerprints(state: State) -> bool:
    """True when some audience records member fingerprints (so the key that made them matters)."""
    return any(entry.member_digest for entry in state.audiences.values())


# ---------------------------------------------------------------------------------------------
# JSON codec


class InvalidState(Exception):
    """A problem in a state document: `path` locates the field, e.g. ["audiences", "vip", "name"]."""

    def __init__(self, path: list[str | int], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    def where(self) -> str:
        """The field path as text, e.g. 'audiences.vip.name' or 'intents[2].id' ('' for the top)."""
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


def locate(text: str, path: list[str | int]) -> tuple[int, int]:
    """Best-effort (line, col) of the field at `path` in JSON `text`; (0, 0) when not found.

    Finds each object key in turn after the previous one (array indexes are skipped), which is
    exact for the files this tool writes and close for hand-edited ones."""
    pos, found = 0, -1
    for part in path:
        if isinstance(part, int):
            continue
        match = re.compile(re.escape(json.dumps(part, ensure_ascii=False)) + r"\s*:").search(text, pos)
        if match is None:
            break
        found = pos = match.start()
    if found < 0:
        return 0, 0
    line = text.count("\n", 0, found) + 1
    return line, found - (text.rfind("\n", 0, found) + 1) + 1


_TYPE_NAMES: dict[type, str] = {
    str: "a string", int: "an integer", dict: "an object", list: "an array", type(None): "null",
}  # fmt: skip


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


class _Fields:
    """Typed access to one JSON object of the document, raising InvalidState with its path."""

    def __init__(self, raw: object, path: list[str | int], known: set[str]) -> None:
        if not isinstance(raw, dict):
            raise InvalidState(path, f"expected an object, found {_type_name(raw)}")
        unknown = sorted(set(raw) - known)
        if unknown:
            raise InvalidState([*path, unknown[0]], "unknown field")
        self.raw, self.path = raw, path

    def get(self, name: str, kinds: tuple[type, ...], default: Any = ...) -> Any:
        if name not in self.raw:
            if default is ...:
                raise InvalidState(self.path, f"missing field {name!r}")
            return default
        value = self.raw[name]
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            expected = " or ".join(_TYPE_NAMES[kind] for kind in kinds)
            raise InvalidState([*self.path, name], f"expected {expected}, found {_type_name(value)}")
        return value

    def text(self, name: str, default: Any = ..., *, pattern: re.Pattern[str] | None = None) -> Any:
        value = self.get(name, (str,), default)
        if pattern is not None and value and not pattern.fullmatch(value):
            raise InvalidState([*self.path, name], "expected 64 lower-case hex digits")
        return value

    def count(self, name: str, default: Any = ..., *, minimum: int = 0) -> Any:
        value = self.get(name, (int,), default)
        if value < minimum:
            raise InvalidState([*self.path, name], f"must be at least {minimum}")
        return value


_AUDIENCE_FIELDS = {
    "provider", "provider_id", "name", "settings_digest", "member_digest", "member_count",
    "source_sha256", "applied_at", "extra", "normaliser_digest", "rows",
}  # fmt: skip
_ROW_COUNT_FIELDS = ("read", "valid", "invalid", "duplicates", "conflicting_duplicates")
_INTENT_FIELDS = {"id", "key", "provider", "operation", "name", "started_at", "provider_id", "details"}
_STATE_FIELDS = {
    "format_version", "lineage", "serial", "fingerprint_key", "fingerprint_key_check", "audiences", "intents",
}  # fmt: skip


def _decode_audience(key: str, raw: object) -> AudienceState:
    fields = _Fields(raw, ["audiences", key], _AUDIENCE_FIELDS)
    return AudienceState(
        key=key,
        provider=fields.text("provider"),
        provider_id=fields.text("provider_id"),
        name=fields.text("name"),
        settings_digest=fields.text("settings_digest", ""),
        member_digest=fields.text("member_digest", "", pattern=DIGEST_PATTERN),
        member_count=fields.count("member_count", 0),
        source_sha256=fields.text("source_sha256", ""),
        applied_at=fields.text("applied_at", ""),
        extra=fields.get("extra", (dict,), {}),
        normaliser_digest=fields.text("normaliser_digest", "", pattern=DIGEST_PATTERN),
        rows=_decode_rows(key, fields.get("rows", (dict,), {})),
    )


def _decode_rows(key: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Recorded row statistics: every count a non-negative integer ({} when none were recorded)."""
    if not raw:
        return {}
    path: list[str | int] = ["audiences", key, "rows"]
    fields = _Fields(raw, path, {*_ROW_COUNT_FIELDS, "invalid_by_reason"})
    rows: dict[str, Any] = {name: fields.count(name) for name in _ROW_COUNT_FIELDS}
    reasons = fields.get("invalid_by_reason", (dict,))
    for reason in reasons:
        _Fields(reasons, [*path, "invalid_by_reason"], set(reasons)).count(reason)
    rows["invalid_by_reason"] = dict(reasons)
    return rows


def _decode_intent(index: int, raw: object) -> Intent:
    fields = _Fields(raw, ["intents", index], _INTENT_FIELDS)
    return Intent(
        id=fields.text("id"),
        key=fields.text("key"),
        provider=fields.text("provider"),
        operation=fields.text("operation"),
        name=fields.text("name"),
        started_at=fields.text("started_at"),
        provider_id=fields.get("provider_id", (str, type(None)), None),
        details=fields.get("details", (dict,), {}),
    )


def decode_state(raw: object) -> State:
    """A State from a parsed state.json document; InvalidState naming the bad field otherwise."""
    if isinstance(raw, dict) and "format_version" in raw:  # the version decides how to read the rest
        version = raw["format_version"]
        if isinstance(version, int) and not isinstance(version, bool) and version != STATE_FORMAT_VERSION:
            newer = (
                "; it was written by a newer reconciler: upgrade" if version > STATE_FORMAT_VERSION else ""
            )
            raise InvalidState(
                ["format_version"],
                f"{version} is not supported (this reconciler reads {STATE_FORMAT_VERSION}){newer}",
            )
    fields = _Fields(raw, [], _STATE_FIELDS)
    fields.count("format_version", minimum=STATE_FORMAT_VERSION)
    lineage = fields.text("lineage")
    if not lineage:
        raise InvalidState(["lineage"], "must not be empty")
    audiences = fields.get("audiences", (dict,))
    state = State(
        lineage=lineage,
        serial=fields.count("serial", minimum=1),
        fingerprint_key=fields.text("fingerprint_key", "", pattern=DIGEST_PATTERN),
        fingerprint_key_check=fields.text("fingerprint_key_check", "", pattern=DIGEST_PATTERN),
        audiences={key: _decode_audience(key, value) for key, value in audiences.items()},
        intents=[_decode_intent(i, value) for i, value in enumerate(fields.get("intents", (list,)))],
    )
    if not state.fingerprint_key and not state.fingerprint_key_check and has_fingerprints(state):
        raise InvalidState([], "missing field 'fingerprint_key', but audiences hold member fingerprints")
    return state


def encode_state(state: State) -> bytes:
    """The state.json bytes for `state`: stable (sorted audience keys), indented, newline-ended."""
    audiences = {}
    for key in sorted(state.audiences):
        entry = state.audiences[key]
        audiences[key] = {
            "provider": entry.provider,
            "provider_id": entry.provider_id,
            "name": entry.name,
            "settings_digest": entry.settings_digest,
            "member_digest": entry.member_digest,
            "member_count": entry.member_count,
            "source_sha256": entry.source_sha256,
            "applied_at": entry.applied_at,
            "extra": entry.extra,
        }
        if entry.normaliser_digest or entry.rows:  # absent for entries that never recorded them
            audiences[key]["normaliser_digest"] = entry.normaliser_digest
            audiences[key]["rows"] = entry.rows
    document = {
        "format_version": STATE_FORMAT_VERSION,
        "lineage": state.lineage,
        "serial": state.serial,
        "fingerprint_key": state.fingerprint_key,
        "fingerprint_key_check": state.fingerprint_key_check,
        "audiences": audiences,
        "intents": [
            {
                "id": i.id,
                "key": i.key,
                "provider": i.provider,
                "operation": i.operation,
                "name": i.name,
                "started_at": i.started_at,
                "provider_id": i.provider_id,
                "details": i.details,
            }
            for i in state.intents
        ],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def parse_document(data: bytes, where: str, broken: str) -> State:
    """The State stored as `data` (state.json bytes); StateError(`broken`) with a Problem located
    in `where` (a file name or a workspace) when it is not a valid state document."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = Problem(where, 0, 0, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        raise StateError(broken, problems=[problem]) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = Problem(where, exc.lineno, exc.colno, f"invalid JSON: {exc.msg}")
        raise StateError(broken, problems=[problem]) from None
    except RecursionError:
        raise StateError(broken, problems=[Problem(where, 0, 0, "nested too deeply")]) from None
    try:
        return decode_state(raw)
    except InvalidState as exc:
        line, col = locate(text, exc.path)
        raise StateError(broken, problems=[Problem(where, line, col, str(exc))]) from None
