"""Reading provider answers: JSON bodies, error messages, numbers and timestamps; masking PII and
redacting secrets in whatever is shown."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reconciler.masking import mask

if TYPE_CHECKING:
    import httpx

MAX_MESSAGE_CHARS = 300
# Each matches a whole run of its characters, starting only where the run starts: linear even on a
# million-digit message, and values glued together ("ann@x.com+bob@y.com", "+1415…+1415…") are
# masked as one, never the first alone.
_EMAIL_RUN = re.compile(r"(?<![\w.+@-])[\w.+@-]+")
_PHONE = re.compile(r"(?<![\d+])\+?\d[\d ()+-]{6,}\d")


def mask_pii(text: str) -> str:
    """Mask anything in a provider message that looks like a phone number or e-mail address (any
    run of address characters holding an '@')."""
    text = _EMAIL_RUN.sub(lambda m: mask(m.group(0)) if "@" in m.group(0) else m.group(0), text)
    return _PHONE.sub(lambda m: mask(m.group(0)), text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by '***'."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def provider_message(provider: str, body: object) -> str | None:
    """The human message in a provider's error body: CommBox `description`, Whop `error.message`,
    Smallest `errors[]`. None when the body carries none."""
    if not isinstance(body, dict):
        return None
    parts: list[str] = []
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        parts.append(error["message"])
    elif isinstance(error, str):
        parts.append(error)
    errors = body.get("errors")
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, dict) and isinstance(item.get("message"), str):
                parts.append(item["message"])
    for key in ("description", "message"):
        if not parts and isinstance(body.get(key), str):
            parts.append(body[key])
    text = "; ".join(p.strip() for p in parts if p and p.strip())
    if not text:
        return None
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    return text


def json_body(response: httpx.Response) -> object:
    """The response's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def as_int(value: object) -> int | None:
    """An integer from an int or a numeric string ("200"); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def parse_timestamp(value: object) -> float | None:
    """Seconds since the epoch from a Unix timestamp (s or ms) or an ISO 8601 string (naive = UTC)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number / 1000.0 if number > 1e11 else number
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    return None
