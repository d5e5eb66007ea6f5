"""Prices are keyed, not fuzzy: the same key from two systems is one golden price, the product
is resolved through the cross-reference, and overlapping validity periods are reported."""

from __future__ import annotations

from tests.conftest import Hub

PRODUCT = {"sku": "SKU-1", "gtin": "00012345678905", "name": "Anvil, 50 lb", "brand": "Acme"}


def test_prices_are_keyed_through_the_product_cross_reference(any_hub: Hub) -> None:
    any_hub.put("erp", "product", "SKU-1", PRODUCT)
    any_hub.put("erp", "product", "SKU-2", {"sku": "SKU-2", "gtin": "00036000291452", "name": "Rocket Skates", "brand": "Acme"})
    any_hub.wait_resolved()
    base = {"product": "SKU-1", "price_list": "RETAIL", "currency": "USD", "amount": "19.99", "min_quantity": 1, "valid_from": "2026-01-01", "valid_to": "2026-06-30"}
    any_hub.put("erp", "price", "P1", base)
    any_hub.put("erp", "price", "P2", {**base, "price_list": " retail ", "amount": "18.99"})  # same key, normalized
    any_hub.put("erp", "price", "P3", {**base, "product": "SKU-2"})
    any_hub.wait_resolved()
    p1, p2, p3 = (any_hub.get(f"/sources/erp/price/records/{i}").get_json() for i in ("P1", "P2", "P3"))
    assert p1["golden_id"] == p2["golden_id"] != p3["golden_id"]
    product_golden = any_hub.get("/sources/erp/product/records/SKU-1").get_json()["golden_id"]
    assert p1["normalized"]["product_golden_id"] == product_golden
    golden = any_hub.get(f"/golden/price/{p1['golden_id']}").get_json()
    assert golden["fields"]["currency"] == "USD" and len(golden["members"]) == 2


def test_overlapping_validity_periods_are_reported_as_conflicts(any_hub: Hub) -> None:
    any_hub.put("erp", "product", "SKU-1", PRODUCT)
    any_hub.wait_resolved()
    first = {"product": "SKU-1", "price_list": "RETAIL", "currency": "USD", "amount": "19.99", "valid_from": "2026-01-01", "valid_to": "2026-06-30"}
    any_hub.put("erp", "price", "H1", first)
    any_hub.put("erp", "price", "H2", {**first, "amount": "17.99", "valid_from": "2026-06-01", "valid_to": "2026-12-31"})
    any_hub.put("erp", "price", "H3", {**first, "amount": "15.99", "valid_from": "2027-01-01", "valid_to": None})
    any_hub.wait_resolved()
    h1, h2, h3 = (any_hub.get(f"/sources/erp/price/records/{i}").get_json() for i in ("H1", "H2", "H3"))
    assert len({h1["golden_id"], h2["golden_id"], h3["golden_id"]}) == 3, "different valid_from: different prices"
    conflicts = h2["match_explanation"]["conflicts"]
    assert conflicts == [{"other_record_id": h1["id"], "overlap_from": "2026-06-01", "overlap_to": "2026-06-30"}]
    assert any("overlaps" in w for w in h2["warnings"])
    assert h3["match_explanation"]["conflicts"] == []
