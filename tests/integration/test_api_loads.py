"""``POST /sources/{source}/{domain}/loads``: a whole file over the API, bulk into an empty domain,
through batches otherwise; staged in the database, run by a job, resumable and idempotent."""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from mdm import runtime
from mdm.db import dispose_engines
from mdm.engines import reset_caches
from mdm.migrate import upgrade
from mdm.services import loads
from mdm.settings import Settings
from tests.conftest import Hub, WorkerProcess, _build_hub
from tests.integration.test_bulk_load import febrl_file, run, small_file, snapshot

NDJSON = {"Content-Type": "application/x-ndjson"}


def post_load(hub: Hub, data: bytes, *, source: str = "erp", domain: str = "customer", query: str = "",
              headers: dict[str, str] | None = None, role: str | None = None) -> Any:
    return hub.client.post(f"/api/v1/sources/{source}/{domain}/loads{query}", data=data,
                           headers={**hub.headers(role or source), **(NDJSON if headers is None else headers)})


def wait_load(hub: Hub, load_id: str, until: tuple[str, ...] = ("done", "done_with_rejects", "failed"),
              timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = hub.get(f"/loads/{load_id}").get_json()
        if body["status"] in until or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def rows(url: str, sql: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def cli_bulk_snapshot(tmp_path: Path, path: Path) -> Any:
    """What ``mdm load --bulk`` makes of ``path`` in a fresh SQLite hub (the reference); the hub
    under test keeps its runtime settings."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'reference.sqlite3'}", redis_url=None)
    upgrade(settings.database_url)
    previous = runtime.settings()
    try:
        run(settings, path, "bulk")
        return snapshot(settings.database_url)
    finally:
        dispose_engines()
        runtime.configure(previous)
        reset_caches()


# --- the laptop default: SQLite, the job inline ---------------------------------------------


def test_a_file_into_an_empty_domain_takes_the_bulk_path_and_equals_the_cli(hub: Hub, tmp_path: Path) -> None:
    path = small_file(tmp_path)
    response = post_load(hub, path.read_bytes())
    assert response.status_code == 202, response.get_json()
    created = response.get_json()
    assert created["mode"] == "auto" and created["format"] == "jsonl"
    status = hub.get(created["status_url"].removeprefix("/api/v1")).get_json()
    assert status["status"] == "done_with_rejects" and status["path"] == "bulk"
    assert (status["total"], status["stored"], status["rejected"], status["goldens"]) == (7, 6, 1, 3)
    assert status["decisions"] == {"new": 3, "link": 3}
    rejects = [json.loads(line) for line in hub.get(f"/loads/{created['load_id']}/rejects").get_data(as_text=True).splitlines()]
    assert [r["line"] for r in rejects] == [5]

    loaded = snapshot(hub.settings.database_url)
    reference = cli_bulk_snapshot(tmp_path, path)
    assert loaded.groups == reference.groups and len(loaded.groups) == 3
    assert loaded.status == reference.status
    assert loaded.goldens == reference.goldens
    assert loaded.counts == reference.counts
    # the file is not kept once loaded; its reject file is
    kinds = rows(hub.settings.database_url, "SELECT kind, count(*) FROM data_load_chunk GROUP BY kind")
    assert dict(kinds) == {"rejects": 1}


def test_a_file_into_a_domain_with_records_goes_through_batches(hub: Hub, tmp_path: Path) -> None:
    assert hub.put("erp", "customer", "EXISTING", {"kind": "organization", "name": "Acme Pty Ltd"}).status_code == 202
    response = post_load(hub, small_file(tmp_path).read_bytes())
    assert response.status_code == 202
    status = wait_load(hub, response.get_json()["load_id"])
    assert status["path"] == "stream" and status["status"] == "done_with_rejects"
    assert (status["total"], status["stored"], status["rejected"], status["pending"]) == (7, 6, 1, 0)
    assert status["batches"] == 1
    stored = rows(hub.settings.database_url, "SELECT match_status, count(*) FROM source_record GROUP BY match_status")
    assert sum(n for _, n in stored) == 7 and dict(stored).get("pending", 0) == 0
    assert len(snapshot(hub.settings.database_url).groups) == 4  # three people and Acme


def test_a_streamed_load_says_resolving_until_its_records_are_resolved(
        hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mdm import jobs
    from mdm.services.sweep import sweep_lost_records

    hub.put("erp", "customer", "EXISTING", {"kind": "organization", "name": "Acme Pty Ltd"})
    monkeypatch.setattr(jobs, "enqueue_resolve", lambda *a, **k: [])  # the resolve jobs are lost
    load_id = post_load(hub, small_file(tmp_path).read_bytes(), query="?mode=stream").get_json()["load_id"]
    status = hub.get(f"/loads/{load_id}").get_json()
    assert (status["status"], status["pending"], status["stored"]) == ("resolving", 6, 6)
    monkeypatch.undo()
    assert sweep_lost_records(hub.settings, older_than_seconds=0)["requeued"] == 6
    status = hub.get(f"/loads/{load_id}").get_json()
    assert (status["status"], status["pending"]) == ("done_with_rejects", 0)


def test_csv_loads_and_ignores_the_json_size_limit(sqlite_settings: Settings) -> None:
    hub = _build_hub(dataclasses.replace(sqlite_settings, max_content_length=1024))
    lines = ["Id,kind,name,address.city,address.country"]
    lines += [f"C{i},organization,Company Number {i} Holdings,Sydney,AU" for i in range(60)]
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > 1024
    response = post_load(hub, data, headers={"Content-Type": "text/csv"})
    assert response.status_code == 202, response.get_json()
    status = hub.get(f"/loads/{response.get_json()['load_id']}").get_json()
    assert (status["status"], status["path"], status["stored"], status["goldens"]) == ("done", "bulk", 60, 60)


def test_a_file_staged_in_many_pieces_is_reassembled_in_order(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loads, "CHUNK_BYTES", 97)  # pieces that cut lines and UTF-8 characters apart
    lines = [json.dumps({"source_id": f"P{i}", "fields": {"kind": "organization", "name": f"Zoë Çafé {i} Ltd"}},
                        ensure_ascii=False) for i in range(40)]
    data = ("\n".join(lines) + "\n").encode()
    staged: list[int] = []
    original = loads._write_input

    def spy(settings: Settings, load_id: str, path: Path) -> None:
        staged.append(rows(settings.database_url, f"SELECT count(*) FROM data_load_chunk WHERE load_id = '{load_id}'")[0][0])
        original(settings, load_id, path)
        assert path.read_bytes() == data

    monkeypatch.setattr(loads, "_write_input", spy)
    status = hub.get(f"/loads/{post_load(hub, data).get_json()['load_id']}").get_json()
    assert staged == [-(-len(data) // 97)]
    assert (status["status"], status["stored"]) == ("done", 40)
    names = {json.loads(r[0])["name"] for r in rows(hub.settings.database_url, "SELECT fields FROM golden_record")}
    assert names == {f"Zoë Çafé {i} Ltd" for i in range(40)}


def test_pieces_are_filled_from_short_reads() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def read(self, n: int = -1) -> bytes:
            out, self.data = self.data[:min(n, 3)], self.data[min(n, 3):]
            return out

    assert list(loads._pieces(Trickle(b"abcdefghij"), 4)) == [b"abcd", b"efgh", b"ij"]  # type: ignore[arg-type]


def test_bulk_mode_on_a_domain_with_records_fails_and_changes_nothing(hub: Hub, tmp_path: Path) -> None:
    hub.put("erp", "customer", "EXISTING", {"kind": "organization", "name": "Acme Pty Ltd"})
    before = rows(hub.settings.database_url, "SELECT count(*) FROM source_record")
    load_id = post_load(hub, small_file(tmp_path).read_bytes(), query="?mode=bulk").get_json()["load_id"]
    status = hub.get(f"/loads/{load_id}").get_json()
    assert status["status"] == "failed" and "already holds records" in status["error"]
    assert rows(hub.settings.database_url, "SELECT count(*) FROM source_record") == before
    # the file stays staged: the load is retried in another mode without sending it again
    assert rows(hub.settings.database_url, "SELECT count(*) FROM data_load_chunk WHERE kind = 'input'")[0][0] == 1
    assert hub.client.post(f"/api/v1/loads/{load_id}/retry?mode=fast", headers=hub.headers("erp")).status_code == 422
    assert hub.client.post(f"/api/v1/loads/{load_id}/retry", headers=hub.headers("salesforce")).status_code == 404
    retried = hub.client.post(f"/api/v1/loads/{load_id}/retry?mode=stream", headers=hub.headers("erp"))
    assert retried.status_code == 202 and retried.get_json()["mode"] == "stream"
    status = hub.get(f"/loads/{load_id}").get_json()
    assert (status["status"], status["path"], status["stored"], status["attempt"], status["error"]) == (
        "done_with_rejects", "stream", 6, 2, None)
    assert rows(hub.settings.database_url, "SELECT count(*) FROM source_record")[0][0] == before[0][0] + 6
    again = hub.client.post(f"/api/v1/loads/{load_id}/retry", headers=hub.headers("erp"))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_failed"


def test_bulk_mode_for_prices_is_refused_and_stream_mode_stores_them(hub: Hub) -> None:
    product = {"source_id": "SKU-1", "fields": {"sku": "SKU-1", "name": "Widget"}}
    price = {"source_id": "PL1:SKU-1", "fields": {"product": "SKU-1", "price_list": "PL1", "currency": "AUD", "amount": "9.95"}}
    assert post_load(hub, json.dumps(product).encode(), domain="product", query="?mode=stream").status_code == 202
    refused = hub.get(f"/loads/{post_load(hub, json.dumps(price).encode(), domain='price', query='?mode=bulk').get_json()['load_id']}").get_json()
    assert refused["status"] == "failed" and "keyed one by one" in refused["error"]
    streamed = hub.get(f"/loads/{post_load(hub, json.dumps(price).encode(), domain='price').get_json()['load_id']}").get_json()
    assert (streamed["status"], streamed["path"], streamed["stored"]) == ("done", "stream", 1)


def test_bad_requests_are_clear_4xx_and_store_nothing(sqlite_settings: Settings, tmp_path: Path) -> None:
    hub = _build_hub(dataclasses.replace(sqlite_settings, max_load_bytes=2_000))
    body = small_file(tmp_path).read_bytes()
    cases = [
        (post_load(hub, body, headers={"Content-Type": "application/json"}), 415, "unsupported_media_type"),
        (post_load(hub, body, headers={}), 415, "unsupported_media_type"),
        (post_load(hub, body, query="?format=xml"), 422, "invalid_input"),
        (post_load(hub, body, query="?mode=fast"), 422, "invalid_input"),
        (post_load(hub, b""), 422, "empty_load"),
        (post_load(hub, body * 3), 413, None),
        (post_load(hub, body, domain="planets"), 404, None),
        (post_load(hub, body, source="nosuch", role="admin"), 404, None),
        (post_load(hub, body, role="salesforce"), 403, "forbidden"),
        (post_load(hub, body, role="steward"), 403, "forbidden"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (status, response.get_json())
        error = response.get_json()["error"]
        assert error["message"] and (code is None or error["code"] == code)
    assert rows(hub.settings.database_url, "SELECT count(*) FROM data_load")[0][0] == 0
    assert rows(hub.settings.database_url, "SELECT count(*) FROM data_load_chunk")[0][0] == 0
    # a body sent with ?format= needs no media type
    assert post_load(hub, body, query="?format=jsonl", headers={}).status_code == 202


def test_a_body_shorter_than_its_content_length_stores_nothing(hub: Hub) -> None:
    from mdm.db import UnitOfWork
    from mdm.errors import BadRequest

    with UnitOfWork(hub.settings) as uow, pytest.raises(BadRequest) as raised:
        loads.stage_load(uow, "erp", "customer", io.BytesIO(b'{"source_id": "1"}\n'), fmt="jsonl", mode="auto",
                         max_bytes=10**6, expected_bytes=5000)
    assert raised.value.code == "incomplete_body" and raised.value.details == {"received": 19, "content_length": 5000}
    assert rows(hub.settings.database_url, "SELECT count(*) FROM data_load_chunk")[0][0] == 0


def test_an_inline_sweep_leaves_a_running_load_alone_until_its_time_limit(hub: Hub, tmp_path: Path) -> None:
    """Without Redis nothing can say whether a running load's process is alive: the sweep takes it
    back only after MDM_LOAD_JOB_TIMEOUT; a queued one (its request died before running it) at once."""
    from datetime import timedelta

    from mdm.db import UnitOfWork
    from mdm.models import DataLoad, utcnow
    from mdm.services.sweep import requeue_lost_loads

    ids = []
    for _ in range(2):
        with UnitOfWork(hub.settings) as uow:
            ids.append(loads.stage_load(uow, "erp", "customer", io.BytesIO(small_file(tmp_path).read_bytes()),
                                        fmt="jsonl", mode="auto", max_bytes=10**6).id)
            uow.commit()
    running, queued = ids
    with UnitOfWork(hub.settings) as uow:  # as a web process that is still loading it would have left it
        load = uow.session.get(DataLoad, running)
        load.status, load.attempt, load.started_at = "running", 1, utcnow() - timedelta(minutes=5)
        uow.session.add(load)
        uow.commit()
    assert requeue_lost_loads(hub.settings, older_than_seconds=0) == {"loads_requeued": 1}
    assert hub.get(f"/loads/{queued}").get_json()["status"] == "done_with_rejects"
    assert hub.get(f"/loads/{running}").get_json()["status"] == "running"
    later = dataclasses.replace(hub.settings, load_job_timeout=60)  # five minutes is past this limit
    assert requeue_lost_loads(later, older_than_seconds=0) == {"loads_requeued": 1}
    resumed = hub.get(f"/loads/{running}").get_json()  # the domain holds the other load now: batches, unchanged
    assert (resumed["status"], resumed["path"], resumed["attempt"], resumed["outcomes"]) == (
        "done_with_rejects", "stream", 2, {"unchanged": 6})


def test_a_load_is_seen_only_by_its_source_and_stewards(hub: Hub, tmp_path: Path) -> None:
    load_id = post_load(hub, small_file(tmp_path).read_bytes()).get_json()["load_id"]
    assert hub.get(f"/loads/{load_id}", role="erp").status_code == 200
    assert hub.get(f"/loads/{load_id}", role="steward").status_code == 200
    assert hub.get(f"/loads/{load_id}", role="salesforce").status_code == 404
    assert hub.get(f"/loads/{load_id}/rejects", role="salesforce").status_code == 404
    assert hub.get(f"/loads/{load_id}", role="subscriber").status_code == 403
    assert hub.get("/loads/no-such-load").status_code == 404


def test_a_run_that_died_after_the_bulk_commit_is_finished_not_reloaded(
        sqlite_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = _build_hub(sqlite_settings)
    original = loads._finish
    calls = {"n": 0}

    def die_once(*args: Any, **kwargs: Any) -> bool:
        if kwargs.get("status") == "done" and calls["n"] == 0:
            calls["n"] += 1
            raise KeyboardInterrupt  # the process stops between the bulk commit and the status write
        return original(*args, **kwargs)

    monkeypatch.setattr(loads, "_finish", die_once)
    with pytest.raises(KeyboardInterrupt):
        post_load(hub, small_file(tmp_path).read_bytes())
    [(load_id, status, path)] = rows(hub.settings.database_url, "SELECT id, status, path FROM data_load")
    assert (status, path) == ("running", "bulk")  # the mark committed with the rows
    counts = snapshot(hub.settings.database_url).counts
    assert loads.run_load(sqlite_settings, load_id)["status"] == "done"
    assert snapshot(hub.settings.database_url).counts == counts  # nothing loaded twice
    assert hub.get(f"/loads/{load_id}").get_json()["status"] == "done"
    assert loads.run_load(sqlite_settings, load_id) == {"load_id": load_id, "skipped": "finished"}


# --- PostgreSQL + Redis + real workers ------------------------------------------------------


@pytest.fixture
def maintenance_worker(pg_hub: Hub) -> Any:
    worker = WorkerProcess(pg_hub.settings, queue="maintenance", sweep=False)
    yield worker
    worker.kill(15)


@pytest.mark.postgres
def test_loads_run_on_a_maintenance_worker_bulk_then_batches(pg_hub: Hub, maintenance_worker: WorkerProcess,
                                                             tmp_path: Path) -> None:
    path = febrl_file(tmp_path, 300)
    load_id = post_load(pg_hub, path.read_bytes()).get_json()["load_id"]
    status = wait_load(pg_hub, load_id)
    assert status["status"] == "done_with_rejects", (status, maintenance_worker.output()[-3000:])
    # one FEBRL row has an impossible birth date
    assert (status["path"], status["stored"], status["rejected"], status["attempt"]) == ("bulk", 299, 1, 1)
    loaded = snapshot(pg_hub.settings.database_url)
    reference = cli_bulk_snapshot(tmp_path, path)
    assert loaded.groups == reference.groups and loaded.status == reference.status
    assert loaded.counts == reference.counts

    # the same file again, now into a domain with records: batches; nothing changed
    again = wait_load(pg_hub, post_load(pg_hub, path.read_bytes()).get_json()["load_id"], until=("done_with_rejects", "failed"))
    assert again["path"] == "stream" and again["outcomes"] == {"unchanged": 299}, again
    # new records into it: batches, resolved by the resolve worker before the load says done
    fresh = wait_load(pg_hub, post_load(pg_hub, small_file(tmp_path).read_bytes()).get_json()["load_id"],
                      until=("done_with_rejects", "failed"))
    assert (fresh["path"], fresh["stored"], fresh["outcomes"]) == ("stream", 6, {"accepted": 6}), fresh
    assert rows(pg_hub.settings.database_url, "SELECT count(*) FROM source_record WHERE match_status = 'pending'")[0][0] == 0
    assert snapshot(pg_hub.settings.database_url).groups >= loaded.groups | {frozenset({f"A{i}", f"B{i}"}) for i in range(3)}


@pytest.mark.postgres
def test_a_second_run_of_a_running_load_does_nothing(pg_inline_settings: Settings, tmp_path: Path) -> None:
    hub = _build_hub(pg_inline_settings)
    from mdm.db import UnitOfWork

    with UnitOfWork(pg_inline_settings) as uow:
        load = loads.stage_load(uow, "erp", "customer", io.BytesIO(small_file(tmp_path).read_bytes()),
                                fmt="jsonl", mode="auto", max_bytes=10**6)
        load_id = load.id
        uow.commit()
    # another run holds the load's lock (as a slow first run would)
    with loads._exclusive(pg_inline_settings, load_id) as held:
        assert held
        assert loads.run_load(pg_inline_settings, load_id) == {"load_id": load_id, "skipped": "running elsewhere"}
        assert rows(pg_inline_settings.database_url, "SELECT count(*) FROM source_record")[0][0] == 0
    results: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: results.append(loads.run_load(pg_inline_settings, load_id))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.get("status", r.get("skipped")) for r in results) in (["done", "running elsewhere"], ["done", "finished"])
    assert rows(pg_inline_settings.database_url, "SELECT count(*) FROM source_record")[0][0] == 6
    assert hub.get(f"/loads/{load_id}").get_json()["attempt"] == 1


@pytest.mark.postgres
def test_the_sweep_requeues_a_load_whose_job_was_lost(pg_hub: Hub, tmp_path: Path) -> None:
    from redis import Redis
    from rq.job import Job

    from mdm.services.sweep import sweep_lost_records

    load_id = post_load(pg_hub, small_file(tmp_path).read_bytes()).get_json()["load_id"]
    [(job_id,)] = rows(pg_hub.settings.database_url, f"SELECT job_id FROM data_load WHERE id = '{load_id}'")
    redis = Redis.from_url(pg_hub.settings.redis_url or "")
    Job.fetch(job_id, connection=redis).delete()  # lost: Redis flushed, or a worker died holding it
    assert pg_hub.get(f"/loads/{load_id}").get_json()["status"] == "queued"
    assert sweep_lost_records(pg_hub.settings, older_than_seconds=0)["loads_requeued"] == 1
    [(new_job_id,)] = rows(pg_hub.settings.database_url, f"SELECT job_id FROM data_load WHERE id = '{load_id}'")
    assert new_job_id != job_id and Job.exists(new_job_id, connection=redis)
    # a queued job that is still there is left alone
    assert sweep_lost_records(pg_hub.settings, older_than_seconds=0)["loads_requeued"] == 0
    worker = WorkerProcess(pg_hub.settings, queue="maintenance", sweep=False)
    try:
        status = wait_load(pg_hub, load_id)
    finally:
        worker.kill(15)
    assert (status["status"], status["path"], status["stored"]) == ("done_with_rejects", "bulk", 6)


@pytest.mark.postgres
def test_a_load_whose_worker_is_killed_midway_is_resumed_and_loaded_once(pg_hub: Hub, tmp_path: Path) -> None:
    """SIGKILL the maintenance worker (and its work-horse and pool) while the load runs: nothing is
    half-written; once its heartbeat is stale the sweep enqueues it again and another worker loads
    it completely, once."""
    from mdm.services.sweep import sweep_lost_records

    path = febrl_file(tmp_path, 2000)
    worker = WorkerProcess(pg_hub.settings, queue="maintenance", sweep=False)
    try:
        load_id = post_load(pg_hub, path.read_bytes()).get_json()["load_id"]
        running = wait_load(pg_hub, load_id, until=("running", "done", "done_with_rejects", "failed"), timeout=60)
        assert running["status"] == "running", running
        worker.kill_all()  # the worker, its work-horse and the load's pool
    finally:
        worker.kill_all()
    stored_at_kill = rows(pg_hub.settings.database_url, "SELECT count(*) FROM source_record")[0][0]
    # the job looks alive until its heartbeat is 2 × job_heartbeat_seconds + 10 s old
    assert sweep_lost_records(pg_hub.settings, older_than_seconds=0)["loads_requeued"] == 0
    deadline = time.monotonic() + 40
    while sweep_lost_records(pg_hub.settings, older_than_seconds=0)["loads_requeued"] == 0:
        assert time.monotonic() < deadline, "the sweep never took the killed load back"
        time.sleep(1)
    second = WorkerProcess(pg_hub.settings, queue="maintenance", sweep=False)
    try:
        status = wait_load(pg_hub, load_id)
    finally:
        second.kill(15)
    assert status["status"] in ("done", "done_with_rejects") and status["attempt"] == 2, status
    assert status["path"] == "bulk" and status["stored"] > 1900
    assert stored_at_kill in (0, status["stored"])  # all or nothing: the bulk write is one transaction
    [(records, distinct)] = rows(pg_hub.settings.database_url, "SELECT count(*), count(DISTINCT source_id) FROM source_record")
    assert records == distinct == status["stored"]


@pytest.mark.postgres
def test_a_long_load_keeps_its_job_heartbeat_fresh(pg_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import rq
    from redis import Redis
    from rq.job import Job
    from rq.serializers import JSONSerializer

    from mdm import jobs

    redis = Redis.from_url(pg_settings.redis_url or "")
    job = Job.create(func="builtins.print", connection=redis, serializer=JSONSerializer)
    job.save()
    monkeypatch.setattr(rq, "get_current_job", lambda: job)
    settings = dataclasses.replace(pg_settings, job_heartbeat_seconds=1)
    with jobs._heartbeat_thread(settings):
        time.sleep(2.5)
    beats = Job.fetch(job.id, connection=redis, serializer=JSONSerializer).last_heartbeat
    assert beats is not None and (time.time() - beats.timestamp()) < 2.5
    job.delete()
