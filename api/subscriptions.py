"""Subscriptions (admin and subscriber roles): create, read, change, rotate secrets, replay.

A subscriber key sees and manages only its own subscriptions (others are 404, not 403, so
ids do not leak); an admin sees all. Secrets are write-only: responses show a hint.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from marshmallow import RAISE, Schema, ValidationError, validate, validates_schema
from marshmallow import fields as f

from api.auth import principal, require
from api.schemas import json_body
from mdm.db import UnitOfWork
from mdm.errors import InvalidInput
from mdm.publishing import subscriptions as service
from mdm.publishing.config import PublishSettings
from mdm.publishing.deliveries import delivery_json, list_deliveries, replay
from mdm.publishing.feed import decode_cursor
from mdm.publishing.trigger import request_dispatch, request_drain

bp = Blueprint("subscriptions", __name__)
STRINGS = f.List(f.String(validate=validate.Length(max=32)), validate=validate.Length(max=16))


class SubscriptionSchema(Schema):
    class Meta:
        unknown = RAISE

    name = f.String(validate=validate.Length(min=1, max=128))
    kind = f.String(validate=validate.Length(max=16))
    url = f.String(validate=validate.Length(max=2048))
    secret = f.String(validate=validate.Length(max=200))
    domains = STRINGS
    event_types = STRINGS
    publish_unapproved = STRINGS
    active = f.Boolean()
    start = f.String(validate=validate.Length(max=16))
    salesforce = f.Dict(keys=f.String(), allow_none=True)


class SubscriptionPatchSchema(Schema):
    class Meta:
        unknown = RAISE

    name = f.String(validate=validate.Length(min=1, max=128))
    url = f.String(validate=validate.Length(max=2048))
    domains = STRINGS
    event_types = STRINGS
    publish_unapproved = STRINGS
    active = f.Boolean()


class RotateSchema(Schema):
    class Meta:
        unknown = RAISE

    secret = f.String(allow_none=True, validate=validate.Length(max=200))
    grace_seconds = f.Float(validate=validate.Range(min=0, max=30 * 86400))


class ReplaySchema(Schema):
    class Meta:
        unknown = RAISE

    event_id = f.String(validate=validate.Length(max=64))
    from_ = f.AwareDateTime(data_key="from")
    to = f.AwareDateTime()
    after = f.String(validate=validate.Length(max=200))

    @validates_schema
    def _one_selector(self, data: dict[str, Any], **_: Any) -> None:
        chosen = [k for k in ("event_id", "after") if k in data] + (["from/to"] if "from_" in data or "to" in data else [])
        if len(chosen) != 1:
            raise ValidationError("give exactly one of: event_id, from/to, after", field_name="_schema")


def _settings() -> Any:
    return current_app.config["MDM_SETTINGS"]


@bp.post("/subscriptions")
@require("subscriber")
def create() -> Any:
    data = SubscriptionSchema().load(json_body())
    if data.get("kind", "webhook") == "webhook" and "secret" not in data:
        raise InvalidInput("secret is required (or \"generate\" to let the hub create one)", details={"secret": "missing"})
    with UnitOfWork(_settings()) as uow:
        sub, generated = service.create_subscription(uow, data, principal(), PublishSettings.from_env())
        uow.commit()
        doc = service.subscription_json(uow, sub)
    if generated:
        doc["secret"] = generated  # shown once
    request_dispatch()
    return jsonify(doc), 201


@bp.get("/subscriptions")
@require("subscriber")
def list_all() -> Any:
    with UnitOfWork(_settings()) as uow:
        return jsonify({"subscriptions": [service.subscription_json(uow, s) for s in service.list_subscriptions(uow, principal())]})


@bp.get("/subscriptions/<subscription_id>")
@require("subscriber")
def get_one(subscription_id: str) -> Any:
    with UnitOfWork(_settings()) as uow:
        return jsonify(service.subscription_json(uow, service.get_subscription(uow, subscription_id, principal())))


@bp.patch("/subscriptions/<subscription_id>")
@require("subscriber")
def patch(subscription_id: str) -> Any:
    data = SubscriptionPatchSchema().load(json_body())
    with UnitOfWork(_settings()) as uow:
        sub = service.get_subscription(uow, subscription_id, principal(), lock=True)
        service.update_subscription(uow, sub, data, PublishSettings.from_env())
        uow.commit()
        doc = service.subscription_json(uow, sub)
    if doc["active"]:
        request_dispatch()
        request_drain(subscription_id)
    return jsonify(doc)


@bp.delete("/subscriptions/<subscription_id>")
@require("subscriber")
def delete(subscription_id: str) -> Any:
    with UnitOfWork(_settings()) as uow:
        service.delete_subscription(uow, service.get_subscription(uow, subscription_id, principal(), lock=True))
        uow.commit()
    return "", 204


@bp.post("/subscriptions/<subscription_id>/secrets")
@require("subscriber")
def rotate(subscription_id: str) -> Any:
    data = RotateSchema().load(json_body())
    grace = data.get("grace_seconds", PublishSettings.from_env().secret_grace_seconds)
    with UnitOfWork(_settings()) as uow:
        sub = service.get_subscription(uow, subscription_id, principal(), lock=True)
        generated = service.rotate_secret(uow, sub, data.get("secret"), grace)
        uow.commit()
        doc = service.subscription_json(uow, sub, counts=False)
    if generated:
        doc["secret"] = generated
    return jsonify(doc)


@bp.get("/subscriptions/<subscription_id>/deliveries")
@require("subscriber", "steward")
def deliveries(subscription_id: str) -> Any:
    limit = request.args.get("limit", default=100, type=int) or 100
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", details={"limit": limit})
    after_id = request.args.get("after_id", default=0, type=int) or 0
    who = principal()
    with UnitOfWork(_settings()) as uow:
        service.get_subscription(uow, subscription_id, None if who.role == "steward" else who)
        rows = list_deliveries(
            uow, subscription_ids=[subscription_id], status=request.args.get("status"),
            golden_id=request.args.get("golden_id"), event_id=request.args.get("event_id"), after_id=after_id, limit=limit,
        )
        return jsonify({"deliveries": [delivery_json(d) for d in rows], "next_after_id": rows[-1].id if rows else after_id})


@bp.post("/subscriptions/<subscription_id>/replay")
@require("subscriber")
def replay_events(subscription_id: str) -> Any:
    data = ReplaySchema().load(json_body())
    with UnitOfWork(_settings()) as uow:
        sub = service.get_subscription(uow, subscription_id, principal(), lock=True)
        result = replay(
            uow, sub, event_id=data.get("event_id"), start=data.get("from_"), end=data.get("to"),
            after=decode_cursor(data["after"]) if "after" in data else None,
        )
        uow.commit()
    request_drain(subscription_id, force=True)
    return jsonify(result.__dict__), 202
