"""Publishing jobs on the ``publish`` queue; both idempotent and keyed on database state.

* :func:`dispatch` fans new outbox events out into delivery rows (all subscriptions) and
  nudges a drain for every subscription that got work.
* :func:`drain` sends one subscription's deliverable rows until none is left (or its time
  budget is spent, then it enqueues its successor), and schedules itself for the next retry.

How they are enqueued (debounced nudges) is :mod:`mdm.publishing.trigger`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text

from mdm import runtime
from mdm.db import UnitOfWork
from mdm.models import as_utc, utcnow
from mdm.publishing import deliveries, webhook
from mdm.publishing.config import PublishSettings
from mdm.publishing.fanout import fanout_all, fanout_subscription
from mdm.publishing.feed import visibility_bound
from mdm.publishing.models import Subscription
from mdm.publishing.subscriptions import signing_secrets
from mdm.publishing.trigger import (
    DISPATCH_FUNC,
    clear_flag,
    clear_past_schedule,
    request_drain,
    schedule,
    schedule_drain,
)
from mdm.settings import Settings

log = logging.getLogger(__name__)
#: sObject Collections take at most 200 records per call
SALESFORCE_BATCH = 200


def dispatch() -> dict[str, Any]:
    """Fan out every active subscription, then nudge drains where work appeared."""
    settings = runtime.settings()
    clear_flag(settings, "dispatch")
    results = fanout_all(settings)
    for result in results:
        if result.created:
            request_drain(result.subscription_id)
    if not settings.jobs_inline and _feed_held_back(settings):
        # committed events still hidden behind an older open transaction: look again shortly
        schedule(DISPATCH_FUNC, 1.0)
    return {"subscriptions": len(results), "created": sum(r.created for r in results), "held": sum(r.held for r in results)}


def _feed_held_back(settings: Settings) -> bool:
    with UnitOfWork(settings) as uow:
        bound = visibility_bound(uow)
        if bound is None:
            return False
        return uow.session.execute(text("SELECT 1 FROM outbox_event WHERE txid >= :b LIMIT 1"), {"b": bound}).first() is not None


def _send_webhooks(pool: ThreadPoolExecutor, sub: Subscription, claimed: list[deliveries.Claimed], settings: Settings, psettings: PublishSettings) -> list[deliveries.Outcome]:
    secrets = [entry["secret"] for entry in signing_secrets(settings.secret_key, sub)]
    url = sub.url or ""
    margin = psettings.timeout_seconds + psettings.connect_timeout_seconds + 1.0

    def one(item: deliveries.Claimed) -> deliveries.Outcome:
        # never start a request that could outlive the lease: a successor may already own it
        if (as_utc(item.leased_until) - utcnow()).total_seconds() < margin:
            return deliveries.Outcome(item.delivery_id, item.token, "released")
        return webhook.send(item, url, secrets, psettings)

    return list(pool.map(one, claimed))


def drain(subscription_id: str) -> dict[str, Any]:
    """Deliver what is deliverable for one subscription, in per-golden order."""
    settings = runtime.settings()
    psettings = PublishSettings.from_env()
    clear_flag(settings, f"drain:{subscription_id}")
    clear_past_schedule(settings, subscription_id)
    deadline = time.monotonic() + psettings.drain_budget_seconds
    totals: dict[str, int] = {}
    out_of_time = backoff = False
    idle_since = time.monotonic()
    with ThreadPoolExecutor(max_workers=psettings.concurrency, thread_name_prefix="webhook") as pool:
        while True:
            if time.monotonic() >= deadline and not settings.jobs_inline:
                out_of_time = True
                break
            # fan out this subscription first: during a burst one running drain keeps up by
            # itself instead of waiting for a dispatch job per commit
            fanout_subscription(settings, subscription_id, max_pages=4)
            with UnitOfWork(settings) as uow:
                sub = uow.session.get(Subscription, subscription_id)
                if sub is None or not sub.active or sub.deleted_at is not None:
                    return {"subscription": subscription_id, "inactive": True, **totals}
                size = SALESFORCE_BATCH if sub.kind == "salesforce" else psettings.claim_size
                lease = max(psettings.lease_seconds, 2 * (psettings.timeout_seconds + psettings.connect_timeout_seconds + 1))
                claimed = deliveries.claim(uow, sub, size, lease)
                uow.commit()
            if not claimed:
                # linger briefly: the next commit of a burst is usually milliseconds away, and a
                # new RQ job (fork, connections) costs far more than a few idle polls
                if settings.jobs_inline or time.monotonic() - idle_since > psettings.linger_seconds:
                    break
                time.sleep(0.05)
                continue
            idle_since = time.monotonic()
            try:
                if sub.kind == "salesforce":
                    from mdm.publishing import salesforce

                    outcomes = salesforce.publish(settings, psettings, sub, claimed)
                else:
                    outcomes = _send_webhooks(pool, sub, claimed, settings, psettings)
            except Exception as exc:  # noqa: BLE001 - a sender bug must not strand leased rows
                log.exception("sending for subscription %s failed", subscription_id)
                outcomes = [deliveries.Outcome(c.delivery_id, c.token, "retry", error=f"hub error: {exc!r}"[:1000]) for c in claimed]
            with UnitOfWork(settings) as uow:
                counts = deliveries.record_outcomes(uow, outcomes, psettings)
                uow.commit()
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
            if counts.get("gone"):
                break
            if counts.get("retry", 0) == len(claimed):
                # the whole round failed: the endpoint is probably down. Probe again after the
                # first retry delay instead of trying every other golden's head right now.
                backoff = True
                break
    if settings.jobs_inline:
        return {"subscription": subscription_id, **totals}
    if out_of_time:
        request_drain(subscription_id, force=True)
    elif backoff:
        schedule_drain(subscription_id, psettings.retry_schedule[1] if len(psettings.retry_schedule) > 1 else 5.0)
    else:
        with UnitOfWork(settings) as uow:
            due = deliveries.next_due(uow, subscription_id)
        if due is not None:
            wait = (as_utc(due) - utcnow()).total_seconds()
            # due already: another drain holds that golden's head (or a dead worker's lease
            # has not run out yet); look again in a second rather than spin
            schedule_drain(subscription_id, wait + 0.05 if wait > 0 else 1.0)
    return {"subscription": subscription_id, **totals}
