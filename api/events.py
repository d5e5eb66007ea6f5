"""The pull change feed, event lookup, delivery status per event, and ``/metrics``.

``GET /events?after=<cursor>&domain=&limit=`` pages through golden changes in commit-safe
order (see :mod:`mdm.publishing.feed`); each page returns ``next_cursor``. Polling with the
last ``next_cursor`` never skips or repeats an event. Only approved masters (and tombstones)
are listed unless ``include_unapproved=true``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import principal, require
from mdm.db import UnitOfWork
from mdm.errors import InvalidInput
from mdm.publishing.deliveries import delivery_json, list_deliveries
from mdm.publishing.feed import decode_cursor, position_of, read_page
from mdm.publishing.feed import get_event as find_event
from mdm.publishing.messages import feed_entry
from mdm.publishing.metrics import registry_for
from mdm.publishing.subscriptions import list_subscriptions
from mdm.source_mapping import DOMAINS

bp = Blueprint("events", __name__)
MAX_LIMIT = 1000


def _settings() -> Any:
    return current_app.config["MDM_SETTINGS"]


def _flag(name: str) -> bool:
    raw = (request.args.get(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise InvalidInput(f"{name} must be true or false", details={name: raw})
    return raw in ("true", "1")


@bp.get("/events")
@require("subscriber", "steward")
def feed() -> Any:
    raw_limit = request.args.get("limit", "100")
    try:
        limit = int(raw_limit)
    except ValueError as exc:
        raise InvalidInput("limit must be an integer", details={"limit": raw_limit}) from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", details={"limit": limit})
    domains = [d for d in request.args.getlist("domain") if d] or None
    unknown = sorted(set(domains or []) - set(DOMAINS))
    if unknown:
        raise InvalidInput(f"unknown domain: {', '.join(unknown)}", details={"domain": unknown, "known": list(DOMAINS)})
    after = decode_cursor(request.args.get("after"))
    with UnitOfWork(_settings()) as uow:
        page = read_page(uow, after, limit=limit, domains=domains, approved_only=not _flag("include_unapproved"))
        # on SQLite txid is NULL, so an event's position is (0, id): the same order as the feed's
        entries = [feed_entry(event, position_of(event).encode()) for event in page.events]
    return jsonify({"events": entries, "next_cursor": page.next.encode(), "has_more": page.has_more})


@bp.get("/events/<event_id>")
@require("subscriber", "steward")
def get_event(event_id: str) -> Any:
    with UnitOfWork(_settings()) as uow:
        event = find_event(uow, event_id)
        return jsonify(feed_entry(event, position_of(event).encode()))


@bp.get("/events/<event_id>/deliveries")
@require("subscriber", "steward")
def event_deliveries(event_id: str) -> Any:
    """Delivery status of one event for every subscription the caller may see."""
    who = principal()
    with UnitOfWork(_settings()) as uow:
        find_event(uow, event_id)
        visible = None if who.role in ("admin", "steward") else [s.id for s in list_subscriptions(uow, who)]
        rows = list_deliveries(uow, subscription_ids=visible, event_id=event_id, limit=1000)
        return jsonify({"event_id": event_id, "deliveries": [delivery_json(d) for d in rows]})


def metrics() -> Response:
    """Prometheus text format, outside ``/api/v1`` and without a key, like the health checks."""
    return Response(generate_latest(registry_for(_settings())), mimetype=CONTENT_TYPE_LATEST)


# /metrics lives on the app, not under /api/v1: registered when the blueprint is
bp.record_once(lambda state: state.app.add_url_rule("/metrics", "publish_metrics", metrics))
