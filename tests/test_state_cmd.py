"""`reconciler state list|show|rm|mv` and `reconciler force-unlock`, run as users do (via cli.main)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main
from reconciler.sources.members import MemberSet
from reconciler.state.store import FINGERPRINT_KEY_ENV, AudienceState, State, StateStore

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with a broken audiences.yaml and a state of two audiences."""
    monkeypatch.delenv(FINGERPRINT_KEY_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "audiences.yaml").write_text("version: [this is not valid\n")
    store = StateStore(tmp_path / "state")
    state = State(
        audiences={
            "vip": AudienceState(
                "vip",
                "commbox",
                "312345",
                "VIP customers",
                applied_at="2026-11-23T10:00:00Z",
                extra={"kind": "static"},
            ),
            "buyers": AudienceState("buyers", "whop", "aud_1", "Buyers"),
        }
    )
    state.add_intent("vip", "commbox", "replace_members", "VIP customers", provider_id="312345")
    store.save(state, {"vip": MemberSet(range(1, 1235), range(1234))})
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def stored_key(project: Path) -> str:
    key: str = json.loads((project / "state" / "state.json").read_text())["fingerprint_key"]
    assert len(key) == 64
    return key


def test_list_table(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "state", "list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["KEY", "PROVIDER", "PROVIDER", "ID", "NAME", "MEMBERS", "APPLIED", "AT"]
    assert lines[1].split() == ["buyers", "whop", "aud_1", "Buyers", "0", "-"]
    assert lines[2].split() == [
        "vip",
        "commbox",
        "312345",
        "VIP",
        "customers",
        "1,234",
        "2026-11-23T10:00:00Z",
    ]
    assert "2 audiences" in out and "interrupted run" in out


def test_list_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "state", "list", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["serial"] == 1 and doc["pending_intents"] == 1
    assert [a["key"] for a in doc["audiences"]] == ["buyers", "vip"]
    assert doc["audiences"][1] == {
        "key": "vip", "provider": "commbox", "provider_id": "312345", "name": "VIP customers",
        "members": 1234, "applied_at": "2026-11-23T10:00:00Z",
    }  # fmt: skip


def test_list_of_empty_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "state", "list", "--state", str(tmp_path / "none"))
    assert code == 0 and "No audiences in state" in out
    assert not (tmp_path / "none").exists()


def test_show_text_and_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "state", "show", "vip")
    assert code == 0
    assert "provider id      312345" in out and "members          1,234" in out
    assert 'extra.kind       "static"' in out and "pending: replace_members" in out
    code, out, _ = run(capsys, "state", "show", "vip", "--json")
    doc = json.loads(out)
    assert doc["key"] == "vip" and doc["members"] == 1234 and doc["extra"] == {"kind": "static"}
    assert doc["pending_intents"][0]["operation"] == "replace_members"


def test_unknown_key_exits_1_with_a_clear_message(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (("show", "nope"), ("rm", "nope"), ("mv", "nope", "other")):
        code, out, err = run(capsys, "state", *argv)
        assert code == 1 and out == ""
        assert "no audience 'nope' in state (known: buyers, vip)" in err and "Traceback" not in err


def test_rm_forgets_in_state_only_and_says_so(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "state", "rm", "buyers")
    assert code == 0, err
    assert "Nothing was changed at whop" in out and "reconciler import buyers aud_1" in out
    state = StateStore(project / "state").load()
    assert set(state.audiences) == {"vip"} and state.serial == 2
    assert len(list((project / "state" / "history").iterdir())) == 1
    assert not (project / "state" / ".lock").exists()


def test_rm_json(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "state", "rm", "vip", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["removed"]["provider_id"] == "312345" and doc["serial"] == 2


def test_mv_renames_the_key(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "state", "mv", "vip", "vip-2026")
    assert code == 0 and "Rename the key in the declaration" in out
    state = StateStore(project / "state").load()
    assert set(state.audiences) == {"buyers", "vip-2026"}
    assert state.audiences["vip-2026"].provider_id == "312345"
    assert state.pending_intents[0].key == "vip-2026"
    assert len(StateStore(project / "state").members(state.audiences["vip-2026"])) == 1234


def test_mv_refuses_existing_or_invalid_target(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (project / "state" / "state.json").read_bytes()
    code, _, err = run(capsys, "state", "mv", "vip", "buyers")
    assert code == 1 and "already exists" in err
    code, _, err = run(capsys, "state", "mv", "vip", "bad key")
    assert code == 1 and "not a valid audience key" in err
    assert (project / "state" / "state.json").read_bytes() == before


def test_rm_on_missing_state_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "state", "rm", "vip", "--state", str(tmp_path / "none"))
    assert code == 1 and "no state in" in err


def test_state_flag_and_config_flag_locate_the_state(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    _, out, _ = run(capsys, "state", "list", "-c", str(project / "audiences.yaml"), "--json")
    assert len(json.loads(out)["audiences"]) == 2
    _, out, _ = run(capsys, "state", "list", "--state", str(project / "state"), "--json")
    assert len(json.loads(out)["audiences"]) == 2


def test_corrupt_state_is_reported_without_traceback(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "state" / "state.json").write_text('{"format_version": 1,\n "serial": }')
    for argv in (("list",), ("rm", "vip")):
        code, out, err = run(capsys, "state", *argv)
        assert code == 1 and out == ""
        assert "state.json:2:12: invalid JSON" in err and "Traceback" not in err
    assert (project / "state" / "state.json").read_text() == '{"format_version": 1,\n "serial": }'


def test_fingerprint_key_never_printed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = stored_key(project)
    outputs = []
    for argv in (("list",), ("list", "--json"), ("show", "vip"), ("show", "vip", "--json"),
                 ("mv", "vip", "v2", "--json"), ("rm", "v2")):  # fmt: skip
        code, out, err = run(capsys, "state", *argv)
        assert code == 0
        outputs.append(out + err)
    assert all(key not in text for text in outputs)
    assert stored_key(project) == key  # edits keep the key


def test_rm_while_locked_names_the_holder(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = StateStore(project / "state")
    with store.lock("apply") as info:
        code, _, err = run(capsys, "state", "rm", "vip")
    assert code == 1 and info.id in err and f"reconciler force-unlock {info.id}" in err
    assert "vip" in store.load().audiences


def test_force_unlock_command(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from reconciler.state.store import StateStore\n"
         "with StateStore(Path('state')).lock('apply') as i:\n print(i.id, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=project,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        lock_id = holder.stdout.readline().strip()
        code, _, err = run(capsys, "force-unlock", "wrong-id")
        assert code == 1 and "does not match" in err and (project / "state" / ".lock").exists()
        code, out, err = run(capsys, "force-unlock", lock_id)
        assert code == 0 and "Released the state lock" in out and "'apply'" in out
        assert "still running" in err
        assert not (project / "state" / ".lock").exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    code, _, err = run(capsys, "force-unlock", lock_id)
    assert code == 1 and "not locked" in err


def test_takeover_of_abandoned_lock_is_a_warning(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead = {"id": "dead-1", "who": "ci@runner pid 7", "when": "2026-01-01T00:00:00Z", "operation": "apply"}
    (project / "state" / ".lock").write_text(json.dumps(dead))
    code, _, err = run(capsys, "state", "rm", "buyers")
    assert code == 0 and "took over an abandoned state lock held by ci@runner pid 7" in err


def test_state_without_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["state"])
    assert info.value.code == 1


def test_list_shows_the_lock(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = StateStore(project / "state")
    with store.lock("apply") as info:
        _, out, _ = run(capsys, "state", "list")
        assert f"Locked by {info.who}" in out and info.id in out
        _, out, _ = run(capsys, "state", "list", "--json")
        assert json.loads(out)["lock"] == {
            "id": info.id, "who": info.who, "when": info.when, "operation": "apply", "live": True,
        }  # fmt: skip
    _, out, _ = run(capsys, "state", "list", "--json")
    assert json.loads(out)["lock"] is None
