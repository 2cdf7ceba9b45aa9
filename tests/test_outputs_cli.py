"""Outputs never overwrite inputs: `plan --out` and `validate --rejects` refuse the declaration, a
source, and anything inside the state directory, however the path is spelled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from apply_support import Project, cli, make_project

from reconciler.state.store import State, StateStore


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("WHOP_ACCOUNT_ID", "biz_test")
    made = make_project(tmp_path / "proj")
    store = StateStore(made.state)
    state = State()
    store.fingerprint_key(state)
    store.save(state)
    return made


def _snapshot(project: Project) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(project.root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "--rejects", "{root}/data/vip.csv"], "would overwrite the source data/vip.csv"),
        (["plan", "--out", "{root}/audiences.yaml"], "would overwrite the declaration"),
        (["plan", "--out", "{root}/state/state.json"], "is inside the state directory"),
        (["plan", "--out", "{root}/state/members/new.json"], "is inside the state directory"),
        (["plan", "--out", "{root}/state/../data/./buyers.csv"], "overwrite the source data/buyers.csv"),
        (["validate", "--rejects", "{root}/state"], "is inside the state directory"),
        (["plan", "--out", "{root}/link-to-config"], "would overwrite the declaration"),
        (["validate", "--rejects", "{root}/hard-link.csv"], "would overwrite the source data/callers.csv"),
    ],
)
def test_outputs_that_are_inputs_are_refused(project: Project, argv: list[str], message: str) -> None:
    (project.root / "link-to-config").symlink_to(project.config)
    os.link(project.root / "data" / "callers.csv", project.root / "hard-link.csv")
    before = _snapshot(project)
    result = cli(*[a.format(root=project.root) for a in argv], *project.args())
    assert result.code == 1, result.out + result.err
    assert message in result.err and "write the output somewhere else" in result.err
    assert "Traceback" not in result.err and "Internal error" not in result.err
    assert _snapshot(project) == before


def test_relative_paths_from_the_project_directory(project: Project) -> None:
    """As a user types them, in a subprocess: `validate --rejects data/vip.csv` and friends."""
    before = _snapshot(project)
    for argv in (["validate", "--rejects", "data/vip.csv"], ["plan", "--out", "audiences.yaml"],
                 ["plan", "--out", "state/state.json"]):
        done = subprocess.run([sys.executable, "-m", "reconciler", *argv], cwd=project.root,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr.count("Error:") == 1 and "somewhere else" in done.stderr
    assert _snapshot(project) == before


def test_outputs_elsewhere_are_written(project: Project, tmp_path: Path) -> None:
    rejects, planfile = tmp_path / "rejects.csv", tmp_path / "plan.json"
    assert cli("validate", "--rejects", str(rejects), *project.args()).code == 0
    assert rejects.read_text(encoding="utf-8").startswith("audience,")
    assert cli("plan", "--out", str(planfile), *project.args()).code == 0
    assert planfile.exists()
