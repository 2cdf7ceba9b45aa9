"""CommBox emulator over real HTTP: create, replace, list, errors, and what does not exist."""

from __future__ import annotations

import httpx
import pytest
from emulator_support import ISO_7, auth, csv_bytes, xlsx_bytes

from reconciler.emulator import Emulator

ERROR_KEYS = {"status", "description", "response_time"}


def create(c: httpx.Client, emu: Emulator, name: str, data: bytes, filename: str = "a.csv") -> httpx.Response:
    return c.post(
        f"{emu.base_urls['commbox']}/audiences",
        headers=auth(emu, "commbox"),
        data={"name": name},
        files={"audience_file": (filename, data, "text/csv")},
    )


def put(
    c: httpx.Client,
    emu: Emulator,
    audience_id: str,
    data: bytes,
    path: str = "Audiences",
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    return c.put(
        f"{emu.base_urls['commbox']}/{path}/{audience_id}",
        headers=auth(emu, "commbox"),
        data=extra or {},
        files={"audience_file": ("b.csv", data, "text/csv")},
    )


def listing(c: httpx.Client, emu: Emulator) -> dict:
    r = c.get(f"{emu.base_urls['commbox']}/audiences", headers=auth(emu, "commbox"))
    assert r.status_code == 200
    return r.json()


def test_create_answers_201_with_a_numeric_string_id(emu: Emulator, c: httpx.Client) -> None:
    r = create(
        c, emu, "VIP", csv_bytes(["phone1", "first"], [["442079832100", "Ann"], ["15551234567", "Bo"]])
    )
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == 201 and isinstance(body["status"], int)
    assert body["description"] == "Audience created"
    assert ISO_7.match(body["response_time"])
    audience_id = body["data"]["id"]
    assert isinstance(audience_id, str) and audience_id.isdigit()
    assert [m["phone1"] for m in emu.members("commbox", audience_id)] == ["442079832100", "15551234567"]


def test_listing_has_string_status_and_user_count_for_static_only(emu: Emulator, c: httpx.Client) -> None:
    static_id = create(c, emu, "VIP", csv_bytes(["phone1"], [["1"], ["2"], [""]])).json()["data"]["id"]
    dynamic_id = emu.add_commbox_dynamic("Saved filter")
    body = listing(c, emu)
    assert body["status"] == "200"
    assert set(body) == {"status", "description", "response_time", "data"}
    items = {item["id"]: item for item in body["data"]}
    assert items[static_id] == {
        "id": static_id,
        "name": "VIP",
        "created_time": items[static_id]["created_time"],
        "type": "Static",
        "user_count": 2,
    }
    assert items[dynamic_id]["type"] == "Dynamic" and "user_count" not in items[dynamic_id]


def test_ids_are_distinct(emu: Emulator, c: httpx.Client) -> None:
    ids = {create(c, emu, f"a{i}", csv_bytes(["phone1"], [["1"]])).json()["data"]["id"] for i in range(5)}
    assert len(ids) == 5


def test_excel_upload_is_read_including_numeric_phone_cells(emu: Emulator, c: httpx.Client) -> None:
    data = xlsx_bytes(["phone1", "name"], [[442079832100, "Ann"], ["15551234567", "Bo"]])
    r = create(c, emu, "Excel", data, "a.xlsx")
    assert r.status_code == 201
    members = emu.members("commbox", r.json()["data"]["id"])
    assert [m["phone1"] for m in members] == ["442079832100", "15551234567"]


@pytest.mark.parametrize(
    ("fields", "files"),
    [
        ({}, {"audience_file": ("a.csv", b"phone1\n1\n", "text/csv")}),  # no name
        ({"name": "x"}, {}),  # no file
        ({"name": "x"}, {"audience_file": ("a.csv", b"Phone1\n1\n", "text/csv")}),  # case matters
        ({"name": "x"}, {"audience_file": ("a.csv", b"phone\n1\n", "text/csv")}),
        ({"name": "x"}, {"audience_file": ("a.csv", b"\x00\x01\x02binary", "text/csv")}),
        ({"name": "x"}, {"audience_file": ("a.xlsx", b"PK\x03\x04 not a workbook", "text/csv")}),
        ({"name": "x"}, {"audience_file": ("a.csv", b"", "text/csv")}),
    ],
)
def test_create_400_cases_use_the_documented_error_body(
    emu: Emulator, c: httpx.Client, fields: dict, files: dict
) -> None:
    r = c.post(
        f"{emu.base_urls['commbox']}/audiences",
        headers=auth(emu, "commbox"),
        data=fields,
        files=files or {"other": ("x", b"y")},
    )
    assert r.status_code == 400
    body = r.json()
    assert set(body) == ERROR_KEYS and body["status"] == 400
    assert body["description"].startswith("Bad Request")
    assert emu.audiences("commbox") == []


def test_audience_file_sent_as_a_plain_field_is_refused(emu: Emulator, c: httpx.Client) -> None:
    r = c.post(
        f"{emu.base_urls['commbox']}/audiences",
        headers=auth(emu, "commbox"),
        data={"name": "x", "audience_file": "phone1\n1\n"},
    )
    assert r.status_code == 400


def test_put_replaces_every_member(emu: Emulator, c: httpx.Client) -> None:
    audience_id = create(c, emu, "VIP", csv_bytes(["phone1"], [["111"], ["222"]])).json()["data"]["id"]
    r = put(c, emu, audience_id, csv_bytes(["phone1"], [["333"]]))
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == 200 and body["data"] == {"id": audience_id}
    assert [m["phone1"] for m in emu.members("commbox", audience_id)] == ["333"]
    assert listing(c, emu)["data"][0]["user_count"] == 1


def test_put_errors(emu: Emulator, c: httpx.Client) -> None:
    audience_id = create(c, emu, "VIP", csv_bytes(["phone1"], [["111"]])).json()["data"]["id"]
    dynamic_id = emu.add_commbox_dynamic("Filter")
    good = csv_bytes(["phone1"], [["333"]])
    assert put(c, emu, "999999999", good).status_code == 404
    r = put(c, emu, dynamic_id, good)
    assert r.status_code == 400 and set(r.json()) == ERROR_KEYS
    assert put(c, emu, audience_id, good, extra={"name": "rename"}).status_code == 400
    assert put(c, emu, audience_id, csv_bytes(["mobile"], [["333"]])).status_code == 400
    assert [m["phone1"] for m in emu.members("commbox", audience_id)] == ["111"]


def test_paths_that_do_not_exist(emu: Emulator, c: httpx.Client) -> None:
    audience_id = create(c, emu, "VIP", csv_bytes(["phone1"], [["111"]])).json()["data"]["id"]
    base, headers = emu.base_urls["commbox"], auth(emu, "commbox")
    good = csv_bytes(["phone1"], [["333"]])
    assert put(c, emu, audience_id, good, path="audiences").status_code == 404  # lower-case a
    r = c.get(f"{base}/Audiences/{audience_id}", headers=headers)  # no get-one
    assert r.status_code == 405 and r.headers["Allow"] == "PUT"
    assert c.delete(f"{base}/Audiences/{audience_id}", headers=headers).status_code == 405  # no delete
    assert c.patch(f"{base}/Audiences/{audience_id}", headers=headers, json={"name": "x"}).status_code == 405
    assert c.delete(f"{base}/audiences", headers=headers).status_code == 405
    assert c.get(f"{base}/audiences/{audience_id}/members", headers=headers).status_code == 404
    assert [m["phone1"] for m in emu.members("commbox", audience_id)] == ["111"]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "emulator-commbox-token", "Basic abc"])
def test_401_without_the_right_bearer_token(emu: Emulator, c: httpx.Client, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = c.get(f"{emu.base_urls['commbox']}/audiences", headers=headers)
    assert r.status_code == 401
    assert set(r.json()) == ERROR_KEYS and r.json()["status"] == 401


def test_hooks_rename_and_delete_behind_the_tools_back(emu: Emulator, c: httpx.Client) -> None:
    a = create(c, emu, "A", csv_bytes(["phone1"], [["1"]])).json()["data"]["id"]
    b = create(c, emu, "B", csv_bytes(["phone1"], [["2"]])).json()["data"]["id"]
    emu.rename_audience("commbox", a, "A2")
    emu.delete_audience("commbox", b)
    assert [(i["id"], i["name"]) for i in listing(c, emu)["data"]] == [(a, "A2")]
    assert put(c, emu, b, csv_bytes(["phone1"], [["3"]])).status_code == 404


def test_semicolon_and_bom_csv_are_read(emu: Emulator, c: httpx.Client) -> None:
    r = create(c, emu, "x", "\ufeffname;phone1\nAnn;4420\n".encode())
    assert r.status_code == 201
    assert emu.members("commbox", r.json()["data"]["id"]) == [{"name": "Ann", "phone1": "4420"}]


def test_request_log_records_rows_not_tokens(emu: Emulator, c: httpx.Client) -> None:
    create(c, emu, "VIP", csv_bytes(["phone1"], [["1"], ["2"], ["3"]]))
    log = emu.request_log
    assert [(e.provider, e.method, e.path, e.status, e.summary) for e in log] == [
        ("commbox", "POST", "/audiences", 201, {"rows": 3})
    ]
    assert emu.tokens["commbox"] not in repr(log)
    emu.clear_log()
    assert emu.request_log == []
