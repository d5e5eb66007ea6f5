"""Golden records: read (with lineage, history, as_of) and steward actions (merge, split, pin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, request, url_for
from marshmallow import RAISE, Schema, validate
from marshmallow import fields as f

from api.auth import principal, require
from api.schemas import json_body
from mdm.db import UnitOfWork
from mdm.errors import InvalidInput
from mdm.services import lifecycle, overrides, queries

bp = Blueprint("golden", __name__)


class MergeSchema(Schema):
    class Meta:
        unknown = RAISE

    golden_ids = f.List(f.String(validate=validate.Length(min=1, max=36)), required=True, validate=validate.Length(min=2, max=50))
    reason = f.String(load_default=None, validate=validate.Length(max=2000))


class SplitSchema(Schema):
    class Meta:
        unknown = RAISE

    record_ids = f.List(f.Integer(strict=True), required=True, validate=validate.Length(min=1, max=1000))
    reason = f.String(load_default=None, validate=validate.Length(max=2000))


class PinSchema(Schema):
    class Meta:
        unknown = RAISE

    value = f.Raw(required=True, allow_none=True)


def _uow() -> UnitOfWork:
    return UnitOfWork(current_app.config["MDM_SETTINGS"])


def _actor() -> str:
    who = principal()
    return f"{who.role}:{who.name}"


def _as_of() -> datetime | None:
    raw = request.args.get("as_of")
    if raw is None:
        return None
    try:
        # an unencoded "+01:00" arrives as " 01:00": forgive the common mistake
        moment = datetime.fromisoformat(raw.strip().replace(" ", "+").replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput("as_of must be an ISO-8601 timestamp", details={"as_of": raw}) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@bp.get("/golden/<domain>/<golden_id>")
@require("source", "steward", "subscriber")
def get_golden(domain: str, golden_id: str) -> Any:
    moment = _as_of()
    with _uow() as uow:
        if moment is not None:
            return jsonify(queries.golden_as_of(uow, domain, golden_id, moment))
        golden = queries.resolve_golden_id(uow, domain, golden_id)
        if golden.id != golden_id:
            # a merged-away id redirects to its survivor; clients following redirects just work
            return redirect(url_for(".get_golden", domain=domain, golden_id=golden.id), code=308)
        return jsonify(queries.golden_json(uow, golden))


@bp.get("/golden/<domain>/<golden_id>/history")
@require("source", "steward", "subscriber")
def get_history(domain: str, golden_id: str) -> Any:
    with _uow() as uow:
        return jsonify(queries.golden_history(uow, domain, golden_id))


@bp.post("/golden/<domain>/merge")
@require("steward")
def post_merge(domain: str) -> Any:
    data = MergeSchema().load(json_body())
    with _uow() as uow:
        queries.check_domain(domain)
        result = lifecycle.merge(uow, domain, data["golden_ids"], actor=_actor(), reason=data["reason"])
        uow.commit()
    return jsonify({"survivor_id": result.survivor_id, "merged_ids": result.merged_ids, "version": result.version}), 200


@bp.post("/golden/<domain>/<golden_id>/split")
@require("steward")
def post_split(domain: str, golden_id: str) -> Any:
    data = SplitSchema().load(json_body())
    with _uow() as uow:
        queries.check_domain(domain)
        result = lifecycle.split(uow, domain, golden_id, data["record_ids"], actor=_actor(), reason=data["reason"])
        uow.commit()
    return jsonify({"golden_id": result.golden_id, "new_golden_id": result.new_golden_id, "moved_records": result.moved_records}), 201


@bp.put("/golden/<domain>/<golden_id>/overrides/<field>")
@require("steward")
def put_override(domain: str, golden_id: str, field: str) -> Any:
    data = PinSchema().load(json_body())
    with _uow() as uow:
        queries.check_domain(domain)
        version = overrides.pin(uow, domain, golden_id, field, data["value"], actor=_actor())
        uow.commit()
    return jsonify({"golden_id": golden_id, "field": field, "pinned": True, "version": version})


@bp.delete("/golden/<domain>/<golden_id>/overrides/<field>")
@require("steward")
def delete_override(domain: str, golden_id: str, field: str) -> Any:
    with _uow() as uow:
        queries.check_domain(domain)
        version = overrides.unpin(uow, domain, golden_id, field, actor=_actor())
        uow.commit()
    return jsonify({"golden_id": golden_id, "field": field, "pinned": False, "version": version})
