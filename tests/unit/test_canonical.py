"""Canonical validation: structure errors are 422s naming the field; data quality is not."""

from __future__ import annotations

import pytest

from mdm.canonical import MAX_TEXT, validate_fields
from mdm.errors import InvalidInput


def test_numbers_become_strings_and_kind_is_inferred() -> None:
    data = validate_fields("customer", {"name": "Acme", "address": {"postal_code": 62701}, "phone": 2175550100})
    assert data["kind"] == "organization"
    assert data["address"]["postal_code"] == "62701" and data["phone"] == "2175550100"
    assert validate_fields("customer", {"first_name": "Ann"})["kind"] == "person"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"name": "x", "address": "1 Main St"}, "address"),
        ({"name": ["x"]}, "name"),
        ({"name": "x" * (MAX_TEXT + 1)}, "name"),
        ({"first_name": "A", "birth_date": "31/12/1980"}, "birth_date"),
        ({"name": "x", "credit_limit": "lots"}, "credit_limit"),
        ({"name": "x", "kind": "robot"}, "kind"),
    ],
)
def test_structural_problems_name_the_field(fields: dict, bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_fields("customer", fields)
    assert bad in info.value.details["fields"]


def test_invalid_phone_is_not_a_structural_error() -> None:
    assert validate_fields("customer", {"name": "x", "phone": "call me maybe"})["phone"] == "call me maybe"


def test_price_needs_its_key_and_a_sane_period() -> None:
    ok = validate_fields("price", {"product": "SKU-1", "price_list": "RETAIL", "currency": "usd", "amount": 19.99})
    assert ok["currency"] == "USD" and ok["amount"] == "19.99" and ok["min_quantity"] == 1
    with pytest.raises(InvalidInput) as info:
        validate_fields("price", {"product": "SKU-1", "price_list": "R", "currency": "USD", "amount": "1", "valid_from": "2026-02-01", "valid_to": "2026-01-01"})
    assert "valid_to" in info.value.details["fields"]
    with pytest.raises(InvalidInput) as info:
        validate_fields("price", {"product": "SKU-1", "currency": "USD", "amount": "NaN"})
    assert {"price_list", "amount"} <= set(info.value.details["fields"])


def test_unknown_fields_are_kept() -> None:
    assert validate_fields("product", {"sku": "A", "Colour__c": {"r": 1}})["Colour__c"] == {"r": 1}


def test_a_bulk_line_with_nan_is_rejected_with_its_line_number() -> None:
    from datetime import UTC, datetime

    from mdm.loader import parse_jsonl_line

    row = parse_jsonl_line(7, '{"source_id": "A1", "fields": {"name": "Acme", "Score": NaN}}', datetime.now(UTC))
    assert row is not None and row.change is None and row.line == 7 and "NaN is not a JSON number" in row.error
    good = parse_jsonl_line(8, '{"source_id": "A2", "fields": {"name": "Acme", "Score": 1.5}}', datetime.now(UTC))
    assert good is not None and good.change is not None
