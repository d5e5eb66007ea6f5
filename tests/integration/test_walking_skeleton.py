"""Issue 3's acceptance path: a Salesforce Account and an ERP customer become one golden
record whose lineage names both; a different company at another address stays apart."""

from __future__ import annotations

from tests.conftest import Hub

ACME_SF = {
    "Name": "Acme Corp.",
    "BillingStreet": "1 Main St",
    "BillingCity": "Springfield",
    "BillingState": "IL",
    "BillingPostalCode": "62701",
}
ACME_ERP = {
    "kind": "organization",
    "name": "ACME Corporation",
    "address": {"line1": "1 Main Street", "city": "Springfield", "region": "IL", "postal_code": "62701"},
}
GLOBEX_ERP = {
    "kind": "organization",
    "name": "Globex Inc",
    "address": {"line1": "9 Elm Ave", "city": "Shelbyville", "region": "IL", "postal_code": "62565"},
}


def test_salesforce_and_erp_copies_become_one_golden(any_hub: Hub) -> None:
    assert any_hub.put("salesforce", "customer", "001A000001abcDE", ACME_SF).status_code == 202
    assert any_hub.put("erp", "customer", "C-1001", ACME_ERP).status_code == 202
    assert any_hub.put("erp", "customer", "C-2002", GLOBEX_ERP).status_code == 202
    any_hub.wait_resolved()

    sf = any_hub.get("/sources/salesforce/customer/records/001A000001abcDE").get_json()
    erp = any_hub.get("/sources/erp/customer/records/C-1001").get_json()
    globex = any_hub.get("/sources/erp/customer/records/C-2002").get_json()
    assert sf["golden_id"] and sf["golden_id"] == erp["golden_id"]
    assert globex["golden_id"] and globex["golden_id"] != sf["golden_id"]
    assert erp["match_status"] == "linked"
    assert erp["match_explanation"]["model_version"]

    golden = any_hub.get(f"/golden/customer/{sf['golden_id']}").get_json()
    # the 15-character Salesforce id was stored in its 18-character form
    assert sf["source_id"] == "001A000001abcDEIAY"
    assert {(m["source"], m["source_id"]) for m in golden["members"]} == {
        ("salesforce", "001A000001abcDEIAY"),
        ("erp", "C-1001"),
    }
    winners = {entry["source"] for entry in golden["lineage"].values() if entry.get("source")}
    weighed = {alt["source"] for entry in golden["lineage"].values() for alt in entry["alternatives"]}
    assert winners | weighed == {"salesforce", "erp"}
    name = golden["lineage"]["name"]
    assert {name["source"]} | {a["source"] for a in name["alternatives"]} == {"salesforce", "erp"}
    assert name["rule"] and name["record_id"]
    assert golden["fields"]["name"] in {"Acme Corp.", "ACME Corporation"}
    assert golden["version"] >= 2


def test_same_put_twice_creates_no_second_version(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", ACME_ERP)
    any_hub.wait_resolved()
    record = any_hub.get("/sources/erp/customer/records/C-1").get_json()
    before = any_hub.get(f"/golden/customer/{record['golden_id']}").get_json()
    again = any_hub.put("erp", "customer", "C-1", ACME_ERP)
    assert again.status_code == 202 and again.get_json()["outcome"] == "unchanged"
    any_hub.wait_resolved()
    after = any_hub.get(f"/golden/customer/{record['golden_id']}").get_json()
    assert after["version"] == before["version"] == 1


def test_stale_update_is_acknowledged_and_ignored(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", ACME_ERP, updated_at="2026-03-01T00:00:00Z")
    stale = any_hub.put("erp", "customer", "C-1", {**ACME_ERP, "name": "Old Name"}, updated_at="2026-02-01T00:00:00Z")
    assert stale.status_code == 202 and stale.get_json()["outcome"] == "stale"
    any_hub.wait_resolved()
    record = any_hub.get("/sources/erp/customer/records/C-1").get_json()
    assert record["fields"]["name"] == "ACME Corporation"


def test_delete_detaches_and_recomputes_golden(any_hub: Hub) -> None:
    any_hub.put("salesforce", "customer", "001A000001abcDE", ACME_SF)
    any_hub.put("erp", "customer", "C-1001", ACME_ERP)
    any_hub.wait_resolved()
    golden_id = any_hub.get("/sources/erp/customer/records/C-1001").get_json()["golden_id"]
    response = any_hub.put("erp", "customer", "C-1001", {}, updated_at="2026-02-01T00:00:00Z", deleted=True)
    assert response.status_code == 202
    any_hub.wait_resolved()
    record = any_hub.get("/sources/erp/customer/records/C-1001").get_json()
    assert record["golden_id"] is None and record["match_status"] == "deleted"
    golden = any_hub.get(f"/golden/customer/{golden_id}").get_json()
    assert [m["source"] for m in golden["members"]] == ["salesforce"]
    assert golden["fields"]["name"] == "Acme Corp."
    assert all(entry.get("source") != "erp" for entry in golden["lineage"].values())
