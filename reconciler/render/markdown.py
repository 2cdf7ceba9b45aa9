"""The plan as GitHub markdown: summary table first, one folded <details> per changing audience.

No-op audiences are counted, not listed. The result always fits in `LIMIT` characters (a pull-request
comment): details, then warnings, then table rows are trimmed with a visible note when needed.
"""

from __future__ import annotations

import html

from reconciler.render.format import (
    Doc,
    changing,
    members_text,
    not_read_line,
    rows_text,
    state_text,
    summary_line,
    symbol,
    unchanged_count,
    unchanged_with_warnings,
    value_text,
)
from reconciler.safetext import printable_data

LIMIT = 65_000
_NOTE_RESERVE = 400  # room kept for each trimming note


def _esc(text: str) -> str:
    """Escape for markdown table cells and HTML blocks."""
    return html.escape(str(text), quote=False).replace("|", "&#124;")


def _code(text: str) -> str:
    """Inline code: backticks (shortest) unless the text holds one, then an escaped <code> element."""
    if "`" in text or "\n" in text:
        return f"<code>{_esc(text)}</code>"
    return "`" + str(text).replace("|", "\\|") + "`"


def _table_row(c: Doc) -> str:
    cells = [
        symbol(c["action"]),
        _code(c["address"]),
        c["provider"],
        c["action"] + (" ✗" if c.get("guard") else ""),
        _esc(c.get("strategy") or ""),
        _esc(members_text(c).removeprefix("members ")),
        _esc(", ".join(c.get("reasons") or [])),
    ]
    return "| " + " | ".join(cells) + " |"


def _details(c: Doc) -> str:
    title = f"{symbol(c['action'])} <code>{_esc(c['address'])}</code> — {c['action']}"
    if c.get("strategy") and c["strategy"] != c["action"]:
        title += f" ({_esc(c['strategy'])})"
    lines = [f"<details><summary>{title}</summary>", ""]
    if c.get("guard"):
        guard = c["guard"]
        lines.append(f"- **✗ refused ({_esc(guard['rule'])})**: {_esc(guard['message'])}; "
                     f"allow with {_code(guard['allow_flag'])}")
    lines.append(f"- Provider: {c['provider']}" + (f", audience {_code(c['provider_id'])}"
                                                    if c.get("provider_id") else ""))
    lines.append(f"- {_esc(members_text(c)).capitalize()}")
    if c.get("reasons"):
        lines.append(f"- Because: {_esc(', '.join(c['reasons']))}")
    for path, values in sorted((c.get("attribute_changes") or {}).items()):
        lines.append(f"- {_code(path)}: {_esc(value_text(values.get('before')))} → "
                     f"{_esc(value_text(values.get('after')))}")
    if c.get("rows"):
        lines.append(f"- Source {_code(c.get('source') or '')}: {_esc(rows_text(c['rows']))}")
        for sample in c["rows"].get("samples") or []:
            lines.append(f"  - {_code(sample)}")
    for warning in c.get("warnings") or []:
        lines.append(f"- ⚠️ {_esc(warning)}")
    lines += ["", "</details>"]
    return "\n".join(lines)


def _fit(items: list[str], budget: int, note: str) -> list[str]:
    """As many leading `items` as fit in `budget` characters (lines joined by newlines); when some
    are left out, a final note says how many (`note` is formatted with `n`)."""
    if sum(len(i) + 1 for i in items) <= budget:
        return items
    kept: list[str] = []
    used = 0
    for item in items:
        if used + len(item) + 1 > budget - _NOTE_RESERVE:
            break
        kept.append(item)
        used += len(item) + 1
    return [*kept, note.format(n=len(items) - len(kept))]


def render_markdown(doc: Doc, limit: int = LIMIT) -> str:
    """The plan document as markdown of at most `limit` characters."""
    doc = printable_data(doc)  # names, warnings, samples come from files and providers
    items = changing(doc)
    head = [f"### reconciler plan: {_code(doc['inputs']['config'])} ({_esc(state_text(doc))})", "",
            f"**{_esc(summary_line(doc))}**"]
    unchanged = unchanged_count(doc)
    if items and unchanged:
        head.append(f"{unchanged:,} unchanged audience{'s' if unchanged != 1 else ''} not listed.")
    if not_read_line(doc):
        head.append(_esc(not_read_line(doc)))
    budget = limit - sum(len(line) + 1 for line in head) - 16

    refused = [c for c in items if c.get("guard")]
    refusal_lines: list[str] = []
    if refused:
        refusal_lines = _fit(
            [f"> - {_code(c['address'])}: {_esc(c['guard']['message'])} — allow with "
             f"{_code(c['guard']['allow_flag'])}" for c in refused],
            budget // 10,
            "> - … and {n:,} more refusals (see the JSON plan).",
        )
        refusal_lines = ["> [!CAUTION]", f"> **Refused by safety guards ({len(refused):,})**: "
                         "nothing can be applied until allowed.", *refusal_lines]
    budget -= sum(len(line) + 1 for line in refusal_lines) + 2

    table: list[str] = []
    if items:
        header = ["|   | audience | provider | action | strategy | members | because |",
                  "|---|---|---|---|---|---|---|"]
        rows = _fit([_table_row(c) for c in items], budget - 200,
                    "\n_… {n:,} more changing audiences not shown: the plan is too large for one comment; "
                    "see the JSON plan._")
        table = header + rows
    budget -= sum(len(line) + 1 for line in table) + 2

    warnings = [f"- {_code(c['address'])}: {_esc(w)}" for c in [*items, *unchanged_with_warnings(doc)]
                for w in c.get("warnings") or []]
    warnings += [f"- {_esc(w)}" for w in doc.get("warnings") or []]
    warning_lines = _fit(warnings, max(budget // 2, 0), "- … and {n:,} more warnings (see the JSON plan).")
    if warning_lines:
        warning_lines = ["**Warnings**", "", *warning_lines]
    budget -= sum(len(line) + 1 for line in warning_lines) + 2

    details = _fit([_details(c) for c in items], max(budget, 0),
                   "_Details of {n:,} audiences omitted to fit one comment; "
                   "run `reconciler show PLANFILE` for all of them._")

    sections = [head, refusal_lines, table, warning_lines, details]
    text = "\n\n".join("\n".join(s) for s in sections if s) + "\n"
    return text[:limit] if len(text) > limit else text
