"""`reconciler providers`: every registered provider and what it can do, as text and JSON."""

from __future__ import annotations

import json

import pytest

from reconciler.cli import main


def test_json_lists_the_built_ins_with_their_capabilities(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in document["providers"]}
    assert list(by_name)[:3] == ["commbox", "whop", "smallest"]
    assert by_name["commbox"]["capabilities"] == {
        "members": "put_replace", "rename": False, "delete": False, "list_members": False
    }
    assert by_name["whop"]["settings"]["account_id"]["env"] == "WHOP_ACCOUNT_ID"
    assert by_name["smallest"]["limits"] == {"max_members": 10_000, "max_upload_bytes": 5_000_000}
    assert all(p["emulator"] for p in by_name.values())


def test_text_says_what_each_can_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "commbox  CommBox  (built-in)" in out
    assert "rename     yes    delete yes" in out  # whop
    assert "limits     10,000 members, 5,000,000 upload bytes" in out
    assert "account_id (required, env WHOP_ACCOUNT_ID)" in out
