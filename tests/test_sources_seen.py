"""seen.TagSet / identity_tags and iter_members' de-duplication: first occurrence wins, in order."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sources_support import make_spec, write_csv

from reconciler.sources import iter_members, parallel
from reconciler.sources.seen import TagSet, identity_tags, new_tag_key


def _first_positions(values: list[int]) -> list[int]:
    seen: set[int] = set()
    keep = []
    for index, value in enumerate(values):
        if value not in seen:
            seen.add(value)
            keep.append(index)
    return keep


@given(
    values=st.lists(st.integers(0, 40), max_size=300),
    block=st.integers(1, 50),
)
@settings(max_examples=200, deadline=None)
def test_tagset_keeps_first_occurrences_across_blocks(values: list[int], block: int) -> None:
    tags = TagSet()
    kept: list[int] = []
    for start in range(0, len(values), block):
        chunk = np.array(values[start:start + block], dtype=np.uint64)
        kept.extend(start + int(i) for i in tags.first_new(chunk))
    assert kept == _first_positions(values)
    assert len(tags) == len(set(values))


def test_tagset_merges_runs_and_stays_compact() -> None:
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2**63, size=300_000, dtype=np.uint64)
    tags = TagSet()
    kept = sum(len(tags.first_new(values[i:i + 5000])) for i in range(0, len(values), 5000))
    assert kept == len(np.unique(values)) == len(tags)
    assert tags.recent.shape[0] < tags.main.shape[0]  # the small run was merged into the big one
    again = tags.first_new(values[:5000])
    assert again.shape == (0,)


def test_identity_tags_are_keyed_and_deterministic() -> None:
    key = new_tag_key()
    texts = ["phone:+14155550123", "email:a@example.com", "phone:+14155550123"]
    tags = identity_tags(texts, key)
    assert tags.dtype == np.uint64 and tags.shape == (3,)
    assert tags[0] == tags[2] != tags[1]
    assert not np.array_equal(identity_tags(texts, new_tag_key()), tags)
    assert identity_tags([], key).shape == (0,)


def _rows(count: int) -> list[list[str]]:
    # every 3rd row repeats an earlier member, in another format and with another first name
    rows = []
    for n in range(count):
        m = n - 7 if n % 3 == 2 and n >= 7 else n
        phone = f"+1415555{m:04d}" if n == m else f"(415) 555-{m:04d}"
        rows.append([phone, f"Name{n}"])
    return rows


@pytest.mark.parametrize("workers", [1, 2])
def test_iter_members_yields_first_occurrences_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(parallel, "INLINE_ROWS", 40)
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 20)
    rows = _rows(400)
    path = write_csv(tmp_path / "s.csv", [["Phone", "First"], *rows])
    spec = make_spec(path, {"phone": "Phone", "first_name": "First"})
    got = [(m.phone, m.first_name) for m in iter_members(spec, workers=workers)]
    expected, seen = [], set()
    for phone, first in rows:
        e164 = "+1" + "".join(ch for ch in phone if ch.isdigit())[-10:]
        if e164 not in seen:
            seen.add(e164)
            expected.append((e164, first))
    assert got == expected and len(got) < len(rows)


def _traced_peak(tmp_path: Path, count: int) -> int:
    """Peak traced memory of draining iter_members over `count` distinct members (inline)."""
    areas = (201, 202, 203, 205)
    path = tmp_path / f"big{count}.csv"
    with path.open("w") as out:
        out.write("Phone\n")
        out.writelines(f"+1{areas[n // 10_000]}555{n % 10_000:04d}\n" for n in range(count))
    spec = make_spec(path, {"phone": "Phone"})
    tracemalloc.start()
    try:
        seen = sum(1 for _ in iter_members(spec, workers=1))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == count
    return peak


@pytest.mark.slow
def test_iter_members_memory_grows_by_bytes_not_objects_per_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Doubling the members (20,000 more) adds under 30 bytes a member to the peak: the seen
    identities are 8-byte tags, not a Python set's ~90 bytes a member."""
    monkeypatch.setattr(parallel, "INLINE_ROWS", 1_000)
    monkeypatch.setattr(parallel, "CHUNK_ROWS", 1_000)
    small, large = _traced_peak(tmp_path, 20_000), _traced_peak(tmp_path, 40_000)
    assert large - small < 30 * 20_000, f"{(large - small) / 20_000:.0f} bytes a member"
