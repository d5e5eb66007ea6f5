"""Webhook delivery on real PostgreSQL + Redis + a real ``mdm worker --queue publish``."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Hub, WorkerProcess
from tests.integration.publishing.conftest import emit, subscribe, wait_until
from tests.integration.publishing.receiver import Receiver

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _deliveries(hub: Hub, sub_id: str, **params: str) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return hub.get(f"/subscriptions/{sub_id}/deliveries?limit=1000&{query}", role="subscriber").get_json()["deliveries"]


def test_signed_ordered_delivery_with_status(pub_hub: Hub, publish_worker: WorkerProcess, receiver: Receiver) -> None:
    sub = subscribe(pub_hub, receiver.url, receiver.secrets[0])
    goldens = [str(uuid.uuid4()) for _ in range(5)]
    event_ids = [emit(pub_hub.settings, g, v) for v in (1, 2, 3) for g in goldens]
    receiver.wait_for(15, timeout=30)
    assert receiver.bad_signatures == 0
    assert set(receiver.applied) == set(event_ids)
    assert all(receiver.order[g] == [1, 2, 3] for g in goldens), receiver.order
    first = receiver.received[0]
    assert first.headers["webhook-id"] == first.body["data"]["event_id"]
    assert first.body["type"].startswith("customer.")
    wait_until(lambda: all(d["status"] == "delivered" for d in _deliveries(pub_hub, sub["id"])) and len(_deliveries(pub_hub, sub["id"])) == 15)
    status = pub_hub.get(f"/events/{event_ids[0]}/deliveries", role="subscriber").get_json()["deliveries"]
    assert [(d["subscription_id"], d["status"], d["attempts"]) for d in status] == [(sub["id"], "delivered", 1)]
    metrics = pub_hub.client.get("/metrics").get_data(as_text=True)
    assert f'mdm_publish_deliveries{{status="delivered",subscription="{sub["id"]}"}} 15.0' in metrics
    assert f'mdm_publish_lag_seconds{{subscription="{sub["id"]}"}} 0.0' in metrics


def test_unapproved_goldens_are_held_until_approved(pub_hub: Hub, publish_worker: WorkerProcess, receiver: Receiver) -> None:
    sub = subscribe(pub_hub, receiver.url, receiver.secrets[0])
    golden = str(uuid.uuid4())
    held = emit(pub_hub.settings, golden, 1, approval="pending_onboarding")
    approved = emit(pub_hub.settings, golden, 2)
    receiver.wait_for(1)
    assert list(receiver.applied) == [approved]
    # the receiver has it before the worker records the 2xx: wait for the row, not the request
    wait_until(lambda: {d["event_id"]: d["status"] for d in _deliveries(pub_hub, sub["id"])} == {held: "held", approved: "delivered"})
    feed = pub_hub.get("/events", role="subscriber").get_json()["events"]
    assert [e["id"] for e in feed] == [approved]
    everything = pub_hub.get("/events?include_unapproved=true", role="subscriber").get_json()["events"]
    assert [e["id"] for e in everything] == [held, approved]


def test_publish_unapproved_per_domain(pub_hub: Hub, publish_worker: WorkerProcess, receiver: Receiver) -> None:
    sub = subscribe(pub_hub, receiver.url, receiver.secrets[0], publish_unapproved=["product"])
    product = emit(pub_hub.settings, str(uuid.uuid4()), 1, approval="pending_review", domain="product")
    emit(pub_hub.settings, str(uuid.uuid4()), 1, approval="pending_review", domain="customer")
    receiver.wait_for(1)
    wait_until(lambda: len(_deliveries(pub_hub, sub["id"])) == 2, message="both fanned out")
    assert list(receiver.applied) == [product]
    wait_until(lambda: sorted(d["status"] for d in _deliveries(pub_hub, sub["id"])) == ["delivered", "held"])


def test_410_disables_and_reactivation_resumes(pub_hub: Hub, publish_worker: WorkerProcess, receiver: Receiver) -> None:
    gone = {"on": True}
    receiver.behaviour = lambda n, body: 410 if gone["on"] else 200
    sub = subscribe(pub_hub, receiver.url, receiver.secrets[0])
    event_id = emit(pub_hub.settings, str(uuid.uuid4()), 1)
    wait_until(lambda: not pub_hub.get(f"/subscriptions/{sub['id']}", role="subscriber").get_json()["active"], message="410 disables")
    doc = pub_hub.get(f"/subscriptions/{sub['id']}", role="subscriber").get_json()
    assert "410" in doc["disabled_reason"]
    later = emit(pub_hub.settings, str(uuid.uuid4()), 1)
    gone["on"] = False
    response = pub_hub.client.patch(f"/api/v1/subscriptions/{sub['id']}", json={"active": True}, headers=pub_hub.headers("subscriber"))
    assert response.status_code == 200 and response.get_json()["disabled_reason"] is None
    receiver.wait_for(2)
    assert set(receiver.applied) == {event_id, later}


def test_retry_after_is_honoured(pub_hub: Hub, publish_worker: WorkerProcess, receiver: Receiver) -> None:
    receiver.behaviour = lambda n, body: (429, {"Retry-After": "2"}) if n == 1 else 200
    subscribe(pub_hub, receiver.url, receiver.secrets[0])
    emit(pub_hub.settings, str(uuid.uuid4()), 1)
    receiver.wait_for(1, timeout=30)
    assert receiver.requests == 2
    # the schedule alone would retry after ~0.2 s; Retry-After: 2 holds the retry back
    assert receiver.request_times[1] - receiver.request_times[0] >= 1.9


def test_garbage_and_timeouts_are_retried_without_killing_the_worker(pub_hub: Hub, publish_worker: WorkerProcess, receiver: Receiver) -> None:
    answers = {1: "garbage", 2: "hang", 3: 500}
    receiver.behaviour = lambda n, body: answers.get(n, 200)
    sub = subscribe(pub_hub, receiver.url, receiver.secrets[0])
    event_id = emit(pub_hub.settings, str(uuid.uuid4()), 1)
    receiver.wait_for(1, timeout=40)
    assert list(receiver.applied) == [event_id]
    assert publish_worker.proc.poll() is None
    wait_until(lambda: _deliveries(pub_hub, sub["id"])[0]["status"] == "delivered")
    assert _deliveries(pub_hub, sub["id"])[0]["attempts"] == 4


def test_dead_letter_after_the_schedule_then_replay(pub_hub: Hub, publish_worker: WorkerProcess, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver.behaviour = lambda n, body: 503
    sub = subscribe(pub_hub, receiver.url, receiver.secrets[0])
    event_id = emit(pub_hub.settings, str(uuid.uuid4()), 1)
    wait_until(lambda: [d["status"] for d in _deliveries(pub_hub, sub["id"])] == ["dead"], timeout=60, message="dead letter")
    row = _deliveries(pub_hub, sub["id"])[0]
    assert row["attempts"] == 12 and row["last_status_code"] == 503
    assert receiver.requests == 12
    receiver.behaviour = None
    response = pub_hub.client.post(f"/api/v1/subscriptions/{sub['id']}/replay", json={"event_id": event_id}, headers=pub_hub.headers("subscriber"))
    assert response.status_code == 202 and response.get_json()["requeued"] == 1
    receiver.wait_for(1)
    assert _deliveries(pub_hub, sub["id"])[0]["replays"] == 1
