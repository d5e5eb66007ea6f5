"""The real-time candidate lookup stays an index probe per key, even with a generic plan.

psycopg prepares the lookup statement after a few executions, and PostgreSQL may then reuse a
*generic* plan made without the parameter values. Made while ``match_key`` looked small (a fresh
hub, or before any ANALYZE — autovacuum may be off or not have run yet), that plan used to read
every key of the domain and filter by key in a join: 40 ms per resolve at 9,000 records, growing
with the hub (found while profiling the streaming benchmark). The probe is now a LATERAL subquery
the planner cannot flatten; this test forces the generic plan on an un-analyzed table and counts
the ``match_key`` rows the statement reads.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text

from mdm.db import UnitOfWork
from mdm.services.ingest import Change, accept_batch
from mdm.services.resolve import _PG_LOOKUP, resolve_one
from mdm.settings import Settings

PEOPLE = 300


@pytest.fixture
def settings(pg_inline_settings: Settings) -> Settings:
    return pg_inline_settings


def person(i: int) -> dict[str, Any]:
    first = ["Alice", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas"][i % 10]
    last = ["Kowalski", "Nguyen", "Okafor", "Schmidt", "Tanaka", "Moreau", "Silva"][i % 7]
    return {"kind": "person", "first_name": first, "last_name": f"{last}{i // 70}",
            "birth_date": f"19{50 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "address": {"line1": f"{i + 1} Long Road", "city": "Sydney", "postal_code": f"{2000 + i % 50}", "country": "AU"}}


def rows_read(plan: dict[str, Any], relation: str) -> int:
    """Rows the executor produced from ``relation``'s scans, over all loops."""
    own = plan.get("Actual Rows", 0) * plan.get("Actual Loops", 1) if plan.get("Relation Name") == relation else 0
    return own + sum(rows_read(child, relation) for child in plan.get("Plans", []))


def test_generic_plan_probes_keys_instead_of_scanning_the_domain(settings: Settings) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with UnitOfWork(settings) as uow:
        _, ids = accept_batch(uow, "erp", "customer", [Change(f"p{i}", person(i), now) for i in range(PEOPLE)])
        uow.commit()
    for record_id in ids:
        with UnitOfWork(settings) as uow:
            resolve_one(uow, record_id)
            uow.commit()

    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            total_keys = conn.execute(text("SELECT count(*) FROM match_key WHERE domain = 'customer'")).scalar_one()
            probe = ids[-1]
            keys = list(conn.execute(text("SELECT key FROM match_key WHERE source_record_id = :r"), {"r": probe}).scalars())
            largest_block = conn.execute(text(
                "SELECT max(n) FROM (SELECT count(*) AS n FROM match_key WHERE key = ANY(:k) GROUP BY key) b"), {"k": keys},
            ).scalar_one()
            content_hash = conn.execute(text("SELECT content_hash FROM source_record WHERE id = :r"), {"r": probe}).scalar_one()
            # the same statement text, with positional parameters, prepared and forced generic
            numbered = {"keys": "$1", "domain": "$2", "rid": "$3", "hash": "$4"}
            sql = re.sub(r"(?<!:):(keys|domain|rid|hash)\b", lambda m: numbered[m.group(1)], _PG_LOOKUP.text)
            # a client-side-binding cursor: "$1" inside PREPARE must reach the server as text
            cursor = psycopg.ClientCursor(conn.connection.driver_connection)
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            cursor.execute(f"PREPARE lookup(varchar[], varchar, bigint, varchar) AS {sql}")
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE lookup(%s, 'customer', %s, %s)", (keys, probe, content_hash))
            plan_json = cursor.fetchone()[0]
    finally:
        engine.dispose()
    plan = (plan_json if isinstance(plan_json, list) else json.loads(plan_json))[0]["Plan"]
    read = rows_read(plan, "match_key")
    assert total_keys > 10 * len(keys) * largest_block, (total_keys, len(keys), largest_block)  # a scan would show
    # two probes per key (block size, then members), each reading at most the key's block
    assert read <= 2 * len(keys) * largest_block, f"read {read} of {total_keys} match_key rows for {len(keys)} keys"
