"""The state database URL: where it is for messages, and masking of its secrets in any text.

The URL (or libpq `key=value` string) comes from an environment variable and may hold a password,
in the userinfo part (`postgresql://user:pw@host/db`, often URL-quoted) or as a `password`
parameter. libpq and psycopg error texts can repeat the URL or parts of it, so every text that
leaves the postgres backend goes through `mask`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

MASK = "***"
_KEYWORD_PASSWORD = re.compile(r"""password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)""", re.IGNORECASE)


def secrets_in(url: str) -> list[str]:
    """Every spelling of the password(s) in `url` (quoted and unquoted), longest first."""
    found: set[str] = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            found |= {parts.password, unquote(parts.password)}
        for name, value in parse_qsl(parts.query, keep_blank_values=False):
            if name.lower() == "password" and value:
                found.add(value)
        for raw in re.findall(r"[?&]password=([^&#]*)", parts.query, re.IGNORECASE):
            found |= {raw, unquote(raw)}
    except ValueError:  # not a URL (e.g. a broken port): fall back to the patterns below
        pass
    userinfo = re.match(r"^[a-z][a-z0-9+.-]*://([^@/?#]*)@", url, re.IGNORECASE)
    if userinfo and ":" in userinfo.group(1):
        raw = userinfo.group(1).split(":", 1)[1]
        found |= {raw, unquote(raw)}
    for match in _KEYWORD_PASSWORD.finditer(url):
        value = match.group(1)
        found |= {value, value.strip("'")}
    return sorted((s for s in found if s), key=len, reverse=True)


def mask(text: str, url: str) -> str:
    """`text` with the URL replaced by its redacted form and every password spelling by ***."""
    if not url:
        return text
    text = text.replace(url, redacted(url))
    for secret in secrets_in(url):
        text = text.replace(secret, MASK)
    return text


def redacted(url: str) -> str:
    """`url` with its password (userinfo or parameter) replaced by ***."""
    result = url
    for secret in secrets_in(url):
        result = result.replace(secret, MASK)
    return result


def describe(url: str) -> str:
    """host:port/database of `url` for messages (no user, no password); '' when not a URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    if parts.scheme not in ("postgres", "postgresql"):
        return ""
    database = unquote(parts.path.lstrip("/"))
    return mask(f"{host}{port}/{database}" if database else f"{host}{port}", url)
