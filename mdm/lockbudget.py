"""How many records a resolve group may hold at once, so resolve workers never fill PostgreSQL's lock table.

A resolve group holds a transaction-scoped advisory lock for every blocking key of its records
until it commits: about 14.3 a record (1,434 for a group of 100 FEBRL-like people,
docs/benchmarks-speed.md run 17). PostgreSQL keeps every session's locks in one shared table of
``max_locks_per_transaction × (max_connections + max_prepared_transactions)`` entries (6,400 by
default). When it is full, *any* session that needs one more lock fails with "out of shared
memory": other workers' groups, and the API's own writes. With groups of 100, four resolve
workers' groups fit; a fifth worker, started to scale out, could break the hub.

So a resolve job sizes its groups from the server's lock table and the number of workers
registered on the resolve queue (every machine's, through Redis): all groups together take at
most three quarters of the table, the rest is left to everything else (ordinary statements
mostly take PostgreSQL's per-session fast-path locks, outside it). ``MDM_RESOLVE_GROUP_SIZE``
stays the upper bound: with the server's defaults, up to three workers keep groups of 100, four
get 80, eight 40, sixteen 20.
"""

from __future__ import annotations

import logging

from sqlalchemy import URL, Engine, text

from mdm import runtime
from mdm.settings import Settings

log = logging.getLogger(__name__)

#: advisory locks a record's group takes, rounded up from the 14.3 measured for people
KEYS_PER_RECORD = 15
#: the part of the server's lock table that all resolve groups together may hold
SHARE = 0.75

_SLOTS: dict[URL, int] = {}
_last_size: int | None = None


def group_size(configured: int, lock_slots: int, workers: int) -> int:
    """Records per group: ``configured`` at most, and small enough that ``workers`` groups at once
    hold at most ``SHARE`` of ``lock_slots`` (never less than one record)."""
    per_worker = int(lock_slots * SHARE) // (max(1, workers) * KEYS_PER_RECORD)
    return max(1, min(configured, per_worker))


def lock_slots(engine: Engine) -> int:
    """Entries in a PostgreSQL server's shared lock table (read once per process: changing it
    needs a restart)."""
    if engine.url not in _SLOTS:
        with engine.connect() as conn:
            _SLOTS[engine.url] = int(conn.execute(text(
                "SELECT current_setting('max_locks_per_transaction')::int"
                " * (current_setting('max_connections')::int + current_setting('max_prepared_transactions')::int)"
            )).scalar_one())
    return _SLOTS[engine.url]


def resolve_group_size(settings: Settings, engine: Engine) -> int:
    """The group size a resolve job uses now (see the module docstring); SQLite takes no advisory
    locks, so there it is the configured one."""
    configured = max(1, settings.resolve_group_size)
    if engine.dialect.name != "postgresql" or configured == 1:
        return configured
    global _last_size
    workers = resolve_workers()
    size = group_size(configured, lock_slots(engine), workers)
    if size != (_last_size or configured):  # said when it changes, not on every job
        log.info("resolve groups of %d records (configured %d) for %d registered resolve workers", size, configured, workers)
    _last_size = size
    return size


def resolve_workers() -> int:
    """Workers registered on the resolve queue, on every machine (RQ's registry in Redis, through
    this process's job queue); 1 when jobs run inline or Redis cannot say. A worker killed without
    deregistering is counted until RQ cleans its registry: groups are then smaller than needed,
    never larger."""
    rq_queue = getattr(runtime.queue(), "rq_queue", None)  # only RQQueue has one: inline has no workers
    if rq_queue is None:
        return 1
    try:
        from rq import Worker

        resolve = rq_queue("resolve")
        return max(1, Worker.count(connection=resolve.connection, queue=resolve))
    except Exception:  # noqa: BLE001 - sizing must not fail a job; the group fallback still protects it
        log.warning("could not count the resolve workers; sizing groups for one", exc_info=True)
        return 1
