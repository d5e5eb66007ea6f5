"""Matching models: fit from stored records and steward labels, save versioned, activate one per domain.

``matching.training.train`` is pure; this module feeds it. It samples stored records'
*prepared* values (what the engine actually compared, so training sees the same
normalization as scoring) with a reservoir over a streamed query, so memory is bounded by
the sample size whatever the table holds, and turns steward labels (``match_label``
snapshots) into labelled pairs. The hub runs on the shipped default model until a trained
one is activated; activation is one transaction that leaves exactly one active row per domain,
and running workers pick it up within ``mdm.engines.MODEL_RECHECK_SECONDS``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from matching import MatchEngine, MatchModel, PreparedRecord
from mdm.db import UnitOfWork
from mdm.engines import FUZZY_DOMAINS, reset_caches
from mdm.errors import Conflict, InvalidInput, NotFound
from mdm.models import GoldenRecord, MatchLabel, MatchModelRow, SourceRecord

DEFAULT_SAMPLE = 20_000
MAX_SAMPLE = 1_000_000
#: Members of a label's golden paired with the labelled record (a label is one judgement,
#: not dozens: more pairs would outweigh the rest of the training data).
PAIRS_PER_LABEL = 5
STREAM_CHUNK = 2_000


@dataclass
class Trained:
    version: str
    active: bool
    records: int
    labels: int
    pairs: int
    metadata: dict[str, Any]


def check_fuzzy(domain: str) -> None:
    if domain not in FUZZY_DOMAINS:
        raise InvalidInput(
            f"no matching model for {domain!r}: prices are keyed, not scored",
            details={"domain": domain, "model_domains": list(FUZZY_DOMAINS)},
        )


def active_row(uow: UnitOfWork, domain: str) -> MatchModelRow | None:
    return uow.session.exec(
        select(MatchModelRow).where(MatchModelRow.domain == domain, MatchModelRow.active.is_(True))  # type: ignore[union-attr]
    ).first()


def current_model(uow: UnitOfWork, domain: str) -> MatchModel:
    """The active model for ``domain``, or the shipped default (a fresh copy the caller may change)."""
    row = active_row(uow, domain)
    return MatchModel.from_json(row.document) if row else MatchEngine(domain).model.copy()


def sample_records(uow: UnitOfWork, domain: str, size: int, *, seed: int = 0) -> tuple[list[PreparedRecord], int]:
    """A uniform sample (Algorithm R) of live records' prepared values, streamed in id order.

    Returns the sample and the number of records seen. Memory holds ``size`` records at most.
    """
    rng = random.Random(seed)
    reservoir: list[Any] = []
    seen = 0
    query = (
        sa_select(SourceRecord.prepared)
        .where(
            SourceRecord.domain == domain,
            SourceRecord.deleted.is_(False),  # type: ignore[attr-defined]
            SourceRecord.prepared.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(SourceRecord.id)
        .execution_options(yield_per=STREAM_CHUNK)
    )
    for (prepared,) in uow.session.execute(query):
        seen += 1
        if len(reservoir) < size:
            reservoir.append(prepared)
        else:
            slot = rng.randrange(seen)
            if slot < size:
                reservoir[slot] = prepared
    return [PreparedRecord.from_json(p) for p in reservoir if isinstance(p, dict) and "domain" in p], seen


def _current_members(uow: UnitOfWork, golden_id: str, exclude: int) -> list[dict[str, Any]]:
    """Members of a golden (following merges) now: for labels whose snapshot kept no members."""
    golden = uow.session.get(GoldenRecord, golden_id)
    hops = 0
    while golden is not None and golden.status == "merged" and golden.merged_into and hops < 20:
        golden = uow.session.get(GoldenRecord, golden.merged_into)
        hops += 1
    if golden is None:
        return []
    rows = uow.session.execute(
        sa_select(SourceRecord.prepared)
        .where(SourceRecord.golden_id == golden.id, SourceRecord.id != exclude,
               SourceRecord.deleted.is_(False), SourceRecord.prepared.is_not(None))  # type: ignore[attr-defined, union-attr]
        .order_by(SourceRecord.id.desc())  # type: ignore[union-attr]
        .limit(PAIRS_PER_LABEL)
    ).scalars()
    return list(rows)


def label_pairs(uow: UnitOfWork, domain: str) -> tuple[list[tuple[PreparedRecord, PreparedRecord, bool]], int]:
    """Steward labels as (record, golden member, is_match) pairs; returns pairs and labels used.

    A steward judged "this record vs that golden"; each of (up to) ``PAIRS_PER_LABEL`` members
    the golden had at decision time (the snapshot) forms a pair. Split labels keep no members
    in their snapshot, so the golden's current members stand in for them.
    """
    pairs: list[tuple[PreparedRecord, PreparedRecord, bool]] = []
    used = 0
    labels = uow.session.exec(select(MatchLabel).where(MatchLabel.domain == domain).order_by(MatchLabel.id)).all()  # type: ignore[arg-type]
    for label in labels:
        snapshot = label.snapshot or {}
        record = snapshot.get("record")
        if not isinstance(record, dict) or "domain" not in record:
            continue
        members = [m.get("prepared") for m in (snapshot.get("golden") or {}).get("members") or []]
        if not members:
            members = _current_members(uow, label.golden_id, label.source_record_id)
        members = [m for m in members if isinstance(m, dict) and "domain" in m][:PAIRS_PER_LABEL]
        if not members:
            continue
        used += 1
        left = PreparedRecord.from_json(record)
        pairs += [(left, PreparedRecord.from_json(m), bool(label.is_match)) for m in members]
    return pairs, used


def _unique_version(uow: UnitOfWork, domain: str, proposed: str) -> str:
    """``train`` proposes ``<domain>-<n+1>``; bump n past every stored version of the domain."""
    taken = set(uow.session.exec(select(MatchModelRow.version)).all())
    if proposed not in taken:
        return proposed
    numbers = [int(m.group(1)) for v in taken if (m := re.fullmatch(rf"{re.escape(domain)}-(\d+)", v))]
    return f"{domain}-{max(numbers, default=1) + 1}"


def train_model(
    uow: UnitOfWork, domain: str, *, sample: int = DEFAULT_SAMPLE, activate_it: bool = False, seed: int = 0
) -> Trained:
    """Fit a model from a record sample plus steward labels and save it (the caller commits)."""
    from matching.training import train

    check_fuzzy(domain)
    if not 2 <= sample <= MAX_SAMPLE:
        raise InvalidInput(f"--sample must be between 2 and {MAX_SAMPLE}", details={"sample": sample})
    records, seen = sample_records(uow, domain, sample, seed=seed)
    pairs, used = label_pairs(uow, domain)
    if len(records) < 2 and not pairs:
        raise InvalidInput(
            f"nothing to train on: {seen} resolved {domain} records and no steward labels",
            details={"domain": domain, "records": seen},
        )
    base = current_model(uow, domain)
    model = train(domain, records, pairs, base, seed=seed)
    model.version = _unique_version(uow, domain, model.version)
    model.metadata = {**model.metadata, "records_seen": seen, "labels_used": used, "label_pairs": len(pairs)}
    row = MatchModelRow(domain=domain, version=model.version, document=model.to_json(), active=False)
    try:
        with uow.session.begin_nested():
            uow.session.add(row)
            uow.session.flush()
    except IntegrityError as exc:  # another train saved the same version a moment ago
        raise Conflict(f"model version {model.version!r} exists; run the training again",
                       details={"version": model.version}) from exc
    if activate_it:
        activate(uow, model.version)
    return Trained(model.version, activate_it, len(records), used, len(pairs), dict(model.metadata))


def activate(uow: UnitOfWork, version: str) -> MatchModelRow:
    """Make ``version`` the one active model of its domain (the caller commits)."""
    row = uow.session.exec(select(MatchModelRow).where(MatchModelRow.version == version)).first()
    if row is None:
        raise NotFound(f"no model version {version!r}", details={"version": version})
    # lock the domain's rows so two activations cannot leave two active models
    uow.session.exec(select(MatchModelRow).where(MatchModelRow.domain == row.domain).with_for_update()).all()
    uow.session.execute(
        update(MatchModelRow)
        .where(MatchModelRow.domain == row.domain)
        .values(active=(MatchModelRow.version == version))
        .execution_options(synchronize_session=False)
    )
    uow.session.refresh(row)
    reset_caches()  # this process; other processes re-read within MODEL_RECHECK_SECONDS
    return row


def deactivate(uow: UnitOfWork, domain: str) -> None:
    """Back to the shipped default model for ``domain``."""
    check_fuzzy(domain)
    uow.session.execute(
        update(MatchModelRow).where(MatchModelRow.domain == domain).values(active=False)
        .execution_options(synchronize_session=False)
    )
    reset_caches()


def list_models(uow: UnitOfWork, domain: str | None = None) -> list[dict[str, Any]]:
    query = select(MatchModelRow).order_by(MatchModelRow.domain, MatchModelRow.id)  # type: ignore[arg-type]
    if domain:
        query = query.where(MatchModelRow.domain == domain)
    out = []
    for row in uow.session.exec(query).all():
        doc = row.document or {}
        out.append({
            "version": row.version,
            "domain": row.domain,
            "active": row.active,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "thresholds": doc.get("thresholds"),
            "metadata": doc.get("metadata", {}),
        })
    return out
