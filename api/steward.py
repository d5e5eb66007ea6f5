"""The stewards' review queue: list, read, approve and reject proposed links (role steward)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, validate
from marshmallow import fields as f

from api.auth import principal, require
from api.schemas import json_body
from mdm.db import UnitOfWork
from mdm.errors import InvalidInput, NotFound
from mdm.services import steward

bp = Blueprint("steward", __name__)


class QueueArgs(Schema):
    class Meta:
        unknown = RAISE

    status = f.String(load_default="open", validate=validate.OneOf([*steward.STATUSES, "all"]))
    limit = f.Integer(load_default=50, validate=validate.Range(min=1, max=steward.MAX_PAGE))
    after = f.Integer(load_default=None, allow_none=True, validate=validate.Range(min=0, max=2**62))


class DecisionSchema(Schema):
    class Meta:
        unknown = RAISE

    note = f.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


def _uow() -> UnitOfWork:
    return UnitOfWork(current_app.config["MDM_SETTINGS"])


def _actor() -> str:
    who = principal()
    return f"{who.role}:{who.name}"


def _decision_body() -> dict[str, Any]:
    """The note is optional, and so is the body: an empty POST approves without a note."""
    if not request.get_data(cache=True):
        return {"note": None}
    return DecisionSchema().load(json_body())


def _item_id(raw: str) -> int:
    # a non-numeric id is simply not an item: 404 like any unknown id, never a 500
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound(f"no review item {raw!r}", details={"item_id": raw})
    return int(raw)


@bp.get("/review/<domain>")
@require("steward")
def list_queue(domain: str) -> Any:
    try:
        args = QueueArgs().load(request.args.to_dict())
    except ValidationError as exc:
        raise InvalidInput("invalid query parameters", details={"fields": exc.messages}) from exc
    with _uow() as uow:
        return jsonify(steward.list_items(uow, domain, status=args["status"], limit=args["limit"], after=args["after"]))


@bp.get("/review/<domain>/<item_id>")
@require("steward")
def get_item(domain: str, item_id: str) -> Any:
    with _uow() as uow:
        return jsonify(steward.get_item(uow, domain, _item_id(item_id)))


def _decide(domain: str, item_id: str, decision: Any) -> Any:
    """Approve and reject alike: decide in one transaction, answer with the item as it now is."""
    body = _decision_body()
    number = _item_id(item_id)
    with _uow() as uow:
        result = decision(uow, domain, number, actor=_actor(), note=body["note"])
        uow.commit()
    with _uow() as uow:
        doc = steward.get_item(uow, domain, number)
    return jsonify({**doc, "golden_id": result.golden_id, "merged": result.merged})


@bp.post("/review/<domain>/<item_id>/approve")
@require("steward")
def approve(domain: str, item_id: str) -> Any:
    return _decide(domain, item_id, steward.approve)


@bp.post("/review/<domain>/<item_id>/reject")
@require("steward")
def reject(domain: str, item_id: str) -> Any:
    return _decide(domain, item_id, steward.reject)
