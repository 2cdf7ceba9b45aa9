"""Shared helpers for the HTTP and provider tests (no tests here): a fake clock, a routing mock
transport that records requests, and builders for specs and upload files."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reconciler.config.model import AudienceSpec, SourceSpec
from reconciler.providers import make_provider
from reconciler.providers.base import Provider
from reconciler.sources.members import UploadFile

TOKEN = "tok-SECRET-123"
ENV = {
    "COMMBOX_API_TOKEN": TOKEN,
    "WHOP_API_KEY": TOKEN,
    "SMALLEST_API_KEY": TOKEN,
    "WHOP_ACCOUNT_ID": "biz_test",
    "COMMBOX_BASE_URL": "https://commbox.test/",
    "WHOP_BASE_URL": "https://whop.test/api/v1",
    "SMALLEST_BASE_URL": "https://smallest.test/atoms/v1",
}


class FakeClock:
    """Monotonic and wall clocks that only move when `sleep` is called."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def form_parts(seen: Seen) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body -> {field: (filename or None, content)}."""
    match = re.search(r"boundary=([^;]+)", seen.headers["content-type"])
    assert match, seen.headers["content-type"]
    boundary = b"--" + match.group(1).strip('"').encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in seen.body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]*)"', head)
        filename = re.search(rb'filename="([^"]*)"', head)
        assert name, head
        parts[name.group(1).decode()] = (
            filename.group(1).decode() if filename else None,
            content[:-2] if content.endswith(b"\r\n") else content,
        )
    return parts


Handler = Callable[[httpx.Request, Seen], httpx.Response]


@dataclass
class Router:
    """A MockTransport handler: routes (METHOD, path) to handlers, records every request.

    A route may be a list of handlers/responses consumed one per call (the last one repeats)."""

    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def add(self, method: str, path: str, *answers: Any) -> None:
        self.routes[(method, path)] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        seen = Seen(
            request.method,
            request.url.path,
            dict(request.url.params),
            request.headers,
            request.read(),
        )
        self.seen.append(seen)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return httpx.Response(599, json={"unrouted": f"{request.method} {request.url.path}"})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request, seen)

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))


def respond(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def provider(name: str, router: Router, clock: FakeClock, env: dict[str, str] | None = None) -> Provider:
    """A provider wired to the router, with a fake clock for both sleeping and timing."""
    prov = make_provider(name, {}, env or ENV, client=router.client(), sleep=clock.sleep)
    http = prov.http  # type: ignore[attr-defined]
    http.clock = clock.monotonic
    http.wall = clock.wall
    return prov


def spec(provider_name: str, columns: dict[str, str] | None = None, **kw: Any) -> AudienceSpec:
    source = SourceSpec(path=Path("/nonexistent/members.csv"), display="data/members.csv")
    return AudienceSpec(
        key=kw.pop("key", "vip"),
        provider=provider_name,  # type: ignore[arg-type]
        name=kw.pop("name", "VIP customers"),
        source=source,
        columns=columns or {"phone": "Mobile", "first_name": "First"},
        phone_region="US",
        **kw,
    )


def write_upload(path: Path, headers: list[str], rows: list[list[str]]) -> UploadFile:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        writer.writerows(rows)
    data = path.read_bytes()
    return UploadFile(path, len(rows), len(data), hashlib.sha256(data).hexdigest(), tuple(headers))
