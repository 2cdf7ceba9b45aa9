"""Smallest AI Atoms emulator over real HTTP: CSV create and its limits, members, deletes."""

from __future__ import annotations

import re

import httpx
import pytest
from emulator_support import auth, csv_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.emulator import Emulator

HEX24 = re.compile(r"[0-9a-f]{24}\Z")
DUPLICATE = (
    "Some phone numbers in your CSV already exist in this audience. "
    "Please remove duplicate entries and try again."
)


def phones(n: int, start: int = 0) -> list[list[str]]:
    return [[f"+1555{start + i:07d}", f"n{i}"] for i in range(n)]


def create(
    c: httpx.Client, emu: Emulator, data: bytes, fields: dict[str, str] | None = None, filename: str = "a.csv"
) -> httpx.Response:
    form = {"name": "Callers", "phoneNumberColumnName": "phoneNumber", **(fields or {})}
    return c.post(
        f"{emu.base_urls['smallest']}/audience",
        headers=auth(emu, "smallest"),
        data=form,
        files={"file": (filename, data, "text/csv")},
    )


def make(c: httpx.Client, emu: Emulator, n: int = 3) -> str:
    r = create(c, emu, csv_bytes(["phoneNumber", "Name"], phones(n)))
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["_id"])


def error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] is False and isinstance(body["errors"], list) and len(body["errors"]) == 1
    return str(body["errors"][0])


def test_create_returns_the_documented_audience(emu: Emulator, c: httpx.Client) -> None:
    r = create(
        c,
        emu,
        csv_bytes(["phoneNumber", "Name"], phones(2)),
        {"description": "d", "identifierColumnName": "Name"},
    )
    assert r.status_code == 200
    body = r.json()
    assert body["status"] is True
    data = body["data"]
    assert set(data) == {
        "_id",
        "name",
        "description",
        "phoneNumberColumnName",
        "identifierColumnName",
        "organization",
        "createdBy",
        "createdAt",
        "updatedAt",
    }
    assert HEX24.match(data["_id"]) and HEX24.match(data["organization"]) and HEX24.match(data["createdBy"])
    assert (
        data["name"],
        data["description"],
        data["phoneNumberColumnName"],
        data["identifierColumnName"],
    ) == ("Callers", "d", "phoneNumber", "Name")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z", data["createdAt"])
    assert emu.members("smallest", data["_id"]) == [
        {"phoneNumber": "+15550000000", "Name": "n0"},
        {"phoneNumber": "+15550000001", "Name": "n1"},
    ]


@pytest.mark.parametrize(
    ("data", "fields", "fragment"),
    [
        (b"phoneNumber\n+15550000001\n", {"name": ""}, "name"),
        (b"phoneNumber\n+15550000001\n", {"phoneNumberColumnName": ""}, "phoneNumberColumnName"),
        (b"mobile\n+15550000001\n", {}, "not found"),
        (b"phoneNumber,first name\n+15550000001,a\n", {}, "first name"),
        (b"phoneNumber,a-b\n+15550000001,a\n", {}, "a-b"),
        (b"phoneNumber,x,x\n+15550000001,a,b\n", {}, "Duplicate column"),
        (b"phoneNumber\n+15550000001\n15550000001\n", {}, DUPLICATE),
        (b"phoneNumber\nnot-a-phone\n", {}, "row 2"),
        (b"phoneNumber\n\x00\x01\x02\n", {}, "CSV"),
        (b"phoneNumber,Name\n+15550000001,a\n", {"identifierColumnName": "Id"}, "Id"),
    ],
)
def test_create_400_cases(emu: Emulator, c: httpx.Client, data: bytes, fields: dict, fragment: str) -> None:
    assert fragment in error(create(c, emu, data, fields), 400)
    assert emu.audiences("smallest") == []


def test_create_needs_a_file_part(emu: Emulator, c: httpx.Client) -> None:
    r = c.post(
        f"{emu.base_urls['smallest']}/audience",
        headers=auth(emu, "smallest"),
        data={"name": "x", "phoneNumberColumnName": "phoneNumber"},
        files={"csv": ("a.csv", b"phoneNumber\n+15550000001\n", "text/csv")},
    )
    assert "file" in error(r, 400)


def test_ten_thousand_members_is_the_limit(emu: Emulator, c: httpx.Client) -> None:
    header = ["phoneNumber", "Name"]
    assert create(c, emu, csv_bytes(header, phones(10_000))).status_code == 200
    r = create(c, emu, csv_bytes(header, phones(10_001)))
    assert error(r, 400) == "Audience cannot exceed 10000 members"


def test_files_over_5_mb_are_refused(emu: Emulator, c: httpx.Client) -> None:
    filler = "x" * 600
    rows = [[f"+1555{i:07d}", filler] for i in range(9000)]  # ~5.4 MB, under the member limit
    data = csv_bytes(["phoneNumber", "Name"], rows)
    assert len(data) > 5 * 1024 * 1024
    assert "5MB" in error(create(c, emu, data), 400)


def test_list_get_and_404(emu: Emulator, c: httpx.Client) -> None:
    audience_id = make(c, emu, 3)
    base, headers = emu.base_urls["smallest"], auth(emu, "smallest")
    listed = c.get(f"{base}/audience", headers=headers).json()
    assert listed["status"] is True
    assert [(a["_id"], a["memberCount"], a["hasCampaigns"]) for a in listed["data"]] == [
        (audience_id, 3, False)
    ]
    one = c.get(f"{base}/audience/{audience_id}", headers=headers).json()
    assert one["status"] is True and one["data"]["_id"] == audience_id
    assert error(c.get(f"{base}/audience/{'0' * 24}", headers=headers), 404) == "Audience not found"


def test_members_paging_uses_offset_as_page_size(emu: Emulator, c: httpx.Client) -> None:
    audience_id = make(c, emu, 7)
    url, headers = f"{emu.base_urls['smallest']}/audience/{audience_id}/members", auth(emu, "smallest")
    first = c.get(url, headers=headers, params={"page": 1, "offset": 3, "limit": 100}).json()["data"]
    assert len(first["members"]) == 3 and first["totalCount"] == 7 and first["totalPages"] == 3
    assert first["hasMore"] is True
    seen = []
    for page in (1, 2, 3):
        data = c.get(url, headers=headers, params={"page": page, "offset": 3}).json()["data"]
        seen += data["members"]
        assert data["hasMore"] is (page < 3)
    assert len({m["_id"] for m in seen}) == 7 and all(HEX24.match(m["_id"]) for m in seen)
    assert {m["data"]["phoneNumber"] for m in seen} == {f"+1555{i:07d}" for i in range(7)}
    default = c.get(url, headers=headers, params={"limit": 2}).json()["data"]  # limit ignored: default 10
    assert len(default["members"]) == 7 and default["totalPages"] == 1
    beyond = c.get(url, headers=headers, params={"page": 9, "offset": 3}).json()["data"]
    assert beyond["members"] == [] and beyond["hasMore"] is False
    for bad in ({"page": 0}, {"offset": "x"}):
        assert c.get(url, headers=headers, params=bad).status_code == 400


def test_add_members_skips_duplicates(emu: Emulator, c: httpx.Client) -> None:
    audience_id = make(c, emu, 2)
    url, headers = f"{emu.base_urls['smallest']}/audience/{audience_id}/members", auth(emu, "smallest")
    members = [
        {"phoneNumber": "+15550000000"},
        {"phoneNumber": "+15559999999", "Name": "new"},
        {"phoneNumber": "15559999999"},
    ]
    r = c.post(url, headers=headers, json={"members": members})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] is True
    assert body["data"] == [{"message": "Members added successfully", "data": {"added": 1, "skipped": 2}}]
    assert len(emu.members("smallest", audience_id)) == 3
    assert c.post(url, headers=headers, json={"members": [{"Name": "no phone"}]}).status_code == 400
    assert c.post(url, headers=headers, json={"members": "nope"}).status_code == 400


def test_add_members_past_the_limit_adds_nothing(emu: Emulator, c: httpx.Client) -> None:
    audience_id = make(c, emu, 9_999)
    url, headers = f"{emu.base_urls['smallest']}/audience/{audience_id}/members", auth(emu, "smallest")
    two = [{"phoneNumber": "+14440000001"}, {"phoneNumber": "+14440000002"}]
    assert (
        error(c.post(url, headers=headers, json={"members": two}), 400)
        == "Audience cannot exceed 10000 members"
    )
    assert len(emu.members("smallest", audience_id)) == 9_999
    assert c.post(url, headers=headers, json={"members": two[:1]}).status_code == 200


def test_delete_members_by_id(emu: Emulator, c: httpx.Client) -> None:
    audience_id = make(c, emu, 4)
    url, headers = f"{emu.base_urls['smallest']}/audience/{audience_id}/members", auth(emu, "smallest")
    listed = c.get(url, headers=headers, params={"offset": 10}).json()["data"]["members"]
    doomed = [listed[0]["_id"], listed[1]["_id"], "f" * 24]
    r = c.request("DELETE", url, headers=headers, json={"memberIds": doomed})
    assert r.status_code == 200 and r.json() == {"status": True, "data": {"deletedCount": 2}}
    left = c.get(url, headers=headers).json()["data"]
    assert left["totalCount"] == 2 and {m["_id"] for m in left["members"]} == {m["_id"] for m in listed[2:]}
    again = c.post(
        url, headers=headers, json={"members": [{"phoneNumber": listed[0]["data"]["phoneNumber"]}]}
    )
    assert again.json()["data"][0]["data"] == {"added": 1, "skipped": 0}  # a deleted phone may come back
    assert c.request("DELETE", url, headers=headers, json={"memberIds": "x"}).status_code == 400


def test_delete_audience_refused_while_a_campaign_uses_it(emu: Emulator, c: httpx.Client) -> None:
    audience_id = make(c, emu)
    url, headers = f"{emu.base_urls['smallest']}/audience/{audience_id}", auth(emu, "smallest")
    emu.set_smallest_has_campaigns(audience_id)
    assert c.get(f"{emu.base_urls['smallest']}/audience", headers=headers).json()["data"][0]["hasCampaigns"]
    assert "campaign" in error(c.delete(url, headers=headers), 400)
    emu.set_smallest_has_campaigns(audience_id, False)
    r = c.delete(url, headers=headers)
    assert r.status_code == 200 and r.json() == {"status": True, "data": []}
    error(c.delete(url, headers=headers), 404)
    error(c.get(f"{url}/members", headers=headers), 404)


def test_no_rename_route(emu: Emulator, c: httpx.Client) -> None:
    audience_id = make(c, emu)
    r = c.patch(
        f"{emu.base_urls['smallest']}/audience/{audience_id}",
        headers=auth(emu, "smallest"),
        json={"name": "x"},
    )
    assert r.status_code == 405


@pytest.mark.parametrize("token", [None, "wrong"])
def test_401_in_smallest_format(emu: Emulator, c: httpx.Client, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    assert (
        error(c.get(f"{emu.base_urls['smallest']}/audience", headers=headers), 401) == "Unauthorized access"
    )


def test_hooks(emu: Emulator, c: httpx.Client) -> None:
    audience_id = make(c, emu)
    emu.rename_audience("smallest", audience_id, "Renamed")
    headers = auth(emu, "smallest")
    assert (
        c.get(f"{emu.base_urls['smallest']}/audience/{audience_id}", headers=headers).json()["data"]["name"]
        == "Renamed"
    )
    emu.delete_audience("smallest", audience_id)
    assert c.get(f"{emu.base_urls['smallest']}/audience", headers=headers).json()["data"] == []


@settings(max_examples=15)
@given(
    numbers=st.sets(st.integers(min_value=0, max_value=9_999_999), min_size=1, max_size=60),
    page_size=st.integers(min_value=1, max_value=25),
)
def test_paging_returns_every_member_exactly_once(
    emu: Emulator, c: httpx.Client, numbers: set[int], page_size: int
) -> None:
    wanted = {f"+1555{n:07d}" for n in numbers}
    r = create(c, emu, csv_bytes(["phoneNumber"], [[p] for p in sorted(wanted)]))
    url = f"{emu.base_urls['smallest']}/audience/{r.json()['data']['_id']}/members"
    got: list[str] = []
    page, more = 1, True
    while more:
        data = c.get(url, headers=auth(emu, "smallest"), params={"page": page, "offset": page_size}).json()[
            "data"
        ]
        assert len(data["members"]) <= page_size and data["totalCount"] == len(wanted)
        got += [m["data"]["phoneNumber"] for m in data["members"]]
        more, page = data["hasMore"], page + 1
    assert sorted(got) == sorted(wanted) and page - 1 == -(-len(wanted) // page_size)
