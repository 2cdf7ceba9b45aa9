"""Shared set-up for the refresh/import tests: a small project, the emulator, CLI runs."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli import main
from reconciler.emulator import Emulator
from reconciler.state.store import State, StateStore

DECLARATION = """\
version: 1
defaults:
  phone_region: US
audiences:
  vip:
    provider: commbox
    name: VIP customers
    source: data/vip.csv
    columns: {phone: Mobile, first_name: First}
  callers:
    provider: smallest
    name: Callers
    source: data/callers.csv
    columns: {phone: Mobile, first_name: First}
"""
VIP = "Mobile,First\n+14155550101,Ann\n+14155550102,Bob\n(415) 555-0103,Cy\n"
CALLERS = "Mobile,First\n+14155550121,Di\n+14155550122,Ed\n+14155550123,Flo\n4155550124,Gus\n"
PHONES = ("4155550101", "4155550102", "4155550103", "4155550121", "4155550122", "4155550123", "4155550124")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Env:
    project: Path
    emu: Emulator
    capsys: pytest.CaptureFixture[str]

    def cli(self, *args: str, state: str | None = None) -> Run:
        """Run the CLI in the project directory, capturing its output."""
        self.capsys.readouterr()
        argv = list(args) + (["--state", state] if state else [])
        code = main(argv)
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def state(self, directory: str = "state") -> State:
        return StateStore(self.project / directory).load()

    def remote_id(self, provider: str, name: str) -> str:
        ids = [a.get("id") or a.get("_id") for a in self.emu.audiences(provider) if a["name"] == name]
        assert len(ids) == 1, ids
        return str(ids[0])

    def http(self, provider: str) -> httpx.Client:
        """A raw client for changing things at the provider behind the tool's back."""
        return httpx.Client(
            base_url=self.emu.base_urls[provider],
            headers={"Authorization": f"Bearer {self.emu.tokens[provider]}"},
            timeout=10,
        )


@pytest.fixture()
def env(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "audiences.yaml").write_text(DECLARATION)
    (project / "data" / "vip.csv").write_text(VIP)
    (project / "data" / "callers.csv").write_text(CALLERS)
    monkeypatch.chdir(project)
    for name in [n for n in os.environ if n.endswith(("_API_TOKEN", "_API_KEY", "_BASE_URL"))]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("RECONCILER_FINGERPRINT_KEY", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    emu = Emulator(port=0).start()
    try:
        for name, value in emu.env().items():
            monkeypatch.setenv(name, value)
        yield Env(project, emu, capsys)
    finally:  # the server's shutdown waits out its 0.5 s poll: let it finish in the background
        threading.Thread(target=emu.stop, daemon=True).start()


def assert_no_secrets(env: Env, *texts: str) -> None:
    """No token and no member phone number (in any common spelling) in `texts`."""
    blob = "\n".join(texts)
    for token in env.emu.tokens.values():
        assert token not in blob
    for digits in PHONES:
        assert digits not in blob.replace("-", "").replace(" ", "")
