"""Fault injection: throttling, server errors, dropped connections and latency, seeded.

Faults apply to provider API calls only, never to Whop's presigned upload URL (a storage
service, not the API). One random draw per request decides its fate, so a given seed and a given
order of requests always give the same faults.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["429", "500", "503", "drop", "drop_after", "slow"]
FAULT_KINDS: tuple[str, ...] = ("429", "500", "503", "drop", "drop_after", "slow")


@dataclass(frozen=True)
class Faults:
    """Shares (0..1) of API requests that misbehave, and latency settings.

    rate_429: answered 429 with Retry-After (`retry_after` seconds; Smallest also in the body).
    rate_5xx: answered 500 or 503 (half each).
    rate_drop: connection closed without a response, before the request is processed.
    drop_after_processing: the request is carried out, then the connection is closed unanswered.
    latency: seconds added to every API response; slow_rate of requests wait slow_seconds more.
    commbox_retry_after: CommBox documents no Retry-After; send one on its 429s only if True.
    """

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    drop_after_processing: float = 0.0
    retry_after: int = 1
    latency: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    commbox_retry_after: bool = False

    def __post_init__(self) -> None:
        rates = (self.rate_429, self.rate_5xx, self.rate_drop, self.drop_after_processing, self.slow_rate)
        if any(not 0.0 <= r <= 1.0 for r in rates):
            raise ValueError("fault rates must be between 0 and 1")
        if self.rate_429 + self.rate_5xx + self.rate_drop + self.drop_after_processing > 1.0:
            raise ValueError("fault rates add up to more than 1")
        if self.latency < 0 or self.slow_seconds < 0 or self.retry_after < 0:
            raise ValueError("latency, slow_seconds and retry_after must not be negative")


@dataclass
class ScriptedFault:
    """A fault forced on the next `times` matching requests (provider/method/path substring)."""

    kind: FaultKind
    provider: str | None = None
    method: str | None = None
    path_contains: str | None = None
    times: int = 1

    def matches(self, provider: str, method: str, path: str) -> bool:
        """True if this fault applies to the request."""
        return (
            self.times > 0
            and (self.provider is None or self.provider == provider)
            and (self.method is None or self.method.upper() == method)
            and (self.path_contains is None or self.path_contains in path)
        )


@dataclass(frozen=True)
class Decision:
    """The fate of one request: at most one failure kind, and how long to wait first."""

    kind: FaultKind | None
    delay: float
    status_5xx: int = 500


class FaultDecider:
    """Draws a `Decision` per request from a seeded generator; thread-safe."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._scripted: list[ScriptedFault] = []

    def script(self, fault: ScriptedFault) -> None:
        """Queue a scripted fault; scripted faults win over random ones."""
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        with self._lock:
            self._scripted.append(fault)

    def decide(self, provider: str, method: str, path: str) -> Decision:
        """The decision for one API request."""
        f = self.faults
        with self._lock:
            r, r_slow, r_code = self._rng.random(), self._rng.random(), self._rng.random()
            scripted = next((s for s in self._scripted if s.matches(provider, method, path)), None)
            if scripted is not None:
                scripted.times -= 1
                self._scripted = [s for s in self._scripted if s.times > 0]
        delay = f.latency + (f.slow_seconds if r_slow < f.slow_rate else 0.0)
        code = 500 if r_code < 0.5 else 503
        if scripted is not None:
            if scripted.kind == "slow":
                return Decision(None, delay + f.slow_seconds)
            return Decision(scripted.kind, delay, 503 if scripted.kind == "503" else 500)
        kind: FaultKind | None = None
        edges: tuple[tuple[float, FaultKind], ...] = (
            (f.rate_429, "429"),
            (f.rate_5xx, "500"),
            (f.rate_drop, "drop"),
            (f.drop_after_processing, "drop_after"),
        )
        acc = 0.0
        for share, name in edges:
            acc += share
            if r < acc:
                kind = name
                break
        if kind == "500":
            kind = "503" if code == 503 else "500"
        return Decision(kind, delay, code)
