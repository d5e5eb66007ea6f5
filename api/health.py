"""Liveness and readiness, outside ``/api/v1`` and without a key (load balancers call them)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from mdm.services.health import readiness

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    ready, checks = readiness(current_app.config["MDM_SETTINGS"])
    return jsonify({"status": "ready" if ready else "not_ready", "checks": checks}), 200 if ready else 503
