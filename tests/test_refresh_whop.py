"""Whop drift and adoption against the emulator: failed status, appends behind our back, import."""

from __future__ import annotations

from pathlib import Path

import pytest
from refreshhelpers import Env, env

from reconciler.config.load import load_declaration
from reconciler.errors import ReconcilerError
from reconciler.providers import make_provider
from reconciler.sources import render_upload
from reconciler.sources.members import Member

__all__ = ["env"]

WHOP = """\
version: 1
defaults: {phone_region: US}
audiences:
  buyers:
    provider: whop
    name: Whop buyers
    source: data/buyers.csv
    columns: {phone: Mobile, email: Email}
"""
BUYERS = "Mobile,Email\n+14155550111,a@example.com\n+14155550112,b@example.com\n"
FLAGS = ("-c", "whop.yaml", "--state", "whopstate")


@pytest.fixture()
def whop(env: Env) -> Env:
    (env.project / "whop.yaml").write_text(WHOP)
    (env.project / "data" / "buyers.csv").write_text(BUYERS)
    return env


def _append_behind_our_back(env: Env, audience_id: str, phones: list[str], tmp: Path) -> str:
    """Append members with the provider's own API, outside any state (as another tool would);
    returns the audience's status afterwards."""
    spec = load_declaration(env.project / "whop.yaml").audiences["buyers"]
    upload = render_upload(spec, [Member(phone=p) for p in phones], tmp / f"append-{phones[0]}.csv")
    client = make_provider("whop", {}, dict(env.emu.env()), sleep=lambda _: None)
    try:
        return client.append_members(audience_id, spec, upload, idempotency_key=f"append-{phones[0]}").status
    except ReconcilerError as exc:  # a failed append may be reported as an error: the audience shows it
        return f"error: {exc}"
    finally:
        client.close()


def test_failed_and_count_drift_at_whop(whop: Env, tmp_path: Path) -> None:
    assert whop.cli("apply", "--auto-approve", *FLAGS).code == 0
    buyers = whop.remote_id("whop", "Whop buyers")
    assert whop.cli("refresh", "--detailed-exitcode", *FLAGS).code == 0
    assert _append_behind_our_back(whop, buyers, ["+14155550113"], tmp_path) == "ready"
    found = {f["kind"]: f for f in whop.cli("refresh", "--format", "json", *FLAGS).json()["findings"]}
    assert set(found) == {"member_count_differs"} and (found["member_count_differs"]["after"]) == 3

    whop.emu.set_next_whop_outcome("failed", "the file could not be processed")
    assert _append_behind_our_back(whop, buyers, ["+14155550114"], tmp_path) != "ready"
    run = whop.cli("refresh", "--detailed-exitcode", *FLAGS)
    assert run.code == 2
    assert "status failed at whop: the file could not be processed" in run.out
    assert whop.cli("refresh", "--write", *FLAGS).code == 0
    assert whop.state("whopstate").audiences["buyers"].extra["remote_status"] == "failed"


def test_whop_import_next_plan_appends(whop: Env) -> None:
    assert whop.cli("apply", "--auto-approve", "-c", "whop.yaml", "--state", "elsewhere").code == 0
    buyers = whop.remote_id("whop", "Whop buyers")
    run = whop.cli("import", "buyers", buyers, *FLAGS)
    assert run.code == 0, run.err
    assert "2 members at the provider, not listable" in run.out
    plan = whop.cli("plan", "--format", "json", *FLAGS).json()
    [change] = plan["changes"]
    assert (change["action"], change["strategy"], change["reasons"]) == (
        "update",
        "append",
        ["members_changed"],
    )
    assert change["members"]["added"] == 2
