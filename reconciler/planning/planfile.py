"""Saved plan files: the plan's JSON document on disk plus a keyed checksum.

A saved plan is never trusted: `parse_plan_document` checks every field's type and range (a hostile
file ends in one clean PlanError naming the field), and apply re-derives the plan from the file's
pinned inputs (`planning/verify.py`). The `checksum` field names accidental edits as such: it is
HMAC-SHA256 over the document's canonical JSON (the checksum field left out) under a key derived
from the state's fingerprint key (`checksum_key`), so it reveals nothing of that key and cannot be
recomputed without it. A state that holds no key yet (planned from empty state without
RECONCILER_FINGERPRINT_KEY) has nothing secret to derive from: its plans use a public key, so
their checksum catches accidents only; the re-derivation catches any change either way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.errors import PlanError, Problem
from reconciler.planning.plan import FORMAT_VERSION, Action, Plan
from reconciler.safetext import printable

CHECKSUM_FIELD = "checksum"
CHECKSUM_PREFIX = "hmac-sha256:"
_CHECKSUM_CONTEXT = b"reconciler saved-plan checksum v1"
_PUBLIC_KEY = b"reconciler saved-plan checksum: no fingerprint key in state yet"
MAX_COUNT = 10**15  # far above any audience; keeps ratios and formatting finite


def checksum_key(fingerprint_key: bytes | None) -> bytes:
    """The plan checksum key: HMAC of a fixed context under the fingerprint key (one-way, so the
    checksum reveals nothing of it); a public key when the state has none yet (None)."""
    return hmac.new(fingerprint_key or _PUBLIC_KEY, _CHECKSUM_CONTEXT, hashlib.sha256).digest()


def canonical(doc: dict[str, Any]) -> bytes:
    """The document's canonical JSON bytes, the checksum field left out."""
    body = {k: v for k, v in doc.items() if k != CHECKSUM_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def checksum(doc: dict[str, Any], key: bytes) -> str:
    """`hmac-sha256:<hex>` of the document under `key` (from `checksum_key`)."""
    return CHECKSUM_PREFIX + hmac.new(key, canonical(doc), hashlib.sha256).hexdigest()


def checksum_matches(doc: dict[str, Any], key: bytes) -> bool:
    given = doc.get(CHECKSUM_FIELD)
    return isinstance(given, str) and hmac.compare_digest(given, checksum(doc, key))


def dumps(plan: Plan, key: bytes | None = None) -> str:
    """The plan's JSON text (what `--format json` prints); with `key`, signed as `--out` saves it."""
    doc = plan.to_dict()
    if key is not None:
        doc[CHECKSUM_FIELD] = checksum(doc, key)
    return json.dumps(doc, indent=2, sort_keys=True)


def save_plan(plan: Plan, path: Path, key: bytes) -> None:
    """Write the plan, signed with `key`, to `path` atomically (a reader never sees half a plan)."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise PlanError(f"cannot write the plan to {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dumps(plan, key) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise PlanError(f"cannot write the plan to {target}: {exc.strerror}") from None


# ---------------------------------------------------------------------------------------------
# Reading: JSON, then every field checked


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def read_plan_document(path: Path) -> dict[str, Any]:
    """The JSON document of a saved plan, checked to be a plan of a supported format version."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"{name}: no such plan file") from None
    except UnicodeDecodeError:
        raise PlanError(f"{name}: not a plan file (not UTF-8 text)") from None
    except OSError as exc:
        raise PlanError(f"{name}: cannot read the plan file: {exc.strerror}") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise PlanError(
            "not a plan file (invalid JSON)", problems=[Problem(name, exc.lineno, exc.colno, exc.msg)]
        ) from None
    except (ValueError, RecursionError) as exc:  # huge integers, NaN, 1e999, deep nesting
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0][:120]
        raise PlanError(f"{name}: not a plan file (invalid JSON: {detail})") from None
    if not isinstance(data, dict) or "changes" not in data or "format_version" not in data:
        raise PlanError(f"{name}: not a reconciler plan (no format_version/changes)")
    if data["format_version"] != FORMAT_VERSION:
        shown = printable(repr(data["format_version"]), 40)
        raise PlanError(
            f"{name}: plan format_version {shown} is not supported (this reconciler reads {FORMAT_VERSION!r})"
        )
    return data


class _Malformed(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


Check = Callable[[Any, str], None]


def _text(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _Malformed(where, "expected text")


def _count(value: Any, where: str) -> None:
    if type(value) is not int or not 0 <= value <= MAX_COUNT:
        raise _Malformed(where, f"expected a whole number from 0 to {MAX_COUNT:.0e}")


def _flag(value: Any, where: str) -> None:
    if not isinstance(value, bool):
        raise _Malformed(where, "expected true or false")


_MAX_DEPTH = 16  # an attribute value is a short list or mapping; deep nesting only costs recursion


def _anything(value: Any, where: str) -> None:
    """Any JSON value (what json.loads made is JSON already), nested at most _MAX_DEPTH deep."""
    level = [value]
    for _ in range(_MAX_DEPTH):
        level = [v for item in level if isinstance(item, dict | list)
                 for v in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return
    raise _Malformed(where, f"nested more than {_MAX_DEPTH} levels deep")


def _optional(check: Check) -> Check:
    def inner(value: Any, where: str) -> None:
        if value is not None:
            check(value, where)

    return inner


def _list_of(check: Check) -> Check:
    def inner(value: Any, where: str) -> None:
        if not isinstance(value, list):
            raise _Malformed(where, "expected a list")
        for i, item in enumerate(value):
            check(item, f"{where}[{i}]")

    return inner


def _map_of(check: Check) -> Check:
    def inner(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Malformed(where, "expected an object")
        for name, item in value.items():
            check(item, f"{where}.{name}")

    return inner


def _object(fields: dict[str, Check], optional: frozenset[str] = frozenset()) -> Check:
    def inner(value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _Malformed(where, "expected an object")
        for name in value:
            if name not in fields:
                raise _Malformed(f"{where}.{name}" if where else name, "unknown field")
        for name, check in fields.items():
            path = f"{where}.{name}" if where else name
            if name in value:
                check(value[name], path)
            elif name not in optional:
                raise _Malformed(path, "missing")

    return inner


def _action(value: Any, where: str) -> None:
    if not isinstance(value, str) or value not in {a.value for a in Action}:
        raise _Malformed(where, f"expected one of {', '.join(a.value for a in Action)}")


_TEXTS = _list_of(_text)
_CHANGE = _object({
    "address": _text,
    "provider": _text,
    "action": _action,
    "reasons": _TEXTS,
    "strategy": _optional(_text),
    "members": _object({k: _count for k in ("before", "after", "added", "removed", "changed")}),
    "rows": _optional(_object({
        "read": _count, "valid": _count, "invalid": _count, "invalid_by_reason": _map_of(_count),
        "duplicates": _count, "conflicting_duplicates": _count, "samples": _TEXTS,
        "note": _text,  # only for a source planned from state
    }, optional=frozenset({"note"}))),
    "warnings": _TEXTS,
    "provider_id": _optional(_text),
    "source": _optional(_text),
    "attribute_changes": _map_of(_object({"before": _anything, "after": _anything})),
    "guard": _optional(_object({"rule": _text, "message": _text, "allow_flag": _text})),
    "name": _object({"before": _optional(_text), "after": _optional(_text)}),
})
_INPUTS = _object({
    "config": _text,
    "config_sha256": _text,
    "sources": _map_of(_text),
    "queries": _map_of(_text),  # saved only when the plan has query sources
    "state_lineage": _optional(_text),
    "state_serial": _count,
    "targets": _TEXTS,
    "replace": _TEXTS,
    "allow_shrink": _TEXTS,
    "allow_destroy": _TEXTS,
    "refresh": _flag,
    "rescan": _flag,
}, optional=frozenset({"queries"}))
_DOCUMENT = _object({
    "format_version": _text,
    "tool_version": _text,
    "created_at": _text,
    "inputs": _INPUTS,
    "summary": _map_of(_count),
    "changes": _list_of(_CHANGE),
    "warnings": _TEXTS,
    CHECKSUM_FIELD: _text,
})


def parse_plan_document(data: dict[str, Any], name: str) -> Plan:
    """The Plan of a saved plan's document, every field checked; PlanError naming the first bad one."""
    if CHECKSUM_FIELD not in data:
        raise PlanError(
            f"{name}: the plan file has no checksum (made by an older reconciler, or not by `reconciler "
            "plan --out`): run `reconciler plan --out` again"
        )
    try:
        _DOCUMENT(data, "")
    except _Malformed as exc:
        raise PlanError(f"{name}: malformed plan: {printable(str(exc), 200)}") from None
    return Plan.from_dict(data)


def load_plan(path: Path) -> tuple[Plan, dict[str, Any]]:
    """A saved plan, checked field by field, and its document (for the checksum and the
    re-derivation check); PlanError naming the file when it is missing, not JSON, or malformed."""
    data = read_plan_document(path)
    return parse_plan_document(data, str(path)), data
