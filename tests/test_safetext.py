"""`printable` and `printable_data`: control and invisible formatting characters escaped wherever
user data is printed, and the one-pass check of a whole plan document agreeing with a walk of it."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from reconciler.safetext import _UNSAFE, printable, printable_data

UNSAFE_CHARS = "\x00\x1b\n\r\t\x7f\x85\x9f\u200b\u200e\u2028\u202e\u2066\u2069\ufeff"
text = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(UNSAFE_CHARS + "\\nu01")), max_size=12)
json_like = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)),
    max_leaves=20,
)


def walked(value: Any) -> Any:
    """The reference: every string of `value` (keys included) through `printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {walked(k): walked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [walked(item) for item in value]
    return value


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


@given(json_like)
def test_printable_data_escapes_every_string_and_keeps_clean_data_as_is(value: Any) -> None:
    result = printable_data(value)
    assert result == walked(value)
    assert not any(_UNSAFE.search(s) for s in strings(result))
    if not any(_UNSAFE.search(s) for s in strings(value)):
        assert result is value  # nothing to escape: the very same object


def test_each_unsafe_character_is_found_in_a_deep_document() -> None:
    for char in UNSAFE_CHARS:
        doc = {"changes": [{"address": "vip", "rows": {"samples": [{"value": f"a{char}b"}]}}]}
        shown = printable_data(doc)
        assert shown is not doc and _UNSAFE.search(shown["changes"][0]["rows"]["samples"][0]["value"]) is None
    clean = {"changes": [{"address": "a\\nb", "name": "Ünïcode ok"}]}  # a literal backslash-n is text
    assert printable_data(clean) is clean


def test_printable_escapes_and_bounds() -> None:
    assert printable("a\x1b[31mb\n") == "a\\x1b[31mb\\n"
    assert printable("x\u202ey") == "x\\u202ey"
    assert printable("abcdef", 4) == "abc…"
