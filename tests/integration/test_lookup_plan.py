"""The real-time candidate lookup, and the resolution write, stay index probes, even with a generic plan.

psycopg prepares the lookup statement after a few executions, and PostgreSQL may then reuse a
*generic* plan made without the parameter values. Made while ``match_key`` looked small (a fresh
hub, or before any ANALYZE — autovacuum may be off or not have run yet), that plan used to read
every key of the domain and filter by key in a join: 40 ms per resolve at 9,000 records, growing
with the hub (found while profiling the streaming benchmark). The probe is now a LATERAL subquery
the planner cannot flatten; this test forces the generic plan on an un-analyzed table and counts
the ``match_key`` rows the statement reads. The resolution write's "insert the keys the record
does not hold yet" was once planned the same way, on an un-analyzed table: a scan of the whole
domain's keys per record (3.5 ms a record at 75,000 keys in the streaming benchmark). Locking
the open batches of a group's records, at the end of its transaction, was planned from the open
batches with a scan of each one's items: 52–90 ms a group while a client had hundreds of batches
open (run 19).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from mdm.db import UnitOfWork
from mdm.services.ingest import Change, accept_batch
from mdm.services.resolve import _PG_LOCK_OPEN_BATCHES, _PG_LOOKUP, _PG_RESOLVED, resolve_one
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
    """Rows the executor read from ``relation``'s scans, over all loops: those it produced and
    those a scan's filter dropped (EXPLAIN shows both per loop)."""
    own = 0
    if plan.get("Relation Name") == relation:
        own = (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1)
    return own + sum(rows_read(child, relation) for child in plan.get("Plans", []))


def resolved_hub(settings: Settings) -> list[int]:
    """PEOPLE records resolved one by one on tables never analyzed; their ids."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with UnitOfWork(settings) as uow:
        _, ids = accept_batch(uow, "erp", "customer", [Change(f"p{i}", person(i), now) for i in range(PEOPLE)])
        uow.commit()
    for record_id in ids:
        with UnitOfWork(settings) as uow:
            resolve_one(uow, record_id)
            uow.commit()
    return ids


def blocks_scanned(plan: dict[str, Any], relation: str) -> int:
    """Buffers ``relation``'s scans touched (not its writes): an index condition on a column
    after the first drops no rows EXPLAIN would count, but walks every page of the range."""
    own = 0
    if plan.get("Relation Name") == relation and plan.get("Node Type") != "ModifyTable":
        own = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return own + sum(blocks_scanned(child, relation) for child in plan.get("Plans", []))


def prepare_generic(conn: Any, name: str, statement: str, params: dict[str, tuple[str, Any]]) -> None:
    """PREPARE ``statement`` under ``name`` with a forced generic plan; ``params``: its ``:name``
    parameters as (SQL type, value) — the order of the statement's positional parameters."""
    order = list(params)
    sql = re.sub(r"(?<!:):(\w+)\b", lambda m: f"${order.index(m.group(1)) + 1}" if m.group(1) in params else m.group(0), statement)
    cursor = psycopg.ClientCursor(conn.connection.driver_connection)  # "$1" inside PREPARE must reach the server as text
    cursor.execute("SET plan_cache_mode = force_generic_plan")
    cursor.execute(f"PREPARE {name}({', '.join(params[k][0] for k in order)}) AS {sql}")


def explain_execute(conn: Any, name: str, params: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """EXPLAIN ANALYZE of the prepared statement ``name`` with ``params`` (as for :func:`prepare_generic`)."""
    cursor = psycopg.ClientCursor(conn.connection.driver_connection)
    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE {name}({', '.join(['%s'] * len(params))})",
                   [value for _, value in params.values()])
    plan_json = cursor.fetchone()[0]
    return (plan_json if isinstance(plan_json, list) else json.loads(plan_json))[0]["Plan"]


def test_generic_plan_probes_keys_instead_of_scanning_the_domain(settings: Settings) -> None:
    ids = resolved_hub(settings)

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
            params = {"keys": ("varchar[]", keys), "domain": ("varchar", "customer"), "rid": ("bigint", probe),
                      "hash": ("varchar", content_hash)}
            prepare_generic(conn, "lookup", _PG_LOOKUP.text, params)
            plan = explain_execute(conn, "lookup", params)
    finally:
        engine.dispose()
    read = rows_read(plan, "match_key")
    assert total_keys > 10 * len(keys) * largest_block, (total_keys, len(keys), largest_block)  # a scan would show
    # two probes per key (block size, then members), each reading at most the key's block
    assert read <= 2 * len(keys) * largest_block, f"read {read} of {total_keys} match_key rows for {len(keys)} keys"


def resolution_params(rid: int, keys: list[str]) -> dict[str, tuple[str, Any]]:
    """Parameters of ``_PG_RESOLVED`` storing ``keys`` for record ``rid`` (as for :func:`prepare_generic`)."""
    return {"prepared": ("jsonb", '{"values": {}}'), "golden_id": ("varchar", None), "match_status": ("varchar", "new"),
            "match_probability": ("float8", None), "match_explanation": ("jsonb", "{}"), "model_version": ("varchar", "m"),
            "keep_warnings": ("bool", True), "warnings": ("jsonb", None), "resolved_hash": ("varchar", "h"),
            "resolved_at": ("timestamptz", datetime(2026, 1, 2, tzinfo=UTC)), "rid": ("bigint", rid),
            "keys": ("varchar[]", keys), "domain": ("varchar", "customer")}


def test_generic_plan_of_the_resolution_write_reads_only_the_records_own_keys(settings: Settings) -> None:
    """A worker's connection prepares the write while the hub is empty and keeps that plan as the
    hub grows (inserts do not invalidate it). Re-resolving a record with one key changed must
    then read that record's keys, not the domain's."""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            prepare_generic(conn, "resolved", _PG_RESOLVED.text, resolution_params(1, ["k"]))
            explain_execute(conn, "resolved", resolution_params(1, ["k"]))  # the generic plan, made on empty tables
            conn.rollback()
            ids = resolved_hub(settings)
            # a hub the size of a streaming benchmark's first minute (keys of records that need not
            # exist: match_key has no foreign key), never analyzed
            conn.execute(text("INSERT INTO match_key (domain, key, source_record_id) SELECT 'customer', 'k' || (i % 20000), "
                              "1000000 + i / 15 FROM generate_series(1, 75000) AS i"))
            conn.commit()
            total_keys = conn.execute(text("SELECT count(*) FROM match_key WHERE domain = 'customer'")).scalar_one()
            probe = ids[-1]
            keys = list(conn.execute(text("SELECT key FROM match_key WHERE source_record_id = :r ORDER BY key"), {"r": probe}).scalars())
            new_keys = [*keys[1:], "name:a-key-no-record-has"]
            plan = explain_execute(conn, "resolved", resolution_params(probe, new_keys))
            after = set(conn.execute(text("SELECT key FROM match_key WHERE source_record_id = :r"), {"r": probe}).scalars())
            conn.rollback()
    finally:
        engine.dispose()
    assert after == set(new_keys)  # the statement did its work: one key lost, one gained
    assert total_keys > 20 * len(keys), total_keys
    # the record's keys are on one or two pages of ix_match_key_record; the domain's on hundreds
    blocks = blocks_scanned(plan, "match_key")
    assert blocks <= 12, f"scanned {blocks} match_key pages to change {len(keys)} keys of {total_keys}"


def is_locked(engine: Any, batch_id: str) -> bool:
    """Whether another transaction holds ``batch_id``'s row lock (asked from a connection of its own)."""
    with engine.connect() as other:
        try:
            other.execute(text("SELECT id FROM batch WHERE id = :b FOR UPDATE NOWAIT"), {"b": batch_id})
        except OperationalError as exc:
            if isinstance(exc.orig, psycopg.errors.LockNotAvailable):
                return True
            raise
        finally:
            other.rollback()
    return False


@pytest.mark.parametrize("plan_mode", ["force_generic_plan", "force_custom_plan"])
def test_locking_a_groups_open_batches_reads_only_their_own_items(settings: Settings, plan_mode: str) -> None:
    """Many open batches (a client posting faster than workers resolve), tables never analyzed:
    locking the batches of a group's records reads those records' items and those batches, in
    ascending id, skipping a finished one — not every open batch's items."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    batches, per_batch = 150, 40
    batch_ids, record_ids = [], []
    with UnitOfWork(settings) as uow:
        for b in range(batches):
            accepted, ids = accept_batch(uow, "erp", "customer", [
                Change(f"b{b}-{i}", person(b * per_batch + i), now) for i in range(per_batch)])
            batch_ids.append(accepted.batch_id)
            record_ids += ids
        uow.commit()
    group = record_ids[-100:]  # the last three batches' records (and part of a fourth)
    finished = batch_ids[-2]
    expected = sorted({batch_ids[i // per_batch] for i in range(len(record_ids) - 100, len(record_ids))} - {finished})
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("UPDATE batch SET finished_at = now() WHERE id = :b"), {"b": finished})
            conn.commit()
            params = {"ids": ("bigint[]", group)}
            prepare_generic(conn, "lock_batches", _PG_LOCK_OPEN_BATCHES.text, params)
            cursor = psycopg.ClientCursor(conn.connection.driver_connection)
            cursor.execute(f"SET plan_cache_mode = {plan_mode}")
            cursor.execute("EXECUTE lock_batches(%s)", [group])
            locked = [row[0] for row in cursor.fetchall()]
            held = {batch_id: is_locked(engine, batch_id) for batch_id in [*expected, finished]}
            conn.rollback()
            plan = explain_execute(conn, "lock_batches", params)
            conn.rollback()
    finally:
        engine.dispose()
    assert locked == expected
    assert held == {**{batch_id: True for batch_id in expected}, finished: False}  # a finished batch is not locked
    items_read = rows_read(plan, "batch_item")
    assert items_read <= 2 * len(group), f"read {items_read} batch items to find the batches of {len(group)} records"
    # each of the group's batches once, by its primary key (the finished one too, left out
    # before the lock), none of the other open ones
    assert rows_read(plan, "batch") == len(expected) + 1, rows_read(plan, "batch")
