"""Nudges: enqueue publishing jobs on the ``publish`` queue, debounced, never failing the caller.

Kept apart from :mod:`mdm.publishing.jobs` so the golden-record service can import the
after-commit hook without loading HTTP or Salesforce clients.

Nudges are debounced with a Redis ``SET NX EX`` flag per job kind: a burst of 10,000 golden
changes enqueues a handful of jobs, not 10,000. A job clears its flag when it *starts*, so a
change committed while it runs always causes one more run. A lost flag or job costs nothing
but latency: the publish sweep (:mod:`mdm.publishing.sweep`) looks at the database and nudges
again. Without Redis (the laptop default) the job functions run inline after the commit.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Any

from mdm import runtime
from mdm.db import UnitOfWork
from mdm.publishing.config import PublishSettings
from mdm.settings import Settings

log = logging.getLogger(__name__)

DISPATCH_FUNC = "mdm.publishing.jobs.dispatch"
DRAIN_FUNC = "mdm.publishing.jobs.drain"
QUEUE = "publish"


def redis_client(settings: Settings) -> Any:
    queue = runtime.queue()
    return getattr(queue, "redis", None)


def flag_key(settings: Settings, name: str) -> str:
    return f"{settings.queue_prefix}:publish:{name}"


def after_outbox_write(uow: UnitOfWork) -> None:
    """Call after adding an outbox row: once the transaction commits, dispatch is nudged.

    Registered once per unit of work however many golden records it changed.
    """
    hooks = getattr(uow, "_after_commit", None)
    if hooks is not None and request_dispatch in hooks:
        return
    uow.after_commit(request_dispatch)


def request_dispatch() -> None:
    """Nudge a fan-out. Never raises: the outbox row is committed, the sweep will find it."""
    settings = runtime.settings()
    try:
        if settings.jobs_inline:
            from mdm.publishing.jobs import dispatch

            dispatch()
            return
        redis = redis_client(settings)
        if redis is None or redis.set(flag_key(settings, "dispatch"), "1", nx=True, ex=PublishSettings.from_env().trigger_ttl_seconds):
            runtime.queue().enqueue(QUEUE, DISPATCH_FUNC, job_id=f"publish-dispatch-{uuid.uuid4()}")
    except Exception:  # noqa: BLE001 - see docstring
        log.exception("could not nudge publishing; the publish sweep will pick the events up")


def request_drain(subscription_id: str, *, force: bool = False) -> None:
    """Nudge a drain of one subscription (debounced unless ``force``)."""
    settings = runtime.settings()
    try:
        if settings.jobs_inline:
            from mdm.publishing.jobs import drain

            drain(subscription_id)
            return
        redis = redis_client(settings)
        ttl = PublishSettings.from_env().trigger_ttl_seconds
        if force or redis is None or redis.set(flag_key(settings, f"drain:{subscription_id}"), "1", nx=True, ex=ttl):
            runtime.queue().enqueue(QUEUE, DRAIN_FUNC, subscription_id, job_id=f"publish-drain-{uuid.uuid4()}")
    except Exception:  # noqa: BLE001 - the sweep nudges again
        log.exception("could not nudge a drain of subscription %s", subscription_id)


def schedule(func: str, delay_seconds: float, *args: Any) -> None:
    """Run ``func`` later via RQ's scheduler (``mdm worker`` runs one). Best effort: the sweep
    catches anything due that was not scheduled."""
    settings = runtime.settings()
    if settings.jobs_inline:
        return
    try:
        rq_queue = runtime.queue().rq_queue(QUEUE)  # type: ignore[attr-defined]
        rq_queue.enqueue_in(
            timedelta(seconds=max(delay_seconds, 0.0)), func, *args,
            job_id=f"publish-later-{uuid.uuid4()}", result_ttl=60, failure_ttl=7 * 24 * 3600,
        )
    except Exception:  # noqa: BLE001
        log.exception("could not schedule %s", func)


def schedule_drain(subscription_id: str, delay_seconds: float) -> None:
    """Schedule one drain at now + delay unless one is already scheduled no later than that,
    so repeated drains during a long outage do not breed parallel retry chains."""
    settings = runtime.settings()
    if settings.jobs_inline:
        return
    target = time.time() + max(delay_seconds, 0.0)
    try:
        redis = redis_client(settings)
        key = flag_key(settings, f"drain-at:{subscription_id}")
        current = redis.get(key) if redis is not None else None
        if current is not None and float(current) <= target + 0.5 and float(current) > time.time() - 5:
            return
        if redis is not None:
            redis.set(key, f"{target:.3f}", ex=int(delay_seconds) + PublishSettings.from_env().trigger_ttl_seconds)
    except Exception:  # noqa: BLE001
        log.exception("could not check scheduled drains")
    schedule(DRAIN_FUNC, delay_seconds, subscription_id)


def clear_flag(settings: Settings, name: str) -> None:
    if settings.jobs_inline:
        return
    try:
        redis = redis_client(settings)
        if redis is not None:
            redis.delete(flag_key(settings, name))
    except Exception:  # noqa: BLE001 - a stale flag only delays the next nudge by its TTL
        log.exception("could not clear publishing flag %s", name)




def clear_past_schedule(settings: Settings, subscription_id: str) -> None:
    """A drain that starts after its scheduled time frees the slot for the next schedule."""
    if settings.jobs_inline:
        return
    try:
        redis = redis_client(settings)
        key = flag_key(settings, f"drain-at:{subscription_id}")
        current = redis.get(key) if redis is not None else None
        if current is not None and float(current) <= time.time() + 0.1:
            redis.delete(key)
    except Exception:  # noqa: BLE001 - the key expires by itself
        log.exception("could not clear the scheduled-drain marker")
