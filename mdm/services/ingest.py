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
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from mdm.canonical import nul_paths, validate_fields
from mdm.db import UnitOfWork
from mdm.errors import InvalidInput, NotFound
from mdm.models import Batch, BatchItem, SourceRecord, SourceSystem, as_utc, utcnow
from mdm.publishing.loop import is_publisher_echo
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


@dataclass
class BatchAccepted:
    batch_id: str
    total: int
    outcomes: dict[str, int] = field(default_factory=dict)
    #: index in the submitted list -> why it was rejected (only with ``skip_invalid``)
    rejects: dict[str, Any] = field(default_factory=dict)


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


def _load(uow: UnitOfWork, source: str, domain: str, source_ids: Sequence[str]) -> dict[str, SourceRecord]:
    rows = uow.session.exec(
        select(SourceRecord)
        .where(SourceRecord.source == source, SourceRecord.domain == domain, SourceRecord.source_id.in_(source_ids))  # type: ignore[attr-defined]
        .with_for_update()
    ).all()
    return {row.source_id: row for row in rows}


def _apply(
    uow: UnitOfWork,
    existing: SourceRecord | None,
    source: str,
    domain: str,
    change: Change,
    object_type: str,
    fields: dict[str, Any],
) -> Accepted:
    updated_at = as_utc(change.updated_at)
    digest = content_hash(object_type, fields, change.deleted)
    now = utcnow()
    if existing is not None:
        if is_publisher_echo(change.fields):  # loop prevention: the hub's own write to Salesforce
            return Accepted(existing.id or 0, "echo", False)
        if updated_at < as_utc(existing.source_updated_at):
            return Accepted(existing.id or 0, "stale", False)
        if digest == existing.content_hash:
            existing.source_updated_at = max(updated_at, as_utc(existing.source_updated_at))
            uow.session.add(existing)
            return Accepted(existing.id or 0, "unchanged", existing.match_status == "pending")
        existing.raw = change.fields
        existing.fields = fields if not change.deleted or fields else existing.fields
        existing.object_type = object_type
        existing.deleted = change.deleted
        existing.content_hash = digest
        existing.source_updated_at = updated_at
        existing.received_at = now
        existing.match_status = "pending"
        existing.enqueued_at = now
        existing.attempts = 0
        existing.last_error = None
        uow.session.add(existing)
        return Accepted(existing.id or 0, "accepted", True)
    record = SourceRecord(
        source=source,
        domain=domain,
        source_id=change.source_id,
        object_type=object_type,
        raw=change.fields,
        fields=fields,
        content_hash=digest,
        source_updated_at=updated_at,
        received_at=now,
        deleted=change.deleted,
        match_status="pending",
        enqueued_at=now,
    )
    uow.session.add(record)
    return Accepted(0, "accepted", True)  # id assigned at flush


def accept_change(uow: UnitOfWork, source: str, domain: str, change: Change) -> Accepted:
    """Store one change (``PUT …/records/{id}``). The caller commits, then enqueues."""
    check_domain(domain)
    system = get_source(uow, source)
    change = _with_normal_id(system, change)
    object_type, fields = canonicalize(system, domain, change)
    for attempt in range(2):
        existing = _load(uow, source, domain, [change.source_id]).get(change.source_id)
        try:
            with uow.session.begin_nested():
                result = _apply(uow, existing, source, domain, change, object_type, fields)
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


def accept_batch(
    uow: UnitOfWork, source: str, domain: str, changes: Sequence[Change], *, skip_invalid: bool = False
) -> tuple[BatchAccepted, list[int]]:
    """Store a batch. The API is all-or-nothing: every record is validated first; one invalid
    record rejects the call with a 422 listing each bad record by index, and nothing is
    stored. The bulk loader passes ``skip_invalid`` to store the good records and report the
    bad ones (``BatchAccepted.rejects``).

    Returns the batch summary and the ids of records that need resolving.
    """
    check_domain(domain)
    system = get_source(uow, source)
    changes = [_with_normal_id(system, c) for c in changes]
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
    if errors and skip_invalid:
        changes = [p[0] for p in prepared]
        if not changes:
            return BatchAccepted("", 0, {}, errors), []
    elif errors:
        raise InvalidInput(
            f"{len(errors)} of {len(changes)} records are invalid; nothing was stored",
            details={"records": errors},
        )
    batch = Batch(source=source, domain=domain, total=len(changes))
    uow.session.add(batch)
    existing = _load(uow, source, domain, [c.source_id for c in changes])
    results = [_apply(uow, existing.get(c.source_id), source, domain, c, o, f) for c, o, f in prepared]
    uow.session.flush()
    stored = _load(uow, source, domain, [c.source_id for c in changes]) if len(existing) < len(changes) else existing
    outcomes: dict[str, int] = {}
    to_resolve: list[int] = []
    items = []
    for position, (change, result) in enumerate(zip(changes, results, strict=True)):
        record = stored[change.source_id]
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        status = "pending" if result.needs_resolve else ("ignored" if result.outcome == "stale" else "done")
        items.append(BatchItem(batch_id=batch.id, position=position, source_record_id=record.id or 0, status=status))
        if result.needs_resolve:
            to_resolve.append(record.id or 0)
    uow.session.add_all(items)
    if not to_resolve:
        batch.finished_at = utcnow()
    return BatchAccepted(batch.id, len(changes), outcomes, errors), to_resolve
