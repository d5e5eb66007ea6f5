"""Golden records: recompute from members with survivorship, version, and write the outbox.

Every change to a golden record goes through :func:`recompute`, inside the caller's unit
of work: it locks the golden row, rebuilds the fields from the current members, and only
when something changed writes a new version, its history row and an outbox event — all in
the same transaction, so nothing is published that was not committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import select

from mdm.db import UnitOfWork, mark_written
from mdm.engines import survivorship_engine
from mdm.models import (
    GoldenOverride,
    GoldenRecord,
    GoldenVersion,
    OutboxEvent,
    SourceRecord,
    as_utc,
    new_uuid,
    utcnow,
)
from mdm.publishing.trigger import after_outbox_write
from survivorship import Member, Override


@dataclass
class Recomputed:
    golden_id: str
    changed: bool
    version: int
    event_type: str | None


def lock_goldens(uow: UnitOfWork, golden_ids: set[str]) -> dict[str, GoldenRecord]:
    """Lock golden rows in id order (one global order means two jobs never deadlock)."""
    if not golden_ids:
        return {}
    rows = uow.session.exec(
        select(GoldenRecord)
        .where(GoldenRecord.id.in_(sorted(golden_ids)))  # type: ignore[attr-defined]
        .order_by(GoldenRecord.id)
        .with_for_update()
    ).all()
    return {row.id: row for row in rows}


def members_of(uow: UnitOfWork, golden_id: str) -> list[SourceRecord]:
    return list(
        uow.session.exec(
            select(SourceRecord)
            .where(SourceRecord.golden_id == golden_id, SourceRecord.deleted.is_(False))  # type: ignore[union-attr]
            .order_by(SourceRecord.id)
        ).all()
    )


#: The member columns survivorship, versions and payloads read (rows, not ORM objects: the rows
#: are read-only here, and building identity-mapped objects cost more than the query).
_MEMBER_COLUMNS = (
    SourceRecord.id, SourceRecord.source, SourceRecord.source_id, SourceRecord.source_updated_at,
    SourceRecord.fields, SourceRecord.prepared, SourceRecord.match_status,
)


def _members_and_override_flag(uow: UnitOfWork, golden_id: str) -> tuple[list[Any], bool]:
    """The members' columns :func:`recompute` needs (like :func:`members_of`: live members by
    id) plus whether the golden has any steward override, in one statement (overrides are
    rare: they are loaded only when the flag says so). The ORM select autoflushes first."""
    has_override = sa_select(GoldenOverride.golden_id).where(GoldenOverride.golden_id == bindparam("gid")).exists()
    rows = uow.session.execute(
        sa_select(*_MEMBER_COLUMNS, has_override.label("has_override"))
        .where(SourceRecord.golden_id == bindparam("gid"), SourceRecord.deleted.is_(False))  # type: ignore[union-attr]
        .order_by(SourceRecord.id),  # type: ignore[arg-type]
        {"gid": golden_id},
    ).all()
    return list(rows), bool(rows and rows[-1].has_override)


def to_member(record: Any) -> Member:
    flags = (record.prepared or {}).get("flags") or {}
    return Member(
        record_id=str(record.id),
        source=record.source,
        source_id=record.source_id,
        updated_at=as_utc(record.source_updated_at),
        fields=record.fields,
        invalid_fields=frozenset(flags),
    )


def golden_payload(golden: GoldenRecord, members: Sequence[Any]) -> dict[str, Any]:
    """The approved golden record as subscribers and the API see it."""
    return {
        "id": golden.id,
        "domain": golden.domain,
        "version": golden.version,
        "status": golden.status,
        "approval": golden.approval,
        "merged_into": golden.merged_into,
        "account_number": golden.account_number,
        "fields": golden.fields,
        "crossref": [{"source": m.source, "source_id": m.source_id} for m in members],
        "updated_at": golden.updated_at.isoformat() if golden.updated_at else None,
    }


def survivor_of(uow: UnitOfWork, golden_id: str) -> GoldenRecord | None:
    """The golden a (possibly merged-away) id now lives on; ``None`` if it never existed."""
    golden = uow.session.get(GoldenRecord, golden_id)
    seen: set[str] = set()
    while golden is not None and golden.status == "merged" and golden.merged_into and golden.id not in seen:
        seen.add(golden.id)
        golden = uow.session.get(GoldenRecord, golden.merged_into)
    return golden


#: Columns a golden change writes (everything but ``id``, ``domain`` and ``created_at``).
_GOLDEN_MUTABLE = ("status", "merged_into", "approval", "fields", "lineage", "version", "account_number", "rules_hash", "updated_at")
_GOLDEN_ALL = ("id", "domain", "created_at", *_GOLDEN_MUTABLE)


def new_golden(uow: UnitOfWork, domain: str) -> GoldenRecord:
    """Insert an empty golden (version 0) and return it as a persistent, clean ORM object.

    One Core INSERT instead of an ORM flush: every column is set in Python, so the object is
    attached as already persistent (nothing to expire, nothing to reload)."""
    golden = GoldenRecord(domain=domain, version=0)
    uow.session.execute(insert(GoldenRecord.__table__), {c: getattr(golden, c) for c in _GOLDEN_ALL})
    make_transient_to_detached(golden)
    uow.session.add(golden)
    return golden


def recompute(
    uow: UnitOfWork,
    golden: GoldenRecord,
    cause: dict[str, Any],
    *,
    event_type: str | None = None,
    correlation_id: str | None = None,
) -> Recomputed:
    """Rebuild ``golden`` from its members; version it, with history and outbox, if it changed.

    The caller must hold the golden's row lock (:func:`lock_goldens` or a fresh insert).
    A golden left without members is retired (its id is never reused).
    """
    members, has_overrides = _members_and_override_flag(uow, golden.id)
    member_refs = [{"record_id": m.id, "source": m.source, "source_id": m.source_id} for m in members]
    engine, rules_hash = survivorship_engine(golden.domain, uow.settings.rules_dir)
    if members:
        overrides = {
            o.field: Override(field=o.field, value=o.value, pinned_by=o.pinned_by, pinned_at=o.pinned_at)
            for o in uow.session.exec(select(GoldenOverride).where(GoldenOverride.golden_id == golden.id)).all()
        } if has_overrides else {}
        result = engine.build([to_member(m) for m in members], overrides).to_json()
        fields, lineage = result["fields"], result["lineage"]
        status = golden.status if golden.status == "merged" else "active"
    else:
        fields, lineage = golden.fields, golden.lineage
        status = "retired" if golden.status != "merged" else "merged"
    if golden.domain == "customer" and members:
        fields, lineage = _with_account_number(uow, golden, fields, lineage)
    approval = "pending_review" if any(m.match_status == "review" for m in members) else (
        golden.approval if golden.approval == "pending_onboarding" else "approved"
    )
    changed = (
        golden.version == 0
        or fields != golden.fields
        or lineage != golden.lineage
        or status != golden.status
        or approval != golden.approval
        # the stored member list is read only when nothing else already tells a change
        or member_refs != _latest_members(uow, golden)
    )
    if not changed:
        return Recomputed(golden.id, False, golden.version, None)
    kind = event_type or ("created" if golden.version == 0 else "retired" if status == "retired" and golden.status != "retired" else "updated")
    golden.fields, golden.lineage, golden.status, golden.approval = fields, lineage, status, approval
    golden.rules_hash = rules_hash
    write_version(uow, golden, members, cause, kind, correlation_id)
    return Recomputed(golden.id, True, golden.version, kind)


_GR, _GV, _OE = GoldenRecord.__table__.c, GoldenVersion.__table__.c, OutboxEvent.__table__.c  # type: ignore[attr-defined]

#: PostgreSQL: the golden row, its history row and its outbox event in ONE statement (constant
#: text, so psycopg prepares it). JSON values go through the columns' own types.
_PG_WRITE_VERSION = text("""
WITH g AS (
    UPDATE golden_record SET status = :status, merged_into = :merged_into, approval = :approval,
           fields = :fields, lineage = :lineage, version = :version, account_number = :account_number,
           rules_hash = :rules_hash, updated_at = :updated_at
     WHERE id = :golden_id),
v AS (
    INSERT INTO golden_version (golden_id, version, status, fields, lineage, members, cause, correlation_id, created_at)
    VALUES (:golden_id, :version, :status, :fields, :lineage, :members, :cause, :correlation_id, :updated_at))
INSERT INTO outbox_event (event_id, golden_id, domain, golden_version, type, payload, correlation_id, created_at)
VALUES (:event_id, :golden_id, :domain, :version, :type, :payload, :correlation_id, :updated_at)
""").bindparams(
    bindparam("status", type_=_GR.status.type), bindparam("merged_into", type_=_GR.merged_into.type),
    bindparam("approval", type_=_GR.approval.type), bindparam("fields", type_=_GR.fields.type),
    bindparam("lineage", type_=_GR.lineage.type), bindparam("version", type_=_GR.version.type),
    bindparam("account_number", type_=_GR.account_number.type), bindparam("rules_hash", type_=_GR.rules_hash.type),
    bindparam("updated_at", type_=_GR.updated_at.type), bindparam("golden_id", type_=_GR.id.type),
    bindparam("members", type_=_GV.members.type), bindparam("cause", type_=_GV.cause.type),
    bindparam("correlation_id", type_=_GV.correlation_id.type), bindparam("event_id", type_=_OE.event_id.type),
    bindparam("domain", type_=_OE.domain.type), bindparam("type", type_=_OE.type.type),
    bindparam("payload", type_=_OE.payload.type),
)
#: elsewhere (SQLite): the same three writes as three Core statements
_UPDATE_GOLDEN = update(GoldenRecord.__table__).where(_GR.id == bindparam("golden_id"))


def write_version(
    uow: UnitOfWork,
    golden: GoldenRecord,
    members: Sequence[Any],
    cause: dict[str, Any],
    event_type: str,
    correlation_id: str | None,
) -> None:
    """Bump ``golden``'s version and write its history row and outbox event, in the caller's
    transaction — the one place a golden change becomes visible to history and subscribers.

    ``golden``'s current attribute values (set by the caller, possibly not flushed yet) are
    written with Core statements, then recorded on the object as its committed state, so the
    ORM has nothing left to flush for it. ``members`` are records or rows (id, source, source_id).
    """
    golden.version += 1
    golden.updated_at = utcnow()
    values = {c: getattr(golden, c) for c in _GOLDEN_MUTABLE}
    member_refs = [{"record_id": m.id, "source": m.source, "source_id": m.source_id} for m in members]
    payload = golden_payload(golden, members)
    event_id = new_uuid()
    # no autoflush: the golden's unflushed changes are in ``values``; flushing them first
    # would be one more UPDATE
    with uow.session.no_autoflush:
        if uow.dialect == "postgresql":
            uow.session.execute(_PG_WRITE_VERSION, {
                **values, "golden_id": golden.id, "members": member_refs, "cause": cause,
                "correlation_id": correlation_id, "event_id": event_id, "domain": golden.domain,
                "type": event_type, "payload": payload,
            })
        else:
            uow.session.execute(_UPDATE_GOLDEN, {**values, "golden_id": golden.id})
            uow.session.execute(insert(GoldenVersion.__table__), {
                "golden_id": golden.id, "version": golden.version, "status": golden.status, "fields": golden.fields,
                "lineage": golden.lineage, "members": member_refs, "cause": cause, "correlation_id": correlation_id,
                "created_at": golden.updated_at,
            })
            uow.session.execute(insert(OutboxEvent.__table__), {
                "event_id": event_id, "golden_id": golden.id, "domain": golden.domain, "golden_version": golden.version,
                "type": event_type, "payload": payload, "correlation_id": correlation_id, "created_at": golden.updated_at,
            })
    mark_written(golden, values)  # written above: no ORM UPDATE for these
    after_outbox_write(uow)  # publishing: nudge delivery once this transaction commits


def _with_account_number(
    uow: UnitOfWork, golden: GoldenRecord, fields: dict[str, Any], lineage: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden's account number is the ERP's, or one the hub assigned (see account_numbers)."""
    from mdm.services.account_numbers import assign, with_hub_number

    erp_number = fields.get("account_number")
    warning = assign(uow, golden, str(erp_number) if erp_number not in (None, "") else None)
    if golden.account_number != erp_number:
        return with_hub_number(fields, lineage, golden.account_number or "", erp_number, warning)
    return fields, lineage


def _latest_members(uow: UnitOfWork, golden: GoldenRecord) -> list[dict[str, Any]] | None:
    if golden.version == 0:
        return None
    row = uow.session.exec(
        select(GoldenVersion.members).where(
            GoldenVersion.golden_id == golden.id, GoldenVersion.version == golden.version
        )
    ).first()
    return row
