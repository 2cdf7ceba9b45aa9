"""Read-only commands never change the state: not a byte, not a file added or removed."""

from __future__ import annotations

from pathlib import Path

from apply_support import cli, make_project

from reconciler.emulator import Emulator


def snapshot(directory: Path) -> dict[str, bytes]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): p.read_bytes() for p in files}


def test_read_only_commands_leave_the_state_as_it_was(tmp_path: Path, emulator: Emulator) -> None:
    project = make_project(tmp_path)
    assert cli("apply", "--auto-approve", *project.args()).code == 0
    (project.root / "data" / "vip.csv").write_text("Mobile,Email,First\n(415) 555-0199,z@example.com,Zed\n",
                                                  encoding="utf-8")  # a pending change to plan
    before = snapshot(project.state)
    plan_file = tmp_path / "plan.json"
    runs = [
        ("validate", "-c", str(project.config)),
        ("plan", *project.args()),
        ("plan", "--refresh", "--out", str(plan_file), *project.args()),
        ("show", str(plan_file)),
        ("refresh", *project.args()),
        ("state", "list", *project.args()),
        ("state", "show", "vip", *project.args()),
        ("providers",),
        ("schema",),
    ]
    for argv in runs:
        result = cli(*argv)
        assert result.code in (0, 2), (argv, result.err)
        assert snapshot(project.state) == before, f"{argv[0]} changed the state"
