"""Masking of member data for output: counts and masked samples only, never full values."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """Mask a phone number, keeping a leading '+', the first digit and the last four.

    >>> mask_phone("+14155550123")
    '+1******0123'
    """
    text = phone.strip()
    plus = "+" if text.startswith("+") else ""
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) <= 5:
        return plus + "*" * len(digits)
    return plus + digits[0] + "*" * (len(digits) - 5) + digits[-4:]


def mask_email(email: str) -> str:
    """Mask an e-mail address, keeping the first character of the local part and the domain.

    >>> mask_email("jane.doe@example.com")
    'j***@example.com'
    """
    text = email.strip()
    local, at, domain = text.partition("@")
    if not at:
        return (text[:1] + "***") if text else ""
    return f"{local[:1]}***@{domain}"


def mask_value(value: str) -> str:
    """Mask an arbitrary identity value (phone-like values as phones, else as e-mail or text)."""
    text = value.strip()
    if "@" in text:
        return mask_email(text)
    digits = sum(ch.isdigit() for ch in text)
    if digits >= 5:
        return mask_phone(text)
    return (text[:1] + "***") if text else ""
