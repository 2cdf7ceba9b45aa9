"""Phone normalisation: the fast path agrees with phonenumbers' public API, numeric cells.

Every test runs twice: with the fast path, and with one private helper of phonenumbers removed, so
that the import-time check turns the fast path off and every number takes the public API."""

from __future__ import annotations

import random
import types
from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import phonenumberutil

from reconciler import phones
from reconciler.sources.phones import looks_numeric, normalise_phone, region_for, slow_normalise_phone


def without(name: str) -> types.ModuleType:
    """phonenumberutil as a release that renamed `name` shows it: the library's own functions keep
    working (they see the real module), but the helper is no longer there to bind."""
    module = types.ModuleType(phonenumberutil.__name__)
    module.__dict__.update({k: v for k, v in vars(phonenumberutil).items() if k != name})
    return module


@pytest.fixture(scope="module", autouse=True, params=["fast", "fallback"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The phone path under test; 'fallback' removes `_test_number_length` from phonenumbers."""
    assert phones.FAST_PATH_PROBLEM is None, "the fast path is on with the installed phonenumbers"
    if request.param == "fast":
        yield "fast"
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(phones, "phonenumberutil", without("_test_number_length"))
        problem = phones.check_fast_path()
        assert problem is not None and "_test_number_length" in problem
        yield "fallback"
    assert phones.check_fast_path() is None


def test_the_path_under_test_is_the_one_in_use(path: str) -> None:
    assert (phones._p is not None) is (path == "fast")
    assert ("fast path: on" in phones.fast_path_status()) is (path == "fast")

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


def test_a_public_api_that_disagrees_turns_the_fast_path_off(
    monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    """The public API decides differently from what the fast path reproduces (here: a release that
    no longer accepts UK numbers): the fast path is off, and results follow the public API."""
    if path == "fallback":
        pytest.skip("the fast path is already off in this run")
    is_valid = phonenumbers.is_valid_number
    monkeypatch.setattr(phonenumbers, "is_valid_number", lambda n: n.country_code != 44 and is_valid(n))
    try:
        problem = phones.check_fast_path()
        assert problem is not None and "public API" in problem
        assert phones._p is None
        assert normalise_phone("020 7946 0123", "GB") is None
        assert normalise_phone("(415) 555-0123", "US") == "+14155550123"
        assert "public API (slower, same results)" in phones.fast_path_status()
    finally:
        monkeypatch.undo()
        phones.check_fast_path()


def test_an_internal_error_on_one_number_falls_back_for_that_number(monkeypatch: pytest.MonkeyPatch) -> None:
    if phones._p is None:
        pytest.skip("the fast path is off in this run")

    def broken(*args: object) -> object:
        raise IndexError("changed internals")

    monkeypatch.setattr(phones._p, "extract_country_code", broken)
    assert normalise_phone("+44 20 7946 0123", None) == "+442079460123"
