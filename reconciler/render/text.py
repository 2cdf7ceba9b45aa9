"""The plan as terminal text: Terraform-like aligned lines, row statistics, warnings, refusals.

Built as a `rich.text.Text` (styles per action); `.plain` is the same text without colour.
Reads only the plan's JSON document, so it can never disagree with it.
"""

from __future__ import annotations

from rich.text import Text

from reconciler.render.format import (
    Doc,
    changing,
    members_text,
    not_read_line,
    rows_text,
    rows_worth_showing,
    state_text,
    summary_line,
    symbol,
    unchanged_count,
    value_text,
)
from reconciler.safetext import printable_data

STYLES: dict[str, str] = {
    "create": "green",
    "update": "yellow",
    "replace": "magenta",
    "delete": "red",
    "forget": "bold red",
}


def _change_lines(out: Text, items: list[Doc]) -> None:
    cols = [
        max(len(f"{symbol(c['action'])} {c['action']}") for c in items),
        max(len(c["address"]) for c in items),
        max(len(c["provider"]) for c in items),
        max(len(c.get("strategy") or "") for c in items),
    ]
    for c in items:
        style = STYLES.get(c["action"], "")
        out.append("  ")
        out.append(f"{symbol(c['action'])} {c['action']}".ljust(cols[0]), style=style)
        out.append("  ")
        out.append(c["address"].ljust(cols[1]), style="bold")
        out.append(f"  {c['provider'].ljust(cols[2])}  {(c.get('strategy') or '').ljust(cols[3])}  ")
        out.append(members_text(c))
        if c.get("reasons"):
            out.append("  because " + ", ".join(c["reasons"]), style="dim")
        out.append("\n")
        for path, values in sorted((c.get("attribute_changes") or {}).items()):
            before, after = value_text(values.get("before")), value_text(values.get("after"))
            out.append(f"      {path}: {before} → {after}\n")
        if c.get("guard"):
            out.append(f"      ✗ refused: {c['guard']['message']}\n", style="bold red")


def _rows_block(out: Text, doc: Doc) -> None:
    items = [c for c in doc["changes"] if rows_worth_showing(c)]
    if not items:
        return
    out.append("\nSource rows:\n", style="bold")
    key_w = max(len(c["address"]) for c in items)
    src_w = max(len(c.get("source") or "") for c in items)
    for c in items:
        out.append(f"  {c['address'].ljust(key_w)}  {(c.get('source') or '').ljust(src_w)}  ")
        out.append(rows_text(c["rows"]) + "\n")
        samples = c["rows"].get("samples") or []
        if samples:
            out.append(" " * (key_w + src_w + 6) + "e.g. " + "; ".join(samples) + "\n", style="dim")


def _warnings_block(out: Text, doc: Doc) -> None:
    lines = [f"{c['address']}: {w}" for c in sorted(doc["changes"], key=lambda c: c["address"])
             for w in c.get("warnings") or []]
    lines += list(doc.get("warnings") or [])
    if not lines:
        return
    out.append("\nWarnings:\n", style="bold yellow")
    for line in lines:
        out.append(f"  ! {line}\n", style="yellow")


def _refusals_block(out: Text, doc: Doc) -> None:
    refused = [c for c in doc["changes"] if c.get("guard")]
    if not refused:
        return
    out.append(f"\nRefused by safety guards ({len(refused):,}); nothing can be applied until allowed:\n",
               style="bold red")
    for c in refused:
        guard = c["guard"]
        out.append(f"  ✗ {c['address']} [{guard['rule']}]: {guard['message']}\n", style="bold red")
        out.append(f"      to allow it, re-run with {guard['allow_flag']}\n", style="red")


def render_text(doc: Doc) -> Text:
    """The plan document as styled terminal text ending with the `Plan: ...` summary line."""
    doc = printable_data(doc)  # names, warnings, samples come from files and providers
    out = Text()
    total = len(doc["changes"])
    noun = "audience" if total == 1 else "audiences"
    out.append(f"reconciler plan for {doc['inputs']['config']} ({state_text(doc)}), {total:,} {noun}\n",
               style="bold")
    items = changing(doc)
    if items:
        out.append("\n")
        _change_lines(out, items)
    _rows_block(out, doc)
    _warnings_block(out, doc)
    _refusals_block(out, doc)
    out.append("\n")
    unchanged = unchanged_count(doc)
    if items and unchanged:
        out.append(f"{unchanged:,} unchanged.\n", style="dim")
    if not_read_line(doc):
        out.append(not_read_line(doc) + "\n", style="dim")
    out.append(summary_line(doc) + "\n", style="bold")
    return out
