"""Resolve a job's records together: set-wise reads and locks, the same decisions as one by one.

Why: :func:`~mdm.services.resolve.resolve_one` costs ~8 SQL round trips per record, and profiles
of the streaming benchmark showed two thirds of a worker's time in psycopg and SQLAlchemy, not in
matching. Here the records of one group are locked with one statement, all their blocking keys
with one, their candidates (block sizes, records per key, members of every reachable golden,
steward exclusions) read with four; the decisions are then taken in memory, **in the job's
order**, each record seeing the records decided before it in the group exactly as it would have
seen them in the database (an overlay of their new golden, keys and prepared values on what was
read); the goldens they join are locked with one statement, and everything is written set-wise.

Only first resolutions of fuzzy-domain records are decided in memory (no golden yet, never
resolved, not deleted), and only decisions that attach to an active golden or create one. An
update, a record that bridges goldens (a merge) or a candidate golden merged away is resolved by
``resolve_one`` in the same transaction after the group's earlier writes, and the group goes on
with a fresh read. Deletions and prices are left to the caller, one transaction each. Locks
follow the global order of ``resolve_one``: records (ascending id), then blocking keys (one
sorted set for the whole group, so two groups never deadlock on keys), then the goldens joined
(ascending id, once decided — as ``resolve_one`` locks only the goldens it touches).

One difference, on purpose: a golden that several records of the same group join is recomputed
once, at the end of the group, so it gets one new version (and one outbox event) naming all of
them, where one-by-one resolution writes one version per record; decisions, golden membership,
review items and the stored explanations are the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import text

from matching import MatchEngine, PreparedRecord
from mdm.db import UnitOfWork, pg_array
from mdm.engines import FUZZY_DOMAINS, match_engine
from mdm.models import GoldenRecord, MatchKey, MatchLabel, ReviewItem, SourceRecord
from mdm.services import golden as golden_service
from mdm.services.resolve import (
    MAX_BLOCK_SIZE,
    MAX_MEMBERS_PER_GOLDEN,
    ResolveOutcome,
    decision_warnings,
    lock_domain_keys,
    lock_records,
    resolution_values,
    resolve_one,
    review_item,
    write_resolutions,
)


@dataclass
class _Planned:
    """A record of the group with its prepared values and blocking keys (computed once)."""

    record: SourceRecord
    engine: MatchEngine
    prepared: PreparedRecord
    keys: list[str]


@dataclass
class _View:
    """What the group's records can see: stored blocks and goldens, plus the group's own decisions."""

    block: dict[str, list[int]]  # key -> stored record ids (at most MAX_BLOCK_SIZE + 1)
    golden_of: dict[int, str]  # stored live record -> its golden
    members: dict[str, list[tuple[int, PreparedRecord]]]  # golden -> (record id, prepared), newest first
    excluded: dict[int, set[str]]  # group record -> goldens a steward said it is not part of
    added: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # key -> group records decided

    def candidates(self, planned: _Planned) -> tuple[set[str], dict[str, list[PreparedRecord]]]:
        """(oversized keys, members by candidate golden) exactly as ``lookup_candidates`` reads them."""
        rid = planned.record.id
        oversized, golden_ids = set(), set()
        for key in planned.keys:
            ids = self.block.get(key, []) + self.added.get(key, [])
            if len(ids) > MAX_BLOCK_SIZE:
                oversized.add(key)
                continue
            golden_ids.update(self.golden_of[i] for i in ids if i != rid and i in self.golden_of)
        members: dict[str, list[PreparedRecord]] = {}
        for gid in sorted(golden_ids):  # the lookup's ORDER BY golden id
            rows = [prepared for i, prepared in self.members.get(gid, []) if i != rid][:MAX_MEMBERS_PER_GOLDEN]
            if rows:
                members[gid] = rows
        return oversized, members

    def add(self, planned: _Planned, golden_id: str) -> None:
        """A decided group record becomes visible to the records after it."""
        rid = planned.record.id or 0
        self.golden_of[rid] = golden_id
        for key in planned.keys:
            self.added[key].append(rid)
        bucket = self.members.setdefault(golden_id, [])
        bucket.insert(next((i for i, m in enumerate(bucket) if m[0] < rid), len(bucket)), (rid, planned.prepared))


def resolve_group(
    uow: UnitOfWork, record_ids: Sequence[int], *, correlation_id: str | None = None
) -> tuple[list[ResolveOutcome], list[int]]:
    """Resolve the fuzzy-domain, live records of ``record_ids`` in this unit of work (the caller
    commits), in the given order. Returns their outcomes and the ids left for the caller to
    resolve one per transaction (deletions, prices, missing rows): those take golden and price
    key locks that cannot all be taken up front, and one transaction each keeps them deadlock-free.
    """
    record_ids = list(dict.fromkeys(record_ids))  # each record once, first position kept
    records = lock_records(uow, record_ids, for_resolve=True)
    mine = [rid for rid in record_ids if rid in records and records[rid].domain in FUZZY_DOMAINS and not records[rid].deleted]
    taken = set(mine)
    plans = {rid: _plan(uow, records[rid]) for rid in mine}
    # every key any of them can need, before any golden: resolve_one below re-takes its own (held)
    lock_domain_keys(uow, [(p.record.domain, k) for p in plans.values() for k in p.keys])
    fast = {rid for rid in mine if _first_resolution(records[rid])}
    outcomes: list[ResolveOutcome] = []
    while mine:
        run = []
        for rid in mine:
            if rid not in fast or records[rid].domain != records[mine[0]].domain:
                break
            run.append(plans[rid])
        done = _resolve_fast(uow, run, correlation_id) if run else []
        outcomes += done
        mine = mine[len(done):]
        if mine:
            # not decidable in memory: resolve_one after the writes so far, then a fresh read
            outcomes.append(resolve_one(uow, mine[0], correlation_id=correlation_id))
            mine = mine[1:]
    return outcomes, [rid for rid in record_ids if rid not in taken]


def _first_resolution(record: SourceRecord) -> bool:
    """Never resolved and attached to nothing: the case decided in memory."""
    return record.golden_id is None and record.resolved_hash is None and record.match_status == "pending"


def _plan(uow: UnitOfWork, record: SourceRecord) -> _Planned:
    engine = match_engine(uow.session, record.domain)
    prepared = engine.prepare(record.fields)
    return _Planned(record, engine, prepared, sorted(set(engine.blocking_keys(prepared))))


#: PostgreSQL: up to MAX_BLOCK_SIZE + 1 record ids per key (a LATERAL probe per key, see resolve._PG_LOOKUP)
_PG_BLOCKS = text(f"""
SELECT k.key, m.source_record_id
FROM (SELECT DISTINCT unnest(CAST(:keys AS varchar[])) AS key) AS k
CROSS JOIN LATERAL (SELECT m.source_record_id FROM match_key m
                    WHERE m.domain = :domain AND m.key = k.key LIMIT {MAX_BLOCK_SIZE + 1}) AS m
""")


def _read_view(uow: UnitOfWork, plans: list[_Planned]) -> _View:
    domain = plans[0].record.domain
    keys = sorted({k for p in plans for k in p.keys})
    block: dict[str, list[int]] = defaultdict(list)
    if uow.dialect == "postgresql":
        rows = uow.session.execute(_PG_BLOCKS, {"keys": pg_array(keys), "domain": domain}).all()
    else:
        rows = uow.session.execute(
            sa_select(MatchKey.key, MatchKey.source_record_id).where(MatchKey.domain == domain, MatchKey.key.in_(keys))  # type: ignore[attr-defined]
        ).all()
    for key, rid in rows:
        block[key].append(rid)
    usable = {rid for ids in block.values() if len(ids) <= MAX_BLOCK_SIZE for rid in ids}
    golden_of: dict[int, str] = {}
    if usable:
        golden_of = dict(uow.session.execute(
            sa_select(SourceRecord.id, SourceRecord.golden_id).where(
                SourceRecord.id.in_(sorted(usable)),  # type: ignore[union-attr]
                SourceRecord.golden_id.is_not(None),  # type: ignore[union-attr]
                SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
            )
        ).all())
    members: dict[str, list[tuple[int, PreparedRecord]]] = {}
    if golden_of:  # parsed once here, not each time a record of the group meets the golden
        for gid, rid, prepared in uow.session.execute(
            sa_select(SourceRecord.golden_id, SourceRecord.id, SourceRecord.prepared)
            .where(
                SourceRecord.golden_id.in_(sorted(set(golden_of.values()))),  # type: ignore[union-attr]
                SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
                SourceRecord.prepared.is_not(None),  # type: ignore[union-attr]
            )
            .order_by(SourceRecord.golden_id, SourceRecord.id.desc())  # type: ignore[union-attr]
        ).all():
            members.setdefault(gid, []).append((rid, PreparedRecord.from_json(prepared or {})))
    excluded: dict[int, set[str]] = defaultdict(set)
    hashes = {p.record.id: p.record.content_hash for p in plans}
    for rid, gid, record_hash in uow.session.execute(
        sa_select(MatchLabel.source_record_id, MatchLabel.golden_id, MatchLabel.record_hash).where(
            MatchLabel.source_record_id.in_(sorted(hashes)),  # type: ignore[attr-defined]
            MatchLabel.is_match.is_(False),  # type: ignore[attr-defined]
        )
    ).all():
        if hashes.get(rid) == record_hash:
            excluded[rid].add(gid)
    return _View(dict(block), golden_of, members, dict(excluded))


@dataclass
class _Decided:
    """One record decided in memory, with everything its resolution writes."""

    planned: _Planned
    action: str
    golden_id: str
    new_golden: GoldenRecord | None
    values: dict[str, Any]
    review: ReviewItem | None


def _resolve_fast(uow: UnitOfWork, plans: list[_Planned], correlation_id: str | None) -> list[ResolveOutcome]:
    """Decide ``plans`` (one domain) in order in memory; stop before the first one that needs
    ``resolve_one``.

    Like ``resolve_one``, the goldens are locked only once decided, and only those a record
    joins (not every candidate); a golden merged away or gone by then sends its record, and the
    ones after it, back to the caller. Returns the outcomes of the records decided (a prefix of
    ``plans``), all written.
    """
    view = _read_view(uow, plans)
    decided: list[_Decided] = []
    for planned in plans:
        record = planned.record
        oversized, candidates = view.candidates(planned)
        decision = planned.engine.decide(planned.prepared, candidates,
                                         excluded=frozenset(view.excluded.get(record.id or 0, ())))
        if decision.merge_with:
            break  # a bridge: resolve_one merges goldens
        linked = decision.action == "link" and decision.golden_id
        new_golden = None if linked else golden_service.blank_golden(record.domain)
        golden_id = decision.golden_id if linked else new_golden.id  # type: ignore[union-attr]
        warnings = decision_warnings(record, planned.prepared, decision, oversized)
        values = resolution_values(planned.prepared, decision, golden_id, warnings, planned.engine.model.version)
        review = review_item(record, decision) if decision.action == "review" and decision.golden_id else None
        view.add(planned, golden_id)
        decided.append(_Decided(planned, decision.action, golden_id, new_golden, values, review))
    created = {d.golden_id: d.new_golden for d in decided if d.new_golden is not None}
    locked = golden_service.lock_goldens(uow, {d.golden_id for d in decided} - set(created))
    for i, d in enumerate(decided):
        if d.golden_id not in created and (d.golden_id not in locked or locked[d.golden_id].status == "merged"):
            decided = decided[:i]  # vanished or merged away since the read: resolve_one follows merged_into
            break
    if not decided:
        return []
    causes: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in decided:
        record = d.planned.record
        causes[d.golden_id].append(
            {"type": "source_change", "record_id": record.id, "source": record.source, "source_id": record.source_id})
    # the writes resolve_one does per record, set-wise: goldens, then records, then reviews, then versions
    new_goldens = [d.new_golden for d in decided if d.new_golden is not None]
    goldens = {**locked, **{g.id: g for g in new_goldens}}
    golden_service.insert_goldens(uow, new_goldens)
    write_resolutions(uow, [(d.planned.record, d.planned.keys, d.values) for d in decided])
    uow.session.add_all([d.review for d in decided if d.review is not None])
    uow.session.flush()
    created_members: dict[str, list[SourceRecord]] = {g.id: [] for g in new_goldens}
    for d in decided:
        if d.golden_id in created_members:
            created_members[d.golden_id].append(d.planned.record)
    recomputed = golden_service.recompute_many(
        uow, [goldens[g] for g in causes], {g: _cause(c) for g, c in causes.items()}, correlation_id=correlation_id,
        created_members=created_members)
    return [ResolveOutcome(d.planned.record.id or 0, d.action, d.golden_id, [d.golden_id] if recomputed[d.golden_id].changed else [])
            for d in decided]


def _cause(causes: list[dict[str, Any]]) -> dict[str, Any]:
    """A version's cause: the record that changed the golden, or the last of several (all listed)."""
    if len(causes) == 1:
        return causes[0]
    return {**causes[-1], "record_ids": [c["record_id"] for c in causes]}
