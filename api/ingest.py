"""Source changes in, records and batches out: the ingest half of the contract."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, url_for

from api.auth import check_source, require
from api.schemas import BatchSchema, RecordChangeSchema, check_source_id, json_body
from mdm.db import UnitOfWork
from mdm.errors import PayloadTooLarge
from mdm.jobs import enqueue_resolve
from mdm.services import queries
from mdm.services.ingest import Change, accept_batch, accept_change

bp = Blueprint("ingest", __name__)


def _uow() -> UnitOfWork:
    return UnitOfWork(current_app.config["MDM_SETTINGS"])


@bp.put("/sources/<source>/<domain>/records/<path:source_id>")
@require("source")
def put_record(source: str, domain: str, source_id: str) -> Any:
    check_source(source)
    check_source_id(source_id)
    body = RecordChangeSchema().load(json_body())
    change = Change(source_id, body["fields"], body["updated_at"], body["deleted"], body["object"])
    with _uow() as uow:
        result = accept_change(uow, source, domain, change)
        uow.commit()
    if result.needs_resolve and result.outcome == "accepted":
        enqueue_resolve([result.record_id], job_ids=[result.job_id] if result.job_id else None)
    return (
        jsonify(
            {
                "record_id": result.record_id,
                "outcome": result.outcome,
                "record_url": url_for(".get_record", source=source, domain=domain, source_id=source_id),
            }
        ),
        202,
    )


@bp.post("/sources/<source>/<domain>/batches")
@require("source")
def post_batch(source: str, domain: str) -> Any:
    check_source(source)
    settings = current_app.config["MDM_SETTINGS"]
    body = json_body()
    records = body.get("records")
    if isinstance(records, list) and len(records) > settings.max_batch_records:
        raise PayloadTooLarge(
            f"a batch holds at most {settings.max_batch_records} records; split it",
            details={"records": len(records), "limit": settings.max_batch_records},
            code="batch_too_large",
        )
    data = BatchSchema().load(body)
    changes = [Change(r["source_id"], r["fields"], r["updated_at"], r["deleted"], r["object"]) for r in data["records"]]
    with _uow() as uow:
        summary, to_resolve = accept_batch(uow, source, domain, changes)
        uow.commit()
    if to_resolve:
        enqueue_resolve(to_resolve, correlation_id=f"batch:{summary.batch_id}", job_ids=summary.job_ids or None)
    return (
        jsonify(
            {
                "batch_id": summary.batch_id,
                "total": summary.total,
                "outcomes": summary.outcomes,
                "status_url": url_for(".get_batch", batch_id=summary.batch_id),
            }
        ),
        202,
    )


@bp.get("/batches/<batch_id>")
@require("source", "steward")
def get_batch(batch_id: str) -> Any:
    with _uow() as uow:
        return jsonify(queries.batch_status(uow, batch_id))


@bp.get("/sources/<source>/<domain>/records/<path:source_id>")
@require("source", "steward", "subscriber")
def get_record(source: str, domain: str, source_id: str) -> Any:
    with _uow() as uow:
        return jsonify(queries.get_record(uow, source, domain, source_id))
