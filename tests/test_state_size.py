"""On-disk size of a large audience's state: at most 12 bytes a member (not a timing test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reconciler.sources.members import MemberSet
from reconciler.state.store import AudienceState, State, StateStore

N = 1_000_000


def big_member_set(seed: int = 7) -> MemberSet:
    rng = np.random.default_rng(seed)
    ids = np.unique(rng.integers(0, 2**64 - 1, N + N // 100, dtype=np.uint64))[:N]
    return MemberSet(ids, rng.integers(0, 2**32 - 1, len(ids), dtype=np.uint32))


def directory_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def test_a_million_members_take_at_most_12_bytes_each(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    members = big_member_set()
    assert len(members) == N
    state = State(audiences={"big": AudienceState("big", "smallest", "1", "Big")})
    store.save(state, {"big": members})
    for _ in range(3):  # more versions with the same members: stored once, not per version
        store.save(state)

    member_files = list((store.directory / "members").iterdir())
    assert [p.stat().st_size for p in member_files] == [12 * N]
    assert directory_bytes(store.directory) <= 12 * N + 16 * 1024  # JSON documents are small

    loaded = store.members(store.load().audiences["big"])
    assert np.array_equal(loaded.ids, members.ids) and np.array_equal(loaded.attrs, members.attrs)
