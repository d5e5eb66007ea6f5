"""Liveness and readiness, outside ``/api/v1`` and without a key (load balancers call them)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from mdm import runtime
from mdm.db import get_engine
from mdm.migrate import current_revision, head_revision

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    settings = current_app.config["MDM_SETTINGS"]
    checks: dict[str, Any] = {}
    try:
        engine = get_engine(settings.database_url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = current_revision(engine), head_revision(settings.database_url)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}: run 'mdm db upgrade'"
    except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
        checks["database"] = f"unreachable: {exc.__class__.__name__}"
        checks["migrations"] = "unknown"
    if settings.redis_url:
        try:
            runtime.queue().ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"unreachable: {exc.__class__.__name__}"
    else:
        checks["redis"] = "not configured (jobs run inline)"
    ready = all(v == "ok" or str(v).startswith("not configured") for v in checks.values())
    return jsonify({"status": "ready" if ready else "not_ready", "checks": checks}), 200 if ready else 503
