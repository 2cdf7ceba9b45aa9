"""Smallest client against a MockTransport: create form, limits, member paging and normalisation,
batched add/remove, delete refused while a campaign uses the audience."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_providers_support import (
    FakeClock,
    Router,
    Seen,
    form_parts,
    provider,
    respond,
    spec,
    write_upload,
)

from reconciler.errors import CapabilityError, ProviderError
from reconciler.providers.base import Provider
from reconciler.providers.smallest import to_e164
from reconciler.sources import upload_headers
from reconciler.sources.members import Member, UploadFile

API = "/atoms/v1"
COLUMNS = {"phone": "Mobile", "identifier": "Name"}


def smallest(router: Router, clock: FakeClock | None = None) -> Provider:
    return provider("smallest", router, clock or FakeClock())


def ok(data: Any) -> httpx.Response:
    return respond(200, {"status": True, "data": data})


@pytest.fixture
def upload(tmp_path: Path) -> UploadFile:
    return write_upload(tmp_path / "callers.csv", ["Mobile", "Name"], [["+14155550123", "Ann"]])


def test_capabilities() -> None:
    client = smallest(Router())
    caps, limits = client.capabilities, client.limits
    assert (caps.rename, caps.delete, caps.members) == (False, True, "add_remove_members")
    assert (limits.max_members, limits.max_upload_bytes) == (10_000, 5_000_000)


def test_create_form_fields(upload: UploadFile) -> None:
    router = Router()
    router.add("POST", f"{API}/audience", ok({"_id": "60d0", "name": "VIP customers"}))
    the_spec = spec("smallest", COLUMNS, description="Callers list")
    made = smallest(router).create(the_spec, upload, idempotency_key="k")
    assert made.id == "60d0" and made.member_count == 1
    parts = form_parts(router.seen[0])
    headers = upload_headers(the_spec)
    assert parts["name"] == (None, b"VIP customers")
    assert parts["phoneNumberColumnName"] == (None, headers["phone"].encode())
    assert parts["description"] == (None, b"Callers list")
    assert parts["file"] == ("callers.csv", upload.path.read_bytes())
    if "identifier" in headers:
        assert parts["identifierColumnName"] == (None, headers["identifier"].encode())


def test_create_without_description_or_identifier_sends_neither(upload: UploadFile) -> None:
    router = Router()
    router.add("POST", f"{API}/audience", ok({"_id": "60d0", "name": "VIP customers"}))
    smallest(router).create(spec("smallest", {"phone": "Mobile"}), upload, idempotency_key="k")
    assert set(form_parts(router.seen[0])) == {"name", "phoneNumberColumnName", "file"}


def test_create_limits_are_checked_before_sending(tmp_path: Path) -> None:
    router = Router()
    rows = [[f"+1415555{i:04d}"] for i in range(10_001)]
    too_many = write_upload(tmp_path / "many.csv", ["Mobile"], rows)
    with pytest.raises(CapabilityError, match="at most 10,000"):
        smallest(router).create(spec("smallest", {"phone": "Mobile"}), too_many, idempotency_key="k")
    big = write_upload(tmp_path / "big.csv", ["Mobile", "Pad"], [["+14155550123", "x" * 6_000_000]])
    with pytest.raises(CapabilityError, match="bytes"):
        smallest(router).create(spec("smallest", {"phone": "Mobile"}), big, idempotency_key="k")
    assert router.seen == []


def test_create_400_carries_the_provider_message(upload: UploadFile) -> None:
    router = Router()
    message = (
        "Some phone numbers in your CSV already exist in this audience. "
        "Please remove duplicate entries and try again."
    )
    router.add("POST", f"{API}/audience", respond(400, {"status": False, "errors": [message]}))
    with pytest.raises(ProviderError, match="remove duplicate entries"):
        smallest(router).create(spec("smallest", COLUMNS), upload, idempotency_key="k")
    assert len(router.seen) == 1


def test_create_lost_answer_settled_by_listing(upload: UploadFile) -> None:
    router, clock = Router(), FakeClock()
    router.add("POST", f"{API}/audience", httpx.RemoteProtocolError("eof"))
    created = "2027-01-15T08:00:00.000Z"  # after the fake clock's start (2027-01-15T08:00:00Z - 0)
    router.add("GET", f"{API}/audience", ok([
        {"_id": "old", "name": "VIP customers", "memberCount": 5, "createdAt": "2020-01-01T00:00:00Z"},
        {"_id": "new", "name": "VIP customers", "memberCount": 1, "createdAt": created},
    ]))  # fmt: skip
    made = smallest(router, clock).create(spec("smallest", COLUMNS), upload, idempotency_key="k")
    assert made.id == "new"
    assert len(router.calls("POST", f"{API}/audience")) == 1


def test_list_and_read() -> None:
    router = Router()
    router.add(
        "GET", f"{API}/audience", ok([{"_id": "a1", "name": "A", "memberCount": 3, "hasCampaigns": True}])
    )
    router.add("GET", f"{API}/audience/a1", ok({"_id": "a1", "name": "A", "phoneNumberColumnName": "Mobile"}))
    router.add(
        "GET",
        f"{API}/audience/a1/members",
        ok({"members": [], "totalCount": 3, "totalPages": 3, "hasMore": True}),
    )
    router.add("GET", f"{API}/audience/zz", respond(404, {"status": False, "errors": ["Audience not found"]}))
    prov = smallest(router)
    [listed] = prov.list_audiences()
    assert (listed.id, listed.name, listed.member_count, listed.extra["has_campaigns"]) == (
        "a1",
        "A",
        3,
        True,
    )
    read = prov.read("a1")
    assert read is not None and read.member_count == 3
    assert prov.read("zz") is None


def test_iter_members_pages_with_page_and_offset_and_normalises() -> None:
    router = Router()
    router.add("GET", f"{API}/audience/a1", ok({"_id": "a1", "name": "A", "phoneNumberColumnName": "Mobile"}))

    def members(request: httpx.Request, seen: Seen) -> httpx.Response:
        number = int(seen.params["page"])
        assert seen.params["offset"] == "500" and "limit" not in seen.params
        batch = {
            1: [{"_id": "m1", "data": {"Mobile": "+1 (415) 555-0123", "Name": "Ann"}},
                {"_id": "m2", "data": {"Mobile": "442079832100", "Name": "Bo"}}],
            2: [{"_id": "m3", "data": {"Mobile": 4155550124, "Name": "Cy"}}],
        }[number]  # fmt: skip
        return ok({"members": batch, "totalCount": 3, "totalPages": 2, "hasMore": number < 2})

    router.add("GET", f"{API}/audience/a1/members", members)
    got = list(smallest(router).iter_members("a1", spec("smallest", COLUMNS)))
    assert [(i, m.phone) for i, m in got] == [
        ("m1", "+14155550123"),
        ("m2", "+442079832100"),
        ("m3", "+14155550124"),
    ]
    assert [s.params.get("page") for s in router.calls("GET", f"{API}/audience/a1/members")] == ["1", "2"]
    if "identifier" in upload_headers(spec("smallest", COLUMNS)):
        assert [m.identifier for _, m in got] == ["Ann", "Bo", "Cy"]


def test_add_members_batches_of_500_and_counts_added() -> None:
    router = Router()

    def add(request: httpx.Request, seen: Seen) -> httpx.Response:
        batch = seen.json()["members"]
        return ok([{"message": "ok", "data": {"added": len(batch) - 1, "skipped": 1}}])

    router.add("POST", f"{API}/audience/a1/members", add)
    members = [Member(phone=f"+1415555{i:04d}", identifier=f"n{i}") for i in range(1_201)]
    the_spec = spec("smallest", COLUMNS)
    added = smallest(router).add_members("a1", the_spec, members)
    calls = router.calls("POST", f"{API}/audience/a1/members")
    assert [len(c.json()["members"]) for c in calls] == [500, 500, 201]
    assert added == 1_201 - 3
    phone_header = upload_headers(the_spec)["phone"]
    assert calls[0].json()["members"][0][phone_header] == "+14155550000"


def test_add_members_batch_is_retried_safely() -> None:
    router = Router()
    router.add(
        "POST",
        f"{API}/audience/a1/members",
        respond(503, {}),
        ok([{"message": "ok", "data": {"added": 1, "skipped": 0}}]),
    )
    assert smallest(router).add_members("a1", spec("smallest", COLUMNS), [Member(phone="+14155550123")]) == 1
    assert len(router.seen) == 2


def test_remove_members_batches_json_body() -> None:
    router = Router()
    router.add(
        "DELETE", f"{API}/audience/a1/members", lambda r, s: ok({"deletedCount": len(s.json()["memberIds"])})
    )
    ids = [f"m{i}" for i in range(750)]
    assert smallest(router).remove_members("a1", ids) == 750
    calls = router.calls("DELETE", f"{API}/audience/a1/members")
    assert [c.json()["memberIds"] for c in calls] == [ids[:500], ids[500:]]


def test_delete_ok_gone_and_refused_while_campaign_uses_it() -> None:
    router = Router()
    router.add("DELETE", f"{API}/audience/a1", ok([]))
    router.add(
        "DELETE", f"{API}/audience/gone", respond(404, {"status": False, "errors": ["Audience not found"]})
    )
    router.add(
        "DELETE",
        f"{API}/audience/busy",
        respond(400, {"status": False, "errors": ["Audience is used in a campaign"]}),
    )
    prov = smallest(router)
    prov.delete("a1")
    prov.delete("gone")
    with pytest.raises(ProviderError, match="a campaign uses it") as info:
        prov.delete("busy")
    assert info.value.status == 400 and "Audience is used in a campaign" in str(info.value)


def test_rename_is_not_possible() -> None:
    with pytest.raises(CapabilityError):
        smallest(Router()).rename("a1", "x")


@given(st.from_regex(r"\+?[0-9 ()-]{0,20}", fullmatch=True))
def test_to_e164_never_raises_and_is_plus_digits(raw: str) -> None:
    result = to_e164(raw, "US")
    assert result is None or (result.startswith("+") and result[1:].isdigit())


def test_to_e164_examples() -> None:
    assert to_e164("(415) 555-0123", "US") == "+14155550123"
    assert to_e164("442079832100", "US") == "+442079832100"
    assert to_e164("+14155550123", None) == "+14155550123"
    assert to_e164("", "US") is None and to_e164(None, "US") is None
