"""The bulk load builds the indexes of tables that were empty after its COPY (mdm.bulk.indexes).

PostgreSQL only: SQLite keeps its indexes (the laptop path loads small files). What must hold:
the same indexes and constraints afterwards, by name and definition; tables that already hold
rows keep theirs untouched; a failed load, at any point including the rebuild, leaves the
original indexes in place; a writer that holds a loaded table when the load starts is waited
for, not deadlocked with.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from mdm import runtime
from mdm.bulk import load as bulk_module
from mdm.db import dispose_engines
from mdm.settings import Settings
from tests.conftest import truncate
from tests.integration.test_bulk_load import run, small_file, snapshot

pytestmark = pytest.mark.postgres

LOADED = ("golden_record", "source_record", "match_key", "golden_version", "review_item", "outbox_event")


def indexes(url: str) -> dict[tuple[str, str], tuple[str, int]]:
    """(table, index) -> (definition, oid) for the loaded tables; the oid changes when rebuilt."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT tablename, indexname, indexdef, CAST(CAST(indexname AS regclass) AS oid) FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = ANY(:t)"), {"t": list(LOADED)}).all()
        constraints = conn.execute(text(
            "SELECT conrelid::regclass::text, 'constraint ' || conname, pg_get_constraintdef(oid), 0 FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(:t)"), {"t": list(LOADED)}).all()
    engine.dispose()
    return {(t, name): (d, int(oid)) for t, name, d, oid in [*rows, *constraints]}


def definitions(snap: dict[tuple[str, str], tuple[str, int]]) -> dict[tuple[str, str], str]:
    return {k: d for k, (d, _) in snap.items()}


def rebuilt(before: dict[tuple[str, str], tuple[str, int]], after: dict[tuple[str, str], tuple[str, int]]) -> set[str]:
    return {name for (table, name), (_, oid) in after.items() if oid and oid != before[(table, name)][1]}


@pytest.fixture
def pg(pg_settings: Settings) -> Iterator[Settings]:
    settings = dataclasses.replace(pg_settings, redis_url=None, bulk_workers=1)
    truncate(settings)
    yield settings
    truncate(settings)
    dispose_engines()
    runtime.configure(Settings.from_env())


def test_an_initial_load_rebuilds_the_empty_tables_indexes_with_their_definitions(pg: Settings, tmp_path: Path) -> None:
    before = indexes(pg.database_url)
    report = run(pg, small_file(tmp_path), "bulk")
    after = indexes(pg.database_url)

    assert report.goldens == 3 and report.timings["write_indexes"] >= 0
    assert definitions(after) == definitions(before)  # same names, columns, uniqueness, predicates
    changed = rebuilt(before, after)
    # match_key's primary key and plain indexes were dropped and built again ...
    assert {"match_key_pkey", "ix_match_key_record", "ix_source_record_golden", "ix_outbox_feed"} <= changed
    # ... but never an index a foreign key depends on
    assert not {"source_record_pkey", "golden_record_pkey"} & changed
    # and the rebuilt constraints still hold: a duplicate key row is refused
    engine = create_engine(pg.database_url)
    with engine.connect() as conn:
        key, rid = conn.execute(text("SELECT key, source_record_id FROM match_key LIMIT 1")).one()
        with pytest.raises(Exception, match="match_key_pkey"):
            conn.execute(text("INSERT INTO match_key (domain, key, source_record_id) VALUES ('customer', :k, :r)"),
                         {"k": key, "r": rid})
    engine.dispose()


def test_a_table_that_holds_rows_keeps_its_indexes(pg: Settings, tmp_path: Path) -> None:
    engine = create_engine(pg.database_url)
    with engine.begin() as conn:  # another domain's key: match_key is not empty
        conn.execute(text("INSERT INTO match_key (domain, key, source_record_id) VALUES ('product', 'sku:X', 999999)"))
    engine.dispose()
    before = indexes(pg.database_url)
    assert run(pg, small_file(tmp_path), "bulk").goldens == 3
    changed = rebuilt(before, indexes(pg.database_url))
    assert not {"match_key_pkey", "ix_match_key_record"} & changed
    assert "ix_source_record_golden" in changed  # source_record was empty


@pytest.mark.parametrize("stage", ["during the rebuild", "after the rebuild"])
def test_a_failed_load_leaves_the_original_indexes(pg: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   stage: str) -> None:
    before = indexes(pg.database_url)
    real_rebuild = bulk_module.rebuild_indexes

    def rebuild_then_fail(session: Any, deferred: list[Any]) -> None:
        if stage == "during the rebuild":
            real_rebuild(session, deferred[: len(deferred) // 2])
            raise RuntimeError("interrupted during the index rebuild")
        real_rebuild(session, deferred)

    def fail_after(*_: Any) -> None:
        raise RuntimeError("interrupted after the rebuild")

    with monkeypatch.context() as patch:
        patch.setattr(bulk_module, "rebuild_indexes", rebuild_then_fail)
        if stage == "after the rebuild":
            patch.setattr(bulk_module, "_after_write", fail_after)
        with pytest.raises(RuntimeError, match="interrupted"):
            run(pg, small_file(tmp_path), "bulk")
    assert indexes(pg.database_url) == before  # the very same index objects: the DDL was rolled back
    assert set(snapshot(pg.database_url).counts.values()) == {0}
    assert run(pg, small_file(tmp_path), "bulk").goldens == 3  # and a re-run works


def test_a_load_waits_for_a_writer_holding_a_loaded_table(pg: Settings, tmp_path: Path) -> None:
    """A product resolve has written a key and not committed when the customer load begins: the
    load sees empty tables, waits for its lock, sees the row once the writer commits, and keeps
    match_key's indexes (no deadlock, no lost row)."""
    engine = create_engine(pg.database_url)
    writer = engine.connect()
    writer.begin()
    writer.execute(text("INSERT INTO match_key (domain, key, source_record_id) VALUES ('product', 'sku:Y', 999998)"))
    before = indexes(pg.database_url)
    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            outcome["report"] = run(pg, small_file(tmp_path), "bulk")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=load)
    thread.start()
    try:
        with engine.connect() as watcher:  # the load is queued behind the writer's lock
            deadline = time.monotonic() + 30
            while not watcher.execute(text(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE c.relname = 'match_key' AND l.mode = 'AccessExclusiveLock' AND NOT l.granted)")).scalar_one():
                assert time.monotonic() < deadline and thread.is_alive(), outcome
                time.sleep(0.05)
        writer.commit()
    finally:
        writer.close()  # rolls back if the assertion above failed, so the fixture can truncate
    thread.join(60)
    assert "error" not in outcome and outcome["report"].goldens == 3
    assert not {"match_key_pkey", "ix_match_key_record"} & rebuilt(before, indexes(pg.database_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM match_key WHERE domain = 'product'")).scalar_one() == 1
    engine.dispose()
