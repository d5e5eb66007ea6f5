"""Act on ``Decision.merge_with``: a new record that bridges goldens which score as one cluster.

Records arrive in any order. Two heavily corrupted copies of one person can arrive first,
fail to link to each other and start two goldens; a third, clean copy then links to both.
``matching`` reports this as ``Decision.merge_with`` (other goldens that, together with the
record, score as one cluster with the chosen golden — cluster consistency, not a chain of
pairwise links). The resolve job merges them with :func:`mdm.services.lifecycle.merge`, in the
same transaction, unless a human said otherwise or is still deciding:

* never a golden a steward separated from another: a current "not a match" label between a
  member of one and the other (a split, a rejected review) blocks the pair;
* never a golden in review (a member in the review band, or an open review item proposing
  it): the steward's decision must not be pre-empted by an automatic merge;
* only active, approved goldens (not one awaiting onboarding approval).

Skipped merges are reported in the record's explanation, so a steward can merge by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func
from sqlalchemy import select as sa_select

from mdm.db import UnitOfWork
from mdm.models import GoldenRecord, MatchLabel, ReviewItem, SourceRecord
from mdm.services import lifecycle


@dataclass
class Bridged:
    survivor_id: str
    merged: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _separated(uow: UnitOfWork, a: str, b: str) -> bool:
    """A current steward "not a match" between a member of one golden and the other golden.

    Driven from the two goldens' live members (ix_source_record_golden), each probing
    ix_match_label_pair (source_record_id, golden_id) for a label against the other golden, as a
    scalar subquery with LIMIT 1 that the planner cannot turn into a join. Why: as a join of the
    labels with their records filtered by "(member of a, label on b) or (member of b, label on
    a)", nothing bounded the labels, and on tables never analyzed PostgreSQL read every label
    (a sequential scan of 19,252 rows, 2.2-3.5 ms at 100,000 records, custom and generic
    plans; or, with wider rows, every entry of ix_match_label_pair) per pair of goldens a
    bridging record asked about - growing with every steward decision. The work is now the two
    goldens' members.
    """
    label = (
        sa_select(MatchLabel.id)
        .where(
            MatchLabel.source_record_id == SourceRecord.id,
            # the other golden: members of a look for labels on b, members of b for labels on a
            MatchLabel.golden_id == case((SourceRecord.golden_id == a, b), else_=a),
            MatchLabel.is_match.is_(False),  # type: ignore[attr-defined]
            MatchLabel.record_hash == SourceRecord.content_hash,
        )
        .limit(1)
        .correlate(SourceRecord)
        .scalar_subquery()
    )
    hits = uow.session.execute(
        sa_select(func.count())
        .select_from(SourceRecord)
        .where(
            SourceRecord.golden_id.in_([a, b]),  # type: ignore[union-attr]
            SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
            label.is_not(None),
        )
    ).scalar_one()
    return hits > 0


def _in_review(uow: UnitOfWork, golden: GoldenRecord) -> bool:
    if golden.approval == "pending_review":
        return True
    open_items = uow.session.execute(
        sa_select(func.count()).select_from(ReviewItem).where(
            ReviewItem.candidate_golden_id == golden.id, ReviewItem.status == "open"
        )
    ).scalar_one()
    return open_items > 0


def merge_bridged(
    uow: UnitOfWork,
    domain: str,
    target: str,
    bridged: list[Any],
    locked: dict[str, GoldenRecord],
    *,
    record_id: int,
    correlation_id: str | None = None,
) -> Bridged:
    """Merge the eligible ``bridged`` goldens with ``target`` (all already locked by the caller)."""
    result = Bridged(target)
    head = locked.get(target)
    if head is None or head.status != "active":
        result.skipped = {str(g): "target golden is not active" for g in bridged}
        return result
    if _in_review(uow, head):
        result.skipped = {str(g): "target golden is in review" for g in bridged}
        return result
    accepted = [target]
    for golden_id in bridged:
        golden = locked.get(golden_id)
        if golden is None or golden.status != "active" or golden_id == target:
            result.skipped[str(golden_id)] = "no longer an active golden"
        elif golden.approval != "approved":
            result.skipped[str(golden_id)] = f"golden is {golden.approval}"
        elif _in_review(uow, golden):
            result.skipped[str(golden_id)] = "golden is in review"
        elif any(_separated(uow, golden_id, other) for other in accepted):
            result.skipped[str(golden_id)] = "a steward said these are not a match"
        else:
            accepted.append(golden_id)
    if len(accepted) > 1:
        merged = lifecycle.merge(
            uow, domain, accepted, actor="matching",
            reason=f"record {record_id} bridges these golden records (one cluster)", correlation_id=correlation_id,
        )
        result.survivor_id, result.merged = merged.survivor_id, merged.merged_ids
    return result
