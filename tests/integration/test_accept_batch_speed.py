"""``accept_batch`` stores with a few Core statements per batch (not ORM objects per record): it must
write exactly what accepting the same changes one by one with ``accept_change`` (the ORM path)
writes, on SQLite and on PostgreSQL, and keep its ids, items and outcomes in batch order.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from mdm import runtime
from mdm.db import UnitOfWork, dispose_engines
from mdm.errors import InvalidInput
from mdm.migrate import upgrade
from mdm.models import SourceRecord
from mdm.services.ingest import Accepted, Change, accept_batch, accept_change
from mdm.settings import Settings
from tests.conftest import truncate

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LATER = T0 + timedelta(days=1)
EARLIER = T0 - timedelta(days=1)
#: the hub's own Salesforce integration user: a change last modified by it is an echo
HUB_USER = "005000000000001AAA"
#: columns whose value is "now" when written; compared as changed-or-not instead
CLOCK_COLUMNS = ("received_at", "enqueued_at")


def company(i: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"Company {i}", "address": {"line1": f"{i} Main Street", "city": "Springfield"}, **extra}


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Settings]]:
    """Each call: an empty hub (a new SQLite file, or the PostgreSQL test database truncated, its
    ids restarted), so two runs of the same story get the same record ids."""
    files = iter(range(100))

    def sqlite() -> Settings:
        dispose_engines()
        settings = Settings(database_url=f"sqlite:///{tmp_path / f'hub{next(files)}.sqlite3'}", redis_url=None)
        upgrade(settings.database_url)
        runtime.configure(settings)
        return settings

    def postgres() -> Settings:
        settings = dataclasses.replace(request.getfixturevalue("pg_settings"), redis_url=None)
        truncate(settings)
        runtime.configure(settings)
        return settings

    yield sqlite if request.param == "sqlite" else postgres
    dispose_engines()
    runtime.configure(Settings.from_env())


def snapshot(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every stored column of every source record, as text (JSON ``null`` and SQL NULL differ)."""
    columns = [c.name for c in SourceRecord.__table__.columns]  # type: ignore[attr-defined]
    select = ", ".join(f"CAST({c} AS TEXT) AS {c}" for c in columns)
    with UnitOfWork(settings) as uow:
        rows = uow.session.execute(text(f"SELECT {select} FROM source_record")).mappings().all()
    return {row["source_id"]: dict(row) for row in rows}


def without_clock(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {sid: {c: v for c, v in row.items() if c not in CLOCK_COLUMNS} for sid, row in rows.items()}


def one_by_one(settings: Settings, changes: list[Change]) -> list[Accepted]:
    results = []
    for change in changes:
        with UnitOfWork(settings) as uow:
            results.append(accept_change(uow, "erp", "customer", change))
            uow.commit()
    return results


def as_batch(settings: Settings, changes: list[Change], **kw: Any) -> tuple[Any, list[int]]:
    with UnitOfWork(settings) as uow:
        summary, to_resolve = accept_batch(uow, "erp", "customer", changes, **kw)
        uow.commit()
    return summary, to_resolve


def setup_story(settings: Settings) -> dict[str, dict[str, Any]]:
    """Stored records for every kind of change; some resolved, one with a failed attempt."""
    one_by_one(settings, [
        Change("upd", company(1), T0), Change("same", company(2), T0), Change("same-now", company(3), T0),
        Change("same-pending", company(4), T0), Change("old", company(5), T0), Change("del", company(6), T0),
        Change("del-fields", company(7), T0), Change("echo", company(8), T0), Change("undelete", {}, T0, deleted=True),
    ])
    with UnitOfWork(settings) as uow:
        uow.session.execute(text(
            "UPDATE source_record SET match_status = 'linked', resolved_hash = content_hash, attempts = 2,"
            " last_error = 'boom' WHERE source_id <> 'same-pending'"))
        uow.commit()
    return snapshot(settings)


STORY = [
    Change("new-1", company(10), T0),
    Change("upd", company(1, phone="+1 555 0100"), LATER),
    Change("same", company(2), LATER),  # unchanged, later: source_updated_at moves
    Change("same-now", company(3), T0),  # unchanged, same moment: nothing written
    Change("same-pending", company(4), LATER),  # unchanged but not yet resolved: still to resolve
    Change("old", company(5, name="Old name"), EARLIER),  # stale
    Change("del", {}, LATER, deleted=True),  # a deletion without fields keeps the last fields
    Change("del-fields", company(7, name="Gone Ltd"), LATER, deleted=True),
    Change("echo", company(8, name="Echoed", LastModifiedById=HUB_USER), LATER),
    Change("undelete", company(9), LATER),
    Change("new-deleted", {}, T0, deleted=True),
    Change("new-2", company(11), LATER),
]


def test_batch_writes_what_accepting_one_by_one_writes(fresh_db: Callable[[], Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDM_SALESFORCE_INTEGRATION_USER_IDS", HUB_USER)
    settings = fresh_db()
    before_singles = setup_story(settings)
    singles = one_by_one(settings, STORY)
    expected = snapshot(settings)

    settings = fresh_db()
    before = setup_story(settings)
    assert without_clock(before) == without_clock(before_singles)
    summary, to_resolve = as_batch(settings, STORY)
    stored = snapshot(settings)

    assert [r.outcome for r in singles] == ["accepted", "accepted", "unchanged", "unchanged", "unchanged", "stale",
                                            "accepted", "accepted", "echo", "accepted", "accepted", "accepted"]
    assert summary.outcomes == dict(Counter(r.outcome for r in singles))
    assert summary.total == len(STORY) and summary.rejects == {}
    assert to_resolve == [r.record_id for r in singles if r.needs_resolve]
    assert without_clock(stored) == without_clock(expected)
    for source_id, row in stored.items():
        for column in CLOCK_COLUMNS:  # written ("now") by the batch exactly when written one by one
            written = row[column] != before.get(source_id, {}).get(column)
            assert written == (expected[source_id][column] != before_singles.get(source_id, {}).get(column)), (source_id, column)
            assert row[column] is not None
    assert stored["del"]["fields"] == before["del"]["fields"] and stored["del"]["deleted"] in ("true", "1")
    assert stored["upd"]["attempts"] == "0" and stored["upd"]["last_error"] is None
    assert stored["same"]["attempts"] == "2" and stored["same"]["last_error"] == "boom"
    assert stored["new-1"]["prepared"] == "null" and stored["new-1"]["match_status"] == "pending"


def test_batch_items_follow_batch_order(fresh_db: Callable[[], Settings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDM_SALESFORCE_INTEGRATION_USER_IDS", HUB_USER)
    settings = fresh_db()
    setup_story(settings)
    summary, to_resolve = as_batch(settings, STORY)
    ids = {sid: row["id"] for sid, row in snapshot(settings).items()}
    with UnitOfWork(settings) as uow:
        items = uow.session.execute(text(
            "SELECT position, source_record_id, status FROM batch_item WHERE batch_id = :b ORDER BY position"),
            {"b": summary.batch_id}).all()
        finished = uow.session.execute(text("SELECT finished_at FROM batch WHERE id = :b"), {"b": summary.batch_id}).scalar_one()
    assert [(p, str(r)) for p, r, _ in items] == [(i, ids[c.source_id]) for i, c in enumerate(STORY)]
    assert [s for _, _, s in items] == ["pending", "pending", "done", "done", "pending", "ignored", "pending", "pending",
                                        "done", "pending", "pending", "pending"]
    assert to_resolve == [r for _, r, s in items if s == "pending"]
    assert finished is None


@pytest.mark.parametrize("size", [2500])
def test_batch_of_thousands_resent_with_changes(fresh_db: Callable[[], Settings], size: int) -> None:
    """More ids than SQLite's oldest bound-variable limit (999) in one batch, twice."""
    settings = fresh_db()
    first = [Change(f"C{i}", company(i), T0) for i in range(size)]
    summary, to_resolve = as_batch(settings, first)
    ids = {sid: int(row["id"]) for sid, row in snapshot(settings).items()}
    assert summary.outcomes == {"accepted": size}
    assert to_resolve == [ids[c.source_id] for c in first]
    with UnitOfWork(settings) as uow:
        uow.session.execute(text("UPDATE source_record SET match_status = 'linked'"))
        uow.commit()
    second = [Change(c.source_id, company(i, phone="+1 555 0100") if i % 3 == 0 else c.fields, LATER)
              for i, c in enumerate(reversed(first))]
    summary, to_resolve = as_batch(settings, second)
    assert summary.outcomes == {"accepted": len(range(0, size, 3)), "unchanged": size - len(range(0, size, 3))}
    assert to_resolve == [ids[c.source_id] for i, c in enumerate(second) if i % 3 == 0]
    stored = snapshot(settings)
    assert len(stored) == size
    assert {r["match_status"] for r in stored.values()} == {"pending", "linked"}
    assert all(r["source_updated_at"].startswith("2026-01-02") for r in stored.values())


def test_skip_invalid_stores_the_valid_records_in_order(fresh_db: Callable[[], Settings]) -> None:
    settings = fresh_db()
    changes = [Change("a", company(1), T0), Change("bad", {"name": 5 * [1]}, T0), Change("b", company(2), T0),
               Change("a", company(3), T0), Change("c", company(4), T0)]
    with pytest.raises(InvalidInput) as err, UnitOfWork(settings) as uow:
        accept_batch(uow, "erp", "customer", changes)
    assert set(err.value.details["records"]) == {"1", "3"}
    assert snapshot(settings) == {}
    summary, to_resolve = as_batch(settings, changes, skip_invalid=True)
    ids = {sid: int(row["id"]) for sid, row in snapshot(settings).items()}
    assert set(summary.rejects) == {"1", "3"} and summary.total == 3
    assert to_resolve == [ids["a"], ids["b"], ids["c"]]
    with UnitOfWork(settings) as uow:
        positions = uow.session.execute(text("SELECT position, source_record_id FROM batch_item ORDER BY position")).all()
    assert [(p, int(r)) for p, r in positions] == [(0, ids["a"]), (1, ids["b"]), (2, ids["c"])]


def test_empty_and_all_invalid_batches(fresh_db: Callable[[], Settings]) -> None:
    settings = fresh_db()
    summary, to_resolve = as_batch(settings, [])
    assert (summary.total, summary.outcomes, to_resolve) == (0, {}, [])
    with UnitOfWork(settings) as uow:
        finished = uow.session.execute(text("SELECT finished_at FROM batch WHERE id = :b"), {"b": summary.batch_id}).scalar_one()
    assert finished is not None
    summary, to_resolve = as_batch(settings, [Change("bad", {"name": 5 * [1]}, T0)], skip_invalid=True)
    assert (summary.batch_id, summary.total, list(summary.rejects), to_resolve) == ("", 0, ["0"], [])
