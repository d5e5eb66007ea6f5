"""``POST /match/{domain}``: the duplicate check at data entry (roles source, steward). Stores nothing."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from marshmallow import RAISE, Schema, validate
from marshmallow import fields as f

from api.auth import principal, require
from api.schemas import json_body
from mdm.db import UnitOfWork
from mdm.services.probe import MAX_CANDIDATES, probe

bp = Blueprint("match", __name__)


class ProbeSchema(Schema):
    class Meta:
        unknown = RAISE

    fields = f.Dict(keys=f.String(), required=True, validate=validate.Length(min=1))
    source = f.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    object = f.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    limit = f.Integer(load_default=10, validate=validate.Range(min=1, max=MAX_CANDIDATES))


@bp.post("/match/<domain>")
@require("source", "steward")
def post_match(domain: str) -> Any:
    body = ProbeSchema().load(json_body())
    source = body["source"]
    who = principal()
    if source is None and who.role == "source":
        source = who.source  # a Salesforce key probes with Salesforce's field names by default
    with UnitOfWork(current_app.config["MDM_SETTINGS"]) as uow:
        # read-only: the unit of work is never committed, so it rolls back on exit
        result = probe(uow, domain, body["fields"], source=source, object_type=body["object"], limit=body["limit"])
    return jsonify(result)
