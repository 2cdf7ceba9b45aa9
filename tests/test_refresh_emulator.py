"""`reconciler refresh` against the emulator, with audiences changed behind the tool's back."""

from __future__ import annotations

from pathlib import Path

import pytest
from refreshhelpers import Env, assert_no_secrets, env

from reconciler.commands.refresh import refresh_project
from reconciler.planning.engine import PlanOptions, load_project, make_plan
from reconciler.state.store import StateStore

__all__ = ["env"]


def _apply(env: Env) -> None:
    run = env.cli("apply", "--auto-approve")
    assert run.code == 0, run.err


def _kinds(run_json: dict) -> dict[tuple[str, str], dict]:
    return {(f["address"], f["kind"]): f for f in run_json["findings"]}


def test_no_drift_after_apply(env: Env) -> None:
    _apply(env)
    run = env.cli("refresh", "--detailed-exitcode")
    assert run.code == 0, run.err
    assert "No drift: 2 managed audiences checked." in run.out
    data = env.cli("refresh", "--format", "json").json()
    assert data["drift"] is False and data["findings"] == [] and data["checked"] == 2


def test_empty_state_needs_no_token(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COMMBOX_API_TOKEN", "SMALLEST_API_KEY", "WHOP_API_KEY"):
        monkeypatch.delenv(name)
    run = env.cli("refresh", "--detailed-exitcode")
    assert run.code == 0 and "0 managed audiences checked" in run.out


def test_gone_renamed_and_count_changed_are_reported_with_exit_2(env: Env) -> None:
    _apply(env)
    vip, callers = env.remote_id("commbox", "VIP customers"), env.remote_id("smallest", "Callers")
    env.emu.rename_audience("commbox", vip, "VIP (edited in the UI)")
    with env.http("smallest") as http:  # someone adds a member by hand
        answer = http.post(f"/audience/{callers}/members", json={"members": [{"Mobile": "+14155550199"}]})
        assert answer.status_code == 200, answer.text
    run = env.cli("refresh", "--detailed-exitcode")
    assert run.code == 2, run.err
    assert "renamed at commbox: 'VIP customers' -> 'VIP (edited in the UI)'" in run.out
    assert "5 members at smallest, state records 4" in run.out
    assert "Drift: 1 renamed, 1 member count changed (2 managed audiences checked)." in run.out
    found = _kinds(env.cli("refresh", "--format", "json").json())
    assert set(found) == {("vip", "renamed_at_provider"), ("callers", "member_count_differs")}
    count = found[("callers", "member_count_differs")]
    assert (count["before"], count["after"]) == (4, 5)
    # without --detailed-exitcode, drift is not an error
    assert env.cli("refresh").code == 0
    assert_no_secrets(env, run.out, run.err)


def test_commbox_member_count_changed_by_a_put_behind_our_back(env: Env) -> None:
    _apply(env)
    vip = env.remote_id("commbox", "VIP customers")
    with env.http("commbox") as http:
        answer = http.put(f"/Audiences/{vip}", files={"audience_file": ("x.csv", b"phone1\n14155550101\n")})
        assert answer.status_code == 200, answer.text
    found = _kinds(env.cli("refresh", "--format", "json").json())
    assert found[("vip", "member_count_differs")]["after"] == 1


def test_deleted_audience_is_gone_and_write_makes_plan_create_it_again(env: Env) -> None:
    _apply(env)
    callers = env.remote_id("smallest", "Callers")
    env.emu.delete_audience("smallest", callers)
    before = env.state()
    run = env.cli("refresh", "--detailed-exitcode")
    assert run.code == 2
    assert f"smallest audience {callers} no longer exists" in run.out
    assert env.state() == before, "refresh without --write must not touch state"
    assert env.cli("plan", "--detailed-exitcode").code == 0, "offline plan still trusts the state"

    run = env.cli("refresh", "--write", "--detailed-exitcode")
    assert run.code == 2 and "Recorded in state." in run.out
    after = env.state()
    assert set(after.audiences) == {"vip"} and after.serial == before.serial + 1
    assert after.lineage == before.lineage
    plan = env.cli("plan", "--format", "json").json()
    change = next(c for c in plan["changes"] if c["address"] == "callers")
    assert change["action"] == "create"
    # a second write finds nothing more to record and leaves the serial alone
    assert env.cli("refresh", "--write", "--detailed-exitcode").code == 0
    assert env.state().serial == after.serial


def test_write_records_rename_and_count(env: Env) -> None:
    _apply(env)
    callers = env.remote_id("smallest", "Callers")
    env.emu.rename_audience("smallest", callers, "Callers v2")
    with env.http("smallest") as http:
        http.post(f"/audience/{callers}/members", json={"members": [{"Mobile": "+14155550199"}]})
    assert env.cli("refresh", "--write").code == 0
    entry = env.state().audiences["callers"]
    assert (entry.name, entry.member_count, entry.provider_id) == ("Callers v2", 5, callers)
    assert env.cli("refresh", "--detailed-exitcode").code == 0
    plan = env.cli("plan", "--format", "json").json()
    change = next(c for c in plan["changes"] if c["address"] == "callers")
    assert change["action"] == "replace" and "name_changed" in change["reasons"]


def test_dynamic_where_static_expected(env: Env) -> None:
    _apply(env)
    dynamic = env.emu.add_commbox_dynamic("VIP customers")
    store = StateStore(env.project / "state")
    state = store.load()
    state.audiences["vip"].provider_id = dynamic  # state now points at a Dynamic audience
    store.save(state)
    run = env.cli("refresh", "--detailed-exitcode")
    assert run.code == 2
    assert f"commbox audience {dynamic} is Dynamic" in run.out
    found = _kinds(env.cli("refresh", "--format", "json").json())
    assert set(found) == {("vip", "dynamic_at_provider")}


def test_write_holds_the_lock(env: Env) -> None:
    _apply(env)
    store = StateStore(env.project / "state")
    with store.lock("apply"):
        run = env.cli("refresh", "--write")
    assert run.code == 1 and "lock" in run.err.lower()
    assert "Traceback" not in run.err


def test_missing_token_is_one_line_naming_the_variable(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    _apply(env)
    monkeypatch.delenv("SMALLEST_API_KEY")
    run = env.cli("refresh")
    assert run.code == 1
    assert "SMALLEST_API_KEY" in run.err and run.err.count("\n") == 1 and "Traceback" not in run.err
    assert run.out == ""


def test_interrupted_create_is_offered_for_adoption_never_recreated(env: Env) -> None:
    # another state directory's apply plays the part of the run that was killed after its create
    assert env.cli("apply", "--auto-approve", state="other").code == 0
    callers = env.remote_id("smallest", "Callers")
    store = StateStore(env.project / "state")
    state = store.load()
    state.add_intent("callers", "smallest", "create", "Callers", details={"preexisting": []})
    store.save(state)
    run = env.cli("refresh", "--detailed-exitcode")
    assert run.code == 2
    assert f"reconciler import callers {callers}" in run.out
    data = env.cli("refresh", "--format", "json").json()
    assert data["adoptions"][0]["candidates"] == [callers]
    assert len(env.emu.audiences("smallest")) == 1, "refresh never creates"
    adopt = env.cli("import", "callers", callers)
    assert adopt.code == 0, adopt.err
    assert env.state().audiences["callers"].provider_id == callers


def test_refresh_project_is_what_plan_refresh_folds_in(env: Env) -> None:
    """The contract `plan --refresh` relies on: the folded state plans a deleted audience as create."""
    _apply(env)
    env.emu.delete_audience("smallest", env.remote_id("smallest", "Callers"))
    project = load_project(Path("audiences.yaml"), env.project / "state")
    on_disk = env.state()
    result = refresh_project(project)
    assert result.gone == {"callers"} and result.reasons("callers") == ["gone_at_provider"]
    assert project.state == on_disk, "the project's own state is not modified"
    project.state = result.state
    changes = {c.address: c for c in make_plan(project, PlanOptions()).changes}
    assert changes["callers"].action.value == "create" and changes["vip"].action.value == "no-op"
    assert env.state() == on_disk, "nothing is written"


def test_plan_refresh_plans_an_audience_deleted_by_hand_as_create(env: Env) -> None:
    _apply(env)
    callers = env.remote_id("smallest", "Callers")
    env.emu.delete_audience("smallest", callers)
    assert env.cli("plan", "--detailed-exitcode").code == 0, "offline plan trusts the state"
    run = env.cli("plan", "--refresh", "--detailed-exitcode", "--format", "json")
    assert run.code == 2, run.err
    change = next(c for c in run.json()["changes"] if c["address"] == "callers")
    assert change["action"] == "create"
    assert change["reasons"] == ["gone_at_provider"]
    assert any("no longer exists" in w for w in change["warnings"])
    text = env.cli("plan", "--refresh")
    assert "gone_at_provider" in text.out
    assert_no_secrets(env, run.out, run.err, text.out, text.err)


def test_plan_refresh_resyncs_members_changed_behind_our_back(env: Env) -> None:
    _apply(env)
    callers = env.remote_id("smallest", "Callers")
    with env.http("smallest") as http:  # someone adds a member by hand
        answer = http.post(f"/audience/{callers}/members", json={"members": [{"Mobile": "+14155550199"}]})
        assert answer.status_code == 200, answer.text
    plan = env.cli("plan", "--refresh", "--format", "json").json()
    change = next(c for c in plan["changes"] if c["address"] == "callers")
    assert (change["action"], change["strategy"]) == ("update", "add_remove_members")
    assert "member_count_differs" in change["reasons"]
    assert change["members"]["before"] == 5
    # applying that plan removes the stranger, and the next refresh finds no drift
    assert env.cli("plan", "--refresh", "--out", "p.json").code == 0
    assert env.cli("apply", "--auto-approve", "p.json").code == 0
    assert env.cli("refresh", "--detailed-exitcode").code == 0


def test_plan_refresh_without_a_token_names_the_variable(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    _apply(env)
    monkeypatch.delenv("SMALLEST_API_KEY")
    run = env.cli("plan", "--refresh")
    assert run.code == 1
    assert "SMALLEST_API_KEY" in run.err and "Traceback" not in run.err
