"""Golden records: fields, per-field lineage, version and members."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, url_for

from api.auth import require
from mdm.db import UnitOfWork
from mdm.services import queries

bp = Blueprint("golden", __name__)


@bp.get("/golden/<domain>/<golden_id>")
@require("source", "steward", "subscriber")
def get_golden(domain: str, golden_id: str) -> Any:
    with UnitOfWork(current_app.config["MDM_SETTINGS"]) as uow:
        golden = queries.resolve_golden_id(uow, domain, golden_id)
        if golden.id != golden_id:
            # a merged-away id redirects to its survivor; clients following redirects just work
            return redirect(url_for(".get_golden", domain=domain, golden_id=golden.id), code=308)
        return jsonify(queries.golden_json(uow, golden))
