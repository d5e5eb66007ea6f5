"""Prices are keyed, not fuzzy-matched.

A price is identified by (price list, product golden id, currency, minimum
quantity, valid from).  Two prices for the same series — everything but
valid_from — whose validity periods overlap are a conflict for a steward: the
ERP would not know which one applies.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from .normalize.dates import normalize_date
from .normalize.text import fold, to_text

OPEN_END = "9999-12-31"


def _price_list(value: Any) -> str:
    raw = to_text(value, max_chars=200)
    return " ".join(fold(raw.text).split()) if raw.text else ""


def _currency(value: Any) -> str:
    raw = to_text(value, max_chars=10)
    return raw.text.strip().upper() if raw.text else ""


def _quantity(value: Any) -> str:
    """Minimum quantity as a canonical decimal string ("1", "1.0", 1 → "1"); missing → "1"."""
    if value is None or value == "":
        return "1"
    if isinstance(value, bool):
        return "invalid"
    try:
        q = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return "invalid"
    if not q.is_finite():
        return "invalid"
    text = format(q.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _date(value: Any, default: str) -> str:
    if value is None or value == "":
        return default
    cleaned = normalize_date(value, today=dt.date(9999, 12, 31))
    return cleaned.text if cleaned.text and not cleaned.flag else "invalid"


def price_key(fields: Mapping[str, Any], product_golden_id: Any) -> tuple[str, str, str, str, str]:
    """(price_list, product golden id, currency, min_quantity, valid_from) — the price's identity.

    Normalized so that "Retail EUR " and "retail eur", 1 and "1.00" give the same
    key.  A missing valid_from means "since ever" ("0001-01-01"); invalid values
    become "invalid" so that they collide with each other visibly instead of
    silently with a valid key.
    """
    if not isinstance(fields, Mapping):
        fields = {}
    return (
        _price_list(fields.get("price_list")),
        str(product_golden_id),
        _currency(fields.get("currency")),
        _quantity(fields.get("min_quantity")),
        _date(fields.get("valid_from"), "0001-01-01"),
    )


def find_overlaps(periods: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Conflicts between prices of one series whose validity periods overlap.

    periods: dicts with "id", "key" (a `price_key` tuple) and optional
    "valid_to" (ISO date, inclusive; missing = open-ended).
    Returns one conflict per overlapping pair:
    {"series", "ids": [id_a, id_b], "overlap_from", "overlap_to"}.
    """
    series: dict[tuple[Any, ...], list[tuple[str, str, Any]]] = defaultdict(list)
    for p in periods:
        key = tuple(p["key"])
        start = key[4]
        end = _date(p.get("valid_to"), OPEN_END)
        series[key[:4]].append((start, end, p.get("id")))
    conflicts: list[dict[str, Any]] = []
    for skey, items in series.items():
        items.sort(key=lambda t: (t[0], t[1], str(t[2])))
        for i, (start_a, end_a, id_a) in enumerate(items):
            for start_b, end_b, id_b in items[i + 1 :]:
                if start_b > end_a:
                    break  # sorted by start: no later item can overlap a
                conflicts.append({
                    "series": list(skey),
                    "ids": [id_a, id_b],
                    "overlap_from": max(start_a, start_b),
                    "overlap_to": min(end_a, end_b),
                })
    return conflicts
