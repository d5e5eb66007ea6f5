"""Admin views of background work: RQ's failed registry and records parked in ``error``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import NotFound
from mdm.models import SourceRecord, utcnow
from mdm.queueing import QUEUES, redis_queue_name
from mdm.settings import Settings


def _registry(settings: Settings, queue: str) -> Any:
    from redis import Redis
    from rq import Queue
    from rq.registry import FailedJobRegistry
    from rq.serializers import JSONSerializer

    redis = Redis.from_url(settings.redis_url or "")
    rq_queue = Queue(redis_queue_name(settings, queue), connection=redis, serializer=JSONSerializer)
    return FailedJobRegistry(queue=rq_queue), redis


def failed_jobs(settings: Settings, limit: int = 100) -> list[dict[str, Any]]:
    if settings.jobs_inline:
        return []
    from rq.job import Job
    from rq.serializers import JSONSerializer

    out: list[dict[str, Any]] = []
    for queue in QUEUES:
        registry, redis = _registry(settings, queue)
        ids = registry.get_job_ids(0, limit - 1)
        for job in Job.fetch_many(ids, connection=redis, serializer=JSONSerializer):
            if job is None:
                continue
            exc = (job.exc_info or "").strip().splitlines()
            out.append(
                {
                    "job_id": job.id,
                    "queue": queue,
                    "function": job.func_name,
                    "args": job.args,
                    "error": exc[-1] if exc else None,
                    "enqueued_at": job.enqueued_at.isoformat() if job.enqueued_at else None,
                    "ended_at": job.ended_at.isoformat() if job.ended_at else None,
                }
            )
    return out


def requeue_failed_job(settings: Settings, job_id: str) -> dict[str, Any]:
    """Put a failed job back on its queue; the records it names get fresh attempts."""
    if settings.jobs_inline:
        raise NotFound("no job queue is configured (jobs run inline)", details={"job_id": job_id})
    for queue in QUEUES:
        registry, _ = _registry(settings, queue)
        if job_id in registry.get_job_ids():
            job = registry.requeue(job_id)
            record_ids = job.args[0] if job.args and isinstance(job.args[0], list) else []
            if record_ids:
                reset_records(settings, [int(r) for r in record_ids])
            return {"job_id": job_id, "queue": queue, "status": "queued"}
    raise NotFound(f"no failed job {job_id!r}", details={"job_id": job_id})


def reset_records(settings: Settings, record_ids: list[int]) -> int:
    with UnitOfWork(settings) as uow:
        result = uow.session.execute(
            update(SourceRecord)
            .where(SourceRecord.id.in_(record_ids), SourceRecord.match_status.in_(["error", "pending"]))  # type: ignore[union-attr]
            .values(match_status="pending", attempts=0, enqueued_at=utcnow())
        )
        uow.commit()
        return int(result.rowcount or 0)


def errored_records(settings: Settings, limit: int = 100) -> list[dict[str, Any]]:
    with UnitOfWork(settings) as uow:
        rows = uow.session.exec(
            select(SourceRecord).where(SourceRecord.match_status == "error").order_by(SourceRecord.id).limit(limit)
        ).all()
        return [
            {
                "id": r.id,
                "source": r.source,
                "domain": r.domain,
                "source_id": r.source_id,
                "attempts": r.attempts,
                "error": (r.last_error or "").strip().splitlines()[-1:] or None,
            }
            for r in rows
        ]


def retry_records(settings: Settings, record_ids: list[int]) -> int:
    """Give errored records fresh attempts and enqueue them."""
    from mdm.jobs import enqueue_resolve

    count = reset_records(settings, record_ids)
    enqueue_resolve(record_ids, correlation_id="admin-retry")
    return count
