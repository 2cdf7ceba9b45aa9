"""Fuzz the saved-plan reader and verifier: any mutation of a saved plan, signed again by a holder
of the key or not, ends either in a clean refusal (a ReconcilerError) or in the identical plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apply_support import make_project
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import ReconcilerError
from reconciler.planning.engine import (
    PlanOptions,
    Project,
    check_plan_current,
    load_project,
    make_plan,
    options_of,
    plan_checksum_key,
)
from reconciler.planning.planfile import canonical, checksum, dumps, load_plan
from reconciler.planning.verify import verify_saved_plan
from reconciler.state.store import State, StateStore

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
    | st.sampled_from(["delete", "update", "replace", "forget", "no-op", "create", "callers", "vip"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, dict[str, Any], Path]:
    """A project whose state holds a stored key (so the checksum is keyed), and its saved plan."""
    root = tmp_path_factory.mktemp("fuzz")
    files = make_project(root, {"vip.csv": 20, "callers.csv": 5, "buyers.csv": 5})
    files.audiences.pop("buyers")  # Whop would need WHOP_ACCOUNT_ID in this process's environment
    files.write()
    store = StateStore(files.state)
    state = State()
    store.fingerprint_key(state)
    store.save(state)
    project = load_project(files.config, files.state)
    plan = make_plan(project, PlanOptions(allow_shrink=["vip"]))
    doc = json.loads(dumps(plan, plan_checksum_key(project)))
    return project, doc, root / "plan.json"


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*here, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*here, i))
    return found


def _mutate(doc: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    mutated = json.loads(json.dumps(doc))
    path = data.draw(st.sampled_from(_paths(mutated)[1:]))
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    how = data.draw(st.sampled_from(["replace", "delete", "add", "duplicate"]))
    if how == "replace":
        parent[last] = data.draw(JSON_VALUES)
    elif how == "delete":
        del parent[last]
    elif how == "add" and isinstance(parent[last], dict):
        parent[last][data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
    elif how == "duplicate" and isinstance(parent[last], list) and parent[last]:
        parent[last].append(parent[last][0])
    return mutated


def _apply_side(project: Project, path: Path) -> Any:
    """What `apply PLANFILE` does before it calls a provider: read, check, re-derive, verify."""
    plan, document = load_plan(path)
    check_plan_current(plan, project)
    derived = make_plan(project, options_of(plan.inputs))
    verify_saved_plan(document, str(path), derived, plan_checksum_key(project))
    return derived


@given(data=st.data(), resign=st.booleans())
def test_any_mutation_is_refused_or_changes_nothing(
    setup: tuple[Project, dict[str, Any], Path], data: st.DataObject, resign: bool
) -> None:
    project, original, path = setup
    mutated = _mutate(original, data)
    if resign:  # what only a holder of the fingerprint key can do
        mutated["checksum"] = checksum(mutated, plan_checksum_key(project))
    path.write_text(json.dumps(mutated), encoding="utf-8")
    try:
        derived = _apply_side(project, path)
    except ReconcilerError:
        return
    if not resign:
        assert canonical(mutated) == canonical(original)
    # A re-signed file is carried out only when it says what the original says: the same changes,
    # summary and warnings (its flags may differ only where they change nothing, e.g. an
    # --allow-shrink of an audience that does not shrink), and what runs is that same plan.
    carried_out = derived.to_dict()
    for key in ("changes", "summary", "warnings", "format_version"):
        assert mutated[key] == original[key] == carried_out[key]
    for key in ("config_sha256", "sources", "state_lineage", "state_serial", "targets"):
        assert mutated["inputs"][key] == original["inputs"][key]


@given(cut=st.integers(min_value=0), flip=st.integers(min_value=0), byte=st.binary(min_size=1, max_size=1))
def test_damaged_bytes_are_refused_or_change_nothing(
    setup: tuple[Project, dict[str, Any], Path], cut: int, flip: int, byte: bytes
) -> None:
    project, original, path = setup
    text = json.dumps(original, indent=2).encode("utf-8")
    position = flip % len(text)
    damaged = (text[:position] + byte + text[position + 1 :])[: len(text) - cut % 50]
    path.write_bytes(damaged)
    try:
        _apply_side(project, path)
    except ReconcilerError:
        return
    assert canonical(json.loads(damaged)) == canonical(original)
