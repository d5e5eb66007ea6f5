"""The subscriptions API on the laptop default (SQLite, inline jobs): validation and ownership."""

from __future__ import annotations

import uuid

import pytest

from mdm.publishing.subscriptions import generate_secret
from tests.conftest import Hub
from tests.integration.publishing.conftest import emit, subscribe
from tests.integration.publishing.receiver import Receiver


def _post(hub: Hub, body: object, role: str = "subscriber") -> object:
    return hub.client.post("/api/v1/subscriptions", json=body, headers=hub.headers(role))


@pytest.mark.parametrize(
    "body, code",
    [
        ({"url": "ftp://example.com/hook", "secret": "generate"}, "invalid_input"),
        ({"url": "http://127.0.0.1:6379/", "secret": "generate"}, "unsafe_url"),
        ({"url": "http://169.254.169.254/latest", "secret": "generate"}, "unsafe_url"),
        ({"url": "https://93.184.216.34/hook"}, "invalid_input"),
        ({"url": "https://93.184.216.34/hook", "secret": "whsec_***"}, "invalid_input"),
        ({"url": "https://93.184.216.34/hook", "secret": "generate", "event_types": ["exploded"]}, "invalid_input"),
        ({"url": "https://93.184.216.34/hook", "secret": "generate", "domains": ["weather"]}, "invalid_input"),
        ({"url": "https://93.184.216.34/hook", "secret": "generate", "domains": "customer"}, "invalid_input"),
        ({"url": "https://93.184.216.34/hook", "secret": "generate", "colour": "red"}, "invalid_input"),
        ({"url": "https://93.184.216.34/hook", "secret": "generate", "start": "yesterday"}, "invalid_input"),
        ({"url": "https://93.184.216.34/hook", "secret": "generate", "kind": "fax"}, "invalid_input"),
    ],
)
def test_bad_subscriptions_are_422(hub: Hub, monkeypatch: pytest.MonkeyPatch, body: dict, code: str) -> None:
    monkeypatch.delenv("MDM_PUBLISH_ALLOWED_HOSTS", raising=False)
    response = _post(hub, body)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_malformed_json_and_wrong_roles(hub: Hub) -> None:
    response = hub.client.post("/api/v1/subscriptions", data="{nope", headers={**hub.headers("subscriber"), "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"
    assert _post(hub, {"url": "https://93.184.216.34/h", "secret": "generate"}, role="steward").status_code == 403
    assert hub.client.get("/api/v1/subscriptions").status_code == 401


def test_lifecycle_ownership_rotation_and_replay(hub: Hub, fast_env: dict[str, str]) -> None:
    receiver = Receiver([generate_secret()]).start()
    try:
        created = subscribe(hub, receiver.url, receiver.secrets[0], domains=["customer"], event_types=["created", "updated"])
        assert created["secrets"][0]["hint"].startswith("whsec_") and receiver.secrets[0] not in str(created)
        sub_id = created["id"]
        # another subscriber key cannot see it; an admin can
        from mdm.db import UnitOfWork
        from mdm.services.apikeys import create_key

        with UnitOfWork(hub.settings) as uow:
            other = create_key(uow, "other", "subscriber")[1]
            uow.commit()
        assert hub.client.get(f"/api/v1/subscriptions/{sub_id}", headers={"Authorization": f"Bearer {other}"}).status_code == 404
        assert hub.get(f"/subscriptions/{sub_id}", role="admin").status_code == 200

        golden = str(uuid.uuid4())
        first = emit(hub.settings, golden, 1)
        assert list(receiver.applied) == [first]  # inline: delivered within the commit's hook

        # rotate: the receiver only knows the new secret; old-only consumers keep verifying meanwhile
        new_secret = generate_secret()
        rotated = hub.client.post(f"/api/v1/subscriptions/{sub_id}/secrets", json={"secret": new_secret, "grace_seconds": 3600}, headers=hub.headers("subscriber"))
        assert rotated.status_code == 200 and len(rotated.get_json()["secrets"]) == 2
        old_only = Receiver([receiver.secrets[0]]).start()
        receiver.secrets = [new_secret]
        second = emit(hub.settings, golden, 2)
        assert second in receiver.applied
        signatures = receiver.received[-1].headers["webhook-signature"].split(" ")
        assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
        old_only.stop()

        bad = hub.client.post(f"/api/v1/subscriptions/{sub_id}/replay", json={"event_id": first, "after": "x"}, headers=hub.headers("subscriber"))
        assert bad.status_code == 422
        assert hub.client.post(f"/api/v1/subscriptions/{sub_id}/replay", json={"event_id": str(uuid.uuid4())}, headers=hub.headers("subscriber")).status_code == 404
        replayed = hub.client.post(f"/api/v1/subscriptions/{sub_id}/replay", json={"event_id": first}, headers=hub.headers("subscriber"))
        assert replayed.status_code == 202
        assert replayed.get_json()["requeued"] == 1 and replayed.get_json()["latest_resent"] == 1
        # the old version went again, then the newest, so the consumer ends on version 2
        assert [r.body["data"]["version"] for r in receiver.received[-2:]] == [1, 2]
        by_range = hub.client.post(f"/api/v1/subscriptions/{sub_id}/replay", json={"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}, headers=hub.headers("subscriber"))
        assert by_range.get_json()["requeued"] == 2

        patched = hub.client.patch(f"/api/v1/subscriptions/{sub_id}", json={"url": "gopher://x"}, headers=hub.headers("subscriber"))
        assert patched.status_code == 422
        assert hub.client.delete(f"/api/v1/subscriptions/{sub_id}", headers=hub.headers("subscriber")).status_code == 204
        assert hub.get(f"/subscriptions/{sub_id}", role="subscriber").status_code == 404
    finally:
        receiver.stop()
