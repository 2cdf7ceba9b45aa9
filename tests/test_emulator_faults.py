"""Fault injection over real HTTP: 429 with Retry-After, 5xx, dropped connections, latency, seeds."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest
from emulator_support import ACCOUNT, auth, csv_bytes, whop_create, whop_file

from reconciler.emulator import Emulator, Faults

LIST_PATHS = {"commbox": "/audiences", "whop": "/audiences?account_id=biz_test", "smallest": "/audience"}


def statuses(c: httpx.Client, emu: Emulator, provider: str, n: int) -> list[int]:
    out = []
    for _ in range(n):
        try:
            out.append(
                c.get(emu.base_urls[provider] + LIST_PATHS[provider], headers=auth(emu, provider)).status_code
            )
        except httpx.TransportError:
            out.append(0)
    return out


@pytest.mark.parametrize(("rate", "n"), [(0.25, 300), (0.05, 300)])
def test_429_share_is_honoured_statistically(c: httpx.Client, rate: float, n: int) -> None:
    with Emulator(faults=Faults(rate_429=rate), seed=7) as emu:
        got = Counter(statuses(c, emu, "smallest", n))
    expected, sd = rate * n, (n * rate * (1 - rate)) ** 0.5
    assert abs(got[429] - expected) <= 4 * sd
    assert got[429] + got[200] == n


def test_same_seed_same_faults_other_seed_other_faults(c: httpx.Client) -> None:
    faults = Faults(rate_429=0.2, rate_5xx=0.2)
    runs = []
    for seed in (3, 3, 4):
        with Emulator(faults=faults, seed=seed) as emu:
            runs.append(statuses(c, emu, "commbox", 60))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert set(runs[0]) == {200, 429, 500, 503}


@pytest.mark.parametrize("provider", ["commbox", "whop", "smallest"])
def test_429_bodies_and_retry_after(c: httpx.Client, provider: str) -> None:
    with Emulator(faults=Faults(rate_429=1.0, retry_after=3)) as emu:
        r = c.get(emu.base_urls[provider] + LIST_PATHS[provider], headers=auth(emu, provider))
    assert r.status_code == 429
    body = r.json()
    if provider == "commbox":
        assert set(body) == {"status", "description", "response_time"} and body["status"] == 429
        assert "Retry-After" not in r.headers  # not documented for CommBox
    elif provider == "whop":
        assert body["error"]["type"] == "rate_limit_exceeded"
        assert r.headers["Retry-After"] == "3" and r.headers["retry-after-ms"] == "3000"
    else:
        assert body["status"] is False and body["retry_after"] == 3 and r.headers["Retry-After"] == "3"


def test_commbox_retry_after_can_be_switched_on(c: httpx.Client) -> None:
    with Emulator(faults=Faults(rate_429=1.0, retry_after=2, commbox_retry_after=True)) as emu:
        r = c.get(emu.base_urls["commbox"] + "/audiences", headers=auth(emu, "commbox"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"


@pytest.mark.parametrize("provider", ["commbox", "whop", "smallest"])
def test_5xx_in_each_provider_format(c: httpx.Client, provider: str) -> None:
    with Emulator(faults=Faults(rate_5xx=1.0), seed=1) as emu:
        results = [
            c.get(emu.base_urls[provider] + LIST_PATHS[provider], headers=auth(emu, provider))
            for _ in range(20)
        ]
    assert {r.status_code for r in results} == {500, 503}
    for r in results:
        body = r.json()
        if provider == "commbox":
            assert body["status"] == r.status_code
        elif provider == "whop":
            assert set(body["error"]) == {"type", "message"}
        else:
            assert body["status"] is False and body["errors"]
        assert r.status_code == 500 or "Retry-After" in r.headers


def test_faults_happen_before_auth_and_change_nothing(c: httpx.Client) -> None:
    with Emulator(faults=Faults(rate_429=1.0)) as emu:
        r = c.post(
            emu.base_urls["commbox"] + "/audiences",
            headers=auth(emu, "commbox"),
            data={"name": "x"},
            files={"audience_file": ("a.csv", b"phone1\n1\n")},
        )
        assert r.status_code == 429
        assert emu.audiences("commbox") == []


def test_dropped_connection_before_processing(c: httpx.Client) -> None:
    with Emulator(faults=Faults(rate_drop=1.0)) as emu:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(
                emu.base_urls["smallest"] + "/audience",
                headers=auth(emu, "smallest"),
                data={"name": "x", "phoneNumberColumnName": "p"},
                files={"file": ("a.csv", b"p\n+15550000001\n")},
            )
        assert emu.audiences("smallest") == []
        (entry,) = emu.request_log
        assert (entry.status, entry.fault) == (0, "drop")


def test_dropped_after_processing_the_post_landed(c: httpx.Client) -> None:
    with Emulator(faults=Faults(drop_after_processing=1.0)) as emu:
        with pytest.raises(httpx.RemoteProtocolError):
            c.post(
                emu.base_urls["commbox"] + "/audiences",
                headers=auth(emu, "commbox"),
                data={"name": "x"},
                files={"audience_file": ("a.csv", b"phone1\n1\n")},
            )
        assert [a["name"] for a in emu.audiences("commbox")] == ["x"]  # a blind retry would create twice
        (entry,) = emu.request_log
        assert (entry.status, entry.fault, entry.summary["processed_status"]) == (0, "drop_after", 201)


def test_whop_idempotency_key_survives_a_lost_answer(c: httpx.Client) -> None:
    with Emulator() as emu:
        file_id = whop_file(c, emu, csv_bytes(["email"], [["a@x.io"]]))
        emu.script_fault("drop_after", provider="whop", method="POST", path_contains="/audiences")
        with pytest.raises(httpx.RemoteProtocolError):
            whop_create(c, emu, file_id, mapping={"email": "email"}, key="create-1")
        retried = whop_create(c, emu, file_id, mapping={"email": "email"}, key="create-1")
        assert retried.status_code == 201
        assert [a["id"] for a in emu.audiences("whop")] == [retried.json()["id"]]
        assert emu.request_log[-1].summary.get("replayed") is True


def test_scripted_faults_hit_only_matching_requests(c: httpx.Client) -> None:
    with Emulator() as emu:
        emu.script_fault("503", provider="smallest", times=2)
        emu.script_fault("429", provider="commbox", method="POST")
        assert statuses(c, emu, "commbox", 1) == [200]  # a GET: not matched
        assert statuses(c, emu, "smallest", 3) == [503, 503, 200]
        assert statuses(c, emu, "whop", 1) == [200]


def test_latency_and_slow_responses(c: httpx.Client) -> None:
    with Emulator(faults=Faults(latency=0.05)) as emu:
        statuses(c, emu, "smallest", 1)  # warm the connection
        start = time.monotonic()
        statuses(c, emu, "smallest", 4)
        assert time.monotonic() - start >= 0.2
    with Emulator() as emu:
        emu.faults = Faults(slow_seconds=0.3)
        emu.script_fault("slow", provider="commbox")
        with pytest.raises(httpx.ReadTimeout):
            c.get(emu.base_urls["commbox"] + "/audiences", headers=auth(emu, "commbox"), timeout=0.1)


def test_presigned_upload_is_never_faulted(c: httpx.Client) -> None:
    with Emulator() as emu:
        record = c.post(
            emu.base_urls["whop"] + "/files", headers=auth(emu, "whop"), json={"filename": "m.csv"}
        ).json()
        emu.faults = Faults(rate_429=0.5, rate_drop=0.5)
        for _ in range(5):
            assert (
                c.put(
                    record["upload_url"], headers=record["upload_headers"], content=b"email\na@x.io\n"
                ).status_code
                == 200
            )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_429": 1.5},
        {"rate_5xx": -0.1},
        {"rate_429": 0.6, "rate_drop": 0.6},
        {"latency": -1.0},
        {"slow_rate": 2.0},
    ],
)
def test_fault_settings_are_validated(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Faults(**kwargs)


def test_request_log_never_holds_tokens_under_faults(c: httpx.Client) -> None:
    with Emulator(faults=Faults(rate_429=0.3, rate_5xx=0.3, rate_drop=0.2), seed=5) as emu:
        for provider in ("commbox", "whop", "smallest"):
            statuses(c, emu, provider, 10)
        log = emu.request_log
    assert len(log) == 30
    assert {e.fault for e in log} >= {"429", "drop", None}
    text = repr(log)
    assert all(token not in text for token in emu.tokens.values())
    assert all(e.query in ("", f"account_id={ACCOUNT}") for e in log)
