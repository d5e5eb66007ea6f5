"""Delivery rows: claim the next deliverable ones, record what the receiver said, replay.

Ordering per golden record: a delivery is only claimable when no older version of the same
golden is still pending for that subscription, AND the fan-out cursor has passed every older
version of that golden (two versions can become visible in one feed read, in either txid
order, and be fanned out by two transactions). So version N+1 never leaves before N has
succeeded or reached a terminal state (dead, rejected, steward).

Claims are leases, not open transactions: a claimed row carries ``leased_until`` and a random
``lease_token``; only the token holder may record the outcome. A worker SIGKILLed mid-send
just lets its lease expire and the row is claimed again (at-least-once). A sender checks the
lease before each request, so a late sender never overtakes a newer one.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, and_, cast, exists, func, literal, or_, tuple_, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import InvalidInput, NotFound
from mdm.models import OutboxEvent, utcnow
from mdm.publishing.config import PublishSettings
from mdm.publishing.fanout import is_held
from mdm.publishing.feed import Position, events_in_range
from mdm.publishing.models import (
    DEAD,
    DELIVERED,
    HELD,
    PENDING,
    REJECTED,
    STATUSES,
    STEWARD,
    Delivery,
    Subscription,
)


@dataclass
class Claimed:
    """A leased delivery and everything a sender needs, detached from the session."""

    delivery_id: int
    token: str
    leased_until: datetime
    event: OutboxEvent
    attempts: int


@dataclass
class Outcome:
    """What happened to one claimed delivery. ``kind``: delivered | retry | rejected | steward |
    gone (410: disable the subscription) | released (not attempted, lease handed back)."""

    delivery_id: int
    token: str
    kind: str
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    response: dict[str, Any] | None = None
    remote_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def retry_delay(psettings: PublishSettings, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones; None means dead-letter.

    The schedule entry gets +/- ``retry_jitter`` so many deliveries failing together do not
    return together; a ``Retry-After`` is a floor (capped at ``max_retry_after_seconds``).
    """
    schedule = psettings.retry_schedule
    if attempts >= len(schedule):
        return None
    base = schedule[attempts]
    jitter = psettings.retry_jitter
    delay = base * (1 + (rng or random).uniform(-jitter, jitter)) if base and jitter else base
    if retry_after is not None:
        delay = max(delay, min(retry_after, psettings.max_retry_after_seconds))
    return max(delay, 0.0)


def _not_fanned_out_guard(sub: Subscription, dialect: str) -> Any:
    """No older version of this golden may still lie beyond the subscription's feed cursor."""
    older = aliased(OutboxEvent)
    if dialect == "postgresql":
        beyond_cursor = tuple_(older.txid, older.id) > tuple_(sub.cursor_txid, sub.cursor_id)  # type: ignore[arg-type]
    else:
        beyond_cursor = older.id > sub.cursor_id  # type: ignore[operator]
    return ~exists().where(
        older.golden_id == Delivery.golden_id,
        older.golden_version < Delivery.golden_version,
        beyond_cursor,
    )


def claim(uow: UnitOfWork, sub: Subscription, limit: int, lease_seconds: float) -> list[Claimed]:
    """Lease up to ``limit`` deliverable rows (at most one per golden: the head of its lane).

    Two steps, on purpose. (1) Lane heads come from one window-function pass over the
    subscription's pending rows — linear, whatever the planner believes. A per-row
    "no older version pending" anti-join looks equivalent, but on a freshly filled table
    (no statistics yet) PostgreSQL plans it as a nested loop: 36 s per claim at 10,000
    pending rows in the benchmark. (2) The candidates are locked with ``SKIP LOCKED`` and
    every condition is re-checked on the locked row, so a concurrent claim that committed
    first (or a delivery that finished meanwhile) is never leased twice.
    """
    now = utcnow()
    lanes = (
        select(  # type: ignore[call-overload]
            Delivery.id.label("id"),  # type: ignore[union-attr]
            Delivery.golden_version.label("version"),
            func.min(Delivery.golden_version).over(partition_by=Delivery.golden_id).label("head"),
            Delivery.next_attempt_at.label("due"),
            Delivery.leased_until.label("leased"),
        )
        .where(Delivery.subscription_id == sub.id, Delivery.status == PENDING)
        .subquery("lanes")
    )
    candidates = list(
        uow.session.execute(
            select(lanes.c.id)
            .where(
                lanes.c.version == lanes.c.head,
                lanes.c.due <= now,
                or_(lanes.c.leased.is_(None), lanes.c.leased < now),
            )
            .order_by(lanes.c.id)
            .limit(limit * 2)
        ).scalars()
    )
    if not candidates:
        return []
    query = (
        select(Delivery, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.id == Delivery.outbox_id)  # type: ignore[arg-type]
        .where(
            Delivery.id.in_(candidates),  # type: ignore[union-attr]
            # re-checked on the candidates' own rows, which are found by primary key: as a plain
            # condition, "pending and due" matched ix_delivery_status, and on tables never
            # analyzed PostgreSQL read every subscription's pending, due rows (11,220 at 140,000
            # deliveries) to lock 50. ``(…) IS TRUE`` means the same but matches no index.
            and_(Delivery.status == PENDING, Delivery.next_attempt_at <= now).is_(True),  # type: ignore[operator]
            or_(Delivery.leased_until.is_(None), Delivery.leased_until < now),  # type: ignore[union-attr,operator]
            _not_fanned_out_guard(sub, uow.dialect),
        )
        .order_by(Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)  # type: ignore[arg-type]
    )
    rows = uow.session.exec(query).all()
    claimed = []
    until = now + timedelta(seconds=lease_seconds)
    for delivery, event in rows:
        token = secrets.token_hex(16)
        delivery.leased_until, delivery.lease_token = until, token
        uow.session.add(delivery)
        claimed.append(Claimed(delivery.id or 0, token, until, event, delivery.attempts))
    uow.session.flush()
    return claimed


def record_outcomes(uow: UnitOfWork, outcomes: Iterable[Outcome], psettings: PublishSettings) -> dict[str, int]:
    """Apply outcomes; an outcome whose lease was taken over by someone else is ignored."""
    counts: dict[str, int] = {}
    now = utcnow()
    outcomes = list(outcomes)
    rows = {
        (d.id, d.lease_token): d
        for d in uow.session.exec(
            select(Delivery)
            .where(Delivery.id.in_([o.delivery_id for o in outcomes]))  # type: ignore[union-attr]
            .order_by(Delivery.id)
            .with_for_update()
        ).all()
    }
    for outcome in outcomes:
        delivery = rows.get((outcome.delivery_id, outcome.token))
        if delivery is None or delivery.status != PENDING:
            counts["stale"] = counts.get("stale", 0) + 1
            continue
        delivery.leased_until = None
        delivery.lease_token = None
        if outcome.kind == "released":
            uow.session.add(delivery)
            continue
        if outcome.kind == "gone":
            sub = uow.session.get(Subscription, delivery.subscription_id, with_for_update=True)
            if sub is not None and sub.active:
                sub.active = False
                sub.disabled_reason = f"the endpoint answered 410 Gone at {now.isoformat()}; re-activate to resume"
                sub.updated_at = now
                uow.session.add(sub)
        else:
            delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = outcome.status_code
        delivery.last_error = (outcome.error or None) and outcome.error[:4000]  # type: ignore[index]
        if outcome.response is not None:
            delivery.response = outcome.response
        if outcome.remote_id:
            delivery.remote_id = outcome.remote_id
        if outcome.kind == "delivered":
            delivery.status, delivery.delivered_at = DELIVERED, now
        elif outcome.kind in ("rejected", "steward"):
            delivery.status = REJECTED if outcome.kind == "rejected" else STEWARD
        elif outcome.kind == "retry":
            delay = retry_delay(psettings, delivery.attempts, outcome.retry_after)
            if delay is None:
                delivery.status = DEAD
            else:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
        uow.session.add(delivery)
        counts[outcome.kind] = counts.get(outcome.kind, 0) + 1
    uow.session.flush()
    return counts


def next_due(uow: UnitOfWork, subscription_id: str) -> datetime | None:
    """When this subscription next has something to attempt (for scheduling a drain)."""
    return uow.session.exec(
        select(Delivery.next_attempt_at)
        .where(Delivery.subscription_id == subscription_id, Delivery.status == PENDING)
        .order_by(Delivery.next_attempt_at)
        .limit(1)
    ).first()


# --- reading ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    from mdm.models import as_utc

    return as_utc(value).isoformat()


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "subscription_id": d.subscription_id,
        "event_id": d.event_id,
        "golden_id": d.golden_id,
        "golden_version": d.golden_version,
        "domain": d.domain,
        "event_type": d.event_type,
        "status": d.status,
        "attempts": d.attempts,
        "replays": d.replays,
        "next_attempt_at": _iso(d.next_attempt_at) if d.status == PENDING else None,
        "last_attempt_at": _iso(d.last_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "response": d.response,
        "remote_id": d.remote_id,
        "event_created_at": _iso(d.event_created_at),
        "delivered_at": _iso(d.delivered_at),
    }


def list_deliveries(
    uow: UnitOfWork,
    *,
    subscription_ids: Sequence[str] | None = None,
    status: str | None = None,
    golden_id: str | None = None,
    event_id: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Delivery]:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}", details={"status": status, "known": list(STATUSES)})
    query = select(Delivery).where(Delivery.id > after_id)  # type: ignore[operator]
    if subscription_ids is not None:
        query = query.where(Delivery.subscription_id.in_(list(subscription_ids)))  # type: ignore[attr-defined]
    if status:
        query = query.where(Delivery.status == status)
    if golden_id:
        query = query.where(Delivery.golden_id == golden_id)
    if event_id:
        query = query.where(Delivery.event_id == event_id)
    # The page size reaches PostgreSQL as a subquery, which the planner cannot read: it then
    # plans for a small fraction of the rows, as it does for a generic plan. Why: with the size
    # as a constant, on tables never analyzed it guesses a subscription holds fewer deliveries
    # after the cursor than a page (64 at 140,000), so a page costs as much as all of them and
    # it bitmap-read every one of the subscription's deliveries after the cursor and sorted
    # them - 70,000 rows (22-36 ms) per page of 100 from the start, 35,000 from the middle - even
    # with ix_delivery_subscription (subscription_id, id), which now returns a page in order.
    size = sa_select(cast(literal(limit), BigInteger)).scalar_subquery() if uow.dialect == "postgresql" else limit
    return list(uow.session.exec(query.order_by(Delivery.id).limit(size)).all())  # type: ignore[arg-type]


# --- replay -----------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    events: int = 0
    requeued: int = 0
    created: int = 0
    held: int = 0
    skipped: int = 0
    latest_resent: int = 0


def _reset(d: Delivery, now: datetime) -> None:
    d.status = PENDING
    d.attempts = 0
    d.next_attempt_at = now
    d.leased_until = None
    d.lease_token = None
    d.replays += 1


def replay(
    uow: UnitOfWork,
    sub: Subscription,
    *,
    event_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    after: Position | None = None,
    limit: int = 100_000,
) -> ReplayResult:
    """Send events to ``sub`` again (same event id, so consumers can still de-duplicate).

    Sent in version order per golden; if a golden has a newer delivered version than the
    replayed ones, that newest one is re-sent after them, so a replay never leaves a
    consumer holding an old version of a record.
    """
    if event_id is not None:
        event = uow.session.exec(select(OutboxEvent).where(OutboxEvent.event_id == event_id)).first()
        if event is None:
            raise NotFound(f"no event {event_id!r}", details={"event_id": event_id})
        events = [event]
    elif start is not None or end is not None or after is not None:
        events = events_in_range(uow, start=start, end=end, after=after)
    else:
        raise InvalidInput("say what to replay: event_id, from/to, or after", details={})
    if len(events) > limit:
        raise InvalidInput(f"{len(events)} events match; replay at most {limit} at a time", details={"events": len(events)})
    result = ReplayResult(events=len(events))
    now = utcnow()
    wanted = [e for e in events if e.domain in sub.domains and e.type in sub.event_types]
    result.skipped = len(events) - len(wanted)
    existing: dict[str, Delivery] = {}
    for start_at in range(0, len(wanted), 1000):
        chunk = [e.event_id for e in wanted[start_at : start_at + 1000]]
        for d in uow.session.exec(
            select(Delivery).where(Delivery.subscription_id == sub.id, Delivery.event_id.in_(chunk)).with_for_update()  # type: ignore[attr-defined]
        ).all():
            existing[d.event_id] = d
    newest_replayed: dict[str, int] = {}
    for event in wanted:
        row = existing.get(event.event_id)
        held = is_held(sub, event)
        if row is None:
            row = Delivery(
                subscription_id=sub.id, outbox_id=event.id or 0, event_id=event.event_id, golden_id=event.golden_id,
                golden_version=event.golden_version, domain=event.domain, event_type=event.type,
                status=HELD if held else PENDING, next_attempt_at=now, event_created_at=event.created_at, replays=1,
            )
            result.created += 1
        elif not held:
            _reset(row, now)
            result.requeued += 1
        result.held += held
        uow.session.add(row)
        if not held:
            newest_replayed[event.golden_id] = max(newest_replayed.get(event.golden_id, 0), event.golden_version)
    uow.session.flush()
    for golden_id, version in newest_replayed.items():
        latest = uow.session.exec(
            select(Delivery)
            .where(
                Delivery.subscription_id == sub.id,
                Delivery.golden_id == golden_id,
                Delivery.golden_version > version,
                Delivery.status == DELIVERED,
            )
            .order_by(Delivery.golden_version.desc())  # type: ignore[attr-defined]
            .limit(1)
        ).first()
        if latest is not None:
            _reset(latest, now)
            uow.session.add(latest)
            result.latest_resent += 1
    uow.session.flush()
    return result


def release_expired_leases(uow: UnitOfWork) -> int:
    """Forget leases that ran out (their worker died); the rows are claimable again anyway,
    this only keeps the API's view honest."""
    now = utcnow()
    res = uow.session.execute(
        update(Delivery)
        .where(and_(Delivery.status == PENDING, Delivery.leased_until < now))  # type: ignore[operator]
        .values(leased_until=None, lease_token=None)
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]
