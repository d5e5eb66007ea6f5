"""UnitOfWork's hooks: one per kind before the commit, inside the transaction; after-commit hooks after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from mdm.db import UnitOfWork
from mdm.migrate import upgrade
from mdm.settings import Settings


@dataclass
class Gather:
    """A hook that writes, once, everything gathered into it during the transaction."""

    uow: UnitOfWork
    log: list[str]
    items: list[str] = field(default_factory=list)

    def __call__(self) -> None:
        self.log.append("gather:" + ",".join(self.items))
        self.uow.session.execute(text("INSERT INTO source_system (name, kind, description, created_at) VALUES (:n, 'test', 'hook', CURRENT_TIMESTAMP)"),
                                 {"n": "+".join(self.items)})


@dataclass
class Second:
    log: list[str]

    def __call__(self) -> None:
        self.log.append("second")


def settings(tmp_path: Path) -> Settings:
    s = Settings(database_url=f"sqlite:///{tmp_path / 'uow.sqlite3'}", redis_url=None)
    upgrade(s.database_url)
    return s


def stored(s: Settings, name: str) -> bool:
    with UnitOfWork(s) as uow:
        return uow.session.execute(text("SELECT count(*) FROM source_system WHERE name = :n"), {"n": name}).scalar_one() == 1


def test_before_commit_hooks_run_once_per_kind_in_first_use_order_and_commit_with_the_transaction(tmp_path: Path) -> None:
    s = settings(tmp_path)
    log: list[str] = []
    with UnitOfWork(s) as uow:
        make: Callable[[], Gather] = lambda: Gather(uow, log)  # noqa: E731
        uow.before_commit(Gather, make).items.append("a")
        uow.before_commit(Second, lambda: Second(log))
        same = uow.before_commit(Gather, make)
        same.items.append("b")
        uow.after_commit(lambda: log.append("after"))
        assert log == []
        uow.commit()
    assert log == ["gather:a,b", "second", "after"]
    assert stored(s, "a+b"), "what the hook wrote is part of the committed transaction"


def test_before_commit_hooks_do_not_run_when_the_transaction_is_rolled_back(tmp_path: Path) -> None:
    s = settings(tmp_path)
    log: list[str] = []
    with UnitOfWork(s) as uow:
        uow.before_commit(Gather, lambda: Gather(uow, log)).items.append("never")
    assert log == [] and not stored(s, "never")
    with UnitOfWork(s) as uow:  # a new transaction starts with no hook
        uow.commit()
    assert log == []
