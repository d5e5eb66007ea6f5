"""``mdm load --bulk``: an initial load of a whole file into an empty domain, set-based.

Why a separate path: ``mdm load`` stores rows and then resolves them one transaction per record
(8 SQL statements each on PostgreSQL), which is right for a stream of changes and far too slow for a
nightly full extract or a first load of millions of records. Into an *empty* domain every
decision depends only on the file itself, so the work can be done the way Splink does it:

1. stream the file in tasks of 2,000 lines to a forked process pool (:mod:`mdm.bulk.parallel`,
   ``MDM_BULK_WORKERS`` processes) that parses, maps and validates each row
   (``ingest.canonicalize``), prepares it (``MatchEngine.prepare``) and computes its blocking
   keys; this process keeps only compact per-record state and the reject file, never the file;
2. generate candidate pairs set-wise (pandas group-by on the key, blocks capped exactly like the
   real-time path), score them column-wise over record indices (``MatchEngine.score_indexed``, chunks on the pool);
3. replay the real-time decisions once, in file order (:mod:`mdm.bulk.cluster`), while the pool
   still scores: pairs are scored in the order the replay reads them;
4. on the pool again: survivorship per cluster and every row of ``golden_record``,
   ``golden_version``, ``outbox_event``, ``source_record``, ``match_key`` and ``review_item``,
   formatted as COPY text (:mod:`mdm.bulk.copytext`); this process streams it with COPY
   (PostgreSQL; SQLite: ``executemany``, in-process) — **in one transaction**. An interrupted
   load leaves nothing behind; resuming is re-running the same command. Ids and hub account
   numbers are drawn from their sequences before that transaction: a failed load burns them
   (gaps), it never reuses one.

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

import gc
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import select as sa_select
from sqlalchemy import text

from matching import MatchEngine, PreparedRecord
from mdm.bulk.cluster import Clustering, cluster_records, explain, resolved_cluster
from mdm.bulk.copytext import format_rows, json_columns
from mdm.bulk.indexes import deferrable_indexes, drop_indexes, rebuild_indexes
from mdm.bulk.parallel import forked_pool, state
from mdm.db import UnitOfWork, get_engine
from mdm.engines import match_engine, survivorship_engine
from mdm.errors import InvalidInput
from mdm.loader import RejectFile, jsonl_lines, parse_jsonl_line, read_rows
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


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's wall time (seconds) to ``timings[name]`` (the report's phases)."""
    mark = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - mark


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (a context manager, also usable as a decorator)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_gc_paused()
def bulk_load(
    settings: Settings,
    path: Path,
    source: str,
    domain: str,
    *,
    progress: Any = None,
    correlation_id: str | None = None,
    before_commit: Callable[[UnitOfWork], None] | None = None,
) -> BulkReport:
    """Load ``path`` into the empty ``domain`` in one transaction; raises :class:`NotEmpty` otherwise.

    The cyclic garbage collector is paused meanwhile: the load builds millions of long-lived
    containers and none of them form cycles worth collecting; full collections over that heap
    took 4.6 s of the loading process's 6.3 s CPU in the read phase at 100,000 records (measured);
    reference counting frees the rest.

    ``before_commit(uow)`` runs inside the load's one write transaction, just before it commits:
    a caller's own bookkeeping (an API load marks itself loaded) commits with the rows or not at all.
    """
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

    records = _read(path, system, domain, engine, report, progress, max(1, settings.bulk_workers))
    report.timings["read_prepare"] = time.perf_counter() - started

    with _timed(report.timings, "block_score_cluster"):
        clustering = cluster_records(engine, [r.prepared for r in records], [r.keys for r in records],
                                     [r.deleted for r in records], max(1, settings.bulk_workers))
    report.timings.update({f"cluster_{part}": seconds for part, seconds in clustering.timings.items()})
    report.pairs = clustering.stats.pairs
    report.on_demand_scores = clustering.on_demand_scores
    report.oversized_keys = clustering.stats.oversized
    report.largest_blocks = clustering.stats.largest_blocks
    for d in clustering.decisions:
        report.actions[d.action] = report.actions.get(d.action, 0) + 1
    if clustering.stats.oversized:
        log.warning("bulk load: %d oversized blocking keys skipped", len(clustering.stats.oversized))

    with _timed(report.timings, "write"):
        surv, rules_hash = survivorship_engine(domain, settings.rules_dir)
        job = _WriteJob(source, domain, engine, records, clustering, correlation_id, utcnow(), surv, rules_hash)
        if settings.is_sqlite:
            report.goldens = _write_sqlite(settings, job, before_commit)
        else:
            report.goldens = _write_postgres(settings, job, max(1, settings.bulk_workers), report.timings, before_commit)
    report.stored = len(records)
    report.timings["total"] = time.perf_counter() - started
    return report


#: Rows per task of the read phase (mapped, validated and prepared in a pool process).
READ_TASK_ROWS = 2_000
#: Clusters / records per task of the write phase.
WRITE_TASK_SIZE = 2_000
#: Write tasks per pool process before a fresh fork replaces it (bounds copy-on-write growth).
TASKS_PER_CHILD = 25


def _read(path: Path, system: Any, domain: str, engine: MatchEngine, report: BulkReport, progress: Any,
          workers: int) -> list[_Rec]:
    """Stream, map, validate, prepare and key the file a task at a time; write the reject file.

    Mapping and preparing run on the pool; deduplication by source id stays here, in file order.
    """
    rejects = RejectFile(path)
    reject = rejects.write
    records: list[_Rec] = []
    position: dict[str, int] = {}

    def count(outcome: str) -> None:
        report.outcomes[outcome] = report.outcomes.get(outcome, 0) + 1

    with rejects, forked_pool(workers, system=system, domain=domain, engine=engine, now=datetime.now(UTC)) as pool_map:
        # JSON lines are parsed in the pool too; CSV (quoted fields may span lines) is parsed here
        rows = jsonl_lines(path) if path.suffix.lower() != ".csv" else read_rows(path)
        for done in pool_map(_prepare_rows, _chunks(rows, READ_TASK_ROWS)):
            for rec in done:
                report.total += 1
                if isinstance(rec, tuple):
                    reject(*rec)
                    continue
                seen = position.get(rec.source_id)
                if seen is None:
                    position[rec.source_id] = len(records)
                    records.append(rec)
                    count("accepted")
                elif rec.updated_at < records[seen].updated_at:
                    count("stale")
                else:
                    records[seen] = rec
                    count("replaced")
            if progress is not None:
                progress.update(len(done))
    report.rejected, report.reject_file = rejects.count, rejects.written
    return records


def _prepare_rows(items: list[Any]) -> list[_Rec | tuple[int, str]]:
    """Pool task: parse (JSON lines), map, validate, prepare and key rows; a reject is ``(line, reason)``."""
    shared = state()
    system, domain, engine, now = shared["system"], shared["domain"], shared["engine"], shared["now"]
    out: list[_Rec | tuple[int, str]] = []
    for item in items:
        row = parse_jsonl_line(item[0], item[1], now) if isinstance(item, tuple) else item
        if row is None:
            continue
        if row.change is None:
            out.append((row.line, row.error))
            continue
        change = row.change
        source_id = normalize_source_id(system.kind, change.source_id)
        change = Change(source_id, change.fields, change.updated_at, change.deleted, change.object)
        try:
            object_type, fields = canonicalize(system, domain, change)
        except InvalidInput as exc:
            out.append((row.line, exc.reason))
            continue
        prepared = engine.prepare(fields) if not change.deleted else PreparedRecord(domain, {}, {}, [])
        out.append(_Rec(row.line, source_id, object_type, change.fields, fields,
                        content_hash(object_type, fields, change.deleted), as_utc(change.updated_at),
                        change.deleted, prepared, [] if change.deleted else sorted(set(engine.blocking_keys(prepared)))))
    return out


def _chunks(rows: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _claim_empty_domain(uow: UnitOfWork, domain: str) -> list[str]:
    """Block concurrent writers of source and golden records for the load's short write phase,
    then check again that the domain is empty (it may have received records meanwhile).

    On PostgreSQL a SHARE ROW EXCLUSIVE table lock (readers continue); SQLite has one writer.
    Loaded tables that hold no row at all (an initial load into an empty hub) are locked ACCESS
    EXCLUSIVE instead and returned: their indexes are built after the COPY (:mod:`mdm.bulk.indexes`).
    The first emptiness test runs without locks and is then rolled back, so two loads never hold
    a weak lock while they wait for a strong one (a lock upgrade deadlock); it is repeated once
    the locks are held.
    """
    empty: list[str] = []
    if uow.dialect == "postgresql":
        candidates = [name for name in _TABLES if _table_is_empty(uow, name)]
        uow.session.rollback()
        if candidates:
            uow.session.execute(text(f"LOCK TABLE {', '.join(candidates)} IN ACCESS EXCLUSIVE MODE"))
        shared = [name for name in _TABLES if name in ("golden_record", "source_record") and name not in candidates]
        if shared:
            uow.session.execute(text(f"LOCK TABLE {', '.join(shared)} IN SHARE ROW EXCLUSIVE MODE"))
        empty = [name for name in candidates if _table_is_empty(uow, name)]
    if not domain_is_empty(uow, domain):
        raise NotEmpty(f"the {domain} domain received records while the file was prepared; nothing was written")
    return empty


def _table_is_empty(uow: UnitOfWork, table: str) -> bool:
    return uow.session.execute(text(f"SELECT NOT EXISTS (SELECT 1 FROM {table})")).scalar_one()


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


@dataclass
class _WriteJob:
    """Everything the write phase needs; shared with forked pool processes copy-on-write."""

    source: str
    domain: str
    engine: MatchEngine
    records: Sequence[_Rec]
    clustering: Clustering
    correlation_id: str
    now: datetime
    surv: Any
    rules_hash: str
    ids: list[int] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    golden_ids: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.order = sorted(self.clustering.clusters)  # creation order = the first member's file position
        self.golden_ids = dict(zip(self.order, uuid4_strings(len(self.order)), strict=True))
        for gone, into in self.clustering.merged_away.items():
            self.golden_ids.setdefault(gone, self.golden_ids[resolved_cluster(self.clustering, into)])  # type: ignore[index]


#: (cluster, account number, the ERP's survived number, warning) — numbers only for customers
_GoldenTask = list[tuple[int, str | None, str | None, str | None]]
_STATUS_OF = {"link": "linked", "review": "review", "new": "new", "deleted": "deleted"}


def uuid4_strings(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs as strings, ~10× faster than ``str(uuid.uuid4())`` per id."""
    if n == 0:
        return []
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    h = raw.tobytes().hex()
    return [f"{h[i:i + 8]}-{h[i + 8:i + 12]}-{h[i + 12:i + 16]}-{h[i + 16:i + 20]}-{h[i + 20:i + 32]}"
            for i in range(0, 32 * n, 32)]


def _members(job: _WriteJob, c: int) -> list[Member]:
    records, ids = job.records, job.ids
    return [Member(record_id=str(ids[m]), source=job.source, source_id=records[m].source_id, updated_at=records[m].updated_at,
                   fields=records[m].fields, invalid_fields=frozenset(records[m].prepared.flags))
            for m in job.clustering.clusters[c]]


def _numbered_clusters(job: _WriteJob) -> list[int]:
    """Customer clusters where some member carries an account number (only those can survive one)."""
    if job.domain != "customer":
        return []
    clusters, records = job.clustering.clusters, job.records
    return [c for c in job.order if any(records[m].fields.get("account_number") not in (None, "") for m in clusters[c])]


def _survived_erp(job: _WriteJob, clusters: list[int]) -> list[tuple[int, str | None]]:
    """The account number survivorship keeps for each cluster (the ERP's, if any)."""
    out = []
    for c in clusters:
        erp = job.surv.build(_members(job, c), {}).fields.get("account_number")
        out.append((c, str(erp) if erp not in (None, "") else None))
    return out


def _number_plan(job: _WriteJob, erp_of: dict[int, str | None], draw: Callable[[int], list[int]]) -> _GoldenTask:
    """Account numbers in creation order: the ERP's when no earlier golden holds it, else the hub's next.

    Same rule and lineage as the real-time path (``account_numbers.assign``); the hub numbers are
    drawn in one statement.
    """
    from mdm.services.account_numbers import number_format

    if job.domain != "customer":
        return [(c, None, None, None) for c in job.order]
    held: set[str] = set()
    plan: list[tuple[int, str | None, bool]] = []
    for c in job.order:
        erp = erp_of.get(c)
        ok = erp is not None and erp not in held
        if ok:
            held.add(erp)  # type: ignore[arg-type]
        plan.append((c, erp, ok))
    sequence = iter(draw(sum(1 for _, _, ok in plan if not ok)))
    fmt = number_format()
    out: _GoldenTask = []
    for c, erp, ok in plan:
        number = erp if ok else fmt.format(seq=next(sequence))
        warning = f"ERP account number {erp!r} is already held by another golden; kept {number!r}" if erp and not ok else None
        out.append((c, number, erp, warning))
    return out


def _golden_rows(job: _WriteJob, task: _GoldenTask) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Survivorship for each cluster of ``task``: its golden_record, golden_version and outbox_event rows."""
    from mdm.services.account_numbers import with_hub_number

    goldens: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    records, ids, decisions, now = job.records, job.ids, job.clustering.decisions, job.now
    cause = {"type": "bulk_load", "source": job.source, "correlation_id": job.correlation_id}
    for (c, number, erp, warning), event_id in zip(task, uuid4_strings(len(task)), strict=True):
        members = job.clustering.clusters[c]
        result = job.surv.build(_members(job, c), {}).to_json()
        fields, lineage = result["fields"], result["lineage"]
        if number is not None and number != erp:
            fields, lineage = with_hub_number(fields, lineage, number, erp, warning)
        approval = "pending_review" if any(decisions[m].action == "review" for m in members) else "approved"
        gid = job.golden_ids[c]
        # a plain namespace, not a GoldenRecord: building 100,000 SQLModel instances only to read
        # their attributes back cost ~6 % of the bulk load (profiled at 20,000 records)
        golden = SimpleNamespace(id=gid, domain=job.domain, status="active", approval=approval, fields=fields,
                                 version=1, account_number=number, merged_into=None, updated_at=now)
        refs = [SimpleNamespace(source=job.source, source_id=records[m].source_id) for m in members]
        goldens.append({"id": gid, "domain": job.domain, "status": "active", "merged_into": None, "approval": approval,
                        "fields": fields, "lineage": lineage, "version": 1, "account_number": number,
                        "rules_hash": job.rules_hash, "created_at": now, "updated_at": now})
        versions.append({"golden_id": gid, "version": 1, "status": "active", "fields": fields, "lineage": lineage,
                         "members": [{"record_id": ids[m], "source": job.source, "source_id": records[m].source_id}
                                     for m in members],
                         "cause": cause, "correlation_id": job.correlation_id, "created_at": now})
        events.append({"event_id": event_id, "golden_id": gid, "domain": job.domain, "golden_version": 1,
                       "type": "created", "payload": golden_payload(golden, refs),  # type: ignore[arg-type]
                       "correlation_id": job.correlation_id, "created_at": now})
    return goldens, versions, events


def _record_rows(job: _WriteJob, lo: int, hi: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Records ``lo:hi``: their source_record, match_key and review_item rows, with frozen explanations."""
    sources: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    clustering, engine, ids, now, domain = job.clustering, job.engine, job.ids, job.now, job.domain
    lazy = _Lazy(job.records)
    decided_at = now.isoformat()
    for i in range(lo, hi):
        rec, decision = job.records[i], clustering.decisions[i]
        cluster = resolved_cluster(clustering, decision.cluster)
        warnings = list(rec.prepared.warnings) + list(decision.warnings)
        warnings += [f"blocking key {k!r} skipped: shared by more than 200 records"
                     for k in sorted(clustering.stats.skipped.get(i, ()))]
        explanation = None
        if decision.action != "deleted":
            explanation = explain(engine, decision, job.golden_ids, lazy, i, with_comparisons=decision.action in ("link", "review"))
            explanation = {**explanation, "warnings": warnings, "decided_at": decided_at}
        if decision.action == "review" and decision.review_cluster is not None:
            reviews.append({
                "domain": domain, "source_record_id": ids[i],
                "candidate_golden_id": job.golden_ids[resolved_cluster(clustering, decision.review_cluster)],  # type: ignore[index]
                "probability": decision.probability, "explanation": explanation, "status": "open", "created_at": now,
            })
        sources.append({
            "id": ids[i], "source": job.source, "domain": domain, "source_id": rec.source_id,
            "object_type": rec.object_type, "raw": rec.raw, "fields": rec.fields,
            "prepared": None if rec.deleted else rec.prepared.to_json(), "content_hash": rec.digest,
            "source_updated_at": rec.updated_at, "received_at": now, "deleted": rec.deleted,
            "golden_id": job.golden_ids[cluster] if cluster is not None else None,
            "match_status": _STATUS_OF[decision.action], "match_probability": decision.probability,
            "match_explanation": explanation, "model_version": engine.model.version if not rec.deleted else None,
            "resolved_hash": rec.digest, "resolved_at": now, "enqueued_at": now, "job_id": None, "attempts": 0,
            "last_error": None, "warnings": warnings or None,
        })
        keys.extend({"domain": domain, "key": k, "source_record_id": ids[i]} for k in rec.keys)
    return sources, keys, reviews


# --- pool tasks (run in forked processes on the shared _WriteJob) ------------------------------
_TABLES = {t.name: t for t in (GoldenRecord.__table__, SourceRecord.__table__, MatchKey.__table__,  # type: ignore[attr-defined]
                               GoldenVersion.__table__, ReviewItem.__table__, OutboxEvent.__table__)}  # type: ignore[attr-defined]
_JSON_COLUMNS = {name: json_columns(t) for name, t in _TABLES.items()}
_Formatted = dict[str, tuple[tuple[str, ...], str]]


def _formatted(**tables: list[dict[str, Any]]) -> _Formatted:
    out: _Formatted = {}
    for name, rows in tables.items():
        if rows:
            columns = tuple(rows[0])
            out[name] = (columns, format_rows(rows, columns, _JSON_COLUMNS[name]))
    return out


def _task_erp(clusters: list[int]) -> list[tuple[int, str | None]]:
    return _survived_erp(state()["job"], clusters)


def _task_goldens(task: _GoldenTask) -> _Formatted:
    goldens, versions, events = _golden_rows(state()["job"], task)
    return _formatted(golden_record=goldens, golden_version=versions, outbox_event=events)


def _task_records(bounds: tuple[int, int]) -> _Formatted:
    sources, keys, reviews = _record_rows(state()["job"], *bounds)
    return _formatted(source_record=sources, match_key=keys, review_item=reviews)


# --- writers --------------------------------------------------------------------------------
def _write_postgres(settings: Settings, job: _WriteJob, workers: int, timings: dict[str, float],
                    before_commit: Callable[[UnitOfWork], None] | None = None) -> int:
    """PostgreSQL: rows built and formatted on the pool, streamed with COPY in one transaction.

    ``golden_record`` and ``source_record`` are copied while the pool produces them (foreign keys
    point from the rest to these two); the other tables' text waits in spool files on disk, so
    memory holds a few tasks' output, not the load's. Ids and account numbers are drawn from
    their sequences first (a failed load burns them; they are never reused). Tables empty before
    the load get their indexes built after the COPY (:mod:`mdm.bulk.indexes`). ``timings`` receives
    the write phase's parts (``write_*``, seconds).
    """
    with UnitOfWork(settings) as uow:
        job.ids = _reserve_ids(uow, "source_record", len(job.records))
        uow.commit()
    with forked_pool(workers, tasks_per_child=TASKS_PER_CHILD, job=job) as pool_map:
        erp_of: dict[int, str | None] = {}
        for part in pool_map(_task_erp, _chunks(_numbered_clusters(job), WRITE_TASK_SIZE)):
            erp_of.update(part)
        with UnitOfWork(settings) as uow:
            plan = _number_plan(job, erp_of, lambda n: _account_sequence(uow, n))
            uow.commit()
        with UnitOfWork(settings) as uow, _Spool() as spool:
            deferred = deferrable_indexes(uow.session, _claim_empty_domain(uow, job.domain))
            drop_indexes(uow.session, deferred)
            raw = uow.session.connection().connection.driver_connection
            with raw.cursor() as cur:  # type: ignore[union-attr]
                with _timed(timings, "write_rows"):
                    _copy_stream(cur, "golden_record", pool_map(_task_goldens, _chunks(plan, WRITE_TASK_SIZE)), spool)
                    bounds = [(i, min(i + WRITE_TASK_SIZE, len(job.records))) for i in range(0, len(job.records), WRITE_TASK_SIZE)]
                    _copy_stream(cur, "source_record", pool_map(_task_records, bounds), spool)
                with _timed(timings, "write_spooled"):
                    for table in ("match_key", "golden_version", "review_item", "outbox_event"):
                        spool.copy_into(cur, table)
            with _timed(timings, "write_indexes"):
                rebuild_indexes(uow.session, deferred)
            _after_write(uow, len(plan), before_commit)
            with _timed(timings, "write_commit"):
                uow.commit()
    with _timed(timings, "write_vacuum_analyze"):
        _analyze(settings)
    return len(plan)


def _analyze(settings: Settings) -> None:
    """VACUUM (ANALYZE) the loaded tables; a failure only costs plan and lookup speed.

    ANALYZE: the planner must learn their new size at once. Measured after a 1,000,000-record
    load on a server without autovacuum: real-time resolve p50 585 ms with the empty-table
    statistics (sequential scans), 22 ms after ANALYZE.
    VACUUM: it sets the visibility map, without which the candidate lookup's index-only scans of
    `match_key` visit the heap for every key entry (120 heap fetches for one record's 15 keys at
    1,000,000 records); measured at 1,000,000 goldens, p95 of a real-time resolve 17.6–20.2 →
    12.3–15.3 ms (docs/benchmarks-speed.md, run 9). VACUUM cannot run inside a transaction,
    hence the autocommit connection.
    """
    try:
        with get_engine(settings.database_url).connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM (ANALYZE) " + ", ".join(_TABLES)))
    except Exception:  # noqa: BLE001 - the load is committed; autovacuum will get to it eventually
        log.exception("bulk load: VACUUM (ANALYZE) failed; run it by hand before heavy real-time traffic")


def _write_sqlite(settings: Settings, job: _WriteJob, before_commit: Callable[[UnitOfWork], None] | None = None) -> int:
    """SQLite (the laptop default): the same rows, built in-process, one ``executemany`` per table."""
    with UnitOfWork(settings) as uow:
        _claim_empty_domain(uow, job.domain)
        job.ids = _reserve_ids(uow, "source_record", len(job.records))
        erp_of = dict(_survived_erp(job, _numbered_clusters(job)))
        plan = _number_plan(job, erp_of, lambda n: _account_sequence(uow, n))
        goldens, versions, events = _golden_rows(job, plan)
        sources, keys, reviews = _record_rows(job, 0, len(job.records))
        for name, rows in (("golden_record", goldens), ("source_record", sources), ("match_key", keys),
                           ("golden_version", versions), ("review_item", reviews), ("outbox_event", events)):
            if rows:
                uow.session.execute(_TABLES[name].insert(), rows)
        _after_write(uow, len(plan), before_commit)
        uow.commit()
    return len(plan)


def _after_write(uow: UnitOfWork, goldens: int, before_commit: Callable[[UnitOfWork], None] | None) -> None:
    if before_commit is not None:
        before_commit(uow)
    if goldens:
        from mdm.publishing.trigger import after_outbox_write

        after_outbox_write(uow)


def _copy_stream(cur: Any, table: str, outputs: Iterable[_Formatted], spool: _Spool) -> None:
    """COPY ``table``'s text from each output as it arrives; spool the other tables' text.

    The COPY is opened at the first output that has rows for ``table`` (its columns come with it).
    """
    with ExitStack() as stack:
        copy = None
        for out in outputs:
            for name, (columns, text_) in out.items():
                if name != table:
                    spool.write(name, columns, text_)
                    continue
                if copy is None:
                    copy = stack.enter_context(cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN"))
                copy.write(text_)


class _Spool:
    """COPY text of the dependent tables, parked on disk (a temporary directory, removed on exit)
    until their parents are written."""

    def __enter__(self) -> _Spool:
        self._tmp = tempfile.TemporaryDirectory(prefix="mdm-bulk-")
        self.directory = Path(self._tmp.name)
        self.files: dict[str, tuple[tuple[str, ...], Any]] = {}
        return self

    def __exit__(self, *exc: object) -> None:
        for _, fh in self.files.values():
            fh.close()
        self._tmp.cleanup()

    def write(self, table: str, columns: tuple[str, ...], text_: str) -> None:
        if table not in self.files:
            self.files[table] = (columns, (self.directory / f"{table}.copy").open("wb"))
        elif self.files[table][0] != columns:
            raise RuntimeError(f"bulk load: {table} rows with different columns")
        self.files[table][1].write(text_.encode())

    def copy_into(self, cur: Any, table: str) -> None:
        if table not in self.files:
            return
        columns, fh = self.files[table]
        fh.flush()
        with (self.directory / f"{table}.copy").open("rb") as src, \
                cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            while block := src.read(1 << 20):
                copy.write(block)


class _Lazy(Sequence[PreparedRecord]):
    """The prepared records as a sequence without copying the list per record."""

    def __init__(self, records: Sequence[_Rec]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, i: Any) -> Any:
        return self._records[i].prepared


__all__ = ["BulkReport", "NotEmpty", "bulk_load", "domain_is_empty"]
