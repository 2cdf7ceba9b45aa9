"""Whop emulator over real HTTP: files and presigned uploads, async audiences, idempotency, paging."""

from __future__ import annotations

import httpx
import pytest
from emulator_support import ACCOUNT, auth, csv_bytes, whop_create, whop_file, whop_get, whop_wait, xlsx_bytes
from hypothesis import given
from hypothesis import strategies as st

from reconciler.emulator import Emulator
from reconciler.emulator.whop import WHOP_API_VERSION_DATE
from reconciler.emulator.whop_model import decode_cursor, encode_cursor, parse_version
from reconciler.emulator.wire import ApiError

AUDIENCE_KEYS = {
    "id",
    "name",
    "status",
    "total_rows",
    "processed_rows",
    "matched_rows",
    "progress_percent",
    "error_message",
    "platform_audience_ids",
    "created_at",
    "updated_at",
}
MEMBERS = csv_bytes(
    ["email", "phone", "first"],
    [["a@x.io", "+15550000001", "Ann"], ["", "+15550000002", "Bo"], ["c@x.io", "", "Cy"], ["", "", "Nobody"]],
)


def new_file(c: httpx.Client, emu: Emulator, filename: str = "m.csv") -> dict:
    r = c.post(
        f"{emu.base_urls['whop']}/files",
        headers=auth(emu, "whop"),
        json={"filename": filename, "visibility": "private"},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def whop_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}
    return dict(body["error"])


# -- files and uploads ------------------------------------------------------------------------------


def test_create_file_returns_upload_instructions(emu: Emulator, c: httpx.Client) -> None:
    record = new_file(c, emu)
    assert record["id"].startswith("file_") and record["upload_status"] == "pending"
    assert record["upload_url"].startswith(emu.root_url + "/whop-upload/")
    headers = record["upload_headers"]
    assert headers["Content-Type"] == "text/csv"
    assert any(k.lower().startswith("x-amz-meta-") for k in headers)
    assert record["size"] is None and record["url"] is None


@pytest.mark.parametrize("version", [None, "2025-01-01", "2026-08-21", "yesterday", "2026-8-21-1"])
def test_files_require_a_recent_api_version(emu: Emulator, c: httpx.Client, version: str | None) -> None:
    headers = {"Authorization": f"Bearer {emu.tokens['whop']}"}
    if version:
        headers["Api-Version-Date"] = version
    r = c.post(f"{emu.base_urls['whop']}/files", headers=headers, json={"filename": "m.csv"})
    assert "Api" in whop_error(r, 400)["message"] or "API" in whop_error(r, 400)["message"]


@pytest.mark.parametrize("version", [WHOP_API_VERSION_DATE, "2026-08-21-2", "2027-01-01"])
def test_newer_api_versions_are_accepted(emu: Emulator, c: httpx.Client, version: str) -> None:
    headers = {"Authorization": f"Bearer {emu.tokens['whop']}", "Api-Version-Date": version}
    assert (
        c.post(f"{emu.base_urls['whop']}/files", headers=headers, json={"filename": "m.csv"}).status_code
        == 201
    )


def test_file_status_advances_only_after_bytes_arrive(emu: Emulator, c: httpx.Client) -> None:
    record = new_file(c, emu)
    url = f"{emu.base_urls['whop']}/files/{record['id']}"
    statuses = [c.get(url, headers=auth(emu, "whop")).json()["upload_status"] for _ in range(3)]
    assert statuses == ["pending"] * 3
    assert c.put(record["upload_url"], headers=record["upload_headers"], content=MEMBERS).status_code == 200
    seen = [c.get(url, headers=auth(emu, "whop")).json() for _ in range(3)]
    assert [s["upload_status"] for s in seen] == ["processing", "ready", "ready"]
    assert seen[0]["size"] is None and seen[1]["size"] == len(MEMBERS) and seen[1]["url"]
    assert "upload_url" not in seen[1]


def test_empty_upload_fails(emu: Emulator, c: httpx.Client) -> None:
    record = new_file(c, emu)
    assert c.put(record["upload_url"], headers=record["upload_headers"], content=b"").status_code == 200
    url = f"{emu.base_urls['whop']}/files/{record['id']}"
    assert [c.get(url, headers=auth(emu, "whop")).json()["upload_status"] for _ in range(2)] == [
        "processing",
        "failed",
    ]


def test_unknown_file_is_404(emu: Emulator, c: httpx.Client) -> None:
    r = c.get(f"{emu.base_urls['whop']}/files/file_nope", headers=auth(emu, "whop"))
    assert whop_error(r, 404)["type"] == "not_found"


def _put(c: httpx.Client, url: str, headers: dict, content: object = MEMBERS) -> httpx.Response:
    return c.put(url, headers=headers, content=content)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ("authorization", 400, "InvalidArgument"),
        ("drop_signed_header", 403, "AccessDenied"),
        ("wrong_signed_header", 403, "AccessDenied"),
        ("content_type", 403, "SignatureDoesNotMatch"),
        ("signature", 403, "SignatureDoesNotMatch"),
        ("expired", 403, "AccessDenied"),
        ("chunked", 411, "MissingContentLength"),
    ],
)
def test_presigned_upload_rules(emu: Emulator, c: httpx.Client, change: str, status: int, code: str) -> None:
    record = new_file(c, emu)
    url, headers = record["upload_url"], dict(record["upload_headers"])
    signed = next(k for k in headers if k.lower().startswith("x-amz-meta-"))
    content: object = MEMBERS
    if change == "authorization":
        headers["Authorization"] = f"Bearer {emu.tokens['whop']}"
    elif change == "drop_signed_header":
        del headers[signed]
    elif change == "wrong_signed_header":
        headers[signed] = "0" * len(headers[signed])
    elif change == "content_type":
        headers["Content-Type"] = "application/octet-stream"
    elif change == "signature":
        url = url.replace("signature=", "signature=0")
    elif change == "expired":
        emu.advance_clock(3601)
    elif change == "chunked":
        content = iter([MEMBERS])
    r = _put(c, url, headers, content)
    assert r.status_code == status
    assert f"<Code>{code}</Code>" in r.text
    got = c.get(f"{emu.base_urls['whop']}/files/{record['id']}", headers=auth(emu, "whop")).json()
    assert got["upload_status"] == "pending"


def test_upload_url_is_valid_just_under_an_hour(emu: Emulator, c: httpx.Client) -> None:
    record = new_file(c, emu)
    emu.advance_clock(3590)
    assert _put(c, record["upload_url"], record["upload_headers"], b"first").status_code == 200
    # like S3, the URL may be used again until it expires; the last bytes win
    assert _put(c, record["upload_url"], record["upload_headers"]).status_code == 200
    c.get(f"{emu.base_urls['whop']}/files/{record['id']}", headers=auth(emu, "whop"))
    assert _put(c, record["upload_url"], record["upload_headers"]).status_code == 403  # processing already
    emu.advance_clock(20)
    assert "expired" in _put(c, record["upload_url"], record["upload_headers"]).text


# -- audiences --------------------------------------------------------------------------------------


def test_create_and_progress_to_ready(emu: Emulator, c: httpx.Client) -> None:
    file_id = whop_file(c, emu, MEMBERS)
    r = whop_create(c, emu, file_id, mapping={"email": "email", "phone": "phone", "first_name": "first"})
    assert r.status_code == 201
    created = r.json()
    assert set(created) == AUDIENCE_KEYS
    assert created["id"].startswith("adaud_") and created["status"] == "pending"
    assert created["total_rows"] == 4 and created["error_message"] is None
    steps = [whop_get(c, emu, created["id"]) for _ in range(4)]
    assert [s["status"] for s in steps] == ["processing", "syncing", "ready", "ready"]
    assert [s["progress_percent"] for s in steps] == [50, 90, 100, 100]
    ready = steps[2]
    assert ready["processed_rows"] == 4 and ready["matched_rows"] == 3 and ready["platform_audience_ids"]
    assert emu.members("whop", created["id"]) == [
        {"email": "a@x.io", "phone": "+15550000001", "first_name": "Ann"},
        {"email": "", "phone": "+15550000002", "first_name": "Bo"},
        {"email": "c@x.io", "phone": "", "first_name": "Cy"},
    ]


def test_polls_per_step_slows_progress() -> None:
    with Emulator(polls_per_step=2) as emu, httpx.Client(timeout=10) as c:
        file_id = whop_file(c, emu, MEMBERS)
        audience_id = whop_create(c, emu, file_id).json()["id"]
        assert [whop_get(c, emu, audience_id)["status"] for _ in range(6)] == [
            "pending",
            "processing",
            "processing",
            "syncing",
            "syncing",
            "ready",
        ]


@pytest.mark.parametrize(
    ("outcome", "message", "matched"),
    [("partial", "1 rows could not be matched", 2), ("failed", "boom", 0), ("ready", None, 3)],
)
def test_configured_outcomes(
    emu: Emulator, c: httpx.Client, outcome: str, message: str | None, matched: int
) -> None:
    file_id = whop_file(c, emu, MEMBERS)
    emu.set_next_whop_outcome(outcome, "boom" if outcome == "failed" else None)  # type: ignore[arg-type]
    final = whop_wait(c, emu, whop_create(c, emu, file_id).json()["id"])
    assert (final["status"], final["error_message"], final["matched_rows"]) == (outcome, message, matched)
    # the outcome applies once: the next audience is ready again
    assert whop_wait(c, emu, whop_create(c, emu, file_id, name="again").json()["id"])["status"] == "ready"


def test_default_outcome_from_the_constructor() -> None:
    with Emulator(whop_outcome="failed") as emu, httpx.Client(timeout=10) as c:
        final = whop_wait(c, emu, whop_create(c, emu, whop_file(c, emu, MEMBERS)).json()["id"])
        assert final["status"] == "failed" and final["error_message"]
        assert emu.members("whop", final["id"]) == []


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"account_id": None}, "account_id"),
        ({"name": ""}, "name"),
        ({"column_mapping": {"first_name": "first"}}, "email or phone"),
        ({"column_mapping": {"email": "Email"}}, "Email"),
        ({"column_mapping": {"mail": "email"}}, "unknown"),
        ({"column_mapping": {}}, "column_mapping"),
        ({"file_id": "file_missing"}, "not found"),
        ({"file_id": None}, "file_id"),
    ],
)
def test_create_validation(emu: Emulator, c: httpx.Client, change: dict, fragment: str) -> None:
    file_id = whop_file(c, emu, MEMBERS)
    body = {"account_id": ACCOUNT, "name": "x", "column_mapping": {"email": "email"}, "file_id": file_id}
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    r = c.post(f"{emu.base_urls['whop']}/audiences", headers=auth(emu, "whop"), json=body)
    assert fragment in whop_error(r, 400)["message"]
    assert emu.audiences("whop") == []


def test_create_needs_a_ready_csv_file(emu: Emulator, c: httpx.Client) -> None:
    pending = new_file(c, emu)["id"]
    assert "not ready" in whop_error(whop_create(c, emu, pending), 400)["message"]
    excel = whop_file(c, emu, xlsx_bytes(["email"], [["a@x.io"]]), "m.xlsx")
    assert whop_error(whop_create(c, emu, excel, mapping={"email": "email"}), 400)


def test_idempotency_key_replays_the_first_answer(emu: Emulator, c: httpx.Client) -> None:
    file_id = whop_file(c, emu, MEMBERS)
    first = whop_create(c, emu, file_id, key="key-1")
    again = whop_create(c, emu, file_id, key="key-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(emu.audiences("whop")) == 1
    other = whop_create(c, emu, file_id, name="Other", key="key-1")
    assert whop_error(other, 400)["type"] == "idempotency_error"
    assert whop_create(c, emu, file_id, key="k" * 256).status_code == 400
    assert whop_create(c, emu, file_id, key="key-2").json()["id"] != first.json()["id"]
    assert len(emu.audiences("whop")) == 2


def test_list_requires_account_and_pages_with_cursors(emu: Emulator, c: httpx.Client) -> None:
    file_id = whop_file(c, emu, MEMBERS)
    ids = [whop_create(c, emu, file_id, name=f"a{i}").json()["id"] for i in range(5)]
    whop_create(c, emu, file_id, name="elsewhere", account="biz_other")
    url, headers = f"{emu.base_urls['whop']}/audiences", auth(emu, "whop")
    assert "account_id" in whop_error(c.get(url, headers=headers), 400)["message"]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"account_id": ACCOUNT, "first": "2", **({"after": after} if after else {})}
        body = c.get(url, headers=headers, params=params).json()
        pages += 1
        seen += [a["id"] for a in body["data"]]
        if not body["page_info"]["has_next_page"]:
            break
        after = body["page_info"]["end_cursor"]
    assert seen == ids and pages == 3
    for bad in ({"first": "101"}, {"first": "0"}, {"first": "x"}, {"after": "garbage!"}):
        assert c.get(url, headers=headers, params={"account_id": ACCOUNT, **bad}).status_code == 400
    one = c.get(url, headers=headers, params={"account_id": ACCOUNT, "audience_id": ids[3]}).json()["data"]
    assert [a["id"] for a in one] == [ids[3]]
    none = c.get(url, headers=headers, params={"account_id": "biz_other", "audience_id": ids[3]}).json()
    assert none["data"] == []


def test_patch_renames_and_delete_removes(emu: Emulator, c: httpx.Client) -> None:
    audience_id = whop_create(c, emu, whop_file(c, emu, MEMBERS)).json()["id"]
    url, headers = f"{emu.base_urls['whop']}/audiences/{audience_id}", auth(emu, "whop")
    r = c.patch(url, headers=headers, json={"name": "Renamed"})
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    assert whop_get(c, emu, audience_id)["name"] == "Renamed"
    assert c.patch(url, headers=headers, json={"name": ""}).status_code == 400
    r = c.delete(url, headers=headers)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert whop_error(c.delete(url, headers=headers), 404)["type"] == "not_found"
    assert whop_error(c.patch(url, headers=headers, json={"name": "x"}), 404)
    assert emu.audiences("whop") == []


def test_add_people_appends_and_reprocesses(emu: Emulator, c: httpx.Client) -> None:
    audience_id = whop_create(c, emu, whop_file(c, emu, MEMBERS)).json()["id"]
    url, headers = f"{emu.base_urls['whop']}/audiences/{audience_id}/add_people", auth(emu, "whop")
    extra = whop_file(c, emu, csv_bytes(["email", "phone"], [["d@x.io", ""], ["e@x.io", "+15550000005"]]))
    busy = c.post(url, headers=headers, json={"file_id": extra})
    assert whop_error(busy, 409)["type"] == "conflict"  # still pending
    whop_wait(c, emu, audience_id)
    keyed = {**headers, "Idempotency-Key": "append-1"}
    r = c.post(url, headers=keyed, json={"file_id": extra})
    assert r.status_code == 200 and r.json()["status"] == "processing" and r.json()["total_rows"] == 6
    assert (
        c.post(url, headers=keyed, json={"file_id": extra}).json() == r.json()
    )  # replayed, not appended twice
    final = whop_wait(c, emu, audience_id)
    assert (final["status"], final["total_rows"], final["matched_rows"]) == ("ready", 6, 5)
    assert [m["email"] for m in emu.members("whop", audience_id)] == [
        "a@x.io",
        "",
        "c@x.io",
        "d@x.io",
        "e@x.io",
    ]


def test_add_people_needs_the_mapped_headers(emu: Emulator, c: httpx.Client) -> None:
    audience_id = whop_create(c, emu, whop_file(c, emu, MEMBERS)).json()["id"]
    whop_wait(c, emu, audience_id)
    wrong = whop_file(c, emu, csv_bytes(["mail"], [["d@x.io"]]))
    r = c.post(
        f"{emu.base_urls['whop']}/audiences/{audience_id}/add_people",
        headers=auth(emu, "whop"),
        json={"file_id": wrong},
    )
    assert whop_error(r, 400)
    unknown = c.post(
        f"{emu.base_urls['whop']}/audiences/adaud_nope/add_people",
        headers=auth(emu, "whop"),
        json={"file_id": wrong},
    )
    assert whop_error(unknown, 404)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_401_in_whop_format(emu: Emulator, c: httpx.Client, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = c.get(f"{emu.base_urls['whop']}/audiences", headers=headers, params={"account_id": ACCOUNT})
    assert whop_error(r, 401)["type"] == "unauthorized"


def test_hooks_and_log(emu: Emulator, c: httpx.Client) -> None:
    audience_id = whop_create(c, emu, whop_file(c, emu, MEMBERS), key="k").json()["id"]
    emu.rename_audience("whop", audience_id, "Hooked")
    assert whop_get(c, emu, audience_id)["name"] == "Hooked"
    emu.delete_audience("whop", audience_id)
    assert (
        c.get(
            f"{emu.base_urls['whop']}/audiences", headers=auth(emu, "whop"), params={"account_id": ACCOUNT}
        ).json()["data"]
        == []
    )
    log = emu.request_log
    uploads = [e for e in log if e.provider == "whop-upload"]
    assert len(uploads) == 1 and uploads[0].summary == {"bytes": len(MEMBERS)} and uploads[0].query == ""
    assert "signature" not in repr(log) and emu.tokens["whop"] not in repr(log)
    assert [e.idempotency_key for e in log if e.path == "/audiences" and e.method == "POST"] == ["k"]


@given(seq=st.integers(min_value=0, max_value=10**12))
def test_cursors_round_trip(seq: int) -> None:
    assert decode_cursor(encode_cursor(seq)) == seq


@given(text=st.text(max_size=40))
def test_any_cursor_text_decodes_or_is_a_400(text: str) -> None:
    try:
        seq = decode_cursor(text)
    except ApiError as exc:
        assert exc.status == 400
    else:  # only a real cursor (or nothing) is accepted
        assert (text == "" and seq == 0) or encode_cursor(seq) == text.rstrip("=")


@given(
    year=st.integers(1000, 9999),
    month=st.integers(1, 12),
    day=st.integers(1, 28),
    rev=st.none() | st.integers(0, 99),
)
def test_api_versions_compare_by_date_then_revision(year: int, month: int, day: int, rev: int | None) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}" + ("" if rev is None else f"-{rev}")
    parsed = parse_version(text)
    assert parsed == (year, month, day, rev or 0)
    pinned = parse_version(WHOP_API_VERSION_DATE)
    assert pinned is not None
    assert (parsed >= pinned) == ((year, month, day, rev or 0) >= (2026, 8, 21, 1))
