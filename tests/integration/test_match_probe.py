"""``POST /match/{domain}``: ranked candidates, the decision and explanations — and nothing stored.

Also: a record's explanation is frozen at decision time and survives a model change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from matching import MatchEngine
from mdm.db import UnitOfWork
from mdm.engines import reset_caches
from mdm.models import MatchModelRow
from tests.conftest import DATA_TABLES, Hub

ACME = {"kind": "organization", "name": "Acme Corporation", "website": "acme.com", "phone": "+1 217 555 0100",
        "address": {"line1": "1 Main Street", "city": "Springfield", "region": "IL", "postal_code": "62701"}}
GLOBEX = {"kind": "organization", "name": "Globex Inc", "website": "globex.com", "phone": "+1 312 555 0199",
          "address": {"line1": "9 Elm Avenue", "city": "Chicago", "region": "IL", "postal_code": "60601"}}

DEFAULT_VERSION = MatchEngine("customer").model.version


def row_counts(hub: Hub) -> dict[str, int]:
    engine = create_engine(hub.settings.database_url)
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in [*DATA_TABLES, "source_system"]}
    finally:
        engine.dispose()


def probe(hub: Hub, body: Any, role: str = "salesforce", domain: str = "customer") -> Any:
    return hub.client.post(f"/api/v1/match/{domain}", json=body, headers=hub.headers(role))


def test_probe_ranks_candidates_and_stores_nothing(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", ACME)
    any_hub.put("erp", "customer", "C-2", GLOBEX)
    any_hub.wait_resolved()
    acme_golden = any_hub.get("/sources/erp/customer/records/C-1").get_json()["golden_id"]
    before = row_counts(any_hub)
    # Salesforce's own field names, mapped exactly like ingest (the key's source by default)
    response = probe(any_hub, {"fields": {"Name": "ACME Corp.", "Phone": "(217) 555-0100", "BillingStreet": "1 Main St",
                                          "BillingCity": "Springfield", "BillingState": "IL", "BillingPostalCode": "62701"}})
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["object"] == "Account" and result["canonical"]["name"] == "ACME Corp."
    assert result["decision"]["action"] == "link" and result["decision"]["golden_id"] == acme_golden
    top = result["candidates"][0]
    assert top["golden_id"] == acme_golden and top["probability"] >= 0.95
    assert top["golden"]["fields"]["name"] == "Acme Corporation"
    assert {c["field"] for c in top["explanation"]["comparisons"]} >= {"phone"}
    assert result["model_version"] == DEFAULT_VERSION, "the shipped default before any training"
    # a stranger: no candidates, the hub would start a new golden
    stranger = probe(any_hub, {"fields": {"kind": "organization", "name": "Initech LLC", "phone": "+1 512 555 0123"}, "source": "erp"}, role="steward")
    assert stranger.status_code == 200 and stranger.get_json()["decision"]["action"] == "new"
    assert stranger.get_json()["candidates"] == []
    after = row_counts(any_hub)
    assert after == before, "the probe stored nothing"


def test_probe_rejects_bad_input_like_ingest(hub: Hub) -> None:
    assert probe(hub, {"fields": {"kind": "organization", "name": "x" * 20000}}).status_code == 422
    assert probe(hub, {"fields": {"name": "Bad", "address": "a string"}, "source": "erp"}).status_code == 422
    assert probe(hub, {"fields": {}}).status_code == 422
    assert probe(hub, {"fields": {"name": "Acme"}, "colour": "red"}).status_code == 422
    assert probe(hub, {"fields": {"name": "Acme"}, "limit": 0}).status_code == 422
    assert probe(hub, {"fields": {"name": "Acme"}, "source": "nowhere"}).status_code == 404
    assert probe(hub, {"fields": {"name": "Acme"}}, domain="planet").status_code == 404
    assert probe(hub, {"fields": {"product": "P-1", "amount": "1.00"}}, domain="price").status_code == 422
    assert probe(hub, {"fields": {"name": "Acme"}}, role="subscriber").status_code == 403
    malformed = hub.client.post("/api/v1/match/customer", data="{nope", headers=hub.headers("salesforce"))
    assert malformed.status_code == 400 and malformed.get_json()["error"]["code"] == "malformed_json"
    # emoji and control characters are normalized or flagged, never a 500
    odd = probe(hub, {"fields": {"kind": "organization", "name": "🙂\x07 Ltd"}, "source": "erp"})
    assert odd.status_code in (200, 422) and odd.get_json()


def test_products_can_be_probed(hub: Hub) -> None:
    hub.put("erp", "product", "P-1", {"sku": "WID-1", "gtin": "00012345678905", "name": "Widget", "brand": "Acme"})
    response = probe(hub, {"fields": {"gtin": "00012345678905", "sku": "WID-1", "brand": "Acme", "name": "Widget"}, "source": "erp"}, domain="product")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["candidates"], response.get_json()


def test_explanation_is_frozen_when_a_new_model_is_activated(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", ACME)
    any_hub.put("salesforce", "customer", "001A000001frzAAA", {"Name": "Acme Corp", "Phone": "217-555-0100"})
    any_hub.wait_resolved()
    before = any_hub.get("/sources/salesforce/customer/records/001A000001frzAAA").get_json()
    assert before["match_status"] == "linked" and before["model_version"] == DEFAULT_VERSION
    assert before["match_explanation"]["comparisons"]
    # a new model with other thresholds and weights, activated later
    from mdm.services import modeling

    with UnitOfWork(any_hub.settings) as uow:
        engine_doc = modeling.current_model(uow, "customer").to_json()
        engine_doc.update(version="customer-frozen-test", thresholds={"upper": 0.99, "lower": 0.9})
        for comparison in engine_doc["comparisons"]:
            for level in comparison["levels"]:
                if level.get("m") is not None:
                    level["m"] = min(0.999, level["m"] * 0.5 + 0.01)
        uow.session.add(MatchModelRow(domain="customer", version="customer-frozen-test", document=engine_doc))
        uow.commit()
    with UnitOfWork(any_hub.settings) as uow:
        modeling.activate(uow, "customer-frozen-test")
        uow.commit()
    reset_caches()
    after = any_hub.get("/sources/salesforce/customer/records/001A000001frzAAA").get_json()
    assert after["match_explanation"] == before["match_explanation"]
    assert (after["model_version"], after["match_probability"]) == (DEFAULT_VERSION, before["match_probability"])
    # the new model is really in force: a new decision names it
    any_hub.put("salesforce", "customer", "001A000001frzBBB", {"Name": "Acme Corp", "Phone": "217-555-0100"})
    any_hub.wait_resolved()
    newer = any_hub.get("/sources/salesforce/customer/records/001A000001frzBBB").get_json()
    assert newer["model_version"] == "customer-frozen-test" == newer["match_explanation"]["model_version"]
    assert probe(any_hub, {"fields": {"Name": "Acme Corp"}}).get_json()["model_version"] == "customer-frozen-test"
