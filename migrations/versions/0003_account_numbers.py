"""account numbers: a PostgreSQL sequence for hub-assigned customer account numbers

Revision ID: 0003
Revises: 0002

A sequence, not a counter row: ``nextval`` takes no row lock and is never rolled back, so
concurrent workers never wait on each other and a number is never handed out twice (gaps
are fine). SQLite has no sequences; there the ``counter`` table is used (one writer anyway).
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE IF NOT EXISTS account_number_seq START WITH 1 INCREMENT BY 1")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS account_number_seq")
