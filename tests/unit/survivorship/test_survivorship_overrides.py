"""Validating steward overrides against the declared field types (the API's 422)."""

from __future__ import annotations

import datetime as dt

import pytest

from survivorship import OverrideError, load_rules
from survivorship.fieldtypes import coerce, order_key


@pytest.fixture(scope="module")
def customer():
    return load_rules("customer")


@pytest.mark.parametrize(
    ("field", "value", "canonical"),
    [
        ("name", "  Acme Inc ", "Acme Inc"),
        ("kind", "person", "person"),
        ("email", "a@b.co", "a@b.co"),
        ("phone", "+1 (555) 123-4567", "+1 (555) 123-4567"),
        ("website", "https://acme.com", "https://acme.com"),
        ("birth_date", "1980-02-29", "1980-02-29"),
        ("birth_date", dt.date(1980, 1, 2), "1980-01-02"),
        ("credit_limit", "5000.50", "5000.50"),
        ("credit_limit", 5000, "5000"),
        ("credit_limit", 12.5, "12.5"),
        ("credit_hold", True, True),
        ("credit_hold", "false", False),
        ("address", {"line1": "1 Main", "city": "X"}, {"line1": "1 Main", "city": "X"}),
        ("tax_id", None, None),
    ],
)
def test_valid_overrides_return_the_canonical_value(customer, field, value, canonical):
    assert customer.validate_override(field, value) == canonical


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("shoe_size", "42", "unknown field for domain 'customer'"),
        ("email_all", ["a@b.co"], "unknown field"),
        ("kind", "robot", "'robot' is not one of ['organization', 'person']"),
        ("name", 42, "expected a string, got int"),
        ("email", "not-an-email", "not an e-mail address"),
        ("phone", "call me", "not a phone number"),
        ("website", "no spaces allowed.com x", "not a URL"),
        ("birth_date", "29/02/1980", "expected an ISO date"),
        ("birth_date", dt.datetime(1980, 1, 1), "got a datetime"),
        ("credit_limit", "lots", "expected a decimal number"),
        ("credit_limit", "NaN", "expected a finite decimal number"),
        ("credit_limit", True, "got a boolean"),
        ("credit_hold", "yes", "expected true or false"),
        ("address", "1 Main St", "expected an object"),
        ("address", {"street": "1 Main"}, "unknown key(s) ['street']"),
        ("address", {"line1": ["a"]}, "key 'line1': expected a scalar value"),
    ],
)
def test_invalid_overrides_raise_a_clear_error(customer, field, value, message):
    with pytest.raises(OverrideError) as info:
        customer.validate_override(field, value)
    assert info.value.field == field
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_wrong_type_message_names_the_declared_type(customer):
    with pytest.raises(OverrideError, match=r"declared type: decimal"):
        customer.validate_override("credit_limit", "x")


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("integer", "42", 42),
        ("integer", 3.0, 3),
        ("datetime", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00+00:00"),
        ("datetime", "2024-01-01T10:00:00", "2024-01-01T10:00:00+00:00"),
        ("list", ("a", "b"), ["a", "b"]),
        ("any", {"x": [1]}, {"x": [1]}),
    ],
)
def test_coerce_other_types(type_, value, expected):
    assert coerce(type_, value) == expected


@pytest.mark.parametrize(
    ("type_", "value"),
    [("integer", "4.5"), ("integer", True), ("list", "a"), ("datetime", 5), ("datetime", "soon")],
)
def test_coerce_rejects(type_, value):
    with pytest.raises(ValueError):
        coerce(type_, value)


def test_order_key_ignores_unparseable_values():
    assert order_key("decimal", "x") is None
    assert order_key("string", "x") is None
    assert order_key("date", "2024-01-02") == dt.date(2024, 1, 2)
