"""Salesforce publishing through simple-salesforce against a local HTTPS Salesforce stand-in."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mdm.publishing.jobs import drain
from tests.conftest import Hub
from tests.integration.publishing.conftest import emit
from tests.integration.publishing.sf_server import FakeSalesforce

ERP_FIELDS = {
    "kind": "organization", "name": "Acme Corp", "phone": "+1 217 555 0100",
    "address": {"line1": "1 Main St", "city": "Springfield", "region": "IL", "postal_code": "62701", "country": "US"},
    "payment_terms": "NET30", "credit_limit": "25000.00", "credit_hold": False, "tax_registration": "US-123",
}


@pytest.fixture
def sf(tmp_path: Path) -> Iterator[FakeSalesforce]:
    server = FakeSalesforce(tmp_path).start()
    yield server
    server.stop()


def _subscribe(hub: Hub, sf: FakeSalesforce, active: bool = True) -> dict[str, Any]:
    body = {
        "kind": "salesforce", "name": "org", "active": active,
        "salesforce": {
            "instance_url": sf.url, "token_url": f"{sf.url}/services/oauth2/token", "client_id": "cid",
            "client_secret": "csecret", "refresh_token": "good-refresh-token", "ca_bundle": str(sf.cert),
        },
    }
    response = hub.client.post("/api/v1/subscriptions", json=body, headers=hub.headers("admin"))
    assert response.status_code == 201, response.get_json()
    doc = response.get_json()
    assert "refresh_token" not in doc["salesforce"] and "client_secret" not in doc["salesforce"]
    return doc


def _deliveries(hub: Hub, sub_id: str, role: str = "admin", **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return hub.get(f"/subscriptions/{sub_id}/deliveries?{query}", role=role).get_json()["deliveries"]


def test_collections_upsert_update_by_id_and_token_refresh(hub: Hub, fast_env: dict[str, str], sf: FakeSalesforce) -> None:
    sf.accounts["001000000000001AAA"] = {"Name": "Acme (SF)"}
    sub = _subscribe(hub, sf, active=False)
    new_a, new_b, owned = (str(uuid.uuid4()) for _ in range(3))
    emit(hub.settings, new_a, 1, fields=ERP_FIELDS)
    emit(hub.settings, new_b, 1)
    # a golden whose member is a Salesforce Account, referenced by its 15-character id
    emit(hub.settings, owned, 1, fields=ERP_FIELDS, crossref=[{"source": "erp", "source_id": "C-1"}, {"source": "salesforce", "source_id": "001000000000001"}])
    response = hub.client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"active": True}, headers=hub.headers("admin"))
    assert response.status_code == 200

    assert len(sf.calls("token")) == 1
    upsert, = sf.calls("collection_upsert")
    assert upsert["path"].endswith("/composite/sobjects/Account/MDM_Golden_Id__c")
    assert sorted(r["MDM_Golden_Id__c"] for r in upsert["body"]["records"]) == sorted([new_a, new_b])
    assert upsert["body"]["allOrNone"] is False
    assert upsert["call_options"] == "client=mdm-hub"
    record = next(r for r in upsert["body"]["records"] if r["MDM_Golden_Id__c"] == new_a)
    assert record["AccountNumber"] == f"A-{new_a[:6]}"
    assert record["MDM_Payment_Terms__c"] == "NET30" and record["MDM_Credit_Limit__c"] == 25000.0
    assert record["MDM_Credit_Hold__c"] is False and record["MDM_Tax_Registration__c"] == "US-123"
    assert record["BillingStreet"] == "1 Main St" and record["BillingPostalCode"] == "62701"
    update, = sf.calls("collection_update")
    assert [r["id"] for r in update["body"]["records"]] == ["001000000000001AAA"]
    assert sf.accounts["001000000000001AAA"]["MDM_Golden_Id__c"] == owned
    rows = _deliveries(hub, sub["id"])
    assert {r["status"] for r in rows} == {"delivered"} and all(r["remote_id"] for r in rows)

    sf.expire_session()  # the next call answers 401 INVALID_SESSION_ID
    emit(hub.settings, new_a, 2, fields={**ERP_FIELDS, "name": "Acme Corporation"})
    assert len(sf.calls("token")) == 2
    single = sf.calls("single_upsert")
    assert [c["token"] for c in single] == ["token-1", "token-2"]  # 401 INVALID_SESSION_ID, refresh, same call again
    assert single[-1]["path"].endswith(f"/sobjects/Account/MDM_Golden_Id__c/{new_a}")
    latest = _deliveries(hub, sub["id"], golden_id=new_a)
    assert [(r["golden_version"], r["status"]) for r in latest] == [(1, "delivered"), (2, "delivered")]
    assert sf.accounts[latest[0]["remote_id"]]["Name"] == "Acme Corporation"


def test_5xx_and_request_limit_are_retried(hub: Hub, fast_env: dict[str, str], sf: FakeSalesforce) -> None:
    sub = _subscribe(hub, sf)
    sf.failures = [(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}]),
                   (403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])]
    golden = str(uuid.uuid4())
    emit(hub.settings, golden, 1)
    row, = _deliveries(hub, sub["id"])
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 1, 503)
    time.sleep(0.35)
    drain(sub["id"])
    row, = _deliveries(hub, sub["id"])
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("pending", 2, 403)
    assert "REQUEST_LIMIT_EXCEEDED" in row["last_error"]
    time.sleep(0.45)
    drain(sub["id"])
    row, = _deliveries(hub, sub["id"])
    assert (row["status"], row["attempts"]) == ("delivered", 3)


def test_multiple_match_goes_to_stewards_and_record_errors_are_visible(hub: Hub, fast_env: dict[str, str], sf: FakeSalesforce) -> None:
    sub = _subscribe(hub, sf)
    ambiguous, invalid = str(uuid.uuid4()), str(uuid.uuid4())
    sf.multiple_match.add(ambiguous)
    sf.record_errors[invalid] = [{"errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Phone is required", "fields": ["Phone"]}]
    emit(hub.settings, ambiguous, 1)
    emit(hub.settings, invalid, 1)
    for_stewards = _deliveries(hub, sub["id"], role="steward", status="steward")
    assert [r["golden_id"] for r in for_stewards] == [ambiguous]
    assert for_stewards[0]["last_status_code"] == 300 and len(for_stewards[0]["response"]["multiple_matches"]) == 2
    rejected, = _deliveries(hub, sub["id"], status="rejected")
    assert rejected["golden_id"] == invalid and "Phone is required" in rejected["last_error"]
    calls = len(sf.requests)
    time.sleep(0.3)
    drain(sub["id"])
    assert len(sf.requests) == calls, "a multiple match or a rejected record must not be retried"
    # a later version of the rejected golden is still published (terminal states do not block)
    del sf.record_errors[invalid]
    emit(hub.settings, invalid, 2)
    assert [r["status"] for r in _deliveries(hub, sub["id"], golden_id=invalid)] == ["rejected", "delivered"]


def test_salesforce_subscription_needs_admin_and_valid_settings(hub: Hub, fast_env: dict[str, str], sf: FakeSalesforce) -> None:
    body = {"kind": "salesforce", "salesforce": {"instance_url": sf.url, "client_id": "x", "refresh_token": "r"}}
    assert hub.client.post("/api/v1/subscriptions", json=body, headers=hub.headers("subscriber")).status_code == 403
    missing = {"kind": "salesforce", "salesforce": {"instance_url": sf.url, "client_id": "x"}}
    response = hub.client.post("/api/v1/subscriptions", json=missing, headers=hub.headers("admin"))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_input"
    products = {**body, "domains": ["product"]}
    assert hub.client.post("/api/v1/subscriptions", json=products, headers=hub.headers("admin")).status_code == 422


SF_ACCOUNT = {"Name": "Acme Corp.", "BillingStreet": "1 Main St", "BillingCity": "Springfield", "BillingState": "IL", "BillingPostalCode": "62701"}


def test_changes_made_by_the_hub_are_not_ingested_again(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDM_SALESFORCE_INTEGRATION_USER_IDS", "005000000000001")
    assert hub.put("salesforce", "customer", "001A000001abcDE", SF_ACCOUNT).status_code == 202
    record = hub.get("/sources/salesforce/customer/records/001A000001abcDE").get_json()
    golden = hub.get(f"/golden/customer/{record['golden_id']}").get_json()
    # the integration user (18-character form of the configured 15) wrote this change
    echo = hub.put("salesforce", "customer", "001A000001abcDE", {**SF_ACCOUNT, "Name": "Acme Corp (from MDM)", "LastModifiedById": "005000000000001AAA"},
                   updated_at="2026-02-01T00:00:00Z")
    assert echo.status_code == 202 and echo.get_json()["outcome"] == "echo"
    cdc = hub.put("salesforce", "customer", "001A000001abcDE", {**SF_ACCOUNT, "Name": "Acme CDC", "ChangeEventHeader": {"changeOrigin": "com/salesforce/api/rest/60.0;client=mdm-hub"}},
                  updated_at="2026-02-02T00:00:00Z")
    assert cdc.get_json()["outcome"] == "echo"
    assert hub.get(f"/golden/customer/{record['golden_id']}").get_json()["version"] == golden["version"]
    real = hub.put("salesforce", "customer", "001A000001abcDE", {**SF_ACCOUNT, "Name": "Acme Corp Ltd", "LastModifiedById": "005000000000002AAA"},
                   updated_at="2026-02-03T00:00:00Z")
    assert real.get_json()["outcome"] == "accepted"
    assert hub.get(f"/golden/customer/{record['golden_id']}").get_json()["version"] > golden["version"]
