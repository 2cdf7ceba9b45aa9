"""examples/github/plan-query.yml: the PII-free pull-request workflow (query sources, the database
URL from a secret, `validate --forbid-tracked-sources`), its run steps executed against a real
PostgreSQL server in a git repository that holds no member file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pg_support import SUPERUSER_PASSWORD
from query_support import load_table
from test_examples_workflows import ACTION, EXAMPLES, EXPR, Runner, action_env, load, outputs, step

PLAN_QUERY_YML = EXAMPLES / "github" / "plan-query.yml"
ROWS = [(f"(415) 555-{100 + i:04d}", None, f"N{i}") for i in range(20)] + [("bad", None, None)]
DECLARATION = {
    "version": 1,
    "defaults": {"phone_region": "US"},
    "audiences": {
        "vip": {
            "provider": "commbox",
            "name": "VIP customers",
            "source": {
                "query": "SELECT mobile, first_name FROM customers WHERE tier = 'vip' ORDER BY id",
                "url_env": "WAREHOUSE_URL",
            },
            "columns": {"phone": "mobile", "first_name": "first_name"},
        }
    },
}


def test_structure() -> None:
    wf = load(PLAN_QUERY_YML)
    assert "pull_request" in wf["on"] and "pull_request_target" not in wf["on"]
    assert all("data/" not in path for path in wf["on"]["pull_request"]["paths"])
    [job] = wf["jobs"].values()
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert EXPR.fullmatch(job["env"]["WAREHOUSE_URL"]).group(2) == "WAREHOUSE_URL"  # type: ignore[union-attr]
    assert step(wf, "Validate")["run"].strip() == "reconciler validate --forbid-tracked-sources"
    plan = step(wf, "Plan")
    assert plan["uses"].startswith(f"{ACTION}@") and plan["with"] == {"command": "plan", "extras": "postgres"}


def _repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    work = tmp_path / "work"
    work.mkdir()
    (work / "audiences.yaml").write_text(yaml.safe_dump(DECLARATION, sort_keys=False))
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "add", "audiences.yaml"], check=True)
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    (shim_dir / "reconciler").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    (shim_dir / "reconciler").chmod(0o755)
    for name in ("summary.md", "output.txt"):
        (tmp_path / name).touch()
    env = {
        **action_env(tmp_path),
        "PATH": f"{shim_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "NO_COLOR": "1",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return work, env


@pytest.mark.slow
def test_runs_with_the_secret_and_refuses_a_committed_member_file(tmp_path: Path, pg_url: str) -> None:
    load_table(pg_url, ROWS)
    work, env = _repo(tmp_path)
    runner = Runner(work, {**env, "WAREHOUSE_URL": pg_url})  # the job-level env, from the secret
    assert runner.run(load(PLAN_QUERY_YML)), {k: v.stdout + v.stderr for k, v in runner.results.items()}
    assert outputs(env)["exit-code"] == "2" and outputs(env)["changes"] == "true"
    markdown_path = Path(outputs(env)["plan-markdown"])
    plan = json.loads(markdown_path.with_name("plan.json").read_text())
    assert plan["inputs"]["sources"] == {} and list(plan["inputs"]["queries"]) == ["vip"]
    assert plan["changes"][0]["members"]["after"] == 20
    everything = "".join(r.stdout + r.stderr for r in runner.results.values())
    everything += markdown_path.read_text() + markdown_path.with_name("plan.json").read_text()
    assert SUPERUSER_PASSWORD not in everything and pg_url not in everything and "555-01" not in everything
    # a member file committed by mistake fails the Validate step
    (work / "members.csv").write_text("mobile\n(415) 555-0100\n")
    doc = dict(
        DECLARATION,
        audiences={
            **DECLARATION["audiences"],
            "file": {  # type: ignore[dict-item]
                "provider": "commbox",
                "name": "From a file",
                "source": "members.csv",
                "columns": {"phone": "mobile"},
            },
        },
    )
    (work / "audiences.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    subprocess.run(["git", "-C", str(work), "add", "members.csv"], check=True)
    again = Runner(work, {**env, "WAREHOUSE_URL": pg_url})
    assert not again.run(load(PLAN_QUERY_YML))
    assert "is tracked by git" in again.results["Validate"].stdout + again.results["Validate"].stderr
    # without the secret (a fork's pull request, were it not skipped) the message says what is missing
    bare = Runner(work, env).run_step(step(load(PLAN_QUERY_YML), "Validate"))
    assert (
        bare.returncode == 1 and "environment variable WAREHOUSE_URL is not set" in bare.stdout + bare.stderr
    )
