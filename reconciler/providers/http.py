"""The HTTP layer every provider client shares: auth, timeouts, retries, error mapping, redaction.

`ProviderHTTP` wraps one injected `httpx.Client` for one provider. It adds the bearer token and the
User-Agent to each request, retries what is safe to retry (see `RetryPolicy`), turns every failure
into one `reconciler.errors` exception carrying the provider's own message, and keeps the token out
of every message and log line. Uploads are streamed from disk, never read whole into memory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import httpx

from reconciler.errors import AuthError, NotFoundError, ProviderError
from reconciler.providers.answers import (
    as_int,
    json_body,
    mask_pii,
    parse_timestamp,
    provider_message,
    redact,
)
from reconciler.providers.base import Progress
from reconciler.providers.env import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    ProviderEnv,
    build_client,
    provider_env,
    resolve_base_url,
    resolve_token,
)
from reconciler.providers.retry import RetryPolicy, parse_retry_after
from reconciler.providers.upload import FilePart, _CountingReader

__all__ = [
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "FilePart",
    "ProviderEnv",
    "ProviderHTTP",
    "RetryPolicy",
    "as_int",
    "build_client",
    "json_body",
    "mask_pii",
    "parse_retry_after",
    "parse_timestamp",
    "provider_env",
    "provider_message",
    "redact",
    "resolve_base_url",
    "resolve_token",
]

log = logging.getLogger("reconciler.http")


# --------------------------------------------------------------------------- the session

T = TypeVar("T")
PostMode = Literal["safe", "checked", "unsafe"]


@dataclass
class _Landed(Generic[T]):
    value: T


@dataclass(frozen=True)
class _Call:
    """One API request to send (with retries): `path` is the full URL when `external`."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: object = None
    data: Mapping[str, str] | None = None
    file: FilePart | None = None
    headers: Mapping[str, str] | None = None
    external: bool = False

    @property
    def label(self) -> str:
        return "upload PUT" if self.external else f"{self.method} {self.path}"


# Transport failures where the request certainly never reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class ProviderHTTP:
    """One provider's HTTP session: auth, retries, error mapping and redaction over a shared client."""

    def __init__(
        self,
        provider: str,
        *,
        token: str,
        base_url: str,
        client: httpx.Client,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        headers: Mapping[str, str] | None = None,
        token_env: str | None = None,
    ) -> None:
        self.provider = provider
        self.token_env = token_env or provider_env(provider).token_var
        self.base_url = base_url.rstrip("/")
        self.client = client
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.clock = clock
        self.wall = wall
        self._token = token
        self._headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"ProviderHTTP(provider={self.provider!r}, base_url={self.base_url!r}, token=***)"

    # -- public calls -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: object = None,
        data: Mapping[str, str] | None = None,
        file: FilePart | None = None,
        headers: Mapping[str, str] | None = None,
        post: PostMode = "unsafe",
        progress: Progress | None = None,
    ) -> httpx.Response:
        """Send a provider API call with retries; return the 2xx response or raise a ProviderError.

        GET/PUT/PATCH/DELETE retry freely. A POST retries only when `post="safe"` (it carries an
        idempotency key or is idempotent by nature); otherwise only when it surely never arrived.
        """
        call = _Call(method, path, params=params, json=json, data=data, file=file, headers=headers)
        result = self._call(call, mode=post, landed=None, progress=progress)
        assert isinstance(result, httpx.Response)
        return result

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> object:
        """GET `path` and return its JSON body."""
        return self.decode(self.request("GET", path, params=params))

    def post_checked(
        self,
        path: str,
        *,
        parse: Callable[[httpx.Response], T],
        landed: Callable[[], T | None],
        data: Mapping[str, str] | None = None,
        file: FilePart | None = None,
        json: object = None,
        progress: Progress | None = None,
    ) -> T:
        """A create POST without idempotency key: when an attempt's outcome is unknown (lost answer,
        5xx), wait, call `landed()` to read back; a found object is returned, else the POST retries."""
        call = _Call("POST", path, json=json, data=data, file=file)
        result = self._call(call, mode="checked", landed=landed, progress=progress)
        if isinstance(result, _Landed):
            return result.value
        return parse(result)

    def upload(
        self, url: str, path: Path, headers: Mapping[str, str], *, progress: Progress | None = None
    ) -> httpx.Response:
        """PUT a file's raw bytes, streamed, to a presigned URL: no Authorization, no API headers.

        Returns the final response whatever its status (the caller decides what a 403 means);
        5xx, 429 and connection errors are retried."""
        call = _Call("PUT", url, file=FilePart(path), headers=headers, external=True)
        result = self._call(call, mode="safe", landed=None, progress=progress)
        assert isinstance(result, httpx.Response)
        return result

    def decode(self, response: httpx.Response) -> object:
        """A success response's JSON; ProviderError when it is not JSON."""
        body = json_body(response)
        if body is None and response.content:
            raise ProviderError(
                f"unexpected non-JSON answer to {response.request.method} (HTTP {response.status_code})",
                provider=self.provider,
                status=response.status_code,
            )
        return body

    def error(self, message: str, *, status: int | None = None, retryable: bool = False) -> ProviderError:
        """A ProviderError for this provider, token redacted."""
        return ProviderError(self._clean(message), provider=self.provider, status=status, retryable=retryable)

    # -- internals ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def _clean(self, text: str) -> str:
        return redact(text, [self._token])

    def _call(
        self, call: _Call, *, mode: PostMode, landed: Callable[[], Any] | None, progress: Progress | None
    ) -> httpx.Response | _Landed[Any]:
        policy = self.policy
        started = self.clock()
        label = call.label
        is_post = call.method.upper() == "POST"
        attempt = 0
        while True:
            attempt += 1
            response: httpx.Response | None = None
            failure: httpx.TransportError | None = None
            try:
                response = self._send_once(call, progress)
            except httpx.TransportError as exc:
                failure = exc
            if response is not None:
                if response.is_success or (call.external and not policy.retryable(response.status_code)):
                    return response
                if not policy.retryable(response.status_code):
                    raise self._status_error(response, label)
            # Could the request have taken effect?  Only matters for a POST without a key.
            not_sent = failure is not None and isinstance(failure, _NOT_SENT)
            rejected = response is not None and response.status_code in (408, 429)
            unknown = is_post and mode != "safe" and not (not_sent or rejected)
            if unknown and mode == "unsafe":
                raise self._unknown_outcome(label, response, failure)
            hint = None
            if response is not None:
                hint = parse_retry_after(response.headers, json_body(response), self.wall())
            delay = policy.backoff(attempt) if hint is None else hint
            elapsed = self.clock() - started
            give_up = (
                attempt >= policy.max_attempts
                or elapsed + delay > policy.max_elapsed
                or (hint is not None and hint > policy.max_retry_after)
            )
            if give_up and not unknown:
                raise self._give_up(label, response, failure, attempt, hint)
            log.info(
                "%s %s failed (%s); %s",
                self.provider, label, _what(response, failure),
                "checking whether it landed" if unknown else f"retry {attempt}/{policy.max_attempts - 1} "
                f"in {delay:.1f}s",
            )
            self.sleep(min(delay, policy.max_retry_after))
            if unknown:
                assert landed is not None
                found = landed()
                if found is not None:
                    log.info("%s %s had landed; using the created object", self.provider, label)
                    return _Landed(found)
                if give_up:
                    raise self._give_up(label, response, failure, attempt, hint)

    def _send_once(self, call: _Call, progress: Progress | None) -> httpx.Response:
        if call.external:
            headers = dict(call.headers or {})
            url = call.path
        else:
            headers = {
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
                **self._headers,
                **(call.headers or {}),
                "Authorization": f"Bearer {self._token}",
            }
            url = self._url(call.path)
        kwargs: dict[str, Any] = {"params": call.params, "headers": headers}
        if call.json is not None:
            kwargs["json"] = call.json
        if call.data is not None and (call.file is None or call.file.field is not None):
            kwargs["data"] = call.data  # form fields, alone or beside a multipart file (not a raw body)
        if call.file is None:
            return self._send(call.method, url, kwargs, call.external)
        file = call.file
        with open(file.path, "rb") as raw:
            reader = _CountingReader(raw, file.path.stat().st_size, progress)
            if file.field is None:
                kwargs["content"] = reader
            else:
                kwargs["files"] = {file.field: (file.filename or file.path.name, reader, file.content_type)}
            return self._send(call.method, url, kwargs, call.external)

    def _send(self, method: str, url: str, kwargs: dict[str, Any], external: bool) -> httpx.Response:
        request = self.client.build_request(method, url, **kwargs)
        if external:
            request.headers.pop("Authorization", None)
        response = self.client.send(request, auth=None)
        response.read()
        return response

    # -- error construction -------------------------------------------------------------------

    def _status_error(self, response: httpx.Response, label: str, suffix: str = "") -> ProviderError:
        status = response.status_code
        message = provider_message(self.provider, json_body(response))
        said = f": {mask_pii(self._clean(message))}" if message else ""
        if status in (401, 403):
            return AuthError(
                f"token rejected (HTTP {status}{said}); check {self.token_env}",
                provider=self.provider,
                status=status,
            )
        if status == 404:
            return NotFoundError(f"{label}: not found (HTTP 404{said})", provider=self.provider, status=404)
        return ProviderError(
            f"{label} failed (HTTP {status}{said}){suffix}",
            provider=self.provider,
            status=status,
            retryable=self.policy.retryable(status),
        )

    def _unknown_outcome(
        self, label: str, response: httpx.Response | None, failure: httpx.TransportError | None
    ) -> ProviderError:
        note = "; the request may or may not have taken effect (outcome unknown), so it was not retried"
        if response is not None:
            return self._status_error(response, label, note)
        return ProviderError(
            f"{label}: {_transport_text(failure)}{note}", provider=self.provider, retryable=True
        )

    def _give_up(
        self,
        label: str,
        response: httpx.Response | None,
        failure: httpx.TransportError | None,
        attempt: int,
        hint: float | None,
    ) -> ProviderError:
        tries = f"; gave up after {attempt} attempt{'s' if attempt != 1 else ''}"
        if hint is not None and hint > self.policy.max_retry_after:
            tries = f"; the provider asked to wait {hint:.0f}s, more than {self.policy.max_retry_after:.0f}s"
        if response is not None:
            if response.status_code == 429:
                tries = " (rate limited)" + tries
            return self._status_error(response, label, tries)
        host = urlsplit(self.base_url).netloc
        return ProviderError(
            f"{label}: cannot reach {host}: {_transport_text(failure)}{tries}",
            provider=self.provider,
            retryable=True,
        )


def _transport_text(failure: httpx.TransportError | None) -> str:
    if failure is None:
        return "no answer"
    kind = {
        httpx.ConnectError: "connection failed",
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "timed out waiting for the answer",
        httpx.WriteTimeout: "timed out sending the request",
        httpx.PoolTimeout: "no free connection",
        httpx.RemoteProtocolError: "connection closed without an answer",
        httpx.ReadError: "connection broken while reading the answer",
        httpx.WriteError: "connection broken while sending",
    }.get(type(failure))
    return kind or f"network error ({type(failure).__name__})"


def _what(response: httpx.Response | None, failure: httpx.TransportError | None) -> str:
    return f"HTTP {response.status_code}" if response is not None else _transport_text(failure)
