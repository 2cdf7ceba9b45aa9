"""Phone normalisation to E.164 with `phonenumbers`, plus a proven fast path.

`normalise_phone` is exactly `phonenumbers.parse` + `is_valid_number` + E.164 formatting. For the
common shape of a phone cell (ASCII digits with optional leading '+' and the separators
space ( ) - .) it skips phonenumbers' text pre-processing, which is the identity on such input, and
runs the same digit-level steps of `parse` directly; it also avoids `is_valid_number`'s repeated
type match for shared calling codes. tests/test_sources_phones.py checks the fast path against
the library on generated numbers.

The fast path calls private helpers of `phonenumbers`, which a release may rename or change. At
import they are bound once and checked against the public API on a handful of numbers
(`check_fast_path`); if one is missing or disagrees, every number takes the public API (slower,
same results) and `reconciler --version` says why (`FAST_PATH_PROBLEM`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import phonenumberutil, re_util
from phonenumbers.phonemetadata import PhoneMetadata

if hasattr(re_util, "enable_pattern_cache"):  # newer releases: compiled-pattern reuse, same results
    re_util.enable_pattern_cache()

_SIMPLE = re.compile(r"\+?[0-9 ().\-]+")
_SEPARATORS = str.maketrans("", "", " ().-")
_NUMERIC_TEXT = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+|\+?\d{5,}[.,]0+")
_REGIONS = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
SUPPORTED_REGIONS: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)


class _Private:
    """The private parts of `phonenumbers.phonenumberutil` the fast path calls, bound once.

    Raises AttributeError (or whatever the module raises) when one is missing."""

    __slots__ = (
        "extract_country_code", "is_valid_region_code", "match_national_number", "max_input", "max_nsn",
        "min_nsn", "parse_prefix_as_idd", "strip_national_prefix", "test_number_length", "too_long",
        "too_short",
    )

    def __init__(self, pnu: Any) -> None:
        self.max_input: int = pnu._MAX_INPUT_STRING_LENGTH
        self.min_nsn: int = pnu._MIN_LENGTH_FOR_NSN
        self.max_nsn: int = pnu._MAX_LENGTH_FOR_NSN
        self.strip_national_prefix = pnu._maybe_strip_national_prefix_carrier_code
        self.test_number_length = pnu._test_number_length
        self.is_valid_region_code = pnu._is_valid_region_code
        self.parse_prefix_as_idd = pnu._parse_prefix_as_idd
        self.extract_country_code = pnu._extract_country_code
        self.match_national_number = pnu._match_national_number
        results = pnu.ValidationResult
        self.too_short = (results.TOO_SHORT, results.IS_POSSIBLE_LOCAL_ONLY, results.INVALID_LENGTH)
        self.too_long = results.TOO_LONG


# (raw, region) pairs the fast path must answer exactly as the public API does before it is used:
# national, international, IDD and trunk-prefix forms, shared calling codes, and invalid numbers.
_PROBES: tuple[tuple[str, str | None], ...] = (
    ("(415) 555-0123", "US"),
    ("+1 415 555 0123", None),
    ("011 44 20 7946 0123", "US"),
    ("020 7946 0123", "GB"),
    ("+44 (0)20 7946 0123", "US"),
    ("0491 570 156", "AU"),
    ("+61 491 570 156", "GB"),
    ("06 1234 5678", "IT"),
    ("+1 268 464 1234", None),
    ("07700 900123", "JE"),
    ("415 555 01", "US"),
    ("+999 1234 5678", None),
)

_p: _Private | None = None
FAST_PATH_PROBLEM: str | None = "not checked yet"


def check_fast_path() -> str | None:
    """Bind the private helpers and compare the fast path with the public API on `_PROBES`.

    Turns the fast path on when they agree, off otherwise; returns why it is off, or None."""
    global _p, FAST_PATH_PROBLEM
    _p = None
    _REGION_INFO.clear()
    try:
        private = _Private(phonenumberutil)
        for raw, region in _PROBES:
            fast = _fast(private, raw.translate(_SEPARATORS), region)
            expected = slow_normalise_phone(raw, region)
            if fast is not _FALLBACK and fast != expected:
                raise ValueError(f"{raw!r} in {region}: fast path {fast!r}, public API {expected!r}")
    except Exception as exc:  # any incompatibility of the internals means: public API only
        FAST_PATH_PROBLEM = f"{type(exc).__name__}: {exc}"
    else:
        _p, FAST_PATH_PROBLEM = private, None
    return FAST_PATH_PROBLEM


def fast_path_status() -> str:
    """One line for `reconciler --version`."""
    if FAST_PATH_PROBLEM is None:
        return "phone fast path: on"
    return (
        f"phone fast path: off, phonenumbers {phonenumbers.__version__} internals differ "
        f"({FAST_PATH_PROBLEM}); using its public API (slower, same results)"
    )


def looks_numeric(text: str) -> bool:
    """True when a phone cell holds what a spreadsheet made of a number (`4.41E+11`, `4477…0.0`)."""
    if "." not in text and "," not in text and "e" not in text and "E" not in text:
        return False
    return _NUMERIC_TEXT.fullmatch(text.strip()) is not None


@lru_cache(maxsize=4096)
def region_for(country: str | None, default: str | None) -> str | None:
    """The parsing region: a row's ISO alpha-2 country when it is one, else `default`."""
    if country:
        code = country.strip().upper()
        if len(code) == 2 and code in SUPPORTED_REGIONS:
            return code
    return default.upper() if default else None


def normalise_phone(raw: str, region: str | None) -> str | None:
    """E.164 ('+14155550123') of a valid number written in `raw`, else None."""
    text = raw.strip()
    if not text:
        return None
    p = _p
    if p is not None and len(text) <= p.max_input and _SIMPLE.fullmatch(text):
        try:
            fast = _fast(p, text.translate(_SEPARATORS), region)
        except Exception:  # an internal changed behaviour on this input: the public API decides
            fast = _FALLBACK
        if fast is not _FALLBACK:
            return fast if isinstance(fast, str) else None
    return slow_normalise_phone(text, region)


def slow_normalise_phone(text: str, region: str | None) -> str | None:
    """The reference: phonenumbers' public API only."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


_FALLBACK = object()


def _fast(p: _Private, number: str, region: str | None) -> object:
    """`parse` from the country-code step on, for `number` = optional '+' and ASCII digits.

    Returns the E.164 string, None (invalid), or _FALLBACK when the general path must decide."""
    plus = number.startswith("+")
    if len(number) - plus < 4:
        return _FALLBACK  # viability rules for very short input: let the library decide
    valid_region, metadata = _region_info(p, region)
    if not plus and not valid_region:
        return None  # parse raises INVALID_COUNTRY_CODE: no usable default region
    extracted = _extract_country_code(p, number, plus, metadata)
    if extracted is None:
        return _FALLBACK  # parse raises, then retries after the '+': the library decides
    country_code, national = extracted
    if country_code != 0:
        metadata = _code_metadata(country_code, region, metadata)
    else:
        national += number  # _normalize of ASCII digits is the identity
        if region is not None and metadata is not None:
            country_code = metadata.country_code or 0
    if len(national) < p.min_nsn:
        return None
    # _maybe_strip_national_prefix_carrier_code leaves the number as is unless the prefix matches
    prefix = metadata.national_prefix_for_parsing if metadata is not None else None
    if prefix and _prefix_pattern(prefix).match(national):
        _, potential, _ = p.strip_national_prefix(national, metadata)
        if p.test_number_length(potential, metadata) not in p.too_short:
            national = potential
    if len(national) < p.min_nsn or len(national) > p.max_nsn:
        return None
    # With 2+ digits, leading zeros kept as "italian" zeros make the national significant number
    # equal to `national` itself, so no PhoneNumber object is needed.
    if not _is_valid(country_code, national):
        return None
    return f"+{country_code}{national}"


_REGION_INFO: dict[str | None, tuple[bool, Any]] = {}
_CODE_METADATA: dict[tuple[int, str | None], Any] = {}


def _region_info(p: _Private, region: str | None) -> tuple[bool, Any]:
    """(is a valid region code, its metadata) as `parse` computes them; cached (metadata, once
    loaded, never changes)."""
    info = _REGION_INFO.get(region)
    if info is None:
        metadata = None if region is None else PhoneMetadata.metadata_for_region(region.upper(), None)
        info = _REGION_INFO[region] = (bool(p.is_valid_region_code(region)), metadata)
    return info


def _code_metadata(country_code: int, region: str | None, region_metadata: Any) -> Any:
    """The metadata `parse` switches to once it found `country_code`; cached."""
    key = (country_code, region)
    if key not in _CODE_METADATA:
        number_region = phonenumbers.region_code_for_country_code(country_code)
        metadata = region_metadata
        if number_region != region:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, number_region)
        _CODE_METADATA[key] = metadata
    return _CODE_METADATA[key]


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(prefix)
    if pattern is None:
        pattern = _PATTERNS[prefix] = re.compile(prefix)
    return pattern


def _extract_country_code(p: _Private, number: str, plus: bool, metadata: Any) -> tuple[int, str] | None:
    """`_maybe_extract_country_code` for ASCII digits (normalising them is the identity):
    (calling code or 0, national number or ''). None where the library would raise."""
    if plus:
        full, international = number[1:], True
    else:
        idd = "NonMatch"
        if metadata is not None and metadata.international_prefix is not None:
            idd = metadata.international_prefix
        international, full = p.parse_prefix_as_idd(_prefix_pattern(idd), number)
    if international:
        if len(full) <= p.min_nsn:
            return None
        code, rest = p.extract_country_code(full)
        if code == 0:
            return None
        return code, rest
    if metadata is not None:
        default_code = metadata.country_code
        prefix = str(default_code)
        if full.startswith(prefix):
            general = metadata.general_desc
            _, potential, _ = p.strip_national_prefix(full[len(prefix):], metadata)
            if (
                not p.match_national_number(full, general, False)
                and p.match_national_number(potential, general, False)
            ) or p.test_number_length(full, metadata) == p.too_long:
                return default_code, potential
    return 0, ""


# calling code -> [(metadata, leading-digits pattern or None)], built on first use
_CALLING_CODES: dict[int, list[tuple[Any, re.Pattern[str] | None]]] = {}


def _regions_of(country_code: int) -> list[tuple[Any, re.Pattern[str] | None]]:
    found = _CALLING_CODES.get(country_code)
    if found is not None:
        return found
    regions: Sequence[str] = _REGIONS.get(country_code) or ()
    found = []
    if len(regions) == 1:  # is_valid_number_for_region(number, regions[0])
        region = regions[0]
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
        non_geo = region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
        own_code = non_geo or phonenumbers.country_code_for_valid_region(region) == country_code
        if metadata is not None and own_code:
            found.append((metadata, None))
    else:  # _region_code_for_number_from_list, in order
        for region in regions:
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is not None:
                leading = metadata.leading_digits
                found.append((metadata, None if leading is None else re.compile(leading)))
    _CALLING_CODES[country_code] = found
    return found


def _is_valid(country_code: int, nsn: str) -> bool:
    """`phonenumbers.is_valid_number` of the number (country_code, nsn), matching each region's
    number types once, not twice."""
    regions = _regions_of(country_code)
    if len(regions) == 1 and regions[0][1] is None:
        return _has_type(nsn, regions[0][0])
    for metadata, leading in regions:
        if leading is not None:
            if leading.match(nsn):
                return _has_type(nsn, metadata)
        elif _has_type(nsn, metadata):
            return True
    return False


def _has_type(nsn: str, metadata: Any) -> bool:
    """`_number_type_helper(nsn, metadata) != UNKNOWN`, testing the common types first.

    That helper returns a known type when the general pattern matches and any type pattern
    matches (the mobile one only when it differs from fixed-line): order does not change it."""
    matches = _desc_matches
    if not matches(nsn, metadata.general_desc):
        return False
    if matches(nsn, metadata.fixed_line):
        return True
    if not metadata.same_mobile_and_fixed_line_pattern and matches(nsn, metadata.mobile):
        return True
    rare = (
        metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
        metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail,
    )
    return any(matches(nsn, desc) for desc in rare)


_FULLMATCH: dict[str, Any] = {}


def _desc_matches(nsn: str, desc: Any) -> bool:
    """`_is_number_matching_desc` without its call layers: a length check, then a full match
    (the library's `match` then `fullmatch` is a full match)."""
    if desc is None:
        return False
    lengths = desc.possible_length
    if lengths and len(nsn) not in lengths:
        return False
    pattern = desc.national_number_pattern
    if not pattern:
        return False
    fullmatch = _FULLMATCH.get(pattern)
    if fullmatch is None:
        fullmatch = _FULLMATCH[pattern] = re.compile(pattern).fullmatch
    return fullmatch(nsn) is not None


check_fast_path()
