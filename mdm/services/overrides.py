"""Steward overrides: pin a golden field to a value (it wins survivorship) or unpin it.

The value is validated against the field's declared type in the domain's rules, so a pin
on an unknown field or of the wrong type is a 422 before anything is stored.
"""

from __future__ import annotations

from typing import Any

from mdm.db import UnitOfWork
from mdm.engines import survivorship_engine
from mdm.errors import InvalidInput, NotFound
from mdm.models import GoldenOverride, utcnow
from mdm.services import golden as golden_service
from mdm.services.lifecycle import _active
from survivorship import OverrideError


def pin(uow: UnitOfWork, domain: str, golden_id: str, field: str, value: Any, *, actor: str) -> int:
    """Pin ``field`` to ``value``; returns the golden's new version."""
    engine, _ = survivorship_engine(domain, uow.settings.rules_dir)
    try:
        canonical = engine.rules.validate_override(field, value)
    except OverrideError as exc:
        raise InvalidInput(str(exc), details={"field": getattr(exc, "field", field), "problem": getattr(exc, "problem", str(exc))}) from exc
    locked = golden_service.lock_goldens(uow, {golden_id})
    golden = _active(locked, golden_id, domain)
    existing = uow.session.get(GoldenOverride, (golden_id, field))
    if existing is None:
        existing = GoldenOverride(golden_id=golden_id, field=field, value=canonical, pinned_by=actor, pinned_at=utcnow())
    else:
        existing.value, existing.pinned_by, existing.pinned_at = canonical, actor, utcnow()
    uow.session.add(existing)
    uow.session.flush()
    cause = {"type": "steward_override", "actor": actor, "field": field, "action": "pin"}
    return golden_service.recompute(uow, golden, cause).version


def unpin(uow: UnitOfWork, domain: str, golden_id: str, field: str, *, actor: str) -> int:
    locked = golden_service.lock_goldens(uow, {golden_id})
    golden = _active(locked, golden_id, domain)
    existing = uow.session.get(GoldenOverride, (golden_id, field))
    if existing is None:
        raise NotFound(f"field {field!r} of golden {golden_id!r} is not pinned", details={"field": field})
    uow.session.delete(existing)
    uow.session.flush()
    cause = {"type": "steward_override", "actor": actor, "field": field, "action": "unpin"}
    return golden_service.recompute(uow, golden, cause).version
