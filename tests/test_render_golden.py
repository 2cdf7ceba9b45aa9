"""Golden-file tests of the three renderings of one plan that has every kind of change.

Regenerate after an intended change with:
    RECONCILER_UPDATE_GOLDEN=1 python3 -m pytest tests/test_render_golden.py
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from planhelpers import applied_state, desired, loader, members, scan, spec

from reconciler.masking import mask
from reconciler.planning.diff import Desired, diff
from reconciler.planning.guards import apply_guards
from reconciler.planning.plan import ACTION_SYMBOLS, Inputs, Plan
from reconciler.render import render, render_json, render_markdown, render_text
from reconciler.sources.members import RowIssue

GOLDEN = Path(__file__).parent / "golden"
UPDATE = bool(os.environ.get("RECONCILER_UPDATE_GOLDEN"))
RAW_PII = ["+447911123456", "+14155550123", "jane.doe@example.com"]


def sample_plan() -> Plan:
    """A plan with create, update, replace, delete, forget and no-op, warnings and a refusal."""
    vip = spec("vip-customers", "commbox", name="VIP customers")
    callers = spec("callers", "smallest", name="Callers", shrink_min_members=10)
    newsletter = spec("newsletter", "whop", name="Newsletter", protect=True)
    steady = spec("steady", "whop", name="Steady")
    old = spec("old-campaign", "smallest", name="Old campaign")
    legacy = spec("legacy-vip", "commbox", name="Legacy VIP")
    before = desired(
        (dataclasses.replace(vip, name="VIP"), members(range(1000))),
        (callers, members(range(100))),
        (newsletter, members(range(300))),
        (steady, members(range(40))),
        (old, members(range(812))),
        (legacy, members(range(50))),
    )
    state, sets = applied_state(before, lineage="5f0c1d2e-aaaa-bbbb-cccc-0123456789ab", serial=7)
    issues = [
        RowIssue(row=812, reason="invalid_phone", masked=mask(RAW_PII[0]), column="Mobile"),
        RowIssue(row=901, reason="invalid_email", masked=mask(RAW_PII[2]), column="Email"),
        RowIssue(row=977, reason="missing_phone", masked="", column="Mobile"),
        RowIssue(row=990, reason="invalid_phone", masked=mask(RAW_PII[1]), column="Mobile"),
    ]
    after = desired(
        (spec("whop-buyers", "whop", name="Whop buyers"), members(range(1204))),
        (vip, members(range(30, 1150))),
        (callers, members(range(50, 102))),
        (newsletter, members(range(5, 300))),
        (steady, members(range(40))),
    )
    after["vip-customers"] = Desired(
        spec=vip, scan=scan("vip-customers", members(range(30, 1150)), issues=issues, duplicates=5),
        settings={},
    )
    changes, warnings = diff(after, state, loader(sets))
    apply_guards(changes, {k: d.spec for k, d in after.items()}, state)
    inputs = Inputs(config="audiences.yaml", config_sha256="c" * 64,
                    sources={d.scan.source: d.scan.sha256 for d in after.values()},
                    state_lineage=state.lineage, state_serial=state.serial)
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    return Plan(changes=changes, inputs=inputs, created_at=created, tool_version="0.1.0", warnings=warnings)


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with RECONCILER_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_text_golden() -> None:
    check_golden("plan.txt", render_text(sample_plan().to_dict()).plain)


def test_markdown_golden() -> None:
    check_golden("plan.md", render_markdown(sample_plan().to_dict()))


def test_json_golden() -> None:
    check_golden("plan.json", render_json(sample_plan().to_dict()) + "\n")


def test_sample_covers_every_action_and_a_refusal() -> None:
    plan = sample_plan()
    summary = plan.summary()
    assert all(summary[a] >= 1 for a in ("create", "update", "replace", "delete", "forget", "no-op"))
    assert [c.address for c in plan.refused] == ["callers", "newsletter"]


def test_text_lines_agree_with_json() -> None:
    doc = sample_plan().to_dict()
    text = render_text(doc).plain
    s = doc["summary"]
    assert text.rstrip().splitlines()[-1] == (
        f"Plan: {s['create']} to create, {s['update']} to update, {s['replace']} to replace, "
        f"{s['delete']} to delete, {s['forget']} to forget."
    )
    for change in doc["changes"]:
        if change["action"] == "no-op":
            continue
        line = next(ln for ln in text.splitlines() if f" {change['address']} " in ln and "members" in ln)
        assert line.strip().startswith(f"{ACTION_SYMBOLS[change['action']]} {change['action']} ")
        assert f" {change['provider']} " in line
        m = change["members"]
        assert f"{m['before']:,} → {m['after']:,}" in line


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_no_rendering_holds_raw_pii(fmt: str) -> None:
    rendered = render(sample_plan().to_dict(), fmt)
    text = rendered if isinstance(rendered, str) else rendered.plain
    for value in RAW_PII:
        assert value not in text
        assert value.lstrip("+") not in text
    assert mask(RAW_PII[0]) in text  # the masked sample is shown instead


def test_json_rendering_round_trips() -> None:
    plan = sample_plan()
    assert Plan.from_dict(json.loads(render_json(plan.to_dict()))).to_dict() == plan.to_dict()
