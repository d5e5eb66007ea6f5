"""RQ job functions. Arguments are JSON values (ids), state lives in the database.

The same functions run inline in the web process when no Redis is configured. Each is
idempotent: running one twice, or concurrently with itself, leaves the same result.
"""

from __future__ import annotations

import logging
import threading
import traceback
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from mdm import runtime
from mdm.db import UnitOfWork, get_engine
from mdm.models import SourceRecord, utcnow
from mdm.settings import Settings

log = logging.getLogger(__name__)

RESOLVE_FUNC = "mdm.jobs.resolve_records"


class RecordsFailed(RuntimeError):
    """Raised after a chunk finished with failures, so RQ retries (and finally keeps) the job."""


def resolve_records(record_ids: Sequence[int], correlation_id: str | None = None) -> dict[str, int]:
    """Resolve a chunk: groups of up to ``resolve_group_size`` records in one transaction each
    (:mod:`mdm.services.resolve_group`; fewer when the server's lock table could not hold every
    registered worker's group, :mod:`mdm.lockbudget`); a group that fails is redone one record per
    transaction, so one bad record does not hold back the rest and its attempts are counted."""
    settings = runtime.settings()
    counts = {"resolved": 0, "skipped": 0, "failed": 0}
    failures: list[str] = []
    from mdm.engines import recheck_models
    from mdm.lockbudget import resolve_group_size
    from mdm.services.resolve import resolve_one
    from mdm.services.resolve_group import resolve_group

    recheck_models()  # a model activated since the last job is in force for this one

    def tally(outcome: Any) -> None:
        counts["skipped" if outcome.skipped else "resolved"] += 1

    # one connection (and session factory) for the whole chunk: no pool checkout and pre-ping per
    # transaction, and psycopg's prepared statements stay on one connection. After a failure the
    # connection is dropped and a fresh one (pre-pinged) is taken.
    engine = get_engine(settings.database_url)
    conn: Connection | None = None
    factory: sessionmaker[Session] | None = None

    def unit_of_work() -> UnitOfWork:
        nonlocal conn, factory
        if conn is None or factory is None:
            conn = engine.connect()
            factory = sessionmaker(bind=conn, expire_on_commit=False, class_=Session)
        return UnitOfWork(settings, factory)

    def drop_connection() -> None:
        nonlocal conn, factory
        _discard(conn)
        conn = factory = None

    ids = [int(i) for i in record_ids]
    size = resolve_group_size(settings, engine)  # bounded by the server's lock table (mdm.lockbudget)
    try:
        for start in range(0, len(ids), size):
            _keep_alive(settings)
            group = ids[start:start + size]
            singles = group
            if size > 1:
                try:
                    with unit_of_work() as uow:
                        outcomes, singles = resolve_group(uow, group, correlation_id=correlation_id)
                        uow.commit()
                    for outcome in outcomes:
                        tally(outcome)
                except Exception:  # noqa: BLE001 - redone one by one below, where failures are recorded
                    log.warning("group of %d records failed; resolving them one by one", len(group), exc_info=True)
                    drop_connection()
                    singles = group
            for record_id in singles:
                try:
                    with unit_of_work() as uow:
                        outcome = resolve_one(uow, record_id, correlation_id=correlation_id)
                        uow.commit()
                    tally(outcome)
                except Exception as exc:  # noqa: BLE001 - recorded on the record, then re-raised below
                    log.exception("resolve failed for record %s", record_id)
                    counts["failed"] += 1
                    failures.append(f"{record_id}: {exc!r}")
                    drop_connection()
                    _record_failure(record_id, traceback.format_exc())
    finally:
        drop_connection()
    if failures:
        raise RecordsFailed(f"{len(failures)} of {len(record_ids)} records failed: " + "; ".join(failures[:5]))
    return counts


def _keep_alive(settings: Settings) -> None:
    """Refresh the running job's heartbeat (at most every ``job_heartbeat_seconds``).

    A job run in the worker's own process (``mdm worker`` without ``--fork``) has no parent
    refreshing it, and the sweep takes the records of a started job silent for twice that
    interval. Nothing to do inline (no job) or when Redis is unreachable (the sweep's problem)."""
    from rq import get_current_job
    from rq.utils import now

    try:
        job = get_current_job()
        if job is None:
            return
        last = job.last_heartbeat or job.started_at
        if last is None or (now() - (last if last.tzinfo else last.replace(tzinfo=UTC))).total_seconds() >= settings.job_heartbeat_seconds:
            _beat(job, settings)
    except Exception:  # noqa: BLE001 - a missed beat costs at worst a duplicate (idempotent) resolve
        log.warning("could not refresh the job heartbeat", exc_info=True)


def _beat(job: Any, settings: Settings) -> None:
    """Refresh ``job``'s heartbeat now; it stays valid for twice the interval plus a minute."""
    from rq.utils import now

    job.heartbeat(now(), settings.job_heartbeat_seconds * 2 + 60)


def _discard(conn: Connection | None) -> None:
    """Close a job connection; a broken one is invalidated rather than returned to the pool."""
    if conn is None:
        return
    try:
        if conn.in_transaction():
            conn.rollback()
        conn.close()
    except Exception:  # noqa: BLE001 - the connection is unusable; make sure the pool forgets it
        conn.invalidate()


def _record_failure(record_id: int, error: str) -> None:
    """Count the attempt; after the last one the record is parked as ``error`` for an admin."""
    settings = runtime.settings()
    from mdm.services.resolve import finish_batch_items

    with UnitOfWork(settings) as uow:
        record = uow.session.get(SourceRecord, record_id, with_for_update=True)
        if record is None:
            return
        record.attempts += 1
        record.last_error = error[-4000:]
        if record.attempts >= settings.job_max_attempts and record.match_status == "pending":
            record.match_status = "error"
            finish_batch_items(uow, [record_id], "failed")
        uow.session.add(record)
        uow.commit()


def new_resolve_job_id() -> str:
    return f"resolve-{uuid.uuid4()}"


class ResolveJobIds:
    """Job ids for records in the order they will be enqueued, one per chunk of ``chunk_size``:
    the one chunking rule — :func:`enqueue_resolve` makes a job of the consecutive records that
    hold one id. So a batch can store each record's job id in the same INSERT or UPDATE that
    stores the record (see ``accept_batch``), and enqueueing then writes nothing.

    Why: writing the ids afterwards was a second UPDATE of every accepted row (a new row version
    and an entry in each of its indexes), and its ``id IN (…) AND match_status = 'pending'`` test
    was planned on the pending index when the table had no statistics yet, reading every pending
    row for each chunk."""

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = max(1, chunk_size)
        self._current = ""
        self._handed_out = 0

    def next(self) -> str:
        """The job id of the next record to be enqueued."""
        if self._handed_out % self.chunk_size == 0:
            self._current = new_resolve_job_id()
        self._handed_out += 1
        return self._current


def enqueue_resolve(record_ids: Iterable[int], correlation_id: str | None = None,
                    *, job_ids: Sequence[str] | None = None) -> list[str]:
    """Enqueue resolution in chunks (one job per chunk, not per record) and note the job id
    on each record so the sweep can tell a lost job from a queued one.

    ``job_ids``: the job id each record already holds, one per record (handed out by
    :class:`ResolveJobIds` and stored with the record); then nothing is written here."""
    settings = runtime.settings()
    queue = runtime.queue()
    ids = list(record_ids)
    stored = job_ids is not None
    if job_ids is None:
        plan = ResolveJobIds(settings.resolve_chunk_size)
        job_ids = [plan.next() for _ in ids]
    elif len(job_ids) != len(ids):
        raise ValueError(f"{len(job_ids)} job ids for {len(ids)} records")
    chunks = [(job_id, [rid for rid, _ in group]) for job_id, group in groupby(zip(ids, job_ids, strict=True), key=itemgetter(1))]
    if not settings.jobs_inline and chunks and not stored:
        # written (and committed) before enqueueing: a worker that is fast enough must not see a
        # stale id. All chunks in one transaction with Core statements: an ORM bulk update and a
        # commit per chunk were a fifth of accepting a batch. Dying before the enqueue leaves
        # job ids no queue holds, which the sweep re-enqueues, as it always did.
        table = SourceRecord.__table__  # type: ignore[attr-defined]
        now = utcnow()
        with UnitOfWork(settings) as uow:
            for job_id, chunk in chunks:
                uow.session.execute(
                    update(table).where(table.c.id.in_(chunk), table.c.match_status == "pending")
                    .values(job_id=job_id, enqueued_at=now)
                )
            uow.commit()
    for job_id, chunk in chunks:
        queue.enqueue("resolve", RESOLVE_FUNC, chunk, correlation_id, job_id=job_id)
    return [job_id for job_id, _ in chunks]


def recompute_goldens(golden_ids: Sequence[str], correlation_id: str | None = None) -> dict[str, int]:
    """Rebuild these goldens with the rules in force (``mdm golden recompute``)."""
    from mdm.services.recompute import recompute_goldens as run

    return run(runtime.settings(), golden_ids, correlation_id)


def run_load(load_id: str) -> dict[str, Any]:
    """Load a file staged by ``POST …/loads`` (:mod:`mdm.services.loads`), on the maintenance queue.

    A bulk load runs for minutes in this process without returning to the worker's loop, so a
    thread keeps the job's heartbeat fresh meanwhile; otherwise the sweep would take the job for
    lost and enqueue it again on every pass (each new run finds the first's advisory lock taken
    and returns at once: harmless, but a job per sweep for as long as the load runs).
    """
    from mdm.services.loads import run_load as run

    settings = runtime.settings()
    with _heartbeat_thread(settings):
        return run(settings, load_id)


def enqueue_load(load_id: str, job_id: str) -> str:
    """Enqueue the job of a load whose row (naming ``job_id``) is committed."""
    from mdm.services.loads import LOAD_FUNC, LOAD_QUEUE

    settings = runtime.settings()
    return runtime.queue().enqueue(LOAD_QUEUE, LOAD_FUNC, load_id, job_id=job_id, timeout=settings.load_job_timeout).job_id


@contextmanager
def _heartbeat_thread(settings: Settings) -> Iterator[None]:
    """Refresh the current RQ job's heartbeat every ``job_heartbeat_seconds`` until the block ends."""
    from rq import get_current_job

    job = get_current_job()
    if job is None:  # inline: no job, no sweep watching it
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(settings.job_heartbeat_seconds):
            try:
                _beat(job, settings)
            except Exception:  # noqa: BLE001 - a missed beat costs at worst a duplicate run, which waits
                log.warning("could not refresh the load job's heartbeat", exc_info=True)

    thread = threading.Thread(target=beat, name="load-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def sweep() -> dict[str, int]:
    """Re-enqueue accepted records whose job was lost (see :mod:`mdm.services.sweep`)."""
    from mdm.services.sweep import sweep_lost_records

    return sweep_lost_records(runtime.settings())
