"""`apply --sandbox`: a fresh emulator, its own throw-away state, no credentials, nothing real."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from apply_support import Project, cli, fast_providers, make_project

from reconciler.emulator.sandbox import PROVIDER_ENV, sandbox_state_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PROVIDER_ENV, "WHOP_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    fast_providers(monkeypatch)


def _sandbox_state(project: Project) -> dict:  # type: ignore[type-arg]
    return dict(json.loads((sandbox_state_dir(project.state) / "state.json").read_text(encoding="utf-8")))


def test_sandbox_applies_without_credentials_and_keeps_real_state_apart(
    tmp_path: Path, no_provider_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path)
    result = cli("apply", "--sandbox", "--auto-approve", *project.args())
    assert result.code == 0, result.out + result.err
    assert "Sandbox: provider emulator on http://127.0.0.1:" in result.err
    assert "wiped at the start of every sandbox run" in result.err
    assert sorted(_sandbox_state(project)["audiences"]) == ["buyers", "callers", "vip"]
    assert not (project.state / "state.json").exists()  # the real state is untouched
    assert all(name not in os.environ for name in PROVIDER_ENV)  # environment restored
    monkeypatch.setenv("WHOP_ACCOUNT_ID", "biz_real")
    real_plan = cli("plan", "--detailed-exitcode", *project.args())
    assert real_plan.code == 2  # for the real providers, everything is still to create


def test_every_sandbox_run_starts_fresh(tmp_path: Path, no_provider_env: None) -> None:
    project = make_project(tmp_path)
    assert cli("apply", "--sandbox", "--auto-approve", *project.args()).code == 0
    first = _sandbox_state(project)["lineage"]
    (sandbox_state_dir(project.state) / "leftover.txt").write_text("x", encoding="utf-8")
    again = cli("apply", "--sandbox", "--auto-approve", *project.args())
    assert again.code == 0, again.out + again.err
    assert "3 succeeded" in again.out  # created again in the new, empty emulator
    assert _sandbox_state(project)["lineage"] != first
    assert not (sandbox_state_dir(project.state) / "leftover.txt").exists()


def test_real_credentials_are_hidden_and_restored(
    tmp_path: Path, no_provider_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "real-commbox-token-must-not-leak-7f3a"
    monkeypatch.setenv("COMMBOX_API_TOKEN", secret)
    monkeypatch.setenv("COMMBOX_BASE_URL", "http://192.0.2.1:9")  # TEST-NET: never reachable
    project = make_project(tmp_path)
    result = cli("apply", "--sandbox", "--auto-approve", *project.args())
    assert result.code == 0, result.out + result.err
    assert secret not in result.out + result.err
    assert "192.0.2.1" not in result.out + result.err
    assert os.environ["COMMBOX_API_TOKEN"] == secret and os.environ["COMMBOX_BASE_URL"].endswith(":9")
    for path in sandbox_state_dir(project.state).rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()


def test_sandbox_refuses_a_state_path_that_is_a_file(tmp_path: Path, no_provider_env: None) -> None:
    project = make_project(tmp_path)
    project.state.mkdir()
    sandbox_state_dir(project.state).write_text("not a directory", encoding="utf-8")
    result = cli("apply", "--sandbox", "--auto-approve", *project.args())
    assert result.code == 1 and "sandbox" in result.err and "Traceback" not in result.err


@pytest.mark.slow
def test_readme_first_command_on_the_bundled_example(tmp_path: Path) -> None:
    """`reconciler plan && reconciler apply --sandbox --auto-approve` in a copy of the repository
    root (its audiences.yaml and data/), as a new user runs it: no credentials at all."""
    if not (REPO / "audiences.yaml").is_file():
        pytest.skip("the bundled example is not in this checkout")
    shutil.copy(REPO / "audiences.yaml", tmp_path / "audiences.yaml")
    shutil.copytree(REPO / "data", tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if k not in (*PROVIDER_ENV, "WHOP_ACCOUNT_ID")}
    env["PYTHONPATH"] = str(REPO)
    run = [sys.executable, "-m", "reconciler"]
    plan = subprocess.run([*run, "plan"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    applied = subprocess.run(
        [*run, "apply", "--sandbox", "--auto-approve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "0 failed, 0 not attempted" in applied.stdout
    assert (tmp_path / "state" / ".sandbox" / "state.json").is_file()
    assert not (tmp_path / "state" / "state.json").exists()


class Listener:
    """A listening loopback socket that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def test_the_sandbox_never_sends_to_a_declared_base_url_or_environment(
    tmp_path: Path, no_provider_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A declared `base_url` (and a *_BASE_URL variable) pointing at a live loopback socket: the
    sandbox run sends every provider to the emulator, and the socket is never even connected to."""
    declared, from_env = Listener(), Listener()
    try:
        project = make_project(tmp_path)
        doc = yaml.safe_load(project.config.read_text(encoding="utf-8"))
        doc["providers"] = {
            name: {"base_url": f"{declared.url}/real-{name}"} for name in ("commbox", "whop", "smallest")
        }
        doc["providers"]["whop"]["account_id"] = "biz_real"
        project.config.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        for name in PROVIDER_ENV:
            value = f"{from_env.url}/env" if name.endswith("_BASE_URL") else "real-secret-token"
            monkeypatch.setenv(name, value)
        result = cli("apply", "--sandbox", "--auto-approve", *project.args())
        assert result.code == 0, result.out + result.err
        assert "3 succeeded" in result.out
        assert "real-secret-token" not in result.out + result.err
    finally:
        declared.close()
        from_env.close()
    assert (declared.connections, from_env.connections) == (0, 0)
