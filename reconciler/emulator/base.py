"""What every emulated provider shares: context (clock, ids, temp dir), auth, routing, errors."""

from __future__ import annotations

import random
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.emulator.wire import ApiError, Request, Response, bearer_ok

Route = tuple[str, "re.Pattern[str]", Callable[..., Response]]


@dataclass
class Context:
    """Shared emulator services: a temp dir for uploads, seeded ids, an adjustable clock."""

    tmpdir: Path
    seed: int = 0
    polls_per_step: int = 1
    clock_offset: float = 0.0
    root_url: str = ""
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"ids-{self.seed}")

    def now(self) -> float:
        """The emulator's clock (wall time plus any `advance_clock` offset)."""
        return time.time() + self.clock_offset

    def hex_id(self, n: int = 24) -> str:
        """A random lower-case hex id of `n` digits (seeded)."""
        with self._lock:
            return "".join(self._rng.choice("0123456789abcdef") for _ in range(n))

    def token(self, n: int = 16) -> str:
        """A random alphanumeric id part (seeded)."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        with self._lock:
            return "".join(self._rng.choice(alphabet) for _ in range(n))

    def randint(self, low: int, high: int) -> int:
        """A seeded integer in [low, high]."""
        with self._lock:
            return self._rng.randint(low, high)


class ProviderApi(ABC):
    """One emulated provider: authenticates, routes, and words its errors its own way.

    A provider class names its emulator (`Provider.emulator`); the server mounts it under
    `prefix`, plus any `side_routes` (path prefix -> log label) served by `side` without auth."""

    name: str = ""
    prefix: str = ""  # where the server mounts it, e.g. "/example/v1"
    side_routes: dict[str, str] = {}  # noqa: RUF012 - a read-only class-level declaration
    settings: dict[str, str] = {}  # noqa: RUF012 - provider settings a sandbox run uses (account ids)
    store: dict[str, Any]  # audience id -> the provider's audience record (each has a `name`)

    def __init__(self, ctx: Context, token: str) -> None:
        self.ctx = ctx
        self.token = token
        self.lock = threading.RLock()
        self._routes: list[Route] = []

    def route(self, method: str, pattern: str, handler: Callable[..., Response]) -> None:
        """Register `handler` for `method` on paths matching `pattern` (groups become arguments)."""
        self._routes.append((method, re.compile(pattern + r"/?\Z"), handler))

    def handle(self, req: Request) -> Response:
        """Answer one API request (auth first, then the route); errors in the provider's format."""
        try:
            if not bearer_ok(req, self.token):
                raise ApiError(401, "Unauthorized", "unauthorized")
            return self._dispatch(req)
        except ApiError as exc:
            return self.error(exc.status, exc.message, exc.kind)

    def _dispatch(self, req: Request) -> Response:
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            match = pattern.match(req.path)
            if match is None:
                continue
            if method == req.method:
                return handler(req, *match.groups())
            allowed.append(method)
        if allowed:
            resp = self.error(405, "Method Not Allowed", "method_not_allowed")
            resp.headers["Allow"] = ", ".join(sorted(set(allowed)))
            return resp
        raise ApiError(404, "Not Found", "not_found")

    @abstractmethod
    def error(self, status: int, message: str, kind: str = "invalid_request_error") -> Response:
        """An error response in this provider's documented body format."""

    @classmethod
    def add_arguments(cls, parser: Any) -> None:
        """Add this emulator's own `reconciler emulate` flags (an argparse parser), if any."""
        return None

    def configure(self, options: Mapping[str, Any]) -> None:
        """Apply this emulator's own options (its `reconciler emulate` flags, or `Emulator(**options)`)."""
        return None

    def side(self, req: Request, prefix: str) -> Response:
        """Answer a request under one of `side_routes` (e.g. presigned storage); 404 by default."""
        raise ApiError(404, "Not Found", "not_found")

    def sends_retry_after(self, faults: Any) -> bool:
        """Whether an injected 429 carries Retry-After (providers that document none may not)."""
        return True

    def throttled(self, retry_after: int, send_header: bool = True) -> Response:
        """A 429 response (Retry-After in seconds when `send_header`)."""
        resp = self.error(429, "Too Many Requests", "rate_limit_exceeded")
        if send_header:
            resp.headers["Retry-After"] = str(retry_after)
        return resp

    @abstractmethod
    def audiences(self) -> list[dict[str, Any]]:
        """Inspection: every stored audience, as the provider would list it."""

    @abstractmethod
    def members(self, audience_id: str) -> list[dict[str, str]]:
        """Inspection: the members of one audience (raises KeyError if unknown)."""

    def rename(self, audience_id: str, name: str) -> None:
        """Test hook: rename behind the tool's back (KeyError if unknown)."""
        with self.lock:
            self.store[audience_id].name = name

    @abstractmethod
    def remove(self, audience_id: str) -> None:
        """Test hook: delete behind the tool's back (KeyError if unknown)."""
