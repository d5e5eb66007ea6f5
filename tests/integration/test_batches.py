"""Batches: at least 1,000 records a call, progress counted until every record is resolved."""

from __future__ import annotations

import time

from tests.conftest import Hub

WORDS = ["Amber", "Birch", "Cobalt", "Delta", "Ember", "Falcon", "Granite", "Harbor", "Iris", "Juniper", "Kestrel",
         "Lumen", "Maple", "Nimbus", "Onyx", "Pioneer", "Quartz", "Raven", "Summit", "Tidal", "Umber", "Vertex"]
KINDS = ["Bakery", "Logistics", "Outfitters", "Pharmacy", "Hardware", "Textiles", "Dental", "Motors", "Books", "Farms"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Fairview", "Georgetown", "Salem", "Madison", "Clinton"]


def company(i: int) -> dict:
    """Distinct, plausible businesses (names from word lists, their own streets and postcodes)."""
    name = f"{WORDS[i % 22]} {WORDS[(i // 22) % 22]} {KINDS[(i // 484) % 10]} {KINDS[i % 10]}"
    return {
        "name": name,
        "address": {"line1": f"{100 + i} {WORDS[(i * 7) % 22]} Street", "city": CITIES[i % 8], "postal_code": f"{10000 + i * 37}"},
    }


def wait_done(hub: Hub, batch_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = hub.get(f"/batches/{batch_id}").get_json()
        if status["status"] != "processing" or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_batch_of_1000_is_resolved_and_reported(any_hub: Hub) -> None:
    records = [{"source_id": f"C{i}", "fields": company(i), "updated_at": "2026-01-01T00:00:00Z"} for i in range(1000)]
    response = any_hub.client.post("/api/v1/sources/erp/customer/batches", json={"records": records}, headers=any_hub.headers("erp"))
    assert response.status_code == 202, response.get_json()
    batch_id = response.get_json()["batch_id"]
    status = wait_done(any_hub, batch_id)
    assert status["status"] == "done", status
    assert (status["total"], status["processed"], status["failed"]) == (1000, 1000, 0)
    record = any_hub.get("/sources/erp/customer/records/C7").get_json()
    assert record["golden_id"] and record["match_status"] in {"new", "linked"}


def test_resent_batch_is_acknowledged_without_new_versions(any_hub: Hub) -> None:
    records = [{"source_id": f"C{i}", "fields": company(i), "updated_at": "2026-01-01T00:00:00Z"} for i in range(20)]
    first = any_hub.client.post("/api/v1/sources/erp/customer/batches", json={"records": records}, headers=any_hub.headers("erp"))
    assert wait_done(any_hub, first.get_json()["batch_id"])["status"] == "done"
    golden_id = any_hub.get("/sources/erp/customer/records/C3").get_json()["golden_id"]
    version = any_hub.get(f"/golden/customer/{golden_id}").get_json()["version"]
    older = [{**r, "updated_at": "2025-01-01T00:00:00Z", "fields": {**r["fields"], "name": "Old"}} for r in records[:5]]
    second = any_hub.client.post("/api/v1/sources/erp/customer/batches", json={"records": records[5:] + older}, headers=any_hub.headers("erp"))
    body = second.get_json()
    assert body["outcomes"] == {"unchanged": 15, "stale": 5}
    status = wait_done(any_hub, body["batch_id"])
    assert status["status"] == "done" and status["ignored"] == 5
    assert any_hub.get(f"/golden/customer/{golden_id}").get_json()["version"] == version
