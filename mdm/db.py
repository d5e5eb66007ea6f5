"""Engine, sessions and the unit of work.

Every use case runs inside one :class:`UnitOfWork`: ``with uow:`` … ``uow.commit()``;
leaving the block without committing rolls back. The outbox row of a golden change is
written inside the same unit, so nothing is published that was not committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, event
from sqlalchemy.orm import class_mapper, sessionmaker
from sqlalchemy.orm.attributes import instance_state
from sqlmodel import Session, create_engine

from mdm.settings import Settings

_ENGINES: dict[str, Engine] = {}
_FACTORIES: dict[str, sessionmaker[Session]] = {}


def get_engine(database_url: str) -> Engine:
    """One engine (and pool) per URL per process; forked RQ work-horses build their own."""
    engine = _ENGINES.get(database_url)
    if engine is None:
        engine = _ENGINES[database_url] = _create(database_url)
    return engine


def _create(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers work while the inline job writes; foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=json_text)


def json_text(value: Any) -> str:
    """JSON for JSONB parameters: orjson (several times faster than ``json.dumps``, which was
    the larger part of writing explanations, versions and outbox payloads), falling back to
    ``json.dumps`` for what orjson refuses (integers beyond 64 bits in a source payload), so
    that nothing ``json.dumps`` accepted is refused now. PostgreSQL stores the parsed value, so
    the spelling differences (no spaces, UTF-8 instead of ``\\u`` escapes) do not show. A float
    NaN becomes null here (``json.dumps`` wrote ``NaN``, which PostgreSQL refused); inputs
    carrying one are refused at the door (:func:`mdm.canonical.parse_json`)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def _session_factory(database_url: str) -> sessionmaker[Session]:
    """One session factory per engine (building a ``sessionmaker`` per unit of work costs more
    than the session it makes)."""
    factory = _FACTORIES.get(database_url)
    engine = get_engine(database_url)
    if factory is None or factory.kw.get("bind") is not engine:
        factory = _FACTORIES[database_url] = sessionmaker(bind=engine, expire_on_commit=False, class_=Session)
    return factory


def dispose_engines(close: bool = True) -> None:
    """Forget pooled connections. After a fork pass ``close=False`` so the child never
    closes (or reuses) a socket that belongs to its parent."""
    for engine in _ENGINES.values():
        engine.dispose(close=close)
    _ENGINES.clear()
    _FACTORIES.clear()


_Hook = TypeVar("_Hook", bound=Callable[[], None])


class UnitOfWork:
    """One transaction. Roll back unless :meth:`commit` was called; run after-commit hooks."""

    def __init__(self, settings: Settings, session_factory: Callable[[], Session] | None = None) -> None:
        self.settings = settings
        self._factory = session_factory or _session_factory(settings.database_url)
        self.session: Session
        self._after_commit: list[Callable[[], None]] = []
        self._before_commit: dict[type, Callable[[], None]] = {}

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        self._after_commit = []
        self._before_commit = {}
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        hooks_before, self._before_commit = list(self._before_commit.values()), {}
        for hook_before in hooks_before:
            hook_before()
        self.session.commit()
        hooks, self._after_commit = self._after_commit, []
        for hook in hooks:
            hook()

    def before_commit(self, kind: type[_Hook], make: Callable[[], _Hook]) -> _Hook:
        """The transaction's one ``kind`` of hook, made by ``make`` on first use; each runs once,
        in order of first use, as the last statements before the commit.

        Why one per kind: work that must happen once per transaction, as late as possible, on
        everything several callers gathered (closing finished batches locks their rows; taken
        at the end, the locks are held only through the commit, and in one sorted statement)."""
        hook = self._before_commit.get(kind)
        if hook is None:
            hook = self._before_commit[kind] = make()
        return hook  # type: ignore[return-value]

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` only once the transaction is committed (enqueueing jobs, for example)."""
        self._after_commit.append(hook)


def one_or_many(params: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """Statement parameters for ``session.execute``: a single row as a plain execute, several as
    an executemany (psycopg's executemany costs more than an execute for one row, and the
    one-record path is the latency-critical one)."""
    return params[0] if len(params) == 1 else params


def pg_array(values: Iterable[str] | Iterable[int]) -> str:
    """A PostgreSQL array literal (``{"a","b"}``, ``{1,2}``) for a parameter the statement casts
    (``CAST(:keys AS varchar[])``). Why: psycopg builds an array parameter element by element in
    Python — 2.4 % of a resolve worker's samples for the ~360 blocking keys and lock numbers of
    each group — while one string is sent as it is. Text elements are quoted and escaped, so any
    text (commas, quotes, backslashes, braces, the word NULL) arrives unchanged."""
    items = list(values)
    if all(type(v) is int for v in items):
        return "{" + ",".join(map(str, items)) + "}"
    return "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in items) + "}"


def mark_written(obj: Any, values: dict[str, Any]) -> None:
    """Record ``values`` as ``obj``'s committed state after a Core statement wrote them, so the
    ORM object stays current without issuing its own UPDATE for those columns at flush time.

    Column attributes only. What ``set_committed_value`` does for one attribute, for all of them
    at once: the values into the instance dict, then one commit of those keys (no pending change,
    no expiry left for them)."""
    state = instance_state(obj)
    state.dict.update(values)
    state._commit(state.dict, list(values))  # noqa: SLF001 - set_committed_value's own step


Model = TypeVar("Model")


def as_loaded(model: type[Model], values: dict[str, Any]) -> Model:
    """An instance of the mapped ``model`` built the way SQLAlchemy builds one it loads from a
    row: without ``__init__`` (SQLModel validates every value there with pydantic and tracks it
    as a change), every value set as committed state. Transient until added to a session (see
    ``make_transient_to_detached`` for one written with a Core INSERT)."""
    obj = class_mapper(model, configure=True).class_manager.new_instance()  # mappers configured first, as a query would
    mark_written(obj, values)
    return obj
