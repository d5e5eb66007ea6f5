"""Build an empty table's indexes after its bulk COPY instead of maintaining them row by row.

Why: an index that outgrows the buffer cache is written page by page at random as rows arrive
in file order. Measured with 13,000,000 ``match_key``-shaped rows (what a 1,000,000-record
customer load writes) on the 2-core bench machine, PostgreSQL 15 with 128 MB shared buffers:
COPY into the table with its two indexes 262 s; the same COPY into the bare table 14.6 s plus
48.4 s to build both indexes afterwards (a sort each) — 4× less (docs/benchmarks-speed.md, run 13).

Only tables that are **empty** when the load's write transaction locks them are treated, and
they are locked ``ACCESS EXCLUSIVE`` (nobody reads or writes them until the load commits). All
of it is DDL inside the load's one transaction: if anything fails, the rollback puts the
original indexes back as they were. An index that a foreign key depends on (a referenced
primary key or unique constraint) stays: dropping it would drop the foreign key. Constraint
indexes that nothing references (``match_key``'s primary key, ``outbox_event.event_id``'s
unique constraint) are dropped and re-added as constraints, so a duplicate still fails the load,
at the rebuild instead of at the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Every index of the named tables in this schema, with what re-creates it.
_INDEXES = text("""
SELECT t.relname AS table_name, i.relname AS index_name, pg_get_indexdef(x.indexrelid) AS index_def,
       c.conname, c.contype, pg_get_constraintdef(c.oid) AS constraint_def,
       EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = x.indexrelid) AS referenced
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = t.oid AND c.contype IN ('p', 'u', 'x')
WHERE t.relname = ANY(CAST(:tables AS text[])) AND t.relnamespace = CAST(current_schema() AS regnamespace)
ORDER BY t.relname, i.relname
""")


@dataclass(frozen=True)
class DeferredIndex:
    """An index dropped for the COPY, and the DDL that puts it back."""

    table: str
    name: str
    drop: str
    create: str


def deferrable_indexes(session: Session, tables: list[str]) -> list[DeferredIndex]:
    """The indexes of ``tables`` that can be dropped and rebuilt: plain indexes, and primary-key
    or unique constraints that no foreign key references (exclusion constraints stay)."""
    if not tables:
        return []
    found = []
    for row in session.execute(_INDEXES, {"tables": tables}).mappings():
        if row["referenced"] or row["contype"] == "x":
            continue
        if row["conname"] is None:
            found.append(DeferredIndex(row["table_name"], row["index_name"],
                                       f'DROP INDEX "{row["index_name"]}"', row["index_def"]))
        else:
            found.append(DeferredIndex(
                row["table_name"], row["conname"],
                f'ALTER TABLE "{row["table_name"]}" DROP CONSTRAINT "{row["conname"]}"',
                f'ALTER TABLE "{row["table_name"]}" ADD CONSTRAINT "{row["conname"]}" {row["constraint_def"]}'))
    return found


def drop_indexes(session: Session, indexes: list[DeferredIndex]) -> None:
    """Drop them (the caller holds ACCESS EXCLUSIVE locks on their empty tables)."""
    for index in indexes:
        session.execute(text(index.drop))


def rebuild_indexes(session: Session, indexes: list[DeferredIndex]) -> None:
    """Re-create them, constraints included, from the definitions read before the drop."""
    for index in indexes:
        session.execute(text(index.create))
