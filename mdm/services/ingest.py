"""Accept source changes: map, validate, store, then enqueue resolution after commit.

The database is the source of truth: a change is committed (``match_status = pending``)
before any job exists, so a lost job is found again by the sweep. A change whose
``updated_at`` is older than the stored one is acknowledged and ignored; the same content
twice is a no-op (no job, no new golden version).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Row, String, any_, bindparam, insert, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from mdm.canonical import nul_paths, validate_fields
from mdm.db import UnitOfWork
from mdm.errors import InvalidInput, NotFound
from mdm.jobs import ResolveJobIds, new_resolve_job_id
from mdm.models import Batch, BatchItem, SourceRecord, SourceSystem, as_utc, utcnow
from mdm.publishing.config import PublishSettings
from mdm.publishing.loop import echo_reason
from mdm.source_mapping import DOMAINS, apply_mapping, normalize_source_id, select_mapping


@dataclass(frozen=True)
class Change:
    """One incoming change, as parsed by the API or the loader."""

    source_id: str
    fields: dict[str, Any]
    updated_at: datetime
    deleted: bool = False
    object: str | None = None


@dataclass
class Accepted:
    record_id: int
    #: accepted (stored, will be resolved) | unchanged (same content) | stale (older than stored)
    outcome: str
    needs_resolve: bool
    #: with a job queue: the resolve job id stored with a record that will be enqueued
    job_id: str | None = None


@dataclass
class BatchAccepted:
    batch_id: str
    total: int
    outcomes: dict[str, int] = field(default_factory=dict)
    #: index in the submitted list -> why it was rejected (only with ``skip_invalid``)
    rejects: dict[str, Any] = field(default_factory=dict)
    #: the resolve job id each record needing resolution was stored with, in order (for
    #: ``enqueue_resolve(…, job_ids=…)``); empty when jobs run inline
    job_ids: list[str] = field(default_factory=list)


def content_hash(object_type: str, fields: dict[str, Any], deleted: bool) -> str:
    doc = json.dumps({"o": object_type, "f": fields, "d": deleted}, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(doc.encode()).hexdigest()


def get_source(uow: UnitOfWork, source: str) -> SourceSystem:
    system = uow.session.get(SourceSystem, source)
    if system is None:
        raise NotFound(f"unknown source system {source!r}", details={"source": source}, code="unknown_source")
    return system


def check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise NotFound(f"unknown domain {domain!r}", details={"domain": domain, "known": list(DOMAINS)}, code="unknown_domain")


def canonicalize(system: SourceSystem, domain: str, change: Change) -> tuple[str, dict[str, Any]]:
    """Map the payload with the source's mapping and validate it; deletions need no fields.

    NUL characters are refused: PostgreSQL cannot store them in text or JSONB, and no real
    name or address contains one. Other control characters are kept and normalized away by
    ``matching``.
    """
    nul = nul_paths(change.fields)
    if nul:
        raise InvalidInput(
            "NUL characters (\\u0000) are not allowed in values or field names",
            details={"fields": {p: ["contains a NUL character"] for p in nul}},
        )
    mapping = select_mapping(system.kind, domain, change.fields, change.object)
    if change.deleted and not change.fields:
        return mapping.object, {}
    return mapping.object, validate_fields(domain, apply_mapping(mapping, change.fields))


def _with_normal_id(system: SourceSystem, change: Change) -> Change:
    normal = normalize_source_id(system.kind, change.source_id)
    if normal == change.source_id:
        return change
    return Change(normal, change.fields, change.updated_at, change.deleted, change.object)


_SR = SourceRecord.__table__.c  # type: ignore[attr-defined]
#: SET columns come from the parameters' keys (executemany: the same keys in every row)
_UPDATE_RECORD = update(SourceRecord.__table__).where(_SR.id == bindparam("record_id"))  # type: ignore[attr-defined]
#: SQLite's oldest default limit is 999 bound variables per statement (32,766 since 3.32)
_SQLITE_IDS_PER_SELECT = 900


def _load(uow: UnitOfWork, source: str, domain: str, source_ids: Sequence[str]) -> dict[str, SourceRecord]:
    """The stored records of these source ids, locked (``FOR UPDATE``) until commit."""
    found: dict[str, SourceRecord] = {}
    for ids in _source_id_filters(uow, source_ids):
        query = select(SourceRecord).where(SourceRecord.source == source, SourceRecord.domain == domain, ids)
        found.update((row.source_id, row) for row in uow.session.exec(query.with_for_update()))
    return found


def _source_id_filters(uow: UnitOfWork, source_ids: Sequence[str]) -> list[ColumnElement[bool]]:
    """``source_id`` conditions, one per statement, that together select ``source_ids``.

    PostgreSQL gets the ids as one array parameter (``= ANY(:ids)``): psycopg takes longer to
    parse an ``IN`` list of 5,000 placeholders than the server takes to run the query. SQLite has
    no arrays: ``IN`` lists, chunked under its bound-variable limit.
    """
    if uow.dialect == "postgresql":
        return [_SR.source_id == any_(bindparam("source_ids", list(source_ids), type_=ARRAY(String)))]
    step = _SQLITE_IDS_PER_SELECT
    return [_SR.source_id.in_(source_ids[start:start + step]) for start in range(0, len(source_ids), step)]


def _new_row(source: str, domain: str, change: Change, object_type: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Every column of a new source record (but its id), the model's defaults spelled out: the ORM
    object of ``accept_change`` and the Core insert of ``accept_batch`` write exactly these values.
    (``None`` in a JSON column is stored as JSON ``null`` by both, as the ORM always did.)"""
    now = utcnow()
    return {
        "source": source,
        "domain": domain,
        "source_id": change.source_id,
        "object_type": object_type,
        "raw": change.fields,
        "fields": fields,
        "prepared": None,
        "content_hash": content_hash(object_type, fields, change.deleted),
        "source_updated_at": as_utc(change.updated_at),
        "received_at": now,
        "deleted": change.deleted,
        "golden_id": None,
        "match_status": "pending",
        "match_probability": None,
        "match_explanation": None,
        "model_version": None,
        "resolved_hash": None,
        "resolved_at": None,
        "enqueued_at": now,
        "job_id": None,
        "attempts": 0,
        "last_error": None,
        "warnings": None,
    }


class _Stored(Protocol):
    """What deciding about a change needs of its stored record: an ORM object or a Core row."""

    id: int | None
    content_hash: str
    source_updated_at: datetime
    match_status: str


def _decide(
    stored: _Stored, change: Change, object_type: str, fields: dict[str, Any], psettings: PublishSettings
) -> tuple[Accepted, dict[str, Any]]:
    """What a change does to its stored record: the result, and the columns to write (none when
    nothing changes). Ignored when it is the hub's own echo or older than what is stored; the
    same content only moves ``source_updated_at`` forward; anything else is stored as pending.
    A deletion without fields keeps the record's last fields."""
    record_id = stored.id or 0
    updated_at, stored_at = as_utc(change.updated_at), as_utc(stored.source_updated_at)
    if echo_reason(change.fields, psettings) is not None:  # loop prevention: the hub's own write to Salesforce
        return Accepted(record_id, "echo", False), {}
    if updated_at < stored_at:
        return Accepted(record_id, "stale", False), {}
    digest = content_hash(object_type, fields, change.deleted)
    if digest == stored.content_hash:
        later = {"source_updated_at": updated_at} if updated_at > stored_at else {}
        return Accepted(record_id, "unchanged", stored.match_status == "pending"), later
    now = utcnow()
    values = {
        "raw": change.fields,
        "fields": fields,
        "object_type": object_type,
        "deleted": change.deleted,
        "content_hash": digest,
        "source_updated_at": updated_at,
        "received_at": now,
        "match_status": "pending",
        "enqueued_at": now,
        "attempts": 0,
        "last_error": None,
    }
    if change.deleted and not fields:
        del values["fields"]
    return Accepted(record_id, "accepted", True), values


def _apply(
    uow: UnitOfWork,
    existing: SourceRecord | None,
    source: str,
    domain: str,
    change: Change,
    object_type: str,
    fields: dict[str, Any],
    job_id: str | None,
) -> Accepted:
    """Store one change through the ORM (``accept_change``); an accepted one with ``job_id``."""
    if existing is None:
        uow.session.add(SourceRecord(**{**_new_row(source, domain, change, object_type, fields), "job_id": job_id}))
        return Accepted(0, "accepted", True, job_id)  # id assigned at flush
    result, values = _decide(existing, change, object_type, fields, PublishSettings.from_env())
    if result.outcome == "accepted" and job_id is not None:  # the caller enqueues only those
        values["job_id"], result.job_id = job_id, job_id
    for column, value in values.items():
        setattr(existing, column, value)
    uow.session.add(existing)
    return result


def accept_change(uow: UnitOfWork, source: str, domain: str, change: Change) -> Accepted:
    """Store one change (``PUT …/records/{id}``). The caller commits, then enqueues an accepted
    change (with ``Accepted.job_id``, already stored on the record when there is a job queue)."""
    check_domain(domain)
    system = get_source(uow, source)
    change = _with_normal_id(system, change)
    object_type, fields = canonicalize(system, domain, change)
    job_id = None if uow.settings.jobs_inline else new_resolve_job_id()
    for attempt in range(2):
        existing = _load(uow, source, domain, [change.source_id]).get(change.source_id)
        try:
            with uow.session.begin_nested():
                result = _apply(uow, existing, source, domain, change, object_type, fields, job_id)
                uow.session.flush()
        except IntegrityError:
            # a concurrent first insert of the same key won; update that row instead
            if attempt:
                raise
            continue
        if existing is None:
            result.record_id = _load(uow, source, domain, [change.source_id])[change.source_id].id or 0
        return result
    raise AssertionError("unreachable")


def _prepare(
    system: SourceSystem, domain: str, changes: list[Change]
) -> tuple[list[tuple[Change, str, dict[str, Any]]], dict[str, Any]]:
    """Each valid change with its object type and canonical fields, in batch order; and why the
    others are invalid, by index (a source id already in the batch is invalid too)."""
    seen: dict[str, int] = {}
    errors: dict[str, Any] = {}
    prepared: list[tuple[Change, str, dict[str, Any]]] = []
    for index, change in enumerate(changes):
        if change.source_id in seen:
            errors[str(index)] = {"source_id": [f"duplicate of record {seen[change.source_id]} in this batch"]}
            continue
        seen[change.source_id] = index
        try:
            prepared.append((change, *canonicalize(system, domain, change)))
        except InvalidInput as exc:
            errors[str(index)] = exc.reason
    return prepared, errors


def accept_batch(
    uow: UnitOfWork, source: str, domain: str, changes: Sequence[Change], *, skip_invalid: bool = False
) -> tuple[BatchAccepted, list[int]]:
    """Store a batch. The API is all-or-nothing: every record is validated first; one invalid
    record rejects the call with a 422 listing each bad record by index, and nothing is
    stored. The bulk loader passes ``skip_invalid`` to store the good records and report the
    bad ones (``BatchAccepted.rejects``).

    Returns the batch summary and the ids of records that need resolving. With a job queue,
    each of those records is stored with the id of the resolve job that will hold it
    (``BatchAccepted.job_ids``, :class:`~mdm.jobs.ResolveJobIds`): no second write per record
    to note it.
    """
    check_domain(domain)
    system = get_source(uow, source)
    prepared, errors = _prepare(system, domain, [_with_normal_id(system, c) for c in changes])
    if errors and not skip_invalid:
        raise InvalidInput(
            f"{len(errors)} of {len(changes)} records are invalid; nothing was stored",
            details={"records": errors},
        )
    if errors and not prepared:
        return BatchAccepted("", 0, {}, errors), []
    batch = Batch(source=source, domain=domain, total=len(prepared))
    uow.session.add(batch)
    uow.session.flush()  # the batch row: its items refer to it
    job_ids = None if uow.settings.jobs_inline else ResolveJobIds(uow.settings.resolve_chunk_size)
    results = _store(uow, source, domain, prepared, job_ids)
    outcomes: dict[str, int] = {}
    for result in results:
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    _insert_items(uow, batch.id, results)
    to_resolve = [r.record_id for r in results if r.needs_resolve]
    if not to_resolve:
        batch.finished_at = utcnow()
    stored_job_ids = [r.job_id for r in results if r.needs_resolve and r.job_id is not None]
    return BatchAccepted(batch.id, len(prepared), outcomes, errors, stored_job_ids), to_resolve


def _store(uow: UnitOfWork, source: str, domain: str, prepared: list[tuple[Change, str, dict[str, Any]]],
           job_ids: ResolveJobIds | None) -> list[Accepted]:
    """Store a batch's valid changes; one result per change, in batch order, ids filled in; each
    record that needs resolving with its job id from ``job_ids``, in batch order, when given.

    Core statements, a few per batch whatever its size: building, flushing and re-loading
    thousands of ORM objects cost more than everything else in the call. The values written are
    those of ``accept_change`` (``_new_row``, ``_decide``).
    """
    stored = _load_stored(uow, source, domain, [change.source_id for change, _, _ in prepared])
    psettings = PublishSettings.from_env()
    results: list[Accepted] = []
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for change, object_type, fields in prepared:
        row = stored.get(change.source_id)
        if row is None:
            result = Accepted(0, "accepted", True, job_ids.next() if job_ids is not None else None)
            new_rows.append({**_new_row(source, domain, change, object_type, fields), "job_id": result.job_id})
            results.append(result)
            continue
        result, values = _decide(row, change, object_type, fields, psettings)
        results.append(result)
        if result.needs_resolve and job_ids is not None:  # as enqueue_resolve would write it
            result.job_id = job_ids.next()
            values = {**values, "job_id": result.job_id, "enqueued_at": values.get("enqueued_at") or utcnow()}
        if values:
            updates.append({**values, "record_id": row.id})
    _update_records(uow, updates)
    if new_rows:
        ids = _insert_records(uow, source, domain, new_rows)
        for (change, _, _), result in zip(prepared, results, strict=True):
            if change.source_id not in stored:
                result.record_id = ids[change.source_id]
    return results


def _load_stored(uow: UnitOfWork, source: str, domain: str, source_ids: Sequence[str]) -> dict[str, Row[Any]]:
    """``_load`` for ``_decide`` only: the few columns it reads, no ORM objects; locked as well."""
    columns = (_SR.id, _SR.source_id, _SR.content_hash, _SR.source_updated_at, _SR.match_status)
    found: dict[str, Row[Any]] = {}
    for ids in _source_id_filters(uow, source_ids):
        query = select(*columns).where(_SR.source == source, _SR.domain == domain, ids).with_for_update()
        found.update((row.source_id, row) for row in uow.session.execute(query))
    return found


def _update_records(uow: UnitOfWork, updates: list[dict[str, Any]]) -> None:
    """Write ``_decide``'s values: one executemany per set of columns (at most three)."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in updates:
        by_columns.setdefault(tuple(values), []).append(values)
    for rows in by_columns.values():
        uow.session.execute(_UPDATE_RECORD, rows)


def _insert_records(uow: UnitOfWork, source: str, domain: str, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert new source records; their ids by source id.

    A plain executemany (psycopg pipelines it), then one query for the ids: ``INSERT …
    RETURNING`` with many rows is sent as multi-row ``VALUES`` pages of 23,000 placeholders,
    and psycopg's parsing of those cost more than the rest of the batch.
    """
    uow.session.execute(insert(SourceRecord.__table__), rows)  # type: ignore[attr-defined]
    ids: dict[str, int] = {}
    for source_ids in _source_id_filters(uow, [row["source_id"] for row in rows]):
        query = select(_SR.source_id, _SR.id).where(_SR.source == source, _SR.domain == domain, source_ids)
        ids.update(uow.session.execute(query).all())
    return ids


def _insert_items(uow: UnitOfWork, batch_id: str, results: list[Accepted]) -> None:
    """One batch item per stored change, by position: pending until resolved, ``ignored`` when
    stale, else ``done`` at once (unchanged content, an echo)."""
    items = [
        {
            "batch_id": batch_id,
            "position": position,
            "source_record_id": result.record_id,
            "status": "pending" if result.needs_resolve else ("ignored" if result.outcome == "stale" else "done"),
        }
        for position, result in enumerate(results)
    ]
    if items:  # an empty parameter list would be one INSERT of defaults
        uow.session.execute(insert(BatchItem.__table__), items)  # type: ignore[attr-defined]
