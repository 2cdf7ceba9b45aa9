"""The decision table of diff.py: one test per rule, on hand-built declarations and state."""

from __future__ import annotations

import dataclasses

import pytest
from planhelpers import applied_state, desired, loader, members, spec

from reconciler.config.model import AudienceSpec
from reconciler.planning.diff import Desired, attribute_changes, diff, settings_digest, settings_record
from reconciler.planning.plan import Action, Change
from reconciler.sources.members import MemberSet
from reconciler.state.store import Intent, State


def plan_one(before: State, after: dict[str, Desired], sets: dict[str, MemberSet]) -> Change:
    """The single change of planning `after` against the state `before`."""
    changes, _warnings = diff(after, before, loader(sets))
    assert len(changes) == 1
    return changes[0]


def baseline(s: AudienceSpec, m: MemberSet) -> tuple[State, dict[str, MemberSet]]:
    """The state an apply of audience `s` with members `m` leaves."""
    return applied_state(desired((s, m)))


def test_create_when_only_in_config() -> None:
    want = desired((spec("vip", "whop"), members(range(5))))
    state, _ = applied_state({})
    changes, _ = diff(want, state, loader({}))
    (c,) = changes
    assert (c.action, c.strategy, c.reasons) == (Action.CREATE, "create", ["added_to_config"])
    assert (c.members.before, c.members.after, c.members.added) == (0, 5, 5)


@pytest.mark.parametrize("provider", ["commbox", "whop", "smallest"])
def test_same_inputs_is_noop(provider: str) -> None:
    s = spec("vip", provider)  # type: ignore[arg-type]
    before, sets = baseline(s, members(range(20)))
    c = plan_one(before, desired((s, members(range(20)))), sets)
    assert c.action is Action.NOOP and c.reasons == [] and c.strategy is None


@pytest.mark.parametrize(
    ("provider", "action", "strategy"),
    [("commbox", Action.UPDATE, "put_replace"), ("smallest", Action.UPDATE, "add_remove_members"),
     ("whop", Action.REPLACE, "create_then_delete")],
)
def test_members_added_and_removed(provider: str, action: Action, strategy: str) -> None:
    s = spec("vip", provider)  # type: ignore[arg-type]
    before, sets = baseline(s, members(range(20)))
    c = plan_one(before, desired((s, members(range(3, 25)))), sets)
    assert (c.action, c.strategy) == (action, strategy)
    assert (c.members.before, c.members.after, c.members.added, c.members.removed) == (20, 22, 5, 3)
    assert ("members_removed" in c.reasons) == (provider == "whop")


def test_whop_only_additions_append() -> None:
    s = spec("buyers", "whop")
    before, sets = baseline(s, members(range(10)))
    c = plan_one(before, desired((s, members(range(12)))), sets)
    assert (c.action, c.strategy, c.reasons) == (Action.UPDATE, "append", ["members_changed"])
    assert (c.members.added, c.members.removed) == (2, 0)


def test_changed_attributes_counted_and_whop_replaces() -> None:
    s = spec("buyers", "whop")
    before, sets = baseline(s, members(range(10), attr=1))
    new = members(range(10), attr=1)
    new.attrs[[2, 5]] = 9
    c = plan_one(before, desired((s, new)), sets)
    assert c.members.changed == 2 and c.members.added == 0 and c.members.removed == 0
    assert (c.action, c.strategy, c.reasons) == (Action.REPLACE, "create_then_delete", ["attributes_changed"])


def test_smallest_changed_attributes_are_an_update() -> None:
    s = spec("callers", "smallest")
    before, sets = baseline(s, members(range(10), attr=1))
    c = plan_one(before, desired((s, members(range(10), attr=2))), sets)
    assert (c.action, c.strategy, c.members.changed) == (Action.UPDATE, "add_remove_members", 10)


def test_whop_rename_is_patch_and_combines_with_append() -> None:
    s = spec("buyers", "whop")
    before, sets = baseline(s, members(range(10)))
    renamed = dataclasses.replace(s, name="Buyers 2026")
    c = plan_one(before, desired((renamed, members(range(10)))), sets)
    assert (c.action, c.strategy, c.reasons) == (Action.UPDATE, "patch_rename", ["name_changed"])
    assert c.attribute_changes["name"] == {"before": "buyers audience", "after": "Buyers 2026"}
    c = plan_one(before, desired((renamed, members(range(11)))), sets)
    assert (c.action, c.strategy) == (Action.UPDATE, "append")
    assert c.reasons == ["name_changed", "members_changed"]


def test_rename_replaces_on_commbox_and_smallest() -> None:
    for provider, strategy in (("commbox", "create_then_forget"), ("smallest", "create_then_delete")):
        s = spec("vip", provider)  # type: ignore[arg-type]
        before, sets = baseline(s, members(range(10)))
        c = plan_one(before, desired((dataclasses.replace(s, name="New"), members(range(10)))), sets)
        assert (c.action, c.strategy, c.reasons) == (Action.REPLACE, strategy, ["name_changed"])
        assert any("stays there, unmanaged" in w for w in c.warnings) == (provider == "commbox")


def test_smallest_description_change_replaces_with_deepdiff_detail() -> None:
    s = spec("callers", "smallest", description="old")
    before, sets = baseline(s, members(range(10)))
    c = plan_one(before, desired((dataclasses.replace(s, description="new"), members(range(10)))), sets)
    assert (c.action, c.reasons) == (Action.REPLACE, ["description_changed"])
    assert c.attribute_changes == {"description": {"before": "old", "after": "new"}}


def test_description_is_not_seen_by_commbox() -> None:
    s = spec("vip", "commbox", description="old")
    before, sets = baseline(s, members(range(10)))
    c = plan_one(before, desired((dataclasses.replace(s, description="new"), members(range(10)))), sets)
    assert c.action is Action.NOOP


def test_whop_account_change_replaces() -> None:
    s = spec("buyers", "whop")
    want = desired((s, members(range(4))), settings={"whop": {"account_id": "biz_1"}})
    state, sets = applied_state(want)
    moved = desired((s, members(range(4))), settings={"whop": {"account_id": "biz_2"}})
    (c,), _ = diff(moved, state, loader(sets))
    assert (c.action, c.reasons) == (Action.REPLACE, ["settings_changed"])
    assert c.attribute_changes == {"settings.account_id": {"before": "biz_1", "after": "biz_2"}}


def test_provider_change_replaces_and_forgets_old_commbox() -> None:
    old = spec("vip", "commbox")
    before, sets = baseline(old, members(range(5)))
    c = plan_one(before, desired((spec("vip", "whop"), members(range(5)))), sets)
    assert c.action is Action.REPLACE and "provider_changed" in c.reasons
    assert c.strategy == "create_then_forget"
    assert c.attribute_changes["provider"] == {"before": "commbox", "after": "whop"}


def test_columns_change_is_put_on_commbox_and_replace_on_smallest() -> None:
    for provider, action in (("commbox", Action.UPDATE), ("smallest", Action.REPLACE)):
        s = spec("a", provider)  # type: ignore[arg-type]
        before, sets = baseline(s, members(range(3)))
        # CommBox uploads last_name as its own column; Smallest names its phone column after the source's
        moved = dataclasses.replace(s, columns={"phone": "Phone number", "first_name": "First",
                                                "last_name": "Last"})
        c = plan_one(before, desired((moved, members(range(3)))), sets)
        assert c.action is action, provider
        assert "columns_changed" in c.reasons


@pytest.mark.parametrize(("provider", "action"), [("whop", Action.DELETE), ("smallest", Action.DELETE),
                                                  ("commbox", Action.FORGET)])
def test_removed_from_config(provider: str, action: Action) -> None:
    s = spec("old", provider)  # type: ignore[arg-type]
    before, sets = baseline(s, members(range(8)))
    c = plan_one(before, {}, sets)
    assert (c.action, c.reasons) == (action, ["removed_from_config"])
    assert (c.members.before, c.members.after, c.members.removed) == (8, 0, 8)
    if provider == "commbox":
        assert c.warnings == ["CommBox cannot delete: audience id-old stays there, unmanaged"]


def test_replace_requested_and_targets() -> None:
    a, b = spec("a", "smallest"), spec("b", "whop")
    want = desired((a, members(range(3))), (b, members(range(3))))
    state, sets = applied_state(want)
    changes, _ = diff(want, state, loader(sets), replace={"a"})
    assert [(c.address, c.action, c.reasons) for c in changes] == [
        ("a", Action.REPLACE, ["replace_requested"]), ("b", Action.NOOP, [])]
    changes, _ = diff({}, state, loader(sets), keys={"b"})
    assert [(c.address, c.action) for c in changes] == [("b", Action.DELETE)]


def test_intent_warnings_attach_to_their_audience() -> None:
    s = spec("a", "whop")
    want = desired((s, members(range(3))))
    state, sets = applied_state(want)
    state.intents = [
        Intent(id="i1", key="a", provider="whop", operation="create", name="a", started_at="t0"),
        Intent(id="i2", key="ghost", provider="whop", operation="delete", name="g", started_at="t1",
               provider_id="adaud_9"),
    ]
    (c,), plan_warnings = diff(want, state, loader(sets))
    assert c.action is Action.NOOP and len(c.warnings) == 1 and "interrupted during create" in c.warnings[0]
    assert len(plan_warnings) == 1 and plan_warnings[0].startswith("ghost: ")
    assert "adaud_9" in plan_warnings[0]


def test_settings_digest_is_canonical_and_sensitive() -> None:
    s = spec("a", "whop")
    assert settings_digest(s, {"account_id": "x"}) == settings_digest(s, {"account_id": "x", "ignored": 1})
    assert settings_digest(s, {"account_id": "x"}) != settings_digest(s, {"account_id": "y"})
    assert settings_digest(s, {}) != settings_digest(dataclasses.replace(s, name="b"), {})
    assert settings_record(s, {})["columns"]["phone"]


def test_attribute_changes_paths() -> None:
    changes = attribute_changes({"name": "a", "columns": {"phone": "x"}},
                                {"name": "b", "columns": {"phone": "x", "email": "e"}})
    assert changes == {"columns.email": {"before": None, "after": "e"},
                       "name": {"before": "a", "after": "b"}}


def test_legacy_state_without_record_reports_settings_changed() -> None:
    s = spec("a", "smallest")
    before, sets = baseline(s, members(range(3)))
    entry = before.audiences["a"]
    entry.extra = {}
    entry.settings_digest = "0" * 64
    c = plan_one(before, desired((s, members(range(3)))), sets)
    assert (c.action, c.reasons) == (Action.REPLACE, ["settings_changed"])
