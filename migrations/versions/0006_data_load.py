"""data loads: files sent to ``POST /sources/{source}/{domain}/loads``, staged in the database

Revision ID: 0006
Revises: 0005

A full extract arrives over the API as one file. It is staged in ``data_load_chunk`` (1 MiB
pieces) rather than on the web machine's disk, so that a worker on any machine can load it
against the one PostgreSQL; ``data_load`` carries the load's state, outcome and report. The
partial index serves the sweep's search for loads whose job was lost.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OPEN = sa.text("status IN ('queued', 'running')")


def upgrade() -> None:
    op.create_table(
        "data_load",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("report", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_load_open", "data_load", ["created_at"], postgresql_where=_OPEN, sqlite_where=_OPEN)
    op.create_table(
        "data_load_chunk",
        sa.Column("load_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["load_id"], ["data_load.id"]),
        sa.PrimaryKeyConstraint("load_id", "kind", "seq"),
    )


def downgrade() -> None:
    op.drop_table("data_load_chunk")
    op.drop_index("ix_data_load_open", table_name="data_load")
    op.drop_table("data_load")
