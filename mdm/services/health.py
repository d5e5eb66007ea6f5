"""Readiness: is this process able to serve? Database reachable, schema current, Redis reachable."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from mdm import runtime
from mdm.db import get_engine
from mdm.migrate import current_revision, head_revision
from mdm.settings import Settings


def readiness(settings: Settings) -> tuple[bool, dict[str, Any]]:
    """Each check as ``ok`` or why not; never raises (a readiness probe reports, it does not fail)."""
    checks: dict[str, Any] = {}
    try:
        engine = get_engine(settings.database_url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = current_revision(engine), head_revision(settings.database_url)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}: run 'mdm db upgrade'"
    except Exception as exc:  # noqa: BLE001
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
    return ready, checks
