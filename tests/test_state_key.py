"""The fingerprint key: stored random secret by default, RECONCILER_FINGERPRINT_KEY never stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.sources.members import MemberSet
from reconciler.state.store import FINGERPRINT_KEY_ENV, AudienceState, State, StateStore

ENV_KEY = "ci-secret-0123456789-abcdefghij"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    monkeypatch.delenv(FINGERPRINT_KEY_ENV, raising=False)
    return StateStore(tmp_path / "state")


def save_with_members(store: StateStore, state: State) -> State:
    state.audiences["vip"] = AudienceState("vip", "commbox", "1", "VIP")
    return store.save(state, {"vip": MemberSet([1, 2], [0, 0])})


def test_empty_state_gets_a_random_key_that_persists_when_saved(store: StateStore) -> None:
    state = store.load()
    key = store.fingerprint_key(state)
    assert len(key) == 64 and int(key, 16) >= 0  # 32 random bytes, hex
    assert store.fingerprint_key(state) == key  # stable for the same object
    save_with_members(store, state)
    assert store.fingerprint_key(store.load()) == key
    assert json.loads(store.state_file.read_text())["fingerprint_key"] == key.decode()


def test_two_new_states_get_different_keys(store: StateStore, tmp_path: Path) -> None:
    other = StateStore(tmp_path / "other")
    assert store.fingerprint_key(store.load()) != other.fingerprint_key(other.load())


def test_save_records_a_key_even_if_nobody_asked_for_one(store: StateStore) -> None:
    store.save(State())
    assert len(store.load().fingerprint_key) == 64


def test_env_key_is_used_and_never_stored(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, ENV_KEY)
    state = store.load()
    assert store.fingerprint_key(state) == ENV_KEY.encode()
    save_with_members(store, state)
    on_disk = b"".join(p.read_bytes() for p in store.directory.rglob("*") if p.is_file())
    assert ENV_KEY.encode() not in on_disk
    doc = json.loads(store.state_file.read_text())
    assert doc["fingerprint_key"] == "" and len(doc["fingerprint_key_check"]) == 64
    assert store.fingerprint_key(store.load()) == ENV_KEY.encode()  # the same key still matches


def test_a_different_env_key_is_a_clear_error(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, ENV_KEY)
    save_with_members(store, store.load())
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, "another-secret")
    with pytest.raises(StateError, match=r"fingerprints .* were made with another key") as info:
        store.fingerprint_key(store.load())
    assert "another-secret" not in str(info.value) and ENV_KEY not in str(info.value)


def test_env_key_missing_later_is_a_clear_error(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, ENV_KEY)
    save_with_members(store, store.load())
    monkeypatch.delenv(FINGERPRINT_KEY_ENV)
    with pytest.raises(StateError, match=f"made with another key.*{FINGERPRINT_KEY_ENV}.*not set"):
        store.fingerprint_key(store.load())


def test_env_key_against_fingerprints_made_with_the_stored_key(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = store.load()
    stored = store.fingerprint_key(state)
    save_with_members(store, state)
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, ENV_KEY)
    with pytest.raises(StateError, match="key stored in") as info:
        store.fingerprint_key(store.load())
    assert stored.decode() not in str(info.value)


def test_moving_the_stored_key_to_the_env_var(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    state = store.load()
    stored = store.fingerprint_key(state)
    save_with_members(store, state)
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, stored.decode())
    state = store.load()
    assert store.fingerprint_key(state) == stored
    store.save(state)
    assert stored not in store.state_file.read_bytes()
    assert store.fingerprint_key(store.load()) == stored


def test_without_fingerprints_any_key_may_replace_the_old_one(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save(State())  # stored key, no fingerprints yet
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, ENV_KEY)
    state = store.load()
    assert store.fingerprint_key(state) == ENV_KEY.encode()
    store.save(state)
    monkeypatch.delenv(FINGERPRINT_KEY_ENV)
    state = store.load()
    new = store.fingerprint_key(state)
    assert len(new) == 64 and state.fingerprint_key_check == ""


def test_empty_env_var_counts_as_unset(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FINGERPRINT_KEY_ENV, "")
    assert len(store.fingerprint_key(store.load())) == 64
