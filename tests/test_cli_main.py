"""The CLI entry point: lazy command loading, usage errors, exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

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
    commands = {m for m in loaded if m.startswith("reconciler.commands.")} - {"reconciler.commands.common"}
    assert commands == {"reconciler.commands.schema"}


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
