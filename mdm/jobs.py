"""RQ job functions. Arguments are JSON values (ids), state lives in the database.

The same functions run inline in the web process when no Redis is configured. Each is
idempotent: running one twice, or concurrently with itself, leaves the same result.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, update
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from mdm import runtime
from mdm.db import UnitOfWork, get_engine
from mdm.models import SourceRecord, utcnow

log = logging.getLogger(__name__)

RESOLVE_FUNC = "mdm.jobs.resolve_records"


class RecordsFailed(RuntimeError):
    """Raised after a chunk finished with failures, so RQ retries (and finally keeps) the job."""


def resolve_records(record_ids: Sequence[int], correlation_id: str | None = None) -> dict[str, int]:
    """Resolve each record in its own transaction; one bad record does not hold back the rest."""
    settings = runtime.settings()
    counts = {"resolved": 0, "skipped": 0, "failed": 0}
    failures: list[str] = []
    from mdm.services.resolve import resolve_one

    # one connection for the whole chunk (still one transaction per record): no pool checkout
    # and pre-ping per record, and psycopg's prepared statements stay on one connection.
    # After a failure the connection is dropped and a fresh one (pre-pinged) is taken.
    engine = get_engine(settings.database_url)
    conn: Connection | None = None
    try:
        for record_id in record_ids:
            if conn is None:
                conn = engine.connect()
                factory = sessionmaker(bind=conn, expire_on_commit=False, class_=Session)
            try:
                with UnitOfWork(settings, factory) as uow:
                    outcome = resolve_one(uow, int(record_id), correlation_id=correlation_id)
                    uow.commit()
                counts["skipped" if outcome.skipped else "resolved"] += 1
            except Exception as exc:  # noqa: BLE001 - recorded on the record, then re-raised below
                log.exception("resolve failed for record %s", record_id)
                counts["failed"] += 1
                failures.append(f"{record_id}: {exc!r}")
                _discard(conn)
                conn = None
                _record_failure(int(record_id), traceback.format_exc())
    finally:
        _discard(conn)
    if failures:
        raise RecordsFailed(f"{len(failures)} of {len(record_ids)} records failed: " + "; ".join(failures[:5]))
    return counts


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


def enqueue_resolve(record_ids: Iterable[int], correlation_id: str | None = None) -> list[str]:
    """Enqueue resolution in chunks (one job per chunk, not per record) and note the job id
    on each record so the sweep can tell a lost job from a queued one."""
    settings = runtime.settings()
    queue = runtime.queue()
    ids = list(record_ids)
    job_ids = []
    for start in range(0, len(ids), settings.resolve_chunk_size):
        chunk = ids[start : start + settings.resolve_chunk_size]
        job_id = f"resolve-{uuid.uuid4()}"
        if not settings.jobs_inline:
            # written before enqueueing: a worker that is fast enough must not see a stale id
            with UnitOfWork(settings) as uow:
                uow.session.execute(
                    update(SourceRecord)
                    .where(SourceRecord.id.in_(chunk), SourceRecord.match_status == "pending")  # type: ignore[union-attr]
                    .values(job_id=job_id, enqueued_at=utcnow())
                )
                uow.commit()
        queue.enqueue("resolve", RESOLVE_FUNC, chunk, correlation_id, job_id=job_id)
        job_ids.append(job_id)
    return job_ids


def recompute_goldens(golden_ids: Sequence[str], correlation_id: str | None = None) -> dict[str, int]:
    """Rebuild these goldens with the rules in force (``mdm golden recompute``)."""
    from mdm.services.recompute import recompute_goldens as run

    return run(runtime.settings(), golden_ids, correlation_id)


def sweep() -> dict[str, int]:
    """Re-enqueue accepted records whose job was lost (see :mod:`mdm.services.sweep`)."""
    from mdm.services.sweep import sweep_lost_records

    return sweep_lost_records(runtime.settings())
