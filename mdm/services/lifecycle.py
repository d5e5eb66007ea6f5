"""Merge and split golden records — the services the steward queue and the matching engine call.

* **Merge** keeps the *oldest* golden id as the survivor (ids are stable: the one systems
  have known longest stays); the others become ``merged`` with ``merged_into`` set, their
  members' cross-reference moves to the survivor, and a read of a merged id redirects.
* **Split** moves chosen member records to a brand-new golden id (ids are never reused) and
  records the steward's "not a match" so the records are not linked back automatically
  until their content changes.

Both lock every golden involved (in id order, like every other path), recompute
survivorship, and version the result with its outbox events — in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import Conflict, InvalidInput, NotFound
from mdm.models import (
    GoldenOverride,
    GoldenRecord,
    MatchLabel,
    SourceRecord,
    as_utc,
)
from mdm.services import golden as golden_service


@dataclass
class MergeResult:
    survivor_id: str
    merged_ids: list[str]
    version: int
    moved_records: list[int] = field(default_factory=list)


@dataclass
class SplitResult:
    golden_id: str
    new_golden_id: str
    moved_records: list[int]


def _active(locked: dict[str, GoldenRecord], golden_id: str, domain: str) -> GoldenRecord:
    golden = locked.get(golden_id)
    if golden is None or golden.domain != domain:
        raise NotFound(f"no {domain} golden record {golden_id!r}", details={"golden_id": golden_id})
    if golden.status != "active":
        raise Conflict(
            f"golden record {golden_id!r} is {golden.status}",
            details={"golden_id": golden_id, "status": golden.status, "merged_into": golden.merged_into},
        )
    return golden


def merge(
    uow: UnitOfWork,
    domain: str,
    golden_ids: Sequence[str],
    *,
    actor: str,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> MergeResult:
    """Merge the given goldens into the oldest of them."""
    ids = sorted(set(golden_ids))
    if len(ids) < 2:
        raise InvalidInput("a merge needs at least two distinct golden ids", details={"golden_ids": list(golden_ids)})
    locked = golden_service.lock_goldens(uow, set(ids))
    goldens = [_active(locked, gid, domain) for gid in ids]
    survivor = min(goldens, key=lambda g: (as_utc(g.created_at), g.id))
    absorbed = [g for g in goldens if g.id != survivor.id]
    cause = {"type": "merge", "actor": actor, "reason": reason, "survivor": survivor.id, "merged": [g.id for g in absorbed]}

    moved: list[int] = []
    for golden in absorbed:
        moved += [m.id or 0 for m in golden_service.members_of(uow, golden.id)]
        uow.session.execute(
            update(SourceRecord).where(SourceRecord.golden_id == golden.id).values(golden_id=survivor.id)
        )
        _move_overrides(uow, golden.id, survivor.id)
        # earlier merges into this golden now point straight at the survivor (one redirect hop)
        uow.session.execute(
            update(GoldenRecord).where(GoldenRecord.merged_into == golden.id).values(merged_into=survivor.id)
        )
        _retire_as_merged(uow, golden, survivor.id, cause, correlation_id)
    uow.session.flush()
    result = golden_service.recompute(uow, survivor, cause, correlation_id=correlation_id)
    return MergeResult(survivor.id, [g.id for g in absorbed], result.version, moved)


def _move_overrides(uow: UnitOfWork, from_id: str, to_id: str) -> None:
    """A pin on the absorbed golden survives the merge unless the survivor pins the same field."""
    kept = {o.field for o in uow.session.exec(select(GoldenOverride).where(GoldenOverride.golden_id == to_id)).all()}
    for override in uow.session.exec(select(GoldenOverride).where(GoldenOverride.golden_id == from_id)).all():
        if override.field not in kept:
            uow.session.add(
                GoldenOverride(
                    golden_id=to_id, field=override.field, value=override.value,
                    pinned_by=override.pinned_by, pinned_at=override.pinned_at,
                )
            )
        uow.session.delete(override)


def _retire_as_merged(
    uow: UnitOfWork, golden: GoldenRecord, survivor_id: str, cause: dict[str, Any], correlation_id: str | None
) -> None:
    golden.status = "merged"
    golden.merged_into = survivor_id
    golden_service.write_version(uow, golden, [], cause, "merged", correlation_id)


def split(
    uow: UnitOfWork,
    domain: str,
    golden_id: str,
    record_ids: Sequence[int],
    *,
    actor: str,
    reason: str | None = None,
    correlation_id: str | None = None,
) -> SplitResult:
    """Move ``record_ids`` (members of ``golden_id``) to a new golden record."""
    wanted = sorted({int(r) for r in record_ids})
    if not wanted:
        raise InvalidInput("name at least one member record to split off", details={"record_ids": list(record_ids)})
    locked = golden_service.lock_goldens(uow, {golden_id})
    golden = _active(locked, golden_id, domain)
    members = {m.id: m for m in golden_service.members_of(uow, golden.id)}
    strangers = [r for r in wanted if r not in members]
    if strangers:
        raise InvalidInput(
            "these records are not members of the golden record",
            details={"record_ids": strangers, "golden_id": golden_id},
        )
    if len(wanted) == len(members):
        raise InvalidInput(
            "a split must leave at least one member behind; merge the golden elsewhere instead",
            details={"golden_id": golden_id, "members": len(members)},
        )
    new = golden_service.new_golden(uow, domain)
    cause = {"type": "split", "actor": actor, "reason": reason, "from": golden.id, "to": new.id, "records": wanted}
    for record_id in wanted:
        record = members[record_id]
        record.golden_id = new.id
        record.match_status = "new"
        uow.session.add(record)
        # the steward said: not this golden — never auto-link back until the record changes
        uow.session.add(
            MatchLabel(
                domain=domain, source_record_id=record_id, golden_id=golden.id, is_match=False,
                record_hash=record.content_hash, snapshot={"record": record.prepared, "reason": reason}, decided_by=actor,
            )
        )
    uow.session.flush()
    golden_service.recompute(uow, golden, cause, correlation_id=correlation_id)
    golden_service.recompute(uow, new, cause, event_type="split", correlation_id=correlation_id)
    return SplitResult(golden.id, new.id, wanted)
