"""Fixtures: ``app``/``client`` on the laptop default (SQLite, inline jobs) and ``pg_hub`` on
real PostgreSQL + real Redis + a real ``mdm worker`` process.

PostgreSQL and Redis are required, never skipped: when they cannot be reached the tests
that need them fail with a message saying how to start them. A fresh PostgreSQL database
is created per test run and dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from mdm import runtime
from mdm.db import UnitOfWork, dispose_engines
from mdm.engines import reset_caches
from mdm.migrate import upgrade
from mdm.services.apikeys import create_key
from mdm.settings import Settings

PG_ADMIN_URL = os.environ.get("MDM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: each pytest-xdist worker gets its own Redis database, so flushing one never hurts another
_XDIST = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
REDIS_URL = os.environ.get("MDM_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{15 - int(_XDIST[2:] or 0) % 8}")
SERVICES_HINT = "start them with scripts/services.sh (see README, 'Running the tests')"
#: Tables emptied between PostgreSQL tests (everything but the seeded source systems).
DATA_TABLES = [
    "delivery", "subscription", "data_load_chunk", "data_load",
    "batch_item", "batch", "review_item", "match_label", "match_key", "golden_override", "outbox_event",
    "golden_version", "source_record", "golden_record", "api_key", "match_model", "counter",
]


@dataclass
class Hub:
    """A configured hub for one test: settings, a Flask test client and keys per role."""

    settings: Settings
    client: Any
    keys: dict[str, str]

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def put(self, source: str, domain: str, source_id: str, fields: dict[str, Any], updated_at: str = "2026-01-01T00:00:00Z", role: str | None = None, **extra: Any) -> Any:
        body = {"fields": fields, "updated_at": updated_at, **extra}
        return self.client.put(
            f"/api/v1/sources/{source}/{domain}/records/{source_id}", json=body, headers=self.headers(role or source)
        )

    def get(self, path: str, role: str = "admin") -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.headers(role))

    def wait_resolved(self, timeout: float = 60.0) -> None:
        """Inline jobs are done on return; with a worker, poll the database (the truth)."""
        if self.settings.jobs_inline:
            return
        deadline = time.monotonic() + timeout
        engine = create_engine(self.settings.database_url)
        try:
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    pending = conn.execute(text("SELECT count(*) FROM source_record WHERE match_status = 'pending'")).scalar_one()
                if pending == 0:
                    return
                time.sleep(0.1)
        finally:
            engine.dispose()
        raise AssertionError(f"{pending} records still pending after {timeout}s")


def make_keys(settings: Settings) -> dict[str, str]:
    keys = {}
    with UnitOfWork(settings) as uow:
        for name, role, source in [
            ("admin", "admin", None),
            ("steward", "steward", None),
            ("subscriber", "subscriber", None),
            ("salesforce", "source", "salesforce"),
            ("erp", "source", "erp"),
        ]:
            keys[name] = create_key(uow, name, role, source)[1]
        uow.commit()
    return keys


def _build_hub(settings: Settings) -> Hub:
    from api import create_app

    reset_caches()
    app = create_app(settings=settings)
    app.config["TESTING"] = True
    return Hub(settings, app.test_client(), make_keys(settings))


# --- the laptop default: SQLite file, jobs inline -------------------------------------------


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'mdm.sqlite3'}", redis_url=None)
    upgrade(settings.database_url)
    runtime.configure(settings)
    yield settings
    dispose_engines()


@pytest.fixture
def hub(sqlite_settings: Settings) -> Hub:
    return _build_hub(sqlite_settings)


@pytest.fixture
def app(hub: Hub) -> Any:
    return hub.client.application


@pytest.fixture
def client(hub: Hub) -> Any:
    return hub.client


# --- real PostgreSQL + Redis + worker --------------------------------------------------------


@contextmanager
def fresh_pg_database(migrate: bool = True) -> Iterator[str]:
    """A new PostgreSQL database (at the head revision unless ``migrate=False``), dropped afterwards."""
    name = f"mdm_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_URL} and could not be reached ({exc}); {SERVICES_HINT}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database for this test run, dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    from redis import Redis

    try:
        Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"Redis is required at {REDIS_URL} and could not be reached ({exc}); {SERVICES_HINT}")
    return REDIS_URL


@pytest.fixture(scope="session")
def pg_settings(pg_url: str, redis_url: str) -> Settings:
    from redis import Redis

    prefix = f"mdmtest{uuid.uuid4().hex[:8]}"
    Redis.from_url(redis_url).flushdb()
    return Settings(
        database_url=pg_url,
        redis_url=redis_url,
        queue_prefix=prefix,
        sweep_after_seconds=2,
        sweep_interval_seconds=1,
        resolve_chunk_size=50,
        retry_intervals=(1, 1),
        job_heartbeat_seconds=2,
    )


def worker_env(settings: Settings) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        {
            "MDM_DATABASE_URL": settings.database_url,
            "MDM_REDIS_URL": settings.redis_url or "",
            "MDM_QUEUE_PREFIX": settings.queue_prefix,
            "MDM_SWEEP_AFTER_SECONDS": str(settings.sweep_after_seconds),
            "MDM_SWEEP_INTERVAL_SECONDS": str(settings.sweep_interval_seconds),
            "MDM_RESOLVE_CHUNK_SIZE": str(settings.resolve_chunk_size),
            "MDM_RESOLVE_GROUP_SIZE": str(settings.resolve_group_size),
            "MDM_RETRY_INTERVALS": ",".join(str(i) for i in settings.retry_intervals),
            "MDM_JOB_MAX_ATTEMPTS": str(settings.job_max_attempts),
            "MDM_JOB_HEARTBEAT_SECONDS": str(settings.job_heartbeat_seconds),
        }
    )
    if settings.rules_dir:
        env["MDM_RULES_DIR"] = settings.rules_dir
    return env


class WorkerProcess:
    """A real ``mdm worker`` in its own process group (so the test can SIGKILL it and its sweep)."""

    def __init__(self, settings: Settings, queue: str = "resolve", sweep: bool = True) -> None:
        args = [sys.executable, "-m", "mdm.cli", "worker", "--queue", queue, "--sweep" if sweep else "--no-sweep"]
        self.log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"mdm-worker-{uuid.uuid4().hex[:6]}.log", "w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(args, env=worker_env(settings), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self, sig: int = 9) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=20)

    def kill_all(self) -> None:
        """SIGKILL the worker and every process it started: RQ's forked work-horse runs in a
        session of its own (``os.setsid``), so :meth:`kill` of the worker's group leaves it running."""
        import psutil

        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.kill()
        self.kill(9)

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@pytest.fixture(scope="session")
def resolve_worker(pg_settings: Settings) -> Iterator[WorkerProcess]:
    # no sweep here: tests with their own queue prefix share this database, and this worker's
    # sweep would take their records (their jobs live in another Redis database)
    worker = WorkerProcess(pg_settings, sweep=False)
    yield worker
    worker.kill(15)


def truncate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(DATA_TABLES) + " RESTART IDENTITY CASCADE"))
        conn.execute(text("DELETE FROM source_system WHERE name NOT IN ('salesforce', 'erp')"))
    engine.dispose()


@contextmanager
def captured_statements() -> Iterator[list[tuple[str, Any]]]:
    """Every statement (text, parameters) that any engine of this process sends meanwhile: for
    tests that count statements (no N+1) or explain them (plans)."""
    from sqlalchemy import Engine, event

    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, dict(parameters) if isinstance(parameters, dict) else parameters))

    event.listen(Engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", listen)


@contextmanager
def inline_runtime(settings: Settings) -> Iterator[Settings]:
    """Run service code in this process with ``settings`` (fresh caches), restored afterwards."""
    runtime.configure(settings)
    reset_caches()
    try:
        yield settings
    finally:
        dispose_engines()
        runtime.configure(Settings.from_env())


@pytest.fixture
def pg_inline_settings(pg_settings: Settings) -> Iterator[Settings]:
    """The test database, emptied, with jobs inline (no Redis): service-level PostgreSQL tests."""
    settings = replace(pg_settings, redis_url=None)
    truncate(settings)
    with inline_runtime(settings):
        yield settings


@pytest.fixture(params=["sqlite", "postgres"])
def any_inline_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Service-level tests on both databases, jobs inline: a fresh SQLite file, or the emptied
    test database (:func:`pg_inline_settings`)."""
    if request.param == "postgres":
        yield request.getfixturevalue("pg_inline_settings")
        return
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'inline.sqlite3'}", redis_url=None)
    upgrade(settings.database_url)
    with inline_runtime(settings):
        yield settings


@pytest.fixture
def pg_hub(pg_settings: Settings, resolve_worker: WorkerProcess) -> Iterator[Hub]:
    """The hub on PostgreSQL with jobs on Redis, resolved by a real worker process."""
    assert resolve_worker.proc.poll() is None, "worker died:\n" + resolve_worker.output()
    truncate(pg_settings)
    runtime.configure(pg_settings)
    yield _build_hub(pg_settings)
    runtime.configure(Settings.from_env())


def keys_by_record(hub: Hub) -> dict[int, set[str]]:
    """The customer blocking keys stored in ``match_key``, by source record id."""
    engine = create_engine(hub.settings.database_url)
    try:
        with engine.connect() as conn:
            out: dict[int, set[str]] = {}
            for rid, key in conn.execute(text("SELECT source_record_id, key FROM match_key WHERE domain = 'customer'")):
                out.setdefault(rid, set()).add(key)
            return out
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_hub(request: pytest.FixtureRequest) -> Hub:
    """Run an API test on both the laptop default and on PostgreSQL + Redis + worker."""
    return request.getfixturevalue("hub" if request.param == "sqlite" else "pg_hub")
