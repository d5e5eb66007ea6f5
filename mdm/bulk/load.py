"""``mdm load --bulk``: an initial load of a whole file into an empty domain, set-based.

Why a separate path: ``mdm load`` stores rows and then resolves them one transaction per record
(about 19 statements each), which is right for a stream of changes and far too slow for a
nightly full extract or a first load of millions of records. Into an *empty* domain every
decision depends only on the file itself, so the work can be done the way Splink does it:

1. stream the file in chunks (``mdm.loader.read_rows``, same reject file and format), map and
   validate each row (``ingest.canonicalize``), prepare it (``MatchEngine.prepare``) and compute
   its blocking keys; only compact per-record state is kept, never the file;
2. generate candidate pairs set-wise (pandas group-by on the key, blocks capped exactly like the
   real-time path), score them column-wise (``MatchEngine.score_frame``);
3. replay the real-time decisions once, in file order (:mod:`mdm.bulk.cluster`);
4. run survivorship per cluster, assign account numbers, and write ``source_record``,
   ``match_key``, ``golden_record``, ``golden_version``, ``review_item`` and ``outbox_event``
   with COPY (PostgreSQL) or ``executemany`` (SQLite) — **in one transaction**. An interrupted
   load leaves nothing behind; resuming is re-running the same command.

A domain that already holds records is not "empty": the caller falls back to the normal path
(decisions against stored goldens need the per-record locks of ``resolve_one``).

Differences from the real-time path, on purpose (see docs/benchmarks-speed.md):
- each golden gets one version (1, ``created``) and one outbox event with all its members,
  not one version per arriving member — the intermediate states were never committed;
- goldens that a bridging record would merge are never created (no ``merged`` tombstones);
- an ERP account number present from the start is used without burning a hub number first;
- the same source id twice in a file: the later line wins (unless older — then it is stale),
  resolved once at the position of its first line.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import text

from matching import MatchEngine, PreparedRecord
from mdm.bulk.cluster import Clustering, cluster_records, explain, resolved_cluster
from mdm.db import UnitOfWork
from mdm.engines import match_engine, survivorship_engine
from mdm.errors import InvalidInput
from mdm.loader import RejectFile, read_rows
from mdm.models import (
    GoldenRecord,
    GoldenVersion,
    MatchKey,
    OutboxEvent,
    ReviewItem,
    SourceRecord,
    as_utc,
    utcnow,
)
from mdm.services.golden import golden_payload
from mdm.services.ingest import Change, canonicalize, check_domain, content_hash, get_source
from mdm.settings import Settings
from mdm.source_mapping import normalize_source_id
from survivorship import Member

log = logging.getLogger(__name__)

#: Rows read, mapped and prepared per chunk (the file is never held whole).
CHUNK_ROWS = 10_000
BULK_DOMAINS = ("customer", "product")


class NotEmpty(RuntimeError):
    """The domain already holds source or golden records: use the normal (streaming) path."""


@dataclass
class _Rec:
    line: int
    source_id: str
    object_type: str
    raw: dict[str, Any]
    fields: dict[str, Any]
    digest: str
    updated_at: datetime
    deleted: bool
    prepared: PreparedRecord
    keys: list[str]


@dataclass
class BulkReport:
    """What the bulk load did, with timings per phase (seconds) for the benchmark."""

    total: int = 0
    stored: int = 0
    rejected: int = 0
    reject_file: str | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    goldens: int = 0
    pairs: int = 0
    on_demand_scores: int = 0
    oversized_keys: dict[str, int] = field(default_factory=dict)
    largest_blocks: list[tuple[str, int]] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total, "stored": self.stored, "rejected": self.rejected, "reject_file": self.reject_file,
            "outcomes": self.outcomes, "goldens": self.goldens, "pairs": self.pairs,
            "on_demand_scores": self.on_demand_scores, "actions": self.actions,
            "oversized_keys": len(self.oversized_keys), "largest_blocks": self.largest_blocks,
            "timings": {k: round(v, 3) for k, v in self.timings.items()}, "bulk": True,
        }


def domain_is_empty(uow: UnitOfWork, domain: str) -> bool:
    """No source record and no golden record of ``domain`` (two index probes)."""
    rec = uow.session.execute(sa_select(SourceRecord.id).where(SourceRecord.domain == domain).limit(1)).first()
    gold = uow.session.execute(sa_select(GoldenRecord.id).where(GoldenRecord.domain == domain).limit(1)).first()
    return rec is None and gold is None


def bulk_load(
    settings: Settings,
    path: Path,
    source: str,
    domain: str,
    *,
    progress: Any = None,
    correlation_id: str | None = None,
) -> BulkReport:
    """Load ``path`` into the empty ``domain`` in one transaction; raises :class:`NotEmpty` otherwise."""
    if domain not in BULK_DOMAINS:
        raise NotEmpty(f"the bulk path handles {', '.join(BULK_DOMAINS)}; {domain} records are keyed one by one")
    report = BulkReport()
    started = time.perf_counter()
    correlation_id = correlation_id or f"bulk:{path.name}"[:64]
    with UnitOfWork(settings) as uow:
        check_domain(domain)
        stored = get_source(uow, source)
        system = SimpleNamespace(name=stored.name, kind=stored.kind)  # outlives the session
        if not domain_is_empty(uow, domain):
            raise NotEmpty(f"the {domain} domain already holds records")
        engine = match_engine(uow.session, domain)
        uow.session.rollback()  # no read transaction held open while the file is prepared

    records = _read(path, system, domain, engine, report, progress)
    report.timings["read_prepare"] = time.perf_counter() - started

    mark = time.perf_counter()
    clustering = cluster_records(engine, [r.prepared for r in records], [r.keys for r in records],
                                 [r.deleted for r in records])
    report.timings["block_score_cluster"] = time.perf_counter() - mark
    report.pairs = clustering.stats.pairs
    report.on_demand_scores = clustering.on_demand_scores
    report.oversized_keys = clustering.stats.oversized
    report.largest_blocks = clustering.stats.largest_blocks
    for d in clustering.decisions:
        report.actions[d.action] = report.actions.get(d.action, 0) + 1
    if clustering.stats.oversized:
        log.warning("bulk load: %d oversized blocking keys skipped", len(clustering.stats.oversized))

    mark = time.perf_counter()
    with UnitOfWork(settings) as uow:
        _lock_domain(uow, domain)
        if not domain_is_empty(uow, domain):
            raise NotEmpty(f"the {domain} domain received records while the file was prepared; nothing was written")
        report.goldens = _write(uow, settings, source, domain, engine, records, clustering, correlation_id)
        if report.goldens:
            from mdm.publishing.trigger import after_outbox_write

            after_outbox_write(uow)
        uow.commit()
    report.timings["write"] = time.perf_counter() - mark
    report.stored = len(records)
    report.timings["total"] = time.perf_counter() - started
    return report


def _read(path: Path, system: Any, domain: str, engine: MatchEngine, report: BulkReport, progress: Any) -> list[_Rec]:
    """Stream, map, validate, prepare and key the file a chunk at a time; write the reject file."""
    rejects = RejectFile(path)
    reject = rejects.write
    records: list[_Rec] = []
    position: dict[str, int] = {}

    def count(outcome: str) -> None:
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1

    with rejects:
        for chunk in _chunks(read_rows(path), CHUNK_ROWS):
            for row in chunk:
                report.total += 1
                if row.change is None:
                    reject(row.line, row.error)
                    continue
                change = row.change
                source_id = normalize_source_id(system.kind, change.source_id)
                change = Change(source_id, change.fields, change.updated_at, change.deleted, change.object)
                try:
                    object_type, fields = canonicalize(system, domain, change)
                except InvalidInput as exc:
                    reject(row.line, exc.reason)
                    continue
                prepared = engine.prepare(fields) if not change.deleted else PreparedRecord(domain, {}, {}, [])
                rec = _Rec(row.line, source_id, object_type, change.fields, fields,
                           content_hash(object_type, fields, change.deleted), as_utc(change.updated_at),
                           change.deleted, prepared, [] if change.deleted else sorted(set(engine.blocking_keys(prepared))))
                seen = position.get(source_id)
                if seen is None:
                    position[source_id] = len(records)
                    records.append(rec)
                    count("accepted")
                elif rec.updated_at < records[seen].updated_at:
                    count("stale")
                else:
                    records[seen] = rec
                    count("replaced")
            if progress is not None:
                progress.update(len(chunk))
    report.rejected, report.reject_file = rejects.count, rejects.written
    return records


def _chunks(rows: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _lock_domain(uow: UnitOfWork, domain: str) -> None:
    """Block concurrent writers of source and golden records for the load's short write phase.

    On PostgreSQL a SHARE ROW EXCLUSIVE table lock (readers continue); SQLite has one writer.
    """
    if uow.dialect == "postgresql":
        uow.session.execute(text("LOCK TABLE source_record, golden_record IN SHARE ROW EXCLUSIVE MODE"))


def _reserve_ids(uow: UnitOfWork, table: str, n: int) -> list[int]:
    """``n`` fresh primary keys for ``table`` (sequence on PostgreSQL, max(id) under SQLite's write lock)."""
    if n == 0:
        return []
    if uow.dialect == "postgresql":
        rows = uow.session.execute(
            text(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, :n)"), {"n": n}
        ).scalars()
        return sorted(int(x) for x in rows)
    start = int(uow.session.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()) + 1
    return list(range(start, start + n))


def _account_sequence(uow: UnitOfWork, n: int) -> list[int]:
    """``n`` hub account-number sequence values, in one statement (see mdm.services.account_numbers)."""
    if n == 0:
        return []
    if uow.dialect == "postgresql":
        rows = uow.session.execute(text("SELECT nextval('account_number_seq') FROM generate_series(1, :n)"), {"n": n})
        return sorted(int(x) for x in rows.scalars())
    from mdm.models import Counter
    from mdm.services.account_numbers import COUNTER

    current = uow.session.execute(sa_select(Counter.value).where(Counter.name == COUNTER)).scalar()
    if current is None:
        uow.session.add(Counter(name=COUNTER, value=n))
        uow.session.flush()
        return list(range(1, n + 1))
    uow.session.execute(text("UPDATE counter SET value = value + :n WHERE name = :c"), {"n": n, "c": COUNTER})
    return list(range(int(current) + 1, int(current) + n + 1))


def _write(
    uow: UnitOfWork,
    settings: Settings,
    source: str,
    domain: str,
    engine: MatchEngine,
    records: Sequence[_Rec],
    clustering: Clustering,
    correlation_id: str,
) -> int:
    """Survivorship per cluster and every row of the load, with bulk inserts. Returns goldens written."""
    now = utcnow()
    ids = _reserve_ids(uow, "source_record", len(records))
    order = sorted(clustering.clusters)  # creation order = the first member's file position
    golden_ids = {c: str(uuid.uuid4()) for c in order}
    for gone, into in clustering.merged_away.items():
        golden_ids.setdefault(gone, golden_ids[resolved_cluster(clustering, into)])  # type: ignore[index]
    status_of = {"link": "linked", "review": "review", "new": "new", "deleted": "deleted"}

    # --- source records, keys, review items -----------------------------------------------
    source_rows: list[dict[str, Any]] = []
    key_rows: list[dict[str, Any]] = []
    review_rows: list[dict[str, Any]] = []
    lazy = _Lazy(records)
    for i, (rec, decision) in enumerate(zip(records, clustering.decisions, strict=True)):
        cluster = resolved_cluster(clustering, decision.cluster)
        warnings = list(rec.prepared.warnings) + list(decision.warnings)
        warnings += [f"blocking key {k!r} skipped: shared by more than 200 records"
                     for k in sorted(clustering.stats.skipped.get(i, ()))]
        explanation = None
        if decision.action != "deleted":
            explanation = explain(engine, decision, golden_ids, lazy, i, with_comparisons=decision.action in ("link", "review"))
            explanation = {**explanation, "warnings": warnings, "decided_at": now.isoformat()}
        if decision.action == "review" and decision.review_cluster is not None:
            review_rows.append({
                "domain": domain, "source_record_id": ids[i],
                "candidate_golden_id": golden_ids[resolved_cluster(clustering, decision.review_cluster)],  # type: ignore[index]
                "probability": decision.probability, "explanation": explanation, "status": "open", "created_at": now,
            })
        source_rows.append({
            "id": ids[i], "source": source, "domain": domain, "source_id": rec.source_id,
            "object_type": rec.object_type, "raw": rec.raw, "fields": rec.fields,
            "prepared": None if rec.deleted else rec.prepared.to_json(), "content_hash": rec.digest,
            "source_updated_at": rec.updated_at, "received_at": now, "deleted": rec.deleted,
            "golden_id": golden_ids[cluster] if cluster is not None else None,
            "match_status": status_of[decision.action], "match_probability": decision.probability,
            "match_explanation": explanation, "model_version": engine.model.version if not rec.deleted else None,
            "resolved_hash": rec.digest, "resolved_at": now, "enqueued_at": now, "job_id": None, "attempts": 0,
            "last_error": None, "warnings": warnings or None,
        })
        key_rows.extend({"domain": domain, "key": k, "source_record_id": ids[i]} for k in rec.keys)

    # --- goldens: survivorship, account numbers, versions, outbox ---------------------------
    surv, rules_hash = survivorship_engine(domain, settings.rules_dir)
    golden_rows: list[dict[str, Any]] = []
    built: list[tuple[int, dict[str, Any], dict[str, Any], list[int]]] = []
    for c in order:
        members = clustering.clusters[c]
        result = surv.build([
            Member(record_id=str(ids[m]), source=source, source_id=records[m].source_id, updated_at=records[m].updated_at,
                   fields=records[m].fields, invalid_fields=frozenset(records[m].prepared.flags))
            for m in members
        ], {}).to_json()
        built.append((c, result["fields"], result["lineage"], members))
    numbers = _account_numbers(uow, built) if domain == "customer" else {}
    version_rows: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    for c, fields, lineage, members in built:
        number, fields, lineage = numbers.get(c, (None, fields, lineage))
        approval = "pending_review" if any(clustering.decisions[m].action == "review" for m in members) else "approved"
        gid = golden_ids[c]
        # a plain namespace, not a GoldenRecord: building 100,000 SQLModel instances only to read
        # their attributes back cost ~6 % of the bulk load (profiled at 20,000 records)
        golden = SimpleNamespace(id=gid, domain=domain, status="active", approval=approval, fields=fields,
                                 version=1, account_number=number, merged_into=None, updated_at=now)
        refs = [SimpleNamespace(source=source, source_id=records[m].source_id) for m in members]
        golden_rows.append({"id": gid, "domain": domain, "status": "active", "merged_into": None, "approval": approval,
                            "fields": fields, "lineage": lineage, "version": 1, "account_number": number,
                            "rules_hash": rules_hash, "created_at": now, "updated_at": now})
        version_rows.append({"golden_id": gid, "version": 1, "status": "active", "fields": fields, "lineage": lineage,
                             "members": [{"record_id": ids[m], "source": source, "source_id": records[m].source_id}
                                         for m in members],
                             "cause": {"type": "bulk_load", "source": source, "correlation_id": correlation_id},
                             "correlation_id": correlation_id, "created_at": now})
        outbox_rows.append({"event_id": str(uuid.uuid4()), "golden_id": gid, "domain": domain, "golden_version": 1,
                            "type": "created", "payload": golden_payload(golden, refs),  # type: ignore[arg-type]
                            "correlation_id": correlation_id, "created_at": now})

    insert = _copy if uow.dialect == "postgresql" else _executemany
    insert(uow, GoldenRecord.__table__, golden_rows)  # type: ignore[attr-defined]
    insert(uow, SourceRecord.__table__, source_rows)  # type: ignore[attr-defined]
    insert(uow, MatchKey.__table__, key_rows)  # type: ignore[attr-defined]
    insert(uow, GoldenVersion.__table__, version_rows)  # type: ignore[attr-defined]
    insert(uow, ReviewItem.__table__, review_rows)  # type: ignore[attr-defined]
    insert(uow, OutboxEvent.__table__, outbox_rows)  # type: ignore[attr-defined]
    return len(golden_rows)


class _Lazy(Sequence[PreparedRecord]):
    """The prepared records as a sequence without copying the list per record."""

    def __init__(self, records: Sequence[_Rec]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, i: Any) -> Any:
        return self._records[i].prepared


def _account_numbers(
    uow: UnitOfWork, built: list[tuple[int, dict[str, Any], dict[str, Any], list[int]]]
) -> dict[int, tuple[str, dict[str, Any], dict[str, Any]]]:
    """The ERP's number when it sent one and no earlier golden holds it, else the hub's next one.

    Same rule and lineage as ``golden._with_account_number`` / ``account_numbers.assign``; the hub
    numbers are drawn in one statement.
    """
    from mdm.services.account_numbers import number_format, with_hub_number

    held: set[str] = set()
    plan: list[tuple[int, str | None, bool]] = []  # cluster, erp number, uses the erp number
    for c, fields, _, _ in built:
        erp = fields.get("account_number")
        erp = str(erp) if erp not in (None, "") else None
        ok = erp is not None and erp not in held
        if ok:
            held.add(erp)  # type: ignore[arg-type]
        plan.append((c, erp, ok))
    sequence = iter(_account_sequence(uow, sum(1 for _, _, ok in plan if not ok)))
    fmt = number_format()
    out: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    for (c, erp, ok), (_, fields, lineage, _) in zip(plan, built, strict=True):
        number = erp if ok else fmt.format(seq=next(sequence))
        if number != erp:
            warning = f"ERP account number {erp!r} is already held by another golden; kept {number!r}" if erp else None
            fields, lineage = with_hub_number(fields, lineage, number, erp, warning)
        out[c] = (number, fields, lineage)  # type: ignore[assignment]
    return out


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


def _copy(uow: UnitOfWork, table: Any, rows: list[dict[str, Any]]) -> None:
    """COPY rows into ``table`` on the unit of work's own connection (same transaction)."""
    if not rows:
        return
    columns = list(rows[0])
    json_cols = {c.name for c in table.columns if c.type.__class__.__name__ in ("JSON", "Variant")
                 or "JSON" in repr(c.type)}
    raw = uow.session.connection().connection.driver_connection
    convert: list[Callable[[Any], Any]] = [_json if c in json_cols else _same for c in columns]
    with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([f(row[c]) for f, c in zip(convert, columns, strict=True)])


def _same(value: Any) -> Any:
    return value


def _executemany(uow: UnitOfWork, table: Any, rows: list[dict[str, Any]]) -> None:
    """SQLite: one executemany per table (SQLAlchemy applies the column types)."""
    if rows:
        uow.session.execute(table.insert(), rows)


__all__ = ["BulkReport", "NotEmpty", "bulk_load", "domain_is_empty"]
