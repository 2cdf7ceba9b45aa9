"""Hypothesis properties of planning over real sources and state:
(a) planning against the state an apply of the same inputs leaves gives only no-op;
(b) re-ordering and re-formatting source rows gives no-op;
(c) adding k and removing j members reports exactly +k / -j.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from planhelpers import apply_project, phone, write_csv, write_project

from reconciler.planning.engine import PlanOptions, load_project, make_plan
from reconciler.planning.plan import Action, Plan

PROPERTY_SETTINGS = settings(max_examples=25)
ids = st.sets(st.integers(min_value=0, max_value=999), min_size=0, max_size=40)


@contextmanager
def project(vip: set[int], callers: set[int], buyers: set[int]) -> Iterator[Path]:
    os.environ.pop("RECONCILER_FINGERPRINT_KEY", None)
    with tempfile.TemporaryDirectory() as tmp:
        yield write_project(Path(tmp), vip=sorted(vip), callers=sorted(callers), buyers=sorted(buyers))


def plan(config: Path) -> Plan:
    return make_plan(load_project(config, config.parent / "state"), PlanOptions())


def phone_formats(i: int) -> list[str]:
    """The same number as users write it in different ways."""
    digits = f"212555{i:04d}"
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    return [phone(i), f"({area}) {exchange}-{line}", f"{area}.{exchange}.{line}", f" {digits} ",
            f"1-{area}-{exchange}-{line}", f"+1 {area} {exchange} {line}"]


@PROPERTY_SETTINGS
@given(vip=ids, callers=ids, buyers=ids)
def test_plan_after_apply_of_same_inputs_is_noop(vip: set[int], callers: set[int], buyers: set[int]) -> None:
    with project(vip, callers, buyers) as config:
        apply_project(config)
        result = plan(config)
        assert [c.action for c in result.changes] == [Action.NOOP] * 3
        assert all(c.members.before == c.members.after for c in result.changes)


@PROPERTY_SETTINGS
@given(members=st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=30, unique=True),
       data=st.data())
def test_reordered_and_reformatted_rows_are_noop(members: list[int], data: st.DataObject) -> None:
    with project(set(members), set(members), set(members)) as config:
        apply_project(config)
        order = data.draw(st.permutations(members))
        vip_rows = [f"{data.draw(st.sampled_from(phone_formats(i)))},Name{i}" for i in order]
        write_csv(config.parent / "data/vip.csv", "Mobile,First", vip_rows)
        write_csv(config.parent / "data/callers.csv", "Phone",
                  [data.draw(st.sampled_from(phone_formats(i))) for i in order])
        email_forms = [lambda i: f"user{i}@example.com", lambda i: f" USER{i}@Example.COM ",
                       lambda i: f"User{i}@example.com"]
        write_csv(config.parent / "data/buyers.csv", "Email,First",
                  [f"{data.draw(st.sampled_from(email_forms))(i)},B{i}" for i in order])
        result = plan(config)
        assert [c.action for c in result.changes] == [Action.NOOP] * 3


@PROPERTY_SETTINGS
@given(start=st.sets(st.integers(min_value=0, max_value=499), min_size=1, max_size=40), data=st.data())
def test_adding_k_and_removing_j_reports_exactly_k_and_j(start: set[int], data: st.DataObject) -> None:
    removed = data.draw(st.sets(st.sampled_from(sorted(start)), max_size=len(start)))
    added = data.draw(st.sets(st.integers(min_value=500, max_value=999), max_size=20))
    after = (start - removed) | added
    with project(start, start, start) as config:
        apply_project(config)
        write_project(config.parent, vip=sorted(after), callers=sorted(after), buyers=sorted(after))
        result = plan(config)
        for change in result.changes:
            m = change.members
            assert (m.before, m.after, m.added, m.removed, m.changed) == (
                len(start), len(after), len(added), len(removed), 0), change.address
            expect_noop = not added and not removed
            assert (change.action is Action.NOOP) == expect_noop
