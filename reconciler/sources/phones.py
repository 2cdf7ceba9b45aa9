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
    return default.upper() if default else None


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
    valid_region, metadata = _region_info(region)
    if not plus and not valid_region:
        return None  # parse raises INVALID_COUNTRY_CODE: no usable default region
    extracted = _extract_country_code(number, plus, metadata)
    if extracted is None:
        return _FALLBACK  # parse raises, then retries after the '+': the library decides
    country_code, national = extracted
    if country_code != 0:
        metadata = _code_metadata(country_code, region, metadata)
    else:
        national += number  # _normalize of ASCII digits is the identity
        if region is not None and metadata is not None:
            country_code = metadata.country_code or 0
    if len(national) < _MIN_NSN:
        return None
    # _maybe_strip_national_prefix_carrier_code leaves the number as is unless the prefix matches
    prefix = metadata.national_prefix_for_parsing if metadata is not None else None
    if prefix and _prefix_pattern(prefix).match(national):
        _, potential, _ = _pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
        if _pnu._test_number_length(potential, metadata) not in _TOO_SHORT_RESULTS:
            national = potential
    if len(national) < _MIN_NSN or len(national) > _MAX_NSN:
        return None
    # With 2+ digits, leading zeros kept as "italian" zeros make the national significant number
    # equal to `national` itself, so no PhoneNumber object is needed.
    if not _is_valid(country_code, national):
        return None
    return f"+{country_code}{national}"


_REGION_INFO: dict[str | None, tuple[bool, Any]] = {}
_CODE_METADATA: dict[tuple[int, str | None], Any] = {}


def _region_info(region: str | None) -> tuple[bool, Any]:
    """(is a valid region code, its metadata) as `parse` computes them; cached (metadata, once
    loaded, never changes)."""
    info = _REGION_INFO.get(region)
    if info is None:
        metadata = None if region is None else PhoneMetadata.metadata_for_region(region.upper(), None)
        info = _REGION_INFO[region] = (bool(_pnu._is_valid_region_code(region)), metadata)
    return info


def _code_metadata(country_code: int, region: str | None, region_metadata: Any) -> Any:
    """The metadata `parse` switches to once it found `country_code`; cached."""
    key = (country_code, region)
    if key not in _CODE_METADATA:
        number_region = _pnu.region_code_for_country_code(country_code)
        metadata = region_metadata
        if number_region != region:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, number_region)
        _CODE_METADATA[key] = metadata
    return _CODE_METADATA[key]


_MIN_NSN: int = _pnu._MIN_LENGTH_FOR_NSN
_MAX_NSN: int = _pnu._MAX_LENGTH_FOR_NSN
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    pattern = _PATTERNS.get(prefix)
    if pattern is None:
        pattern = _PATTERNS[prefix] = re.compile(prefix)
    return pattern


def _extract_country_code(number: str, plus: bool, metadata: Any) -> tuple[int, str] | None:
    """`_maybe_extract_country_code` for ASCII digits (normalising them is the identity):
    (calling code or 0, national number or ''). None where the library would raise."""
    if plus:
        full, international = number[1:], True
    else:
        idd = "NonMatch"
        if metadata is not None and metadata.international_prefix is not None:
            idd = metadata.international_prefix
        international, full = _pnu._parse_prefix_as_idd(_prefix_pattern(idd), number)
    if international:
        if len(full) <= _MIN_NSN:
            return None
        code, rest = _pnu._extract_country_code(full)
        if code == 0:
            return None
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
                return default_code, potential
    return 0, ""


# calling code -> [(metadata, leading-digits pattern or None)], built on first use
_CALLING_CODES: dict[int, list[tuple[Any, re.Pattern[str] | None]]] = {}


def _regions_of(country_code: int) -> list[tuple[Any, re.Pattern[str] | None]]:
    found = _CALLING_CODES.get(country_code)
    if found is not None:
        return found
    regions = _REGIONS.get(country_code) or []
    found = []
    if len(regions) == 1:  # is_valid_number_for_region(number, regions[0])
        region = regions[0]
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
        non_geo = region == _pnu.REGION_CODE_FOR_NON_GEO_ENTITY
        if metadata is not None and (non_geo or _pnu.country_code_for_valid_region(region) == country_code):
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
