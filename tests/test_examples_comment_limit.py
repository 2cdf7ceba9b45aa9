"""A 500-audience plan, rendered as markdown and posted by the example workflow's comment script,
fits one GitHub comment (65,536 characters) without the script having to truncate it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from reconciler.cli import main

GITHUB_COMMENT_LIMIT = 65_536
PLAN_YML = Path(__file__).resolve().parents[1] / "examples" / "github" / "plan.yml"
PROVIDERS = ("commbox", "whop", "smallest")
HARNESS = """
const fs = require('fs');
const out = [];
const github = { paginate: async () => [], rest: { issues: {
  listComments: 0, updateComment: async () => {}, createComment: async (p) => out.push(p.body) } } };
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 1 } };
const script = fs.readFileSync('script.js', 'utf8');
new Function('require', 'github', 'context', `return (async () => {${script}})();`)(require, github, context)
  .then(() => fs.writeFileSync('body.md', out[0]));
"""


def _project(root: Path, count: int) -> None:
    (root / "data").mkdir(parents=True)
    lines = [
        "version: 1",
        "defaults: {phone_region: US}",
        "providers: {whop: {account_id: biz_x}}",
        "audiences:",
    ]
    for i in range(count):
        provider = PROVIDERS[i % 3]
        key = f"{provider}-regional-campaign-audience-number-{i:04d}"
        lines += [
            f"  {key}:",
            f"    provider: {provider}",
            f"    name: Regional campaign audience number {i:04d}",
            f"    source: data/a{i:04d}.csv",
            "    columns: {phone: Mobile, first_name: First}",
        ]
        rows = "".join(f"+1415555{(i * 7 + j) % 10000:04d},N{j}\n" for j in range(5))
        (root / "data" / f"a{i:04d}.csv").write_text(f"Mobile,First\n{rows}not-a-phone,X\n555,Y\n")
    (root / "audiences.yaml").write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_500_audience_plan_fits_one_comment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run the github-script step")
    _project(tmp_path, 500)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    code = main(["plan", "--format", "markdown", "--detailed-exitcode", "--out", "plan.json"])
    markdown = capsys.readouterr().out
    assert code == 2
    assert json.loads((tmp_path / "plan.json").read_text())["summary"]["create"] == 500
    (tmp_path / "plan.md").write_text(markdown)
    workflow = yaml.safe_load(PLAN_YML.read_text())
    [job] = workflow["jobs"].values()
    script = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/github-script"))
    (tmp_path / "script.js").write_text(script["with"]["script"])
    (tmp_path / "harness.js").write_text(HARNESS)
    done = subprocess.run(
        [node, "harness.js"], cwd=tmp_path, capture_output=True, text=True, timeout=30, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    body = (tmp_path / "body.md").read_text(encoding="utf-8")
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert "Plan truncated" not in body, "the renderer itself must leave room for the marker"
    assert body == "<!-- reconciler-plan -->\n" + markdown
    assert "500 to create" in body
