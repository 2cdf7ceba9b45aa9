"""Error mapping, auth, configuration and redaction of the HTTP layer and make_provider."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_providers_support import ENV, TOKEN, FakeClock, Router, provider, respond, write_upload

from reconciler.errors import AuthError, ConfigError, NotFoundError, ProviderError
from reconciler.providers import make_provider
from reconciler.providers.http import (
    USER_AGENT,
    ProviderHTTP,
    RetryPolicy,
    mask_pii,
    provider_message,
    resolve_base_url,
)
from reconciler.providers.whop import API_VERSION_DATE

LIST_PATH = {"commbox": "/audiences", "whop": "/api/v1/audiences", "smallest": "/atoms/v1/audience"}
ERROR_BODIES = {
    "commbox": {
        "status": 400,
        "description": "Missing phone1 column",
        "response_time": "2025-02-06T07:51:52Z",
    },
    "whop": {"error": {"type": "invalid_request", "message": "column_mapping needs email or phone"}},
    "smallest": {"status": False, "errors": ["Audience cannot exceed 10000 members"]},
}


def test_provider_message_reads_each_provider_format() -> None:
    assert provider_message("commbox", ERROR_BODIES["commbox"]) == "Missing phone1 column"
    assert provider_message("whop", ERROR_BODIES["whop"]) == "column_mapping needs email or phone"
    assert provider_message("smallest", ERROR_BODIES["smallest"]) == "Audience cannot exceed 10000 members"
    assert provider_message("smallest", {"status": False, "errors": ["a", "b"]}) == "a; b"
    assert provider_message("x", "not a dict") is None
    assert provider_message("x", {"data": [{"phone": "+14155550123"}]}) is None  # bodies are never dumped
    assert len(provider_message("x", {"description": "y" * 5000}) or "") <= 300


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: (
            st.lists(c, max_size=4)
            | st.dictionaries(
                st.sampled_from(["error", "errors", "message", "description", "x"]), c, max_size=4
            )
        ),
        max_leaves=12,
    )
)
def test_provider_message_never_raises(body: object) -> None:
    result = provider_message("x", body)
    assert result is None or (isinstance(result, str) and 0 < len(result) <= 300)


def test_mask_pii_hides_phones_and_emails_in_messages() -> None:
    text = mask_pii("duplicate +14155550123 and jane.doe@example.com in row 7")
    assert "4155550123" not in text and "jane.doe" not in text
    assert "+1******0123" in text and "j***@e***.com" in text and "row 7" in text


@pytest.mark.parametrize("name", ["commbox", "whop", "smallest"])
def test_each_provider_error_body_becomes_one_typed_error_with_its_message(name: str) -> None:
    router, clock = Router(), FakeClock()
    router.add("GET", LIST_PATH[name], respond(400, ERROR_BODIES[name]))
    with pytest.raises(ProviderError) as info:
        provider(name, router, clock).list_audiences()
    assert type(info.value) is ProviderError
    assert str(provider_message(name, ERROR_BODIES[name])) in str(info.value)
    assert str(info.value).startswith(f"{name}: ") and info.value.status == 400


@pytest.mark.parametrize(
    "name,var", [("commbox", "COMMBOX_API_TOKEN"), ("whop", "WHOP_API_KEY"), ("smallest", "SMALLEST_API_KEY")]
)
@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token_names_the_variable(name: str, var: str, status: int) -> None:
    router, clock = Router(), FakeClock()
    router.add("GET", LIST_PATH[name], respond(status, ERROR_BODIES[name]))
    with pytest.raises(AuthError, match=f"token rejected.*check {var}"):
        provider(name, router, clock).list_audiences()
    assert len(router.seen) == 1  # never retried


@pytest.mark.parametrize(
    "name,var", [("commbox", "COMMBOX_API_TOKEN"), ("whop", "WHOP_API_KEY"), ("smallest", "SMALLEST_API_KEY")]
)
def test_missing_token_names_the_variable(name: str, var: str) -> None:
    env = {k: v for k, v in ENV.items() if k != var}
    with pytest.raises(AuthError, match=f"{var} is not set"):
        make_provider(name, {}, env)
    with pytest.raises(AuthError, match=var):
        make_provider(name, {}, {**env, var: "  "})


def test_404_is_not_found() -> None:
    router, clock = Router(), FakeClock()
    router.add(
        "DELETE",
        "/atoms/v1/audience/a1/members",
        respond(404, {"status": False, "errors": ["Audience not found"]}),
    )
    with pytest.raises(NotFoundError, match="Audience not found"):
        provider("smallest", router, clock).remove_members("a1", ["m1"])


def test_unknown_provider_and_bad_settings() -> None:
    with pytest.raises(ConfigError, match="unknown provider"):
        make_provider("mailchimp", {}, ENV)
    with pytest.raises(ConfigError, match="account"):
        make_provider("whop", {}, {k: v for k, v in ENV.items() if k != "WHOP_ACCOUNT_ID"})
    with pytest.raises(ConfigError, match="not an http"):
        make_provider("commbox", {"base_url": "ftp://x"}, ENV)


def test_base_url_precedence() -> None:
    assert resolve_base_url("whop", {}, {}) == "https://api.whop.com/api/v1"
    assert resolve_base_url("commbox", {}, {}) == "https://api.commbox.io/"
    assert resolve_base_url("smallest", {}, {}) == "https://api.smallest.ai/atoms/v1"
    assert resolve_base_url("whop", {}, {"WHOP_BASE_URL": "http://127.0.0.1:1/w"}) == "http://127.0.0.1:1/w"
    settings = {"base_url": "https://sandbox-api.whop.com/api/v1"}
    assert resolve_base_url("whop", settings, {"WHOP_BASE_URL": "http://x"}) == settings["base_url"]


def test_every_call_carries_bearer_user_agent_and_whop_version() -> None:
    router, clock = Router(), FakeClock()
    router.add("PATCH", "/api/v1/audiences/adaud_1", respond(200, {"id": "adaud_1"}))
    provider("whop", router, clock).rename("adaud_1", "New")
    seen = router.seen[0]
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["api-version-date"] == API_VERSION_DATE


def test_presigned_upload_carries_no_authorization(tmp_path) -> None:  # type: ignore[no-untyped-def]
    router, clock = Router(), FakeClock()
    router.add("PUT", "/bucket/f", respond(200))
    upload = write_upload(tmp_path / "u.csv", ["phone"], [["+14155550123"]])
    http = provider("whop", router, clock).http  # type: ignore[attr-defined]
    http.upload(
        "https://storage.test/bucket/f?sig=abc",
        upload.path,
        {"Content-Type": "text/csv", "x-amz-acl": "private"},
    )
    seen = router.seen[0]
    assert "authorization" not in seen.headers
    assert "api-version-date" not in seen.headers
    assert seen.headers["x-amz-acl"] == "private"
    assert seen.body == upload.path.read_bytes()
    assert seen.headers["content-length"] == str(upload.size)


# ----------------------------------------------------------------------------- redaction


def _provoke_everything(caplog: pytest.LogCaptureFixture) -> list[BaseException]:
    """Every error path, with a provider that echoes the token back in its messages."""
    errors: list[BaseException] = []
    echo = f"invalid token {TOKEN}"
    cases: list[tuple[str, list[object]]] = [
        ("GET", [respond(401, {"error": {"type": "auth", "message": echo}})]),
        ("GET", [respond(403, {"description": echo})]),
        ("GET", [respond(404, {"errors": [echo]})]),
        ("GET", [respond(400, {"errors": [echo]})]),
        ("GET", [respond(500, {"errors": [echo]})]),
        ("GET", [respond(429, {"errors": [echo]}, {"Retry-After": "9999"})]),
        ("GET", [httpx.ConnectError(echo)]),
        ("GET", [httpx.ReadTimeout(echo)]),
        ("POST", [httpx.ReadTimeout(echo)]),
        ("POST", [respond(503, {"description": echo})]),
    ]
    caplog.set_level(logging.DEBUG)
    for method, answers in cases:
        router, clock = Router(), FakeClock()
        router.add(method, "/v1/x", *answers)
        http = ProviderHTTP(
            "commbox",
            token=TOKEN,
            base_url="https://api.test/v1",
            client=router.client(),
            policy=RetryPolicy(max_attempts=2),
            sleep=clock.sleep,
            clock=clock.monotonic,
            wall=clock.wall,
        )
        try:
            http.request(method, "/x", json={} if method == "POST" else None)
        except ProviderError as exc:
            errors.append(exc)
        else:
            raise AssertionError(f"{method} {answers} did not fail")
    return errors


def test_token_never_appears_in_errors_reprs_tracebacks_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    errors = _provoke_everything(caplog)
    assert len(errors) == 10
    for exc in errors:
        texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        for text in texts:
            assert TOKEN not in text, text
    assert caplog.records  # retries were logged...
    assert TOKEN not in caplog.text  # ...without the token
    router, clock = Router(), FakeClock()
    for name in ("commbox", "whop", "smallest"):
        prov = provider(name, router, clock)
        assert TOKEN not in repr(prov) and TOKEN not in repr(prov.http)  # type: ignore[attr-defined]


def test_missing_token_error_does_not_leak_other_tokens() -> None:
    with pytest.raises(AuthError) as info:
        make_provider("whop", {}, {**ENV, "WHOP_API_KEY": ""})
    assert TOKEN not in str(info.value)
