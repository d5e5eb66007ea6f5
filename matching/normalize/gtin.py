"""GTIN/EAN/UPC: digits only, check digit verified, zero padded to GTIN-14."""

from __future__ import annotations

import re
from typing import Any

from .text import Cleaned, to_text

_NON_DIGIT = re.compile(r"\D+")


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of the digits before it."""
    total = sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalize_gtin(value: Any) -> Cleaned:
    """GTIN-14 string, or None (flagged) when the length or check digit is wrong.

    UPC-A (12), EAN-13, GTIN-8 and GTIN-14 all pad to the same 14 digits, so a
    UPC in the ERP equals the EAN in Salesforce.  A wrong check digit is a typo
    that could equal another product's code, so such values are not used.
    """
    raw = to_text(value, max_chars=64)
    if raw.text is None:
        return raw
    digits = _NON_DIGIT.sub("", raw.text)
    if len(digits) not in (8, 12, 13, 14):
        return Cleaned(None, f"GTIN must have 8, 12, 13 or 14 digits, got {len(digits)}")
    if set(digits) == {"0"}:
        return Cleaned(None, "placeholder GTIN")
    if gtin_check_digit(digits[:-1]) != int(digits[-1]):
        return Cleaned(None, "GTIN check digit mismatch")
    return Cleaned(digits.zfill(14), raw.flag)
