"""gitcheck.tracked_sources: which source files git tracks (committed or staged)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.sources.gitcheck import repo_root, tracked_sources


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    _git(root, "init", "-q")
    return root


def test_outside_git_returns_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("phone\n")
    assert repo_root(tmp_path) is None
    assert tracked_sources([Path("a.csv")], tmp_path) == []


def test_committed_and_staged_are_tracked_untracked_and_ignored_are_not(repo: Path) -> None:
    for name in ("committed.csv", "staged.csv", "untracked.csv", "ignored.csv"):
        (repo / "data" / name).write_text("phone\n+14155550123\n")
    (repo / ".gitignore").write_text("data/ignored.csv\n")
    _git(repo, "add", "data/committed.csv", ".gitignore")
    _git(repo, "commit", "-q", "-m", "x")
    _git(repo, "add", "data/staged.csv")
    asked = [Path("data") / n for n in ("committed.csv", "staged.csv", "untracked.csv", "ignored.csv")]
    assert tracked_sources(asked, repo) == [Path("data/committed.csv"), Path("data/staged.csv")]


def test_absolute_paths_and_subdirectory_repo_dir(repo: Path) -> None:
    (repo / "data" / "vip.csv").write_text("phone\n")
    _git(repo, "add", "data/vip.csv")
    absolute = (repo / "data" / "vip.csv").resolve()
    assert tracked_sources([absolute], repo / "data") == [absolute]
    assert tracked_sources([Path("vip.csv")], repo / "data") == [Path("vip.csv")]


def test_directory_lists_tracked_files_under_it(repo: Path) -> None:
    (repo / "data" / "sub").mkdir()
    (repo / "data" / "sub" / "x.csv").write_text("phone\n")
    (repo / "data" / "y.csv").write_text("phone\n")
    (repo / "other.csv").write_text("phone\n")
    _git(repo, "add", "data/sub/x.csv", "other.csv")
    assert tracked_sources([Path("data")], repo) == [Path("data/sub/x.csv")]


def test_glob_characters_are_literal_and_outside_paths_ignored(repo: Path, tmp_path: Path) -> None:
    (repo / "data" / "a*.csv").write_text("phone\n")
    (repo / "data" / "ab.csv").write_text("phone\n")
    _git(repo, "add", "data/ab.csv")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("phone\n")
    assert tracked_sources([Path("data/a*.csv"), outside], repo) == []
    assert tracked_sources([Path("data/ab.csv"), outside], repo) == [Path("data/ab.csv")]


def test_unicode_and_space_names(repo: Path) -> None:
    name = "données clients.csv"
    (repo / "data" / name).write_text("phone\n")
    _git(repo, "add", f"data/{name}")
    assert tracked_sources([Path("data") / name], repo) == [Path("data") / name]
