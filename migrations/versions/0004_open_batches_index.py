"""open batches: a partial index for the sweep's search for batches left open

Revision ID: 0004
Revises: 0003

``mdm sweep`` (and each worker's sweeper) closes batches whose last items two workers finished
at the same instant; it looks for ``finished_at IS NULL`` on every pass. Indexing only the open
batches keeps that cheap however many batches the hub has received.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OPEN = sa.text("finished_at IS NULL")


def upgrade() -> None:
    op.create_index("ix_batch_open", "batch", ["created_at"], postgresql_where=_OPEN, sqlite_where=_OPEN)


def downgrade() -> None:
    op.drop_index("ix_batch_open", table_name="batch")
