"""The pull feed: opaque cursors that never skip or repeat, even with out-of-order commits."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from mdm.db import UnitOfWork
from mdm.models import OutboxEvent
from tests.conftest import Hub
from tests.integration.publishing.conftest import emit


def _drain_feed(hub: Hub, cursor: str | None = None, limit: int = 3, **params: str) -> tuple[list[str], str | None]:
    seen: list[str] = []
    while True:
        query = f"/events?limit={limit}" + (f"&after={cursor}" if cursor else "") + "".join(f"&{k}={v}" for k, v in params.items())
        page = hub.get(query, role="subscriber").get_json()
        seen += [e["id"] for e in page["events"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return seen, cursor


def test_feed_pages_without_gaps_or_repeats_on_sqlite(hub: Hub) -> None:
    ids = [emit(hub.settings, str(uuid.uuid4()), 1, domain=random.choice(["customer", "product"])) for _ in range(10)]
    seen, cursor = _drain_feed(hub)
    assert seen == ids
    more = [emit(hub.settings, str(uuid.uuid4()), 1) for _ in range(2)]
    assert _drain_feed(hub, cursor)[0] == more
    products, _ = _drain_feed(hub, domain="product")
    assert products and all(hub.get(f"/events/{e}", role="subscriber").get_json()["data"]["domain"] == "product" for e in products)


@pytest.mark.parametrize("bad", ["zzz", "djE6eDp5", "-1", "djI6MTox"])
def test_bad_cursor_and_limit_are_422(hub: Hub, bad: str) -> None:
    response = hub.get(f"/events?after={bad}", role="subscriber")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_input"
    assert hub.get("/events?limit=0", role="subscriber").status_code == 422
    assert hub.get("/events?limit=x", role="subscriber").status_code == 422
    assert hub.get("/events?domain=planet", role="subscriber").status_code == 422
    assert hub.get("/events", role="erp").status_code == 403


@pytest.mark.postgres
def test_slow_writer_is_not_skipped_on_postgres(pub_hub: Hub) -> None:
    """A transaction takes its outbox id first but commits last: the feed must wait for it."""
    engine = create_engine(pub_hub.settings.database_url)
    slow = engine.connect()
    slow_tx = slow.begin()
    try:
        slow_id = str(uuid.uuid4())
        slow.execute(
            text("INSERT INTO outbox_event (event_id, golden_id, domain, golden_version, type, payload, created_at) "
                 "VALUES (:e, :g, 'customer', 1, 'created', CAST(:p AS jsonb), now())"),
            {"e": slow_id, "g": str(uuid.uuid4()), "p": "{\"approval\": \"approved\"}"},
        )
        fast = [emit(pub_hub.settings, str(uuid.uuid4()), 1) for _ in range(3)]
        seen, cursor = _drain_feed(pub_hub)
        # the later, committed events are held back behind the open transaction, not skipped past it
        assert seen == []
        slow_tx.commit()
    finally:
        if slow_tx.is_active:
            slow_tx.rollback()  # never leave a transaction open: it would stall every feed in the cluster
        slow.close()
        engine.dispose()
    later: list[str] = []
    deadline = time.monotonic() + 20  # other transactions of the cluster may hold the bound a little longer
    while len(later) < 4 and time.monotonic() < deadline:
        page, cursor = _drain_feed(pub_hub, cursor)
        later += page
        time.sleep(0.05)
    assert sorted(later) == sorted([slow_id, *fast]) and len(later) == 4


@pytest.mark.postgres
def test_concurrent_writers_and_a_polling_reader_see_every_event_once(pub_hub: Hub) -> None:
    written: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer() -> None:
        rng = random.Random()
        while not stop.is_set():
            with UnitOfWork(pub_hub.settings) as uow:
                event = OutboxEvent(golden_id=str(uuid.uuid4()), domain="customer", golden_version=1, type="created", payload={"approval": "approved"})
                uow.session.add(event)
                uow.session.flush()  # the id (and txid) is taken now ...
                time.sleep(rng.uniform(0, 0.05))  # ... and the commit comes later, in any order
                uow.commit()
                with lock:
                    written.append(event.event_id)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    seen: list[str] = []
    cursor = None
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            page, cursor = _drain_feed(pub_hub, cursor, limit=7)
            seen += page
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    # committed rows may still sit behind other transactions of the cluster: keep polling (a
    # skipped row would never come back, because the cursor is already past it)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not set(written) <= set(seen):
        page, cursor = _drain_feed(pub_hub, cursor, limit=50)
        seen += page
        time.sleep(0.1)
    assert len(written) > 50
    assert len(seen) == len(set(seen)), "an event was repeated"
    assert set(seen) == set(written), f"{len(set(written) - set(seen))} events were skipped"
