"""Paths outside the streaming benchmark read rows in proportion to their work, not to the hub.

The same audit as :mod:`tests.integration.test_lookup_plan`, for the steward queue, the bridge
check, the publisher's claim, ``mdm rematch`` and ``mdm golden recompute``: data is written to
tables never analyzed (a young hub; CI has no statistics either), the service runs, and each
statement it sent is explained again — with its own parameters, as a custom and as a generic
plan — to count the rows its scans read. Found at 100,000 records, 70,000 goldens, 25,000 review
items and 140,000 deliveries (see each service's comment for the measured figures): a page of
50 open review items read the whole open queue and sorted it, the bridge check scanned every
review item, the claim's re-check read every subscription's pending rows to lock 50, and each
rematch chunk and recompute page read the whole table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text

from mdm.db import UnitOfWork
from mdm.models import GoldenRecord
from mdm.publishing import deliveries
from mdm.publishing.models import Subscription
from mdm.services import bridging, rematch, steward
from mdm.services.recompute import golden_id_pages
from mdm.settings import Settings
from tests.conftest import captured_statements
from tests.integration.test_lookup_plan import blocks_scanned, rows_read

RECORDS = 20_000
REVIEWS = 10_000
#: fields / raw / lineage of about the size real ones have (a bulk-loaded hub of FEBRL-like
#: people holds 4.5 records and 6 goldens a page): the planner of a never-analyzed table
#: guesses its row count from its pages and column types, so rows of a few bytes would make it
#: plan for a table a tenth of the size it is
PAYLOAD = '{"name": "%s"}' % ("x" * 700)
SUB_A, SUB_B = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"


@pytest.fixture
def settings(pg_inline_settings: Settings) -> Settings:
    return pg_inline_settings


def build_hub(settings: Settings) -> None:
    """RECORDS records in as many goldens, REVIEWS review items (one in five open, scattered),
    two subscriptions with a delivery per golden each (a tenth of A's pending and due) — written
    with SQL, never analyzed."""
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO golden_record (id, domain, status, approval, fields, lineage, version, created_at, updated_at)
                SELECT 'g' || lpad(i::text, 35, '0'), 'customer', 'active', 'approved', :payload, :payload, 1, now(), now()
                  FROM generate_series(1, :n) i"""), {"n": RECORDS, "payload": PAYLOAD})
            conn.execute(text("""
                INSERT INTO source_record (source, domain, source_id, object_type, raw, fields, content_hash,
                                           source_updated_at, received_at, deleted, golden_id, match_status, attempts,
                                           resolved_hash)
                SELECT 'erp', 'customer', 's' || i, 'customer', :payload, :payload, 'h', now(), now(), false,
                       'g' || lpad(i::text, 35, '0'), 'new', 0, 'h'
                  FROM generate_series(1, :n) i"""), {"n": RECORDS, "payload": PAYLOAD})
            conn.execute(text("""
                INSERT INTO review_item (domain, source_record_id, candidate_golden_id, probability, explanation, status, created_at)
                SELECT 'customer', i, 'g' || lpad((i % :n + 1)::text, 35, '0'), 0.6, '{}',
                       CASE WHEN i % 5 = 0 THEN 'open' WHEN i % 5 = 1 THEN 'rejected' ELSE 'approved' END, now()
                  FROM generate_series(1, :r) i"""), {"n": RECORDS, "r": REVIEWS})
            conn.execute(text("""
                INSERT INTO outbox_event (event_id, golden_id, domain, golden_version, type, payload, created_at)
                SELECT 'e' || lpad(i::text, 35, '0'), 'g' || lpad(i::text, 35, '0'), 'customer', 1, 'created',
                       '{"approval": "approved"}', now() - interval '1 hour'
                  FROM generate_series(1, :n) i"""), {"n": RECORDS})
            conn.execute(text("""
                INSERT INTO subscription (id, name, kind, url, secrets, domains, event_types, publish_unapproved, active,
                                          cursor_txid, cursor_id, created_at, updated_at)
                SELECT s, s, 'webhook', 'http://127.0.0.1:9/', '', '["customer"]', '["created"]', '[]', true,
                       (SELECT max(txid) FROM outbox_event), (SELECT max(id) FROM outbox_event), now(), now()
                  FROM unnest(CAST(:subs AS varchar[])) s"""), {"subs": [SUB_A, SUB_B]})
            conn.execute(text("""
                INSERT INTO delivery (subscription_id, outbox_id, event_id, golden_id, golden_version, domain, event_type,
                                      status, attempts, next_attempt_at, replays, event_created_at, created_at)
                SELECT s.id, e.id, e.event_id, e.golden_id, 1, 'customer', 'created',
                       CASE WHEN e.id % 10 = 0 AND s.id = :a THEN 'pending' WHEN e.id % 3 = 0 THEN 'pending' ELSE 'delivered' END,
                       0, e.created_at, 0, e.created_at, e.created_at
                  FROM outbox_event e CROSS JOIN subscription s"""), {"a": SUB_A})
    finally:
        engine.dispose()


def explain(settings: Settings, statement: str, params: dict[str, Any], plan_mode: str) -> dict[str, Any]:
    """EXPLAIN ANALYZE of a captured ``statement`` prepared with positional parameters, under
    ``plan_mode`` (force_generic_plan or force_custom_plan), rolled back."""
    order: list[str] = []
    for name in re.findall(r"%\((\w+)\)s", statement):
        if name not in order:
            order.append(name)
    sql = re.sub(r"%\((\w+)\)s", lambda m: f"${order.index(m.group(1)) + 1}", statement)
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            cursor = psycopg.ClientCursor(conn.connection.driver_connection)
            cursor.execute(f"SET plan_cache_mode = {plan_mode}")
            cursor.execute(f"PREPARE audited AS {sql}")
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE audited({', '.join(['%s'] * len(order))})"
                           if order else "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE audited",
                           [params[name] for name in order])
            plan = cursor.fetchone()[0][0]["Plan"]
            conn.rollback()
            return plan
    finally:
        engine.dispose()


def statements(seen: list[tuple[str, dict[str, Any]]], *fragments: str) -> list[tuple[str, dict[str, Any]]]:
    found = [(s, p) for s, p in seen if isinstance(p, dict) and all(f in s for f in fragments)]
    assert found, f"no statement with {fragments} among {[s[:80] for s, _ in seen]}"
    return found


def rows_read_by(settings: Settings, run: Callable[[], Any], relation: str, *fragments: str) -> dict[str, int]:
    """Rows of ``relation`` read by the statements of ``run`` holding ``fragments``, per plan mode (summed)."""
    with captured_statements() as seen:
        run()
    return {mode: sum(rows_read(explain(settings, s, p, mode), relation) for s, p in statements(seen, *fragments))
            for mode in ("force_custom_plan", "force_generic_plan")}


def test_a_review_queue_page_reads_its_page_not_the_queue(settings: Settings) -> None:
    build_hub(settings)
    with UnitOfWork(settings) as uow:
        after = REVIEWS // 2

        def page(status: str) -> Callable[[], Any]:
            return lambda: steward.list_items(uow, "customer", status=status, limit=50, after=after)

        for status in ("open", "approved"):
            read = rows_read_by(settings, page(status), "review_item", "FROM review_item", "ORDER BY review_item.id")
            # 51 items (one more tells whether there is a next page); the queue holds thousands
            assert max(read.values()) <= 2 * 51, (status, read)


def test_a_review_queue_page_reads_its_records_and_candidates_not_the_hub(settings: Settings) -> None:
    """The page's records, candidate goldens and their members are read for the page at once
    (tests.integration.test_steward_queue_page): by key, not by reading every record or golden."""
    build_hub(settings)
    with UnitOfWork(settings) as uow:
        page = lambda: steward.list_items(uow, "customer", status="open", limit=50, after=REVIEWS // 2)  # noqa: E731
        # the 50 records, and the one member of each of the 50 candidates (each golden has one)
        records = rows_read_by(settings, page, "source_record", "FROM source_record")
        assert max(records.values()) <= 2 * 2 * 50, f"read {records} of {RECORDS} records for a page of 50"
        goldens = rows_read_by(settings, page, "golden_record", "FROM golden_record")
        assert max(goldens.values()) <= 2 * 50, f"read {goldens} of {RECORDS} goldens for a page of 50"


def test_the_bridge_check_probes_the_candidates_open_reviews(settings: Settings) -> None:
    build_hub(settings)
    with UnitOfWork(settings) as uow:
        golden = uow.session.get(GoldenRecord, "g" + "5".rjust(35, "0"))
        read = rows_read_by(settings, lambda: bridging._in_review(uow, golden), "review_item", "FROM review_item")
    assert max(read.values()) <= 10, f"read {read} of {REVIEWS} review items for one golden's open reviews"


def add_labels(settings: Settings, labels: int) -> None:
    """``labels`` steward labels, record i against golden i + 1 (two in three "not a match"), with
    the snapshot's several KB in TOAST as real ones are: narrow heap rows. Never analyzed."""
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO match_label (domain, source_record_id, golden_id, is_match, record_hash, snapshot, decided_by, created_at)
                SELECT 'customer', i, 'g' || lpad((i % :n + 1)::text, 35, '0'), i % 3 = 0, 'h', '{"toasted": true}',
                       'steward:ann', now()
                  FROM generate_series(1, :l) i"""), {"n": RECORDS, "l": labels})
    finally:
        engine.dispose()


def test_the_separation_check_probes_the_goldens_members_labels(settings: Settings) -> None:
    """bridging._separated reads the two goldens' members and their labels, not every label."""
    labels = 10_000
    build_hub(settings)
    add_labels(settings, labels)

    def golden(i: int) -> str:
        return "g" + str(i).rjust(35, "0")

    with UnitOfWork(settings) as uow:
        # record 5 (golden 5) is "not a match" with golden 6; record 6 is a match with golden 7;
        # nothing links goldens 8 and 9,000
        assert bridging._separated(uow, golden(5), golden(6)) and bridging._separated(uow, golden(6), golden(5))
        assert not bridging._separated(uow, golden(6), golden(7))
        for a, b in ((golden(5), golden(6)), (golden(8), golden(9_000))):
            with captured_statements() as seen:
                bridging._separated(uow, a, b)
            for statement, params in statements(seen, "FROM match_label"):
                for mode in ("force_custom_plan", "force_generic_plan"):
                    plan = explain(settings, statement, params, mode)
                    read, blocks = rows_read(plan, "match_label"), blocks_scanned(plan, "match_label")
                    # one member each, a probe of ix_match_label_pair per member
                    assert read <= 4 and blocks <= 20, f"{mode}: read {read} rows, {blocks} blocks of {labels} labels"


def test_a_claim_locks_its_candidates_by_primary_key(settings: Settings) -> None:
    """The re-check before the lock reads the candidates' rows, not every pending, due row."""
    build_hub(settings)
    with UnitOfWork(settings) as uow:
        sub = uow.session.get(Subscription, SUB_A)

        def claim() -> None:
            assert len(deliveries.claim(uow, sub, 50, 60)) == 50

        read = rows_read_by(settings, claim, "delivery", "FOR UPDATE OF delivery SKIP LOCKED")
    # 100 candidates (twice the claim); pending, due rows: a third of B's and a tenth of A's more
    assert max(read.values()) <= 2 * 100, f"re-check read {read} delivery rows to lock 50"


def test_a_rematch_chunk_reads_its_chunk_not_the_hub(settings: Settings) -> None:
    build_hub(settings)

    def first_chunk() -> None:
        _uow, rows = next(rematch._iter_records(settings, "customer", None))
        assert len(rows) == rematch.CHUNK

    read = rows_read_by(settings, first_chunk, "source_record", "FROM source_record")
    assert max(read.values()) <= 3 * rematch.CHUNK, f"read {read} of {RECORDS} records for a chunk of {rematch.CHUNK}"


def test_a_recompute_page_reads_its_page_not_every_golden(settings: Settings) -> None:
    build_hub(settings)

    def first_page() -> None:
        assert len(next(golden_id_pages(settings, "customer", page_size=500))) == 500

    read = rows_read_by(settings, first_page, "golden_record", "FROM golden_record")
    assert max(read.values()) <= 2 * 500, f"read {read} of {RECORDS} goldens for a page of 500"

