"""Part numbers and SKUs: case, separators and leading zeros do not distinguish products."""

from __future__ import annotations

from typing import Any

from .text import Cleaned, alnum, is_placeholder, to_text


def normalize_code(value: Any) -> Cleaned:
    """Upper-case alphanumerics ("ab-100/x" → "AB100X"); numeric codes lose leading zeros."""
    raw = to_text(value, max_chars=100)
    if raw.text is None:
        return raw
    code = alnum(raw.text).upper()
    if code.isdigit():
        code = code.lstrip("0") or "0"
    if not code or is_placeholder(code.lower()):
        return Cleaned(None, "placeholder or empty code")
    return Cleaned(code, raw.flag)


_UOM: dict[str, str] = {
    "ea": "EA", "each": "EA", "pc": "EA", "pcs": "EA", "piece": "EA", "pieces": "EA", "unit": "EA",
    "units": "EA", "st": "EA", "stk": "EA", "stuck": "EA", "c62": "EA", "h87": "EA",
    "bx": "BX", "box": "BX", "boxes": "BX", "cs": "CS", "case": "CS", "cases": "CS", "ct": "CT",
    "carton": "CT", "pk": "PK", "pack": "PK", "package": "PK", "kg": "KG", "kilogram": "KG",
    "kgm": "KG", "g": "G", "gr": "G", "gram": "G", "grm": "G", "lb": "LB", "lbs": "LB", "pound": "LB",
    "lbr": "LB", "l": "L", "ltr": "L", "liter": "L", "litre": "L", "ml": "ML", "m": "M", "meter": "M",
    "mtr": "M", "metre": "M", "pr": "PR", "pair": "PR", "dz": "DZ", "dozen": "DZ", "set": "SET",
    "roll": "RL", "rl": "RL", "pal": "PL", "pallet": "PL", "plt": "PL",
}


def normalize_uom(value: Any) -> Cleaned:
    """Unit of measure to a small standard vocabulary (UN/ECE-ish short codes)."""
    raw = to_text(value, max_chars=40)
    if raw.text is None:
        return raw
    key = alnum(raw.text)
    if not key:
        return Cleaned(None, "empty unit of measure")
    return Cleaned(_UOM.get(key, key.upper()), raw.flag)
