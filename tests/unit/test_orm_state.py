"""Objects the hub writes with Core statements stay current and clean in the ORM session:
``as_loaded`` builds one as a loaded row, ``mark_written`` records written values as committed."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session, make_transient_to_detached

from mdm.db import as_loaded, mark_written
from mdm.models import GoldenRecord
from mdm.schema import metadata

NOW = datetime(2026, 1, 1, tzinfo=UTC)
VALUES = {"id": "g-1", "domain": "customer", "status": "active", "merged_into": None, "approval": "approved",
          "fields": {}, "lineage": {}, "version": 0, "account_number": None, "rules_hash": None,
          "created_at": NOW, "updated_at": NOW}


def statements(engine) -> list[str]:  # noqa: ANN001
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2].split()[0]))
    return seen


def test_as_loaded_builds_a_clean_object_that_flushes_nothing() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    golden = as_loaded(GoldenRecord, VALUES)
    assert isinstance(golden, GoldenRecord) and golden.id == "g-1" and golden.version == 0
    assert golden.model_dump()["domain"] == "customer"  # a full SQLModel object, pydantic side included
    with Session(engine) as session:
        session.execute(GoldenRecord.__table__.insert(), [VALUES])  # type: ignore[attr-defined]
        make_transient_to_detached(golden)
        session.add(golden)
        assert not session.dirty and not session.new
        seen = statements(engine)
        session.flush()
        assert seen == []
        assert session.get(GoldenRecord, "g-1") is golden  # the identity map holds it


def test_mark_written_replaces_a_pending_change_with_the_written_value() -> None:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with Session(engine) as session:
        session.execute(GoldenRecord.__table__.insert(), [VALUES])  # type: ignore[attr-defined]
        golden = session.get(GoldenRecord, "g-1")
        assert golden is not None
        golden.status = "retired"  # a pending change ...
        session.execute(GoldenRecord.__table__.update().values(status="merged", version=1))  # type: ignore[attr-defined]
        mark_written(golden, {"status": "merged", "version": 1})  # ... replaced by what was written
        assert golden.status == "merged" and golden.version == 1 and golden not in session.dirty
        seen = statements(engine)
        session.flush()
        assert seen == []
        session.expire(golden)
        assert (golden.status, golden.version) == ("merged", 1)
