"""Administration: source systems, failed jobs, the sweep."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request

from api.auth import require
from api.schemas import SourceSchema, json_body
from mdm.db import UnitOfWork
from mdm.services import jobs_admin
from mdm.services.sources import list_sources, register_source
from mdm.services.sweep import sweep_lost_records

bp = Blueprint("admin", __name__)


def _settings() -> Any:
    return current_app.config["MDM_SETTINGS"]


@bp.get("/sources")
@require("source", "steward", "subscriber")
def get_sources() -> Any:
    with UnitOfWork(_settings()) as uow:
        return jsonify(
            {"sources": [{"name": s.name, "kind": s.kind, "description": s.description} for s in list_sources(uow)]}
        )


@bp.post("/sources")
@require()
def post_source() -> Any:
    data = SourceSchema().load(json_body())
    with UnitOfWork(_settings()) as uow:
        system = register_source(uow, data["name"], data["kind"], data["description"])
        uow.commit()
        return jsonify({"name": system.name, "kind": system.kind, "description": system.description}), 201


@bp.get("/admin/jobs/failed")
@require()
def get_failed_jobs() -> Any:
    return jsonify({"jobs": jobs_admin.failed_jobs(_settings()), "records": jobs_admin.errored_records(_settings())})


@bp.post("/admin/jobs/failed/<job_id>/requeue")
@require()
def requeue_job(job_id: str) -> Any:
    return jsonify(jobs_admin.requeue_failed_job(_settings(), job_id)), 202


@bp.post("/admin/records/retry")
@require()
def retry_records() -> Any:
    body = json_body()
    ids = body.get("record_ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        from mdm.errors import InvalidInput

        raise InvalidInput("record_ids must be a list of integers", details={"record_ids": ids})
    return jsonify({"reset": jobs_admin.retry_records(_settings(), ids)}), 202


@bp.post("/admin/sweep")
@require()
def run_sweep() -> Any:
    older = request.args.get("older_than", type=int)
    return jsonify(sweep_lost_records(_settings(), older_than_seconds=older)), 202
