"""Golden record history: every version with field-level diffs and its cause, and ``as_of``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import NotFound
from mdm.models import GoldenRecord, GoldenVersion, as_utc

_MISSING = object()


def field_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{field: {"from": old, "to": new}}`` for every field that changed (absent → ``None``)."""
    changes = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, _MISSING), after.get(name, _MISSING)
        if old != new:
            changes[name] = {"from": None if old is _MISSING else old, "to": None if new is _MISSING else new}
    return changes


def history(uow: UnitOfWork, golden: GoldenRecord, limit: int = 500) -> list[dict[str, Any]]:
    versions = uow.session.exec(
        select(GoldenVersion).where(GoldenVersion.golden_id == golden.id).order_by(GoldenVersion.version).limit(limit)
    ).all()
    out, previous = [], {}
    for v in versions:
        out.append(
            {
                "version": v.version,
                "status": v.status,
                "at": as_utc(v.created_at).isoformat(),
                "cause": v.cause,
                "changes": field_diff(previous, v.fields),
                "members": v.members,
                "correlation_id": v.correlation_id,
            }
        )
        previous = v.fields
    return out


def as_of(uow: UnitOfWork, golden: GoldenRecord, moment: datetime) -> dict[str, Any]:
    """The golden record as it was at ``moment`` (the newest version created at or before it)."""
    versions = uow.session.exec(
        select(GoldenVersion).where(GoldenVersion.golden_id == golden.id).order_by(GoldenVersion.version.desc())  # type: ignore[attr-defined]
    ).all()
    for v in versions:
        if as_utc(v.created_at) <= as_utc(moment):
            return {
                "id": golden.id,
                "domain": golden.domain,
                "as_of": as_utc(moment).isoformat(),
                "version": v.version,
                "status": v.status,
                "fields": v.fields,
                "lineage": v.lineage,
                "members": v.members,
                "cause": v.cause,
            }
    raise NotFound(f"golden record {golden.id!r} did not exist at {moment.isoformat()}", details={"as_of": moment.isoformat()})
