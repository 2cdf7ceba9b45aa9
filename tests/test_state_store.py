"""StateStore load/save: round trip, serial and lineage, member files, history, GC, concurrency."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from reconciler.errors import StateError
from reconciler.sources.members import MemberSet
from reconciler.state.store import AudienceState, State, StateStore


def members(*ids: int) -> MemberSet:
    return MemberSet(list(ids), [i * 7 % 2**32 for i in ids])


def entry(key: str, **kw: object) -> AudienceState:
    return AudienceState(key=key, provider="commbox", provider_id=f"id-{key}", name=f"Name {key}", **kw)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state", history=3)


def test_empty_directory_loads_as_empty_state(store: StateStore) -> None:
    state = store.load()
    assert state.lineage is None and state.serial == 0 and state.audiences == {} and state.intents == []
    assert not store.directory.exists()  # loading never creates anything


def test_first_save_creates_lineage_and_serial_one(store: StateStore) -> None:
    state = store.load()
    state.audiences["vip"] = entry("vip")
    returned = store.save(state)
    assert returned is state
    assert state.serial == 1
    assert state.lineage is not None and len(state.lineage) == 36
    doc = json.loads(store.state_file.read_text())
    assert doc["format_version"] == 1 and doc["serial"] == 1 and doc["lineage"] == state.lineage
    assert doc["audiences"]["vip"]["provider_id"] == "id-vip"


def test_round_trip_preserves_every_field(store: StateStore) -> None:
    state = State()
    state.audiences["a"] = entry(
        "a",
        settings_digest="s" * 8,
        source_sha256="f" * 64,
        applied_at="2026-01-02T03:04:05Z",
        extra={"kind": "static", "n": [1, 2]},
    )
    intent = state.add_intent("a", "commbox", "create", "Name a", details={"try": 1})
    store.save(state, {"a": members(1, 2, 3)})
    loaded = store.load()
    assert loaded.audiences == state.audiences
    assert loaded.intents == [intent]
    assert loaded.lineage == state.lineage and loaded.serial == state.serial
    assert loaded.fingerprint_key == state.fingerprint_key != ""


def test_serial_grows_and_lineage_stays(store: StateStore) -> None:
    state = store.save(State())
    lineage = state.lineage
    for expected in (2, 3, 4):
        state = store.save(store.load())
        assert state.serial == expected and state.lineage == lineage


def test_member_set_written_content_addressed(store: StateStore) -> None:
    state = State(audiences={"vip": entry("vip")})
    ms = members(5, 3, 9)
    store.save(state, {"vip": ms})
    digest = state.audiences["vip"].member_digest
    assert digest == ms.digest()
    assert state.audiences["vip"].member_count == 3
    path = store.directory / "members" / f"{digest}.fp"
    assert path.read_bytes() == ms.to_bytes()
    loaded = store.members(store.load().audiences["vip"])
    assert np.array_equal(loaded.ids, ms.ids) and np.array_equal(loaded.attrs, ms.attrs)


def test_members_of_entry_without_digest_is_empty(store: StateStore) -> None:
    assert len(store.members(entry("x"))) == 0


def test_two_audiences_with_same_members_share_one_file(store: StateStore) -> None:
    state = State(audiences={"a": entry("a"), "b": entry("b")})
    store.save(state, {"a": members(1, 2), "b": members(1, 2)})
    assert len(list((store.directory / "members").iterdir())) == 1


def test_member_sets_for_unknown_audience_is_a_programming_error(store: StateStore) -> None:
    with pytest.raises(ValueError, match="nope"):
        store.save(State(), {"nope": members(1)})
    assert not store.state_file.exists()


def test_history_keeps_last_n_versions_named_by_serial(store: StateStore) -> None:
    state = store.save(State())
    for _ in range(5):
        state = store.save(state)
    names = sorted(p.name for p in (store.directory / "history").iterdir())
    assert [n.split("-")[0] for n in names] == ["00000003", "00000004", "00000005"]
    kept = json.loads((store.directory / "history" / names[-1]).read_text())
    assert kept["serial"] == 5 and kept["lineage"] == state.lineage


def test_gc_deletes_member_files_only_when_no_kept_version_refers_to_them(store: StateStore) -> None:
    state = State(audiences={"vip": entry("vip")})
    store.save(state, {"vip": members(1)})
    first = state.audiences["vip"].member_digest
    store.save(state, {"vip": members(2)})
    files = lambda: {p.stem for p in (store.directory / "members").iterdir()}  # noqa: E731
    assert first in files()  # the previous version in history still refers to it
    for _ in range(3):  # push that version out of the 3 kept
        store.save(state)
    assert files() == {state.audiences["vip"].member_digest}


def test_gc_keeps_everything_when_a_history_version_is_unreadable(store: StateStore) -> None:
    state = State(audiences={"vip": entry("vip")})
    store.save(state, {"vip": members(1)})
    first = state.audiences["vip"].member_digest
    store.save(state, {"vip": members(2)})
    next((store.directory / "history").iterdir()).write_text("{broken")
    state.audiences["vip"].member_digest = ""
    store.save(state)
    assert first in {p.stem for p in (store.directory / "members").iterdir()}


def test_no_temp_files_left_behind(store: StateStore) -> None:
    state = State(audiences={"vip": entry("vip")})
    store.save(state, {"vip": members(1, 2)})
    store.save(state, {"vip": members(3)})
    leftovers = [p for p in store.directory.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_save_refuses_when_someone_else_wrote_since_load(store: StateStore) -> None:
    store.save(State())
    mine, theirs = store.load(), store.load()
    store.save(theirs)
    before = store.state_file.read_bytes()
    with pytest.raises(StateError, match="changed since this run loaded it"):
        store.save(mine)
    assert store.state_file.read_bytes() == before
    assert mine.serial == 1  # not bumped by a refused save


def test_save_refuses_when_state_appeared_since_an_empty_load(store: StateStore) -> None:
    empty = store.load()
    store.save(store.load())
    with pytest.raises(StateError, match="changed since"):
        store.save(empty)


def test_save_refuses_to_overwrite_an_unreadable_state_file(store: StateStore) -> None:
    state = store.save(State())
    store.state_file.write_text('{"format_version": 1, oops')
    with pytest.raises(StateError, match="corrupt"):
        store.save(state)
    assert store.state_file.read_text() == '{"format_version": 1, oops'


def test_save_refuses_a_state_referring_to_a_missing_member_file(store: StateStore) -> None:
    state = State(audiences={"vip": entry("vip", member_digest="a" * 64)})
    with pytest.raises(StateError, match="does not exist"):
        store.save(state)
    assert not store.state_file.exists()


def test_missing_member_file_is_a_state_error_naming_it(store: StateStore) -> None:
    state = State(audiences={"vip": entry("vip")})
    store.save(state, {"vip": members(1, 2)})
    path = store.directory / "members" / f"{state.audiences['vip'].member_digest}.fp"
    path.unlink()
    with pytest.raises(StateError, match=str(path.name)):
        store.members(store.load().audiences["vip"])


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # truncated: not a multiple of 12
        lambda data: bytes([data[0] ^ 1]) + data[1:],  # one bit flipped
        lambda data: b"",
    ],
)
def test_corrupt_member_file_is_a_state_error(store: StateStore, damage: object) -> None:
    state = State(audiences={"vip": entry("vip")})
    store.save(state, {"vip": members(1, 2, 3)})
    path = store.directory / "members" / f"{state.audiences['vip'].member_digest}.fp"
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(StateError, match="corrupt") as info:
        store.members(store.load().audiences["vip"])
    assert path.name in str(info.value)


def test_saving_again_repairs_a_damaged_member_file(store: StateStore) -> None:
    state = State(audiences={"vip": entry("vip")})
    ms = members(1, 2, 3)
    store.save(state, {"vip": ms})
    path = store.directory / "members" / f"{ms.digest()}.fp"
    path.write_bytes(b"\0" * len(ms.to_bytes()))  # same size, wrong content
    store.save(state, {"vip": ms})
    assert path.read_bytes() == ms.to_bytes()


def test_invalid_digest_in_entry_never_reads_outside_the_directory(store: StateStore) -> None:
    with pytest.raises(StateError, match="invalid member_digest"):
        store.members(entry("vip", member_digest="../../etc/passwd"))


def test_unusable_directory_is_a_state_error_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = StateStore(blocker / "state")
    with pytest.raises(StateError, match="cannot"):
        store.save(State())
    with pytest.raises(StateError, match="cannot"):
        store.load()


def test_write_failure_leaves_old_state_and_caller_object_untouched(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = State(audiences={"vip": entry("vip")})
    store.save(state, {"vip": members(1)})
    before_bytes, before_digest = store.state_file.read_bytes(), state.audiences["vip"].member_digest
    real_replace = os.replace

    def failing_replace(src: object, dst: object) -> None:
        if str(dst).endswith("state.json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(StateError, match="No space left"):
        store.save(state, {"vip": members(2)})
    assert store.state_file.read_bytes() == before_bytes
    assert state.serial == 1 and state.audiences["vip"].member_digest == before_digest
    assert not [p for p in store.directory.iterdir() if p.name.endswith(".tmp")]


def test_state_json_is_stable_and_sorted(store: StateStore) -> None:
    state = State(audiences={"b": entry("b"), "a": entry("a")})
    store.save(state)
    text = store.state_file.read_text()
    assert text.index('"a"') < text.index('"b"') and text.endswith("\n")


def test_intent_helpers_are_pure_and_round_trip(store: StateStore) -> None:
    state = State()
    first = state.add_intent("vip", "commbox", "create", "VIP")
    second = state.add_intent("vip", "commbox", "replace_members", "VIP", provider_id="42")
    assert state.pending_intents == [first, second] and first.id != second.id
    assert state.settle_intent(first.id) is first
    assert state.pending_intents == [second]
    with pytest.raises(KeyError):
        state.settle_intent(first.id)
    assert not store.directory.exists()  # no I/O happened
    store.save(state)
    assert store.load().pending_intents == [second]


def test_rename_moves_entry_and_its_intents(store: StateStore) -> None:
    state = State(audiences={"old": entry("old"), "other": entry("other")})
    intent = state.add_intent("old", "commbox", "create", "x")
    state.rename_audience("old", "new")
    assert set(state.audiences) == {"new", "other"} and state.audiences["new"].key == "new"
    assert intent.key == "new"
    with pytest.raises(StateError, match="already exists"):
        state.rename_audience("new", "other")
    with pytest.raises(StateError, match="no audience 'gone'"):
        state.remove_audience("gone")


def test_state_directory_ignores_its_lock_and_temp_files_in_git(store: StateStore) -> None:
    store.save(State())
    patterns = (store.directory / ".gitignore").read_text().splitlines()
    assert ".lock" in patterns and ".lock-*" in patterns and ".*.tmp" in patterns
