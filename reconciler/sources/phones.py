"""Phone normalisation to E.164 with `phonenumbers`, plus a proven fast path.

`normalise_phone` is exactly `phonenumbers.parse` + `is_valid_number` + E.164 formatting. For the
common shape of a phone cell (ASCII digits with optional leading '+' and the separators
space ( ) - .) it skips phonenumbers' text pre-processing, which is the identity on such input, and
runs the same digit-level steps of `parse` directly; it also avoids `is_valid_number`'s repeated
type match for shared calling codes. tests/test_sources_phones.py checks the fast path against
the library on generated numbers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import phonenumberutil, re_util
from phonenumbers.phonemetadata import PhoneMetadata

_pnu: Any = phonenumberutil  # private helpers of `parse`, untyped on purpose
re_util.enable_pattern_cache()  # compiled-pattern reuse inside phonenumbers; same results

_SIMPLE = re.compile(r"\+?[0-9 ().\-]+")
_SEPARATORS = str.maketrans("", "", " ().-")
_NUMERIC_TEXT = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+|\+?\d{5,}[.,]0+")
_TOO_SHORT_RESULTS = (
    _pnu.ValidationResult.TOO_SHORT,
    _pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    _pnu.ValidationResult.INVALID_LENGTH,
)
_UNKNOWN = phonenumbers.PhoneNumberType.UNKNOWN
_REGIONS = _pnu.COUNTRY_CODE_TO_REGION_CODE
SUPPORTED_REGIONS: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)


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
    return default


def normalise_phone(raw: str, region: str | None) -> str | None:
    """E.164 ('+14155550123') of a valid number written in `raw`, else None."""
    text = raw.strip()
    if not text:
        return None
    if len(text) <= _pnu._MAX_INPUT_STRING_LENGTH and _SIMPLE.fullmatch(text):
        digits = text.translate(_SEPARATORS)
        fast = _fast(digits, region)
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


def _fast(number: str, region: str | None) -> object:
    """`parse` from the country-code step on, for `number` = optional '+' and ASCII digits.

    Returns the E.164 string, None (invalid), or _FALLBACK when the general path must decide."""
    plus = number.startswith("+")
    if len(number) - plus < 4:
        return _FALLBACK  # viability rules for very short input: let the library decide
    if not plus and not _pnu._is_valid_region_code(region):
        return None  # parse raises INVALID_COUNTRY_CODE: no usable default region
    metadata = None if region is None else PhoneMetadata.metadata_for_region(region.upper(), None)
    numobj = phonenumbers.PhoneNumber()
    extracted = _extract_country_code(number, plus, metadata, numobj)
    if extracted is None:
        return _FALLBACK  # parse raises, then retries after the '+': the library decides
    country_code, national = extracted
    if country_code != 0:
        number_region = _pnu.region_code_for_country_code(country_code)
        if number_region != region:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, number_region)
    else:
        national += number  # _normalize of ASCII digits is the identity
        if region is not None and metadata is not None:
            numobj.country_code = metadata.country_code
    if len(national) < _pnu._MIN_LENGTH_FOR_NSN:
        return None
    if metadata is not None:
        _, potential, _ = _pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
        if _pnu._test_number_length(potential, metadata) not in _TOO_SHORT_RESULTS:
            national = potential
    if len(national) < _pnu._MIN_LENGTH_FOR_NSN or len(national) > _pnu._MAX_LENGTH_FOR_NSN:
        return None
    _pnu._set_italian_leading_zeros_for_phone_number(national, numobj)
    numobj.national_number = int(national)
    nsn = _pnu.national_significant_number(numobj)
    if not _is_valid(numobj, nsn):
        return None
    return f"+{numobj.country_code}{nsn}"


def _idd_pattern(prefix: str) -> re.Pattern[str]:
    pattern = _IDD_PATTERNS.get(prefix)
    if pattern is None:
        pattern = _IDD_PATTERNS[prefix] = re.compile(prefix)
    return pattern


_IDD_PATTERNS: dict[str, re.Pattern[str]] = {}


def _extract_country_code(
    number: str, plus: bool, metadata: Any, numobj: phonenumbers.PhoneNumber
) -> tuple[int, str] | None:
    """`_maybe_extract_country_code` for ASCII digits (normalising them is the identity).

    None where the library would raise."""
    if plus:
        full, international = number[1:], True
    else:
        idd = "NonMatch"
        if metadata is not None and metadata.international_prefix is not None:
            idd = metadata.international_prefix
        international, full = _pnu._parse_prefix_as_idd(_idd_pattern(idd), number)
    if international:
        if len(full) <= _pnu._MIN_LENGTH_FOR_NSN:
            return None
        code, rest = _pnu._extract_country_code(full)
        if code == 0:
            return None
        numobj.country_code = code
        return code, rest
    if metadata is not None:
        default_code = metadata.country_code
        prefix = str(default_code)
        if full.startswith(prefix):
            general = metadata.general_desc
            _, potential, _ = _pnu._maybe_strip_national_prefix_carrier_code(full[len(prefix):], metadata)
            if (
                not _pnu._match_national_number(full, general, False)
                and _pnu._match_national_number(potential, general, False)
            ) or _pnu._test_number_length(full, metadata) == _pnu.ValidationResult.TOO_LONG:
                numobj.country_code = default_code
                return default_code, potential
    numobj.country_code = 0
    return 0, ""


def _is_valid(numobj: phonenumbers.PhoneNumber, nsn: str) -> bool:
    """`phonenumbers.is_valid_number`, matching each region's number types once, not twice."""
    regions = _REGIONS.get(numobj.country_code or 0)
    if not regions:
        return False
    if len(regions) == 1:
        region = regions[0]
        code = numobj.country_code or 0
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())
        if metadata is None:
            return False
        non_geo = region == _pnu.REGION_CODE_FOR_NON_GEO_ENTITY
        if not non_geo and code != _pnu.country_code_for_valid_region(region):
            return False
        return _has_type(nsn, metadata)
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re.compile(metadata.leading_digits).match(nsn):
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
