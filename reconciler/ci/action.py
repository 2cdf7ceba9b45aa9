"""The action's run step: plan (or plan, then apply that plan), outputs, job summary, PR comment.

Inputs arrive as environment variables set by action.yml (`INPUT_COMMAND`, `INPUT_CONFIG`,
`INPUT_ARGS`, `INPUT_APPLY_ARGS`, `INPUT_COMMENT`, `INPUT_GITHUB_TOKEN`); the runner provides
`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, `GITHUB_EVENT_PATH`, `GITHUB_REPOSITORY`, `GITHUB_API_URL`
and `RUNNER_TEMP`. The process runs in the caller's working directory.

`apply` plans first (the markdown plan and the `changes` output come from it), then carries out
exactly that saved plan, so what the summary shows is what was applied. Exit status: 0 when plan
found no changes or changes pending (exit code 0 or 2), else the command's own exit code.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from reconciler.ci.github import GitHub, upsert_comment

COMMANDS = ("plan", "apply")
TRUE, FALSE = ("true", "yes", "1"), ("false", "no", "0", "")


class ActionError(Exception):
    """A wrong input: reported as a workflow error annotation."""


@dataclass(frozen=True)
class Inputs:
    """The action's inputs, checked."""

    command: str
    config: str
    args: list[str]
    apply_args: list[str]
    comment: bool
    token: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Inputs:
        command = env.get("INPUT_COMMAND", "plan").strip() or "plan"
        if command not in COMMANDS:
            raise ActionError(f"input `command` must be plan or apply, not {command!r}")
        comment = env.get("INPUT_COMMENT", "true").strip().lower()
        if comment not in TRUE + FALSE:
            raise ActionError(f"input `comment` must be true or false, not {comment!r}")
        try:
            args = shlex.split(env.get("INPUT_ARGS", ""))
            apply_args = shlex.split(env.get("INPUT_APPLY_ARGS", ""))
        except ValueError as exc:
            raise ActionError(f"input `args`/`apply-args` cannot be split into words: {exc}") from None
        return cls(
            command=command,
            config=env.get("INPUT_CONFIG", "").strip() or "audiences.yaml",
            args=args,
            apply_args=apply_args,
            comment=comment in TRUE,
            token=env.get("INPUT_GITHUB_TOKEN", ""),
        )


@dataclass(frozen=True)
class Outcome:
    """What the run found: the exit code to report, pending changes, the plan and the logs."""

    exit_code: int
    changes: bool
    plan_markdown: Path
    plan_error: str
    apply_log: str | None


def main(environ: Mapping[str, str] | None = None, transport: httpx.BaseTransport | None = None) -> int:
    """Run the action; returns the step's exit status."""
    env = os.environ if environ is None else environ
    try:
        inputs = Inputs.from_env(env)
    except ActionError as exc:
        print(f"::error title=reconciler::{exc}", flush=True)
        return 1
    outcome = run(inputs, env)
    _write_outputs(env, outcome)
    _write_summary(env, outcome)
    if inputs.comment:
        _comment(env, inputs, outcome, transport)
    ok = outcome.exit_code in (0, 2) if inputs.command == "plan" else outcome.exit_code == 0
    return 0 if ok else outcome.exit_code


def run(inputs: Inputs, env: Mapping[str, str]) -> Outcome:
    """Plan (markdown + saved plan), then for `apply` carry out the saved plan when it changes anything."""
    out = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / "reconciler"
    out.mkdir(parents=True, exist_ok=True)
    plan_md, plan_json = out / "plan.md", out / "plan.json"
    plan_json.unlink(missing_ok=True)
    argv = ["plan", "-c", inputs.config, "--format", "markdown", "--detailed-exitcode"]
    planned = _reconciler([*argv, "--out", str(plan_json), *inputs.args], env, capture=True)
    plan_md.write_text(planned.stdout, encoding="utf-8")
    sys.stderr.write(planned.stderr)
    code, log = planned.returncode, None
    if inputs.command == "apply" and code == 2:
        applied = _reconciler(["apply", str(plan_json), "-c", inputs.config, *inputs.apply_args], env)
        code, log = applied.returncode, applied.stdout
    elif inputs.command == "apply" and code == 0:
        print("reconciler: no changes: nothing to apply", flush=True)
    error = planned.stderr if planned.returncode not in (0, 2) else ""
    return Outcome(code, planned.returncode == 2, plan_md, error, log)


def _reconciler(
    args: Sequence[str], env: Mapping[str, str], capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `reconciler ARGS` with this interpreter. `capture`: stdout and stderr apart, silently;
    otherwise stdout and stderr together, echoed to the job log as they come."""
    argv = [sys.executable, "-m", "reconciler", *args]
    child_env = {**env, "NO_COLOR": "1"}
    if capture:
        return subprocess.run(argv, env=child_env, capture_output=True, text=True, check=False)
    lines: list[str] = []
    with subprocess.Popen(
        argv, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
    return subprocess.CompletedProcess(argv, child.returncode, "".join(lines), "")


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def _write_outputs(env: Mapping[str, str], outcome: Outcome) -> None:
    _append(
        env.get("GITHUB_OUTPUT"),
        f"exit-code={outcome.exit_code}\n"
        f"changes={'true' if outcome.changes else 'false'}\n"
        f"plan-markdown={outcome.plan_markdown}\n",
    )


def _fenced(text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}\n{text.rstrip()}\n{fence}\n"


def _failure(outcome: Outcome) -> str:
    return f"### reconciler plan failed (exit code {outcome.exit_code})\n\n{_fenced(outcome.plan_error)}"


def _plan_text(outcome: Outcome) -> str:
    """The markdown plan, or what made the plan fail."""
    return _failure(outcome) if outcome.plan_error else outcome.plan_markdown.read_text(encoding="utf-8")


def _write_summary(env: Mapping[str, str], outcome: Outcome) -> None:
    text = _plan_text(outcome)
    if outcome.apply_log is not None:
        text += f"\n### reconciler apply (exit code {outcome.exit_code})\n\n{_fenced(outcome.apply_log)}"
    _append(env.get("GITHUB_STEP_SUMMARY"), text if text.endswith("\n") else text + "\n")


def pull_request_number(env: Mapping[str, str]) -> int | None:
    """The pull request this run belongs to, from the event payload (None outside pull requests)."""
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    number = (event.get("pull_request") or {}).get("number") if isinstance(event, dict) else None
    return number if isinstance(number, int) else None


def _comment(
    env: Mapping[str, str], inputs: Inputs, outcome: Outcome, transport: httpx.BaseTransport | None
) -> None:
    issue = pull_request_number(env)
    if issue is None:
        print("reconciler: not a pull request: no comment to post", flush=True)
        return
    if not inputs.token or not env.get("GITHUB_REPOSITORY"):
        print("::warning title=reconciler::no github-token or GITHUB_REPOSITORY: plan comment skipped")
        return
    api_url = env.get("GITHUB_API_URL") or "https://api.github.com"
    github = GitHub(api_url, env["GITHUB_REPOSITORY"], inputs.token, transport)
    try:
        result = upsert_comment(github, issue, _plan_text(outcome))
    finally:
        github.close()
    if result.action == "failed":
        print(f"::warning title=reconciler::could not post the plan comment: {result.message}", flush=True)
    else:
        print(f"reconciler: plan comment {result.action}: {result.url}", flush=True)
