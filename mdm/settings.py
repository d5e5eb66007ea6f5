"""Settings read from the environment, each with a safe default for a laptop.

The contract names (``MDM_DATABASE_URL``, ``MDM_REDIS_URL``, ``MDM_SECRET_KEY``) are
what deployments and integration tests rely on; everything else is optional tuning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'mdm.sqlite3'}"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration. Build with :meth:`from_env`; tests pass overrides."""

    database_url: str = field(default_factory=_default_database_url)
    redis_url: str | None = None
    secret_key: str = "dev-only-change-me"
    queue_prefix: str = "mdm"
    max_batch_records: int = 5000
    max_content_length: int = 32 * 1024 * 1024
    resolve_chunk_size: int = 100
    #: records a resolve job decides in one transaction with set-wise reads and locks
    #: (mdm.services.resolve_group); 1 = one transaction per record. The default equals the
    #: chunk size: one transaction per job (a streaming run spent 11 % less worker CPU per
    #: record than with groups of 25, docs/benchmarks-speed.md run 17). Each group holds about
    #: 15 advisory locks per record until it commits (see README, "Groups")
    resolve_group_size: int = 100
    #: ``mdm worker`` forks a work-horse per job (RQ's default) instead of running jobs in
    #: its own process; see mdm.worker.run_worker for the trade-off
    worker_fork: bool = False
    job_max_attempts: int = 3
    sweep_after_seconds: int = 60
    sweep_interval_seconds: int = 30
    rules_dir: str | None = None
    #: seconds before RQ retries a failed job (needs the scheduler, see mdm.queueing)
    retry_intervals: tuple[int, ...] = (5, 30, 120, 600)
    #: how often a worker refreshes a running job's heartbeat; a started job silent for
    #: twice this (plus slack) belongs to a dead worker and the sweep takes its records back
    job_heartbeat_seconds: int = 30
    #: processes for the bulk load's CPU-bound phases (mapping/preparing rows, survivorship and
    #: row formatting); 1 = everything in the calling process
    bulk_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: largest file ``POST …/loads`` accepts (bytes); it is staged in the database, not in memory
    max_load_bytes: int = 4 * 1024**3
    #: RQ time limit of one load job (seconds): a 1,000,000-record bulk load took 16 minutes here
    load_job_timeout: int = 6 * 3600
    #: seconds one request may take under ``mdm serve`` (gunicorn's worker timeout): a large file
    #: sent to ``POST …/loads`` over a slow link must arrive within it
    web_timeout: int = 120

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "database_url": env.get("MDM_DATABASE_URL") or _default_database_url(),
            "redis_url": env.get("MDM_REDIS_URL") or None,
            "secret_key": env.get("MDM_SECRET_KEY") or "dev-only-change-me",
            "queue_prefix": env.get("MDM_QUEUE_PREFIX") or "mdm",
            "max_batch_records": _int("MDM_MAX_BATCH_RECORDS", 5000),
            "max_content_length": _int("MDM_MAX_CONTENT_LENGTH", 32 * 1024 * 1024),
            "resolve_chunk_size": _int("MDM_RESOLVE_CHUNK_SIZE", 100),
            "resolve_group_size": _int("MDM_RESOLVE_GROUP_SIZE", 100),
            "worker_fork": (env.get("MDM_WORKER_FORK") or "0").strip().lower() in ("1", "true", "yes", "on"),
            "job_max_attempts": _int("MDM_JOB_MAX_ATTEMPTS", 3),
            "sweep_after_seconds": _int("MDM_SWEEP_AFTER_SECONDS", 60),
            "sweep_interval_seconds": _int("MDM_SWEEP_INTERVAL_SECONDS", 30),
            "rules_dir": env.get("MDM_RULES_DIR") or None,
            "job_heartbeat_seconds": _int("MDM_JOB_HEARTBEAT_SECONDS", 30),
            "bulk_workers": _int("MDM_BULK_WORKERS", os.cpu_count() or 1),
            "max_load_bytes": _int("MDM_MAX_LOAD_BYTES", 4 * 1024**3),
            "load_job_timeout": _int("MDM_LOAD_JOB_TIMEOUT", 6 * 3600),
            "web_timeout": _int("MDM_WEB_TIMEOUT", 120),
            "retry_intervals": tuple(int(x) for x in (env.get("MDM_RETRY_INTERVALS") or "5,30,120,600").split(",")),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def jobs_inline(self) -> bool:
        """Without Redis the same job functions run in the web process, after commit."""
        return not self.redis_url
