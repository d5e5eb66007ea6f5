"""Database tables of the hub (SQLModel over SQLAlchemy 2).

The schema is only ever changed through Alembic revisions in ``migrations/``;
``tests/integration/test_migrations.py`` proves these models and the migrations agree.

Names follow the domain: a *source record* is one system's copy of an entity, a
*golden record* is the hub's master built from its member source records, the
*cross-reference* is ``source_record.golden_id``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

#: JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
#: 64-bit ids on PostgreSQL; SQLite only autoincrements a plain INTEGER primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything the hub stores is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())



class SourceSystem(SQLModel, table=True):
    """A system allowed to send changes (``salesforce``, ``erp``, …). Unknown sources get a 404."""

    __tablename__ = "source_system"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


#: match statuses of a resolved, live record: it belongs to a golden and its blocking keys are stored
RESOLVED_STATUSES = ("linked", "new", "review")


class SourceRecord(SQLModel, table=True):
    """One source system's copy of a customer, product or price.

    ``content_hash`` identifies what was received; ``resolved_hash`` what the last
    successful resolve job saw. They differ exactly while a record awaits resolution,
    which is what makes jobs idempotent and lets the sweep find lost work.
    """

    __tablename__ = "source_record"
    __table_args__ = (
        UniqueConstraint("source", "domain", "source_id", name="uq_source_record_key"),
        Index("ix_source_record_pending", "match_status", "enqueued_at"),
        Index("ix_source_record_golden", "golden_id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    source: str = Field(sa_column=Column(String(64), ForeignKey("source_system.name"), nullable=False))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    source_id: str = Field(sa_column=Column(String(255), nullable=False))
    object_type: str = Field(sa_column=Column(String(64), nullable=False))
    raw: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    fields: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    prepared: dict | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    source_updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    deleted: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    golden_id: str | None = Field(
        default=None, sa_column=Column(String(36), ForeignKey("golden_record.id"), nullable=True)
    )
    #: pending | linked | review | new | deleted | error
    match_status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    match_probability: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    match_explanation: dict | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    model_version: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    resolved_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    enqueued_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    #: the RQ job that should resolve this record; the sweep checks it still exists
    job_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    warnings: list | None = Field(default=None, sa_column=Column(JSONType, nullable=True))


class GoldenRecord(SQLModel, table=True):
    """The hub's master record for one real-world entity; its id is stable and never reused."""

    __tablename__ = "golden_record"
    __table_args__ = (Index("ix_golden_domain_status", "domain", "status"),)

    id: str = Field(default_factory=new_uuid, sa_column=Column(String(36), primary_key=True))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    #: active | merged | retired
    status: str = Field(default="active", sa_column=Column(String(16), nullable=False))
    merged_into: str | None = Field(default=None, sa_column=Column(String(36), nullable=True, index=True))
    #: approved | pending_review | pending_onboarding
    approval: str = Field(default="approved", sa_column=Column(String(24), nullable=False))
    fields: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    lineage: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    version: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    account_number: str | None = Field(default=None, sa_column=Column(String(64), nullable=True, unique=True))
    rules_hash: str | None = Field(default=None, sa_column=Column(String(80), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class GoldenVersion(SQLModel, table=True):
    """Every version a golden record ever had, with the cause of the change."""

    __tablename__ = "golden_version"
    __table_args__ = (UniqueConstraint("golden_id", "version", name="uq_golden_version"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    golden_id: str = Field(sa_column=Column(String(36), ForeignKey("golden_record.id"), nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    fields: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    lineage: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    members: list = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    cause: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    correlation_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class MatchKey(SQLModel, table=True):
    """Blocking keys of live source records: candidate lookup is an index probe on (domain, key).

    The primary key is the row itself, (domain, key, source_record_id): the lookup reads the
    record ids from the index alone, and a key costs two index entries, not three. There is no
    foreign key to ``source_record`` on purpose (migration 0005): this is a derived index,
    written only beside its record's own row in the same transaction and rebuilt by ``mdm
    rekey``; source records are never deleted, only flagged. The per-row check cost more than
    inserting the row (docs/benchmarks-speed.md, run 10).
    """

    __tablename__ = "match_key"
    __table_args__ = (Index("ix_match_key_record", "source_record_id"),)

    domain: str = Field(sa_column=Column(String(16), primary_key=True))
    key: str = Field(sa_column=Column(String(200), primary_key=True))
    source_record_id: int = Field(sa_column=Column(BigId, primary_key=True, autoincrement=False))


class ReviewItem(SQLModel, table=True):
    """A proposed link in the review band, waiting for a data steward."""

    __tablename__ = "review_item"
    __table_args__ = (
        # the queue is paged by id (keyset), so the index ends with it (migration 0008)
        Index("ix_review_item_queue", "domain", "status", "id"),
        Index("ix_review_item_record", "source_record_id"),
        # "is this golden the candidate of an open review?" (the resolve path's bridge check)
        Index("ix_review_item_candidate", "candidate_golden_id", "status"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    source_record_id: int = Field(sa_column=Column(BigId, ForeignKey("source_record.id"), nullable=False))
    candidate_golden_id: str = Field(sa_column=Column(String(36), nullable=False))
    probability: float = Field(sa_column=Column(Float, nullable=False))
    explanation: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    #: open | approved | rejected | superseded
    status: str = Field(default="open", sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    decided_by: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class MatchLabel(SQLModel, table=True):
    """A steward's match / not-a-match decision: training data, and a guard against re-linking.

    ``record_hash`` is the record's content hash at decision time: a "not a match" holds
    until the record's fields change.
    """

    __tablename__ = "match_label"
    __table_args__ = (Index("ix_match_label_pair", "source_record_id", "golden_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    source_record_id: int = Field(sa_column=Column(BigId, ForeignKey("source_record.id"), nullable=False))
    golden_id: str = Field(sa_column=Column(String(36), nullable=False))
    is_match: bool = Field(sa_column=Column(Boolean, nullable=False))
    record_hash: str = Field(sa_column=Column(String(64), nullable=False))
    snapshot: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    decided_by: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class Batch(SQLModel, table=True):
    """One ``POST …/batches`` call; its progress is counted from its items."""

    __tablename__ = "batch"
    __table_args__ = (
        # the sweep looks for open batches on every pass: a partial index keeps that proportional
        # to the batches still open, not to every batch ever received
        Index("ix_batch_open", "created_at", postgresql_where=text("finished_at IS NULL"),
              sqlite_where=text("finished_at IS NULL")),
    )

    id: str = Field(default_factory=new_uuid, sa_column=Column(String(36), primary_key=True))
    source: str = Field(sa_column=Column(String(64), nullable=False))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    total: int = Field(sa_column=Column(Integer, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class BatchItem(SQLModel, table=True):
    """One record of a batch. ``status``: pending → done (resolved), ignored (stale) or failed."""

    __tablename__ = "batch_item"
    __table_args__ = (
        Index("ix_batch_item_status", "batch_id", "status"),
        Index("ix_batch_item_record", "source_record_id", "status"),
    )

    batch_id: str = Field(sa_column=Column(String(36), ForeignKey("batch.id"), primary_key=True))
    position: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    source_record_id: int = Field(sa_column=Column(BigId, ForeignKey("source_record.id"), nullable=False))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))


class DataLoad(SQLModel, table=True):
    """One file sent to ``POST …/loads``: staged in ``data_load_chunk``, loaded by one job.

    ``status``: queued → running → done or failed. ``path`` is what the job used: ``bulk`` (the
    set-based initial load, :mod:`mdm.bulk`) or ``stream`` (stored in batches, resolved by the
    resolve workers). ``attempt`` counts the job's runs; a run writes its outcome only while its
    attempt is the latest, so a duplicate or superseded run cannot overwrite a newer one.
    """

    __tablename__ = "data_load"
    __table_args__ = (
        # the sweep looks for loads whose job was lost: only the unfinished ones are indexed
        Index("ix_data_load_open", "created_at", postgresql_where=text("status IN ('queued', 'running')"),
              sqlite_where=text("status IN ('queued', 'running')")),
    )

    id: str = Field(default_factory=new_uuid, sa_column=Column(String(36), primary_key=True))
    source: str = Field(sa_column=Column(String(64), nullable=False))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    #: csv | jsonl
    format: str = Field(sa_column=Column(String(8), nullable=False))
    #: what the client asked for: auto | bulk | stream
    mode: str = Field(sa_column=Column(String(8), nullable=False))
    #: what the job did: bulk | stream (null until it decided)
    path: str | None = Field(default=None, sa_column=Column(String(8), nullable=True))
    status: str = Field(default="queued", sa_column=Column(String(16), nullable=False))
    attempt: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    size_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    job_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    report: dict | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class DataLoadChunk(SQLModel, table=True):
    """A piece (at most 1 MiB) of a load's uploaded file (``kind='input'``, removed once loaded) or
    of its reject file (``kind='rejects'``). Staged in the database, not on a disk, so that any
    worker on any machine can run the load against the one PostgreSQL."""

    __tablename__ = "data_load_chunk"

    load_id: str = Field(sa_column=Column(String(36), ForeignKey("data_load.id"), primary_key=True))
    kind: str = Field(sa_column=Column(String(8), primary_key=True))
    seq: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class ApiKey(SQLModel, table=True):
    """An API key, stored as a SHA-256 hash; the clear key is shown once at creation."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(sa_column=Column(String(128), nullable=False))
    #: source | steward | subscriber | admin
    role: str = Field(sa_column=Column(String(16), nullable=False))
    source: str | None = Field(default=None, sa_column=Column(String(64), ForeignKey("source_system.name"), nullable=True))
    key_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    prefix: str = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class OutboxEvent(SQLModel, table=True):
    """A golden change, written in the same transaction as the change (transactional outbox)."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_golden", "golden_id", "golden_version"),
        Index("ix_outbox_feed", "txid", "id"),
        Index("ix_outbox_created", "created_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    event_id: str = Field(default_factory=new_uuid, sa_column=Column(String(36), nullable=False, unique=True))
    golden_id: str = Field(sa_column=Column(String(36), nullable=False))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    golden_version: int = Field(sa_column=Column(Integer, nullable=False))
    #: created | updated | merged | split | retired | erased
    type: str = Field(sa_column=Column(String(16), nullable=False))
    payload: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    correlation_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    #: writing transaction's id (PostgreSQL ``pg_current_xact_id()``, a server default; NULL on
    #: SQLite): the change feed orders by (txid, id) and never skips a late commit
    txid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, server_default=FetchedValue()))


class MatchModelRow(SQLModel, table=True):
    """A saved, versioned matching model (one JSON document); the active one scores new records."""

    __tablename__ = "match_model"
    __table_args__ = (Index("ix_match_model_active", "domain", "active"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    version: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    document: dict = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    active: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class GoldenOverride(SQLModel, table=True):
    """A steward-pinned field value; it wins survivorship until unpinned."""

    __tablename__ = "golden_override"

    golden_id: str = Field(sa_column=Column(String(36), ForeignKey("golden_record.id"), primary_key=True))
    field: str = Field(sa_column=Column(String(64), primary_key=True))
    value: Any = Field(default=None, sa_column=Column(JSONType, nullable=True))
    pinned_by: str = Field(sa_column=Column(String(128), nullable=False))
    pinned_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class Counter(SQLModel, table=True):
    """Named monotonic counters (account numbers): ``UPDATE … RETURNING`` makes them safe under concurrency."""

    __tablename__ = "counter"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
