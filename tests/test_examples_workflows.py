"""The example GitHub workflows (short callers of the action) and the pre-commit hook: structure,
and their steps run for real.

Steps that need GitHub itself (checkout, setup-python, artifact upload) are skipped with a reason.
The action's own step (`uses: example-org/reconciler@...`) runs action.yml's composite steps with
bash the way Actions runs them, its `${{ inputs.* }}` filled from `with:` and the defaults; its
install step is replaced by this checkout (a `python` shim in the action's venv path). Everything
runs against a temp copy of the bundled example project in a git repository with a local bare
`origin`, the provider secrets pointing at the emulator.
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
ACTION_YML = REPO / "action.yml"
ACTION = "example-org/reconciler"
EXPR = re.compile(r"\$\{\{\s*(secrets|vars)\.([A-Z_]+)\s*\}\}")
ACTION_EXPR = re.compile(r"\$\{\{\s*(inputs\.[\w-]+|github\.token)\s*\}\}")
# `uses:` steps that need GitHub: replaced by the temp checkout and the test's own interpreter.
NEEDS_GITHUB = {
    "actions/checkout": "the temp git repository is the checkout",
    "actions/setup-python": "the test's interpreter stands in",
    "actions/upload-artifact": "artifacts need the Actions service",
}
FAKE_TOKEN = "ghs_fake_workflow_token"


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


def action_step(workflow: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in steps(workflow) if s.get("uses", "").startswith(f"{ACTION}@"))


def test_plan_workflow_structure() -> None:
    wf = load(PLAN_YML)
    assert "pull_request" in wf["on"] and "pull_request_target" not in wf["on"]
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    uses = [s["uses"].split("@")[0] for s in steps(wf) if "uses" in s]
    assert uses == ["actions/checkout", ACTION, "actions/upload-artifact"]
    plan = action_step(wf)
    assert re.fullmatch(rf"{ACTION}@v\d+\.\d+\.\d+", plan["uses"]), "examples pin a release"
    assert plan["with"] == {"command": "plan"} and "env" not in plan
    upload = step(wf, "Upload plan")
    assert upload["with"]["path"] == "${{ steps.plan.outputs.plan-markdown }}"
    assert "pull_request_target" in PLAN_YML.read_text(), "the trade-off must be explained in a comment"
    assert "${{ secrets." not in PLAN_YML.read_text(), "plan runs on forks: no secrets"


def test_apply_workflow_structure() -> None:
    wf = load(APPLY_YML)
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    assert wf["permissions"] == {"contents": "write"}
    assert steps(wf)[0]["with"]["ref"] == "main", "a queued apply must see the previous apply's state"
    apply = action_step(wf)
    assert apply["with"] == {"command": "apply", "comment": "false"}
    assert {k: EXPR.fullmatch(v).group(2) for k, v in apply["env"].items()} == {  # type: ignore[union-attr]
        "COMMBOX_API_TOKEN": "COMMBOX_API_TOKEN",
        "WHOP_API_KEY": "WHOP_API_KEY",
        "WHOP_ACCOUNT_ID": "WHOP_ACCOUNT_ID",
        "SMALLEST_API_KEY": "SMALLEST_API_KEY",
    }
    commit = step(wf, "Commit state")
    assert commit["if"] == "always()" and "[skip ci]" in commit["run"]
    assert "git add -- state/" in commit["run"]


def test_action_inputs_and_outputs() -> None:
    action = load(ACTION_YML)
    assert set(action["inputs"]) == {
        "command", "working-directory", "config", "args", "apply-args", "comment", "github-token",
        "python-version", "extras",
    }
    assert set(action["outputs"]) == {"exit-code", "changes", "plan-markdown"}
    assert action["runs"]["using"] == "composite"
    run = next(s for s in action["runs"]["steps"] if s.get("id") == "run")
    for name in ("command", "config", "args", "apply-args", "comment", "github-token"):
        assert run["env"][f"INPUT_{name.upper().replace('-', '_')}"] == f"${{{{ inputs.{name} }}}}"


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
            if not ok and "always()" not in str(item.get("if", "")):
                continue
            if item.get("uses", "").startswith(f"{ACTION}@"):
                done = self.run_action(item)
            elif "uses" in item:
                self.skipped.append((name, NEEDS_GITHUB[item["uses"].split("@")[0]]))
                continue
            else:
                done = self.run_step(item)
            self.results[name] = done
            if done.returncode != 0 and not item.get("continue-on-error"):
                ok = False
        return ok

    def step_env(self, item: dict[str, Any]) -> dict[str, str]:
        env = dict(self.env)
        for key, value in (item.get("env") or {}).items():
            env[key] = EXPR.sub(lambda m: self.secrets.get(m.group(2), ""), str(value))
        return env

    def run_step(
        self, item: dict[str, Any], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        script = item["run"]
        assert "${{" not in script, "expressions in run: are not emulated"
        # Actions: `shell: bash` is `bash --noprofile --norc -eo pipefail`, the default is `bash -e`
        shell = (
            ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
            if item.get("shell") == "bash"
            else ["bash", "-e"]
        )
        return subprocess.run(
            [*shell, "-c", script],
            cwd=cwd or self.workdir,
            env=env if env is not None else self.step_env(item),
            capture_output=True,
            text=True,
            timeout=300,
        )

    def run_action(self, item: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        """action.yml's composite steps, as the runner executes them for this `uses:` step."""
        action = load(ACTION_YML)
        given = item.get("with") or {}
        inputs = {n: str(given.get(n, spec.get("default", ""))) for n, spec in action["inputs"].items()}
        assert set(given) <= set(inputs), f"unknown inputs: {set(given) - set(inputs)}"

        def expand(text: str) -> str:
            def one(m: re.Match[str]) -> str:
                ref = m.group(1)
                return FAKE_TOKEN if ref == "github.token" else expand(inputs[ref.removeprefix("inputs.")])

            return ACTION_EXPR.sub(one, text)

        env = {**self.step_env(item), "GITHUB_ACTION_PATH": str(REPO)}
        done = subprocess.CompletedProcess[str]([], 0, "", "")
        for sub in action["runs"]["steps"]:
            if "uses" in sub:
                self.skipped.append((f"action: {sub['name']}", NEEDS_GITHUB[sub["uses"].split("@")[0]]))
                continue
            if "pip install" in sub["run"]:
                self.skipped.append((f"action: {sub['name']}", "installing needs a package index: a shim"))
                continue
            sub_env = {**env, **{k: expand(str(v)) for k, v in (sub.get("env") or {}).items()}}
            cwd = self.workdir / expand(sub.get("working-directory", "."))
            done = self.run_step(sub, sub_env, cwd)
            if done.returncode != 0:
                break
        return done


@pytest.mark.parametrize(("extras", "target"), [("", ""), ("postgres", "[postgres]")])
def test_action_install_step_installs_its_own_checkout(tmp_path: Path, extras: str, target: str) -> None:
    """The install step, run with a recording `python`: a venv under RUNNER_TEMP, pip installs
    the action's own checkout (the pinned ref) with the extras asked for, on PATH for later steps."""
    install = next(s for s in load(ACTION_YML)["runs"]["steps"] if s.get("name") == "Install reconciler")
    bindir, log = tmp_path / "bin", tmp_path / "calls.log"
    bindir.mkdir()
    recorder = f'#!/bin/sh\necho "$0 $*" >> "{log}"\n'
    fake_python = (
        recorder + 'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin"; '
        f"printf '%s' '{recorder}' > \"$3/bin/python\"; chmod +x \"$3/bin/python\"; fi\n"
    )
    (bindir / "python").write_text(fake_python)
    (bindir / "python").chmod(0o755)
    env = {
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "GITHUB_ACTION_PATH": "/actions/example-org/reconciler/v0.2.0",
        "GITHUB_PATH": str(tmp_path / "path.txt"),
        "EXTRAS": extras,
    }
    assert install["env"] == {"EXTRAS": "${{ inputs.extras }}"}
    done = Runner(tmp_path, env).run_step(install, env)
    assert done.returncode == 0, done.stderr
    venv = tmp_path / "runner" / "reconciler-venv"
    assert log.read_text().splitlines() == [
        f"{bindir}/python -m venv {venv}",
        f"{venv}/bin/python -m pip install --quiet --disable-pip-version-check "
        f"/actions/example-org/reconciler/v0.2.0{target}",
        f"{venv}/bin/python -m reconciler --version",
    ]
    assert (tmp_path / "path.txt").read_text() == f"{venv}/bin\n"


def action_env(tmp_path: Path) -> dict[str, str]:
    """What the runner gives the action: RUNNER_TEMP (with this checkout's interpreter where the
    action's install step puts its venv), a pull_request event, and a GitHub API nobody serves."""
    runner_temp = tmp_path / "runner"
    venv_python = runner_temp / "reconciler-venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    venv_python.chmod(0o755)
    (tmp_path / "event.json").write_text(json.dumps({"pull_request": {"number": 7}}))
    return {
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
        "GITHUB_REPOSITORY": "octo-org/audiences",
        "GITHUB_API_URL": "http://127.0.0.1:9",  # nothing listens: the comment fails, as on a fork
    }


def outputs(env: dict[str, str]) -> dict[str, str]:
    """The step outputs written to GITHUB_OUTPUT."""
    return dict(line.split("=", 1) for line in Path(env["GITHUB_OUTPUT"]).read_text().splitlines())


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
        **action_env(tmp_path),
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


@pytest.mark.slow
def test_plan_workflow_runs_against_the_example_project(repo: tuple[Path, dict[str, str]]) -> None:
    work, env = repo
    runner = Runner(work, env)
    assert runner.run(load(PLAN_YML)), {k: v.stdout + v.stderr for k, v in runner.results.items()}
    assert [name for name, _ in runner.skipped] == [
        "actions/checkout@v4",
        "action: Set up Python",
        "action: Install reconciler",
        "Upload plan",
    ]
    out = outputs(env)
    assert out["exit-code"] == "2" and out["changes"] == "true"  # empty state: everything to create
    markdown = Path(out["plan-markdown"]).read_text()
    assert "create" in markdown and len(markdown) < 65536
    plan_json = Path(out["plan-markdown"]).with_name("plan.json")
    assert json.loads(plan_json.read_text())["summary"]["create"] == 3
    assert markdown in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    ran = runner.results["Plan"]
    assert "::warning title=reconciler::could not post the plan comment" in ran.stdout
    assert FAKE_TOKEN not in ran.stdout + ran.stderr
    assert not (work / "plan.md").exists()


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
        assert "### reconciler apply (exit code 0)" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
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
