"""JSONB columns compressed with LZ4 instead of pglz (PostgreSQL built with LZ4 only)

Revision ID: 0007
Revises: 0006

A resolved record stores its match explanation (3.5 KB of JSON), every golden version its
lineage in two places: values over ~2 KB are compressed when written, and pglz is the slow
part of writing them. Rewriting 4,000 goldens' lineage took 268–283 ms with pglz, 168–187 ms
with LZ4; 2,000 records' explanations 182–210 ms against 152–167 ms (docs/benchmarks-speed.md,
run 14). LZ4 also decompresses faster when a candidate's values are read.

Only the compression of values written from now on changes (``SET COMPRESSION`` rewrites
nothing, so the upgrade is instant at any size); stored values keep theirs and read as before.
Every JSONB column of the schema is switched, found in the catalog, not listed by hand. A server
built without LZ4 keeps pglz: nothing to do there. SQLite: nothing to do.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _jsonb_columns() -> list[tuple[str, str]]:
    return [tuple(row) for row in op.get_bind().execute(sa.text(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND data_type = 'jsonb' ORDER BY 1, 2"))]


def lz4_available() -> bool:
    """Whether this server was built with LZ4 (it is then a value of default_toast_compression)."""
    return bool(op.get_bind().execute(sa.text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")).scalar())


def _set_compression(method: str) -> None:
    if op.get_bind().dialect.name != "postgresql" or not lz4_available():
        return
    by_table: dict[str, list[str]] = {}
    for table, column in _jsonb_columns():
        by_table.setdefault(table, []).append(column)
    for table, columns in by_table.items():
        op.execute(f'ALTER TABLE "{table}" ' + ", ".join(f'ALTER COLUMN "{c}" SET COMPRESSION {method}' for c in columns))


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
