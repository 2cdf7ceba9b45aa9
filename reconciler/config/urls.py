"""Whether a URL can be a provider's base URL (offline; the declaration's checks and the client
factory both ask)."""

from __future__ import annotations

from urllib.parse import urlsplit

from reconciler.safetext import printable


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be a provider's base URL (scheme, host, port, syntax), or None when it can.
    The URL itself is not repeated (it may hold credentials)."""
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "holds a space or a control character"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError for a port that is not a number from 0 to 65535
    except ValueError as exc:
        return f"is not a valid URL ({printable(str(exc), 80)})"
    if parts.scheme not in ("http", "https"):
        return "is not an http:// or https:// URL"
    if not parts.hostname:
        return "names no host"
    if port == 0:
        return "has port 0"
    return None
