"""Find accepted records whose resolve job was lost, and enqueue them again.

The database, not Redis, is the source of truth: a record is ``pending`` until a job has
resolved its current content. A job can be lost when a worker is SIGKILLed between pop and
registration, when Redis restarts without persistence, or when it is flushed. The sweep
looks at pending records older than ``sweep_after_seconds`` and asks Redis about the job
each one names; only records whose job is gone, finished or failed are re-enqueued, so a
long but healthy backlog is not enqueued twice.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.models import SourceRecord, utcnow
from mdm.settings import Settings

log = logging.getLogger(__name__)

#: Job states in which the job will still run by itself.
LIVE_STATES = {"created", "queued", "started", "scheduled", "deferred", "rate_limited"}
SWEEP_LOCK_SECONDS = 120
SWEEP_LIMIT = 50_000


def stale_pending(settings: Settings, *, older_than_seconds: int | None = None) -> list[tuple[int, str | None]]:
    age = settings.sweep_after_seconds if older_than_seconds is None else older_than_seconds
    cutoff = utcnow() - timedelta(seconds=age)
    with UnitOfWork(settings) as uow:
        rows = uow.session.exec(
            select(SourceRecord.id, SourceRecord.job_id)
            .where(SourceRecord.match_status == "pending", SourceRecord.enqueued_at <= cutoff)  # type: ignore[operator]
            .order_by(SourceRecord.id)
            .limit(SWEEP_LIMIT)
        ).all()
    return [(int(r[0]), r[1]) for r in rows]


def _live_jobs(settings: Settings, job_ids: set[str]) -> set[str]:
    from redis import Redis
    from rq import Queue
    from rq.job import Job
    from rq.serializers import JSONSerializer

    redis = Redis.from_url(settings.redis_url or "")
    ids = sorted(job_ids)
    live: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for job_id, job in zip(chunk, Job.fetch_many(chunk, connection=redis, serializer=JSONSerializer), strict=True):
            status = job.get_status(refresh=False) if job is not None else None
            # JobStatus is a (str, Enum): str() of it is "JobStatus.QUEUED", its value is "queued"
            state = getattr(status, "value", status)
            if state == "started" and _heartbeat_lost(settings, job):
                continue  # its worker died (SIGKILL, OOM): RQ notices only minutes later
            if state == "queued" and redis.lpos(Queue(job.origin, connection=redis).key, job_id) is None:
                # taken off its queue but never started: RQ moves a job to an intermediate list
                # as a worker dequeues it and marks it started a moment later; a worker killed in
                # between leaves it "queued" there until RQ's maintenance (every 10 minutes) fails
                # it. Stale records are older than any such moment of a live worker, and
                # resolving a record twice is harmless (jobs are idempotent).
                continue
            if state in LIVE_STATES:
                live.add(job_id)
    return live


def _without_live_job(settings: Settings, stale: list[tuple[Any, str | None]]) -> list[Any]:
    """The ids of ``(id, job id)`` pairs whose job will not run by itself (none without Redis:
    nothing is queued there, so every stale id is lost)."""
    live = set() if settings.jobs_inline else _live_jobs(settings, {j for _, j in stale if j})
    return [item for item, job_id in stale if not job_id or job_id not in live]


def _heartbeat_lost(settings: Settings, job: object) -> bool:
    beat = getattr(job, "last_heartbeat", None) or getattr(job, "started_at", None)
    if beat is None:
        return False
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    return utcnow() - beat > timedelta(seconds=2 * settings.job_heartbeat_seconds + 10)


def sweep_lost_records(settings: Settings, *, older_than_seconds: int | None = None) -> dict[str, int]:
    """Re-enqueue lost work; returns counts. Only one sweep runs at a time across workers."""
    from mdm.jobs import enqueue_resolve

    lock = None
    if not settings.jobs_inline:
        from redis import Redis

        lock = Redis.from_url(settings.redis_url or "").lock(
            f"{settings.queue_prefix}:sweep-lock", timeout=SWEEP_LOCK_SECONDS, blocking=False
        )
        if not lock.acquire(blocking=False):
            return {"stale": 0, "requeued": 0, "skipped_locked": 1}
    try:
        loads = requeue_lost_loads(settings, older_than_seconds=older_than_seconds)
        stale = stale_pending(settings, older_than_seconds=older_than_seconds)
        if not stale:
            return {"stale": 0, "requeued": 0, **loads}
        lost = _without_live_job(settings, stale)
        if lost:
            log.warning("sweep re-enqueues %d records whose jobs were lost", len(lost))
            enqueue_resolve(lost, correlation_id="sweep")
        return {"stale": len(stale), "requeued": len(lost), **loads}
    finally:
        if lock is not None:
            # the lock may have expired by itself; nothing to undo then
            with contextlib.suppress(Exception):
                lock.release()


def requeue_lost_loads(settings: Settings, *, older_than_seconds: int | None = None) -> dict[str, int]:
    """Enqueue again the API loads (``POST …/loads``) still queued or running whose job is gone,
    finished, failed or silent. Each gets a new job id, stored before its job is enqueued. A load
    whose old job is in fact still running is safe too: the new run waits for nothing, it finds
    the old run's advisory lock taken and does nothing (:mod:`mdm.services.loads`).

    Without Redis (the laptop default) a load runs inside the web request that sent it, and there
    is neither a job to ask nor (on SQLite) a lock: a *running* load is only taken back once it
    started more than ``MDM_LOAD_JOB_TIMEOUT`` ago, so ``mdm sweep`` does not start a second run
    beside a slow first one."""
    from mdm.jobs import enqueue_load
    from mdm.services.loads import renew_job_id, stale_loads

    age = settings.sweep_after_seconds if older_than_seconds is None else older_than_seconds
    with UnitOfWork(settings) as uow:
        now = utcnow()
        stale = stale_loads(uow, now - timedelta(seconds=age),
                            now - timedelta(seconds=settings.load_job_timeout) if settings.jobs_inline else None)
    if not stale:
        return {"loads_requeued": 0}
    lost = _without_live_job(settings, stale)
    for load_id in lost:
        with UnitOfWork(settings) as uow:
            job_id = renew_job_id(uow, load_id)
            uow.commit()
        log.warning("sweep re-enqueues load %s, whose job was lost", load_id)
        enqueue_load(load_id, job_id)
    return {"loads_requeued": len(lost)}


#: Batches with nothing pending that are still open. Resolvers close a batch lock-then-check at
#: the end of the transaction that finishes its last item (``resolve._BatchesToClose``); before
#: that, two workers finishing a batch's last items at the same moment each saw the other's item
#: still pending and neither closed it. This is the safety net for batches left open that way by
#: an earlier version, or by hand: the status endpoint already says "done" (it counts items);
#: this closes the row, dated by the last resolution among its records.
#: On PostgreSQL the rows are locked in ascending id first, as resolvers lock the batches they
#: close, so the sweep and a resolver closing the same batches cannot deadlock (SQLite serializes
#: writers and has no FOR UPDATE).
_CLOSE_FINISHED_BATCHES = """
UPDATE batch SET finished_at = coalesce(
        (SELECT max(sr.resolved_at) FROM batch_item bi JOIN source_record sr ON sr.id = bi.source_record_id
          WHERE bi.batch_id = batch.id), :now)
 WHERE id IN (SELECT b.id FROM batch b WHERE b.finished_at IS NULL AND b.created_at < :before
                 AND NOT EXISTS (SELECT 1 FROM batch_item bi WHERE bi.batch_id = b.id AND bi.status = 'pending')
               ORDER BY b.id {lock})
   AND finished_at IS NULL
"""


def close_finished_batches(settings: Settings, *, older_than_seconds: int | None = None) -> int:
    """Set ``finished_at`` on batches with nothing pending that no resolver closed; returns how many."""
    age = settings.sweep_after_seconds if older_than_seconds is None else older_than_seconds
    now = utcnow()
    with UnitOfWork(settings) as uow:
        statement = text(_CLOSE_FINISHED_BATCHES.format(lock="FOR UPDATE" if uow.dialect == "postgresql" else ""))
        closed = uow.session.execute(statement, {"now": now, "before": now - timedelta(seconds=age)}).rowcount
        uow.commit()
    if closed:
        log.info("sweep closed %d finished batches", closed)
    return int(closed or 0)
