"""The schema is only changed through Alembic: the migrations must build exactly the models."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from mdm import runtime
from mdm.db import dispose_engines
from mdm.engines import reset_caches
from mdm.loader import load_file
from mdm.migrate import alembic_config, head_revision, upgrade
from mdm.schema import metadata
from mdm.settings import Settings
from tests.conftest import fresh_pg_database


def diff(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        changes = compare_metadata(context, metadata)
    engine.dispose()
    return changes


def test_migrations_match_models_on_sqlite(sqlite_settings: Settings) -> None:
    assert diff(sqlite_settings.database_url) == []


def test_migrations_match_models_on_postgres(pg_url: str) -> None:
    assert diff(pg_url) == []


def test_upgrade_is_idempotent_and_readyz_notices_a_stale_schema(hub, tmp_path) -> None:  # noqa: ANN001
    upgrade(hub.settings.database_url)  # a second upgrade is a no-op
    assert hub.client.get("/readyz").status_code == 200
    engine = create_engine(hub.settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    engine.dispose()
    ready = hub.client.get("/readyz")
    if head_revision(hub.settings.database_url) != "0001":
        assert ready.status_code == 503 and "mdm db upgrade" in ready.get_json()["checks"]["migrations"]
    else:
        assert ready.status_code == 200


# --- 0005: match_key's primary key is the row; no foreign key ------------------------------------
CUSTOMERS = [
    {"kind": "person", "first_name": "Katherine", "last_name": "Zielinski", "birth_date": "1970-02-03",
     "address": {"line1": "4 Kent St", "city": "Deakin", "postal_code": "2600", "country": "AU"}},
    {"kind": "person", "first_name": "Kathy", "last_name": "Zielinski", "birth_date": "1970-02-03"},
    {"kind": "organization", "name": "Acme Corporation", "website": "acme.com"},
]


def _stored_keys(url: str) -> set[tuple[str, str, int]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {tuple(r) for r in conn.exec_driver_sql("SELECT domain, key, source_record_id FROM match_key")}
    engine.dispose()
    return rows  # type: ignore[return-value]


def _match_key_shape(url: str) -> tuple[list[str], list[str], set[str]]:
    engine = create_engine(url)
    shape = inspect(engine)
    pk = shape.get_pk_constraint("match_key")["constrained_columns"]
    fks = [fk["referred_table"] for fk in shape.get_foreign_keys("match_key")]
    indexes = {ix["name"] for ix in shape.get_indexes("match_key")}
    engine.dispose()
    return pk, fks, indexes


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_match_key_primary_key_migration_keeps_every_key_both_ways(dialect: str, tmp_path: Path) -> None:
    with ExitStack() as stack:
        url = (stack.enter_context(fresh_pg_database(migrate=False)) if dialect == "postgresql"
               else f"sqlite:///{tmp_path / 'keys.sqlite3'}")
        upgrade(url, "0004")
        assert _match_key_shape(url)[0] == ["id"]
        upgrade(url)
        settings = Settings(database_url=url, redis_url=None)
        runtime.configure(settings)
        reset_caches()
        data = tmp_path / "customers.jsonl"
        data.write_text("".join(json.dumps({"source_id": f"c{i}", "fields": f}) + "\n" for i, f in enumerate(CUSTOMERS)))
        load_file(settings, data, "erp", "customer")
        dispose_engines()
        keys = _stored_keys(url)
        assert len({rid for _, _, rid in keys}) == len(CUSTOMERS) and len(keys) > 3 * len(CUSTOMERS)
        assert _match_key_shape(url) == (["domain", "key", "source_record_id"], [], {"ix_match_key_record"})

        command.downgrade(alembic_config(url), "0004")
        assert _stored_keys(url) == keys
        assert _match_key_shape(url) == (["id"], ["source_record"], {"ix_match_key_lookup", "ix_match_key_record"})
        twice = next(iter(keys))  # 0004 allowed a row twice; the upgrade keeps it once
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO match_key (domain, key, source_record_id) VALUES (%s, %s, %s)"
                                 if dialect == "postgresql" else
                                 "INSERT INTO match_key (domain, key, source_record_id) VALUES (?, ?, ?)", twice)
            assert conn.exec_driver_sql("SELECT count(*) FROM match_key").scalar_one() == len(keys) + 1
        engine.dispose()

        upgrade(url)
        assert _stored_keys(url) == keys
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM match_key").scalar_one() == len(keys)
        engine.dispose()
        assert _match_key_shape(url)[0] == ["domain", "key", "source_record_id"]
        assert diff(url) == []


# --- 0007: JSONB values compressed with LZ4 -------------------------------------------------------
def _jsonb_compression(url: str) -> dict[str, str]:
    """Column -> its compression method ('' = the server default, pglz) for every JSONB column."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND a.atttypid = 'jsonb'::regtype AND a.attnum > 0 "
            "AND NOT a.attisdropped AND c.relkind = 'r'").all()
    engine.dispose()
    return {column: {"l": "lz4", "p": "pglz", "": ""}[method] for column, method in rows}


def test_jsonb_columns_are_lz4_compressed_and_large_values_are_stored_so(tmp_path: Path) -> None:
    with fresh_pg_database(migrate=False) as url:
        upgrade(url, "0006")
        before = _jsonb_compression(url)
        assert "source_record.match_explanation" in before and "golden_version.lineage" in before
        assert set(before.values()) == {""}
        upgrade(url)
        assert _jsonb_compression(url) == {column: "lz4" for column in before}  # every one, none missed
        settings = Settings(database_url=url, redis_url=None)
        runtime.configure(settings)
        reset_caches()
        data = tmp_path / "customers.jsonl"
        # a note long enough (and varied enough) that the stored row must be compressed
        note = " ".join(f"visit {i} went well" for i in range(400))
        data.write_text("".join(json.dumps({"source_id": f"c{i}", "fields": {**f, "Note": note}}) + "\n"
                                for i, f in enumerate(CUSTOMERS)))
        load_file(settings, data, "erp", "customer")
        dispose_engines()
        engine = create_engine(url)
        with engine.connect() as conn:
            methods = {row[0] for row in conn.exec_driver_sql(
                "SELECT pg_column_compression(fields) FROM source_record")}
            lineage = {row[0] for row in conn.exec_driver_sql(
                "SELECT pg_column_compression(lineage) FROM golden_version")}
        engine.dispose()
        assert methods == {"lz4"} and lineage == {"lz4"}
        command.downgrade(alembic_config(url), "0006")
        assert set(_jsonb_compression(url).values()) == {"pglz"}
