"""Whole files in: ``POST /sources/{source}/{domain}/loads`` and the load's status and rejects.

The request body *is* the file (CSV or JSON lines), streamed into the database a piece at a time
(:mod:`mdm.services.loads`); the ``MDM_MAX_CONTENT_LENGTH`` limit of JSON calls does not apply,
``MDM_MAX_LOAD_BYTES`` does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from api.auth import check_source, principal, require
from mdm.db import UnitOfWork
from mdm.errors import NotFound
from mdm.jobs import enqueue_load
from mdm.services import loads

bp = Blueprint("loads", __name__)


def _uow() -> UnitOfWork:
    return UnitOfWork(current_app.config["MDM_SETTINGS"])


@bp.post("/sources/<source>/<domain>/loads")
@require("source")
def post_load(source: str, domain: str) -> Any:
    check_source(source)
    settings = current_app.config["MDM_SETTINGS"]
    fmt = loads.load_format(request.mimetype, request.args.get("format"))
    mode = loads.load_mode(request.args.get("mode"))
    request.max_content_length = settings.max_load_bytes  # before the body is touched
    with _uow() as uow:
        load = loads.stage_load(uow, source, domain, request.stream, fmt=fmt, mode=mode,
                                max_bytes=settings.max_load_bytes, expected_bytes=request.content_length)
        load_id, job_id, size = load.id, str(load.job_id), load.size_bytes
        uow.commit()
    enqueue_load(load_id, job_id)
    return (
        jsonify({"load_id": load_id, "mode": mode, "format": fmt, "size_bytes": size,
                 "status_url": url_for(".get_load", load_id=load_id),
                 "rejects_url": url_for(".get_load_rejects", load_id=load_id)}),
        202,
    )


def _visible(uow: UnitOfWork, load_id: str) -> None:
    """A ``source`` key sees only its own source's loads (404, not 403: ids are not disclosed)."""
    load = loads.get_load(uow, load_id)
    who = principal()
    if who.role == "source" and who.source != load.source:
        raise NotFound(f"no load {load_id!r}", details={"load_id": load_id})


@bp.get("/loads/<load_id>")
@require("source", "steward")
def get_load(load_id: str) -> Any:
    with _uow() as uow:
        _visible(uow, load_id)
        body = loads.load_status(uow, load_id)
    body["rejects_url"] = url_for(".get_load_rejects", load_id=load_id)
    return jsonify(body)


@bp.post("/loads/<load_id>/retry")
@require("source")
def retry_load(load_id: str) -> Any:
    """Run a failed load again from its staged file, ``?mode=`` optionally changed (bulk refused → stream)."""
    with _uow() as uow:
        _visible(uow, load_id)
        load = loads.retry_load(uow, load_id, request.args.get("mode"))
        mode, job_id = load.mode, str(load.job_id)
        uow.commit()
    enqueue_load(load_id, job_id)
    return jsonify({"load_id": load_id, "mode": mode, "status_url": url_for(".get_load", load_id=load_id)}), 202


@bp.get("/loads/<load_id>/rejects")
@require("source", "steward")
def get_load_rejects(load_id: str) -> Any:
    """JSON lines, ``{"line", "error"}`` per rejected row of the file (empty when none)."""
    settings = current_app.config["MDM_SETTINGS"]
    with _uow() as uow:
        _visible(uow, load_id)

    def lines() -> Iterator[str]:
        with UnitOfWork(settings) as uow:
            for reject in loads.load_rejects(uow, load_id):
                yield json.dumps(reject, default=str) + "\n"

    return Response(lines(), mimetype="application/x-ndjson")
