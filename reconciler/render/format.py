"""Phrases shared by the text and markdown renderings, all read from the plan's JSON document."""

from __future__ import annotations

import json
from typing import Any

from reconciler.planning.plan import ACTION_SYMBOLS

# Order in which renderings list changes, and the summary line's wording.
ACTION_ORDER: tuple[str, ...] = ("create", "update", "replace", "delete", "forget", "no-op")
SUMMARY_ACTIONS: tuple[str, ...] = ("create", "update", "replace", "delete")

Doc = dict[str, Any]


def symbol(action: str) -> str:
    """The one-character symbol of an action (+ ~ ± - !)."""
    return ACTION_SYMBOLS.get(action, "?")


def changing(doc: Doc) -> list[Doc]:
    """The changes that are not no-op, in action order then by address."""
    items = [c for c in doc["changes"] if c["action"] != "no-op"]
    return sorted(items, key=lambda c: (ACTION_ORDER.index(c["action"]), c["address"]))


def unchanged_with_warnings(doc: Doc) -> list[Doc]:
    """No-op changes that still carry a warning (e.g. an interrupted apply), by address."""
    return [c for c in doc["changes"] if c["action"] == "no-op" and c.get("warnings")]


def unchanged_count(doc: Doc) -> int:
    return sum(1 for c in doc["changes"] if c["action"] == "no-op")


def summary_line(doc: Doc) -> str:
    """`Plan: 1 to create, 2 to update, 0 to replace, 1 to delete.` (`, N to forget` when any), or
    `No changes. ...` when nothing would change."""
    summary = doc["summary"]
    if not changing(doc):
        total = len(doc["changes"])
        noun = "audience matches" if total == 1 else "audiences match"
        return f"No changes. {total:,} {noun} the declaration and the state."
    parts = [f"{summary.get(a, 0):,} to {a}" for a in SUMMARY_ACTIONS]
    if summary.get("forget", 0):
        parts.append(f"{summary['forget']:,} to forget")
    return "Plan: " + ", ".join(parts) + "."


def members_text(change: Doc) -> str:
    """`members 10,000 → 10,120 (+150 −30 ~5)`; the bracket lists only the non-zero movements."""
    m = change["members"]
    moves = [
        f"{sign}{m.get(field, 0):,}"
        for sign, field in (("+", "added"), ("−", "removed"), ("~", "changed"))
        if m.get(field, 0)
    ]
    text = f"members {m.get('before', 0):,} → {m.get('after', 0):,}"
    if moves and change["action"] not in ("create", "delete", "forget"):
        text += f" ({' '.join(moves)})"
    return text


def value_text(value: Any) -> str:
    """An attribute value as shown in plans: strings quoted, absent as (none)."""
    if value is None:
        return "(none)"
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def rows_text(rows: Doc) -> str:
    """`10,134 rows: 10,120 valid, 9 invalid (invalid_phone 7, missing_phone 2), 5 duplicates`."""
    text = f"{rows.get('read', 0):,} rows: {rows.get('valid', 0):,} valid, {rows.get('invalid', 0):,} invalid"
    reasons = rows.get("invalid_by_reason") or {}
    if reasons:
        text += " (" + ", ".join(f"{r} {n:,}" for r, n in sorted(reasons.items())) + ")"
    duplicates = rows.get("duplicates", 0)
    text += f", {duplicates:,} duplicate{'' if duplicates == 1 else 's'}"
    if rows.get("conflicting_duplicates"):
        text += f" ({rows['conflicting_duplicates']:,} with conflicting fields)"
    if rows.get("note"):
        text += f"; {rows['note']}"
    return text


def not_read_line(doc: Doc) -> str:
    """`985 sources unchanged since the last apply were not read.`, or '' when every source was."""
    count = sum(1 for c in doc["changes"] if (c.get("rows") or {}).get("note"))
    if not count:
        return ""
    noun = "source" if count == 1 else "sources"
    return f"{count:,} {noun} unchanged since the last apply {'was' if count == 1 else 'were'} not read."


def rows_worth_showing(change: Doc) -> bool:
    """Row statistics are shown for changing audiences, and for unchanged ones with bad rows."""
    rows = change.get("rows")
    if not rows:
        return False
    return change["action"] != "no-op" or bool(rows.get("invalid") or rows.get("duplicates"))


def state_text(doc: Doc) -> str:
    inputs = doc["inputs"]
    if not inputs.get("state_lineage"):
        return "empty state"
    return f"state {str(inputs['state_lineage'])[:8]} serial {inputs.get('state_serial', 0)}"
