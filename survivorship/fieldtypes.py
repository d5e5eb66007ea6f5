"""Declared field types: validating override values and ordering values.

A field's ``type`` in a rules file serves two purposes: a steward override is
checked against it (so a wrong value is a 422 at the API, not a bad golden), and
``highest``/``lowest`` use it to compare values as numbers or dates instead of
as strings (``"9" > "10"`` as text).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping, Sequence
from typing import Any

TYPES = (
    "any",
    "string",
    "email",
    "phone",
    "url",
    "integer",
    "decimal",
    "boolean",
    "date",
    "datetime",
    "object",
    "list",
)
#: Types whose values ``highest``/``lowest`` can compare.
ORDERABLE = frozenset({"integer", "decimal", "date", "datetime"})
#: Types a ``union`` field may have (its values are collected into a list).
UNIONABLE = frozenset({"any", "string", "email", "phone", "url", "list"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,30}$")
_URL = re.compile(r"^(https?://)?[^\s/]+\.[^\s]+$", re.IGNORECASE)


def _to_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a decimal number, got a boolean")
    if isinstance(value, int | float | decimal.Decimal):
        number = decimal.Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = decimal.Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValueError(f"expected a decimal number, got {value!r}") from None
    else:
        raise ValueError(f"expected a decimal number, got {type(value).__name__}")
    if not number.is_finite():
        raise ValueError(f"expected a finite decimal number, got {value!r}")
    return number


def _to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError("expected a date (YYYY-MM-DD), got a datetime")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected an ISO date (YYYY-MM-DD), got {value!r}")


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"expected an ISO-8601 datetime, got {value!r}") from None
    else:
        raise ValueError(f"expected an ISO-8601 datetime, got {type(value).__name__}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _to_string(value: Any, kind: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    text = value.strip()
    if kind == "email" and not _EMAIL.match(text):
        raise ValueError(f"not an e-mail address: {value!r}")
    if kind == "phone" and (not _PHONE.match(text) or sum(c.isdigit() for c in text) < 4):
        raise ValueError(f"not a phone number: {value!r}")
    if kind == "url" and not _URL.match(text):
        raise ValueError(f"not a URL: {value!r}")
    return text


def coerce(
    type_: str,
    value: Any,
    *,
    enum: Sequence[Any] | None = None,
    properties: Sequence[str] | None = None,
) -> Any:
    """Check ``value`` against a declared type and return its canonical JSON form.

    Canonical forms: decimals as strings (never floats, so money keeps its
    digits), dates/datetimes as ISO strings, strings stripped. ``None`` is always
    accepted (a steward may pin a field to "no value"). Raises ``ValueError``
    with a message fit for a steward.
    """
    if value is None:
        return None
    if type_ in ("string", "email", "phone", "url"):
        result: Any = _to_string(value, type_)
    elif type_ == "integer":
        result = _to_integer(value)
    elif type_ == "decimal":
        result = str(_to_decimal(value))
    elif type_ == "boolean":
        if isinstance(value, bool):
            result = value
        elif isinstance(value, str) and value.strip().lower() in ("true", "false"):
            result = value.strip().lower() == "true"
        else:
            raise ValueError(f"expected true or false, got {value!r}")
    elif type_ == "date":
        result = _to_date(value).isoformat()
    elif type_ == "datetime":
        result = _to_datetime(value).isoformat()
    elif type_ == "object":
        result = _to_object(value, properties)
    elif type_ == "list":
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        result = list(value)
    elif type_ == "any":
        result = value
    else:  # pragma: no cover - rules are validated before use
        raise ValueError(f"unknown type {type_!r}")
    if enum is not None and result not in enum:
        raise ValueError(f"{value!r} is not one of {list(enum)}")
    return result


def _to_object(value: Any, properties: Sequence[str] | None) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    if properties is not None:
        unknown = sorted(set(value) - set(properties))
        if unknown:
            raise ValueError(f"unknown key(s) {unknown}; allowed: {list(properties)}")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is not None and not isinstance(item, str | int | float | bool):
            raise ValueError(f"key {key!r}: expected a scalar value, got {type(item).__name__}")
        out[str(key)] = item.strip() if isinstance(item, str) else item
    return out


def order_key(type_: str, value: Any) -> Any | None:
    """A comparable key for ``highest``/``lowest``, or ``None`` if the value does not parse.

    Values that do not parse cannot win an ordering rule; they are not errors,
    because member data is whatever the source sent.
    """
    try:
        if type_ in ("integer", "decimal"):
            return _to_decimal(value)
        if type_ == "date":
            return _to_date(value)
        if type_ == "datetime":
            return _to_datetime(value)
    except (ValueError, TypeError, decimal.InvalidOperation):
        return None
    return None
