"""examples/github/apply-postgres.yml: structure, and its steps run for real against the emulator
and a throwaway PostgreSQL database (state in the database, nothing committed back)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pg_support import SUPERUSER_PASSWORD
from test_examples_workflows import EXAMPLES, EXPR, Runner, _apply_env, _origin_log, action_step, load, steps
from test_examples_workflows import repo as repo  # the fixture: a clone of the example project

from reconciler.emulator import Emulator

APPLY_PG_YML = EXAMPLES / "github" / "apply-postgres.yml"


def test_postgres_apply_workflow_structure() -> None:
    wf = load(APPLY_PG_YML)
    assert wf["on"]["push"]["branches"] == ["main"]
    assert wf["concurrency"] == {"group": "reconciler-apply", "cancel-in-progress": False}
    assert wf["permissions"] == {"contents": "read"}, "nothing is pushed: the state is in the database"
    apply = action_step(wf)
    assert apply["with"] == {
        "command": "apply", "comment": "false", "extras": "postgres", "apply-args": "--lock-timeout 10m"
    }
    env = {k: EXPR.fullmatch(v).group(2) for k, v in apply["env"].items()}  # type: ignore[union-attr]
    assert env["RECONCILER_STATE_URL"] == "RECONCILER_STATE_URL"
    assert not any("git" in s.get("run", "") for s in steps(wf)), "no state commit"


@pytest.mark.slow
def test_postgres_apply_workflow_applies_and_commits_nothing(
    repo: tuple[Path, dict[str, str]], pg_url: str
) -> None:
    work, env = repo
    config = work / "audiences.yaml"
    declaration = yaml.safe_load(config.read_text())
    declaration["state"] = {"backend": "postgres", "workspace": "production"}
    config.write_text(yaml.safe_dump(declaration, sort_keys=False))
    before = _origin_log(work)
    with Emulator(port=0) as emu:
        urls, secrets = _apply_env(emu)
        secrets["RECONCILER_STATE_URL"] = pg_url
        for _ in range(2):  # the second run finds no changes
            runner = Runner(work, {**env, **urls}, secrets)
            assert runner.run(load(APPLY_PG_YML)), {k: v.stdout + v.stderr for k, v in runner.results.items()}
        assert "no changes: nothing to apply" in runner.results["Apply"].stdout
        assert len(emu.audiences("commbox")) == len(emu.audiences("whop")) == 1
    assert _origin_log(work) == before and not (work / "state").exists()
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "### reconciler apply" in summary and SUPERUSER_PASSWORD not in summary
