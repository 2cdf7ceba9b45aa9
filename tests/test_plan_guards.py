"""Safety guards: shrink and protect refusals, and the flags that allow them."""

from __future__ import annotations

import dataclasses

from planhelpers import applied_state, desired, loader, members, spec

from reconciler.config.model import AudienceSpec
from reconciler.planning.diff import diff
from reconciler.planning.guards import apply_guards
from reconciler.planning.plan import Action, Change
from reconciler.state.store import State


def planned(old: AudienceSpec | None, new: AudienceSpec | None, before: range, after: range,
            **allow: list[str]) -> tuple[Change, State]:
    state, sets = applied_state(desired((old, members(before))) if old else {})
    want = desired((new, members(after))) if new else {}
    changes, _ = diff(want, state, loader(sets))
    specs = {k: d.spec for k, d in want.items()}
    apply_guards(changes, specs, state, **allow)
    (change,) = changes
    return change, state


def test_shrink_over_limit_is_refused_and_can_be_allowed() -> None:
    s = spec("vip", "commbox", max_shrink=0.3, shrink_min_members=10)
    c, _ = planned(s, s, range(100), range(31, 100))  # loses 31%
    assert c.action is Action.UPDATE and c.guard is not None
    assert c.guard.rule == "shrink" and c.guard.allow_flag == "--allow-shrink vip"
    assert "31 of 100" in c.guard.message
    c, _ = planned(s, s, range(100), range(31, 100), allow_shrink=["vip"])
    assert c.guard is None


def test_shrink_at_limit_or_small_audience_passes() -> None:
    s = spec("vip", "smallest", max_shrink=0.3, shrink_min_members=10)
    c, _ = planned(s, s, range(100), range(30, 100))  # exactly 30%
    assert c.guard is None
    c, _ = planned(s, s, range(9), range(0))  # under shrink_min_members
    assert c.guard is None


def test_whop_replace_for_removals_is_shrink_guarded() -> None:
    s = spec("buyers", "whop", max_shrink=0.1)
    c, _ = planned(s, s, range(50), range(10, 50))
    assert c.action is Action.REPLACE and c.guard is not None and c.guard.rule == "shrink"


def test_protected_replace_refused_unless_allowed() -> None:
    s = spec("vip", "smallest", protect=True)
    c, _ = planned(s, dataclasses.replace(s, name="Renamed"), range(5), range(5))
    assert c.action is Action.REPLACE and c.guard is not None
    assert (c.guard.rule, c.guard.allow_flag) == ("protect", "--allow-destroy vip")
    c, _ = planned(s, dataclasses.replace(s, name="Renamed"), range(5), range(5), allow_destroy=["vip"])
    assert c.guard is None


def test_protect_recorded_in_state_guards_removed_audience() -> None:
    s = spec("legacy", "commbox", protect=True)
    c, state = planned(s, None, range(5), range(0))
    assert state.audiences["legacy"].extra["protect"] is True
    assert c.action is Action.FORGET and c.guard is not None and c.guard.rule == "protect"
    unprotected = spec("legacy", "whop")
    c, _ = planned(unprotected, None, range(5), range(0))
    assert c.action is Action.DELETE and c.guard is None


def test_protected_update_is_not_a_destroy() -> None:
    s = spec("vip", "commbox", protect=True)
    c, _ = planned(s, s, range(20), range(25))
    assert c.action is Action.UPDATE and c.guard is None


def test_both_guards_reported_together() -> None:
    s = spec("vip", "whop", protect=True, max_shrink=0.1)
    c, _ = planned(s, s, range(100), range(50, 100))
    assert c.guard is not None
    assert c.guard.rule == "protect,shrink"
    assert c.guard.allow_flag == "--allow-destroy vip --allow-shrink vip"
