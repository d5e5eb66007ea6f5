"""Read models for the API: records, golden records, batches. Plain dicts out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import NotFound
from mdm.models import Batch, BatchItem, GoldenRecord, ReviewItem, SourceRecord, SourceSystem, as_utc
from mdm.services.golden import members_of, survivor_of
from mdm.services.ingest import check_domain
from mdm.source_mapping import normalize_source_id


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return as_utc(value).isoformat()


def record_json(record: SourceRecord, *, full: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": record.id,
        "source": record.source,
        "domain": record.domain,
        "source_id": record.source_id,
        "object": record.object_type,
        "golden_id": record.golden_id,
        "match_status": record.match_status,
        "match_probability": record.match_probability,
        "updated_at": _iso(record.source_updated_at),
        "received_at": _iso(record.received_at),
        "resolved_at": _iso(record.resolved_at),
        "deleted": record.deleted,
    }
    if full:
        doc.update(
            {
                "fields": record.fields,
                "raw": record.raw,
                "normalized": (record.prepared or {}).get("values"),
                "flags": (record.prepared or {}).get("flags"),
                "match_explanation": record.match_explanation,
                "model_version": record.model_version,
                "warnings": record.warnings or [],
                "attempts": record.attempts,
                "last_error": record.last_error,
            }
        )
    return doc


def get_record(uow: UnitOfWork, source: str, domain: str, source_id: str) -> dict[str, Any]:
    check_domain(domain)
    system = uow.session.get(SourceSystem, source)
    if system is None:
        raise NotFound(f"unknown source system {source!r}", details={"source": source}, code="unknown_source")
    source_id = normalize_source_id(system.kind, source_id)
    record = uow.session.exec(
        select(SourceRecord).where(
            SourceRecord.source == source, SourceRecord.domain == domain, SourceRecord.source_id == source_id
        )
    ).first()
    if record is None:
        raise NotFound(f"no {domain} record {source_id!r} from {source!r}", details={"source": source, "source_id": source_id})
    doc = record_json(record)
    doc["open_reviews"] = [
        {"id": r.id, "candidate_golden_id": r.candidate_golden_id, "probability": r.probability}
        for r in uow.session.exec(
            select(ReviewItem).where(ReviewItem.source_record_id == record.id, ReviewItem.status == "open")
        ).all()
    ]
    return doc


def golden_json(uow: UnitOfWork, golden: GoldenRecord) -> dict[str, Any]:
    members = members_of(uow, golden.id)
    return {
        "id": golden.id,
        "domain": golden.domain,
        "status": golden.status,
        "approval": golden.approval,
        "merged_into": golden.merged_into,
        "version": golden.version,
        "account_number": golden.account_number,
        "fields": golden.fields,
        "lineage": golden.lineage,
        "members": [record_json(m, full=False) for m in members],
        "created_at": _iso(golden.created_at),
        "updated_at": _iso(golden.updated_at),
    }


def resolve_golden_id(uow: UnitOfWork, domain: str, golden_id: str) -> GoldenRecord:
    """Follow ``merged_into`` so a merged-away id still leads to its survivor."""
    check_domain(domain)
    golden = survivor_of(uow, golden_id)
    if golden is None or golden.domain != domain:
        raise NotFound(f"no {domain} golden record {golden_id!r}", details={"golden_id": golden_id})
    return golden


def batch_status(uow: UnitOfWork, batch_id: str) -> dict[str, Any]:
    batch = uow.session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r}", details={"batch_id": batch_id})
    counts = dict(
        uow.session.execute(
            sa_select(BatchItem.status, func.count()).where(BatchItem.batch_id == batch_id).group_by(BatchItem.status)
        ).all()
    )
    pending = counts.get("pending", 0)
    failed = counts.get("failed", 0)
    processed = batch.total - pending
    status = "processing" if pending else ("done_with_errors" if failed else "done")
    failed_records = []
    if failed:
        failed_records = [
            {"source_id": r.source_id, "error": (r.last_error or "").strip().splitlines()[-1:] or None}
            for r in uow.session.exec(
                select(SourceRecord)
                .join(BatchItem, BatchItem.source_record_id == SourceRecord.id)  # type: ignore[arg-type]
                .where(BatchItem.batch_id == batch_id, BatchItem.status == "failed")
                .limit(100)
            ).all()
        ]
    return {
        "batch_id": batch.id,
        "source": batch.source,
        "domain": batch.domain,
        "status": status,
        "total": batch.total,
        "processed": processed,
        "failed": failed,
        "ignored": counts.get("ignored", 0),
        "pending": pending,
        "created_at": _iso(batch.created_at),
        "finished_at": _iso(batch.finished_at),
        "failed_records": failed_records,
    }


def golden_history(uow: UnitOfWork, domain: str, golden_id: str) -> dict[str, Any]:
    """The history of ``golden_id`` itself (a merged-away id keeps its own versions)."""
    from mdm.services import history

    resolve_golden_id(uow, domain, golden_id)  # 404 for unknown ids or domains
    golden = uow.session.get(GoldenRecord, golden_id)
    assert golden is not None
    return {"id": golden.id, "domain": domain, "versions": history.history(uow, golden)}


def golden_as_of(uow: UnitOfWork, domain: str, golden_id: str, moment: datetime) -> dict[str, Any]:
    """``golden_id`` as it was at ``moment`` — not its survivor's, even if it was merged since."""
    from mdm.services import history

    survivor = resolve_golden_id(uow, domain, golden_id)
    return history.as_of(uow, uow.session.get(GoldenRecord, golden_id) or survivor, moment)
