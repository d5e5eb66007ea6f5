"""Publishing reads cost rows in proportion to their work, not to the outbox or delivery table.

The audit of :mod:`tests.integration.test_maintenance_plans`, for the pull change feed
(``GET /events``), a subscription's delivery listing and the metrics' recent lag: data is
written with SQL to tables never analyzed, the service runs, and each statement it sent is
explained again with its own parameters, as a custom and as a generic plan. Found at 70,000
events and 140,000 deliveries of two subscriptions (see each statement's comment for the
figures): a filtered feed page read every event after its cursor and sorted them, a listing page
every delivery of the subscription, and each scrape every delivery of every subscription.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, func, or_, text, tuple_
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.models import OutboxEvent
from mdm.publishing import feed
from mdm.publishing.deliveries import list_deliveries
from mdm.publishing.feed import ALWAYS_PUBLISHED, START, Page, Position, position_of, read_page
from mdm.publishing.metrics import PublishingCollector
from mdm.publishing.sweep import due_subscriptions
from mdm.settings import Settings
from tests.integration.test_maintenance_plans import PAYLOAD, SUB_A, SUB_B, rows_read_by

EVENTS = 20_000
#: deliveries of each subscription delivered within the last five minutes
RECENT = 200
LIMIT = 100
#: (domains, approved_only) -> share of the events passing (see build_feed)
FILTERS: dict[tuple[tuple[str, ...], bool], float] = {
    ((), True): 0.9,
    (("product",), True): 0.18,
    (("price",), False): 0.1,
    (("customer", "price"), True): 0.72,
}


@pytest.fixture
def settings(pg_inline_settings: Settings) -> Settings:
    return pg_inline_settings


def build_feed(settings: Settings, events: int = EVENTS, *, invisible: int = 0) -> None:
    """``events`` outbox events (7 in 10 customer, 2 product, 1 price; one in 10 awaiting approval,
    one in 20 a merge tombstone, some with no or a non-string approval) whose writers' txids
    repeat and do not follow the ids; ``invisible`` more from a transaction not yet below the
    visibility bound. Two subscriptions with a delivery per event each, one in 13 pending, the
    last RECENT of each delivered within five minutes. Written with SQL, never analyzed."""
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO outbox_event (event_id, golden_id, domain, golden_version, type, payload, created_at, txid)
                SELECT 'e' || lpad(i::text, 35, '0'), 'g' || lpad((i % 5000)::text, 35, '0'),
                       CASE WHEN i % 10 < 7 THEN 'customer' WHEN i % 10 < 9 THEN 'product' ELSE 'price' END, 1,
                       CASE WHEN i % 20 = 3 THEN 'merged' WHEN i % 2 = 0 THEN 'created' ELSE 'updated' END,
                       CASE WHEN i % 97 = 0 THEN CAST(:payload AS jsonb)
                            WHEN i % 89 = 0 THEN jsonb_build_object('approval', true, 'fields', CAST(:payload AS jsonb))
                            ELSE jsonb_build_object('approval', CASE WHEN i % 10 IN (5, 8) THEN 'pending_review' ELSE 'approved' END,
                                                    'fields', CAST(:payload AS jsonb)) END,
                       now() - interval '1 day',
                       CASE WHEN i > :n THEN 9000000000000
                            ELSE greatest(1, pg_snapshot_xmin(pg_current_snapshot())::text::bigint - 1 - (i * 7919) % 500) END
                  FROM generate_series(1, :n + :invisible) i"""), {"n": events, "invisible": invisible, "payload": PAYLOAD})
            conn.execute(text("""
                INSERT INTO subscription (id, name, kind, url, secrets, domains, event_types, publish_unapproved, active,
                                          cursor_txid, cursor_id, created_at, updated_at)
                SELECT s, s, 'webhook', 'http://127.0.0.1:9/', '', '["customer", "product", "price"]',
                       '["created", "updated", "merged"]', '[]', true, 1, 0, now(), now()
                  FROM unnest(CAST(:subs AS varchar[])) s"""), {"subs": [SUB_A, SUB_B]})
            conn.execute(text("""
                INSERT INTO delivery (subscription_id, outbox_id, event_id, golden_id, golden_version, domain, event_type,
                                      status, attempts, next_attempt_at, replays, event_created_at, created_at, delivered_at)
                SELECT s.id, e.id, e.event_id, e.golden_id, 1, e.domain, e.type,
                       CASE WHEN e.id % 13 = 0 THEN 'pending' ELSE 'delivered' END, 1, e.created_at, 0,
                       now() - interval '1 day', e.created_at,
                       CASE WHEN e.id % 13 = 0 THEN NULL
                            WHEN e.id > :n - :recent THEN now() - interval '1 minute' - (e.id % 7) * interval '1 second'
                            ELSE now() - interval '1 hour' END
                  FROM outbox_event e CROSS JOIN subscription s
                 WHERE e.id <= :n
                 ORDER BY e.id, s.id"""), {"n": events, "recent": RECENT * 13 // 12})
    finally:
        engine.dispose()


def single_statement_page(uow: UnitOfWork, after: Position, limit: int, domains: list[str] | None, approved_only: bool) -> Page:
    """``read_page`` as it was before the feed was walked in windows (one statement): the reference."""
    bound = feed.visibility_bound(uow)
    assert bound is not None
    query = select(OutboxEvent).where(
        tuple_(OutboxEvent.txid, OutboxEvent.id) > tuple_(after.txid, after.id),  # type: ignore[arg-type]
        OutboxEvent.txid < bound,  # type: ignore[operator]
    ).order_by(OutboxEvent.txid, OutboxEvent.id)
    if domains:
        query = query.where(OutboxEvent.domain.in_(domains))  # type: ignore[attr-defined]
    if approved_only:
        query = query.where(or_(
            OutboxEvent.payload["approval"].as_string() == "approved",  # type: ignore[index]
            OutboxEvent.type.in_(sorted(ALWAYS_PUBLISHED)),  # type: ignore[attr-defined]
        ))
    rows = list(uow.session.exec(query.limit(limit + 1)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    last = position_of(rows[-1]) if rows else after
    if not has_more and bound > last.txid:
        last = Position(bound, 0)
    return Page(rows, last, has_more)


def middle_of_feed(uow: UnitOfWork) -> Position:
    """The position of the event halfway through the feed's order."""
    count = uow.session.exec(select(func.count()).select_from(OutboxEvent)).one()
    middle = uow.session.exec(select(OutboxEvent).order_by(OutboxEvent.txid, OutboxEvent.id).offset(count // 2).limit(1)).one()  # type: ignore[arg-type]
    return position_of(middle)


@pytest.mark.parametrize("max_window", [None, 16])
def test_a_filtered_feed_page_is_the_one_a_single_statement_returned(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, max_window: int | None
) -> None:
    """Page by page, every filter, several page sizes and starting points: the same events,
    ``has_more`` and next cursor as the single statement the windows replaced."""
    if max_window is not None:  # windows of at most 16 events: many per page
        monkeypatch.setattr(feed, "MAX_WINDOW", max_window)
    build_feed(settings, 3000, invisible=5)
    with UnitOfWork(settings) as uow:
        # one bound for both (it moves with any other transaction of the cluster)
        bound = feed.visibility_bound(uow)
        monkeypatch.setattr(feed, "visibility_bound", lambda _uow: bound)
        middle = middle_of_feed(uow)
        for domains, approved_only in [*FILTERS, ((), False), (("price", "product"), False)]:
            for limit in (1, 7, 100, 1000):
                for start in (Position(*START), middle):
                    after, pages = start, 0
                    while True:
                        new = read_page(uow, after, limit=limit, domains=list(domains) or None, approved_only=approved_only)
                        old = single_statement_page(uow, after, limit, list(domains) or None, approved_only)
                        assert ([e.id for e in new.events], new.next, new.has_more) == ([e.id for e in old.events], old.next, old.has_more), (
                            domains, approved_only, limit, after)
                        after, pages = new.next, pages + 1
                        if not new.has_more or pages == 40:
                            break
                    assert pages == 40 or not read_page(uow, after, limit=limit, domains=list(domains) or None,
                                                        approved_only=approved_only).events


def test_a_filtered_feed_page_reads_its_page_not_the_feed(settings: Settings) -> None:
    build_feed(settings)
    with UnitOfWork(settings) as uow:
        middle = middle_of_feed(uow)
        for (domains, approved_only), share in FILTERS.items():
            for after in (Position(*START), middle):

                def page(after: Position = after, domains: tuple[str, ...] = domains, approved_only: bool = approved_only) -> None:
                    result = read_page(uow, after, limit=LIMIT, domains=list(domains) or None, approved_only=approved_only)
                    assert len(result.events) == LIMIT and result.has_more

                read = rows_read_by(settings, page, "outbox_event", "FROM outbox_event")
                # the page and what the filters skip to fill it, twice over (windows double)
                assert max(read.values()) <= 4 * (LIMIT + 1) / share + LIMIT + 1, (domains, approved_only, after, read)


def test_a_delivery_listing_page_reads_its_page_not_the_subscriptions_deliveries(settings: Settings) -> None:
    build_feed(settings)
    with UnitOfWork(settings) as uow:
        for after_id in (0, EVENTS):

            def page(after_id: int = after_id) -> None:
                rows = list_deliveries(uow, subscription_ids=[SUB_A], after_id=after_id, limit=LIMIT)
                assert len(rows) == LIMIT and all(d.subscription_id == SUB_A for d in rows)
                assert [d.id for d in rows] == sorted(d.id for d in rows) and rows[0].id > after_id

            read = rows_read_by(settings, page, "delivery", "FROM delivery")
            assert max(read.values()) <= 2 * LIMIT, f"read {read} of {EVENTS} deliveries of the subscription for a page of {LIMIT}"


def test_the_recent_lag_reads_the_last_minutes_deliveries(settings: Settings) -> None:
    build_feed(settings)
    collect: Callable[[], Any] = lambda: list(PublishingCollector(settings).collect())  # noqa: E731
    metrics = {m.name: m for m in collect()}
    recent = {(s.labels["subscription"], s.labels["stat"]): s.value for s in metrics["mdm_publish_recent_lag_seconds"].samples}
    for sub in (SUB_A, SUB_B):
        # delivered 1 minute to 1 minute 6 seconds ago, a day after their event
        assert 86_334 < recent[(sub, "avg")] < 86_340 and recent[(sub, "max")] == pytest.approx(86_340)
    read = rows_read_by(settings, collect, "delivery", "FROM delivery", "delivered_at >=")
    # about RECENT a subscription, per subscription
    assert max(read.values()) <= 2 * 2 * RECENT, f"read {read} of {2 * EVENTS} deliveries for the last five minutes"


def test_the_sweep_probes_each_subscription_for_a_due_delivery(settings: Settings) -> None:
    build_feed(settings)

    def due() -> None:
        assert sorted(due_subscriptions(settings, 60)) == [SUB_A, SUB_B]

    read = rows_read_by(settings, due, "delivery", "FROM delivery")
    # the first due delivery of each subscription; both hold EVENTS / 13 of them
    assert max(read.values()) <= 10, f"read {read} delivery rows to find the 2 subscriptions with due deliveries"
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE delivery SET leased_until = now() + interval '1 minute' WHERE subscription_id = :b"), {"b": SUB_B})
        assert due_subscriptions(settings, 60) == [SUB_A]
        assert due_subscriptions(settings, 2 * 86_400) == []
        with engine.begin() as conn:
            conn.execute(text("UPDATE subscription SET active = false WHERE id = :a"), {"a": SUB_A})
        assert due_subscriptions(settings, 60) == []
    finally:
        engine.dispose()
