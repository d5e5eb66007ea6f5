"""A resolve job sizes its groups from the server's lock table and the workers registered on the
resolve queue (real PostgreSQL, real Redis): with many workers registered, no transaction takes more
advisory locks than its share, and every record is still resolved.

Why: a group holds an advisory lock per blocking key of its records until it commits (~1,434 for
100 people); PostgreSQL's shared lock table holds 6,400 by default for all sessions, and when it is
full every session needing a lock fails ("out of shared memory"). A fifth worker with groups of
100 could fill it; scaling out by adding workers must not.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import create_engine, text

from bench.speed import hub_fields, people
from mdm.db import UnitOfWork, get_engine
from mdm.jobs import resolve_records
from mdm.lockbudget import KEYS_PER_RECORD, SHARE, group_size, lock_slots, resolve_group_size
from mdm.queueing import redis_queue_name
from mdm.services.ingest import Change, accept_batch
from mdm.settings import Settings
from tests.conftest import captured_statements, inline_runtime, truncate

EXTRA_WORKERS = 40


@pytest.fixture
def settings(pg_settings: Settings) -> Iterator[Settings]:
    truncate(pg_settings)
    with inline_runtime(pg_settings):
        yield pg_settings


@pytest.fixture
def registered(settings: Settings) -> Iterator[int]:
    """EXTRA_WORKERS workers registered on this run's resolve queue, as other machines' would be."""
    redis = Redis.from_url(settings.redis_url or "")
    queue = Queue(redis_queue_name(settings, "resolve"), connection=redis)
    workers = [Worker([queue], connection=redis, name=f"elsewhere-{uuid.uuid4().hex[:8]}") for _ in range(EXTRA_WORKERS)]
    for w in workers:
        w.register_birth()
    try:
        yield EXTRA_WORKERS
    finally:
        for w in workers:
            w.register_death()


def on_queue(settings: Settings) -> int:
    redis = Redis.from_url(settings.redis_url or "")
    return Worker.count(connection=redis, queue=Queue(redis_queue_name(settings, "resolve"), connection=redis))


def test_the_group_size_follows_the_registered_workers(settings: Settings, registered: int) -> None:
    engine = get_engine(settings.database_url)
    workers = on_queue(settings)
    assert workers >= registered
    slots = lock_slots(engine)
    with engine.connect() as conn:
        assert slots >= int(conn.execute(text("SHOW max_locks_per_transaction")).scalar_one())
    size = resolve_group_size(settings, engine)
    assert size == group_size(settings.resolve_group_size, slots, workers) < settings.resolve_group_size


def test_with_many_workers_registered_no_group_takes_more_than_its_share(settings: Settings, registered: int) -> None:
    rows = people(60, seed=3, dup_rate=0.3)
    with UnitOfWork(settings) as uow:
        _, ids = accept_batch(uow, "erp", "customer", [Change(uid, hub_fields(r), datetime(2026, 1, 1, tzinfo=UTC))
                                                      for uid, r in rows])
        uow.commit()
    engine = get_engine(settings.database_url)
    size = resolve_group_size(settings, engine)
    with captured_statements() as seen:
        counts = resolve_records(ids)
    locks = [len(params["ks"].strip("{}").split(",")) for statement, params in seen if "pg_advisory_xact_lock" in statement]
    assert counts == {"resolved": len(ids), "skipped": 0, "failed": 0}
    check = create_engine(settings.database_url)
    try:
        with check.connect() as conn:
            pending = conn.execute(text("SELECT count(*) FROM source_record WHERE match_status = 'pending'")).scalar_one()
            most_keys = conn.execute(text("SELECT max(n) FROM (SELECT count(*) AS n FROM match_key GROUP BY source_record_id) k")).scalar_one()
    finally:
        check.dispose()
    assert pending == 0
    # one lock statement per group (resolve_one re-takes its record's keys inside a group: fewer)
    assert len([n for n in locks if n > most_keys]) <= math.ceil(len(ids) / size)
    assert max(locks) <= size * most_keys
    # and the share holds for the keys these records have (KEYS_PER_RECORD is the sizing's estimate)
    assert size * KEYS_PER_RECORD * on_queue(settings) <= lock_slots(engine) * SHARE
