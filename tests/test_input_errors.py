"""Every input class gets one clear error: base URLs, tokens, state filesystem errors, display
names, control characters in user data, and concurrent sandboxes. Tried from the command line."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest
from apply_support import Project, Result, cli, make_project

from reconciler.emulator import Emulator
from reconciler.state.store import AudienceState, State, StateStore


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("WHOP_ACCOUNT_ID", "biz_test")
    return make_project(tmp_path / "proj")


def _clean_error(result: Result) -> None:
    assert result.code == 1, result.out + result.err
    text = result.out + result.err
    assert "Traceback" not in text and "Internal error" not in text


# -- base URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://[::1", "http://localhost:abc/x", "ftp://example.com", "http://",
                                 "http://exa mple.com", "http://localhost:99999"])
def test_a_malformed_base_url_variable_is_a_validation_error(
    project: Project, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SMALLEST_BASE_URL", url)
    result = cli("validate", *project.args())
    _clean_error(result)
    assert "environment: SMALLEST_BASE_URL " in result.err


def test_a_malformed_base_url_in_the_declaration_names_file_and_line(project: Project) -> None:
    text = project.config.read_text(encoding="utf-8")
    added = 'providers:\n  commbox:\n    base_url: "http://[::1"\n'
    project.config.write_text(text + added, encoding="utf-8")
    result = cli("validate", *project.args())
    _clean_error(result)
    line = len(text.splitlines()) + 3
    assert f"audiences.yaml:{line}:15: base_url is not a valid URL" in result.err


def test_a_malformed_base_url_stops_apply_cleanly(project: Project, emulator: Emulator,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMBOX_BASE_URL", "http://localhost:abc")
    result = cli("apply", "--auto-approve", *project.args())
    _clean_error(result)
    assert "COMMBOX_BASE_URL" in result.err
    assert emulator.request_log == []


# -- tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["emulator-\ncommbox-token", "emulator-commbox-tökén", "tok\x1ben", "secret-token-part\rb"]
)
def test_a_token_illegal_in_a_header_is_refused_at_once(
    project: Project, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("COMMBOX_API_TOKEN", token)
    started = time.monotonic()
    result = cli("apply", "--auto-approve", "--target", "vip", *project.args())
    assert time.monotonic() - started < 20  # no retrying as a "network error"
    _clean_error(result)
    assert "COMMBOX_API_TOKEN holds a character that cannot be sent in an HTTP header" in result.out
    for part in (p for p in token.split() if len(p) > 3):
        assert part not in result.out + result.err
    assert "tökén" not in result.out + result.err
    assert [r for r in emulator.request_log if r.provider == "commbox"] == []
    state = project.state_doc() if (project.state / "state.json").exists() else {"intents": []}
    assert state["intents"] == []


# -- the state lock and the state's filesystem --------------------------------------------------


def test_a_directory_where_the_lock_goes_is_named(project: Project, emulator: Emulator) -> None:
    (project.state / ".lock").mkdir(parents=True)
    result = cli("apply", "--auto-approve", *project.args())
    _clean_error(result)
    assert f"{project.state / '.lock'} is not a lock file" in result.err
    assert emulator.request_log == []
    assert [p.name for p in project.state.iterdir()] == [".lock"]  # no private lock file left behind


def test_a_full_disk_when_taking_the_lock_is_named(
    project: Project, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    result = cli("apply", "--auto-approve", *project.args())
    monkeypatch.undo()
    _clean_error(result)
    assert f"cannot take the state lock {project.state / '.lock'}: No space left on device" in result.err
    assert emulator.request_log == []
    assert list(project.state.iterdir()) == []


def test_a_state_directory_that_is_a_file_is_named(project: Project, emulator: Emulator) -> None:
    project.state.write_text("not a directory\n", encoding="utf-8")
    result = cli("apply", "--auto-approve", *project.args())
    _clean_error(result)
    assert f"the state directory {project.state} is not a directory" in result.err
    assert emulator.request_log == []


# -- sandboxes ----------------------------------------------------------------------------------


def test_a_second_sandbox_run_does_not_wipe_the_first(project: Project) -> None:
    """The sandbox takes its state lock before wiping: a run already there keeps its state."""
    sandbox_dir = project.state / ".sandbox"
    store = StateStore(sandbox_dir)
    with store.lock("apply"):  # a first sandbox run, mid-apply
        (sandbox_dir / "state.json").write_text("{}\n", encoding="utf-8")
        result = cli("apply", "--sandbox", "--auto-approve", *project.args())
        _clean_error(result)
        assert "is locked by" in result.err
        assert (sandbox_dir / "state.json").read_text(encoding="utf-8") == "{}\n"
        assert store.lock_status() is not None
    done = cli("apply", "--sandbox", "--auto-approve", *project.args())
    assert done.code == 0, done.out + done.err
    audiences = json.loads((sandbox_dir / "state.json").read_text(encoding="utf-8"))["audiences"]
    assert sorted(audiences) == ["buyers", "callers", "vip"]


# -- display names and control characters -------------------------------------------------------


@pytest.mark.parametrize("name", ["   ", "", "VIP\x1b[31m", "VIP\n", "tab\there", "VIP\u202eevil", "a\x85b"])
def test_blank_names_and_control_characters_are_refused(project: Project, name: str) -> None:
    project.audiences["vip"]["name"] = name
    project.write()
    result = cli("validate", *project.args())
    _clean_error(result)
    assert "name" in result.err
    assert "\x1b" not in result.err and "\u202e" not in result.err


ESC = "\x1b]0;pwned\x07\x1b[2J"  # retitle the terminal, clear the screen


def test_control_characters_in_user_data_are_escaped_in_every_output(project: Project) -> None:
    """A source path (its file name) and a name kept in a hand-edited state reach the terminal and
    the markdown comment only escaped."""
    odd = project.root / "data" / f"odd{ESC}.csv"
    odd.write_bytes((project.root / "data" / "vip.csv").read_bytes())
    project.audiences["vip"]["source"] = f"data/odd{ESC}.csv"
    project.write()
    store = StateStore(project.state)
    state = State()
    store.fingerprint_key(state)
    state.audiences["gone"] = AudienceState(key="gone", provider="whop", provider_id="x1", name=f"Gone{ESC}")
    store.save(state)
    outputs = [cli("plan", *project.args()), cli("plan", "--format", "markdown", *project.args()),
               cli("validate", *project.args()), cli("state", "list", *project.args()),
               cli("state", "show", "gone", *project.args())]
    project.audiences["vip"]["source"] = f"data/missing{ESC}.csv"
    project.write()
    outputs.append(cli("plan", *project.args()))
    for result in outputs:
        text = result.out + result.err
        assert "\x1b" not in text and "\x07" not in text, text
        assert "Traceback" not in text
    assert "odd\\x1b]0;pwned\\x07" in outputs[0].out and "odd\\x1b" in outputs[1].out
    assert "Gone\\x1b" in outputs[3].out
    assert outputs[-1].code == 1 and "missing\\x1b" in outputs[-1].err
