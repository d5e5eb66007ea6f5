"""Phone numbers to E.164 with phonenumbers; default region from the record's country."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from .text import Cleaned, to_text

_DIGITS = re.compile(r"\D+")
_EXTENSION = re.compile(r"(?:ext\.?|extension|x|#)\s*\d+\s*$", re.IGNORECASE)


def normalize_phone(value: Any, country: str | None = None) -> Cleaned:
    """E.164 ("+12175550100") when parseable and valid.

    Invalid-but-plausible numbers keep their digits (a mistyped number is still
    the same string in both copies) and are flagged; extensions are dropped
    because a switchboard extension does not identify a different party.
    """
    raw = to_text(value, max_chars=64)
    if raw.text is None:
        return raw
    text = _EXTENSION.sub("", raw.text).strip()
    digits = _DIGITS.sub("", text)
    if len(digits) < 6 or len(set(digits)) == 1:
        return Cleaned(None, "too few digits for a phone number")
    region = country or "US"
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None and phonenumbers.is_valid_number(parsed):
        return Cleaned(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), raw.flag)
    if parsed is not None and phonenumbers.is_possible_number(parsed):
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return Cleaned(e164, raw.flag or f"phone number not valid for region {region}")
    return Cleaned(digits[-15:], raw.flag or "unparseable phone number")
