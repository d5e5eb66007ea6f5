"""Golden records: recompute from members with survivorship, version, and write the outbox.

Every change to a golden record goes through :func:`recompute`, inside the caller's unit
of work: it locks the golden row, rebuilds the fields from the current members, and only
when something changed writes a new version, its history row and an outbox event — all in
the same transaction, so nothing is published that was not committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.engines import survivorship_engine
from mdm.models import GoldenOverride, GoldenRecord, GoldenVersion, OutboxEvent, SourceRecord, as_utc, utcnow
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


def _members_and_override_flag(uow: UnitOfWork, golden_id: str) -> tuple[list[SourceRecord], bool]:
    """:func:`members_of` plus whether the golden has any steward override, in one statement
    (overrides are rare: they are loaded only when the flag says so)."""
    has_override = sa_select(GoldenOverride.golden_id).where(GoldenOverride.golden_id == golden_id).exists()
    rows = uow.session.execute(
        sa_select(SourceRecord, has_override.label("has_override"))
        .where(SourceRecord.golden_id == golden_id, SourceRecord.deleted.is_(False))  # type: ignore[union-attr]
        .order_by(SourceRecord.id)  # type: ignore[arg-type]
    ).all()
    return [row[0] for row in rows], bool(rows and rows[0][1])


def to_member(record: SourceRecord) -> Member:
    flags = (record.prepared or {}).get("flags") or {}
    return Member(
        record_id=str(record.id),
        source=record.source,
        source_id=record.source_id,
        updated_at=as_utc(record.source_updated_at),
        fields=record.fields,
        invalid_fields=frozenset(flags),
    )


def golden_payload(golden: GoldenRecord, members: list[SourceRecord]) -> dict[str, Any]:
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


def new_golden(uow: UnitOfWork, domain: str) -> GoldenRecord:
    golden = GoldenRecord(domain=domain, version=0)
    uow.session.add(golden)
    uow.session.flush()
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


def write_version(
    uow: UnitOfWork,
    golden: GoldenRecord,
    members: list[SourceRecord],
    cause: dict[str, Any],
    event_type: str,
    correlation_id: str | None,
) -> None:
    """Bump ``golden``'s version and write its history row and outbox event, in the caller's
    transaction — the one place a golden change becomes visible to history and subscribers."""
    golden.version += 1
    golden.updated_at = utcnow()
    uow.session.add(golden)
    uow.session.add(
        GoldenVersion(
            golden_id=golden.id,
            version=golden.version,
            status=golden.status,
            fields=golden.fields,
            lineage=golden.lineage,
            members=[{"record_id": m.id, "source": m.source, "source_id": m.source_id} for m in members],
            cause=cause,
            correlation_id=correlation_id,
            created_at=golden.updated_at,
        )
    )
    uow.session.add(
        OutboxEvent(
            golden_id=golden.id,
            domain=golden.domain,
            golden_version=golden.version,
            type=event_type,
            payload=golden_payload(golden, members),
            correlation_id=correlation_id,
            created_at=golden.updated_at,
        )
    )
    after_outbox_write(uow)  # publishing: nudge delivery once this transaction commits
    uow.session.flush()


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
