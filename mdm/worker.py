"""``mdm worker``: one real RQ worker on one queue, with the scheduler, plus the sweep.

The sweep runs in a child *process*, not a thread: RQ forks a work-horse per job, and
forking a process in which another thread holds a lock (logging, a connection pool) can
deadlock the child. The child asks the kernel to kill it when the worker dies
(``PR_SET_PDEATHSIG``), so a SIGKILLed worker leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import subprocess
import sys
import time

from mdm.queueing import redis_queue_name
from mdm.settings import Settings

log = logging.getLogger(__name__)


def _preload(rules_dir: str | None) -> None:
    """Import and warm the pure libraries once in the parent, so every forked work-horse
    starts with them in (copy-on-write shared) memory instead of loading them per job."""
    # the job modules too: importing SQLAlchemy, the models and the services costs ~1 s, and
    # a work-horse that imports them itself pays that on every single job
    import mdm.jobs  # noqa: F401
    import mdm.publishing.jobs  # noqa: F401
    import mdm.services.recompute  # noqa: F401
    import mdm.services.resolve  # noqa: F401
    import mdm.services.sweep  # noqa: F401
    from matching import MatchEngine
    from survivorship import load_rules

    for domain in ("customer", "product"):
        engine = MatchEngine(domain)
        engine.prepare({"name": "Warm Up Inc", "address": {"line1": "1 Main St", "city": "Springfield"}})
    for domain in ("customer", "product", "price"):
        # an invalid rules file stops the worker here, at start, never at merge time
        load_rules(domain, path=rules_dir) if rules_dir else load_rules(domain)


#: Allocations (net of frees) between young-generation collections, instead of Python's 700.
GC_YOUNG_THRESHOLD = 10_000


def _settle_gc() -> None:
    """Move everything loaded so far (modules, models, engines: ~280,000 objects) out of the
    collector's sight, and collect less often.

    Why: a job allocates and frees many short-lived objects, and every 700 net allocations
    Python ran a young collection, every tenth of those a middle one and now and then a full
    one that walked all the long-lived objects: 0.09–0.16 ms of CPU per resolved record, 5–9 %
    of the worker's Python time (in-process profile, docs/benchmarks-speed.md). Frozen objects
    are never freed, which is what module-level state wants anyway; a forked work-horse also
    leaves their pages shared (the collector no longer writes to them)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def forks_by_default(settings: Settings, queue_name: str) -> bool:
    """Whether ``mdm worker`` runs each job in a forked work-horse when ``--fork`` is not given.

    The maintenance queue's jobs (file loads, golden recomputes) run for minutes and build large
    heaps that Python keeps after they end: a worker that ran a 100,000-record load in its own
    process stayed at 544 MiB (171 MiB before; docs/benchmarks-speed.md, run 12). A work-horse
    returns that memory when it exits, and its 0.4 s start is nothing beside such a job. The
    resolve and publish queues follow ``MDM_WORKER_FORK`` (off: warm caches, twice the throughput).
    """
    return True if queue_name == "maintenance" else settings.worker_fork


def run_worker(
    settings: Settings, queue_name: str, *, burst: bool = False, sweep: bool = True, name: str | None = None, fork: bool = False
) -> None:
    """Work one queue until stopped.

    ``fork=False`` (the default) runs jobs in this process (RQ's ``SimpleWorker``): the database
    pool, SQLAlchemy's compiled statements, psycopg's prepared statements and the model and rules
    caches stay warm from job to job. A forked work-horse per job rebuilds all of them and took
    twice as long per 100-record resolve job (0.87 s vs 0.44 s, docs/benchmarks-speed.md); forking
    remains available for isolation (a job's memory is returned when its horse exits). Without a
    monitoring parent, long jobs refresh their own heartbeat (``mdm.jobs``) for the sweep.
    """
    from redis import Redis
    from rq import Queue, SimpleWorker, Worker
    from rq.serializers import JSONSerializer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redis = Redis.from_url(settings.redis_url or "")
    queue = Queue(redis_queue_name(settings, queue_name), connection=redis, serializer=JSONSerializer)
    _preload(settings.rules_dir)
    sweeper = _start_sweeper(queue_name) if sweep and queue_name in ("resolve", "publish") and not burst else None
    try:
        worker = (Worker if fork else SimpleWorker)(
            [queue],
            connection=redis,
            serializer=JSONSerializer,
            name=name,
            job_monitoring_interval=settings.job_heartbeat_seconds,
        )
        _settle_gc()
        # with_scheduler: RQ moves retried and scheduled jobs back to the queue only when a
        # scheduler runs; without it a job retried "in 30 s" would never run again
        worker.work(with_scheduler=True, burst=burst, logging_level="INFO")
    finally:
        if sweeper is not None and sweeper.poll() is None:
            sweeper.terminate()


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the sweep loop also exits when its parent changes
        pass


def _start_sweeper(queue_name: str = "resolve") -> subprocess.Popen[bytes]:
    command = ["sweep", "--loop"] if queue_name == "resolve" else ["publish", "sweep", "--loop"]
    return subprocess.Popen(
        [sys.executable, "-m", "mdm.cli", *command],
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - runs before exec, no threads yet
        env=os.environ.copy(),
    )


def sweep_forever(settings: Settings) -> None:
    from mdm.services.sweep import close_finished_batches, sweep_lost_records

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s sweep: %(message)s")
    parent = os.getppid()
    while os.getppid() == parent:
        try:
            result = sweep_lost_records(settings)
            if result.get("requeued"):
                log.warning("sweep: %s", result)
            if not result.get("skipped_locked"):  # one sweeper at a time does the batch pass too
                close_finished_batches(settings)
        except Exception:  # noqa: BLE001 - a failed sweep is retried next interval
            log.exception("sweep failed")
        time.sleep(settings.sweep_interval_seconds)
