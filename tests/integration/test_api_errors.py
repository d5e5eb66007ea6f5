"""Bad input gets a clear 4xx JSON error in the contract's shape, and stores nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from tests.conftest import Hub

OK = {"fields": {"name": "Acme"}, "updated_at": "2026-01-01T00:00:00Z"}


def error_of(response: Any, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    return body["error"]


def count_records(hub: Hub) -> int:
    engine = create_engine(hub.settings.database_url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM source_record")).scalar_one()
    engine.dispose()
    return n


def test_api_requires_a_key(hub: Hub) -> None:
    assert error_of(hub.client.get("/api/v1/sources"), 401)["code"] == "unauthorized"
    bad = hub.client.get("/api/v1/sources", headers={"Authorization": "Bearer mdm_nope"})
    assert error_of(bad, 401)["code"] == "unauthorized"


def test_source_key_writes_only_for_its_own_source(hub: Hub) -> None:
    response = hub.client.put("/api/v1/sources/erp/customer/records/1", json=OK, headers=hub.headers("salesforce"))
    assert error_of(response, 403)["details"]["key_source"] == "salesforce"
    response = hub.client.put("/api/v1/sources/erp/customer/records/1", json=OK, headers=hub.headers("steward"))
    error_of(response, 403)
    assert count_records(hub) == 0


def test_malformed_json_is_400(hub: Hub) -> None:
    response = hub.client.put(
        "/api/v1/sources/erp/customer/records/1", data=b'{"fields": {', headers={**hub.headers("erp"), "Content-Type": "application/json"}
    )
    assert error_of(response, 400)["code"] == "malformed_json"
    response = hub.client.put("/api/v1/sources/erp/customer/records/1", data=b"[1, 2]", headers=hub.headers("erp"))
    error_of(response, 422)
    response = hub.client.put("/api/v1/sources/erp/customer/records/1", data=b"", headers=hub.headers("erp"))
    error_of(response, 422)


def test_wrong_types_are_422_naming_the_field(hub: Hub) -> None:
    cases = [
        ({"fields": {"name": "x"}}, "updated_at"),
        ({"fields": {"name": "x"}, "updated_at": "yesterday"}, "updated_at"),
        ({"fields": "Acme", "updated_at": "2026-01-01T00:00:00Z"}, "fields"),
        ({"fields": {"name": "x"}, "updated_at": "2026-01-01T00:00:00Z", "extra": 1}, "extra"),
        ({"fields": {"name": "x"}, "updated_at": "2026-01-01T00:00:00Z", "deleted": "perhaps"}, "deleted"),
    ]
    for body, field in cases:
        response = hub.client.put("/api/v1/sources/erp/customer/records/1", json=body, headers=hub.headers("erp"))
        assert field in error_of(response, 422)["details"]["fields"], body
    response = hub.put("erp", "customer", "1", {"name": "x", "address": "not an object"})
    assert "address" in error_of(response, 422)["details"]["fields"]
    response = hub.put("erp", "customer", "1", {"name": "x" * 10_000})
    assert "name" in error_of(response, 422)["details"]["fields"]
    assert count_records(hub) == 0


def test_unknown_source_or_domain_is_404(hub: Hub) -> None:
    assert error_of(hub.put("sap", "customer", "1", {"name": "x"}, role="admin"), 404)["code"] == "unknown_source"
    assert error_of(hub.put("erp", "vendor", "1", {"name": "x"}), 404)["code"] == "unknown_domain"
    error_of(hub.get("/sources/erp/customer/records/nope"), 404)
    error_of(hub.get("/golden/customer/nope"), 404)
    error_of(hub.get("/batches/nope"), 404)
    error_of(hub.get("/no/such/route"), 404)


def test_batch_over_the_limit_is_413_and_stores_nothing(hub: Hub) -> None:
    limit = hub.settings.max_batch_records
    records = [{"source_id": str(i), "fields": {"name": f"c{i}"}, "updated_at": "2026-01-01T00:00:00Z"} for i in range(limit + 1)]
    response = hub.client.post("/api/v1/sources/erp/customer/batches", json={"records": records}, headers=hub.headers("erp"))
    assert error_of(response, 413)["code"] == "batch_too_large"
    assert count_records(hub) == 0


def test_payload_over_the_size_limit_is_413(hub: Hub) -> None:
    hub.client.application.config["MAX_CONTENT_LENGTH"] = 1000
    response = hub.client.put(
        "/api/v1/sources/erp/customer/records/1",
        json={"fields": {"name": "x", "blob": "y" * 5000}, "updated_at": "2026-01-01T00:00:00Z"},
        headers=hub.headers("erp"),
    )
    error_of(response, 413)
    assert count_records(hub) == 0


def test_one_invalid_record_rejects_the_whole_batch_with_its_index(hub: Hub) -> None:
    records = [
        {"source_id": "1", "fields": {"name": "Good"}, "updated_at": "2026-01-01T00:00:00Z"},
        {"source_id": "2", "fields": {"name": "Bad", "birth_date": "yesterday", "first_name": "x"}, "updated_at": "2026-01-01T00:00:00Z"},
        {"source_id": "1", "fields": {"name": "Duplicate"}, "updated_at": "2026-01-01T00:00:00Z"},
    ]
    response = hub.client.post("/api/v1/sources/erp/customer/batches", json={"records": records}, headers=hub.headers("erp"))
    details = error_of(response, 422)["details"]["records"]
    assert set(details) == {"1", "2"}
    assert count_records(hub) == 0


def test_health_endpoints(hub: Hub) -> None:
    assert hub.client.get("/healthz").get_json() == {"status": "ok"}
    ready = hub.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["migrations"] == "ok"


def test_a_deadlock_broken_by_postgresql_is_a_503_to_retry(hub: Hub, monkeypatch: Any) -> None:
    """A steward call that PostgreSQL picked as the victim of a deadlock (with a resolve job, say)
    was rolled back: the client is told to retry, not that the server failed."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from mdm.services import lifecycle

    def deadlocked(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT … FOR UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock detected"))

    monkeypatch.setattr(lifecycle, "merge", deadlocked)
    response = hub.client.post("/api/v1/golden/customer/merge", json={"golden_ids": ["a", "b"], "reason": "dupes"},
                               headers=hub.headers("steward"))
    assert error_of(response, 503)["code"] == "conflict_retry"
    assert response.headers["Retry-After"] == "1"

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, psycopg.errors.UndefinedTable("no such table"))

    monkeypatch.setattr(lifecycle, "merge", broken)  # anything else stays a logged 500
    response = hub.client.post("/api/v1/golden/customer/merge", json={"golden_ids": ["a", "b"], "reason": "dupes"},
                               headers=hub.headers("steward"))
    assert error_of(response, 500)["code"] == "internal_error"
