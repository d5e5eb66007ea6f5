"""match_key: the row is its own primary key, no surrogate id, no foreign-key check per row

Revision ID: 0005
Revises: 0004

Every resolved record writes ~15 blocking keys. Each key row cost a sequence value, three index
entries (id, (domain, key), source_record_id) and a foreign-key trigger that looked up and
share-locked its source record: on PostgreSQL 27 µs per key, 0.39 ms of the ~1 ms PostgreSQL
spends per resolved record (pg_stat_statements, docs/benchmarks-speed.md run 10). With the
primary key (domain, key, source_record_id) a key costs two index entries, the candidate lookup
reads record ids from the index alone, and (domain, key) needs no index of its own.

The foreign key goes: ``match_key`` is a derived index of ``source_record`` (``mdm rekey``
rebuilds it), written only in the transaction that writes its record's row, and source records
are never deleted (a deletion is a flag). Blocking keys are distinct per record
(``matching.blocking.blocking_keys``), so the new primary key holds for every stored row.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # constraint names as PostgreSQL generated them in 0001
        op.drop_constraint("match_key_source_record_id_fkey", "match_key", type_="foreignkey")
        op.drop_index("ix_match_key_lookup", table_name="match_key")
        # a row twice (never written, but a derived row carries nothing the first copy lacks)
        # is kept once, as SQLite's INSERT OR IGNORE below keeps it: the upgrade never fails on it
        op.execute("DELETE FROM match_key a USING match_key b WHERE a.domain = b.domain AND a.key = b.key "
                   "AND a.source_record_id = b.source_record_id AND a.id > b.id")
        op.drop_column("match_key", "id")  # drops match_key_pkey with it
        op.create_primary_key("match_key_pkey", "match_key", ["domain", "key", "source_record_id"])
        return
    # SQLite cannot change a primary key: build the new table and copy the keys over
    op.create_table(
        "match_key_new",
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("source_record_id", _BIG_ID, autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("domain", "key", "source_record_id"),
    )
    op.execute("INSERT OR IGNORE INTO match_key_new (domain, key, source_record_id) "
               "SELECT domain, key, source_record_id FROM match_key ORDER BY id")
    op.drop_index("ix_match_key_record", table_name="match_key")
    op.drop_index("ix_match_key_lookup", table_name="match_key")
    op.drop_table("match_key")
    op.rename_table("match_key_new", "match_key")
    op.create_index("ix_match_key_record", "match_key", ["source_record_id"], unique=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("match_key_pkey", "match_key", type_="primary")
        op.execute("ALTER TABLE match_key ADD COLUMN id BIGSERIAL")
        op.create_primary_key("match_key_pkey", "match_key", ["id"])
        op.create_index("ix_match_key_lookup", "match_key", ["domain", "key"], unique=False)
        op.create_foreign_key("match_key_source_record_id_fkey", "match_key", "source_record",
                              ["source_record_id"], ["id"])
        return
    op.create_table(
        "match_key_old",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("source_record_id", _BIG_ID, nullable=False),
        sa.ForeignKeyConstraint(["source_record_id"], ["source_record.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO match_key_old (domain, key, source_record_id) "
               "SELECT domain, key, source_record_id FROM match_key ORDER BY source_record_id")
    op.drop_index("ix_match_key_record", table_name="match_key")
    op.drop_table("match_key")
    op.rename_table("match_key_old", "match_key")
    op.create_index("ix_match_key_lookup", "match_key", ["domain", "key"], unique=False)
    op.create_index("ix_match_key_record", "match_key", ["source_record_id"], unique=False)
