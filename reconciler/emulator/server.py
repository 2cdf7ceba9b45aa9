"""The HTTP server: one loopback port, providers under path prefixes, faults, and a request log.

Each emulated provider declares its prefix (e.g. /commbox) and any side routes (e.g. presigned
storage URLs). A method a path does not support is answered 405 with an `Allow` header, whatever
the method. The log records provider, method, path, status and a small summary — never headers.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reconciler.emulator.base import ProviderApi
from reconciler.emulator.faults import FaultDecider
from reconciler.emulator.wire import ApiError, BodyReader, Request, Response


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it; `status` is 0 when the connection was dropped."""

    provider: str
    method: str
    path: str
    status: int
    summary: dict[str, Any] = field(default_factory=dict)
    fault: str | None = None
    query: str = ""
    idempotency_key: str | None = None


class RequestLog:
    """A thread-safe list of LoggedRequest, with an optional per-request callback."""

    def __init__(self, on_request: Callable[[LoggedRequest], None] | None = None) -> None:
        self._items: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self.on_request = on_request

    def add(self, item: LoggedRequest) -> None:
        with self._lock:
            self._items.append(item)
        if self.on_request is not None:
            self.on_request(item)

    def items(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Router:
    """Maps a request to a provider, applies faults, and writes the response."""

    def __init__(self, apis: dict[str, ProviderApi], decider: FaultDecider, log: RequestLog) -> None:
        self.apis = apis
        self.decider = decider
        self.log = log
        # side route prefix -> (its API, log label); they are matched first
        self.sides: dict[str, tuple[ProviderApi, str]] = {
            prefix: (api, label) for api in apis.values() for prefix, label in api.side_routes.items()
        }

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        """Answer the request held by handler `h`."""
        method, target = h.command, h.path
        chunked = "chunked" in (h.headers.get("Transfer-Encoding") or "").lower()
        try:
            length = int(h.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            _write(h, Response(400, {"error": "bad Content-Length"}), close=True)
            return
        body = BodyReader(h.rfile, None if chunked else length, chunked)
        headers = {k: v for k, v in h.headers.items()}
        provider, prefix = self._match(target)
        if provider is None:
            resp = Response(404, {"error": "not found"})
            self.log.add(LoggedRequest("", method, target.split("?")[0], 404))
            _write(h, resp, close=not body.drain(1 << 20))
            return
        req = Request.build(method, target[len(prefix) :], headers, body)
        if prefix in self.sides:
            side, label = self.sides[prefix]
            answer = self._run(side, req, lambda: side.side(req, prefix))
            self._finish(h, req, label, answer, None, secret=True)
            return
        api = self.apis[provider]
        decision = self.decider.decide(provider, method, req.path)
        if decision.delay:
            time.sleep(decision.delay)
        kind = decision.kind
        if kind in ("drop", "429", "500", "503"):
            body.drain()
        if kind == "drop":
            self._drop(h, req, provider, kind)
            return
        if kind == "429":
            send = api.sends_retry_after(self.decider.faults)
            resp = api.throttled(self.decider.faults.retry_after, send_header=send)
        elif kind in ("500", "503"):
            resp = api.error(
                int(kind), "Server Error" if kind == "500" else "Service Unavailable", "server_error"
            )
            if kind == "503":
                resp.headers["Retry-After"] = str(self.decider.faults.retry_after)
        else:
            resp = self._run(api, req, lambda: api.handle(req))
        if kind == "drop_after":
            self._drop(h, req, provider, kind, resp.status)
            return
        self._finish(h, req, provider, resp, kind)

    def _run(self, api: ProviderApi, req: Request, call: Callable[[], Response]) -> Response:
        try:
            return call()
        except ApiError as exc:
            return api.error(exc.status, exc.message, exc.kind)
        except Exception as exc:  # a bug in the emulator: answer 500, say what on stderr
            sys.stderr.write(
                f"emulator: internal error on {req.method} {req.path}: {type(exc).__name__}: {exc}\n"
            )
            return api.error(500, "Server Error", "server_error")

    def _match(self, target: str) -> tuple[str | None, str]:
        path = target.split("?")[0]
        for prefix, (api, _) in self.sides.items():
            if path.startswith(prefix + "/"):
                return api.name, prefix
        for name, api in self.apis.items():
            if path == api.prefix or path.startswith(api.prefix + "/"):
                return name, api.prefix
        return None, ""

    def _finish(
        self,
        h: BaseHTTPRequestHandler,
        req: Request,
        provider: str,
        resp: Response,
        fault: str | None,
        *,
        secret: bool = False,
    ) -> None:
        close = not req.body.done and not req.body.drain(1 << 20)
        # before the answer: a client may read the log next
        self._record(req, provider, resp.status, fault, secret=secret)
        _write(h, resp, close=close)

    def _drop(
        self, h: BaseHTTPRequestHandler, req: Request, provider: str, fault: str, status: int = 0
    ) -> None:
        self._record(req, provider, 0, fault, {"processed_status": status} if status else {})
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)

    def _record(
        self,
        req: Request,
        provider: str,
        status: int,
        fault: str | None,
        extra: dict[str, Any] | None = None,
        *,
        secret: bool = False,
    ) -> None:
        # a side route's query string (a presigned URL's signature) is a credential: never logged
        query = "" if secret else "&".join(f"{k}={v}" for k, vs in req.query.items() for v in vs)
        self.log.add(
            LoggedRequest(
                provider,
                req.method,
                req.path,
                status,
                {**req.summary, **(extra or {})},
                fault,
                query,
                req.header("Idempotency-Key"),
            )
        )


def _write(h: BaseHTTPRequestHandler, resp: Response, *, close: bool) -> None:
    payload = resp.encode()
    h.send_response(resp.status)
    for name, value in resp.headers.items():
        h.send_header(name, value)
    h.send_header("Content-Length", str(len(payload)))
    if close:
        h.send_header("Connection", "close")
        h.close_connection = True
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(payload)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "reconciler-emulator"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without NODELAY each answer waits for a delayed ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        router: Router = self.server.router  # type: ignore[attr-defined]
        router.serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # any other method (TRACE, CONNECT, PROPFIND...) is routed too, so a path that does not
        # support it answers 405 with Allow (BaseHTTPRequestHandler would send a 501 HTML page)
        if name.startswith("do_") and name[3:].isupper():
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
        return


class EmulatorServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with daemon threads and quiet connection errors."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 makes bursts of parallel clients wait for SYN retries

    def __init__(self, host: str, port: int, router: Router) -> None:
        super().__init__((host, port), _Handler)
        self.router = router

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away, reset, broken pipe
            return
        super().handle_error(request, client_address)
