"""Resolve one source record: normalize → block → compare → decide → attach → survivorship.

This is the job every accepted change ends in. It is idempotent: a record whose current
content was already resolved (``resolved_hash == content_hash``) is left alone, so a job
that runs twice, or a sweep that races a slow worker, changes nothing.

Concurrency (PostgreSQL): the record row is locked first, then one transaction-scoped
advisory lock per blocking key (sorted), then the golden rows (sorted by id). Two records
that share a key therefore resolve one after the other, and the second sees the first's
golden: simultaneous duplicates never create two golden records. Every path takes locks in
that same order, so jobs do not deadlock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal, text, union_all, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import defer
from sqlmodel import select

from matching.engine import EXPLAINED_CANDIDATES
from mdm.db import UnitOfWork, mark_written, one_or_many, pg_array
from mdm.engines import match_engine
from mdm.models import (
    Batch,
    BatchItem,
    MatchKey,
    MatchLabel,
    ReviewItem,
    SourceRecord,
    utcnow,
)
from mdm.services import golden as golden_service
from mdm.services.bridging import merge_bridged

log = logging.getLogger(__name__)

#: A blocking key shared by more live records than this is skipped and reported: comparing
#: a record with thousands of others is slow and says nothing (think "email:info@").
MAX_BLOCK_SIZE = 200
#: Members of one candidate golden compared at most (the newest ones).
MAX_MEMBERS_PER_GOLDEN = 50


@dataclass
class ResolveOutcome:
    record_id: int
    action: str
    golden_id: str | None
    changed_goldens: list[str] = field(default_factory=list)
    skipped: bool = False


def advisory_key(domain: str, key: str) -> int:
    """A stable signed 64-bit number for ``pg_advisory_xact_lock``."""
    digest = hashlib.blake2b(f"{domain}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_keys(uow: UnitOfWork, domain: str, keys: list[str]) -> None:
    lock_domain_keys(uow, [(domain, k) for k in keys])


def lock_domain_keys(uow: UnitOfWork, domain_keys: list[tuple[str, str]]) -> None:
    """Transaction-scoped advisory locks on these (domain, blocking key) pairs."""
    if uow.dialect != "postgresql" or not domain_keys:
        return  # SQLite serializes writers already
    # one round trip; the locks are taken in ascending order (ORDER BY inside the aggregate
    # input), the same order every resolve uses, so two resolves never deadlock on keys
    numbers = sorted({advisory_key(d, k) for d, k in domain_keys})
    uow.session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(CAST(:ks AS bigint[])) AS k ORDER BY 1) AS sorted_keys"),
        {"ks": pg_array(numbers)},
    )


def lock_record(uow: UnitOfWork, record_id: int, *, for_resolve: bool = False) -> SourceRecord | None:
    return lock_records(uow, [record_id], for_resolve=for_resolve).get(record_id)


def lock_records(uow: UnitOfWork, record_ids: Sequence[int], *, for_resolve: bool = False) -> dict[int, SourceRecord]:
    """Lock records in ascending id order (the first lock every resolve takes), refreshed."""
    query = (
        select(SourceRecord)
        .where(SourceRecord.id.in_(sorted(set(record_ids))))  # type: ignore[union-attr]
        .order_by(SourceRecord.id)  # type: ignore[arg-type]
        .with_for_update()
    )
    if for_resolve:
        # resolving reads neither the raw payload nor the previous explanation (it replaces it):
        # not decoding them saves time; an access would still load them
        query = query.options(defer(SourceRecord.raw), defer(SourceRecord.match_explanation))  # type: ignore[arg-type]
    return {row.id or 0: row for row in uow.session.exec(query.execution_options(populate_existing=True))}


def _oversized_keys(uow: UnitOfWork, domain: str, keys: list[str]) -> set[str]:
    """Keys whose block exceeds :data:`MAX_BLOCK_SIZE`, found with one bounded statement."""
    if not keys:
        return set()
    parts = []
    for key in keys:
        limited = (
            sa_select(MatchKey.source_record_id)
            .where(MatchKey.domain == domain, MatchKey.key == key)
            .limit(MAX_BLOCK_SIZE + 1)
            .subquery()
        )
        parts.append(sa_select(literal(key).label("key"), func.count().label("n")).select_from(limited))
    rows = uow.session.execute(union_all(*parts)).all()
    return {row.key for row in rows if row.n > MAX_BLOCK_SIZE}


def candidate_members(uow: UnitOfWork, record: SourceRecord, keys: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Members of every golden that shares a usable blocking key with ``record`` (index probes only)."""
    if not keys:
        return {}
    record_ids = sa_select(MatchKey.source_record_id).where(MatchKey.domain == record.domain, MatchKey.key.in_(keys))  # type: ignore[attr-defined]
    golden_ids = [
        gid
        for gid in uow.session.execute(
            sa_select(SourceRecord.golden_id)
            .where(
                SourceRecord.id.in_(record_ids),  # type: ignore[union-attr]
                SourceRecord.id != record.id,
                SourceRecord.golden_id.is_not(None),  # type: ignore[union-attr]
                SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
            )
            .distinct()
        ).scalars()
    ]
    if not golden_ids:
        return {}
    members: dict[str, list[dict[str, Any]]] = {}
    # only the columns matching needs: decoding every member's raw payload costs more than scoring it
    rows = uow.session.execute(
        sa_select(SourceRecord.golden_id, SourceRecord.prepared)
        .where(
            SourceRecord.golden_id.in_(golden_ids),  # type: ignore[union-attr]
            SourceRecord.id != record.id,
            SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
            SourceRecord.prepared.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(SourceRecord.golden_id, SourceRecord.id.desc())  # type: ignore[union-attr]
    ).all()
    for golden_id, prepared in rows:
        bucket = members.setdefault(golden_id or "", [])
        if len(bucket) < MAX_MEMBERS_PER_GOLDEN:
            bucket.append(prepared)
    return members


#: PostgreSQL: oversized keys, steward exclusions and candidate members in ONE round trip. The
#: text is constant (keys travel as an array), so psycopg prepares it after a few executions.
#: Rows: (0, oversized key), (1, excluded golden), (2, golden id, member id, prepared), ordered
#: like :func:`candidate_members` (golden id, newest member first). Same filters as
#: :func:`_oversized_keys`, :func:`candidate_members` and :func:`excluded_goldens`.
#: The key probe is a LATERAL subquery with a LIMIT (a no-op: usable blocks hold at most
#: MAX_BLOCK_SIZE records) so the planner cannot flatten it into a join: psycopg prepares this
#: statement, and a generic plan made while ``match_key`` was small (a fresh hub, or no ANALYZE
#: yet) scanned the whole domain's keys for every resolve — 40 ms at 9,000 records and growing.
_PG_LOOKUP = text(f"""
WITH k AS (SELECT DISTINCT unnest(CAST(:keys AS varchar[])) AS key),
sizes AS MATERIALIZED (
    SELECT k.key, (SELECT count(*) FROM (SELECT 1 FROM match_key m
                   WHERE m.domain = :domain AND m.key = k.key LIMIT {MAX_BLOCK_SIZE + 1}) AS l) AS n
    FROM k),
g AS (
    SELECT DISTINCT sr.golden_id
    FROM sizes s
    CROSS JOIN LATERAL (SELECT m.source_record_id FROM match_key m
                        WHERE m.domain = :domain AND m.key = s.key LIMIT {MAX_BLOCK_SIZE + 1}) AS m
    JOIN source_record sr ON sr.id = m.source_record_id
    WHERE s.n <= {MAX_BLOCK_SIZE} AND sr.id <> :rid AND sr.golden_id IS NOT NULL AND sr.deleted IS false)
SELECT 0 AS kind, s.key AS value, CAST(NULL AS bigint) AS member_id, CAST(NULL AS jsonb) AS prepared
  FROM sizes s WHERE s.n > {MAX_BLOCK_SIZE}
UNION ALL
SELECT 1, ml.golden_id, NULL, NULL FROM match_label ml
 WHERE ml.source_record_id = :rid AND ml.is_match IS false AND ml.record_hash = :hash
UNION ALL
SELECT 2, sr.golden_id, sr.id, sr.prepared FROM source_record sr
 WHERE sr.golden_id IN (SELECT golden_id FROM g) AND sr.id <> :rid AND sr.deleted IS false
   AND sr.prepared IS NOT NULL
ORDER BY 1, 2, 3 DESC
""")


def lookup_candidates(
    uow: UnitOfWork, record: SourceRecord, keys: list[str]
) -> tuple[set[str], dict[str, list[dict[str, Any]]], frozenset[str]]:
    """(oversized keys, candidate members by golden, excluded goldens) for ``record``.

    One statement on PostgreSQL; elsewhere :func:`_oversized_keys`, :func:`candidate_members`
    and :func:`excluded_goldens` (same results). Call it after :func:`lock_keys`: the statement's
    snapshot must be taken once the key locks are held.
    """
    if uow.dialect != "postgresql":
        oversized = _oversized_keys(uow, record.domain, keys)
        candidates = candidate_members(uow, record, [k for k in keys if k not in oversized])
        return oversized, candidates, excluded_goldens(uow, record)
    oversized: set[str] = set()
    excluded: set[str] = set()
    members: dict[str, list[dict[str, Any]]] = {}
    rows = uow.session.execute(
        _PG_LOOKUP, {"keys": pg_array(keys), "domain": record.domain, "rid": record.id, "hash": record.content_hash}
    ).all()
    for kind, value, _member_id, prepared in rows:
        if kind == 0:
            oversized.add(value)
        elif kind == 1:
            excluded.add(value)
        else:
            bucket = members.setdefault(value or "", [])
            if len(bucket) < MAX_MEMBERS_PER_GOLDEN:
                bucket.append(prepared)
    return oversized, members, frozenset(excluded)


def excluded_goldens(uow: UnitOfWork, record: SourceRecord) -> frozenset[str]:
    """Goldens a steward said this record is not part of, while the record is unchanged."""
    return frozenset(
        uow.session.exec(
            select(MatchLabel.golden_id).where(
                MatchLabel.source_record_id == record.id,
                MatchLabel.is_match.is_(False),  # type: ignore[attr-defined]
                MatchLabel.record_hash == record.content_hash,
            )
        ).all()
    )


def replace_keys(uow: UnitOfWork, record: SourceRecord, keys: list[str]) -> None:
    table = MatchKey.__table__  # type: ignore[attr-defined]
    uow.session.execute(delete(table).where(table.c.source_record_id == record.id))
    if keys:
        uow.session.execute(
            insert(table), [{"domain": record.domain, "key": k, "source_record_id": record.id} for k in keys]
        )


def _sole_member(uow: UnitOfWork, record: SourceRecord) -> bool:
    others = uow.session.execute(
        sa_select(func.count())
        .select_from(SourceRecord)
        .where(SourceRecord.golden_id == record.golden_id, SourceRecord.id != record.id, SourceRecord.deleted.is_(False))  # type: ignore[attr-defined]
    ).scalar_one()
    return others == 0


def resolve_one(uow: UnitOfWork, record_id: int, *, correlation_id: str | None = None) -> ResolveOutcome:
    """Resolve ``record_id`` inside ``uow`` (the caller commits)."""
    record = lock_record(uow, record_id, for_resolve=True)
    if record is None:
        return ResolveOutcome(record_id, "missing", None, skipped=True)
    if record.resolved_hash == record.content_hash and record.match_status not in ("pending",):
        return ResolveOutcome(record_id, record.match_status, record.golden_id, skipped=True)
    cause = {"type": "source_change", "record_id": record.id, "source": record.source, "source_id": record.source_id}
    if record.deleted:
        return _detach_deleted(uow, record, cause, correlation_id)

    if record.domain == "price":
        return _resolve_price(uow, record, cause, correlation_id)
    engine = match_engine(uow.session, record.domain)
    prepared = engine.prepare(record.fields)
    keys = sorted(set(engine.blocking_keys(prepared)))
    lock_keys(uow, record.domain, keys)
    oversized, candidates, excluded = lookup_candidates(uow, record, keys)
    from matching import PreparedRecord

    decision = engine.decide(
        prepared,
        {gid: [PreparedRecord.from_json(m or {}) for m in ms] for gid, ms in candidates.items()},
        excluded=excluded,
    )
    warnings = decision_warnings(record, prepared, decision, oversized)

    current = record.golden_id
    action = decision.action
    if action == "link" and decision.golden_id:
        target = decision.golden_id
    elif current and (action == "review" or _sole_member(uow, record)):
        target = current  # keep its golden (a provisional one while in review)
    else:
        target = None
    # goldens this record bridges into its target (Decision.merge_with) are locked with the
    # others, in the same id order, so the merge below takes no lock out of order
    bridged = [g for g in decision.merge_with if g != target] if action == "link" and target else []
    touched = {g for g in (current, target, *bridged) if g}
    locked = golden_service.lock_goldens(uow, touched)
    if target is not None and target not in locked:
        target = None  # the candidate golden vanished (merged away) since the lookup
    if target is not None and locked[target].status == "merged" and locked[target].merged_into:
        target = locked[target].merged_into
        locked.update(golden_service.lock_goldens(uow, {target}))
    if target is None:
        target_golden = golden_service.new_golden(uow, record.domain)
        locked[target_golden.id] = target_golden
        target = target_golden.id

    _write_resolution(uow, record, keys, resolution_values(prepared, decision, target, warnings, engine.model.version))
    if action == "review" and decision.golden_id:
        # approve = the record belongs to the candidate; reject = it does not (even when the
        # candidate is the record's current golden). Added after the old ones were closed above.
        uow.session.add(review_item(record, decision))
    uow.session.flush()

    changed = []
    for golden_id in sorted(touched | {target}):
        result = golden_service.recompute(uow, locked[golden_id], cause, correlation_id=correlation_id)
        if result.changed:
            changed.append(golden_id)
    if bridged and target is not None:
        outcome = merge_bridged(uow, record.domain, target, bridged, locked, record_id=record.id or 0,
                                correlation_id=correlation_id)
        record.match_explanation = {**record.match_explanation, "merged": outcome.merged, "merge_skipped": outcome.skipped}
        uow.session.add(record)
        target = outcome.survivor_id
        changed = sorted({*changed, target, *outcome.merged}) if outcome.merged else changed
    return ResolveOutcome(record.id or 0, action, target, changed)


def decision_warnings(record: SourceRecord, prepared: Any, decision: Any, oversized: set[str]) -> list[str]:
    """The warnings stored on a resolved record: preparation's, the decision's, skipped blocks."""
    warnings = list(prepared.warnings) + list(decision.warnings)
    warnings += [f"blocking key {k!r} skipped: shared by more than {MAX_BLOCK_SIZE} records" for k in sorted(oversized)]
    if oversized:
        log.warning("oversized blocks skipped", extra={"keys": sorted(oversized), "record_id": record.id})
    return warnings


def resolution_values(prepared: Any, decision: Any, target: str, warnings: list[str], model_version: str) -> dict[str, Any]:
    """The match columns a fuzzy resolution stores on the record (see :func:`_write_resolution`)."""
    return {
        "prepared": prepared.to_json(),
        "golden_id": target,
        "match_status": {"link": "linked", "review": "review"}.get(decision.action, "new"),
        "match_probability": decision.probability,
        "match_explanation": {
            **(decision.explanation or {}),
            "action": decision.action,
            "candidates": [c.to_json() for c in decision.ranked[:EXPLAINED_CANDIDATES]],
            "warnings": warnings,
            "decided_at": utcnow().isoformat(),
        },
        "model_version": model_version,
        "warnings": warnings or None,
    }


def review_item(record: SourceRecord, decision: Any) -> ReviewItem:
    """The steward task for a record whose best candidate scored between the thresholds."""
    return ReviewItem(
        domain=record.domain,
        source_record_id=record.id or 0,
        candidate_golden_id=decision.golden_id,
        probability=decision.probability,
        explanation=decision.explanation,
    )


def _product_golden_id(uow: UnitOfWork, record: SourceRecord) -> str | None:
    """A price names the product by the *source's* id; the cross-reference gives its golden."""
    product_ref = str(record.fields.get("product") or "")
    return uow.session.exec(
        select(SourceRecord.golden_id).where(
            SourceRecord.source == record.source,
            SourceRecord.domain == "product",
            SourceRecord.source_id == product_ref,
        )
    ).first()


def _resolve_price(uow: UnitOfWork, record: SourceRecord, cause: dict[str, Any], correlation_id: str | None) -> ResolveOutcome:
    """Prices are keyed, not fuzzy: (price list, product golden, currency, min quantity, valid from).

    A price whose product is not resolved yet is keyed on the source's product id and
    flagged; it is re-keyed when the price changes or ``mdm rematch`` runs.
    """
    from matching.prices import price_key

    product_golden = _product_golden_id(uow, record)
    warnings = [] if product_golden else [f"product {record.fields.get('product')!r} is not known yet from {record.source!r}"]
    parts = price_key(record.fields, product_golden or f"unresolved:{record.source}:{record.fields.get('product')}")
    key = ("price:" + "|".join(str(part) for part in parts))[:200]
    # the series (everything but valid_from) is indexed too, to find overlapping periods
    series_key = ("price_series:" + "|".join(str(part) for part in parts[:4]))[:200]
    lock_keys(uow, record.domain, [key])
    others = candidate_members(uow, record, [key])
    current = record.golden_id
    target = next(iter(sorted(others)), None) or current
    touched = {g for g in (current, target) if g}
    locked = golden_service.lock_goldens(uow, touched)
    if target is None or target not in locked:
        golden = golden_service.new_golden(uow, record.domain)
        locked[golden.id] = golden
        target = golden.id
    conflicts = _price_conflicts(uow, record, series_key, parts)
    warnings += [
        f"validity overlaps price record {c['other_record_id']} from {c['overlap_from']} to {c['overlap_to']}" for c in conflicts
    ]
    _write_resolution(uow, record, [key, series_key], {
        "prepared": {"values": {"price_key": key, "product_golden_id": product_golden}, "flags": {}, "warnings": warnings},
        "golden_id": target,
        "match_status": "linked" if others else "new",
        "match_probability": 1.0 if others else None,
        "match_explanation": {
            "action": "link" if others else "new",
            "keyed_on": key,
            "conflicts": conflicts,
            "warnings": warnings,
            "decided_at": utcnow().isoformat(),
        },
        "model_version": "price-key-1",
        "warnings": warnings or None,
    })
    changed = [g for g in sorted(touched | {target}) if golden_service.recompute(uow, locked[g], cause, correlation_id=correlation_id).changed]
    return ResolveOutcome(record.id or 0, "link" if others else "new", target, changed)


def _price_conflicts(uow: UnitOfWork, record: SourceRecord, series_key: str, parts: tuple[str, ...]) -> list[dict[str, Any]]:
    """Other live prices of the same series (list, product, currency, min quantity) whose
    validity period overlaps this one's: the ERP would not know which applies, so the
    conflict is reported on the record for a steward (found by an index probe on the series)."""
    from matching.prices import find_overlaps, price_key

    rows = uow.session.execute(
        sa_select(SourceRecord.id, SourceRecord.fields, SourceRecord.prepared)
        .join(MatchKey, MatchKey.source_record_id == SourceRecord.id)
        .where(
            MatchKey.domain == "price", MatchKey.key == series_key,
            SourceRecord.id != record.id, SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
        )
        .limit(MAX_BLOCK_SIZE)
    ).all()
    if not rows:
        return []
    periods = [{"id": record.id, "key": parts, "valid_to": record.fields.get("valid_to")}]
    for other_id, fields, prepared in rows:
        product = ((prepared or {}).get("values") or {}).get("product_golden_id") or parts[1]
        periods.append({"id": other_id, "key": price_key(fields, product), "valid_to": fields.get("valid_to")})
    return [
        {"other_record_id": c["ids"][1] if c["ids"][0] == record.id else c["ids"][0], "overlap_from": c["overlap_from"], "overlap_to": c["overlap_to"]}
        for c in find_overlaps(periods)
        if record.id in c["ids"]
    ]


_SR = SourceRecord.__table__.c  # type: ignore[attr-defined]
_RI = ReviewItem.__table__.c  # type: ignore[attr-defined]
_BI, _B = BatchItem.__table__, Batch.__table__  # type: ignore[attr-defined]

#: PostgreSQL: everything a resolution writes about the record itself, in ONE statement with
#: constant text (prepared by psycopg): the record's match columns, its open reviews closed
#: (superseded), its blocking keys set to the new ones, its pending batch items done and their batches
#: closed when nothing else is pending. All parts see the statement's snapshot, so the batch
#: test leaves out this record's own items (they are being marked done in the same statement),
#: and the keys are changed, not replaced: a key the record keeps is neither deleted nor
#: inserted again (a row deleted by this statement still holds its primary key for the insert).
#: The keys it holds are read once, by record id (an InitPlan), not tested key by key: a
#: per-key NOT EXISTS was planned, on tables without statistics, as a scan of the whole
#: domain's keys for each record (3.5 ms a record at 75,000 keys, growing with the table).
#: ``warnings`` keeps its stored value when it was and stays empty, as an ORM flush would.
_PG_RESOLVED = text("""
WITH sr AS (
    UPDATE source_record SET prepared = :prepared, golden_id = :golden_id, match_status = :match_status,
           match_probability = :match_probability, match_explanation = :match_explanation,
           model_version = :model_version,
           warnings = CASE WHEN :keep_warnings THEN warnings ELSE :warnings END,
           resolved_hash = :resolved_hash, resolved_at = :resolved_at, last_error = NULL
     WHERE id = :rid),
reviews AS (
    UPDATE review_item SET status = 'superseded', decided_at = :resolved_at
     WHERE source_record_id = :rid AND status = 'open'),
old_keys AS (
    DELETE FROM match_key WHERE source_record_id = :rid AND NOT (key = ANY(CAST(:keys AS varchar[])))),
new_keys AS (
    INSERT INTO match_key (domain, key, source_record_id)
    SELECT :domain, k.key, :rid FROM unnest(CAST(:keys AS varchar[])) WITH ORDINALITY AS k(key, n)
     WHERE k.key <> ALL (ARRAY(SELECT m.key FROM match_key m WHERE m.source_record_id = :rid))
     ORDER BY k.n)
UPDATE batch_item SET status = 'done' WHERE source_record_id = :rid AND status = 'pending'
""").bindparams(
    *(bindparam(c, type_=_SR[c].type) for c in (
        "prepared", "golden_id", "match_status", "match_probability", "match_explanation", "model_version",
        "warnings", "resolved_hash", "resolved_at")),
    bindparam("rid", type_=_SR.id.type), bindparam("domain", type_=_SR.domain.type),
)
_UPDATE_RECORD = update(SourceRecord.__table__).where(_SR.id == bindparam("rid"))  # type: ignore[attr-defined]


def _write_resolution(uow: UnitOfWork, record: SourceRecord, keys: list[str], values: dict[str, Any]) -> None:
    """Store a resolution: ``values`` (match columns) on the record, marked resolved; its open
    reviews superseded, its blocking keys replaced by ``keys``, its pending batch items done."""
    write_resolutions(uow, [(record, keys, values)])


def write_resolutions(uow: UnitOfWork, resolutions: list[tuple[SourceRecord, list[str], dict[str, Any]]]) -> None:
    """:func:`_write_resolution` for several records, in order: on PostgreSQL one statement each,
    sent as one executemany.

    Core statements, then the values are set on each record as its committed state: the ORM
    object stays current (the members query returns this same object) without another UPDATE
    at flush time.
    """
    now = utcnow()
    on_postgres = uow.dialect == "postgresql"
    stored, params = [], []
    for record, keys, given in resolutions:
        values = {**given, "resolved_hash": record.content_hash, "resolved_at": now, "last_error": None}
        keep_warnings = values["warnings"] is None and record.warnings is None
        if keep_warnings:
            del values["warnings"]  # unchanged: not written (as the ORM would not write it)
        stored.append((record, values))
        if on_postgres:
            params.append({**values, "warnings": values.get("warnings"), "keep_warnings": keep_warnings,
                           "rid": record.id, "domain": record.domain, "keys": pg_array(keys)})
    if on_postgres:
        if params:
            finished = uow.session.execute(_PG_RESOLVED, one_or_many(params)).rowcount
            if finished != 0:  # items marked done (or a driver that cannot tell): look for batches to close
                _close_batches_at_commit(uow, [p["rid"] for p in params], now)
    else:
        for (record, values), (_, keys, _given) in zip(stored, resolutions, strict=True):
            _write_record_steps(uow, record, keys, values)
    for record, values in stored:
        mark_written(record, values)


def _write_record_steps(uow: UnitOfWork, record: SourceRecord, keys: list[str], values: dict[str, Any]) -> None:
    """The writes of ``_PG_RESOLVED``, one Core statement each (SQLite, and deletions on both)."""
    _close_open_reviews(uow, record, values["resolved_at"])
    uow.session.execute(_UPDATE_RECORD, {**values, "rid": record.id})
    finish_batch_items(uow, [record.id or 0], "done", values["resolved_at"])
    replace_keys(uow, record, keys)


def _close_open_reviews(uow: UnitOfWork, record: SourceRecord, now: datetime | None = None) -> None:
    uow.session.execute(
        update(ReviewItem.__table__)  # type: ignore[attr-defined]
        .where(_RI.source_record_id == record.id, _RI.status == "open")
        .values(status="superseded", decided_at=now or utcnow())
    )


def finish_batch_items(uow: UnitOfWork, record_ids: list[int], status: str, now: datetime | None = None) -> None:
    """Mark the pending batch items of these records; their batches with nothing pending left
    are closed just before the commit (:class:`_BatchesToClose`)."""
    marked = uow.session.execute(
        update(_BI).where(_BI.c.source_record_id.in_(record_ids), _BI.c.status == "pending").values(status=status)
    ).rowcount
    if marked:
        _close_batches_at_commit(uow, record_ids, now or utcnow())


def _close_batches_at_commit(uow: UnitOfWork, record_ids: Iterable[int], now: datetime) -> None:
    """Have the transaction's :class:`_BatchesToClose` look at these records' batches."""
    closing = uow.before_commit(_BatchesToClose, lambda: _BatchesToClose(uow))
    closing.record_ids.update(record_ids)
    closing.now = now


#: PostgreSQL: lock the open batches of the records' items, ascending id. Driven by the record
#: ids, every step an index probe: the records' items (``ix_batch_item_record``, a subquery per
#: id), then each batch by its primary key, locked in the sorted order of the outer loop. The
#: obvious ``batch.id IN (SELECT batch_id FROM batch_item WHERE source_record_id IN (…)) AND
#: finished_at IS NULL`` was planned, without statistics, from the open batches (the partial
#: index ``ix_batch_open``, estimated at two rows) with a scan of each one's items: 52–90 ms a
#: group, half of PostgreSQL's time, while a client had hundreds of batches open
#: (docs/benchmarks-speed.md, run 19). ``(finished_at IS NULL) IS TRUE`` means the same, but the
#: planner does not match it to that index's predicate (a plain ``IS NULL`` walked the index once
#: per batch again), so finished batches are left out before the lock, by primary key. A batch
#: closed by another transaction while this one waited for its lock is left out too (the
#: filter is checked again on the row it locks).
_PG_LOCK_OPEN_BATCHES = text("""
SELECT l.id
FROM (SELECT DISTINCT i.batch_id
        FROM unnest(CAST(:ids AS bigint[])) AS r(id)
        CROSS JOIN LATERAL unnest(ARRAY(SELECT bi.batch_id FROM batch_item bi WHERE bi.source_record_id = r.id)) AS i(batch_id)
       ORDER BY 1) AS mine
CROSS JOIN LATERAL (SELECT b.id FROM batch b WHERE b.id = mine.batch_id AND (b.finished_at IS NULL) IS TRUE FOR UPDATE) AS l
""")

#: PostgreSQL: close those of the batches locked above (open, and ours until commit) with no
#: pending item left — in a statement of its own, whose snapshot sees every transaction that held
#: the lock before. Constant text, so psycopg prepares it: built with SQLAlchemy per call, it
#: cost more Python than its execution (run 19). No ``finished_at`` test: they are open, and held.
_PG_CLOSE_LOCKED_BATCHES = text("""
UPDATE batch b SET finished_at = :now
 WHERE b.id = ANY(CAST(:ids AS varchar[]))
   AND NOT EXISTS (SELECT 1 FROM batch_item bi WHERE bi.batch_id = b.id AND bi.status = 'pending')
""").bindparams(bindparam("now", type_=_B.c.finished_at.type))


@dataclass
class _BatchesToClose:
    """Close, as the transaction's last statements, the open batches of the items it finished
    that have no pending item left.

    Why at the end, and locked: two workers finishing a batch's last items at the same moment
    each saw the other's item still pending (an uncommitted update is invisible), so neither
    closed the batch, which stayed open until the sweep found it — a client polling the batch,
    and the streaming benchmark, waited for that. Here each transaction first locks the open
    batches (ascending id: no deadlock between two), then checks them in a new statement, whose
    snapshot sees every transaction that held the lock before: the last one to take it closes
    the batch. The locks come last, so they are held only through the commit.
    """

    uow: UnitOfWork
    record_ids: set[int] = field(default_factory=set)  # whose items the transaction finished
    now: datetime | None = None

    def __call__(self) -> None:
        session, now = self.uow.session, self.now or utcnow()
        if self.uow.dialect == "postgresql":  # SQLite serializes writers: nothing to lock
            locked = list(session.execute(_PG_LOCK_OPEN_BATCHES, {"ids": pg_array(sorted(self.record_ids))}).scalars())
            if locked:
                session.execute(_PG_CLOSE_LOCKED_BATCHES, {"ids": pg_array(locked), "now": now})
            return
        mine = _B.c.id.in_(sa_select(_BI.c.batch_id).where(_BI.c.source_record_id.in_(sorted(self.record_ids))))
        still_pending = sa_select(_BI.c.batch_id).where(_BI.c.batch_id == _B.c.id, _BI.c.status == "pending").exists()
        session.execute(update(_B).where(mine, _B.c.finished_at.is_(None), ~still_pending).values(finished_at=now))


def _detach_deleted(uow: UnitOfWork, record: SourceRecord, cause: dict[str, Any], correlation_id: str | None) -> ResolveOutcome:
    """A deletion detaches the record from its golden and recomputes that golden."""
    old = record.golden_id
    locked = golden_service.lock_goldens(uow, {old} if old else set())
    values = {"golden_id": None, "match_status": "deleted", "resolved_hash": record.content_hash,
              "resolved_at": utcnow(), "last_error": None}
    _write_record_steps(uow, record, [], values)
    mark_written(record, values)
    changed = []
    if old and old in locked and golden_service.recompute(uow, locked[old], cause, correlation_id=correlation_id).changed:
        changed.append(old)
    return ResolveOutcome(record.id or 0, "deleted", None, changed)
