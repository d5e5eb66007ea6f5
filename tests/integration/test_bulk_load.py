"""``mdm load --bulk``: the set-based initial load equals the streaming path, on SQLite and PostgreSQL.

The streaming path here is ``mdm.loader.load_file`` with jobs inline (records resolved one by one,
in file order), which is the reference the bulk path replays. Known, documented differences
(mdm/bulk/load.py): one version per golden instead of one per arriving member, and no merged
tombstones. Decisions — which records end up together, and each record's match status — must be
equal.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from mdm import runtime
from mdm.bulk import NotEmpty, bulk_load
from mdm.db import dispose_engines
from mdm.engines import reset_caches
from mdm.loader import load_file
from mdm.migrate import upgrade
from mdm.settings import Settings
from tests.conftest import truncate

PEOPLE = [
    {"kind": "person", "first_name": "Mary", "last_name": "Smith", "birth_date": "1980-02-03", "email": "mary.smith@example.com",
     "address": {"line1": "12 King St", "city": "Sydney", "postal_code": "2000", "country": "AU"}},
    {"kind": "person", "first_name": "John", "last_name": "Doe", "birth_date": "1975-07-09", "phone": "+61 2 9374 4000",
     "address": {"line1": "1 George St", "city": "Brisbane", "postal_code": "4000", "country": "AU"}},
    {"kind": "person", "first_name": "Anna", "last_name": "Nguyen", "birth_date": "1990-11-30", "email": "anna.n@example.org",
     "address": {"line1": "77 Queen Rd", "city": "Perth", "postal_code": "6000", "country": "AU"}},
]


def small_file(tmp_path: Path) -> Path:
    """Three people, each twice (the copy slightly misspelt, a later update), one malformed line."""
    lines = []
    for i, p in enumerate(PEOPLE):
        lines.append({"source_id": f"A{i}", "fields": p, "updated_at": "2026-01-01T00:00:00Z"})
    for i, p in enumerate(PEOPLE):
        copy = {**p, "first_name": p["first_name"][:-1] + p["first_name"][-1].upper(), "account_number": f"ERP-{i}"}
        lines.append({"source_id": f"B{i}", "fields": copy, "updated_at": "2026-01-02T00:00:00Z"})
    path = tmp_path / "people.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines[:4]) + "\n{broken\n" + "\n".join(json.dumps(x) for x in lines[4:]) + "\n")
    return path


def febrl_file(tmp_path: Path, n: int) -> Path:
    from bench.quality import febrl_fields, load_febrl3

    df, _ = load_febrl3(n)
    path = tmp_path / f"febrl{n}.jsonl"
    with path.open("w") as fh:
        for rec_id, row in df.iterrows():
            fh.write(json.dumps({"source_id": str(rec_id), "fields": febrl_fields(row)}) + "\n")
    return path


@dataclasses.dataclass
class Snapshot:
    groups: set[frozenset[str]]
    status: dict[str, str]
    goldens: dict[frozenset[str], dict[str, Any]]
    counts: dict[str, int]


def snapshot(url: str) -> Snapshot:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT source_id, golden_id, match_status FROM source_record")).all()
        goldens = conn.execute(text("SELECT id, fields, lineage, version, account_number, approval FROM golden_record")).all()
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("source_record", "golden_record", "match_key", "outbox_event", "golden_version", "review_item")}
        versions = conn.execute(text("SELECT golden_id, version, members FROM golden_version")).all()
        outbox = conn.execute(text("SELECT golden_id, golden_version, type, payload FROM outbox_event")).all()
    engine.dispose()
    by_golden: dict[str, set[str]] = defaultdict(set)
    for sid, gid, _ in rows:
        by_golden[gid].add(sid)
    latest = {gid: (v, m) for gid, v, m in sorted(versions, key=lambda r: r[1])}
    last_event = {gid: (v, t, p) for gid, v, t, p in sorted(outbox, key=lambda r: r[1])}
    detail = {}
    for gid, fields, lineage, version, number, approval in goldens:
        members = frozenset(by_golden.get(gid, ()))
        if not members:
            continue  # a merged-away golden of the streaming path
        fields, lineage = (json.loads(x) if isinstance(x, str) else x for x in (fields, lineage))
        v, m = latest[gid]
        m = json.loads(m) if isinstance(m, str) else m
        ev_version, ev_type, payload = last_event[gid]
        payload = json.loads(payload) if isinstance(payload, str) else payload
        detail[members] = {
            "fields": {k: v for k, v in fields.items() if k != "account_number"},
            "lineage_sources": {k: (e or {}).get("source_id") for k, e in lineage.items() if k != "account_number"},
            "has_account_number": bool(number), "approval": approval,
            "version_members": sorted(x["source_id"] for x in m), "version": version, "history_version": v,
            "event_version": ev_version, "event_type": ev_type,
            "payload_crossref": sorted(x["source_id"] for x in payload["crossref"]),
        }
    return Snapshot({g for g in map(frozenset, by_golden.values())}, {sid: st for sid, _, st in rows}, detail, counts)


def run(settings: Settings, path: Path, mode: str) -> Any:
    runtime.configure(settings)
    reset_caches()
    if mode == "bulk":
        return bulk_load(settings, path, "erp", "customer")
    return load_file(settings, path, "erp", "customer")


@pytest.fixture(params=["sqlite", "postgres"])
def two_hubs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Settings, Settings, Any]]:
    """(bulk settings, streaming settings, reset) — two SQLite files, or one PostgreSQL database reused."""
    if request.param == "sqlite":
        a, b = (Settings(database_url=f"sqlite:///{tmp_path / f'{m}.sqlite3'}", redis_url=None) for m in ("bulk", "stream"))
        upgrade(a.database_url)
        upgrade(b.database_url)
        yield a, b, lambda: None
    else:
        pg = dataclasses.replace(request.getfixturevalue("pg_settings"), redis_url=None)  # jobs inline: file order
        truncate(pg)
        yield pg, pg, lambda: truncate(pg)
    dispose_engines()
    runtime.configure(Settings.from_env())


def test_small_file_bulk_equals_streaming(two_hubs: tuple[Settings, Settings, Any], tmp_path: Path) -> None:
    bulk_settings, stream_settings, reset = two_hubs
    path = small_file(tmp_path)
    report = run(bulk_settings, path, "bulk")
    assert (report.total, report.stored, report.rejected) == (7, 6, 1)
    assert json.loads(Path(report.reject_file).read_text().splitlines()[0])["line"] == 5
    bulk = snapshot(bulk_settings.database_url)
    reset()
    run(stream_settings, path, "stream")
    stream = snapshot(stream_settings.database_url)

    assert bulk.groups == stream.groups and len(bulk.groups) == 3
    assert bulk.status == stream.status
    assert bulk.counts["match_key"] == stream.counts["match_key"]
    for members, b in bulk.goldens.items():
        s = stream.goldens[members]
        # survivorship is computed from the same members: same fields, same lineage sources
        assert b["fields"] == s["fields"] and b["lineage_sources"] == s["lineage_sources"]
        assert b["version_members"] == s["version_members"] == b["payload_crossref"] == sorted(members)
        assert b["has_account_number"] and b["approval"] == s["approval"]
        # documented difference: one version and one 'created' event per golden in bulk
        assert (b["version"], b["history_version"], b["event_version"], b["event_type"]) == (1, 1, 1, "created")
        # streaming: one version per golden and resolve group; these six records are one group
        assert stream_settings.resolve_group_size >= 6 and s["version"] == 1
    assert bulk.counts["outbox_event"] == bulk.counts["golden_version"] == bulk.counts["golden_record"] == 3


@pytest.mark.postgres
def test_a_bulk_load_leaves_its_tables_vacuumed_and_analyzed(pg_settings: Settings, tmp_path: Path) -> None:
    """Without VACUUM the candidate lookup's index-only scans visit the heap for every key entry
    (autovacuum may be off, or not yet round); without ANALYZE the planner thinks the tables
    are empty."""
    pg = dataclasses.replace(pg_settings, redis_url=None)
    truncate(pg)
    try:
        run(pg, small_file(tmp_path), "bulk")
        engine = create_engine(pg.database_url)
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT relname, relpages, relallvisible, reltuples FROM pg_class "
                "WHERE relname IN ('match_key', 'source_record', 'golden_record')")).all()
        engine.dispose()
        assert len(rows) == 3
        for name, pages, all_visible, tuples in rows:
            assert pages >= 1 and all_visible == pages, name  # visibility map set: VACUUM ran after the COPY
            assert tuples > 0, name  # statistics of the loaded table, not of an empty one (-1 or 0)
    finally:
        truncate(pg)
        dispose_engines()
        runtime.configure(Settings.from_env())


def test_bulk_equals_streaming_decisions_on_febrl(tmp_path: Path) -> None:
    """A FEBRL3 sample (SQLite; streaming is ~40 ms a record there, so 150 records).

    Tolerance: zero. The bulk pass replays ``decide`` exactly (same blocks with the same
    oversize rule, same median member weight, same thresholds, same bridging); the only
    possible divergence is a float median that lands exactly on a threshold, which
    ``score_frame`` and ``score`` compute in a different order — not seen on this sample, and
    bench/speed.py reports the count at larger sizes.
    """
    path = febrl_file(tmp_path, 150)
    a, b = (Settings(database_url=f"sqlite:///{tmp_path / f'{m}.sqlite3'}", redis_url=None) for m in ("bulk", "stream"))
    upgrade(a.database_url)
    upgrade(b.database_url)
    report = run(a, path, "bulk")
    run(b, path, "stream")
    bulk, stream = snapshot(a.database_url), snapshot(b.database_url)
    different = sum(1 for g in bulk.groups ^ stream.groups for _ in g)
    status_diff = sum(1 for k, v in bulk.status.items() if stream.status.get(k) != v)
    assert report.actions.get("link", 0) >= 5, report.to_json()  # the sample has duplicates to find
    assert (different, status_diff) == (0, 0)
    for members, g in bulk.goldens.items():
        assert g["fields"] == stream.goldens[members]["fields"]
    dispose_engines()


def _interrupt_commit(bulk_module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row written, then the process dies before COMMIT."""
    def boom(uow: Any, goldens: int, before_commit: Any) -> None:
        raise RuntimeError("interrupted before commit")

    monkeypatch.setattr(bulk_module, "_after_write", boom)


def _interrupt_copy(bulk_module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL: golden_record, source_record, match_key copied, then the outbox COPY fails."""
    original = bulk_module._Spool.copy_into

    def boom(self: Any, cur: Any, table: str) -> None:
        if table == "outbox_event":
            raise RuntimeError("interrupted during COPY")
        original(self, cur, table)

    monkeypatch.setattr(bulk_module._Spool, "copy_into", boom)


def _interrupt_pool_task(bulk_module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool process fails while building source rows (goldens already copied)."""
    def boom(job: Any, lo: int, hi: int) -> Any:
        raise RuntimeError("worker process failed")

    monkeypatch.setattr(bulk_module, "_record_rows", boom)


@pytest.mark.parametrize(("backend", "interrupt"), [
    ("sqlite", _interrupt_commit), ("postgres", _interrupt_commit), ("postgres", _interrupt_copy),
    ("postgres", _interrupt_pool_task),
])
def test_non_empty_domain_is_refused_and_a_failed_load_leaves_nothing(
    backend: str, interrupt: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        settings = Settings(database_url=f"sqlite:///{tmp_path / 'hub.sqlite3'}", redis_url=None, bulk_workers=2)
        upgrade(settings.database_url)
    else:
        settings = dataclasses.replace(request.getfixturevalue("pg_settings"), redis_url=None, bulk_workers=2)
        truncate(settings)
    path = small_file(tmp_path)

    import mdm.bulk.load as bulk_module

    with monkeypatch.context() as patch:
        interrupt(bulk_module, patch)
        with pytest.raises(RuntimeError, match="interrupted|failed"):
            run(settings, path, "bulk")
    assert set(snapshot(settings.database_url).counts.values()) == {0}  # one transaction: nothing half-linked
    report = run(settings, path, "bulk")  # resume = re-run
    assert report.goldens == 3 and snapshot(settings.database_url).counts["source_record"] == 6
    with pytest.raises(NotEmpty):
        run(settings, path, "bulk")
    dispose_engines()
    runtime.configure(Settings.from_env())


def test_cli_bulk_flag_falls_back_on_a_non_empty_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from mdm.cli import main

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    upgrade(url)
    monkeypatch.setenv("MDM_DATABASE_URL", url)
    monkeypatch.delenv("MDM_REDIS_URL", raising=False)
    path = small_file(tmp_path)
    first = CliRunner().invoke(main, ["load", str(path), "--source", "erp", "--domain", "customer", "--bulk"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output.strip().splitlines()[-1])["bulk"] is True
    second = CliRunner().invoke(main, ["load", str(path), "--source", "erp", "--domain", "customer", "--bulk", "--strict"])
    assert second.exit_code == 1  # the malformed line, with --strict
    assert "normal (streaming) path" in second.output
    assert json.loads(second.output.strip().splitlines()[-1])["outcomes"] == {"unchanged": 6}
    dispose_engines()
    runtime.configure(Settings.from_env())


def test_copy_text_round_trips_through_postgresql(pg_settings: Settings) -> None:
    """Awkward values written with our COPY text come back unchanged (JSONB and text columns)."""
    import psycopg

    from mdm.bulk.copytext import format_rows

    values = [
        {"t": "tab\there\nnew line\\back\rcr", "j": {"q": 'quote " and \\ and \n', "ü": ["Zoë", None, 1.5, True]}},
        {"t": None, "j": None},
        {"t": "", "j": {"nested": {"empty": ""}}},
    ]
    url = pg_settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE copy_check (n serial, t text, j jsonb)")
        with cur.copy("COPY copy_check (t, j) FROM STDIN") as copy:
            copy.write(format_rows(values, ("t", "j"), frozenset({"j"})))
        cur.execute("SELECT t, j FROM copy_check ORDER BY n")
        assert [{"t": t, "j": j} for t, j in cur.fetchall()] == values
