"""User data made safe to print: control characters escaped, length bounded.

Names, keys, headers and paths come from files a user (or an attacker) wrote. Printed raw, an
escape sequence in them would drive the terminal, and a newline would forge output lines. Every
rendering of such text goes through `printable`.
"""

from __future__ import annotations

import json
import re
from typing import Any

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text
# (bidi overrides and isolates, zero-width joiners, line/paragraph separators).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def has_unsafe(text: str) -> bool:
    """Whether `text` holds a character `printable` would escape."""
    return _UNSAFE.search(text) is not None


def printable(text: str, limit: int | None = None) -> str:
    """`text` with every control or invisible formatting character escaped (`\\x1b`, `\\n`,
    `\\u202e`); cut to `limit` characters with `…` when longer."""
    safe = _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text
    if limit is None and safe == text:
        return text  # the same object: callers may test identity
    if limit is not None and len(safe) > limit:
        return safe[: max(limit - 1, 0)] + "…"
    return safe


def printable_lines(text: str) -> str:
    """`printable` line by line: the text's own line breaks kept, every other control escaped."""
    return "\n".join(printable(line) for line in text.split("\n"))


# What `_UNSAFE` characters become in `json.dumps(..., ensure_ascii=False)`: C0 controls are escaped
# (`\n`, `\u001b`, ...), the others are kept as they are. A match may be a false alarm (a literal
# backslash before an `n`), never a miss.
_UNSAFE_IN_JSON = re.compile(
    r"\\[nrtbf]|\\u00[01]|[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
)


def printable_data(value: Any) -> Any:
    """A copy of JSON-like data with every string (keys included) made `printable`; the same object
    when nothing needed escaping (found in one pass over its JSON text: a plan of 1,000 audiences
    holds some 60,000 strings)."""
    try:
        dumped = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        dumped = None
    if dumped is not None and not _UNSAFE_IN_JSON.search(dumped):
        return value
    return _printable_data(value)


def _printable_data(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        items = [(_printable_data(k), _printable_data(v)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, value.items(), strict=True)):
            return value
        return dict(items)
    if isinstance(value, list):
        converted = [_printable_data(item) for item in value]
        return value if all(a is b for a, b in zip(converted, value, strict=True)) else converted
    return value
