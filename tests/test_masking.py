"""The one masking function: bounded, reveals a fixed few characters, never an address or 6 digits."""

from __future__ import annotations

import re

import pytest
from hostile_support import addresses, hostile
from hypothesis import example, given
from hypothesis import strategies as st

from reconciler.masking import MAX_MASKED_CHARS, mask
from reconciler.providers.answers import mask_pii


def digits_of(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def assert_nothing_revealed(original: str, shown: str) -> None:
    """No run of 6 or more of `original`'s digits and no address of it is in `shown`."""
    digits = digits_of(original)
    for run in re.findall(r"\d{6,}", shown):
        assert run not in digits, f"digits {run!r} of the input survive in {shown!r}"
    for found in addresses(original):
        assert found not in shown, f"address {found!r} survives in {shown!r}"


@given(hostile)
@example("ann@leak.example; jane.doe@leak.example")
@example("1" * 1_000_000)
@example("+1 (415) 555-0123")
@example("4155550123@example.com")
@example("\x1b]0;owned\x07@\x1b[2J.com")
def test_mask_is_bounded_and_reveals_a_fixed_few_characters(value: str) -> None:
    shown = mask(value)
    assert len(shown) <= MAX_MASKED_CHARS
    assert shown.isprintable() and all(ch.isalnum() or ch in "*+@." for ch in shown)
    assert sum(ch.isalnum() for ch in shown) <= 8  # characters of the input shown
    assert len(digits_of(shown)) <= 5 and not re.search(r"\d{5}", shown)
    assert not re.search(r"\w@", shown)  # the local part of an address is never shown
    assert_nothing_revealed(value, shown)


@given(st.lists(hostile, max_size=4), st.lists(st.text(max_size=20), min_size=5, max_size=5))
def test_masked_provider_messages_hide_every_phone_and_address(values: list[str], glue: list[str]) -> None:
    message = "".join(g + v for g, v in zip(glue, [*values, ""], strict=False))
    shown = mask_pii(message)
    for found in addresses(message):
        assert found not in shown


@pytest.mark.parametrize(
    "glued", ["ann@x.com+bob@y.com", "+14155550123+14155550124", "+@0.0+@0.0", "a@b.co,c@d.co"]
)
def test_values_glued_together_in_a_provider_message_are_all_masked(glued: str) -> None:
    shown = mask_pii(f"rejected: {glued}.")
    assert shown.startswith("rejected: ") and not re.search(r"\d{5}|\w@", shown)
    for part in re.split(r"(?<=\w)(?=\+)|,", glued):
        assert part not in shown


def test_documented_examples() -> None:
    assert mask("+14155550123") == "+1******0123"
    assert mask("555-0123") == "*******"
    assert mask("jane.doe@example.com") == "j***@e***.com"
    assert mask("ann@leak.example; jane.doe@leak.example") == "a***"
    assert mask("1" * 1_000_000) == "1**********1111"
    assert mask("  ") == "" and mask("Jane") == "J***" and mask("\x1b[31m") == "****"
