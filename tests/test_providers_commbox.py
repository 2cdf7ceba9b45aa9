"""CommBox client against a MockTransport: paths, form fields, status parsing, Dynamic refusal,
create settled by read-back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from test_providers_support import (
    FakeClock,
    Router,
    form_parts,
    provider,
    respond,
    spec,
    write_upload,
)

from reconciler.errors import CapabilityError, NotFoundError, ProviderError
from reconciler.providers.base import Provider
from reconciler.sources.members import UploadFile


def listing(*items: Mapping[str, object], status: object = "200") -> httpx.Response:
    return respond(200, {"status": status, "description": "OK", "response_time": "x", "data": list(items)})


STATIC = {
    "id": "312345",
    "name": "VIP customers",
    "created_time": "2025-02-06T07:51:52.2581942Z",
    "type": "Static",
    "user_count": 3,
}
DYNAMIC = {"id": "99", "name": "Saved filter", "created_time": "2025-02-06T07:51:52Z", "type": "Dynamic"}


@pytest.fixture
def upload(tmp_path: Path) -> UploadFile:
    return write_upload(
        tmp_path / "vip.csv", ["phone1", "first_name"], [["14155550123", "Ann"], ["442079832100", "Bo"]]
    )


def commbox(router: Router, clock: FakeClock | None = None) -> Provider:
    return provider("commbox", router, clock or FakeClock())


def test_capabilities() -> None:
    caps = commbox(Router()).capabilities
    assert (caps.rename, caps.delete, caps.members) == (False, False, "put_replace")


@pytest.mark.parametrize("status", ["200", 200])
def test_list_parses_string_or_int_status_and_types(status: object) -> None:
    router = Router()
    router.add("GET", "/audiences", listing(STATIC, DYNAMIC, status=status))
    audiences = commbox(router).list_audiences()
    assert [(a.id, a.name, a.kind, a.member_count) for a in audiences] == [
        ("312345", "VIP customers", "Static", 3),
        ("99", "Saved filter", "Dynamic", None),
    ]


def test_list_body_status_error_is_raised() -> None:
    router = Router()
    router.add("GET", "/audiences", respond(200, {"status": "500", "description": "Server Error"}))
    with pytest.raises(ProviderError, match="Server Error"):
        commbox(router).list_audiences()


def test_read_finds_by_id_or_none() -> None:
    router = Router()
    router.add("GET", "/audiences", listing(STATIC, DYNAMIC))
    prov = commbox(router)
    read = prov.read("99")
    assert read is not None and read.kind == "Dynamic"
    assert prov.read("nope") is None


def test_create_posts_name_and_audience_file(upload: UploadFile) -> None:
    router = Router()
    router.add(
        "POST",
        "/audiences",
        respond(201, {"status": 201, "description": "Audience created", "data": {"id": "312346"}}),
    )
    made = commbox(router).create(spec("commbox"), upload, idempotency_key="k1")
    assert made.id == "312346" and made.name == "VIP customers" and made.kind == "Static"
    parts = form_parts(router.seen[0])
    assert parts["name"] == (None, b"VIP customers")
    assert parts["audience_file"] == ("vip.csv", upload.path.read_bytes())
    assert set(parts) == {"name", "audience_file"}


def test_create_numeric_id_becomes_string(upload: UploadFile) -> None:
    router = Router()
    router.add("POST", "/audiences", respond(201, {"status": 201, "data": {"id": 7}}))
    assert commbox(router).create(spec("commbox"), upload, idempotency_key="k").id == "7"


def test_create_lost_answer_is_settled_by_listing(upload: UploadFile) -> None:
    router, clock = Router(), FakeClock()
    now = datetime.fromtimestamp(clock.now, UTC).isoformat()
    mine = {**STATIC, "id": "555", "created_time": now}
    old = {**STATIC, "id": "111", "created_time": "2020-01-01T00:00:00Z"}
    router.add("POST", "/audiences", httpx.ReadTimeout("lost"))
    router.add("GET", "/audiences", listing(old, mine))
    made = commbox(router, clock).create(spec("commbox"), upload, idempotency_key="k")
    assert made.id == "555"
    assert len(router.calls("POST", "/audiences")) == 1


def test_create_lost_answer_with_nothing_landed_posts_again(upload: UploadFile) -> None:
    router = Router()
    old = {**STATIC, "id": "111", "created_time": "2020-01-01T00:00:00Z"}  # same name, long ago: not ours
    router.add(
        "POST",
        "/audiences",
        respond(500, {"status": 500, "description": "Server Error"}),
        respond(201, {"status": 201, "data": {"id": "2"}}),
    )
    router.add("GET", "/audiences", listing(old))
    assert commbox(router).create(spec("commbox"), upload, idempotency_key="k").id == "2"
    assert len(router.calls("POST", "/audiences")) == 2


def test_replace_members_puts_only_the_file_to_capital_audiences(upload: UploadFile) -> None:
    router = Router()
    router.add("GET", "/audiences", listing(STATIC))
    router.add(
        "PUT",
        "/Audiences/312345",
        respond(200, {"status": 200, "description": "Operation successful", "data": {"id": "312345"}}),
    )
    commbox(router).replace_members("312345", upload)
    parts = form_parts(router.calls("PUT", "/Audiences/312345")[0])
    assert set(parts) == {"audience_file"}
    assert parts["audience_file"][1] == upload.path.read_bytes()


def test_replace_members_refuses_dynamic_without_any_put(upload: UploadFile) -> None:
    router = Router()
    router.add("GET", "/audiences", listing(DYNAMIC))
    with pytest.raises(CapabilityError, match="Dynamic"):
        commbox(router).replace_members("99", upload)
    assert [s.method for s in router.seen] == ["GET"]


def test_replace_members_of_unknown_audience(upload: UploadFile) -> None:
    router = Router()
    router.add("GET", "/audiences", listing(STATIC))
    with pytest.raises(NotFoundError):
        commbox(router).replace_members("404404", upload)
    assert [s.method for s in router.seen] == ["GET"]


def test_replace_members_put_is_retried(upload: UploadFile) -> None:
    router = Router()
    router.add("GET", "/audiences", listing(STATIC))
    router.add(
        "PUT",
        "/Audiences/312345",
        httpx.ReadTimeout("t"),
        respond(200, {"status": 200, "data": {"id": "312345"}}),
    )
    commbox(router).replace_members("312345", upload)
    calls = router.calls("PUT", "/Audiences/312345")
    assert len(calls) == 2
    assert form_parts(calls[0]) == form_parts(calls[1])  # the file is re-sent whole
    assert form_parts(calls[1])["audience_file"][1] == upload.path.read_bytes()


@pytest.mark.parametrize("operation", ["rename", "delete", "append", "iter", "add", "remove"])
def test_unsupported_operations_raise_capability_error(operation: str, upload: UploadFile) -> None:
    prov = commbox(Router())
    calls = {
        "rename": lambda: prov.rename("1", "x"),
        "delete": lambda: prov.delete("1"),
        "append": lambda: prov.append_members("1", spec("commbox"), upload, idempotency_key="k"),
        "iter": lambda: list(prov.iter_members("1", spec("commbox"))),
        "add": lambda: prov.add_members("1", spec("commbox"), []),
        "remove": lambda: prov.remove_members("1", []),
    }
    with pytest.raises(CapabilityError, match="commbox: cannot"):
        calls[operation]()
