"""Fixtures for publishing: fast retry settings, a real publish worker, a webhook receiver.

Retry delays are shrunk from hours to fractions of a second through the same
``MDM_PUBLISH_*`` variables an operator would use, so the real code paths run, just quickly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from mdm import runtime
from mdm.db import UnitOfWork
from mdm.models import OutboxEvent
from mdm.publishing.subscriptions import generate_secret
from mdm.publishing.trigger import after_outbox_write
from mdm.settings import Settings
from tests.conftest import Hub, WorkerProcess, _build_hub, truncate
from tests.integration.publishing.receiver import Receiver

FAST = {
    "MDM_PUBLISH_RETRY_SCHEDULE": ",".join(["0", "0.2", "0.3", "0.5"] + ["0.5"] * 8),
    "MDM_PUBLISH_RETRY_JITTER": "0.1",
    "MDM_PUBLISH_SWEEP_INTERVAL_SECONDS": "0.5",
    "MDM_PUBLISH_SWEEP_AFTER_SECONDS": "1",
    "MDM_PUBLISH_LEASE_SECONDS": "2",
    "MDM_PUBLISH_TIMEOUT_SECONDS": "1",
    "MDM_PUBLISH_CONNECT_TIMEOUT_SECONDS": "0.5",
    "MDM_PUBLISH_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "MDM_PUBLISH_TRIGGER_TTL_SECONDS": "5",
}


@pytest.fixture
def fast_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    return FAST


def truncate_publishing(settings: Settings) -> None:
    truncate(settings)
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE delivery, subscription RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def pub_hub(pg_settings: Settings, fast_env: dict[str, str]) -> Iterator[Hub]:
    """The hub on PostgreSQL + Redis, empty, with fast publishing settings (no worker yet)."""
    truncate_publishing(pg_settings)
    runtime.configure(pg_settings)
    yield _build_hub(pg_settings)
    runtime.configure(Settings.from_env())


@pytest.fixture
def publish_worker(pub_hub: Hub) -> Iterator[WorkerProcess]:
    """A real ``mdm worker --queue publish`` (with its publish sweep), killed afterwards."""
    worker = WorkerProcess(pub_hub.settings, queue="publish")
    yield worker
    stop_worker(worker)


def stop_worker(worker: WorkerProcess) -> None:
    """SIGTERM first: a worker killed with SIGKILL keeps RQ's scheduler lock for a minute,
    which would slow the next test's scheduled retries (the reliability tests do kill -9)."""
    try:
        worker.kill(15)
    except Exception:  # noqa: BLE001 - did not stop in time
        worker.kill(9)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver([generate_secret()]).start()
    yield rec
    rec.stop()


def subscribe(hub: Hub, url: str, secret: str, role: str = "subscriber", **extra: Any) -> dict[str, Any]:
    response = hub.client.post("/api/v1/subscriptions", json={"url": url, "secret": secret, **extra}, headers=hub.headers(role))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def emit(settings: Settings, golden_id: str, version: int, *, approval: str = "approved", domain: str = "customer",
         event_type: str | None = None, fields: dict[str, Any] | None = None, crossref: list[dict[str, str]] | None = None) -> str:
    """Write one golden change to the outbox exactly as the golden service does (same hook)."""
    with UnitOfWork(settings) as uow:
        event = OutboxEvent(
            golden_id=golden_id, domain=domain, golden_version=version,
            type=event_type or ("created" if version == 1 else "updated"),
            payload={
                "id": golden_id, "domain": domain, "version": version, "status": "active", "approval": approval,
                "merged_into": None, "account_number": f"A-{golden_id[:6]}",
                "fields": fields or {"kind": "organization", "name": f"Company {golden_id[:6]} v{version}"},
                "crossref": crossref or [],
            },
        )
        uow.session.add(event)
        after_outbox_write(uow)
        uow.commit()
        return event.event_id


def wait_until(predicate: Any, timeout: float = 30.0, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
