"""`reconciler --version [--json]`, and the phone fast path's fallback seen from the command line."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import phonenumbers
import pytest

from reconciler import __version__
from reconciler.cli import main
from reconciler.planning.plan import FORMAT_VERSION
from reconciler.state.data import STATE_FORMAT_VERSION

REPO = Path(__file__).resolve().parents[1]
# Runs the CLI after removing one private helper from phonenumbers as reconciler sees it (a
# release that renamed it), then re-running the import-time check.
WITHOUT_HELPER = """
import sys, types
from phonenumbers import phonenumberutil
from reconciler import phones
stripped = types.ModuleType(phonenumberutil.__name__)
stripped.__dict__.update({k: v for k, v in vars(phonenumberutil).items() if k != "_extract_country_code"})
phones.phonenumberutil = stripped
phones.check_fast_path()
from reconciler.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def test_version_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"reconciler {__version__}"
    assert f"Python {platform.python_version()}, phonenumbers {phonenumbers.__version__}" in lines[1]
    assert lines[-1] == "phone fast path: on"


def test_version_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info == {
        "reconciler": __version__,
        "python": platform.python_version(),
        "phonenumbers": phonenumbers.__version__,
        "phonenumbers_metadata": phonenumbers.__version__,
        "plan_format_version": FORMAT_VERSION,
        "state_format_version": STATE_FORMAT_VERSION,
        "phone_fast_path": True,
        "phone_fast_path_problem": None,
    }


def test_version_rejects_other_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version", "--yaml"]) == 1
    assert "--version takes only --json" in capsys.readouterr().err


def test_version_matches_the_package_metadata() -> None:
    """One place: pyproject.toml reads the version from reconciler/__init__.py."""
    text = (REPO / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'version = {attr = "reconciler.__version__"}' in text
    assert importlib.metadata.version("reconciler") == __version__
    assert f"## {__version__} " in (REPO / "CHANGELOG.md").read_text()


def _cli(*args: str, cwd: Path, fallback: bool) -> subprocess.CompletedProcess[str]:
    start = ["-c", WITHOUT_HELPER] if fallback else ["-m", "reconciler"]
    env = {"NO_COLOR": "1", "PATH": ""}
    argv = [sys.executable, *start, *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_without_a_private_helper_the_cli_says_so_and_validates_the_same(tmp_path: Path) -> None:
    shutil.copy(REPO / "audiences.yaml", tmp_path)
    shutil.copytree(REPO / "data", tmp_path / "data")
    version = _cli("--version", "--json", cwd=tmp_path, fallback=True)
    assert version.returncode == 0, version.stderr
    info = json.loads(version.stdout)
    assert info["phone_fast_path"] is False and "_extract_country_code" in info["phone_fast_path_problem"]
    text = _cli("--version", cwd=tmp_path, fallback=True).stdout
    assert "phone fast path: off" in text and "public API (slower, same results)" in text
    fast = _cli("validate", "--format", "json", cwd=tmp_path, fallback=False)
    slow = _cli("validate", "--format", "json", cwd=tmp_path, fallback=True)
    assert fast.returncode == slow.returncode == 0, slow.stderr
    assert json.loads(slow.stdout) == json.loads(fast.stdout)
    assert json.loads(fast.stdout)["audiences"], "the example has audiences to compare"


def test_version_into_a_closed_pipe_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """`reconciler --version | head -1` once head has gone: no traceback, no error at exit."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone: every write raises BrokenPipeError
    with open(write_end, "w") as broken:
        monkeypatch.setattr(sys, "stdout", broken)
        assert main(["--version"]) == 0
        broken.write("later output goes nowhere\n")
        broken.flush()  # would raise BrokenPipeError (an error at exit) without the fix
