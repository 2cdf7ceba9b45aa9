"""`reconciler import KEY ID` against the emulator: adoption, verification, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from refreshhelpers import DECLARATION, Env, assert_no_secrets, env

from reconciler.state.store import StateStore

__all__ = ["env"]


def _created_elsewhere(env: Env) -> tuple[str, str]:
    """Create both audiences with another state directory (as if by hand); their (commbox, smallest) ids."""
    run = env.cli("apply", "--auto-approve", state="elsewhere")
    assert run.code == 0, run.err
    return env.remote_id("commbox", "VIP customers"), env.remote_id("smallest", "Callers")


def _change(env: Env, key: str) -> dict:
    plan = env.cli("plan", "--format", "json").json()
    return next(c for c in plan["changes"] if c["address"] == key)


def test_commbox_import_records_the_audience_and_next_plan_shows_only_the_member_change(env: Env) -> None:
    vip, _ = _created_elsewhere(env)
    run = env.cli("import", "vip", vip)
    assert run.code == 0, run.err
    assert f"Imported commbox audience {vip} ('VIP customers') as vip" in run.out
    entry = env.state().audiences["vip"]
    assert (entry.provider, entry.provider_id, entry.name, entry.member_count) == (
        "commbox",
        vip,
        "VIP customers",
        3,
    )
    assert entry.extra["imported"] is True and entry.extra["members_known"] is False
    change = _change(env, "vip")
    assert change["action"] == "update" and change["strategy"] == "put_replace"
    assert change["reasons"] == ["members_changed"] and change["members"]["after"] == 3
    assert _change(env, "callers")["action"] == "create"
    assert_no_secrets(env, run.out, run.err)


def test_smallest_import_fingerprints_members_so_the_next_plan_is_the_true_difference(env: Env) -> None:
    _, callers = _created_elsewhere(env)
    run = env.cli("import", "callers", callers)
    assert run.code == 0, run.err
    assert "4 members fingerprinted" in run.out
    assert _change(env, "callers")["action"] == "no-op"
    # the source moves on: one member leaves, one joins -> exactly +1 -1 in place
    (env.project / "data" / "callers.csv").write_text(
        "Mobile,First\n+14155550121,Di\n+14155550122,Ed\n+14155550123,Flo\n+14155550125,Hal\n"
    )
    change = _change(env, "callers")
    assert (change["action"], change["strategy"]) == ("update", "add_remove_members")
    assert (change["members"]["added"], change["members"]["removed"], change["members"]["before"]) == (
        1,
        1,
        4,
    )


def test_name_mismatch_is_refused_unless_allowed_then_plan_renames(env: Env) -> None:
    vip, _ = _created_elsewhere(env)
    env.emu.rename_audience("commbox", vip, "Old VIP list")
    run = env.cli("import", "vip", vip)
    assert run.code == 1
    assert "named 'Old VIP list' but vip" in run.err and "declares 'VIP customers'" in run.err
    assert "audiences.yaml:" in run.err, "the message names the declaration's location"
    assert "--allow-name-mismatch" in run.err and "Traceback" not in run.err
    assert not (env.project / "state" / "state.json").exists()
    run = env.cli("import", "vip", vip, "--allow-name-mismatch")
    assert run.code == 0, run.err
    assert env.state().audiences["vip"].name == "Old VIP list"
    change = _change(env, "vip")
    assert change["action"] == "replace" and "name_changed" in change["reasons"]
    assert change["name"] == {"before": "Old VIP list", "after": "VIP customers"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope", "1"), "nope is not declared in audiences.yaml (declared: callers, vip)"),
        (("vip", "999999"), "commbox: no audience 999999 (the provider declared for vip is commbox)"),
    ],
)
def test_unknown_key_or_id(env: Env, args: tuple[str, str], message: str) -> None:
    run = env.cli("import", *args)
    assert run.code == 1 and message in run.err and "Traceback" not in run.err


def test_id_of_another_provider_is_not_found_at_the_declared_one(env: Env) -> None:
    _, callers = _created_elsewhere(env)
    run = env.cli("import", "vip", callers)
    assert run.code == 1 and f"commbox: no audience {callers}" in run.err


def test_refuses_key_already_in_state_and_id_already_managed(env: Env, tmp_path: Path) -> None:
    vip, _ = _created_elsewhere(env)
    assert env.cli("import", "vip", vip).code == 0
    run = env.cli("import", "vip", vip)
    assert run.code == 1 and f"vip is already in state as commbox audience {vip}" in run.err
    assert "reconciler state rm vip" in run.err
    (env.project / "audiences.yaml").write_text(
        DECLARATION + "  vip2:\n    provider: commbox\n    name: VIP two\n    source: data/vip.csv\n"
        "    columns: {phone: Mobile}\n"
    )
    run = env.cli("import", "vip2", vip)
    assert run.code == 1 and f"commbox audience {vip} is already managed as vip" in run.err
    assert set(env.state().audiences) == {"vip"}


def test_refuses_a_dynamic_audience(env: Env) -> None:
    dynamic = env.emu.add_commbox_dynamic("VIP customers")
    run = env.cli("import", "vip", dynamic)
    assert run.code == 1 and "is Dynamic; only Static audiences can be managed" in run.err


def test_import_takes_the_lock(env: Env) -> None:
    vip, _ = _created_elsewhere(env)
    with StateStore(env.project / "state").lock("apply"):
        run = env.cli("import", "vip", vip)
    assert run.code == 1 and "lock" in run.err.lower() and "Traceback" not in run.err
    assert not (env.project / "state" / "state.json").exists()


def test_missing_token_names_the_variable(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMMBOX_API_TOKEN")
    run = env.cli("import", "vip", "1")
    assert run.code == 1 and "COMMBOX_API_TOKEN" in run.err and run.err.count("\n") == 1


def test_import_keeps_history_and_existing_entries(env: Env) -> None:
    vip, callers = _created_elsewhere(env)
    assert env.cli("import", "vip", vip).code == 0
    first = env.state()
    assert env.cli("import", "callers", callers).code == 0
    second = env.state()
    assert second.lineage == first.lineage and second.serial == first.serial + 1
    assert second.audiences["vip"] == first.audiences["vip"]
    assert any((env.project / "state" / "history").iterdir())


def test_state_conflicts_are_refused_before_any_provider_call(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    vip, _ = _created_elsewhere(env)
    assert env.cli("import", "vip", vip).code == 0
    monkeypatch.delenv("COMMBOX_API_TOKEN")
    env.emu.clear_log()
    run = env.cli("import", "vip", vip)
    assert run.code == 1 and "already in state" in run.err and "COMMBOX_API_TOKEN" not in run.err
    assert env.emu.request_log == []
