"""Reliability with real processes: PostgreSQL, Redis, ``mdm worker --queue publish`` and a
webhook receiver, all real. Nothing here is mocked; failures are injected from outside."""

from __future__ import annotations

import time
import uuid

import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from mdm.settings import Settings
from tests.conftest import Hub, WorkerProcess
from tests.integration.publishing.conftest import emit, stop_worker, subscribe, wait_until
from tests.integration.publishing.receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _statuses(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM delivery GROUP BY status")).all()
    engine.dispose()
    return {status: n for status, n in rows}


def _burst(settings: Settings, goldens: int, versions: int) -> tuple[list[str], list[str]]:
    ids = [str(uuid.uuid4()) for _ in range(goldens)]
    events = [emit(settings, g, v) for v in range(1, versions + 1) for g in ids]
    return ids, events


def _assert_complete_and_ordered(receiver: Receiver, goldens: list[str], events: list[str], versions: int) -> None:
    assert receiver.bad_signatures == 0
    assert set(receiver.applied) == set(events)
    for golden in goldens:
        assert receiver.order[golden] == list(range(1, versions + 1)), (golden, receiver.order[golden])


def test_sigkill_mid_delivery_then_restart_delivers_everything_once(pub_hub: Hub, receiver: Receiver) -> None:
    receiver.behaviour = lambda n, body: (time.sleep(0.15), 200)[1]
    subscribe(pub_hub, receiver.url, receiver.secrets[0])
    worker = WorkerProcess(pub_hub.settings, queue="publish")
    goldens, events = _burst(pub_hub.settings, goldens=20, versions=3)
    try:
        wait_until(lambda: len(receiver.applied) >= 10, timeout=30, message="some deliveries")
        worker.kill(9)  # SIGKILL the worker, its work-horse and its sweep, mid-delivery
        assert len(receiver.applied) < len(events), "the kill came too late to prove anything"
        worker = WorkerProcess(pub_hub.settings, queue="publish")
        receiver.wait_for(len(events), timeout=60)
    finally:
        stop_worker(worker)
    _assert_complete_and_ordered(receiver, goldens, events, 3)
    wait_until(lambda: _statuses(pub_hub.settings) == {"delivered": len(events)}, timeout=10, message="all rows delivered")


def test_subscriber_down_for_a_while_then_everything_arrives_in_order(pub_hub: Hub, publish_worker: WorkerProcess, receiver: Receiver) -> None:
    outage: dict[str, float] = {}

    def down_for_a_while(n: int, body: dict) -> int:
        started = outage.setdefault("start", time.monotonic())  # the outage begins with the first request
        return 500 if time.monotonic() - started < 2.5 else 200

    receiver.behaviour = down_for_a_while
    subscribe(pub_hub, receiver.url, receiver.secrets[0])
    goldens, events = _burst(pub_hub.settings, goldens=10, versions=3)
    receiver.wait_for(len(events), timeout=60)
    _assert_complete_and_ordered(receiver, goldens, events, 3)
    assert receiver.requests > len(events), "the outage never happened"


def _flush_our_redis_namespace(settings: Settings) -> int:
    """FLUSHDB for this test session's keys only (other sessions may share the server)."""
    redis = Redis.from_url(settings.redis_url or "")
    keys = [k for pattern in (f"*{settings.queue_prefix}*", "rq:job:publish-*") for k in redis.scan_iter(match=pattern, count=1000)]
    if keys:
        redis.delete(*keys)
    return len(keys)


def test_redis_flushed_with_deliveries_pending_the_sweep_restores_them(pub_hub: Hub, receiver: Receiver) -> None:
    failing = {"on": True}
    receiver.behaviour = lambda n, body: 503 if failing["on"] else 200
    subscribe(pub_hub, receiver.url, receiver.secrets[0])
    worker = WorkerProcess(pub_hub.settings, queue="publish")
    try:
        goldens, events = _burst(pub_hub.settings, goldens=10, versions=2)
        wait_until(lambda: receiver.requests >= 5, timeout=30, message="first failing attempts")
        stop_worker(worker)
        more_goldens, more_events = _burst(pub_hub.settings, goldens=5, versions=2)  # nudges only in Redis
        assert _flush_our_redis_namespace(pub_hub.settings) > 0
        failing["on"] = False
        worker = WorkerProcess(pub_hub.settings, queue="publish")
        receiver.wait_for(len(events) + len(more_events), timeout=60)
    finally:
        stop_worker(worker)
    _assert_complete_and_ordered(receiver, goldens + more_goldens, events + more_events, 2)
