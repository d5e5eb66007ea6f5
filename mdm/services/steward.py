"""The stewards' review queue: list review items, approve or reject a proposed link.

A record in the review band keeps its own provisional golden and gets a :class:`ReviewItem`
naming the candidate golden (see :mod:`mdm.services.resolve`). A steward then decides:

* **approve** — the record belongs to the candidate. When the provisional golden holds only
  this record, the two goldens are merged with :func:`mdm.services.lifecycle.merge` (history,
  outbox and the 308 redirect of the absorbed id come with it); otherwise the record alone
  moves. A ``MatchLabel(is_match=True)`` keeps both sides' prepared values for training.
* **reject** — it does not. A ``MatchLabel(is_match=False)`` against the candidate excludes
  that golden from every later decision for this record until the record's content changes;
  the record stays where it is.

Locking follows the resolve path's order (record row, then the item, then the goldens in
id order), so a steward decision and a resolve job for the same record never deadlock: the
later one waits and then sees the other's result. Deciding twice is a 409, never a second
merge. An item whose record changed after it was opened is *superseded* (409): the change
is re-resolved and, if still ambiguous, opens a fresh item with a fresh explanation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import Conflict, InvalidInput, NotFound
from mdm.models import GoldenRecord, MatchLabel, ReviewItem, SourceRecord, utcnow
from mdm.services import golden as golden_service
from mdm.services import lifecycle
from mdm.services.ingest import check_domain
from mdm.services.queries import _iso, record_json
from mdm.services.resolve import lock_record

STATUSES = ("open", "approved", "rejected", "superseded")
MAX_PAGE = 200
#: Members of the candidate golden whose prepared values a label snapshot keeps (training pairs).
SNAPSHOT_MEMBERS = 20


@dataclass
class Decided:
    item_id: int
    status: str
    record_id: int
    golden_id: str | None
    merged: bool = False


# --- reading ---------------------------------------------------------------------------------


def _candidates_json(uow: UnitOfWork, golden_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each candidate golden as review items show it (the golden it now lives on, its members), by id.

    For a page of items at once: the goldens together with the ones they were merged into in one
    statement (:func:`mdm.services.golden.survivors_of`), their live members counted in another.
    Why: read item by item (``survivor_of``, then a count per item), a page of 50 sent about 100
    statements (102 for a page of 50 open items at 100,000 records / 70,000 goldens / 25,000
    items, 42-46 ms a page); a page now costs four statements whatever its size (the items,
    their records, the goldens, the counts; 8-10 ms), plus one per further hop of a redirect
    chain, which merges keep at one hop (:func:`mdm.services.lifecycle.merge` repoints older
    redirects to the survivor).
    """
    wanted = sorted(set(golden_ids))
    survivors = golden_service.survivors_of(uow, wanted)
    live = sorted({g.id for g in survivors.values() if g is not None})
    members: dict[str, int] = {}
    if live:
        # a count per golden row (a scalar subquery, an ix_source_record_golden probe each), not
        # "golden_id IN (...) GROUP BY golden_id": on tables never analyzed the custom plan of
        # that read every record (100,000 rows, 65-89 ms for a page of 50 candidates)
        count = (
            sa_select(func.count())
            .where(SourceRecord.golden_id == GoldenRecord.id, SourceRecord.deleted.is_(False))  # type: ignore[attr-defined]
            .correlate(GoldenRecord)
            .scalar_subquery()
        )
        members = {
            golden_id: int(n)
            for golden_id, n in uow.session.execute(
                sa_select(GoldenRecord.id, count).where(GoldenRecord.id.in_(live))  # type: ignore[attr-defined]
            ).all()
        }
    docs: dict[str, dict[str, Any]] = {}
    for golden_id in wanted:
        golden = survivors[golden_id]
        if golden is None:
            docs[golden_id] = {"golden_id": golden_id, "current_id": None, "status": "missing", "fields": {}}
            continue
        docs[golden_id] = {
            "golden_id": golden_id,
            "current_id": golden.id,
            "status": golden.status,
            "approval": golden.approval,
            "version": golden.version,
            "fields": golden.fields,
            "members": members.get(golden.id, 0),
        }
    return docs


def item_json(
    uow: UnitOfWork, item: ReviewItem, record: SourceRecord | None = None, candidate: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One review item as the steward UI needs it: record, candidate now, score, frozen explanation.

    ``record`` and ``candidate`` (from :func:`_candidates_json`) are read here when not given.
    """
    record = record or uow.session.get(SourceRecord, item.source_record_id)
    changed = record is None or record.deleted or record.content_hash != record.resolved_hash
    if candidate is None:
        candidate = _candidates_json(uow, [item.candidate_golden_id])[item.candidate_golden_id]
    return {
        "id": item.id,
        "domain": item.domain,
        "status": item.status,
        "probability": item.probability,
        "created_at": _iso(item.created_at),
        "decided_at": _iso(item.decided_at),
        "decided_by": item.decided_by,
        "note": item.note,
        # the record changed after the item was opened: deciding it would judge stale content
        "record_changed": bool(item.status == "open" and changed),
        "record": record_json(record) if record is not None else None,
        "candidate": candidate,
        "explanation": item.explanation,
    }


def list_items(
    uow: UnitOfWork, domain: str, *, status: str = "open", limit: int = 50, after: int | None = None
) -> dict[str, Any]:
    """A page of the queue, oldest first, with a keyset cursor (``after`` = last item id seen).

    Item ids grow with creation, so paging by id is stable: deciding items between two pages
    never shifts or repeats the next page (an offset would).
    """
    check_domain(domain)
    if status not in (*STATUSES, "all"):
        raise InvalidInput(f"unknown status {status!r}", details={"status": status, "known": [*STATUSES, "all"]})
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", details={"limit": limit})
    query = select(ReviewItem).where(ReviewItem.domain == domain)
    if status != "all":
        query = query.where(ReviewItem.status == status)
    if after is not None:
        query = query.where(ReviewItem.id > after)  # type: ignore[operator]
    items = list(uow.session.exec(query.order_by(ReviewItem.id).limit(limit + 1)).all())  # type: ignore[arg-type]
    more = len(items) > limit
    items = items[:limit]
    record_ids = sorted({i.source_record_id for i in items})
    records = {
        r.id: r
        for r in uow.session.exec(select(SourceRecord).where(SourceRecord.id.in_(record_ids))).all()  # type: ignore[union-attr]
    } if record_ids else {}
    candidates = _candidates_json(uow, (i.candidate_golden_id for i in items))
    return {
        "domain": domain,
        "status": status,
        "items": [item_json(uow, i, records.get(i.source_record_id), candidates[i.candidate_golden_id]) for i in items],
        "next_after": items[-1].id if more and items else None,
    }


def get_item(uow: UnitOfWork, domain: str, item_id: int) -> dict[str, Any]:
    check_domain(domain)
    item = uow.session.get(ReviewItem, item_id)
    if item is None or item.domain != domain:
        raise NotFound(f"no {domain} review item {item_id}", details={"item_id": item_id})
    return item_json(uow, item)


# --- deciding --------------------------------------------------------------------------------


def _lock_item(uow: UnitOfWork, domain: str, item_id: int) -> tuple[ReviewItem, SourceRecord]:
    """Lock record, then item (the resolve path's order), and check the item can be decided."""
    check_domain(domain)
    peek = uow.session.get(ReviewItem, item_id)
    if peek is None or peek.domain != domain:
        raise NotFound(f"no {domain} review item {item_id}", details={"item_id": item_id})
    record = lock_record(uow, peek.source_record_id)
    item = uow.session.exec(
        select(ReviewItem).where(ReviewItem.id == item_id).with_for_update().execution_options(populate_existing=True)
    ).one()
    if item.status == "superseded":
        raise Conflict(
            "the record changed after this review item was opened; it was re-resolved "
            "(see the record's open_reviews for a current item, if it is still ambiguous)",
            details={"item_id": item_id, "status": item.status, "record_id": item.source_record_id},
            code="superseded",
        )
    if item.status != "open":
        raise Conflict(
            f"review item {item_id} was already {item.status}",
            details={"item_id": item_id, "status": item.status, "decided_by": item.decided_by,
                     "decided_at": _iso(item.decided_at)},
            code="already_decided",
        )
    if record is None or record.deleted:
        raise Conflict(
            "the record was deleted after this review item was opened",
            details={"item_id": item_id, "record_id": item.source_record_id},
            code="superseded",
        )
    if record.content_hash != record.resolved_hash:
        raise Conflict(
            "the record changed after this review item was opened and is being re-resolved; "
            "decide the item that re-resolution opens, if any",
            details={"item_id": item_id, "record_id": record.id, "match_status": record.match_status},
            code="superseded",
        )
    return item, record


def _claim(uow: UnitOfWork, item: ReviewItem, status: str, actor: str, note: str | None) -> None:
    """Conditional update: even without row locks (SQLite) only one decision can win."""
    now = utcnow()
    done = uow.session.execute(
        update(ReviewItem)
        .where(ReviewItem.id == item.id, ReviewItem.status == "open")
        .values(status=status, decided_at=now, decided_by=actor, note=note)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"review item {item.id} was decided concurrently", details={"item_id": item.id}, code="already_decided")
    item.status, item.decided_at, item.decided_by, item.note = status, now, actor, note


def _candidate(uow: UnitOfWork, item: ReviewItem) -> GoldenRecord:
    golden = golden_service.survivor_of(uow, item.candidate_golden_id)
    if golden is None or golden.status != "active":
        raise Conflict(
            "the candidate golden record no longer exists (it lost all its members)",
            details={"item_id": item.id, "candidate_golden_id": item.candidate_golden_id,
                     "status": golden.status if golden else None},
            code="candidate_gone",
        )
    return golden


def _snapshot(uow: UnitOfWork, item: ReviewItem, record: SourceRecord, golden: GoldenRecord, note: str | None) -> dict[str, Any]:
    """Both sides' prepared values as the steward saw them: a training pair that outlives later edits."""
    members = uow.session.execute(
        sa_select(SourceRecord.id, SourceRecord.prepared)
        .where(
            SourceRecord.golden_id == golden.id,
            SourceRecord.id != record.id,
            SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
            SourceRecord.prepared.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(SourceRecord.id.desc())  # type: ignore[union-attr]
        .limit(SNAPSHOT_MEMBERS)
    ).all()
    return {
        "item_id": item.id,
        "probability": item.probability,
        "model_version": (item.explanation or {}).get("model_version"),
        "candidate_golden_id": item.candidate_golden_id,
        "record": record.prepared,
        "golden": {"id": golden.id, "members": [{"record_id": rid, "prepared": p} for rid, p in members]},
        "note": note,
    }


def _steward_note(record: SourceRecord, item: ReviewItem, decision: str, actor: str, note: str | None) -> None:
    """Add the steward's decision beside the frozen explanation (the model's part is not touched)."""
    explanation = dict(record.match_explanation or {})
    explanation["steward_decision"] = {
        "item_id": item.id, "decision": decision, "candidate_golden_id": item.candidate_golden_id,
        "by": actor, "at": utcnow().isoformat(), "note": note,
    }
    record.match_explanation = explanation


def approve(uow: UnitOfWork, domain: str, item_id: int, *, actor: str, note: str | None = None,
            correlation_id: str | None = None) -> Decided:
    """The record belongs to the candidate golden (the caller commits)."""
    item, record = _lock_item(uow, domain, item_id)
    candidate = _candidate(uow, item)
    current = record.golden_id
    locked = golden_service.lock_goldens(uow, {g for g in (current, candidate.id) if g})
    if candidate.id not in locked or locked[candidate.id].status != "active":
        # merged or emptied between reading and locking it: let the steward look again
        raise Conflict("the candidate golden record changed concurrently; reload the item and retry",
                       details={"item_id": item.id, "candidate_golden_id": candidate.id}, code="candidate_changed")
    snapshot = _snapshot(uow, item, record, candidate, note)
    _claim(uow, item, "approved", actor, note)
    uow.session.add(
        MatchLabel(domain=domain, source_record_id=record.id or 0, golden_id=candidate.id, is_match=True,
                   record_hash=record.content_hash, snapshot=snapshot, decided_by=actor)
    )
    record.match_status = "linked"
    _steward_note(record, item, "approved", actor, note)
    uow.session.add(record)
    uow.session.flush()
    cause = {"type": "review_approved", "actor": actor, "item_id": item.id, "record_id": record.id, "note": note}
    reason = f"review item {item.id} approved" + (f": {note}" if note else "")
    if current == candidate.id:
        golden_service.recompute(uow, locked[candidate.id], cause, correlation_id=correlation_id)
        return Decided(item.id or 0, "approved", record.id or 0, candidate.id)
    others = 0
    if current is not None:
        others = uow.session.execute(
            sa_select(func.count()).select_from(SourceRecord).where(
                SourceRecord.golden_id == current, SourceRecord.id != record.id,
                SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
            )
        ).scalar_one()
    if current is not None and others == 0 and locked.get(current) is not None and locked[current].status == "active":
        # the provisional golden is just this record: merge it, so its id redirects to the survivor
        result = lifecycle.merge(uow, domain, [current, candidate.id], actor=actor, reason=reason,
                                 correlation_id=correlation_id)
        return Decided(item.id or 0, "approved", record.id or 0, result.survivor_id, merged=True)
    record.golden_id = candidate.id
    uow.session.add(record)
    uow.session.flush()
    for golden_id in sorted(g for g in (current, candidate.id) if g and g in locked):
        golden_service.recompute(uow, locked[golden_id], cause, correlation_id=correlation_id)
    return Decided(item.id or 0, "approved", record.id or 0, candidate.id)


def reject(uow: UnitOfWork, domain: str, item_id: int, *, actor: str, note: str | None = None,
           correlation_id: str | None = None) -> Decided:
    """The record is not the candidate: never auto-link them again while the record is unchanged."""
    item, record = _lock_item(uow, domain, item_id)
    candidate = _candidate(uow, item)
    current = record.golden_id
    snapshot = _snapshot(uow, item, record, candidate, note)
    _claim(uow, item, "rejected", actor, note)
    if current == candidate.id:
        # the record re-scored into the review band against its own golden: a "no" takes it out
        members = golden_service.members_of(uow, current)
        if len(members) > 1:
            result = lifecycle.split(uow, domain, current, [record.id or 0], actor=actor,
                                     reason=f"review item {item.id} rejected" + (f": {note}" if note else ""),
                                     correlation_id=correlation_id)
            label = uow.session.exec(
                select(MatchLabel).where(MatchLabel.source_record_id == record.id, MatchLabel.golden_id == current)
                .order_by(MatchLabel.id.desc())  # type: ignore[union-attr]
            ).first()
            if label is not None:
                label.snapshot = snapshot
                uow.session.add(label)
            record.match_status = "new"
            _steward_note(record, item, "rejected", actor, note)
            uow.session.add(record)
            uow.session.flush()
            return Decided(item.id or 0, "rejected", record.id or 0, result.new_golden_id)
    uow.session.add(
        MatchLabel(domain=domain, source_record_id=record.id or 0, golden_id=candidate.id, is_match=False,
                   record_hash=record.content_hash, snapshot=snapshot, decided_by=actor)
    )
    locked = golden_service.lock_goldens(uow, {current} if current else set())
    alone = current is None or uow.session.execute(
        sa_select(func.count()).select_from(SourceRecord).where(
            SourceRecord.golden_id == current, SourceRecord.id != record.id,
            SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
        )
    ).scalar_one() == 0
    # alone in its golden it is a new entity; in a golden with others it stays linked to them
    record.match_status = "new" if alone else "linked"
    _steward_note(record, item, "rejected", actor, note)
    uow.session.add(record)
    uow.session.flush()
    cause = {"type": "review_rejected", "actor": actor, "item_id": item.id, "record_id": record.id, "note": note}
    if current and current in locked:
        golden_service.recompute(uow, locked[current], cause, correlation_id=correlation_id)
    return Decided(item.id or 0, "rejected", record.id or 0, current)
