"""When a provider call is retried and how long to wait: backoff with jitter and the server's hints."""

from __future__ import annotations

import email.utils
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and total time.

    The n-th retry waits `min(max_delay, base_delay * 2**(n-1))` scaled by a factor drawn from
    `[1 - jitter, 1]`, unless the provider said how long to wait (Retry-After, retry-after-ms or a
    `retry_after` body field), which is honoured up to `max_retry_after` seconds.
    """

    max_attempts: int = 6
    max_elapsed: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    max_retry_after: float = 60.0
    extra_statuses: frozenset[int] = frozenset()  # beyond 429 and 5xx (Whop: 408, 409)
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def retryable(self, status: int) -> bool:
        """Whether an HTTP status is worth another attempt."""
        return status == 429 or status >= 500 or status in self.extra_statuses

    def backoff(self, retry: int) -> float:
        """The jittered wait before retry number `retry` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, retry - 1))
        return ceiling * (1.0 - self.jitter * self.rand())


def parse_retry_after(headers: Mapping[str, str], body: object, now: float) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, `Retry-After` (seconds or HTTP date,
    relative to the wall clock `now`), or a JSON body's `retry_after`; None when absent or unusable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = _to_float(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    raw = lowered.get("retry-after")
    if raw is not None:
        seconds = _to_float(raw)
        if seconds is not None:
            return seconds
        try:
            when = email.utils.parsedate_to_datetime(raw.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - now)
    if isinstance(body, dict):
        seconds = _to_float(body.get("retry_after"))
        if seconds is not None:
            return seconds
    return None


def _to_float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if number != number or number < 0 or number == float("inf"):
        return None
    return number
