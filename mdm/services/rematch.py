"""Offline re-clustering report: what would change if every live record were decided again now?

Real-time resolution decides each record once, in arrival order, against the goldens and the
model of that moment. After a model change, a rules change or a long history of arrivals,
``mdm rematch`` re-decides every live record against the *current* model and goldens —
exactly as :func:`mdm.services.resolve.resolve_one` would (same keys, capped blocks, the
record's own golden minus itself, steward exclusions) — and reports the differences:

* ``move``: the record would link to another golden (its golden would lose it);
* ``merge``: the record is alone in its golden and would link to another one, or it bridges
  goldens that score as one cluster (``merge_with``): those goldens would merge;
* ``split``: the record would start a new golden, leaving the others in its golden;
* ``review`` / ``link``: the record would enter / leave the review band.
* ``rekey`` (prices): the price's key would change (e.g. its product is now resolved).

It only reads: every chunk runs in a transaction that is rolled back, and no locks are taken,
so it can run beside live traffic (its view of each chunk is a consistent snapshot).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_
from sqlmodel import select

from matching import MatchEngine, MatchModel, PreparedRecord
from mdm.db import UnitOfWork
from mdm.engines import match_engine
from mdm.errors import NotFound
from mdm.models import RESOLVED_STATUSES, MatchLabel, MatchModelRow, SourceRecord
from mdm.services.ingest import check_domain
from mdm.services.resolve import _oversized_keys, _product_golden_id, candidate_members, excluded_goldens
from mdm.settings import Settings

CHUNK = 500


@dataclass
class RematchReport:
    domain: str
    checked: int = 0
    unchanged: int = 0
    changes: Counter[str] = field(default_factory=Counter)
    #: goldens that would merge, as sorted id tuples (deduplicated)
    merges: set[tuple[str, ...]] = field(default_factory=set)
    #: goldens that would lose members
    splits: set[str] = field(default_factory=set)
    model_version: str | None = None
    #: records a steward approved into their golden: not re-decided (counted as unchanged)
    steward_confirmed: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "model_version": self.model_version,
            "records_checked": self.checked,
            "unchanged": self.unchanged,
            "steward_confirmed": self.steward_confirmed,
            "changes": dict(sorted(self.changes.items())),
            "records_that_would_move": self.changes["move"] + self.changes["merge"],
            "golden_merges": len(self.merges),
            "goldens_that_would_lose_members": len(self.splits),
        }


def _iter_records(settings: Settings, domain: str, limit: int | None) -> Iterator[tuple[UnitOfWork, list[SourceRecord]]]:
    """Live resolved records in id order, a chunk per (rolled back) transaction.

    The ids are walked in windows of the primary key (a chunk's size each), and only the
    window's rows are loaded and filtered. Why: asked in one statement (domain, live, resolved,
    ``id > last``, first CHUNK by id), PostgreSQL planned it on tables never analyzed as a
    bitmap of every resolved record and a sort: each chunk read the whole table (100,000 rows, 23,845 pages, 167-192 ms per
    chunk of 500 at 100,000 records), so a rematch cost grew with the square of the hub."""
    last = 0
    left = limit
    while left is None or left > 0:
        size = CHUNK if left is None else min(CHUNK, left)
        with UnitOfWork(settings) as uow:
            rows: list[SourceRecord] = []
            while len(rows) < size:
                window = list(uow.session.exec(
                    select(SourceRecord.id).where(SourceRecord.id > last).order_by(SourceRecord.id).limit(size)  # type: ignore[arg-type,operator]
                ).all())
                if not window:
                    break
                found = list(
                    uow.session.exec(
                        select(SourceRecord)
                        .where(
                            SourceRecord.id.in_(window),  # type: ignore[union-attr]
                            # ``(…) IS TRUE``: the same filter, matching no index, so the window's
                            # rows are found by primary key (ix_source_record_pending would
                            # match the statuses of every record)
                            and_(
                                SourceRecord.domain == domain,
                                SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
                                SourceRecord.golden_id.is_not(None),  # type: ignore[union-attr]
                                SourceRecord.match_status.in_(RESOLVED_STATUSES),  # type: ignore[attr-defined]
                            ).is_(True),
                        )
                        .order_by(SourceRecord.id)  # type: ignore[arg-type]
                    ).all()
                )
                # the chunk ends at its size-th record, as the single statement's LIMIT did
                rows += found[: size - len(rows)]
                last = (rows[-1].id or 0) if len(rows) == size else window[-1]
            if not rows:
                return
            taken = len(rows)  # read before the rollback expires the rows
            yield uow, rows
        if left is not None:
            left -= taken


def _others_in_golden(uow: UnitOfWork, record: SourceRecord) -> int:
    from sqlalchemy import func
    from sqlalchemy import select as sa_select

    return uow.session.execute(
        sa_select(func.count()).select_from(SourceRecord).where(
            SourceRecord.golden_id == record.golden_id, SourceRecord.id != record.id,
            SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
        )
    ).scalar_one()


def _steward_confirmed(uow: UnitOfWork, record: SourceRecord) -> bool:
    """A steward approved this record into its current golden (following merges) and it is unchanged."""
    from mdm.services.golden import survivor_of

    labels = uow.session.exec(
        select(MatchLabel.golden_id).where(
            MatchLabel.source_record_id == record.id,
            MatchLabel.is_match.is_(True),  # type: ignore[attr-defined]
            MatchLabel.record_hash == record.content_hash,
        )
    ).all()
    for golden_id in labels:
        golden = survivor_of(uow, golden_id)
        if golden is not None and golden.id == record.golden_id:
            return True
    return False


def _fuzzy(uow: UnitOfWork, record: SourceRecord, report: RematchReport, engine: MatchEngine | None) -> dict[str, Any] | None:
    engine = engine or match_engine(uow.session, record.domain)
    report.model_version = engine.model.version
    prepared = engine.prepare(record.fields)
    keys = sorted(set(engine.blocking_keys(prepared)))
    oversized = _oversized_keys(uow, record.domain, keys)
    candidates = candidate_members(uow, record, [k for k in keys if k not in oversized])
    decision = engine.decide(
        prepared,
        {gid: [PreparedRecord.from_json(m or {}) for m in ms] for gid, ms in candidates.items()},
        excluded=excluded_goldens(uow, record),
    )
    current = record.golden_id
    if _steward_confirmed(uow, record):
        report.steward_confirmed += 1  # a steward's "yes" stands until the record changes
        return None
    others = _others_in_golden(uow, record)
    change: str | None = None
    proposed = decision.golden_id
    if decision.action == "link" and proposed != current:
        if others == 0:
            change = "merge"
            report.merges.add(tuple(sorted({current or "", proposed})))
        else:
            change = "move"
            report.splits.add(current or "")
    elif decision.action == "link" and record.match_status == "review":
        change = "link"
    elif decision.action == "review" and record.match_status != "review":
        change = "review"
    elif decision.action == "new" and others > 0:
        change = "split"
        report.splits.add(current or "")
    if decision.action == "link" and decision.merge_with:
        report.merges.add(tuple(sorted({proposed, *decision.merge_with})))
        change = change or "merge"
    if change is None:
        return None
    return {
        "record_id": record.id,
        "source": record.source,
        "source_id": record.source_id,
        "change": change,
        "current_golden_id": current,
        "current_status": record.match_status,
        "current_model_version": record.model_version,
        "action": decision.action,
        "proposed_golden_id": proposed,
        "merge_with": list(decision.merge_with),
        "probability": round(decision.probability, 6),
        "previous_probability": record.match_probability,
        "model_version": engine.model.version,
    }


def _price(uow: UnitOfWork, record: SourceRecord) -> dict[str, Any] | None:
    from matching.prices import price_key

    product_golden = _product_golden_id(uow, record)
    product = product_golden or f"unresolved:{record.source}:{record.fields.get('product')}"
    key = ("price:" + "|".join(str(part) for part in price_key(record.fields, product)))[:200]
    stored = ((record.prepared or {}).get("values") or {}).get("price_key")
    if key == stored:
        return None
    return {"record_id": record.id, "source": record.source, "source_id": record.source_id, "change": "rekey",
            "current_golden_id": record.golden_id, "current_key": stored, "proposed_key": key}


def _engine_for(settings: Settings, domain: str, version: str | None) -> MatchEngine | None:
    """A saved (possibly inactive) model: see what it would change *before* activating it."""
    if version is None:
        return None
    with UnitOfWork(settings) as uow:
        row = uow.session.exec(select(MatchModelRow).where(MatchModelRow.version == version)).first()
        if row is None or row.domain != domain:
            raise NotFound(f"no {domain} model version {version!r}", details={"version": version})
        return MatchEngine(domain, model=MatchModel.from_json(row.document))


def rematch(
    settings: Settings, domain: str, *, limit: int | None = None, version: str | None = None,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> RematchReport:
    """Re-decide live records of ``domain``; ``emit`` receives one dict per would-be change.

    ``version``: score with that saved model instead of the active one.
    """
    check_domain(domain)
    report = RematchReport(domain)
    engine = _engine_for(settings, domain, version) if domain != "price" else None
    for uow, records in _iter_records(settings, domain, limit):
        for record in records:
            report.checked += 1
            line = _price(uow, record) if domain == "price" else _fuzzy(uow, record, report, engine)
            if line is None:
                report.unchanged += 1
                continue
            report.changes[line["change"]] += 1
            if emit is not None:
                emit(line)
    return report
