"""Phone normalisation: the fast path agrees with phonenumbers' public API, numeric cells."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.sources.phones import looks_numeric, normalise_phone, region_for, slow_normalise_phone

REGIONS = ["US", "GB", "DE", "FR", "IT", "AU", "BR", "IN", "CA", "JE", "MX", "AR", "SG", "ZZ"]
REGION = st.sampled_from([*REGIONS, None])


def reference(raw: str, region: str | None) -> str | None:
    """parse + is_valid_number + E.164, exactly as the library documents them."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_examples() -> None:
    assert normalise_phone("(415) 555-0123", "US") == "+14155550123"
    assert normalise_phone("+1 415 555 0123", None) == "+14155550123"
    assert normalise_phone("020 7946 0123", "GB") == "+442079460123"
    assert normalise_phone("+44 (0)20 7946 0123", "US") == "+442079460123"
    assert normalise_phone("011 44 20 7946 0123", "US") == "+442079460123"  # US international prefix
    assert normalise_phone("415 555 01", "US") is None
    assert normalise_phone("4155550123", None) is None  # national number and no region
    assert normalise_phone("   ", "US") is None


digit_text = st.text(alphabet="0123456789", min_size=0, max_size=16)


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    """Digits in the shapes people type: optional '+', IDD or trunk prefixes, separators."""
    prefix = draw(st.sampled_from([
        "", "+", "00", "011", "0", "1", "+1", "+44", "+39 0", "+0", "+7", "+49", "+352", "+1 268",
        "+44 1534", "+44 7700 900", "+1 415 555", "+61 4", "+262", "+800", "+979", "0044", "+54 9",
    ]))
    digits = draw(digit_text)
    out = []
    for ch in prefix + digits:
        out.append(ch)
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(st.sampled_from([" ", "-", ".", "(", ")", " ("])))
    return "".join(out)


@settings(max_examples=1000, deadline=None)
@given(phone_like(), REGION)
def test_fast_path_agrees_with_phonenumbers(raw: str, region: str | None) -> None:
    assert normalise_phone(raw, region) == reference(raw.strip(), region)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=24), REGION)
def test_any_text_agrees_with_phonenumbers(raw: str, region: str | None) -> None:
    assert normalise_phone(raw, region) == reference(raw.strip(), region)


def test_fast_path_agrees_on_real_shaped_numbers() -> None:
    """Many valid numbers from the library's own examples, re-written in several formats."""
    rng = random.Random(7)
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        example = phonenumbers.example_number(region)
        if example is None:
            continue
        nsn = phonenumbers.national_significant_number(example)
        for _ in range(3):
            digits = list(nsn)
            digits[-1] = str(rng.randrange(10))
            variant = "".join(digits)
            for raw in (f"+{example.country_code}{variant}", f"+{example.country_code} {variant}",
                        phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)):
                assert normalise_phone(raw, region) == reference(raw, region), (raw, region)
                checked += 1
    assert checked > 500


def test_slow_path_is_the_reference() -> None:
    assert slow_normalise_phone("+1 415-555-0123", "US") == reference("+1 415-555-0123", "US")
    assert slow_normalise_phone("tel:+1-415-555-0123", None) == "+14155550123"


@pytest.mark.parametrize(
    "text", ["4.41E+11", "4.4177009E+11", "447700900123.0", "4,41E+11", " 1.2e10 ", "447700900123,00"]
)
def test_numeric_cells_are_detected(text: str) -> None:
    assert looks_numeric(text)


@pytest.mark.parametrize("text", ["+447700900123", "415.555.0123", "(415) 555-0123", "07700 900123", "ext"])
def test_phone_text_is_not_numeric(text: str) -> None:
    assert not looks_numeric(text)


def test_region_for() -> None:
    assert region_for("gb", "US") == "GB"
    assert region_for(" FR ", None) == "FR"
    assert region_for("United Kingdom", "US") == "US"
    assert region_for("XX", "US") == "US"
    assert region_for(None, None) is None
    assert region_for("", "gb") == "GB"
