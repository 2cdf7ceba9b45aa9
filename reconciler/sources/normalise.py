"""Pure per-row normalisation and validation, and keyed fingerprints. No I/O.

A row reaches this module as a `RawRow`: the source row number, the mapped cells in `FIELDS` order
(None for an unmapped field) and whether the phone cell was a numeric spreadsheet cell. A valid row
becomes `Values`: the normalised fields in `FIELDS` order, i.e. the arguments of `Member`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache

from reconciler.masking import mask
from reconciler.sources.members import Member, RowIssue
from reconciler.sources.phones import SUPPORTED_REGIONS, looks_numeric, normalise_phone, region_for

# The version of the normalisation rules. Bump it whenever a change here, in phones.py or in how a
# source is read (csvread, xlsxread, records) can change what a row normalises to, is rejected for,
# or how it is fingerprinted: state records it at apply, so a plan re-reads every source after it.
NORMALISATION_VERSION = 2  # 2: invalid_country; strict CSV (quotes, field counts, cell size); xlsx dimensions

FIELDS: tuple[str, ...] = ("phone", "email", "first_name", "last_name", "country", "identifier")
# (row number, cells in FIELDS order with None for unmapped fields, phone cell numeric in a sheet)
RawRow = tuple[int, tuple[str | None, ...], bool]
Values = tuple[str | None, str | None, str | None, str | None, str | None, str | None]

# dot-atom local part, dotted domain labels, alphabetic (or punycode) top-level domain; letters may
# be non-ASCII (internationalised addresses)
_EMAIL = re.compile(
    r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})"
)
_ATTR_DOMAIN = b"attributes\x00"


@dataclass(frozen=True)
class RowRules:
    """What a row needs: which fields are mapped, their source headers, the default region."""

    headers: dict[str, str]  # mapped field -> source header
    default_region: str | None
    phone_required: bool = False  # CommBox and Smallest identify members by phone only
    row_hashes: bool = False  # also hash each valid row, unkeyed (a query source's result digest)
    phone_header: str | None = field(init=False)
    email_header: str | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "phone_header", self.headers.get("phone"))
        object.__setattr__(self, "email_header", self.headers.get("email"))


def normalise_email(raw: str) -> str | None:
    """Trimmed, lower-cased address when it is syntactically valid, else None."""
    text = raw.strip().lower()
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        return None
    return text


def _attr(value: str | None) -> str | None:
    """Attribute text with runs of whitespace collapsed; None when empty."""
    if not value:
        return None
    text = " ".join(value.split())
    return text or None


def normalise_values(row: RawRow, rules: RowRules) -> Values | RowIssue:
    """The normalised fields of a valid row, or the issue that rejects it (stable reason codes)."""
    number, cells, numeric = row
    raw_phone, raw_email, first, last, raw_country, identifier = cells
    phone: str | None = None
    email: str | None = None
    country = raw_country.strip().upper() if raw_country else None
    if country and country not in SUPPORTED_REGIONS:
        return RowIssue(number, "invalid_country", mask(raw_country or ""), rules.headers.get("country"))
    country = country or None
    phone_header, email_header = rules.phone_header, rules.email_header
    phone_text = raw_phone.strip() if raw_phone else ""
    if phone_text and phone_header:
        if numeric or looks_numeric(phone_text):
            return RowIssue(number, "numeric_phone_cell", mask(phone_text), phone_header)
        phone = normalise_phone(phone_text, region_for(country, rules.default_region))
        if phone is None:
            return RowIssue(number, "invalid_phone", mask(phone_text), phone_header)
    email_text = raw_email.strip() if raw_email else ""
    if email_text and email_header:
        email = normalise_email(email_text)
        if email is None:
            return RowIssue(number, "invalid_email", mask(email_text), email_header)
    if phone is None and (email is None or rules.phone_required):
        if phone_header and email_header and not rules.phone_required:
            return RowIssue(number, "missing_identity", "", None)
        if phone_header:
            return RowIssue(number, "missing_phone", "", phone_header)
        return RowIssue(number, "missing_email", "", email_header)
    return (phone, email, _attr(first), _attr(last), country, _attr(identifier))


def normalise_row(row: RawRow, rules: RowRules) -> Member | RowIssue:
    """A valid member, or the issue that rejects the row."""
    result = normalise_values(row, rules)
    return result if isinstance(result, RowIssue) else Member(*result)


class _Hmac:
    """HMAC-SHA256 (RFC 2104) with the key's padded hash states computed once, copied per message."""

    __slots__ = ("inner", "outer")

    def __init__(self, key: bytes) -> None:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def digest(self, message: bytes) -> bytes:
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()


@lru_cache(maxsize=8)
def _keyed(key: bytes) -> _Hmac:
    return _Hmac(key)


def fingerprint_values(values: Values, key: bytes) -> tuple[int, int]:
    """`fingerprint` of a member given as its `Values`."""
    phone, email, first, last, country, identifier = values
    keyed = _keyed(key)
    ident = keyed.digest(f"phone:{phone}".encode() if phone else f"email:{email}".encode())
    # Unambiguous: '-' for an absent field, else '<length>:<value>', joined by ','. The e-mail is an
    # attribute only beside a phone (otherwise it is the identity).
    others = (email if phone else None, first, last, country, identifier)
    encoded = ",".join(["-" if v is None else f"{len(v)}:{v}" for v in others])
    attrs = keyed.digest(_ATTR_DOMAIN + encoded.encode())
    return int.from_bytes(ident[:8], "big"), int.from_bytes(attrs[:4], "big")


def fingerprint(member: Member, key: bytes) -> tuple[int, int]:
    """(64-bit identity fp, 32-bit attributes fp): truncated HMAC-SHA256 keyed with `key`.

    The identity is `member.identity()`; the attributes are every other field."""
    values: Values = (
        member.phone, member.email, member.first_name, member.last_name, member.country, member.identifier
    )
    return fingerprint_values(values, key)
