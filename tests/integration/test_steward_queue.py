"""The stewards' review queue: list, approve (merge), reject (label), superseded, paging, errors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from tests.conftest import Hub

ACME = {"kind": "organization", "name": "Acme Corporation", "website": "acme.com", "phone": "+1 217 555 0100",
        "address": {"line1": "1 Main Street", "city": "Springfield", "region": "IL", "postal_code": "62701"}}
#: same name and web site, nothing that pins down the place: the guard sends it to review
ACME_THIN = {"kind": "organization", "name": "Acme Corp", "website": "https://www.acme.com"}
GLOBEX = {"kind": "organization", "name": "Globex Inc", "website": "globex.com", "phone": "+1 312 555 0199",
          "address": {"line1": "9 Elm Avenue", "city": "Chicago", "region": "IL", "postal_code": "60601"}}
GLOBEX_THIN = {"kind": "organization", "name": "Globex Incorporated", "website": "globex.com"}


def record(hub: Hub, source: str, source_id: str) -> dict[str, Any]:
    return hub.get(f"/sources/{source}/customer/records/{source_id}").get_json()


def queue(hub: Hub, query: str = "") -> Any:
    return hub.get(f"/review/customer{query}", role="steward")


def post(hub: Hub, path: str, body: Any = None, role: str = "steward") -> Any:
    return hub.client.post(f"/api/v1{path}", json=body, headers=hub.headers(role))


def one_review(hub: Hub) -> tuple[dict[str, Any], dict[str, Any]]:
    """ERP ACME, then a thin Salesforce copy that lands in the review band."""
    hub.put("erp", "customer", "C-1", ACME)
    hub.wait_resolved()
    hub.put("salesforce", "customer", "001A000001revAAA", ACME_THIN)
    hub.wait_resolved()
    page = queue(hub).get_json()
    assert len(page["items"]) == 1, page
    return page["items"][0], record(hub, "erp", "C-1")


def force_resolve(hub: Hub, record_id: int) -> None:
    """Make the worker resolve a record again although its content did not change."""
    from mdm.jobs import enqueue_resolve

    engine = create_engine(hub.settings.database_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE source_record SET resolved_hash = NULL, match_status = 'pending' WHERE id = {int(record_id)}"))
    engine.dispose()
    enqueue_resolve([record_id])
    hub.wait_resolved()


def count(hub: Hub, sql: str) -> int:
    engine = create_engine(hub.settings.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_queue_shows_record_candidate_score_and_frozen_explanation(any_hub: Hub) -> None:
    item, erp = one_review(any_hub)
    sf = record(any_hub, "salesforce", "001A000001revAAA")
    assert sf["match_status"] == "review" and sf["golden_id"] != erp["golden_id"], "a provisional golden of its own"
    assert item["status"] == "open" and item["record"]["id"] == sf["id"]
    assert item["candidate"]["golden_id"] == erp["golden_id"] and item["candidate"]["fields"]["name"] == "Acme Corporation"
    assert 0.5 <= item["probability"] < 0.95
    assert item["explanation"]["model_version"] and item["explanation"]["comparisons"], "the frozen comparison vector"
    assert sf["open_reviews"][0]["id"] == item["id"]
    assert any_hub.get(f"/golden/customer/{sf['golden_id']}").get_json()["approval"] == "pending_review"
    single = any_hub.get(f"/review/customer/{item['id']}", role="steward").get_json()
    assert single["id"] == item["id"] and single["record"]["source_id"] == "001A000001revAAA"
    # roles: stewards (and admins) only
    assert queue(any_hub).status_code == 200
    assert any_hub.get("/review/customer", role="salesforce").status_code == 403
    assert any_hub.get("/review/customer", role="subscriber").status_code == 403


def test_approve_merges_the_provisional_golden_and_stores_a_label(any_hub: Hub) -> None:
    item, erp = one_review(any_hub)
    provisional = record(any_hub, "salesforce", "001A000001revAAA")["golden_id"]
    response = post(any_hub, f"/review/customer/{item['id']}/approve", {"note": "same company, web site matches"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "approved" and body["decided_by"] == "steward:steward" and body["merged"] is True
    sf = record(any_hub, "salesforce", "001A000001revAAA")
    assert sf["golden_id"] == erp["golden_id"] and sf["match_status"] == "linked"
    assert sf["match_explanation"]["steward_decision"]["decision"] == "approved"
    golden = any_hub.get(f"/golden/customer/{erp['golden_id']}").get_json()
    assert golden["approval"] == "approved" and {m["source_id"] for m in golden["members"]} == {"C-1", "001A000001revAAA"}
    assert any_hub.get(f"/golden/customer/{provisional}").status_code == 308, "the provisional id redirects"
    history = any_hub.get(f"/golden/customer/{erp['golden_id']}/history").get_json()["versions"]
    assert history[-1]["cause"]["type"] == "merge" and "review item" in history[-1]["cause"]["reason"]
    label = count(any_hub, f"SELECT count(*) FROM match_label WHERE is_match AND source_record_id = {sf['id']} AND golden_id = '{erp['golden_id']}'")
    assert label == 1
    # deciding it again is a conflict, not a second merge
    again = post(any_hub, f"/review/customer/{item['id']}/approve")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_decided"
    assert post(any_hub, f"/review/customer/{item['id']}/reject").status_code == 409
    assert queue(any_hub).get_json()["items"] == []
    assert [i["id"] for i in queue(any_hub, "?status=approved").get_json()["items"]] == [item["id"]]


def test_reject_keeps_them_apart_until_the_record_changes(any_hub: Hub) -> None:
    item, erp = one_review(any_hub)
    provisional = record(any_hub, "salesforce", "001A000001revAAA")["golden_id"]
    response = post(any_hub, f"/review/customer/{item['id']}/reject", {"note": "a different Acme"})
    assert response.status_code == 200, response.get_json()
    sf = record(any_hub, "salesforce", "001A000001revAAA")
    assert (sf["golden_id"], sf["match_status"]) == (provisional, "new")
    assert any_hub.get(f"/golden/customer/{provisional}").get_json()["approval"] == "approved"
    # re-resolving the unchanged record (a replayed job, a rematch) never links or queues it again
    force_resolve(any_hub, sf["id"])
    again = record(any_hub, "salesforce", "001A000001revAAA")
    assert (again["golden_id"], again["match_status"], again["open_reviews"]) == (provisional, "new", [])
    assert "excluded by steward decisions" in " ".join(again["warnings"])
    # the record's content changes: the "not a match" no longer applies, it is judged afresh
    any_hub.put("salesforce", "customer", "001A000001revAAA", {**ACME_THIN, "name": "ACME Corp."}, updated_at="2026-04-01T00:00:00Z")
    any_hub.wait_resolved()
    changed = record(any_hub, "salesforce", "001A000001revAAA")
    assert changed["match_status"] == "review" and changed["open_reviews"][0]["candidate_golden_id"] == erp["golden_id"]


def test_a_changed_record_supersedes_its_item(any_hub: Hub) -> None:
    item, _ = one_review(any_hub)
    any_hub.put("salesforce", "customer", "001A000001revAAA", {**ACME_THIN, "name": "Acme Corp Intl"}, updated_at="2026-02-01T00:00:00Z")
    any_hub.wait_resolved()
    response = post(any_hub, f"/review/customer/{item['id']}/approve")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "superseded" and "changed" in error["message"]
    assert any_hub.get(f"/review/customer/{item['id']}", role="steward").get_json()["status"] == "superseded"


def test_paging_is_stable_oldest_first(hub: Hub) -> None:
    hub.put("erp", "customer", "C-1", ACME)
    hub.put("erp", "customer", "C-2", GLOBEX)
    hub.put("salesforce", "customer", "001A000001revAAA", ACME_THIN)
    hub.put("salesforce", "customer", "001A000001revBBB", GLOBEX_THIN)
    first = queue(hub, "?limit=1").get_json()
    assert len(first["items"]) == 1 and first["next_after"] == first["items"][0]["id"]
    assert first["items"][0]["record"]["source_id"] == "001A000001revAAA", "oldest first"
    # deciding the first item does not shift the next page
    assert post(hub, f"/review/customer/{first['items'][0]['id']}/reject").status_code == 200
    second = queue(hub, f"?limit=1&after={first['next_after']}").get_json()
    assert [i["record"]["source_id"] for i in second["items"]] == ["001A000001revBBB"] and second["next_after"] is None
    assert len(queue(hub, "?status=all").get_json()["items"]) == 2


def test_bad_input_is_a_clear_4xx(hub: Hub) -> None:
    item, _ = one_review(hub)
    assert queue(hub, "?limit=0").status_code == 422
    assert queue(hub, "?limit=abc").status_code == 422
    assert queue(hub, "?status=maybe").status_code == 422
    assert queue(hub, "?after=-1").status_code == 422
    assert queue(hub, "?colour=red").status_code == 422
    assert hub.get("/review/planet", role="steward").status_code == 404
    assert hub.get("/review/customer/999999", role="steward").status_code == 404
    assert hub.get("/review/customer/abc", role="steward").status_code == 404
    assert hub.get(f"/review/product/{item['id']}", role="steward").status_code == 404, "wrong domain"
    assert post(hub, "/review/customer/999999/approve").status_code == 404
    bad_note = post(hub, f"/review/customer/{item['id']}/approve", {"note": "x" * 3000})
    assert bad_note.status_code == 422 and bad_note.get_json()["error"]["code"] == "invalid_input"
    unknown = post(hub, f"/review/customer/{item['id']}/reject", {"reason": "no"})
    assert unknown.status_code == 422
    malformed = hub.client.post(f"/api/v1/review/customer/{item['id']}/approve", data="{not json", headers=hub.headers("steward"))
    assert malformed.status_code == 400
    assert post(hub, f"/review/customer/{item['id']}/approve", role="salesforce").status_code == 403
    assert hub.get("/review/customer", role="steward").get_json()["items"][0]["status"] == "open", "nothing was decided"


def test_two_stewards_deciding_at_once_get_one_success_and_one_conflict(pg_hub: Hub) -> None:
    """Real PostgreSQL row locks: approve and reject race on one item; exactly one wins."""
    import threading

    item, erp = one_review(pg_hub)
    app = pg_hub.client.application
    barrier = threading.Barrier(2)
    results: dict[str, int] = {}

    def decide(action: str) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(f"/api/v1/review/customer/{item['id']}/{action}", headers=pg_hub.headers("steward"))
        results[action] = response.status_code

    threads = [threading.Thread(target=decide, args=(a,)) for a in ("approve", "reject")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results.values()) == [200, 409], results
    decided = pg_hub.get(f"/review/customer/{item['id']}", role="steward").get_json()
    winner = "approved" if results["approve"] == 200 else "rejected"
    assert decided["status"] == winner
    labels = count(pg_hub, f"SELECT count(*) FROM match_label WHERE source_record_id = {decided['record']['id']}")
    assert labels == 1, "the loser stored nothing"
    sf = record(pg_hub, "salesforce", "001A000001revAAA")
    assert (sf["golden_id"] == erp["golden_id"]) == (winner == "approved")
