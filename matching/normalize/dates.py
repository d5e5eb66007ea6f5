"""Dates to ISO (YYYY-MM-DD); partial or impossible dates are flagged."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .text import Cleaned, to_text

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SLASHED = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})$")
_DIGITS = re.compile(r"\D+")

MIN_YEAR = 1880


def normalize_date(value: Any, today: dt.date | None = None) -> Cleaned:
    """ISO date string.

    Accepts ISO dates and timestamps, YYYYMMDD, and D/M/YYYY or M/D/YYYY when only
    one reading is a valid date.  An impossible date keeps its 8 digits
    ("19561309") so that a typo still compares close to the right date, flagged.
    """
    raw = to_text(value, max_chars=40)
    if raw.text is None:
        return raw
    text = raw.text.strip()
    today = today or dt.date.today()
    match = _ISO.match(text) or _COMPACT.match(text)
    candidates: list[tuple[int, int, int]] = []
    if match:
        y, m, d = (int(g) for g in match.groups())
        candidates = [(y, m, d)]
    elif m2 := _SLASHED.match(text):
        a, b, y = (int(g) for g in m2.groups())
        candidates = [(y, b, a), (y, a, b)] if a != b else [(y, b, a)]
    else:
        return Cleaned(None, "not a date")
    valid = []
    for y, m, d in candidates:
        try:
            date = dt.date(y, m, d)
        except ValueError:
            continue
        if y >= MIN_YEAR and date <= today:
            valid.append(date)
    if len(valid) == 1 or (valid and all(v == valid[0] for v in valid)):
        return Cleaned(valid[0].isoformat(), raw.flag)
    if len(valid) > 1:
        return Cleaned(None, "ambiguous day/month order")
    y, m, d = candidates[0]
    if 1000 <= y <= 9999 and 0 <= m <= 99 and 0 <= d <= 99:
        return Cleaned(f"{y:04d}-{m:02d}-{d:02d}", raw.flag or "impossible or future date")
    return Cleaned(None, "impossible date")
