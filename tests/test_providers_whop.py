"""Whop client against a MockTransport: file upload flow, idempotent create and append, polling,
pagination, rename, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from test_providers_support import FakeClock, Router, Seen, provider, respond, spec, write_upload

from reconciler.errors import CapabilityError, ProviderError
from reconciler.providers.base import Provider
from reconciler.providers.whop import API_VERSION_DATE
from reconciler.sources import upload_headers
from reconciler.sources.members import UploadFile

API = "/api/v1"
UPLOAD_URL = "https://storage.test/up/file_1?X-Amz-Signature=sig"


def audience(status: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": "adaud_1", "name": "VIP customers", "status": status, "total_rows": 2,
        "processed_rows": 2 if status in ("ready", "partial", "failed") else 0, "matched_rows": 2,
        "progress_percent": 100, "error_message": None, "platform_audience_ids": [],
        "created_at": 1_800_000_000, "updated_at": 1_800_000_000, **kw,
    }  # fmt: skip


def page(*items: dict[str, Any], cursor: str | None = None) -> httpx.Response:
    return respond(
        200, {"data": list(items), "page_info": {"end_cursor": cursor, "has_next_page": cursor is not None}}
    )


def file_flow(router: Router, upload_answers: tuple[Any, ...] = (respond(200),)) -> None:
    created = {
        "id": "file_1", "upload_status": "pending", "upload_url": UPLOAD_URL,
        "upload_headers": {"Content-Type": "text/csv", "x-amz-meta-owner": "biz_test"},
    }  # fmt: skip
    router.add("POST", f"{API}/files", respond(201, created))
    router.add("PUT", "/up/file_1", *upload_answers)
    router.add(
        "GET", f"{API}/files/file_1",
        respond(200, {"id": "file_1", "upload_status": "processing"}),
        respond(200, {"id": "file_1", "upload_status": "ready"}),
    )  # fmt: skip


@pytest.fixture
def upload(tmp_path: Path) -> UploadFile:
    return write_upload(
        tmp_path / "vip.csv", ["phone", "first_name"], [["+14155550123", "Ann"], ["+442079832100", "Bo"]]
    )


def whop(router: Router, clock: FakeClock | None = None) -> Provider:
    return provider("whop", router, clock or FakeClock())


def test_capabilities() -> None:
    caps = whop(Router()).capabilities
    assert (caps.rename, caps.delete, caps.members) == (True, True, "append_or_recreate")


def test_create_uploads_then_creates_with_key_and_waits(upload: UploadFile) -> None:
    router, clock = Router(), FakeClock()
    file_flow(router)
    router.add("POST", f"{API}/audiences", respond(201, audience("pending")))
    router.add(
        "GET",
        f"{API}/audiences",
        page(audience("processing")),
        page(audience("syncing")),
        page(audience("ready")),
    )
    progress: list[tuple[int, int | None]] = []
    made = whop(router, clock).create(
        spec("whop"), upload, idempotency_key="intent-1", progress=lambda d, t: progress.append((d, t))
    )
    assert made.id == "adaud_1" and made.status == "ready" and made.usable
    order = [(s.method, s.path) for s in router.seen]
    assert order[:4] == [
        ("POST", f"{API}/files"),
        ("PUT", "/up/file_1"),
        ("GET", f"{API}/files/file_1"),
        ("GET", f"{API}/files/file_1"),
    ]
    assert order[4] == ("POST", f"{API}/audiences")
    files_post = router.calls("POST", f"{API}/files")[0]
    assert files_post.json() == {"filename": "vip.csv", "visibility": "private"}
    put = router.calls("PUT", "/up/file_1")[0]
    assert "authorization" not in put.headers and put.headers["x-amz-meta-owner"] == "biz_test"
    assert put.body == upload.path.read_bytes()
    post = router.calls("POST", f"{API}/audiences")[0]
    assert post.headers["idempotency-key"] == "intent-1"
    mapping = {
        f: h
        for f, h in upload_headers(spec("whop")).items()
        if f in ("email", "phone", "first_name", "last_name", "country")
    }
    assert post.json() == {
        "account_id": "biz_test",
        "name": "VIP customers",
        "column_mapping": mapping,
        "file_id": "file_1",
    }
    polls = router.calls("GET", f"{API}/audiences")
    assert polls and all(p.params == {"account_id": "biz_test", "audience_id": "adaud_1"} for p in polls)
    assert all(
        s.headers.get("api-version-date") == API_VERSION_DATE for s in router.seen if s.path.startswith(API)
    )
    assert progress and progress[-1] == (2, 2)
    assert clock.sleeps and all(d <= 15 for d in clock.sleeps)


def test_create_retries_post_with_the_same_idempotency_key(upload: UploadFile) -> None:
    router = Router()
    file_flow(router)
    router.add(
        "POST",
        f"{API}/audiences",
        httpx.ReadTimeout("lost"),
        respond(409, {"error": {"type": "conflict", "message": "in progress"}}),
        respond(201, audience("ready")),
    )
    router.add("GET", f"{API}/audiences", page(audience("ready")))
    whop(router).create(spec("whop"), upload, idempotency_key="intent-9")
    posts = router.calls("POST", f"{API}/audiences")
    assert len(posts) == 3 and {p.headers["idempotency-key"] for p in posts} == {"intent-9"}


def test_long_idempotency_key_is_hashed_to_fit(upload: UploadFile) -> None:
    router = Router()
    file_flow(router)
    router.add("POST", f"{API}/audiences", respond(201, audience("ready")))
    router.add("GET", f"{API}/audiences", page(audience("ready")))
    whop(router).create(spec("whop"), upload, idempotency_key="x" * 300)
    key = router.calls("POST", f"{API}/audiences")[0].headers["idempotency-key"]
    assert 0 < len(key) <= 255


def test_presigned_403_starts_over_once(upload: UploadFile) -> None:
    router = Router()
    file_flow(router, (respond(403), respond(200)))
    router.add("POST", f"{API}/audiences", respond(201, audience("ready")))
    router.add("GET", f"{API}/audiences", page(audience("ready")))
    whop(router).create(spec("whop"), upload, idempotency_key="k")
    assert len(router.calls("POST", f"{API}/files")) == 2
    assert len(router.calls("PUT", "/up/file_1")) == 2


def test_presigned_403_twice_fails(upload: UploadFile) -> None:
    router = Router()
    file_flow(router, (respond(403),))
    with pytest.raises(ProviderError, match=r"uploading the member file failed \(HTTP 403"):
        whop(router).create(spec("whop"), upload, idempotency_key="k")
    assert len(router.calls("POST", f"{API}/files")) == 2
    assert not router.calls("POST", f"{API}/audiences")


def test_failed_file_processing_is_an_error(upload: UploadFile) -> None:
    router = Router()
    file_flow(router)
    router.add("GET", f"{API}/files/file_1", respond(200, {"id": "file_1", "upload_status": "failed"}))
    with pytest.raises(ProviderError, match="could not process the uploaded member file"):
        whop(router).create(spec("whop"), upload, idempotency_key="k")


def test_partial_is_returned_with_message_and_failed_raises(upload: UploadFile) -> None:
    router = Router()
    file_flow(router)
    router.add("POST", f"{API}/audiences", respond(201, audience("pending")))
    router.add(
        "GET", f"{API}/audiences", page(audience("partial", error_message="3 rows could not be matched"))
    )
    made = whop(router).create(spec("whop"), upload, idempotency_key="k")
    assert made.status == "partial" and made.usable and made.error_message == "3 rows could not be matched"

    router = Router()
    file_flow(router)
    router.add("POST", f"{API}/audiences", respond(201, audience("pending")))
    router.add("GET", f"{API}/audiences", page(audience("failed", error_message="bad file for +14155550123")))
    with pytest.raises(ProviderError, match=r"failed to process: bad file for \+1\*\*\*\*\*\*0123"):
        whop(router).create(spec("whop"), upload, idempotency_key="k")


def test_polling_is_bounded_in_time(upload: UploadFile) -> None:
    router, clock = Router(), FakeClock()
    file_flow(router)
    router.add("POST", f"{API}/audiences", respond(201, audience("pending")))
    router.add("GET", f"{API}/audiences", page(audience("processing")))
    prov = whop(router, clock)
    prov.poll_timeout = 60.0  # type: ignore[attr-defined]
    with pytest.raises(ProviderError, match="still not ready after 60s"):
        prov.create(spec("whop"), upload, idempotency_key="k")
    assert sum(clock.sleeps) <= 60.0 + 1


def test_append_members_adds_people_with_key_and_waits(upload: UploadFile) -> None:
    router = Router()
    file_flow(router)
    router.add("POST", f"{API}/audiences/adaud_1/add_people", respond(200, audience("processing")))
    router.add(
        "GET",
        f"{API}/audiences",
        page(audience("processing")),
        page(audience("ready", total_rows=4, processed_rows=4)),
    )
    result = whop(router).append_members("adaud_1", spec("whop"), upload, idempotency_key="intent-2")
    add = router.calls("POST", f"{API}/audiences/adaud_1/add_people")[0]
    assert add.json() == {"file_id": "file_1"} and add.headers["idempotency-key"] == "intent-2"
    assert result.status == "ready" and result.member_count == 4


def test_list_follows_cursors_with_first_100() -> None:
    router = Router()

    def pages(request: httpx.Request, seen: Seen) -> httpx.Response:
        after = seen.params.get("after")
        if after is None:
            return page(audience("ready"), cursor="c1")
        assert after == "c1"
        return page(audience("ready", id="adaud_2", name="Other"))

    router.add("GET", f"{API}/audiences", pages)
    result = whop(router).list_audiences()
    assert [a.id for a in result] == ["adaud_1", "adaud_2"]
    assert [s.params.get("first") for s in router.seen] == ["100", "100"]
    assert all(s.params["account_id"] == "biz_test" for s in router.seen)


def test_read_returns_none_when_unknown() -> None:
    router = Router()
    router.add("GET", f"{API}/audiences", page())
    assert whop(router).read("adaud_x") is None


def test_rename_and_delete() -> None:
    router = Router()
    router.add("PATCH", f"{API}/audiences/adaud_1", respond(200, audience("ready", name="New")))
    router.add("DELETE", f"{API}/audiences/adaud_1", respond(200, {"success": True}))
    router.add(
        "DELETE",
        f"{API}/audiences/adaud_gone",
        respond(404, {"error": {"type": "not_found", "message": "gone"}}),
    )
    prov = whop(router)
    prov.rename("adaud_1", "New")
    prov.delete("adaud_1")
    prov.delete("adaud_gone")  # already gone counts as deleted
    assert router.calls("PATCH", f"{API}/audiences/adaud_1")[0].json() == {"name": "New"}


def test_mapping_without_email_or_phone_is_refused(upload: UploadFile) -> None:
    router = Router()
    with pytest.raises(CapabilityError, match="email or phone"):
        whop(router).create(spec("whop", {"first_name": "First"}), upload, idempotency_key="k")
    assert router.seen == []
