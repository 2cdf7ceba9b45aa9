"""End to end over loopback: `reconciler apply` against the emulator, asserting on its request log."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from apply_support import (
    Project,
    cli,
    make_project,
    mutations,
    names_at,
    person,
)

from reconciler.emulator import Emulator


@pytest.fixture
def applied(tmp_path: Path, emulator: Emulator, state_url: str | None) -> Project:
    """The three base audiences, created (on each state backend)."""
    project = make_project(tmp_path, state_url=state_url)
    result = cli("apply", "--auto-approve", *project.args())
    assert result.code == 0, result.out + result.err
    emulator.clear_log()
    return project


def ids(project: Project) -> dict[str, str]:
    return {k: v["provider_id"] for k, v in project.state_doc()["audiences"].items()}


def assert_no_changes(project: Project) -> None:
    result = cli("plan", "--detailed-exitcode", *project.args())
    assert result.code == 0, result.out


def test_create_all_three_then_plan_is_noop(
    tmp_path: Path, emulator: Emulator, state_url: str | None
) -> None:
    project = make_project(tmp_path, state_url=state_url)
    result = cli("apply", "--auto-approve", *project.args())
    assert result.code == 0, result.out + result.err
    assert "3 succeeded, 0 failed, 0 not attempted" in result.out
    creates = Counter(m for m in mutations(emulator.request_log) if m[2] in ("/audiences", "/audience"))
    assert creates == {
        ("commbox", "POST", "/audiences"): 1,
        ("whop", "POST", "/audiences"): 1,
        ("smallest", "POST", "/audience"): 1,
    }
    recorded = ids(project)
    assert recorded["vip"] == next(a["id"] for a in emulator.audiences("commbox"))
    assert recorded["callers"] == next(a["_id"] for a in emulator.audiences("smallest"))
    assert recorded["buyers"] == next(a["id"] for a in emulator.audiences("whop"))
    assert len(emulator.members("smallest", recorded["callers"])) == 5
    assert project.state_doc()["intents"] == []
    assert_no_changes(project)
    again = cli("apply", "--auto-approve", *project.args())
    assert again.code == 0 and "No changes" in again.out


def test_member_changes_use_each_providers_strategy(applied: Project, emulator: Emulator) -> None:
    before = ids(applied)
    applied.rows["vip.csv"] = [person(i) for i in range(1, 7)]  # -1 +1 (of 5 -> 6)
    applied.rows["callers.csv"] = [person(i) for i in range(1, 7)]
    applied.rows["buyers.csv"] = [person(i) for i in range(7)]  # only additions: append
    applied.write()
    result = cli("apply", "--auto-approve", *applied.args())
    assert result.code == 0, result.out + result.err
    sent = mutations(emulator.request_log)
    smallest_members = f"/audience/{before['callers']}/members"
    whop_add = f"/audiences/{before['buyers']}/add_people"
    assert Counter(sent) == {
        ("commbox", "PUT", f"/Audiences/{before['vip']}"): 1,
        ("smallest", "DELETE", smallest_members): 1,
        ("smallest", "POST", smallest_members): 1,
        ("whop", "POST", "/files"): 1,
        ("whop", "POST", whop_add): 1,
    }
    assert ids(applied) == before
    # Only the difference travels: 1 member removed and 2 added, the 4 unchanged ones stay put.
    summaries = {r.method: r.summary for r in emulator.request_log if r.path == smallest_members}
    assert summaries["DELETE"]["members"] == 1 and summaries["POST"]["members"] == 2
    members = emulator.members("smallest", before["callers"])
    assert len(members) == 6
    assert_no_changes(applied)


def test_whop_removal_builds_a_new_audience_and_deletes_the_old(applied: Project, emulator: Emulator) -> None:
    old = ids(applied)["buyers"]
    applied.rows["buyers.csv"] = [person(i) for i in range(4)]  # one removed: 5 -> 4
    applied.write()
    result = cli("apply", "--auto-approve", *applied.args())
    assert result.code == 0, result.out + result.err
    new = ids(applied)["buyers"]
    assert new != old
    sent = mutations(emulator.request_log)
    assert Counter(sent) == {
        ("whop", "POST", "/files"): 1,
        ("whop", "POST", "/audiences"): 1,
        ("whop", "DELETE", f"/audiences/{old}"): 1,
    }
    assert [a["id"] for a in emulator.audiences("whop")] == [new]
    assert_no_changes(applied)


def test_renames(applied: Project, emulator: Emulator) -> None:
    before = ids(applied)
    for key in ("vip", "buyers", "callers"):
        applied.audiences[key]["name"] += " 2026"
    applied.write()
    result = cli("apply", "--auto-approve", *applied.args())
    assert result.code == 0, result.out + result.err
    after = ids(applied)
    sent = mutations(emulator.request_log)
    assert after["buyers"] == before["buyers"]  # Whop renames in place
    assert ("whop", "PATCH", f"/audiences/{before['buyers']}") in sent
    assert after["callers"] != before["callers"]  # Smallest: new audience, old deleted
    assert ("smallest", "DELETE", f"/audience/{before['callers']}") in sent
    assert names_at(emulator, "smallest") == ["Callers 2026"]
    assert after["vip"] != before["vip"]  # CommBox: new audience; the old one cannot be deleted
    assert names_at(emulator, "commbox") == ["VIP customers", "VIP customers 2026"]
    assert f"old audience {before['vip']} stays there, unmanaged" in result.out
    assert len(sent) == 4  # PATCH; Smallest POST + DELETE; CommBox POST: nothing else
    assert_no_changes(applied)


def test_removed_from_declaration(applied: Project, emulator: Emulator) -> None:
    before = ids(applied)
    applied.audiences = {}
    applied.write()
    result = cli("apply", "--auto-approve", "--allow-destroy", "vip", *applied.args())
    assert result.code == 0, result.out + result.err
    assert Counter(mutations(emulator.request_log)) == {
        ("whop", "DELETE", f"/audiences/{before['buyers']}"): 1,
        ("smallest", "DELETE", f"/audience/{before['callers']}"): 1,
    }
    assert emulator.audiences("whop") == [] and emulator.audiences("smallest") == []
    assert [a["id"] for a in emulator.audiences("commbox")] == [before["vip"]]  # forgotten, loudly
    assert "no longer managed" in result.out
    assert applied.state_doc()["audiences"] == {}


def test_whop_partial_is_a_warning_with_the_providers_message(
    tmp_path: Path, emulator: Emulator, state_url: str | None
) -> None:
    project = make_project(tmp_path, state_url=state_url)
    emulator.set_next_whop_outcome("partial", "2 rows could not be matched")
    result = cli("apply", "--auto-approve", *project.args())
    assert result.code == 0, result.out + result.err
    assert "partial" in result.out and "2 rows could not be matched" in result.out
    assert "buyers" in project.state_doc()["audiences"]


def test_whop_failed_is_an_error_and_leaves_nothing_behind(
    tmp_path: Path, emulator: Emulator, state_url: str | None
) -> None:
    project = make_project(tmp_path, state_url=state_url)
    emulator.set_next_whop_outcome("failed", "the file could not be processed")
    result = cli("apply", "--auto-approve", *project.args())
    assert result.code == 1
    assert "the file could not be processed" in result.out
    assert "2 succeeded, 1 failed" in result.out
    state = project.state_doc()
    assert "buyers" not in state["audiences"] and state["intents"] == []
    assert emulator.audiences("whop") == []  # the failed audience was removed, not orphaned
    retry = cli("apply", "--auto-approve", *project.args())
    assert retry.code == 0 and names_at(emulator, "whop") == ["Whop buyers"]


def test_smallest_delete_refused_while_a_campaign_uses_it(applied: Project, emulator: Emulator) -> None:
    callers = ids(applied)["callers"]
    emulator.set_smallest_has_campaigns(callers)
    del applied.audiences["callers"]
    applied.write()
    result = cli("apply", "--auto-approve", *applied.args())
    assert result.code == 1
    assert "FAILED" in result.out and "callers" in result.out
    assert applied.state_doc()["audiences"]["callers"]["provider_id"] == callers  # still managed
    assert applied.state_doc()["intents"] == []
    emulator.set_smallest_has_campaigns(callers, False)
    assert cli("apply", "--auto-approve", *applied.args()).code == 0
    assert emulator.audiences("smallest") == []
