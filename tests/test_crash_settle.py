"""Settling the intents an interrupted run left: adopt what landed, drop what did not, never twice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from apply_support import Project, cli, emulator_env, fast_providers, make_project, mutations, names_at

from reconciler.emulator import Emulator, LoggedRequest
from reconciler.executor import Journal, ProviderPool, settle_pending
from reconciler.executor.journal import IntentSpec
from reconciler.executor.step import create_details
from reconciler.planning.engine import load_project
from reconciler.sources import iter_members, render_upload


@pytest.fixture
def project(tmp_path: Path, state_url: str | None) -> Project:
    return make_project(tmp_path, state_url=state_url)


def _load(project: Project) -> tuple[Journal, ProviderPool, dict]:  # type: ignore[type-arg]
    loaded = load_project(project.config, project.backend())
    return Journal(loaded.store, loaded.state), ProviderPool(loaded.declaration, os.environ), loaded.scans


def _create_at_provider(project: Project, pool: ProviderPool, key: str, tmp_path: Path) -> str:
    """Create the audience `key` at its provider behind the tool's back (as a lost answer would)."""
    loaded = load_project(project.config, project.backend())
    spec = loaded.declaration.audiences[key]
    upload = render_upload(spec, iter_members(spec), tmp_path / f"{key}.csv")
    return pool.get(spec.provider).create(spec, upload, idempotency_key=f"test-{key}").id


def _create_intent(
    journal: Journal, project: Project, key: str, preexisting: list[str] | None = None
) -> None:
    """The create intent the executor writes before POSTing (with the details it records)."""
    loaded = load_project(project.config, project.backend())
    spec = loaded.declaration.audiences[key]
    settings = ProviderPool(loaded.declaration, os.environ).settings(spec.provider)
    details = create_details(
        spec, loaded.scans[key], settings, key=loaded.key, preexisting=preexisting or []
    )
    journal.begin(IntentSpec(key, spec.provider, "create", spec.name, details=details))


@pytest.mark.parametrize("key", ["vip", "buyers", "callers"])
def test_create_that_landed_is_adopted_not_repeated(
    project: Project, emulator: Emulator, tmp_path: Path, key: str
) -> None:
    journal, pool, scans = _load(project)
    _create_intent(journal, project, key)
    landed = _create_at_provider(project, pool, key, tmp_path)
    result = settle_pending(journal, pool, scans)
    assert result.changed_keys == {key} and result.completed == {key}
    assert project.state_doc()["audiences"][key]["provider_id"] == landed
    assert project.state_doc()["intents"] == []
    emulator.clear_log()
    applied = cli("apply", "--auto-approve", *project.args())
    assert applied.code == 0, applied.out + applied.err
    provider = project.audiences[key]["provider"]
    assert names_at(emulator, provider) == [project.audiences[key]["name"]]  # exactly once
    assert all(m[0] != provider for m in mutations(emulator.request_log))  # nothing more to do there


def test_create_that_did_not_land_is_dropped_then_created_once(project: Project, emulator: Emulator) -> None:
    journal, pool, scans = _load(project)
    _create_intent(journal, project, "callers")
    result = settle_pending(journal, pool, scans)
    assert result.changed_keys == set() and "did not land" in result.lines[0]
    assert project.state_doc()["intents"] == []
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    assert names_at(emulator, "smallest") == ["Callers"]


def test_same_named_audience_that_existed_before_is_not_adopted(
    project: Project, emulator: Emulator, tmp_path: Path
) -> None:
    journal, pool, scans = _load(project)
    before = _create_at_provider(project, pool, "callers", tmp_path)  # someone else's, same name
    _create_intent(journal, project, "callers", preexisting=[before])
    result = settle_pending(journal, pool, scans)
    assert "callers" not in project.state_doc()["audiences"]
    assert result.completed == set()


def test_settle_is_refused_per_key_when_the_provider_cannot_be_reached(
    project: Project, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal, _, _ = _load(project)
    _create_intent(journal, project, "callers")
    monkeypatch.delenv("SMALLEST_API_KEY")
    journal2, pool2, scans2 = _load(project)
    result = settle_pending(journal2, pool2, scans2)
    assert "SMALLEST_API_KEY" in result.failed["callers"]
    assert len(project.state_doc()["intents"]) == 1  # kept for the next run
    applied = cli("apply", "--auto-approve", *project.args())
    assert applied.code == 1
    assert "callers" in applied.out and "not attempted" in applied.out
    assert emulator.audiences("smallest") == []  # never created while its intent is unsettled


def test_delete_and_member_intents(project: Project, emulator: Emulator) -> None:
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    doc = project.state_doc()["audiences"]
    journal, pool, scans = _load(project)
    # A delete that landed: the audience is gone at the provider; state still points at it.
    journal.begin(
        IntentSpec("buyers", "whop", "delete", "Whop buyers", provider_id=doc["buyers"]["provider_id"])
    )
    emulator.delete_audience("whop", doc["buyers"]["provider_id"])
    # A member sync that may or may not have landed: redone by the next plan (idempotent).
    journal.begin(
        IntentSpec("callers", "smallest", "add_members", "Callers", provider_id=doc["callers"]["provider_id"])
    )
    result = settle_pending(journal, pool, scans)
    state = project.state_doc()
    assert "buyers" not in state["audiences"] and state["intents"] == []
    assert state["audiences"]["callers"] == doc["callers"]
    assert result.completed == {"buyers"}


def test_old_half_of_a_replacement_is_deleted(project: Project, emulator: Emulator, tmp_path: Path) -> None:
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    old = project.state_doc()["audiences"]["callers"]["provider_id"]
    journal, pool, scans = _load(project)
    journal.begin(
        IntentSpec(
            "callers", "smallest", "delete", "Callers", provider_id=old, details={"replaced_by": "someone"}
        )
    )
    result = settle_pending(journal, pool, scans)
    assert emulator.audiences("smallest") == []
    assert "callers" in result.completed


def test_lost_answer_to_a_create_is_settled_in_the_same_run(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The POST is carried out, then the connection closes unanswered, and the client's own
    # read-back fails too (6 server errors): the executor settles by reading the provider again
    # and adopts what landed, instead of creating it a second time on the next run.
    fast_providers(monkeypatch)

    def after(request: LoggedRequest) -> None:
        if request.fault == "drop_after":
            em.script_fault("500", provider="commbox", method="GET", times=6)

    with Emulator(port=0, on_request=after) as em, emulator_env(em):
        em.script_fault("drop_after", provider="commbox", method="POST", path_contains="/audiences")
        result = cli("apply", "--auto-approve", *project.args())
        assert result.code == 0, result.out + result.err
        assert "answer was lost" in result.out
        assert [r.status for r in em.request_log if r.provider == "commbox"].count(500) == 6
        assert names_at(em, "commbox") == ["VIP customers"]
        assert project.state_doc()["audiences"]["vip"]["provider_id"] == em.audiences("commbox")[0]["id"]
        assert cli("plan", "--detailed-exitcode", *project.args()).code == 0
