"""Helpers for the emulator tests: auth headers, CSV bodies and the Whop upload dance."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx

from reconciler.emulator import Emulator
from reconciler.emulator.whop import WHOP_API_VERSION_DATE

ACCOUNT = "biz_test"
ISO_7 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z\Z")


def auth(emu: Emulator, provider: str) -> dict[str, str]:
    """The Authorization header for `provider` (plus Whop's API version)."""
    headers = {"Authorization": f"Bearer {emu.tokens[provider]}"}
    if provider == "whop":
        headers["Api-Version-Date"] = WHOP_API_VERSION_DATE
    return headers


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    """A comma-separated file."""
    lines = [",".join(header)] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def xlsx_bytes(header: list[str], rows: list[list[Any]]) -> bytes:
    """An .xlsx workbook with one sheet."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def whop_file(c: httpx.Client, emu: Emulator, data: bytes, filename: str = "members.csv") -> str:
    """Create a Whop file, PUT its bytes, poll until ready; returns the file id."""
    record = c.post(
        f"{emu.base_urls['whop']}/files",
        headers=auth(emu, "whop"),
        json={"filename": filename, "visibility": "private"},
    ).json()
    put = c.put(record["upload_url"], headers=record["upload_headers"], content=data)
    assert put.status_code == 200, put.text
    for _ in range(10):
        got = c.get(f"{emu.base_urls['whop']}/files/{record['id']}", headers=auth(emu, "whop")).json()
        if got["upload_status"] == "ready":
            return str(record["id"])
    raise AssertionError(f"file never became ready: {got}")


def whop_create(
    c: httpx.Client,
    emu: Emulator,
    file_id: str,
    name: str = "Buyers",
    mapping: dict[str, str] | None = None,
    key: str | None = None,
    account: str = ACCOUNT,
) -> httpx.Response:
    """POST /audiences."""
    headers = auth(emu, "whop")
    if key is not None:
        headers["Idempotency-Key"] = key
    body = {
        "account_id": account,
        "name": name,
        "column_mapping": mapping or {"email": "email", "phone": "phone"},
        "file_id": file_id,
    }
    return c.post(f"{emu.base_urls['whop']}/audiences", headers=headers, json=body)


def whop_get(c: httpx.Client, emu: Emulator, audience_id: str, account: str = ACCOUNT) -> dict[str, Any]:
    """One audience via the filtered listing (one poll)."""
    r = c.get(
        f"{emu.base_urls['whop']}/audiences",
        headers=auth(emu, "whop"),
        params={"account_id": account, "audience_id": audience_id},
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert len(data) == 1
    return dict(data[0])


def whop_wait(c: httpx.Client, emu: Emulator, audience_id: str) -> dict[str, Any]:
    """Poll until a terminal status."""
    for _ in range(20):
        got = whop_get(c, emu, audience_id)
        if got["status"] in ("ready", "partial", "failed"):
            return got
    raise AssertionError("audience never finished")
