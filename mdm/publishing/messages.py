"""What a subscriber receives for one outbox event: the same document on the feed and in a webhook.

The shape follows the Standard Webhooks recommendation (``type``, ``timestamp``, ``data``).
``data.event_id`` is the idempotency key (also sent as ``webhook-id``); ``data.version`` lets a
consumer drop anything older than what it applied, which also makes replays harmless.
"""

from __future__ import annotations

from typing import Any

from mdm.models import OutboxEvent


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    from mdm.models import as_utc

    return as_utc(value).isoformat()


def event_message(event: OutboxEvent) -> dict[str, Any]:
    return {
        "type": f"{event.domain}.{event.type}",
        "timestamp": _iso(event.created_at),
        "data": {
            "event_id": event.event_id,
            "golden_id": event.golden_id,
            "domain": event.domain,
            "version": event.golden_version,
            "event_type": event.type,
            "correlation_id": event.correlation_id,
            "golden": event.payload,
        },
    }


def feed_entry(event: OutboxEvent, cursor: str) -> dict[str, Any]:
    """One feed item: the message plus its own cursor, so a consumer can checkpoint mid-page."""
    return {**event_message(event), "id": event.event_id, "cursor": cursor}
