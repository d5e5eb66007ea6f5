"""Two resolvers finishing the last two items of one batch at the same moment leave it closed;
the sweep closes a finished batch left open anyway (SQLite and PostgreSQL).

Each used to see the other's item still pending (an uncommitted update is invisible) and neither
set ``finished_at``: the batch stayed open until the sweep found it, and a client polling it (or
the streaming benchmark, which waited up to 10 s for the sweep's work) saw it unfinished.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, text

from mdm.db import UnitOfWork
from mdm.services.ingest import Change, accept_batch
from mdm.services.resolve import resolve_one
from mdm.settings import Settings
from tests.conftest import captured_statements

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def store(settings: Settings, changes: list[Change]) -> tuple[str, list[int]]:
    with UnitOfWork(settings) as uow:
        accepted, ids = accept_batch(uow, "erp", "customer", changes)
        uow.commit()
    return accepted.batch_id, ids


def test_two_transactions_finishing_a_batch_at_once_close_it(pg_inline_settings: Settings) -> None:
    # two people with nothing in common: no shared key, so neither waits for the other's locks
    first = {"kind": "person", "first_name": "Amelia", "last_name": "Quenby", "birth_date": "1961-03-04",
             "email": "amelia.quenby@example.org"}
    second = {"kind": "person", "first_name": "Tobias", "last_name": "Ferreira-Lund", "birth_date": "1994-11-23",
              "email": "t.ferreira@example.net"}
    batch_id, ids = store(pg_inline_settings, [Change("Q-1", first, T0), Change("F-2", second, T0)])
    both_written = threading.Barrier(2, timeout=30)
    errors: list[BaseException] = []

    def resolve(record_id: int) -> None:
        try:
            with UnitOfWork(pg_inline_settings) as uow:
                resolve_one(uow, record_id)
                both_written.wait()  # each has marked its item done; neither has committed
                uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=resolve, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    engine = create_engine(pg_inline_settings.database_url)
    try:
        with engine.connect() as conn:
            finished: Any = conn.execute(text("SELECT finished_at FROM batch WHERE id = :b"), {"b": batch_id}).scalar_one()
            pending = conn.execute(text("SELECT count(*) FROM batch_item WHERE batch_id = :b AND status = 'pending'"),
                                   {"b": batch_id}).scalar_one()
    finally:
        engine.dispose()
    assert pending == 0
    assert finished is not None, "the batch was left open although both of its items are done"


def test_the_sweep_closes_a_finished_batch_left_open_and_only_that_one(any_inline_settings: Settings) -> None:
    from mdm.services.sweep import close_finished_batches

    finished, ids = store(any_inline_settings, [Change("S-1", {"kind": "person", "first_name": "Ida", "last_name": "Sorensen",
                                                  "email": "ida@example.org"}, T0)])
    still_open, _ = store(any_inline_settings, [Change("S-2", {"kind": "person", "first_name": "Oskar", "last_name": "Lindqvist",
                                                  "email": "oskar@example.org"}, T0)])
    with UnitOfWork(any_inline_settings) as uow:
        resolve_one(uow, ids[0])
        uow.commit()
    engine = create_engine(any_inline_settings.database_url)
    try:
        with engine.begin() as conn:  # as an earlier version's race left it: all done, no finished_at
            conn.execute(text("UPDATE batch SET finished_at = NULL WHERE id = :b"), {"b": finished})
        assert close_finished_batches(any_inline_settings, older_than_seconds=0) == 1
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, finished_at FROM batch")).all())
    finally:
        engine.dispose()
    assert rows[finished] is not None and rows[still_open] is None
    assert close_finished_batches(any_inline_settings, older_than_seconds=0) == 0


def _solo(i: int) -> Change:
    return Change(f"PUT-{i}", {"kind": "person", "first_name": ["Wenona", "Ysolde", "Zebulon"][i % 3],
                               "last_name": f"Hartmann{i}", "email": f"solo{i}@example.org"}, T0)


def test_a_group_closes_its_batch_wherever_the_batch_record_stands(pg_inline_settings: Settings) -> None:
    """A group mixing records sent alone (``PUT``: no batch item) with one sent in a batch closes
    that batch at commit, whether the batch's record comes first, in the middle or last. The group
    looks for batches to close only when its resolution write marked items done (the sum over
    the group's statements), and skips the batch lock when none did."""
    from mdm.services.ingest import accept_change
    from mdm.services.resolve_group import resolve_group

    engine = create_engine(pg_inline_settings.database_url)
    try:
        for position in (0, 2, 4):
            with UnitOfWork(pg_inline_settings) as uow:
                solo = [accept_change(uow, "erp", "customer", _solo(10 * position + i)).record_id for i in range(4)]
                uow.commit()
            batch_id, (in_batch,) = store(pg_inline_settings, [Change(f"B-{position}", {
                "kind": "person", "first_name": "Lorcan", "last_name": f"Vasquez{position}", "email": f"b{position}@example.org"}, T0)])
            group = [*solo[:position], in_batch, *solo[position:]]
            with UnitOfWork(pg_inline_settings) as uow:
                outcomes, left = resolve_group(uow, group)
                uow.commit()
            assert not left and len(outcomes) == 5
            with engine.connect() as conn:
                finished = conn.execute(text("SELECT finished_at FROM batch WHERE id = :b"), {"b": batch_id}).scalar_one()
            assert finished is not None, f"the batch of the group's record at position {position} was left open"
        with UnitOfWork(pg_inline_settings) as uow:
            alone = [accept_change(uow, "erp", "customer", _solo(100 + i)).record_id for i in range(3)]
            uow.commit()
        with captured_statements() as seen, UnitOfWork(pg_inline_settings) as uow:
            resolve_group(uow, alone)
            uow.commit()
    finally:
        engine.dispose()
    assert seen and not [s for s, _ in seen if "FROM batch b" in s], "a group without batch items locked batches"
