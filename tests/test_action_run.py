"""The action's run step (`python -m reconciler.ci`) on the bundled example project, with a fake
GITHUB_* environment: outputs, job summary, the PR comment (httpx.MockTransport), plan and apply
exit codes, and apply against the emulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.ci.action import main
from reconciler.ci.github import MARKER
from reconciler.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(REPO / "audiences.yaml", work)
    shutil.copytree(REPO / "data", work / "data", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.chdir(work)
    return work


def github_env(tmp_path: Path, pr: int | None = 7, **inputs: str) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": pr}} if pr else {"ref": "refs/heads/main"}))
    for name in ("output", "summary"):
        (tmp_path / name).touch()
    (tmp_path / "runner").mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "octo-org/audiences",
        "GITHUB_API_URL": "https://api.github.com",
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "INPUT_GITHUB_TOKEN": "ghs_faketoken",
    }
    env.update({f"INPUT_{k.upper()}": v for k, v in inputs.items()})
    return env


def outputs(env: dict[str, str]) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(env["GITHUB_OUTPUT"]).read_text().splitlines())


class Comments:
    """A GitHub with no comments yet that records what is posted."""

    def __init__(self) -> None:
        self.posted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=[])
        body = json.loads(request.content)["body"]
        self.posted.append(body)
        return httpx.Response(201, json={"id": 1, "html_url": "https://github.com/c/1", "body": body})


def test_plan_on_a_pull_request(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env, github = github_env(tmp_path, command="plan"), Comments()
    assert main(env, httpx.MockTransport(github)) == 0  # changes pending (exit 2) is a success
    out = outputs(env)
    assert out["exit-code"] == "2" and out["changes"] == "true"
    markdown = Path(out["plan-markdown"]).read_text()
    assert out["plan-markdown"].startswith(env["RUNNER_TEMP"]) and "3 to create" in markdown
    assert Path(env["GITHUB_STEP_SUMMARY"]).read_text() == markdown
    assert github.posted == [f"{MARKER}\n{markdown}"]
    assert "plan comment created: https://github.com/c/1" in capsys.readouterr().out
    assert not (project / "plan.md").exists(), "the caller's checkout stays clean"


def test_a_broken_declaration_fails_and_says_why_everywhere(project: Path, tmp_path: Path) -> None:
    text = (project / "audiences.yaml").read_text()
    broken = text.replace("    provider: commbox", "    provider: commbox\n    colour: red")
    (project / "audiences.yaml").write_text(broken)
    env, github = github_env(tmp_path), Comments()
    assert main(env, httpx.MockTransport(github)) == 1
    assert outputs(env)["exit-code"] == "1" and outputs(env)["changes"] == "false"
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("### reconciler plan failed (exit code 1)") and "colour" in summary
    assert "audiences.yaml:" in summary
    [posted] = github.posted
    assert posted.startswith(MARKER) and "colour" in posted, "a stale plan comment must not stay up"


def test_no_comment_when_off_or_outside_a_pull_request(project: Path, tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no GitHub call expected")

    assert main(github_env(tmp_path, comment="false"), httpx.MockTransport(refuse)) == 0
    assert main(github_env(tmp_path, pr=None), httpx.MockTransport(refuse)) == 0


def test_a_fork_pull_request_still_succeeds_with_a_warning(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    forbidden = json.loads((REPO / "tests" / "fixtures" / "github_api" / "fork_forbidden.json").read_text())

    def fork(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=[])
        return httpx.Response(403, json=forbidden)

    env = github_env(tmp_path)
    assert main(env, httpx.MockTransport(fork)) == 0
    out = capsys.readouterr().out
    assert "::warning title=reconciler::could not post the plan comment: HTTP 403" in out
    assert "ghs_faketoken" not in out
    assert "3 to create" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": "destroy"}, "input `command` must be plan or apply, not 'destroy'"),
        ({"comment": "maybe"}, "input `comment` must be true or false, not 'maybe'"),
        ({"args": "--target 'vip"}, "cannot be split into words"),
    ],
)
def test_bad_inputs_are_one_error_annotation(
    inputs: dict[str, str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(github_env(tmp_path, **inputs)) == 1
    out = capsys.readouterr().out
    assert out.startswith("::error title=reconciler::") and message in out


def test_extra_args_reach_plan(project: Path, tmp_path: Path) -> None:
    env = github_env(tmp_path, comment="false", args="--target vip-customers")
    assert main(env) == 0
    plan = json.loads((Path(env["RUNNER_TEMP"]) / "reconciler" / "plan.json").read_text())
    assert [c["address"] for c in plan["changes"] if c["action"] != "no-op"] == ["vip-customers"]


def _emulated(env: dict[str, str], emu: Emulator) -> dict[str, str]:
    return {**env, **emu.env()}


@pytest.mark.slow
def test_apply_plans_then_applies_that_plan(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Emulator(port=0) as emu:
        env = _emulated(github_env(tmp_path, pr=None, command="apply", apply_args="--parallelism 2"), emu)
        assert main(env) == 0, capsys.readouterr()
        assert [len(emu.audiences(p)) for p in ("commbox", "whop", "smallest")] == [1, 1, 1]
        out = outputs(env)
        assert out["exit-code"] == "0" and out["changes"] == "true"
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        assert "3 to create" in summary and "### reconciler apply (exit code 0)" in summary
        state = json.loads((project / "state" / "state.json").read_text())
        assert set(state["audiences"]) == {"vip-customers", "whop-buyers", "callers"}
        printed = capsys.readouterr().out
        for token in emu.tokens.values():
            assert token not in printed and token not in summary
        # nothing left to do: apply is not run again, and says so through the outputs
        (tmp_path / "again").mkdir()
        again = _emulated(github_env(tmp_path / "again", pr=None, command="apply"), emu)
        assert main(again) == 0
        assert outputs(again)["exit-code"] == "0" and outputs(again)["changes"] == "false"
        assert "### reconciler apply" not in Path(again["GITHUB_STEP_SUMMARY"]).read_text()


@pytest.mark.slow
def test_a_failed_apply_fails_the_step_with_the_report(project: Path, tmp_path: Path) -> None:
    with Emulator(port=0) as emu:
        emu.set_next_whop_outcome("failed", "no rows matched")
        env = _emulated(github_env(tmp_path, pr=None, command="apply"), emu)
        assert main(env) == 1
        assert outputs(env)["exit-code"] == "1"
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        assert "### reconciler apply (exit code 1)" in summary and "whop-buyers" in summary


def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    env: dict[str, Any] = github_env(tmp_path, command="nope")
    done = subprocess.run(
        [sys.executable, "-m", "reconciler.ci"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "::error title=reconciler::" in done.stdout
