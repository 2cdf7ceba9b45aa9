"""The CLI entry point: lazy command loading, usage errors, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import COMMANDS, main


def _modules_loaded_by(argv: list[str]) -> set[str]:
    code = (
        "import sys\nfrom reconciler.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.strip().splitlines()[-1].split())


def test_version_loads_no_command_module() -> None:
    loaded = _modules_loaded_by(["--version"])
    assert not {m for m in loaded if m.startswith("reconciler.commands.")} - {"reconciler.commands"}
    assert "numpy" not in loaded and "httpx" not in loaded


def test_a_command_loads_only_its_own_module() -> None:
    loaded = _modules_loaded_by(["schema"])
    commands = {m for m in loaded if m.startswith("reconciler.commands.")}
    assert commands == {"reconciler.commands.schema"}
    # the schema is composed from every provider class, whose modules need no HTTP client to load
    assert "reconciler.providers.registry" in loaded and "httpx" not in loaded


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    listing = capsys.readouterr().out
    for name in COMMANDS:
        assert name in listing


@pytest.mark.parametrize("argv", [["bogus"], [], ["plan", "--no-such-flag"], ["state", "show"]])
def test_usage_errors_exit_1_without_traceback(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 1
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["apply", "--auto-approve"], ["refresh", "--write"]])
def test_writing_commands_warn_when_they_take_over_an_abandoned_lock(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "audiences.yaml"
    config.write_text("version: 1\naudiences: {}\n", encoding="utf-8")
    (tmp_path / "state").mkdir()
    dead = {"id": "dead-1", "who": "ci@runner pid 7", "when": "2026-01-01T00:00:00Z", "operation": "apply"}
    (tmp_path / "state" / ".lock").write_text(json.dumps(dead), encoding="utf-8")
    code = main([*argv, "-c", str(config)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "took over an abandoned state lock held by ci@runner pid 7" in err
    assert not (tmp_path / "state" / ".lock").exists()


@pytest.mark.parametrize(("command", "collecting"), [("schema", False), ("emulate", True)])
def test_bounded_commands_run_without_the_cycle_collector_and_restore_it(
    command: str, collecting: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Short commands skip the cyclic GC (it costs 10-20% of a plan); long-running ones keep it;
    either way main() leaves it as it found it (tests call main in-process)."""
    import gc
    import importlib

    from reconciler import cli

    module = importlib.import_module(f"reconciler.commands.{cli.COMMANDS[command]}")
    seen: list[bool] = []
    monkeypatch.setattr(module, "run", lambda args: seen.append(gc.isenabled()) or 0)
    assert gc.isenabled()
    assert main([command]) == 0
    assert seen == [collecting] and gc.isenabled()
    gc.disable()
    try:
        assert main([command]) == 0 and not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
