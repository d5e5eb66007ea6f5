"""The schema is only changed through Alembic: the migrations must build exactly the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from mdm.migrate import head_revision, upgrade
from mdm.schema import metadata
from mdm.settings import Settings


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
