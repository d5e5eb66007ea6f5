"""Validation of canonical fields, per domain (marshmallow).

Structural problems (a number where an object belongs, a date that is not ISO-8601, a
string longer than any real value) are rejected with a 422 that names the field. Data
quality problems (a phone that does not parse, a GTIN with a bad check digit) are not
errors here: the record is stored and ``matching`` flags the value.
Unknown fields are kept as they are.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from mdm.errors import InvalidInput

#: No real name, street or e-mail is longer; a 10 kB "name" is an error, not a customer.
MAX_TEXT = 1000
MAX_LONG_TEXT = 20000


class LooseString(fields.String):
    """A string; numbers are accepted and turned into strings (ERPs send postal codes as ints)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = format(value, "d") if isinstance(value, int) else repr(value)
        return super()._deserialize(value, attr, data, **kwargs)


class IsoDate(fields.Field):
    """An ISO-8601 date, kept as its ``YYYY-MM-DD`` string (a datetime's date part is accepted)."""

    default_error_messages = {"invalid": "Not a valid ISO-8601 date (YYYY-MM-DD)."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text = value.strip()
        try:
            # "2020-01-31T00:00:00Z" from a datetime field carries the date in its first 10 characters
            return dt.date.fromisoformat(text[:10]).isoformat()
        except ValueError as exc:
            raise self.make_error("invalid") from exc


class DecimalString(fields.Field):
    """A decimal amount kept as a string so no binary float ever touches money."""

    default_error_messages = {"invalid": "Not a valid decimal number."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.make_error("invalid")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise self.make_error("invalid") from exc
        if not number.is_finite():
            raise self.make_error("invalid")
        return format(number, "f")


def _text(**kw: Any) -> LooseString:
    return LooseString(allow_none=True, validate=validate.Length(max=MAX_TEXT), **kw)


class AddressSchema(Schema):
    class Meta:
        unknown = INCLUDE

    line1 = _text()
    line2 = _text()
    city = _text()
    region = _text()
    postal_code = _text()
    country = _text()


class CustomerSchema(Schema):
    class Meta:
        unknown = INCLUDE

    kind = fields.String(allow_none=True, validate=validate.OneOf(["organization", "person"]))
    name = _text()
    first_name = _text()
    last_name = _text()
    birth_date = IsoDate(allow_none=True)
    tax_id = _text()
    national_id = _text()
    email = _text()
    phone = _text()
    website = _text()
    address = fields.Nested(AddressSchema, allow_none=True)
    account_number = _text()
    payment_terms = _text()
    credit_limit = DecimalString(allow_none=True)
    credit_hold = fields.Boolean(allow_none=True)
    tax_registration = _text()
    currency = _text()


class ProductSchema(Schema):
    class Meta:
        unknown = INCLUDE

    sku = _text()
    gtin = _text()
    mpn = _text()
    name = _text()
    brand = _text()
    category = _text()
    uom = _text()
    description = LooseString(allow_none=True, validate=validate.Length(max=MAX_LONG_TEXT))


class PriceSchema(Schema):
    class Meta:
        unknown = INCLUDE

    product = LooseString(required=True, validate=validate.Length(min=1, max=255))
    price_list = LooseString(required=True, validate=validate.Length(min=1, max=255))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$", error="Not an ISO-4217 code."))
    amount = DecimalString(required=True)
    min_quantity = fields.Integer(load_default=1, strict=False, validate=validate.Range(min=0))
    valid_from = IsoDate(allow_none=True)
    valid_to = IsoDate(allow_none=True)

    @validates_schema
    def _period(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("valid_from") and data.get("valid_to") and data["valid_to"] < data["valid_from"]:
            raise ValidationError("valid_to is before valid_from", field_name="valid_to")


#: one schema instance per domain: building a marshmallow schema per row cost more than validating it
SCHEMAS: dict[str, Schema] = {"customer": CustomerSchema(), "product": ProductSchema(), "price": PriceSchema()}


def validate_fields(domain: str, canonical: dict[str, Any]) -> dict[str, Any]:
    """Return validated canonical fields or raise :class:`InvalidInput` naming every bad field."""
    try:
        data = SCHEMAS[domain].load(canonical)
    except ValidationError as exc:
        raise InvalidInput("invalid fields", details={"fields": exc.messages}) from exc
    if domain == "customer":
        data["kind"] = data.get("kind") or _infer_kind(data)
        if isinstance(data.get("currency"), str):
            data["currency"] = data["currency"].upper()
    if domain == "price":
        data["currency"] = data["currency"].upper()
    return data


def _infer_kind(data: dict[str, Any]) -> str:
    """A payload with a company name and no personal name is an organization."""
    if data.get("name") and not (data.get("first_name") or data.get("last_name")):
        return "organization"
    return "person" if (data.get("first_name") or data.get("last_name")) else "organization"


def parse_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity`` (ValueError).

    Python's parser accepts them, but they are not JSON (RFC 8259): PostgreSQL's JSONB refuses
    them (a record carrying one failed with a 500), SQLite stored them and the API then answered
    with invalid JSON. Every way in (API bodies, bulk files) parses with this.
    """
    return json.loads(text, parse_constant=_not_a_json_number)


def _not_a_json_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Where a NUL character hides in a payload (keys included): PostgreSQL stores none."""
    if isinstance(value, str):
        return [path or "(value)"] if "\x00" in value else []
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                found.append(here)
            found += nul_paths(item, here)
        return found
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in nul_paths(item, f"{path}[{i}]")]
    return []
