"""Where jobs go: RQ on Redis in production, inline in the web process on a laptop.

RQ's sharp edges, and how this module designs around them:

* Jobs are serialized as JSON (``JSONSerializer``), never pickle: arguments are ids and
  plain values, so a job survives a deploy and cannot smuggle code.
* One queue per worker process (``mdm worker --queue resolve``): a worker listening on
  several queues pops with BLMOVE from one list and can lose a job between pop and
  registration when it dies; one queue per process keeps that window in one place, and
  the sweep (``mdm.services.sweep``) re-enqueues anything lost anyway.
* Retries with intervals are delayed by RQ's scheduler, so ``mdm worker`` always runs
  ``work(with_scheduler=True)``.
* Jobs can run twice (a retry after a commit whose ack was lost, the sweep racing a slow
  worker): every job function is idempotent, keyed on database state, not on Redis.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Protocol

from mdm.settings import Settings

log = logging.getLogger(__name__)

#: Logical queue names; the Redis queue is ``<prefix>-<name>``.
QUEUES = ("resolve", "publish", "maintenance")


@dataclass(frozen=True)
class Enqueued:
    job_id: str
    queue: str


class JobQueue(Protocol):
    def enqueue(self, queue: str, func: str, *args: Any, job_id: str | None = None,
                timeout: int | None = None) -> Enqueued: ...

    def ping(self) -> bool: ...


def resolve_function(path: str) -> Callable[..., Any]:
    module, _, name = path.rpartition(".")
    return getattr(import_module(module), name)


class InlineQueue:
    """Runs the job at once in this process. Failures are logged, not raised: the record stays
    pending or errored in the database, exactly as when an RQ job fails, and ``mdm sweep``
    picks it up again."""

    def enqueue(self, queue: str, func: str, *args: Any, job_id: str | None = None,
                timeout: int | None = None) -> Enqueued:
        job_id = job_id or f"inline-{uuid.uuid4()}"
        try:
            resolve_function(func)(*args)
        except Exception:  # noqa: BLE001 - state is in the database; see docstring
            log.exception("inline job %s failed", func)
        return Enqueued(job_id, queue)

    def ping(self) -> bool:
        return True


class RQQueue:
    """Enqueues on Redis with JSON serialization, retries with backoff and a long failure TTL."""

    def __init__(self, settings: Settings) -> None:
        from redis import Redis

        self.settings = settings
        self.redis = Redis.from_url(settings.redis_url or "", socket_timeout=10, socket_connect_timeout=5)
        self._queues: dict[str, Any] = {}

    def rq_queue(self, queue: str) -> Any:
        from rq import Queue
        from rq.serializers import JSONSerializer

        if queue not in self._queues:
            self._queues[queue] = Queue(
                redis_queue_name(self.settings, queue), connection=self.redis, serializer=JSONSerializer
            )
        return self._queues[queue]

    def enqueue(self, queue: str, func: str, *args: Any, job_id: str | None = None,
                timeout: int | None = None) -> Enqueued:
        """``timeout``: RQ's time limit for the job in seconds (default 600, enough for a resolve chunk)."""
        from rq import Retry

        retries = max(self.settings.job_max_attempts - 1, 0)
        job = self.rq_queue(queue).enqueue_call(
            func=func,
            args=list(args),
            job_id=job_id or f"{queue}-{uuid.uuid4()}",
            retry=Retry(max=retries, interval=list(self.settings.retry_intervals[:retries])) if retries else None,
            timeout=timeout or 600,
            result_ttl=300,
            failure_ttl=30 * 24 * 3600,  # failed jobs stay listable and re-queueable for a month
        )
        return Enqueued(job.id, queue)

    def ping(self) -> bool:
        return bool(self.redis.ping())


def redis_queue_name(settings: Settings, queue: str) -> str:
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; known: {', '.join(QUEUES)}")
    return f"{settings.queue_prefix}-{queue}"


def make_queue(settings: Settings) -> JobQueue:
    return InlineQueue() if settings.jobs_inline else RQQueue(settings)
