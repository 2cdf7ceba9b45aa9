"""Markdown rendering: size limit with visible trimming, escaping, no-op audiences counted only."""

from __future__ import annotations

from planhelpers import applied_state, desired, loader, members, spec

from reconciler.planning.diff import diff
from reconciler.planning.guards import apply_guards
from reconciler.planning.plan import Inputs, Plan
from reconciler.render import render_markdown, render_text
from reconciler.render.markdown import LIMIT


def big_plan(changing: int, unchanged: int = 0, key_len: int = 40, worst: bool = True) -> Plan:
    """`changing` CommBox audiences losing half their members; `worst`: each also renamed (replace,
    warning) and protected (refused twice)."""
    keys = [f"k{i:04d}-" + "x" * (key_len - 6) for i in range(changing + unchanged)]
    before = desired(*[(spec(k, "commbox", name=f"N {k}", protect=worst), members(range(100))) for k in keys])
    state, sets = applied_state(before)
    after = desired(*[
        (spec(k, "commbox", name=(f"Renamed {k}" if i < changing and worst else f"N {k}"), protect=worst),
         members(range(50, 100) if i < changing else range(100)))
        for i, k in enumerate(keys)
    ])
    changes, warnings = diff(after, state, loader(sets))
    apply_guards(changes, {k: d.spec for k, d in after.items()}, state)
    return Plan(changes=changes, inputs=Inputs(config="audiences.yaml", config_sha256="0" * 64),
                warnings=warnings)


def test_500_changing_audiences_fit_with_visible_note() -> None:
    doc = big_plan(500, unchanged=20).to_dict()
    text = render_markdown(doc)
    assert len(text) <= LIMIT
    assert "**Plan: 0 to create, 0 to update, 500 to replace, 0 to delete.**" in text
    assert "20 unchanged audiences not listed." in text
    assert "omitted" in text or "more" in text  # the trimming is announced
    assert text.count("<details>") == text.count("</details>")


def test_500_plain_updates_list_every_audience_in_the_table() -> None:
    text = render_markdown(big_plan(500, key_len=20, worst=False).to_dict())
    assert len(text) <= LIMIT
    assert sum(1 for line in text.splitlines() if line.startswith("| ~ |")) == 500
    assert "more changing audiences not shown" not in text


def test_trimming_keeps_refusals_first_and_all_within_limit() -> None:
    for limit in (3_000, 10_000, 30_000):
        text = render_markdown(big_plan(120).to_dict(), limit=limit)
        assert len(text) <= limit
        assert "[!CAUTION]" in text
        assert text.count("<details>") == text.count("</details>")


def test_small_plan_is_not_trimmed() -> None:
    doc = big_plan(3, unchanged=2).to_dict()
    text = render_markdown(doc)
    assert "omitted" not in text and "more changing" not in text
    assert text.count("<details>") == 3
    for change in doc["changes"]:  # no-op audiences are counted, not listed
        assert (change["address"] in text) == (change["action"] != "no-op")


def test_markdown_escapes_names_and_keys() -> None:
    s = spec("evil", "whop", name="a | b <script>alert(1)</script>")
    state, sets = applied_state(desired((spec("evil", "whop", name="plain"), members(range(3)))))
    changes, _ = diff(desired((s, members(range(3)))), state, loader(sets))
    doc = Plan(changes=changes, inputs=Inputs(config="a.yaml", config_sha256="0")).to_dict()
    text = render_markdown(doc)
    assert "<script>" not in text and "&lt;script&gt;" in text
    table_rows = [ln for ln in text.splitlines() if ln.startswith("| ~")]
    assert len(table_rows) == 1 and table_rows[0].count(" | ") == 6


def test_no_changes_rendering() -> None:
    state, sets = applied_state(want := desired((spec("a", "whop"), members(range(3)))))
    changes, _ = diff(want, state, loader(sets))
    doc = Plan(changes=changes, inputs=Inputs(config="a.yaml", config_sha256="0")).to_dict()
    last = render_text(doc).plain.rstrip().splitlines()[-1]
    assert last == "No changes. 1 audience matches the declaration and the state."
    md = render_markdown(doc)
    assert "No changes." in md and "<details>" not in md and "| audience |" not in md


def test_warnings_of_unchanged_audiences_are_shown() -> None:
    from reconciler.state.store import Intent

    state, sets = applied_state(want := desired((spec("a", "whop"), members(range(3)))))
    state.intents = [Intent(id="i9", key="a", provider="whop", operation="rename", name="a",
                            started_at="t", provider_id="adaud_1")]
    changes, _ = diff(want, state, loader(sets))
    doc = Plan(changes=changes, inputs=Inputs(config="a.yaml", config_sha256="0")).to_dict()
    for text in (render_markdown(doc), render_text(doc).plain):
        assert "interrupted during rename of audience adaud_1" in text
        assert "No changes." in text
