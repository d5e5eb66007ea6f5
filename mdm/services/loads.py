"""Loads over the API: a whole extract (CSV or JSON lines) in one request, loaded by one job.

``POST /sources/{source}/{domain}/batches`` takes at most ``MDM_MAX_BATCH_RECORDS`` records as
JSON and resolves them one by one — right for a stream of changes. An ERP's nightly full extract
or a first load of millions of records is a *file*, and into an empty domain it should take the
set-based bulk path (:mod:`mdm.bulk`) that ``mdm load --bulk`` uses on the command line. This
module gives the API the same choice:

* :func:`stage_load` streams the request body into ``data_load_chunk`` (1 MiB pieces, never the
  whole file in memory) inside one transaction with its ``data_load`` row and job id: a request
  cut off half-way stores nothing. Staging in the database rather than on the web machine's disk
  lets any worker on any machine run the load.
* :func:`run_load` (the ``maintenance`` queue's job) writes the file to a temporary directory and
  loads it. ``mode``: ``bulk`` — the set-based path, or ``failed`` when the domain is not empty;
  ``stream`` — the batch path (stored in batches of ``MDM_MAX_BATCH_RECORDS``, resolved by the
  resolve workers); ``auto`` (the default) — bulk when the domain is empty and the domain is one
  the bulk path handles, otherwise stream. Bad rows never stop a load: they go to the load's
  reject file (line number and reason), served by ``GET /loads/{id}/rejects``.
* The job is idempotent and guarded: on PostgreSQL a session advisory lock on the load id keeps
  a duplicate run (the sweep re-enqueueing a slow job) from running beside it; each run takes a
  new ``attempt`` number and writes its outcome only while that attempt is the newest. The bulk
  path marks the load ``path='bulk'`` inside its own write transaction, so a run that dies after
  that commit is finished by the next one instead of reporting a non-empty domain.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import and_, delete, func, insert, or_, text, update
from sqlalchemy import select as sa_select

from mdm.db import UnitOfWork, get_engine
from mdm.errors import BadRequest, Conflict, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from mdm.models import BatchItem, DataLoad, DataLoadChunk, utcnow
from mdm.services.ingest import check_domain, get_source
from mdm.services.resolve import advisory_key
from mdm.settings import Settings

log = logging.getLogger(__name__)

#: Size of one staged piece of a file.
CHUNK_BYTES = 1 << 20
MODES = ("auto", "bulk", "stream")
#: Media types a load may be sent as, by the file format they mean.
MEDIA_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/jsonlines": "jsonl",
}
FORMATS = ("csv", "jsonl")
LOAD_FUNC = "mdm.jobs.run_load"
LOAD_QUEUE = "maintenance"


def new_load_job_id() -> str:
    return f"load-{uuid.uuid4()}"


def load_format(media_type: str | None, explicit: str | None) -> str:
    """The file format from ``?format=`` or else the request's media type (415 when neither says)."""
    if explicit:
        if explicit not in FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", details={"format": explicit})
        return explicit
    fmt = MEDIA_TYPES.get((media_type or "").lower())
    if fmt is None:
        raise UnsupportedMediaType(
            "send the file as text/csv or application/x-ndjson (JSON lines), or name it with ?format=csv|jsonl",
            details={"content_type": media_type or None, "accepted": sorted(MEDIA_TYPES)},
        )
    return fmt


def load_mode(raw: str | None) -> str:
    mode = raw or "auto"
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}", details={"mode": mode})
    return mode


def _pieces(body: BinaryIO, size: int) -> Iterator[bytes]:
    """The body in pieces of ``size`` bytes (the last may be shorter); a stream's ``read(n)`` may
    return less than asked before its end, so pieces are filled up."""
    buffer = bytearray()
    while block := body.read(size - len(buffer)):
        buffer += block
        if len(buffer) >= size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def stage_load(uow: UnitOfWork, source: str, domain: str, body: BinaryIO, *, fmt: str, mode: str,
               max_bytes: int, expected_bytes: int | None = None) -> DataLoad:
    """Store the file and a queued ``data_load`` row (with the id of the job that will load it) in
    ``uow``'s transaction; the caller commits, then enqueues (:func:`mdm.jobs.enqueue_load`).

    ``expected_bytes`` is the request's Content-Length. A client that disconnects half-way ends
    the body early *without an error* under gunicorn (the server marks its input terminated, so
    Werkzeug does not count bytes): without this check the first half of the file was loaded
    (found by the gunicorn test). A short body is a 400 and nothing is stored."""
    check_domain(domain)
    get_source(uow, source)
    load = DataLoad(source=source, domain=domain, format=fmt, mode=load_mode(mode), job_id=new_load_job_id())
    uow.session.add(load)
    uow.session.flush()
    size, pieces = _store_pieces(uow, load.id, "input", body, max_bytes=max_bytes)
    if expected_bytes is not None and size != expected_bytes:
        raise BadRequest(f"the body ended after {size} of the {expected_bytes} bytes announced; nothing was stored",
                         details={"received": size, "content_length": expected_bytes}, code="incomplete_body")
    if size == 0:
        raise InvalidInput("the file is empty", code="empty_load")
    load.size_bytes = size
    uow.session.add(load)
    uow.session.flush()
    log.info("load %s staged: %d bytes in %d pieces", load.id, size, pieces)
    return load


def _store_pieces(uow: UnitOfWork, load_id: str, kind: str, stream: BinaryIO, *,
                  max_bytes: int | None = None) -> tuple[int, int]:
    """Store ``stream`` as the load's ``kind`` pieces; returns (bytes, pieces). Over ``max_bytes``: 413."""
    size = pieces = 0
    for piece in _pieces(stream, CHUNK_BYTES):
        size += len(piece)
        if max_bytes is not None and size > max_bytes:
            raise PayloadTooLarge(f"a load holds at most {max_bytes} bytes; split the file",
                                  details={"limit": max_bytes}, code="load_too_large")
        # Core insert: the ORM would keep every piece in the session until commit
        uow.session.execute(insert(DataLoadChunk), {"load_id": load_id, "kind": kind, "seq": pieces, "data": piece})
        pieces += 1
    return size, pieces


def _stored_pieces(uow: UnitOfWork, load_id: str, kind: str) -> Iterator[bytes]:
    """The load's ``kind`` pieces in order, one query each: memory holds one piece, not the file."""
    where = (DataLoadChunk.load_id == load_id, DataLoadChunk.kind == kind)
    seqs = uow.session.execute(
        sa_select(DataLoadChunk.seq).where(*where).order_by(DataLoadChunk.seq)  # type: ignore[arg-type]
    ).scalars().all()
    for seq in seqs:
        yield uow.session.execute(sa_select(DataLoadChunk.data).where(*where, DataLoadChunk.seq == seq)).scalar_one()  # type: ignore[arg-type]


# --- running a load (the job) ---------------------------------------------------------------


def run_load(settings: Settings, load_id: str) -> dict[str, Any]:
    """Load a staged file; returns the load's status. Safe to run twice or concurrently (see module)."""
    with _exclusive(settings, load_id) as held:
        if not held:
            log.info("load %s is being run by another job; this run does nothing", load_id)
            return {"load_id": load_id, "skipped": "running elsewhere"}
        claimed = _claim(settings, load_id)
        if claimed is None:
            return {"load_id": load_id, "skipped": "finished"}
        load, attempt = claimed
        if load.path == "bulk":
            # an earlier run's bulk write committed, and that run died before finishing the row
            _finish(settings, load_id, attempt, status="done", path="bulk",
                    report={"bulk": True, "note": "loaded by an earlier run that stopped before reporting"})
            return {"load_id": load_id, "status": "done"}
        try:
            return _run(settings, load, attempt)
        except Exception:
            _finish(settings, load_id, attempt, status="failed", error=traceback.format_exc()[-4000:], keep_input=True)
            raise  # RQ retries the job (with backoff); the next attempt claims the load again


def _run(settings: Settings, load: DataLoad, attempt: int) -> dict[str, Any]:
    from mdm.bulk import NotEmpty, bulk_load
    from mdm.loader import load_file

    with tempfile.TemporaryDirectory(prefix="mdm-load-") as tmp:
        path = Path(tmp) / f"load-{load.id}.{load.format}"
        _write_input(settings, load.id, path)
        correlation_id = f"load:{load.id}"
        report: dict[str, Any] | None = None
        if load.mode != "stream":
            try:  # bulk_load refuses (NotEmpty) a domain with records and one it does not handle (prices)
                bulk = bulk_load(settings, path, load.source, load.domain, correlation_id=correlation_id,
                                 before_commit=_mark_bulk(load.id, attempt))
                report, used = bulk.to_json(), "bulk"
            except NotEmpty as exc:
                if load.mode == "bulk":
                    _finish(settings, load.id, attempt, status="failed", error=f"bulk mode: {exc}", keep_input=True)
                    return {"load_id": load.id, "status": "failed"}
                log.info("load %s: %s; loading through the batch (streaming) path", load.id, exc)
        if report is None:
            streamed = load_file(settings, path, load.source, load.domain, batch_size=settings.max_batch_records,
                                 correlation_id=correlation_id)
            report, used = {
                "total": streamed.total, "stored": streamed.stored, "rejected": streamed.rejected,
                "outcomes": streamed.outcomes, "batches": streamed.batches, "bulk": False,
            }, "stream"
        report.pop("reject_file", None)  # a path in a directory that is about to go
        rejects = path.with_name(path.name + ".rejects.jsonl")
        _finish(settings, load.id, attempt, status="done", path=used, report=report,
                rejects=rejects if rejects.exists() else None)
    return {"load_id": load.id, "status": "done", "path": used}


def _mark_bulk(load_id: str, attempt: int) -> Callable[[UnitOfWork], None]:
    def mark(uow: UnitOfWork) -> None:
        uow.session.execute(update(DataLoad).where(DataLoad.id == load_id, DataLoad.attempt == attempt)  # type: ignore[arg-type]
                            .values(path="bulk"))
    return mark


@contextlib.contextmanager
def _exclusive(settings: Settings, load_id: str) -> Iterator[bool]:
    """On PostgreSQL, a session advisory lock on the load id for the whole run (its own
    connection); ``False`` when another run holds it. SQLite has one writer and no second worker."""
    if settings.is_sqlite:
        yield True
        return
    key = advisory_key("data_load", load_id)  # the blocking-key locks' hash; no domain is named data_load
    with get_engine(settings.database_url).connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one())
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def _claim(settings: Settings, load_id: str) -> tuple[DataLoad, int] | None:
    """Start a new attempt of an unfinished load; ``None`` when it is done (or unknown)."""
    with UnitOfWork(settings) as uow:
        load = uow.session.get(DataLoad, load_id, with_for_update=True)
        if load is None or load.status == "done":
            return None
        load.status, load.attempt, load.started_at, load.error = "running", load.attempt + 1, utcnow(), None
        uow.session.add(load)
        uow.commit()
        uow.session.refresh(load)
        uow.session.expunge(load)
        return load, load.attempt


def _write_input(settings: Settings, load_id: str, path: Path) -> None:
    with UnitOfWork(settings) as uow, path.open("wb") as out:
        written = 0
        for piece in _stored_pieces(uow, load_id, "input"):
            written += out.write(piece)
        if not written:
            raise RuntimeError(f"load {load_id} has no staged input (it was removed after a finished load)")


def _finish(settings: Settings, load_id: str, attempt: int, *, status: str, path: str | None = None,
            report: dict[str, Any] | None = None, error: str | None = None, rejects: Path | None = None,
            keep_input: bool = False) -> bool:
    """Write the attempt's outcome (and its reject file), unless a newer attempt has started."""
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "error": error}
    if path is not None:
        values["path"] = path
    if report is not None:
        values["report"] = report
    with UnitOfWork(settings) as uow:
        written = uow.session.execute(
            update(DataLoad).where(DataLoad.id == load_id, DataLoad.attempt == attempt).values(**values)  # type: ignore[arg-type]
        ).rowcount
        if not written:
            log.warning("load %s: attempt %d was superseded; its outcome (%s) is not recorded", load_id, attempt, status)
            return False
        uow.session.execute(delete(DataLoadChunk).where(DataLoadChunk.load_id == load_id, DataLoadChunk.kind == "rejects"))  # type: ignore[arg-type]
        if rejects is not None:
            with rejects.open("rb") as handle:
                _store_pieces(uow, load_id, "rejects", handle)
        if not keep_input:
            # loaded: the records (and their raw payloads) are stored; the file is not needed again
            uow.session.execute(delete(DataLoadChunk).where(DataLoadChunk.load_id == load_id, DataLoadChunk.kind == "input"))  # type: ignore[arg-type]
        uow.commit()
    return True


# --- reading a load's state -----------------------------------------------------------------


def get_load(uow: UnitOfWork, load_id: str) -> DataLoad:
    load = uow.session.get(DataLoad, load_id)
    if load is None:
        raise NotFound(f"no load {load_id!r}", details={"load_id": load_id})
    return load


def load_status(uow: UnitOfWork, load_id: str) -> dict[str, Any]:
    """The load as the API shows it. ``status``: queued, running, failed, or once loaded: ``resolving``
    (batch path, records still waiting for the resolve workers), ``done`` or ``done_with_rejects``."""
    load = get_load(uow, load_id)
    report = load.report or {}
    status = load.status
    pending = 0
    if status == "done":
        if load.path == "stream" and report.get("batches"):
            pending = int(uow.session.execute(
                sa_select(func.count()).select_from(BatchItem)
                .where(BatchItem.batch_id.in_(report["batches"]), BatchItem.status == "pending")  # type: ignore[attr-defined]
            ).scalar_one())
        if pending:
            status = "resolving"
        elif report.get("rejected"):
            status = "done_with_rejects"
    return {
        "load_id": load.id,
        "source": load.source,
        "domain": load.domain,
        "format": load.format,
        "mode": load.mode,
        "path": load.path,
        "status": status,
        "attempt": load.attempt,
        "size_bytes": load.size_bytes,
        "total": report.get("total"),
        "stored": report.get("stored"),
        "rejected": report.get("rejected"),
        "pending": pending,
        "outcomes": report.get("outcomes", {}),
        "goldens": report.get("goldens"),
        # bulk path: the matching decisions (new / link / review); the batch path's are per record
        "decisions": report.get("actions", {}),
        "batches": len(report.get("batches") or []),
        "timings": report.get("timings", {}),
        "error": (load.error or "").strip().splitlines()[-1] if load.error else None,
        "created_at": load.created_at.isoformat(),
        "started_at": load.started_at.isoformat() if load.started_at else None,
        "finished_at": load.finished_at.isoformat() if load.finished_at else None,
    }


def load_rejects(uow: UnitOfWork, load_id: str) -> Iterator[dict[str, Any]]:
    """The load's rejected rows, ``{"line", "error"}`` each, in file order."""
    get_load(uow, load_id)
    tail = b""
    for piece in _stored_pieces(uow, load_id, "rejects"):
        *lines, tail = (tail + piece).split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)
    if tail.strip():
        yield json.loads(tail)


def retry_load(uow: UnitOfWork, load_id: str, mode: str | None) -> DataLoad:
    """Queue a failed load again (optionally in another ``mode``) from its staged file; the
    caller commits, then enqueues. Only a failed load keeps its file, so only it can be retried."""
    load = uow.session.get(DataLoad, load_id, with_for_update=True)
    if load is None:
        raise NotFound(f"no load {load_id!r}", details={"load_id": load_id})
    if load.status != "failed":
        raise Conflict(f"load {load_id} is {load.status}; only a failed load can be retried",
                       details={"status": load.status}, code="not_failed")
    load.mode = load_mode(mode or load.mode)
    # ``path`` stays: a bulk write that committed before the failure is finished, not redone
    load.status, load.error, load.finished_at = "queued", None, None
    load.job_id = new_load_job_id()
    uow.session.add(load)
    uow.session.flush()
    return load


# --- the sweep ------------------------------------------------------------------------------


def stale_loads(uow: UnitOfWork, older_than: Any, running_older_than: Any | None = None) -> list[tuple[str, str | None]]:
    """(id, job id) of loads queued before ``older_than``, or running since before it (and before
    ``running_older_than`` when given)."""
    started_before = older_than if running_older_than is None else min(older_than, running_older_than)
    rows = uow.session.execute(
        sa_select(DataLoad.id, DataLoad.job_id)
        .where(or_(and_(DataLoad.status == "queued", DataLoad.created_at <= older_than),  # type: ignore[arg-type]
                   and_(DataLoad.status == "running", DataLoad.started_at <= started_before)))  # type: ignore[arg-type, operator]
        .order_by(DataLoad.created_at)  # type: ignore[arg-type]
    ).all()
    return [(r[0], r[1]) for r in rows]


def renew_job_id(uow: UnitOfWork, load_id: str) -> str:
    """Give a load whose job was lost a new job id (stored before that job is enqueued)."""
    job_id = new_load_job_id()
    uow.session.execute(update(DataLoad).where(DataLoad.id == load_id).values(job_id=job_id))  # type: ignore[arg-type]
    return job_id
