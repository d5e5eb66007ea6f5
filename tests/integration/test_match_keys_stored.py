"""A record's stored blocking keys follow its content exactly, on SQLite and on PostgreSQL.

On PostgreSQL one statement writes a resolution: it deletes the keys the record lost and inserts
the ones it gained, keeping the rest (``match_key``'s primary key is the row itself, so deleting
and re-inserting a kept key in one statement would collide with itself).
"""

from __future__ import annotations

from sqlalchemy import create_engine, text

from matching import MatchEngine
from tests.conftest import Hub, keys_by_record

FIRST = {"kind": "person", "first_name": "Katherine", "last_name": "Zielinski", "birth_date": "1970-02-03",
         "address": {"line1": "4 Kent St", "city": "Deakin", "postal_code": "2600", "country": "AU"}}
# same person, moved: the address keys change, the name and birth-date keys stay
MOVED = {**FIRST, "address": {"line1": "17 Marine Pde", "city": "Coogee", "postal_code": "2034", "country": "AU"}}


def stored_keys(hub: Hub) -> dict[int, set[str]]:
    """``keys_by_record``, after checking that every stored key belongs to a stored record."""
    engine = create_engine(hub.settings.database_url)
    try:
        with engine.connect() as conn:
            orphans = conn.execute(text(
                "SELECT count(*) FROM match_key m LEFT JOIN source_record s ON s.id = m.source_record_id WHERE s.id IS NULL"
            )).scalar_one()
    finally:
        engine.dispose()
    assert orphans == 0
    return keys_by_record(hub)


def expected_keys(fields: dict) -> set[str]:
    engine = MatchEngine("customer")
    return set(engine.blocking_keys(engine.prepare(fields)))


def test_keys_are_changed_not_duplicated_when_a_record_is_resolved_again(any_hub: Hub) -> None:
    any_hub.put("erp", "customer", "C-1", FIRST)
    any_hub.wait_resolved()
    rid = any_hub.get("/sources/erp/customer/records/C-1").get_json()["id"]
    first = stored_keys(any_hub)[rid]

    any_hub.put("erp", "customer", "C-1", MOVED, updated_at="2026-02-01T00:00:00Z")
    any_hub.wait_resolved()
    moved = stored_keys(any_hub)[rid]
    assert first & moved and first - moved and moved - first, "the test needs kept, lost and gained keys"
    assert moved == expected_keys(MOVED)

    # the same content again (a re-resolve with nothing to change) keeps the same keys
    any_hub.put("erp", "customer", "C-1", FIRST, updated_at="2026-03-01T00:00:00Z")
    any_hub.wait_resolved()
    assert stored_keys(any_hub)[rid] == first == expected_keys(FIRST)
    assert any_hub.get("/sources/erp/customer/records/C-1").get_json()["match_status"] != "error"
