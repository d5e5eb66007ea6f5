"""Group resolution (several records per transaction, decided in memory) decides exactly like one
record per transaction: same goldens (as sets of source records), statuses, probabilities,
explanations, warnings and review items — on SQLite and on PostgreSQL.

The input mixes what the fast path decides (new records that link, start a golden or go to
review) with what it hands to ``resolve_one`` (updates of resolved records, records that bridge
two goldens) and what the job resolves one per transaction (deletions).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bench.speed import hub_fields, people
from mdm import runtime
from mdm.db import UnitOfWork, dispose_engines
from mdm.engines import reset_caches
from mdm.jobs import resolve_records
from mdm.migrate import upgrade
from mdm.models import GoldenRecord
from mdm.services import golden as golden_service
from mdm.services.ingest import Change, accept_batch
from mdm.settings import Settings
from tests.conftest import truncate
from tests.integration.test_bridging import ADDRESS, FULL_B, PARTIAL_A, PARTIAL_C

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def batches() -> list[list[Change]]:
    rows = people(360, seed=5, dup_rate=0.6)
    first = [Change(uid, hub_fields(r), T0) for uid, r in rows[:300]]
    # same names and nothing else shared: the second goes to review against the first, both in
    # the first group (the fast path sees the first through its overlay)
    first[40:40] = [Change("P-A", PARTIAL_A, T0), Change("P-CR", {**PARTIAL_C, "last_name": "Whitfield"}, T0)]
    # two partial copies of another person that do not link; FULL_B in the second batch bridges them
    other = {"first_name": "Margaret", "last_name": "Holloway", "email": "m.holloway@example.org"}
    first[150:150] = [Change("Q-A", {**PARTIAL_A, **other, "phone": "+61 7 3333 1111"}, T0),
                      Change("Q-C", {**PARTIAL_C, **other, "last_name": "Holoway", "address": {**ADDRESS, "line1": "7 Wattle Street"}}, T0)]
    later = T0 + timedelta(days=1)
    updates = [Change(uid, {**hub_fields(r), "phone": f"+61 2 9{i:03d} 0000"}, later) for i, (uid, r) in enumerate(rows[:300:15])]
    deletions = [Change(uid, {}, later, deleted=True) for uid, _ in rows[7:300:60]]
    fresh = [Change(uid, hub_fields(r), later) for uid, r in rows[300:]]
    return [first, updates + deletions + fresh[:20] + [Change("Q-B", {**FULL_B, **other, "phone": "+61 7 3870 1234",
                                                               "address": {**ADDRESS, "line1": "7 Wattle Street"}}, later)] + fresh[20:30], fresh[30:]]


def run(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Resolve the batches; golden ids are numbered in creation order, so both runs can be compared as stored."""
    numbers = itertools.count(1)

    def numbered_golden(domain: str) -> GoldenRecord:
        return GoldenRecord(id=f"00000000-0000-0000-0000-{next(numbers):012d}", domain=domain, version=0)

    monkeypatch.setattr(golden_service, "blank_golden", numbered_golden)
    runtime.configure(settings)
    reset_caches()
    for changes in batches():
        with UnitOfWork(settings) as uow:
            _, ids = accept_batch(uow, "erp", "customer", changes)
            uow.commit()
        for start in range(0, len(ids), 100):
            resolve_records(ids[start:start + 100])
    return snapshot(settings)


def snapshot(settings: Settings) -> dict[str, Any]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            records = conn.execute(text(
                "SELECT id, source_id, golden_id, match_status, match_probability, match_explanation, warnings "
                "FROM source_record ORDER BY id")).mappings().all()
            reviews = conn.execute(text(
                "SELECT r.source_record_id, r.candidate_golden_id, r.probability, r.status FROM review_item r ORDER BY r.id")).all()
            versions = conn.execute(text("SELECT golden_id, version, members FROM golden_version ORDER BY golden_id, version")).all()
            goldens = conn.execute(text("SELECT id, status, version, fields, lineage FROM golden_record")).all()
    finally:
        engine.dispose()
    by_golden: dict[str, set[str]] = defaultdict(set)
    source_of = {r["id"]: r["source_id"] for r in records}
    per_record = {}
    for r in records:
        if r["golden_id"]:
            by_golden[r["golden_id"]].add(r["source_id"])
        explanation = _loads(r["match_explanation"]) or {}
        explanation.pop("decided_at", None)
        per_record[r["source_id"]] = (r["golden_id"], r["match_status"], r["match_probability"], explanation, _loads(r["warnings"]))
    latest: dict[str, Any] = {}
    for gid, _version, members in versions:
        latest[gid] = _loads(members)
    return {
        "records": per_record,
        "goldens": {gid: (status, by_golden.get(gid, set())) for gid, status, *_ in goldens},
        # what survivorship made of each golden's members (read back, or known to the group path);
        # hub account numbers are drawn from a sequence the PostgreSQL runs share, so left out
        "golden_fields": {gid: (_without_account_number(_loads(fields)), _without_account_number(_loads(lineage)))
                          for gid, _s, _v, fields, lineage in goldens},
        "reviews": [(source_of[rid], gid, p, status) for rid, gid, p, status in reviews],
        "versions": len(versions),
        # every live golden's newest version lists exactly its current members
        "stale_versions": [gid for gid, status, *_ in goldens if status == "active"
                           and {m["source_id"] for m in latest.get(gid) or []} != by_golden.get(gid, set())],
    }


def _without_account_number(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k != "account_number"}


def _loads(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(params=["sqlite", "postgres"])
def two_hubs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Settings]]:
    if request.param == "sqlite":
        hubs = []
        for name in ("one", "group"):
            s = Settings(database_url=f"sqlite:///{tmp_path / name}.sqlite3", redis_url=None)
            upgrade(s.database_url)
            hubs.append(s)
        yield hubs[0], hubs[1]
    else:
        s = dataclasses.replace(request.getfixturevalue("pg_settings"), redis_url=None)
        yield s, s
    dispose_engines()
    runtime.configure(Settings.from_env())


def test_group_resolution_decides_like_one_record_per_transaction(
    two_hubs: tuple[Settings, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    one_hub, group_hub = two_hubs
    if not one_hub.is_sqlite:
        truncate(one_hub)
    one = run(dataclasses.replace(one_hub, resolve_group_size=1), monkeypatch)
    if not group_hub.is_sqlite:
        dispose_engines()
        truncate(group_hub)
    grouped = run(dataclasses.replace(group_hub, resolve_group_size=25), monkeypatch)

    statuses = defaultdict(int)
    for _, status, *_ in one["records"].values():
        statuses[status] += 1
    # the input exercises every path: links, new goldens, reviews, deletions, and a bridge merge
    assert {"linked", "new", "review", "deleted"} <= set(statuses), dict(statuses)
    assert one["records"]["Q-B"][3].get("merged"), "the bridging record merged the two partial goldens"

    assert grouped["goldens"] == one["goldens"]
    assert grouped["golden_fields"] == one["golden_fields"]
    assert grouped["reviews"] == one["reviews"]
    differing = [sid for sid in one["records"] if grouped["records"].get(sid) != one["records"][sid]]
    assert not differing, [(sid, one["records"][sid], grouped["records"].get(sid)) for sid in differing[:3]]
    assert one["stale_versions"] == [] and grouped["stale_versions"] == []
    # one version per golden and group instead of one per record: fewer, never more
    assert grouped["versions"] < one["versions"]
