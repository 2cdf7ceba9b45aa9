"""The example GitHub workflows and the pre-commit hook: structure, and their steps run for real.

Steps that need GitHub itself (checkout, setup-python, pip install from the index, artifact upload)
are skipped with a reason; every `run:` step is executed with bash the way Actions runs it, against
a temp copy of the bundled example project in a git repository with a local bare `origin`, the
provider secrets pointing at the emulator. The github-script comment step runs under node with a
fake `github` client when node is installed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.emulator import Emulator

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
PLAN_YML = EXAMPLES / "github" / "plan.yml"
APPLY_YML = EXAMPLES / "github" / "apply.yml"
MARKER = "<!-- reconciler-plan -->"
EXPR = re.compile(r"\$\{\{\s*(secrets|vars)\.([A-Z_]+)\s*\}\}")
# `uses:` steps and install steps need GitHub or a package index: replaced by the temp checkout,
# the test's own interpreter and a `reconciler` shim on PATH.
NEEDS_GITHUB = {
    "actions/checkout": "the temp git repository is the checkout",
    "actions/setup-python": "the test's interpreter stands in",
    "actions/upload-artifact": "artifacts need the Actions service",
    "actions/github-script": "runs under node in test_comment_script_* instead",
}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    if True in data:  # YAML 1.1 reads the key `on` as a boolean
        data["on"] = data.pop(True)
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    [job] = workflow["jobs"].values()
    return list(job["steps"])


def step(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in steps(workflow) if s.get("name") == name)


# -- structure ----------------------------------------------------------------------------------


def test_plan_workflow_structure() -> None:
    wf = load(PLAN_YML)
    assert "pull_request" in wf["on"] and "pull_request_target" not in wf["on"]
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    uses = [s["uses"].split("@")[0] for s in steps(wf) if "uses" in s]
    assert uses == [
        "actions/checkout",
        "actions/setup-python",
        "actions/upload-artifact",
        "actions/github-script",
    ]
    assert step(wf, "Validate")["run"].strip() == "reconciler validate"
    plan = step(wf, "Plan")["run"]
    assert "reconciler plan --format markdown --detailed-exitcode --out plan.json > plan.md" in plan
    comment = next(s for s in steps(wf) if s.get("uses", "").startswith("actions/github-script"))
    assert MARKER in comment["with"]["script"] and comment.get("continue-on-error") is True
    assert "pull_request_target" in PLAN_YML.read_text(), "the trade-off must be explained in a comment"
    assert "${{ secrets." not in PLAN_YML.read_text(), "plan runs on forks: no secrets"


def test_apply_workflow_structure() -> None:
    wf = load(APPLY_YML)
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    assert wf["permissions"] == {"contents": "write"}
    assert steps(wf)[0]["with"]["ref"] == "main", "a queued apply must see the previous apply's state"
    apply = step(wf, "Apply")
    assert "reconciler apply --auto-approve" in apply["run"]
    assert {k: EXPR.fullmatch(v).group(2) for k, v in apply["env"].items()} == {  # type: ignore[union-attr]
        "COMMBOX_API_TOKEN": "COMMBOX_API_TOKEN",
        "WHOP_API_KEY": "WHOP_API_KEY",
        "WHOP_ACCOUNT_ID": "WHOP_ACCOUNT_ID",
        "SMALLEST_API_KEY": "SMALLEST_API_KEY",
    }
    commit = step(wf, "Commit state")
    assert commit["if"] == "always()" and "[skip ci]" in commit["run"]
    assert "git add -- state/" in commit["run"]


def test_pre_commit_hook_definition() -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "reconciler-validate"
    assert (hook["language"], hook["entry"], hook["pass_filenames"]) == (
        "python",
        "reconciler validate",
        False,
    )
    files = re.compile(hook["files"])
    for path in (
        "audiences.yaml",
        "data/vip.csv",
        "data/sub/callers.xlsx",
        "team/audiences.yml",
        "x/data/a.csv",
    ):
        assert files.search(path), path
    for path in ("README.md", "state/state.json", "metadata/x.csv", "audiences.yaml.bak", "mydata/x.csv"):
        assert not files.search(path), path
    config = yaml.safe_load((EXAMPLES / "pre-commit" / ".pre-commit-config.yaml").read_text())
    assert config["repos"][0]["hooks"][0]["id"] == hook["id"]


# -- running the steps --------------------------------------------------------------------------


@dataclass
class Runner:
    """Runs a workflow's steps like Actions: stop at the first failure except `if: always()` steps."""

    workdir: Path
    env: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    results: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def run(self, workflow: dict[str, Any]) -> bool:
        ok = True
        for item in steps(workflow):
            name = item.get("name") or item.get("uses", "")
            if "uses" in item:
                self.skipped.append((name, NEEDS_GITHUB[item["uses"].split("@")[0]]))
                continue
            if "pip install" in item["run"]:
                self.skipped.append((name, "installing needs a package index; a shim runs this checkout"))
                continue
            if not ok and "always()" not in str(item.get("if", "")):
                continue
            done = self.run_step(item)
            self.results[name] = done
            if done.returncode != 0 and not item.get("continue-on-error"):
                ok = False
        return ok

    def run_step(self, item: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        script = item["run"]
        assert "${{" not in script, "expressions in run: are not emulated"
        env = dict(self.env)
        for key, value in (item.get("env") or {}).items():
            env[key] = EXPR.sub(lambda m: self.secrets.get(m.group(2), ""), str(value))
        # Actions: `shell: bash` is `bash --noprofile --norc -eo pipefail`, the default is `bash -e`
        shell = (
            ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
            if item.get("shell") == "bash"
            else ["bash", "-e"]
        )
        return subprocess.run(
            [*shell, "-c", script], cwd=self.workdir, env=env, capture_output=True, text=True, timeout=120
        )


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repo(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A clone of the example project (audiences.yaml + data/) with a bare origin, and the job env."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    work.mkdir()
    shutil.copy(REPO / "audiences.yaml", work / "audiences.yaml")
    shutil.copytree(REPO / "data", work / "data", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    _git(work, "init", "-q", "-b", "main")
    _git(work, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "add", ".")
    _git(work, "-c", "user.name=dev", "-c", "user.email=dev@example.com", "commit", "-q", "-m", "audiences")
    _git(work, "remote", "add", "origin", str(origin))
    _git(work, "push", "-q", "origin", "main")
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "reconciler"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    shim.chmod(0o755)
    (tmp_path / "summary.md").touch()
    (tmp_path / "output.txt").touch()
    env = {
        "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_SHA": _git(work, "rev-parse", "HEAD").strip(),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    yield work, env


def test_plan_exit_code_handling_accepts_0_and_2_only(tmp_path: Path) -> None:
    plan = step(load(PLAN_YML), "Plan")
    for code, step_ok in ((0, True), (2, True), (1, False), (3, False)):
        bindir = tmp_path / f"bin{code}"
        bindir.mkdir()
        fake = bindir / "reconciler"
        fake.write_text(f"#!/bin/sh\necho '## plan {code}'\nexit {code}\n")
        fake.chmod(0o755)
        output, summary = tmp_path / f"out{code}", tmp_path / f"sum{code}"
        env = {
            "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        done = Runner(tmp_path, env).run_step(plan)
        assert (done.returncode == 0) is step_ok, (code, done.stderr)
        assert done.returncode in (0, code)
        assert output.read_text() == f"exitcode={code}\n"
        assert (tmp_path / "plan.md").read_text() == f"## plan {code}\n"
        assert (f"## plan {code}" in summary.read_text()) if step_ok else not summary.exists()


@pytest.mark.slow
def test_plan_workflow_runs_against_the_example_project(repo: tuple[Path, dict[str, str]]) -> None:
    work, env = repo
    runner = Runner(work, env)
    assert runner.run(load(PLAN_YML)), {k: v.stderr for k, v in runner.results.items()}
    assert [name for name, _ in runner.skipped] == [
        "actions/checkout@v4",
        "actions/setup-python@v5",
        "Install reconciler",
        "Upload plan",
        "Comment plan",
    ]
    assert Path(env["GITHUB_OUTPUT"]).read_text() == "exitcode=2\n"  # empty state: everything to create
    markdown = (work / "plan.md").read_text()
    assert "create" in markdown and len(markdown) < 65536
    assert json.loads((work / "plan.json").read_text())["summary"]["create"] == 3
    assert markdown in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


def _apply_env(emu: Emulator) -> tuple[dict[str, str], dict[str, str]]:
    """(job env additions, secrets) pointing the apply job at the emulator."""
    urls = {k: v for k, v in emu.env().items() if k.endswith("_BASE_URL")}
    secrets = {k: v for k, v in emu.env().items() if not k.endswith("_BASE_URL")}
    return urls, secrets


def _origin_log(work: Path) -> list[str]:
    _git(work, "fetch", "-q", "origin")
    return _git(work, "log", "--format=%an <%ae>|%s", "origin/main").splitlines()


@pytest.mark.slow
def test_apply_workflow_applies_and_commits_state_with_skip_ci(repo: tuple[Path, dict[str, str]]) -> None:
    work, env = repo
    with Emulator(port=0) as emu:
        urls, secrets = _apply_env(emu)
        runner = Runner(work, {**env, **urls}, secrets)
        assert runner.run(load(APPLY_YML)), {k: v.stdout + v.stderr for k, v in runner.results.items()}
        assert (
            len(emu.audiences("commbox")) == len(emu.audiences("whop")) == len(emu.audiences("smallest")) == 1
        )
        log = _origin_log(work)
        assert log[0].startswith(
            "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>|"
        )
        assert log[0].endswith("[skip ci]") and env["GITHUB_SHA"][:12] in log[0]
        assert "state/state.json" in _git(work, "show", "--name-only", "--format=", "origin/main")
        assert "### reconciler apply" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        report = runner.results["Apply"].stdout
        for token in secrets.values():
            assert token not in report
        # a second run changes nothing and commits nothing
        again = Runner(work, {**env, **urls}, secrets)
        assert again.run(load(APPLY_YML))
        assert "state/ unchanged" in again.results["Commit state"].stdout
        assert _origin_log(work) == log


@pytest.mark.slow
def test_failed_apply_is_red_but_commits_what_succeeded(repo: tuple[Path, dict[str, str]]) -> None:
    work, env = repo
    with Emulator(port=0) as emu:
        urls, secrets = _apply_env(emu)
        emu.set_next_whop_outcome("failed", "no rows matched")
        runner = Runner(work, {**env, **urls}, secrets)
        assert not runner.run(load(APPLY_YML))
        assert runner.results["Apply"].returncode != 0
        assert runner.results["Commit state"].returncode == 0, runner.results["Commit state"].stderr
        committed = json.loads(_git(work, "show", "origin/main:state/state.json"))
        assert set(committed["audiences"]) == {"vip-customers", "callers"}
        assert "whop-buyers" in runner.results["Apply"].stdout


# -- the comment script under node --------------------------------------------------------------

NODE_HARNESS = """
const fs = require('fs');
const calls = [];
const comments = JSON.parse(process.env.COMMENTS);
const github = {
  paginate: async (fn, params) => { calls.push(['list', params.issue_number]); return comments; },
  rest: { issues: {
    listComments: 'listComments',
    updateComment: async (p) => { calls.push(['update', p.comment_id, p.body]); },
    createComment: async (p) => { calls.push(['create', p.issue_number, p.body]); },
  } },
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
const script = fs.readFileSync(process.env.SCRIPT, 'utf8');
const run = new Function('require', 'github', 'context', `return (async () => {${script}})();`);
run(require, github, context).then(() => console.log(JSON.stringify(calls)));
"""


def _comment(tmp_path: Path, plan: str, comments: list[dict[str, Any]]) -> list[list[Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run the github-script step")
    wf = load(PLAN_YML)
    script = next(s for s in steps(wf) if s.get("uses", "").startswith("actions/github-script"))["with"][
        "script"
    ]
    (tmp_path / "script.js").write_text(script)
    (tmp_path / "harness.js").write_text(NODE_HARNESS)
    (tmp_path / "plan.md").write_text(plan)
    env = {**os.environ, "COMMENTS": json.dumps(comments), "SCRIPT": str(tmp_path / "script.js")}
    done = subprocess.run(
        [node, "harness.js"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_comment_script_creates_one_comment_then_updates_it_in_place(tmp_path: Path) -> None:
    [listed, created] = _comment(tmp_path, "## Plan: 1 to create\n", [])
    assert listed == ["list", 7] and created[:2] == ["create", 7]
    assert created[2] == f"{MARKER}\n## Plan: 1 to create\n"
    others = [
        {"id": 1, "user": {"type": "User"}, "body": f"quoting {MARKER}"},  # a person's comment: never edited
        {"id": 2, "user": {"type": "Bot"}, "body": "another bot"},
        {"id": 3, "user": {"type": "Bot"}, "body": created[2]},
    ]
    [_, updated] = _comment(tmp_path, "## Plan: no changes\n", others)
    assert updated == ["update", 3, f"{MARKER}\n## Plan: no changes\n"]


def test_comment_script_truncates_to_githubs_limit(tmp_path: Path) -> None:
    [_, created] = _comment(tmp_path, "x" * 70_000, [])
    body = created[2]
    assert len(body) <= 65536 and body.startswith(MARKER) and "Plan truncated" in body


def test_pre_commit_entry_passes_the_example_and_blocks_a_broken_declaration(
    repo: tuple[Path, dict[str, str]],
) -> None:
    work, env = repo
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    entry = shlex.split(hook["entry"])  # pass_filenames: false -> run exactly the entry
    ok = subprocess.run(entry, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    text = (work / "audiences.yaml").read_text()
    (work / "audiences.yaml").write_text(
        text.replace("    provider: commbox", "    provider: commbox\n    colour: red")
    )
    assert re.search(hook["files"], "audiences.yaml")
    bad = subprocess.run(entry, cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert (
        re.search(r"audiences\.yaml:\d+:\d+", bad.stdout + bad.stderr) and "colour" in bad.stdout + bad.stderr
    )
    assert "Traceback" not in bad.stderr
