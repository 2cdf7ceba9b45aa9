"""A saved plan is verified, not trusted: compare its document with the plan its inputs produce.

`apply PLANFILE` re-derives the plan from the file's pinned inputs (declaration, sources, state,
flags) and carries out the re-derived plan only when the file says exactly the same: the same
changes in the same order, with the same actions, strategies, guards, counts, reasons, names,
warnings and summary. The first difference is named. A checksum that does not match is reported
as an edit of the file (see `planfile`).
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.errors import PlanError, Problem
from reconciler.planning.plan import Plan
from reconciler.planning.planfile import CHECKSUM_FIELD, checksum_matches
from reconciler.safetext import printable

# Fields compared first, in this order; the rest follow alphabetically.
_TOP_ORDER = ("changes", "summary", "inputs", "warnings", "format_version")
_CHANGE_ORDER = ("action", "strategy", "guard", "members", "reasons", "provider", "name", "provider_id",
                 "source", "attribute_changes", "rows", "warnings")
# Not part of what the plan does: when and by which version it was made (the checksum covers them).
_NOT_COMPARED = ("created_at", "tool_version", CHECKSUM_FIELD)
_ABSENT = object()


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value, sort_keys=True, ensure_ascii=True)
    return text if len(text) <= 80 else text[:79] + "…"


def _ordered(keys: set[str], first: tuple[str, ...]) -> list[str]:
    return [k for k in first if k in keys] + sorted(keys - set(first))


def _same_leaf(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # True is not 1, 1.0 is not 1


def _walk(a: Any, b: Any, path: str, order: tuple[str, ...] = ()) -> tuple[str, Any, Any] | None:
    """The first (path, in file, derived) where `a` (the file's) and `b` (the derived) differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in _ordered(set(a) | set(b), order):
            sub = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                return sub, a.get(key, _ABSENT), b.get(key, _ABSENT)
            found = _walk(a[key], b[key], sub)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = _walk(x, y, f"{path}[{i}]")
            if found:
                return found
        if len(a) != len(b):
            return path, a, b
        return None
    return None if _same_leaf(a, b) else (path, a, b)


def _address(change: Any) -> str:
    return str(change.get("address")) if isinstance(change, dict) else "?"


def _changes_difference(ours: list[Any], theirs: list[Any]) -> str | None:
    """The first difference between the file's changes (`ours`) and the derived ones (`theirs`)."""
    in_file = [_address(c) for c in ours]
    derived = [_address(c) for c in theirs]
    if in_file != derived:
        for address in in_file:
            if in_file.count(address) > 1:
                return f"change {printable(address, 100)} appears more than once in the plan file"
        extra = [a for a in in_file if a not in derived]
        if extra:
            return f"change {printable(extra[0], 100)} is in the plan file but not from its inputs"
        missing = [a for a in derived if a not in in_file]
        if missing:
            return f"change {printable(missing[0], 100)} from its inputs is missing from the plan file"
        return "the changes are listed in another order than its inputs produce them"
    for mine, theirs_change in zip(ours, theirs, strict=True):
        found = _walk(mine, theirs_change, "", _CHANGE_ORDER)
        if found:
            where, a, b = found
            return (f"change {printable(_address(mine), 100)}: {printable(where, 100)} is {_shown(a)} "
                    f"in the plan file but {_shown(b)} from its inputs")
    return None


def first_difference(document: dict[str, Any], derived: Plan) -> str | None:
    """How the saved plan's `document` first differs from the `derived` plan; None when it says
    the same (when and by which version it was made aside)."""
    mine = {k: v for k, v in document.items() if k not in _NOT_COMPARED}
    theirs = {k: v for k, v in derived.to_dict().items() if k not in _NOT_COMPARED}
    # The config path as given on the command line is not an input (its digest is).
    if isinstance(mine.get("inputs"), dict):
        theirs["inputs"]["config"] = mine["inputs"].get("config")
    if "changes" in mine and "changes" in theirs:
        difference = _changes_difference(mine["changes"], theirs["changes"])
        if difference:
            return difference
    found = _walk({k: v for k, v in mine.items() if k != "changes"},
                  {k: v for k, v in theirs.items() if k != "changes"}, "", _TOP_ORDER)
    if found:
        where, a, b = found
        return f"{printable(where, 100)} is {_shown(a)} in the plan file but {_shown(b)} from its inputs"
    return None


def verify_saved_plan(document: dict[str, Any], name: str, derived: Plan, key: bytes) -> None:
    """Refuse (PlanError) a saved plan whose checksum does not match under `key`, or whose document
    says anything other than `derived`, the plan re-derived from its inputs."""
    difference = first_difference(document, derived)
    if not checksum_matches(document, key):
        raise PlanError(
            f"{name}: the plan file was edited after it was made (its checksum does not match, or it "
            "was made with another RECONCILER_FINGERPRINT_KEY); nothing was applied. Run `reconciler "
            "plan --out` again",
            problems=[Problem(name, 0, 0, difference)] if difference else [],
        )
    if difference:
        made_by = document.get("tool_version")
        version = "" if made_by == derived.tool_version else (
            f" (it was made by reconciler {printable(str(made_by), 40)}, this is {derived.tool_version})"
        )
        raise PlanError(
            f"{name}: the plan file differs from the plan its inputs produce{version}; nothing was "
            "applied. Run `reconciler plan --out` again",
            problems=[Problem(name, 0, 0, difference)],
        )
