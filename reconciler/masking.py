"""Masking of member data for output: counts and masked samples only, never full values.

`mask` is the one masking function, for every kind of value (phone, e-mail, any other cell, or a
phone or address found inside a provider's message). Whatever its input (several addresses in one
cell, a million digits, control characters, any script) its output:

- is at most `MAX_MASKED_CHARS` (16) characters long;
- shows at most 8 characters of the input, never more than 4 digits in a row and never an
  address: the character before an '@' is always '*';
- shows only letters and digits of the input (no control character or escape sequence), and '*'
  for everything it hides.

The rule, by the shape of the trimmed value:

- phone-like (only ASCII digits, spaces and `+ ( ) - . /`): its leading '+'; with 10 or more
  digits the first digit, one '*' per hidden digit (at most 10) and the last four digits, else one
  '*' per digit (at most 10): `+14155550123` -> `+1******0123`, `555-0123` -> `*******`;
- e-mail-like (exactly one '@' with text on both sides): the first character of the local part
  and of the domain, and the domain's last label when it is 2-6 ASCII letters:
  `jane.doe@example.com` -> `j***@e***.com`;
- anything else (also a cell holding several addresses): its first character, then `***`:
  `ann@leak.example; jane@leak.example` -> `a***`.
"""

from __future__ import annotations

import re

MAX_MASKED_CHARS = 16
_PHONE_LIKE = re.compile(r"\+?[0-9 ().\-/]+")
_TLD = re.compile(r"[A-Za-z]{2,6}")
_MAX_STARS = 10
_SHOWN_DIGITS = 10  # a phone-like value shows digits only when it has at least this many


def _head(text: str) -> str:
    """The first character when it is a letter or digit, else '*'."""
    first = text[:1]
    return first if first.isalnum() else "*"


def _mask_phone(text: str) -> str:
    plus = "+" if text.startswith("+") else ""
    digits = re.sub(r"[^0-9]", "", text)
    count = len(digits)
    if count < _SHOWN_DIGITS:
        return plus + "*" * min(count, _MAX_STARS)
    return plus + digits[0] + "*" * min(count - 5, _MAX_STARS) + digits[-4:]


def _mask_email(local: str, domain: str) -> str:
    _, dot, last = domain.rpartition(".")
    tld = f".{last}" if dot and _TLD.fullmatch(last) else ""
    return f"{_head(local)}***@{_head(domain)}***{tld}"


def mask(value: str) -> str:
    """The masked form of any member value (see the module docstring for the exact rule).

    >>> mask("+14155550123"), mask("jane.doe@example.com"), mask("Jane")
    ('+1******0123', 'j***@e***.com', 'J***')
    """
    text = value.strip()
    if not text:
        return ""
    if _PHONE_LIKE.fullmatch(text) and any("0" <= ch <= "9" for ch in text):
        return _mask_phone(text)
    local, at, domain = text.partition("@")
    if at and local and domain and "@" not in domain:
        return _mask_email(local, domain)
    return _head(text) + "***"


def shown_text(text: str, limit: int = 60) -> str:
    """`text` (a header, a name) safe to print: control and other non-printable characters escaped
    (`\\x1b`), at most `limit` characters followed by '…' when longer."""
    head = text[: limit + 1]
    escaped = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in head)
    if len(escaped) > limit or len(text) > limit:
        return escaped[:limit] + "…"
    return escaped


def looks_like_data(header: str) -> bool:
    """True when a header looks like member data (an address, 5 or more digits): a file without
    a header row."""
    return "@" in header or sum(ch.isdigit() for ch in header[:1000]) >= 5


def shown_header(header: str) -> str:
    """A source header for messages: masked when it `looks_like_data`, else `shown_text` of it
    (escaped, at most 40 characters)."""
    if looks_like_data(header):
        return mask(header)
    return shown_text(header, 40)


def header_listing(headers: list[str], limit: int = 30) -> str:
    """The first `limit` non-blank headers, each `shown_header`, quoted and comma-separated."""
    named = [h for h in headers if h]
    listing = ", ".join(f"'{shown_header(h)}'" for h in named[:limit])
    more = len(named) - limit
    return (listing + (f" and {more:,} more" if more > 0 else "")) or "none"
