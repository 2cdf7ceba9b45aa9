"""state.json decoding: every broken file is a StateError naming file (and line) — never a traceback."""

from __future__ import annotations

import contextlib
import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import StateError
from reconciler.sources.members import MemberSet
from reconciler.state.data import decode_state, encode_state, locate
from reconciler.state.store import AudienceState, State, StateStore


def valid_document(tmp_path: Path | None = None) -> dict[str, Any]:
    """A state.json document as the store writes it (one audience with members, one intent)."""
    ms = MemberSet([1, 2], [3, 4])
    state = State(
        lineage="5b0c1b9e-0000-4000-8000-000000000001",
        serial=3,
        fingerprint_key="ab" * 32,
        audiences={
            "vip": AudienceState("vip", "commbox", "1", "VIP", member_digest=ms.digest(), member_count=2)
        },
    )
    state.add_intent("vip", "commbox", "replace_members", "VIP", provider_id="1")
    doc: dict[str, Any] = json.loads(encode_state(state))
    return doc


def write(tmp_path: Path, text: str) -> StateStore:
    directory = tmp_path / "state"
    directory.mkdir(exist_ok=True)
    (directory / "state.json").write_text(text)
    return StateStore(directory)


def load_error(store: StateStore) -> StateError:
    with pytest.raises(StateError) as info:
        store.load()
    return info.value


def test_bad_json_names_file_line_and_column(tmp_path: Path) -> None:
    store = write(tmp_path, '{\n  "format_version": 1,\n  "lineage": oops\n}\n')
    error = load_error(store)
    assert error.problems[0].file == str(store.state_file)
    assert (error.problems[0].line, error.problems[0].col) == (3, 14)
    assert "invalid JSON" in str(error) and "state.json:3:14" in str(error)
    assert "neither use nor overwrite" in str(error)


def test_not_utf8(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    (directory / "state.json").write_bytes(b'{"a": "\xff"}')
    assert "not UTF-8" in str(load_error(StateStore(directory)))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.update(format_version=2), "format_version: 2 is not supported"),
        (lambda d: d.update(format_version=99), "newer reconciler"),
        (lambda d: d.update(format_version="1"), "format_version: expected an integer, found a string"),
        (lambda d: d.pop("lineage"), "missing field 'lineage'"),
        (lambda d: d.update(serial=True), "serial: expected an integer, found a boolean"),
        (lambda d: d.update(serial=0), "serial: must be at least 1"),
        (lambda d: d.update(audiences=[]), "audiences: expected an object, found an array"),
        (lambda d: d["audiences"]["vip"].update(member_count="12"), "audiences.vip.member_count: expected"),
        (lambda d: d["audiences"]["vip"].update(member_count=-1), "member_count: must be at least 0"),
        (lambda d: d["audiences"]["vip"].pop("provider_id"), "audiences.vip: missing field 'provider_id'"),
        (lambda d: d["audiences"]["vip"].update(colour="red"), "audiences.vip.colour: unknown field"),
        (lambda d: d["audiences"]["vip"].update(member_digest="../../x"), "64 lower-case hex digits"),
        (lambda d: d["audiences"].update(vip=None), "audiences.vip: expected an object, found null"),
        (
            lambda d: d["intents"][0].update(provider_id=5),
            "intents[0].provider_id: expected a string or null",
        ),
        (lambda d: d.update(fingerprint_key=""), "missing field 'fingerprint_key'"),
        (lambda d: d.update(extra_top=1), "extra_top: unknown field"),
    ],
)
def test_wrong_document_is_a_clear_state_error(tmp_path: Path, mutate: Any, expected: str) -> None:
    doc = valid_document(tmp_path)
    mutate(doc)
    store = write(tmp_path, json.dumps(doc, indent=2))
    error = load_error(store)
    assert expected in str(error)
    assert str(store.state_file) in str(error)


def test_field_errors_point_at_the_line(tmp_path: Path) -> None:
    doc = valid_document(tmp_path)
    doc["audiences"]["vip"]["member_count"] = "12"
    text = json.dumps(doc, indent=2)
    store = write(tmp_path, text)
    problem = load_error(store).problems[0]
    assert text.splitlines()[problem.line - 1].strip().startswith('"member_count": "12"')


def test_top_level_not_an_object(tmp_path: Path) -> None:
    assert "expected an object, found an array" in str(load_error(write(tmp_path, "[1, 2]")))


def test_deeply_nested_json_is_reported_not_crashing(tmp_path: Path) -> None:
    store = write(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert "corrupt" in str(load_error(store))


def test_locate_skips_indexes_and_reports_zero_when_absent() -> None:
    text = '{\n  "intents": [\n    {"id": 1}\n  ]\n}'
    assert locate(text, ["intents", 0, "id"]) == (3, 6)
    assert locate(text, ["nothing"]) == (0, 0)


# --- properties -------------------------------------------------------------------------------

_text = st.text(alphabet=string.printable, max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150)
@given(data=st.binary(max_size=300))
def test_any_bytes_load_or_fail_cleanly(tmp_path: Path, data: bytes) -> None:
    directory = tmp_path / "fuzz"
    directory.mkdir(exist_ok=True)
    (directory / "state.json").write_bytes(data)
    with contextlib.suppress(StateError):
        StateStore(directory).load()


@settings(max_examples=200)
@given(
    path=st.lists(
        st.sampled_from(["audiences", "vip", "intents", 0, "serial", "name", "details"]), max_size=3
    ),
    value=_json,
)
def test_mutated_documents_load_or_fail_cleanly(tmp_path: Path, path: list[Any], value: Any) -> None:
    doc = valid_document(tmp_path)
    target: Any = doc
    for part in path[:-1]:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            break
    else:
        if path:
            with contextlib.suppress(TypeError, IndexError):
                target[path[-1]] = value
    try:
        state = decode_state(json.loads(json.dumps(doc)))
    except Exception as exc:  # only the codec's own error type may escape
        assert type(exc).__name__ == "InvalidState", repr(exc)
        return
    assert decode_state(json.loads(encode_state(state))) == state  # what loads, round-trips


_names = st.text(alphabet=string.ascii_letters + string.digits + "-_. é", min_size=1, max_size=10)


@settings(max_examples=100, deadline=None)
@given(
    audiences=st.dictionaries(
        _names,
        st.builds(
            dict,
            provider=st.sampled_from(["commbox", "whop", "smallest"]),
            provider_id=_names,
            name=_names,
            member_count=st.integers(0, 10**9),
            applied_at=st.just("2026-01-01T00:00:00Z"),
            extra=st.dictionaries(_names, _json, max_size=2),
        ),
        max_size=4,
    ),
    serial=st.integers(1, 10**6),
)
def test_encode_decode_round_trip(audiences: dict[str, dict[str, Any]], serial: int) -> None:
    state = State(
        lineage="l-1",
        serial=serial,
        fingerprint_key="ab" * 32,
        audiences={key: AudienceState(key=key, **fields) for key, fields in audiences.items()},
    )
    assert decode_state(json.loads(encode_state(state))) == state
