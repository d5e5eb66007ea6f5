"""Odd values never crash a job: emoji, control characters, non-Latin scripts are normalized;
a record with no usable matching field becomes its own golden with a warning and is never
linked to everything else that has an empty key."""

from __future__ import annotations

from tests.conftest import Hub


def test_odd_values_resolve_and_empty_records_stay_apart(any_hub: Hub) -> None:
    odd = [
        ("U1", {"name": "🍕 Pizza \u0007Palace\u200b 🍕", "phone": "☎ call us", "address": {"line1": "\t1  Main\nSt", "city": "Zürich"}}),
        ("U2", {"name": "株式会社トヨタ自動車", "address": {"city": "豊田市", "country": "JP"}}),
        ("U3", {"kind": "person", "first_name": "Ἀλέξανδρος", "last_name": "Παπαδόπουλος", "birth_date": "1970-01-01"}),
        ("E1", {"kind": "organization", "Industry": "Retail"}),
        ("E2", {"kind": "organization", "Industry": "Retail"}),
    ]
    for source_id, fields in odd:
        assert any_hub.put("erp", "customer", source_id, fields).status_code == 202
    any_hub.wait_resolved()
    records = {sid: any_hub.get(f"/sources/erp/customer/records/{sid}").get_json() for sid, _ in odd}
    assert all(r["match_status"] in {"new", "linked"} and r["golden_id"] for r in records.values()), records
    assert records["E1"]["golden_id"] != records["E2"]["golden_id"], "empty keys must not link records"
    assert any("no usable" in w for w in records["E1"]["warnings"]), records["E1"]["warnings"]
    assert "\u0007" not in str(records["U1"]["normalized"])


def test_nul_characters_are_refused_with_the_field_named(any_hub: Hub) -> None:
    response = any_hub.put("erp", "customer", "N1", {"name": "Bad\u0000Name", "address": {"city": "x\u0000"}})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {"fields.name", "fields.address.city"}
    assert any_hub.get("/sources/erp/customer/records/N1").status_code == 404


def test_nul_characters_are_refused_by_every_endpoint(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C1", {"name": "Acme"})
    any_hub.wait_resolved()
    golden_id = any_hub.get("/sources/erp/customer/records/C1").get_json()["golden_id"]
    pin = any_hub.client.put(f"/api/v1/golden/customer/{golden_id}/overrides/name", json={"value": "A\u0000"}, headers=any_hub.headers("steward"))
    merge = any_hub.client.post("/api/v1/golden/customer/merge", json={"golden_ids": [golden_id, "x"], "reason": "\u0000"}, headers=any_hub.headers("steward"))
    assert pin.status_code == merge.status_code == 422
    assert any_hub.get(f"/golden/customer/{golden_id}").get_json()["version"] == 1


def test_values_json_spells_differently_are_stored_exactly_as_sent(any_hub: Hub) -> None:
    """JSONB parameters are written with orjson, falling back to json.dumps for what orjson
    refuses: an integer beyond 64 bits, non-ASCII text and small floats come back as sent."""
    extra = {"Legacy Id": 123456789012345678901234567890, "Score": 1e-05, "Note": "Zürich 🍕 \u00e9"}
    assert any_hub.put("erp", "customer", "J1", {"name": "Acme Big Numbers", **extra}).status_code == 202
    any_hub.wait_resolved()
    record = any_hub.get("/sources/erp/customer/records/J1").get_json()
    assert record["match_status"] == "new"
    stored = {k: record["fields"][k] for k in extra}
    assert stored == extra and type(stored["Legacy Id"]) is int


def test_nan_and_infinity_are_refused_not_stored(any_hub: Hub) -> None:
    """Python's JSON parser accepts NaN and Infinity; JSON does not. They used to be a 500 on
    PostgreSQL (JSONB refuses them) and were stored on SQLite, which then answered with invalid
    JSON."""
    for i, constant in enumerate(("NaN", "Infinity", "-Infinity")):
        body = '{"fields": {"name": "Acme", "Score": ' + constant + '}, "updated_at": "2026-01-01T00:00:00Z"}'
        response = any_hub.client.put(f"/api/v1/sources/erp/customer/records/NAN{i}", data=body,
                                      headers={**any_hub.headers("erp"), "Content-Type": "application/json"})
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"]["code"] == "malformed_json"
        assert constant.lstrip("-") in response.get_json()["error"]["message"]
        assert any_hub.get(f"/sources/erp/customer/records/NAN{i}").status_code == 404
