"""A 500-audience plan, rendered as markdown and posted by the action's comment logic, fits one
GitHub comment (65,536 characters) without the action having to truncate it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.ci.github import COMMENT_LIMIT, MARKER, comment_body
from reconciler.cli import main

GITHUB_COMMENT_LIMIT = 65_536
PROVIDERS = ("commbox", "whop", "smallest")


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
    _project(tmp_path, 500)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    capsys.readouterr()
    code = main(["plan", "--format", "markdown", "--detailed-exitcode", "--out", "plan.json"])
    markdown = capsys.readouterr().out
    assert code == 2
    assert json.loads((tmp_path / "plan.json").read_text())["summary"]["create"] == 500
    assert COMMENT_LIMIT == GITHUB_COMMENT_LIMIT
    body = comment_body(markdown)
    assert len(body) <= GITHUB_COMMENT_LIMIT
    assert "Plan truncated" not in body, "the renderer itself must leave room for the marker"
    assert body == f"{MARKER}\n{markdown}"
    assert "500 to create" in body
