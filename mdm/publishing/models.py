"""Publishing tables: subscriptions and one delivery row per (subscription, outbox event).

The outbox (``mdm.models.OutboxEvent``) is the truth about *what* happened; a delivery row is
the truth about *whether a subscriber has it*. Redis only carries "go and look" nudges, so a
flushed Redis or a killed worker loses no delivery: the sweep finds the rows again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from mdm.models import BigId, JSONType, new_uuid, utcnow

#: Delivery states. ``pending`` (incl. waiting for a retry) is the only non-terminal one.
PENDING, DELIVERED, HELD, DEAD, REJECTED, STEWARD = "pending", "delivered", "held", "dead", "rejected", "steward"
STATUSES = (PENDING, DELIVERED, HELD, DEAD, REJECTED, STEWARD)
KINDS = ("webhook", "salesforce")
EVENT_TYPES = ("created", "updated", "merged", "split", "retired", "erased")


class Subscription(SQLModel, table=True):
    """Someone who receives golden changes: a webhook endpoint or a Salesforce org.

    ``cursor_txid``/``cursor_id`` is this subscription's position in the change feed: fan-out
    reads the feed after it, exactly like a pull consumer, so it inherits the feed's
    never-skip guarantee. ``secrets``, ``config`` and ``state`` are encrypted at rest.
    """

    __tablename__ = "subscription"

    id: str = Field(default_factory=new_uuid, sa_column=Column(String(36), primary_key=True))
    name: str = Field(sa_column=Column(String(128), nullable=False))
    kind: str = Field(default="webhook", sa_column=Column(String(16), nullable=False))
    url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    secrets: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    config: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    state: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    domains: list = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    event_types: list = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    #: domains in which golden records are published before they are approved
    publish_unapproved: list = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, default=True))
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    owner_key_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    cursor_txid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    cursor_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class Delivery(SQLModel, table=True):
    """One event for one subscription. The event id is the idempotency key the consumer sees
    (``webhook-id``); ``golden_version`` orders deliveries of one golden record."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_delivery_sub_event"),
        Index("ix_delivery_due", "subscription_id", "status", "next_attempt_at"),
        Index("ix_delivery_lane", "subscription_id", "golden_id", "golden_version"),
        Index("ix_delivery_event", "event_id"),
        Index("ix_delivery_status", "status", "next_attempt_at"),
        # a subscription's deliveries are listed by id (keyset) and the metrics read the last
        # minutes' deliveries of each subscription (migration 0009)
        Index("ix_delivery_subscription", "subscription_id", "id"),
        Index("ix_delivery_delivered", "subscription_id", "delivered_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    subscription_id: str = Field(sa_column=Column(String(36), ForeignKey("subscription.id"), nullable=False))
    outbox_id: int = Field(sa_column=Column(BigId, ForeignKey("outbox_event.id"), nullable=False))
    event_id: str = Field(sa_column=Column(String(36), nullable=False))
    golden_id: str = Field(sa_column=Column(String(36), nullable=False))
    golden_version: int = Field(sa_column=Column(Integer, nullable=False))
    domain: str = Field(sa_column=Column(String(16), nullable=False))
    event_type: str = Field(sa_column=Column(String(16), nullable=False))
    status: str = Field(default=PENDING, sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
    leased_until: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    lease_token: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    last_attempt_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    last_status_code: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    #: what the receiver answered that matters later (Salesforce record id, per-record errors)
    response: dict | None = Field(default=None, sa_column=Column(JSONType, nullable=True))
    remote_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    replays: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    event_created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))
