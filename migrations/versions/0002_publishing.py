"""publishing: subscriptions, deliveries, and the outbox transaction id for the change feed

Revision ID: 0002
Revises: 0001

On PostgreSQL every outbox row records the id of the transaction that wrote it
(``pg_current_xact_id()``, as a column default, so no writer has to remember it). The change
feed orders by (txid, id) and only reads rows whose transaction is older than the oldest one
still running, which is what makes the feed's cursors skip nothing (see mdm/publishing/feed.py).
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("txid", sa.BigInteger(), nullable=True))
    if postgres:
        op.execute("UPDATE outbox_event SET txid = 0 WHERE txid IS NULL")
        op.execute("ALTER TABLE outbox_event ALTER COLUMN txid SET DEFAULT (pg_current_xact_id()::text::bigint)")
    # (on SQLite txid stays NULL and the feed orders by id; the index is harmless there)
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_feed", ["txid", "id"])
        batch_op.create_index("ix_outbox_created", ["created_at"])

    op.create_table(
        "subscription",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("config", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("domains", JSONT, nullable=False),
        sa.Column("event_types", JSONT, nullable=False),
        sa.Column("publish_unapproved", JSONT, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("owner_key_id", sa.BigInteger(), nullable=True),
        sa.Column("cursor_txid", sa.BigInteger(), nullable=False),
        sa.Column("cursor_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "delivery",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("outbox_id", BIGID, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("golden_id", sa.String(length=36), nullable=False),
        sa.Column("golden_version", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("response", JSONT, nullable=True),
        sa.Column("remote_id", sa.String(length=64), nullable=True),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.Column("event_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscription.id"]),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox_event.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_delivery_sub_event"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_due", ["subscription_id", "status", "next_attempt_at"])
        batch_op.create_index("ix_delivery_lane", ["subscription_id", "golden_id", "golden_version"])
        batch_op.create_index("ix_delivery_event", ["event_id"])
        batch_op.create_index("ix_delivery_status", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("delivery")
    op.drop_table("subscription")
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_feed")
        batch_op.drop_index("ix_outbox_created")
        batch_op.drop_column("txid")
