"""HTTP plumbing shared by the emulated providers: requests, responses, bodies and API errors.

Nothing here knows a provider; each provider module turns an `ApiError` into its own error body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

JSON_LIMIT = 32 * 1024 * 1024  # largest JSON body read into memory
CHUNK = 64 * 1024


class ApiError(Exception):
    """An HTTP error a provider answers with; `kind` is a machine-readable code (Whop `type`)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


class Stream(Protocol):
    """The part of a buffered socket file a body reader needs."""

    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


class BodyReader:
    """Reads a request body framed by Content-Length or chunked transfer encoding, never past it."""

    def __init__(self, stream: Stream, length: int | None, chunked: bool) -> None:
        self._stream = stream
        self._remaining = length or 0
        self._chunked = chunked
        self._chunk_left = 0
        self._done = not chunked and not length
        self.bytes_read = 0

    @property
    def done(self) -> bool:
        """True once the whole body has been consumed."""
        return self._done

    def read(self, size: int = CHUNK) -> bytes:
        """Up to `size` bytes of body; b"" at the end."""
        if self._done:
            return b""
        data = self._read_chunked(size) if self._chunked else self._read_plain(size)
        self.bytes_read += len(data)
        return data

    def _read_plain(self, size: int) -> bytes:
        data = self._stream.read(min(size, self._remaining))
        if not data:
            raise ApiError(400, "request body ended early")
        self._remaining -= len(data)
        if self._remaining == 0:
            self._done = True
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._stream.readline(1024).strip()
            try:
                self._chunk_left = int(line.split(b";")[0], 16)
            except ValueError:
                raise ApiError(400, "malformed chunked body") from None
            if self._chunk_left == 0:
                while self._stream.readline(1024).strip():  # trailers
                    pass
                self._done = True
                return b""
        data = self._stream.read(min(size, self._chunk_left))
        if not data:
            raise ApiError(400, "request body ended early")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._stream.readline(16)  # CRLF after the chunk
        return data

    def drain(self, limit: int = 512 * 1024 * 1024) -> bool:
        """Read and discard the rest of the body (up to `limit` bytes); True if it was all read."""
        try:
            while not self._done and self.bytes_read < limit:
                if not self.read(CHUNK) and not self._done:
                    break
        except (ApiError, OSError):  # the client sent less than it announced, or went away
            return False
        return self._done

    def read_all(self, limit: int = JSON_LIMIT) -> bytes:
        """The whole body in memory (only for small JSON bodies)."""
        parts: list[bytes] = []
        while not self._done:
            parts.append(self.read(CHUNK))
            if self.bytes_read > limit:
                raise ApiError(413, "request body too large")
        return b"".join(parts)


@dataclass
class Request:
    """One parsed API request as a provider sees it (path relative to the provider's prefix)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: BodyReader
    summary: dict[str, Any] = field(default_factory=dict)  # filled by handlers for the request log

    @classmethod
    def build(cls, method: str, target: str, headers: Mapping[str, str], body: BodyReader) -> Request:
        """Split `target` into path and query."""
        path, _, qs = target.partition("?")
        lowered = {k.lower(): v for k, v in headers.items()}
        return cls(method, path, parse_qs(qs, keep_blank_values=True), lowered, body)

    def header(self, name: str) -> str | None:
        """A header value by case-insensitive name."""
        return self.headers.get(name.lower())

    def arg(self, name: str) -> str | None:
        """The first query value for `name`, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> dict[str, Any]:
        """The body as a JSON object; 400 if it is not one."""
        raw = self.body.read_all()
        try:
            data = json.loads(raw or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "request body must be a JSON object")
        return data


@dataclass
class Response:
    """What the server writes back: status, headers and a body (JSON-encoded unless bytes)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        """The body as bytes; sets Content-Type for JSON."""
        if isinstance(self.body, bytes):
            return self.body
        self.headers.setdefault("Content-Type", "application/json; charset=utf-8")
        return json.dumps(self.body, separators=(",", ":")).encode()


Handler = Callable[[Request], Response]


def bearer_ok(req: Request, token: str) -> bool:
    """True if the request carries exactly `Authorization: Bearer <token>`."""
    value = req.header("Authorization") or ""
    scheme, _, given = value.partition(" ")
    return scheme.lower() == "bearer" and given.strip() == token and bool(token)
