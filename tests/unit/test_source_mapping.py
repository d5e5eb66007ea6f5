"""Source mappings are data: Salesforce-native and canonical names both arrive canonical."""

from __future__ import annotations

import pytest

from mdm.errors import InvalidInput
from mdm.source_mapping import (
    apply_mapping,
    mappings_for,
    normalize_source_id,
    salesforce_id18,
    select_mapping,
)


def canonical(kind: str, domain: str, payload: dict, hint: str | None = None) -> tuple[str, dict]:
    mapping = select_mapping(kind, domain, payload, hint)
    return mapping.object, apply_mapping(mapping, payload)


def test_salesforce_account_maps_billing_address_and_keeps_unknown_fields() -> None:
    obj, fields = canonical(
        "salesforce",
        "customer",
        {"Name": "Acme Corp.", "BillingStreet": "1 Main St\nSuite 200", "BillingCity": "Springfield",
         "BillingState": "IL", "BillingPostalCode": "62701", "Phone": "217 555 0100", "Industry": "Retail"},
    )
    assert obj == "Account"
    assert fields == {
        "kind": "organization",
        "name": "Acme Corp.",
        "address": {"line1": "1 Main St", "line2": "Suite 200", "city": "Springfield", "region": "IL", "postal_code": "62701"},
        "phone": "217 555 0100",
        "Industry": "Retail",
    }


def test_person_account_is_detected_by_flag_and_maps_person_fields() -> None:
    obj, fields = canonical(
        "salesforce", "customer",
        {"IsPersonAccount": True, "FirstName": "Ann", "LastName": "Lee", "PersonEmail": "ann@example.com", "PersonBirthdate": "1980-02-03"},
    )
    assert obj == "PersonAccount"
    assert fields == {"kind": "person", "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "birth_date": "1980-02-03"}


def test_contact_is_detected_without_a_company_name() -> None:
    obj, fields = canonical("salesforce", "customer", {"FirstName": "Bo", "LastName": "Ek", "Email": "bo@x.se", "MailingCity": "Lund"})
    assert obj == "Contact"
    assert fields["kind"] == "person" and fields["address"] == {"city": "Lund"} and fields["email"] == "bo@x.se"


def test_attributes_type_from_the_salesforce_rest_api_selects_the_object() -> None:
    obj, _ = canonical("salesforce", "customer", {"attributes": {"type": "Contact"}, "LastName": "Ek", "Name": "x"})
    assert obj == "Contact"


def test_unknown_object_hint_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as info:
        select_mapping("salesforce", "customer", {"Name": "x"}, "Opportunity")
    assert "Opportunity" in info.value.message


def test_canonical_names_pass_through_and_native_names_win_on_conflict() -> None:
    _, fields = canonical("salesforce", "customer", {"name": "canonical", "Name": "native", "address": {"country": "US"}, "BillingCity": "Austin"})
    assert fields["name"] == "native"
    assert fields["address"] == {"country": "US", "city": "Austin"}


def test_product2_and_pricebook_entry() -> None:
    _, product = canonical("salesforce", "product", {"ProductCode": "SKU-1", "Name": "Anvil", "Family": "Tools", "GTIN__c": "12345678905"})
    assert product == {"sku": "SKU-1", "name": "Anvil", "category": "Tools", "gtin": "12345678905"}
    _, price = canonical("salesforce", "price", {"Product2Id": "01t000000000001", "Pricebook2Id": "01s000000000001", "UnitPrice": 19.9, "CurrencyIsoCode": "USD"})
    assert price["product"] == salesforce_id18("01t000000000001") and len(price["product"]) == 18
    assert price["amount"] == "19.9" and price["currency"] == "USD"


def test_erp_payload_is_canonical_already() -> None:
    payload = {"kind": "organization", "name": "ACME", "address": {"line1": "1 Main Street"}, "credit_limit": "5000"}
    _, fields = canonical("erp", "customer", payload)
    assert fields == payload


def test_every_domain_has_an_erp_mapping_and_salesforce_has_its_objects() -> None:
    for domain in ("customer", "product", "price"):
        assert mappings_for("erp", domain)
    assert {m.object for m in mappings_for("salesforce", "customer")} == {"Account", "PersonAccount", "Contact"}


@pytest.mark.parametrize(
    ("short", "long"),
    [("001A0000006Vm9r", "001A0000006Vm9rIAC"), ("003000000000001", "003000000000001AAA")],
)
def test_salesforce_15_and_18_character_ids_are_one_record(short: str, long: str) -> None:
    assert salesforce_id18(short) == long
    assert salesforce_id18(long) == long
    assert normalize_source_id("salesforce", short) == long
    assert normalize_source_id("erp", short) == short
