"""Retry policy of the HTTP layer: backoff and jitter, server wait hints, bounds, POST safety."""

from __future__ import annotations

import email.utils

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_providers_support import TOKEN, FakeClock, Router, respond

from reconciler.errors import ProviderError
from reconciler.providers.http import ProviderHTTP, RetryPolicy, parse_retry_after


def session(router: Router, clock: FakeClock, policy: RetryPolicy | None = None) -> ProviderHTTP:
    return ProviderHTTP(
        "smallest",
        token=TOKEN,
        base_url="https://api.test/v1",
        client=router.client(),
        policy=policy or RetryPolicy(rand=lambda: 0.0),
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall=clock.wall,
    )


# ----------------------------------------------------------------------------- pure parts


@given(st.integers(min_value=1, max_value=40), st.floats(min_value=0.0, max_value=0.999999))
def test_backoff_doubles_from_half_a_second_capped_with_bounded_jitter(retry: int, r: float) -> None:
    policy = RetryPolicy(rand=lambda: r)
    ceiling = min(30.0, 0.5 * 2 ** (retry - 1))
    delay = policy.backoff(retry)
    assert 0.75 * ceiling - 1e-9 <= delay <= ceiling + 1e-9


def test_backoff_sequence_without_jitter() -> None:
    policy = RetryPolicy(rand=lambda: 0.0)
    assert [policy.backoff(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_retry_after_forms() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after({"Retry-After": "7"}, None, now) == 7.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert parse_retry_after({"retry-after": date}, None, now) == pytest.approx(12.0)
    past = email.utils.formatdate(now - 100, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, None, now) == 0.0
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}, None, now) == 1.5
    assert parse_retry_after({}, {"retry_after": 4}, now) == 4.0
    assert parse_retry_after({"Retry-After": "soon"}, {"retry_after": "x"}, now) is None
    assert parse_retry_after({"Retry-After": "-3"}, None, now) is None


@given(
    st.dictionaries(st.sampled_from(["Retry-After", "retry-after-ms", "X"]), st.text(max_size=40)),
    st.one_of(
        st.none(), st.dictionaries(st.just("retry_after"), st.one_of(st.text(), st.floats(), st.integers()))
    ),
)
def test_retry_after_parser_never_raises_and_never_negative(headers: dict[str, str], body: object) -> None:
    value = parse_retry_after(headers, body, 1_800_000_000.0)
    assert value is None or value >= 0.0


# ----------------------------------------------------------------------------- honouring hints


def test_429_honours_retry_after_seconds() -> None:
    router, clock = Router(), FakeClock()
    router.add(
        "GET", "/v1/x", respond(429, {"errors": ["slow down"]}, {"Retry-After": "3"}), respond(200, {})
    )
    session(router, clock).request("GET", "/x")
    assert clock.sleeps == [3.0]
    assert len(router.seen) == 2


def test_429_honours_retry_after_http_date() -> None:
    router, clock = Router(), FakeClock()
    when = email.utils.formatdate(clock.now + 5, usegmt=True)
    router.add("GET", "/v1/x", respond(429, {}, {"Retry-After": when}), respond(200, {}))
    session(router, clock).request("GET", "/x")
    assert clock.sleeps == [pytest.approx(5.0)]


def test_retry_after_ms_and_body_retry_after() -> None:
    router, clock = Router(), FakeClock()
    router.add(
        "GET",
        "/v1/x",
        respond(503, {}, {"retry-after-ms": "250"}),
        respond(429, {"status": False, "errors": ["rate"], "retry_after": 2}),
        respond(200, {}),
    )
    session(router, clock).request("GET", "/x")
    assert clock.sleeps == [0.25, 2.0]


def test_backoff_used_without_hint_and_gives_up_after_max_attempts() -> None:
    router, clock = Router(), FakeClock()
    router.add("GET", "/v1/x", respond(500, {"errors": ["boom"]}))
    with pytest.raises(ProviderError) as info:
        session(router, clock, RetryPolicy(max_attempts=4, rand=lambda: 0.0)).request("GET", "/x")
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert len(router.seen) == 4
    assert "gave up after 4 attempts" in str(info.value)
    assert "boom" in str(info.value)
    assert info.value.status == 500 and info.value.retryable


def test_gives_up_when_total_time_would_be_exceeded() -> None:
    router, clock = Router(), FakeClock()
    router.add("GET", "/v1/x", respond(429, {}, {"Retry-After": "20"}))
    policy = RetryPolicy(max_attempts=50, max_elapsed=45.0, rand=lambda: 0.0)
    with pytest.raises(ProviderError, match="rate limited"):
        session(router, clock, policy).request("GET", "/x")
    assert clock.sleeps == [20.0, 20.0]
    assert sum(clock.sleeps) <= 45.0


def test_gives_up_at_once_when_asked_to_wait_too_long() -> None:
    router, clock = Router(), FakeClock()
    router.add("GET", "/v1/x", respond(429, {}, {"Retry-After": "3600"}))
    with pytest.raises(ProviderError, match="asked to wait 3600s"):
        session(router, clock).request("GET", "/x")
    assert clock.sleeps == [] and len(router.seen) == 1


def test_client_errors_are_not_retried() -> None:
    router, clock = Router(), FakeClock()
    router.add("GET", "/v1/x", respond(400, {"errors": ["bad"]}))
    with pytest.raises(ProviderError, match="bad"):
        session(router, clock).request("GET", "/x")
    assert len(router.seen) == 1 and clock.sleeps == []


def test_408_and_409_retry_only_where_configured() -> None:
    for status in (408, 409):
        router, clock = Router(), FakeClock()
        router.add("PATCH", "/v1/x", respond(status, {}), respond(200, {}))
        policy = RetryPolicy(extra_statuses=frozenset({408, 409}), rand=lambda: 0.0)
        session(router, clock, policy).request("PATCH", "/x")
        assert len(router.seen) == 2
        router2 = Router()
        router2.add("PATCH", "/v1/x", respond(status, {}), respond(200, {}))
        with pytest.raises(ProviderError):
            session(router2, FakeClock()).request("PATCH", "/x")
        assert len(router2.seen) == 1


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_idempotent_methods_retry_connection_errors_and_timeouts(method: str) -> None:
    router, clock = Router(), FakeClock()
    router.add(method, "/v1/x", httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof"), respond(200, {}))
    session(router, clock).request(method, "/x")
    assert len(router.seen) == 3


def test_unreachable_gives_up_with_a_clear_message() -> None:
    router, clock = Router(), FakeClock()
    router.add("GET", "/v1/x", httpx.ConnectError("refused"))
    with pytest.raises(ProviderError, match=r"cannot reach api\.test: connection failed; gave up after 6"):
        session(router, clock).request("GET", "/x")


# ----------------------------------------------------------------------------- POST safety


def test_post_without_key_is_not_retried_when_outcome_unknown() -> None:
    router, clock = Router(), FakeClock()
    router.add("POST", "/v1/x", httpx.ReadTimeout("lost"), respond(200, {}))
    with pytest.raises(ProviderError, match="outcome unknown") as info:
        session(router, clock).request("POST", "/x", json={})
    assert len(router.seen) == 1
    assert info.value.retryable


def test_post_without_key_5xx_is_not_retried() -> None:
    router, clock = Router(), FakeClock()
    router.add("POST", "/v1/x", respond(502, {"errors": ["gateway"]}), respond(200, {}))
    with pytest.raises(ProviderError, match="outcome unknown"):
        session(router, clock).request("POST", "/x", json={})
    assert len(router.seen) == 1


def test_post_without_key_retries_what_never_arrived() -> None:
    router, clock = Router(), FakeClock()
    router.add("POST", "/v1/x", httpx.ConnectError("refused"), respond(429, {}), respond(201, {"ok": 1}))
    response = session(router, clock).request("POST", "/x", json={})
    assert response.status_code == 201 and len(router.seen) == 3


def test_safe_post_retries_like_any_idempotent_call() -> None:
    router, clock = Router(), FakeClock()
    router.add("POST", "/v1/x", httpx.ReadTimeout("lost"), respond(500, {}), respond(201, {}))
    session(router, clock).request("POST", "/x", json={}, headers={"Idempotency-Key": "k"}, post="safe")
    posts = router.calls("POST", "/v1/x")
    assert len(posts) == 3
    assert {p.headers["idempotency-key"] for p in posts} == {"k"}


def test_checked_post_uses_what_landed_instead_of_posting_again() -> None:
    router, clock = Router(), FakeClock()
    router.add("POST", "/v1/x", httpx.ReadTimeout("lost"), respond(201, {"id": "second"}))
    checks: list[float] = []

    def landed() -> str | None:
        checks.append(clock.now)
        return "first"

    result = session(router, clock).post_checked(
        "/x", json={}, parse=lambda r: str(r.json()["id"]), landed=landed
    )
    assert result == "first"
    assert len(router.calls("POST", "/v1/x")) == 1
    assert checks and clock.sleeps  # it waited before reading back


def test_checked_post_retries_when_nothing_landed() -> None:
    router, clock = Router(), FakeClock()
    router.add("POST", "/v1/x", respond(500, {}), httpx.WriteTimeout("w"), respond(201, {"id": "made"}))
    result = session(router, clock).post_checked(
        "/x", json={}, parse=lambda r: str(r.json()["id"]), landed=lambda: None
    )
    assert result == "made"
    assert len(router.calls("POST", "/v1/x")) == 3


def test_checked_post_gives_up_after_bounded_attempts() -> None:
    router, clock = Router(), FakeClock()
    router.add("POST", "/v1/x", respond(500, {"errors": ["down"]}))
    calls: list[int] = []
    with pytest.raises(ProviderError, match="gave up after 3 attempts"):
        session(router, clock, RetryPolicy(max_attempts=3, rand=lambda: 0.0)).post_checked(
            "/x", json={}, parse=lambda r: r, landed=lambda: calls.append(1)
        )
    assert len(router.calls("POST", "/v1/x")) == 3
    assert len(calls) == 3  # read back after every unknown outcome, including the last
