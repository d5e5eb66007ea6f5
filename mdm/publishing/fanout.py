"""Fan-out: turn new outbox events into delivery rows, one subscription at a time.

Each subscription reads the change feed after its own cursor, like any pull consumer, and
in ONE transaction inserts a delivery row per matching event and moves the cursor. A crash
before commit leaves cursor and rows untouched; a second fan-out running concurrently skips
the subscription (its row is locked), so no event is fanned out twice or never.

Approval gate: an event whose golden is not approved (waiting for onboarding, or with a
member in the review band) becomes a ``held`` row, never sent, unless the subscription
publishes that domain unapproved. Approval itself writes a new golden version, which is
then delivered; tombstones (merged, retired, erased, split) always go out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select as sa_select
from sqlmodel import select

from mdm.db import UnitOfWork, get_engine
from mdm.models import OutboxEvent
from mdm.publishing.feed import ALWAYS_PUBLISHED, Position, read_page
from mdm.publishing.models import HELD, PENDING, Delivery, Subscription
from mdm.settings import Settings

log = logging.getLogger(__name__)
PAGE = 500


@dataclass
class FanoutResult:
    subscription_id: str
    created: int = 0
    held: int = 0
    scanned: int = 0


def is_held(sub: Subscription, event: OutboxEvent) -> bool:
    if event.type in ALWAYS_PUBLISHED or event.domain in (sub.publish_unapproved or []):
        return False
    return (event.payload or {}).get("approval", "approved") != "approved"


def fanout_page(uow: UnitOfWork, sub: Subscription) -> tuple[FanoutResult, bool]:
    """One feed page for one (locked) subscription; returns the result and whether more remain."""
    result = FanoutResult(sub.id)
    page = read_page(uow, Position(sub.cursor_txid, sub.cursor_id), limit=PAGE)
    rows = []
    for event in page.events:
        result.scanned += 1
        if event.domain not in sub.domains or event.type not in sub.event_types:
            continue
        held = is_held(sub, event)
        rows.append(
            Delivery(
                subscription_id=sub.id,
                outbox_id=event.id or 0,
                event_id=event.event_id,
                golden_id=event.golden_id,
                golden_version=event.golden_version,
                domain=event.domain,
                event_type=event.type,
                status=HELD if held else PENDING,
                next_attempt_at=event.created_at,
                event_created_at=event.created_at,
            )
        )
        result.held += held
        result.created += not held
    if rows:
        existing = set(
            uow.session.exec(
                select(Delivery.event_id).where(
                    Delivery.subscription_id == sub.id,
                    Delivery.event_id.in_([r.event_id for r in rows]),  # type: ignore[attr-defined]
                )
            ).all()
        )
        uow.session.add_all([r for r in rows if r.event_id not in existing])
    sub.cursor_txid, sub.cursor_id = page.next.txid, page.next.id
    uow.session.add(sub)
    return result, page.has_more


def fanout_subscription(settings: Settings, subscription_id: str, *, max_pages: int = 50) -> FanoutResult:
    """Catch one subscription up with the feed (bounded; the next trigger continues)."""
    total = FanoutResult(subscription_id)
    for _ in range(max_pages):
        with UnitOfWork(settings) as uow:
            query = select(Subscription).where(Subscription.id == subscription_id).with_for_update(skip_locked=True)
            sub = uow.session.exec(query).first()
            if sub is None or not sub.active or sub.deleted_at is not None:
                return total
            result, more = fanout_page(uow, sub)
            uow.commit()
        total.created += result.created
        total.held += result.held
        total.scanned += result.scanned
        if not more:
            break
    return total


_SUB = Subscription.__table__  # type: ignore[attr-defined]
#: a Core select on a plain connection: this runs after every commit that wrote an outbox row
#: when jobs run inline, and a session is not needed to read one column
_ACTIVE_SUBSCRIPTIONS = sa_select(_SUB.c.id).where(_SUB.c.active.is_(True), _SUB.c.deleted_at.is_(None))


def active_subscription_ids(settings: Settings) -> list[str]:
    with get_engine(settings.database_url).connect() as conn:
        return list(conn.execute(_ACTIVE_SUBSCRIPTIONS).scalars())


def fanout_all(settings: Settings) -> list[FanoutResult]:
    return [fanout_subscription(settings, sub_id) for sub_id in active_subscription_ids(settings)]
