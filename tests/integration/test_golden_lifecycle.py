"""Golden lifecycle through the API: merge, split, steward overrides, history and as_of."""

from __future__ import annotations

import time
from urllib.parse import quote

from tests.conftest import Hub

ACME = {"kind": "organization", "name": "Acme Corporation", "address": {"line1": "1 Main Street", "city": "Springfield", "region": "IL", "postal_code": "62701"}}
ACME_WEST = {"kind": "organization", "name": "Acme West Holdings", "address": {"line1": "800 Ocean Ave", "city": "Santa Monica", "region": "CA", "postal_code": "90401"}}


def golden_of(hub: Hub, source: str, source_id: str) -> str:
    return hub.get(f"/sources/{source}/customer/records/{source_id}").get_json()["golden_id"]


def test_merge_keeps_the_oldest_id_and_redirects_the_other(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", ACME)
    any_hub.wait_resolved()
    time.sleep(0.01)
    any_hub.put("erp", "customer", "C-2", ACME_WEST)
    any_hub.wait_resolved()
    old, new = golden_of(any_hub, "erp", "C-1"), golden_of(any_hub, "erp", "C-2")
    assert old != new
    response = any_hub.client.post("/api/v1/golden/customer/merge", json={"golden_ids": [new, old], "reason": "same company"}, headers=any_hub.headers("steward"))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["survivor_id"] == old
    assert golden_of(any_hub, "erp", "C-2") == old, "the cross-reference moved to the survivor"
    redirect = any_hub.get(f"/golden/customer/{new}")
    assert redirect.status_code == 308 and redirect.headers["Location"].endswith(f"/golden/customer/{old}")
    survivor = any_hub.get(f"/golden/customer/{old}").get_json()
    assert {m["source_id"] for m in survivor["members"]} == {"C-1", "C-2"}
    again = any_hub.client.post("/api/v1/golden/customer/merge", json={"golden_ids": [new, old]}, headers=any_hub.headers("steward"))
    assert again.status_code == 409 and again.get_json()["error"]["details"]["merged_into"] == old
    history = any_hub.get(f"/golden/customer/{old}/history").get_json()["versions"]
    assert history[-1]["cause"]["type"] == "merge" and history[-1]["cause"]["actor"] == "steward:steward"


def test_split_moves_members_to_a_new_id_and_they_stay_apart(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", ACME)
    any_hub.put("salesforce", "customer", "001A000001abcDE", {"Name": "Acme Corp.", "BillingStreet": "1 Main St", "BillingCity": "Springfield", "BillingState": "IL", "BillingPostalCode": "62701"})
    any_hub.wait_resolved()
    golden_id = golden_of(any_hub, "erp", "C-1")
    sf = any_hub.get("/sources/salesforce/customer/records/001A000001abcDE").get_json()
    assert sf["golden_id"] == golden_id
    response = any_hub.client.post(f"/api/v1/golden/customer/{golden_id}/split", json={"record_ids": [sf["id"]], "reason": "different branch"}, headers=any_hub.headers("steward"))
    assert response.status_code == 201, response.get_json()
    new_id = response.get_json()["new_golden_id"]
    assert new_id != golden_id and golden_of(any_hub, "salesforce", "001A000001abcDE") == new_id
    # re-resolving the same content must not link it back (the steward said no)
    any_hub.put("salesforce", "customer", "001A000001abcDE", {"Name": "Acme Corp.", "BillingStreet": "1 Main St", "BillingCity": "Springfield", "BillingState": "IL", "BillingPostalCode": "62701"}, updated_at="2026-02-01T00:00:00Z")
    any_hub.wait_resolved()
    assert golden_of(any_hub, "salesforce", "001A000001abcDE") == new_id
    bad = any_hub.client.post(f"/api/v1/golden/customer/{golden_id}/split", json={"record_ids": [999999]}, headers=any_hub.headers("steward"))
    assert bad.status_code == 422


def test_override_pins_a_value_until_unpinned_and_is_validated(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", ACME)
    any_hub.wait_resolved()
    golden_id = golden_of(any_hub, "erp", "C-1")
    url = f"/api/v1/golden/customer/{golden_id}/overrides/name"
    response = any_hub.client.put(url, json={"value": "ACME Corp (HQ)"}, headers=any_hub.headers("steward"))
    assert response.status_code == 200, response.get_json()
    golden = any_hub.get(f"/golden/customer/{golden_id}").get_json()
    assert golden["fields"]["name"] == "ACME Corp (HQ)"
    assert golden["lineage"]["name"]["rule"] == "steward_override" and golden["lineage"]["name"]["pinned_by"] == "steward:steward"
    # a source change does not beat the pin
    any_hub.put("erp", "customer", "C-1", {**ACME, "name": "Acme Corporation Inc"}, updated_at="2026-02-01T00:00:00Z")
    any_hub.wait_resolved()
    assert any_hub.get(f"/golden/customer/{golden_id}").get_json()["fields"]["name"] == "ACME Corp (HQ)"
    assert any_hub.client.delete(url, headers=any_hub.headers("steward")).status_code == 200
    assert any_hub.get(f"/golden/customer/{golden_id}").get_json()["fields"]["name"] == "Acme Corporation Inc"
    assert any_hub.client.delete(url, headers=any_hub.headers("steward")).status_code == 404
    unknown = any_hub.client.put(f"/api/v1/golden/customer/{golden_id}/overrides/colour", json={"value": "red"}, headers=any_hub.headers("steward"))
    wrong = any_hub.client.put(f"/api/v1/golden/customer/{golden_id}/overrides/credit_limit", json={"value": "lots"}, headers=any_hub.headers("steward"))
    assert unknown.status_code == 422 and wrong.status_code == 422
    assert any_hub.client.put(url, json={"value": "x"}, headers=any_hub.headers("erp")).status_code == 403


def test_history_lists_versions_with_diffs_and_as_of_returns_the_past(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", ACME, updated_at="2026-01-01T00:00:00Z")
    any_hub.wait_resolved()
    golden_id = golden_of(any_hub, "erp", "C-1")
    between = any_hub.get(f"/golden/customer/{golden_id}").get_json()["updated_at"]
    time.sleep(0.05)
    any_hub.put("erp", "customer", "C-1", {**ACME, "phone": "+1 217 555 0100"}, updated_at="2026-02-01T00:00:00Z")
    any_hub.wait_resolved()
    versions = any_hub.get(f"/golden/customer/{golden_id}/history").get_json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert "phone" in versions[1]["changes"] and versions[1]["changes"]["phone"]["from"] is None
    assert versions[1]["cause"]["type"] == "source_change" and versions[1]["cause"]["source_id"] == "C-1"
    past = any_hub.get(f"/golden/customer/{golden_id}?as_of={quote(between)}").get_json()
    assert past["version"] == 1 and "phone" not in past["fields"]
    assert any_hub.get(f"/golden/customer/{golden_id}?as_of=2000-01-01T00:00:00Z").status_code == 404
    assert any_hub.get(f"/golden/customer/{golden_id}?as_of=yesterday").status_code == 422
