"""Jobs on real PostgreSQL, real Redis and real ``mdm worker`` processes: nothing accepted
is ever left unresolved — not when Redis loses the jobs, not when a worker is SIGKILLed,
not when a job keeps failing; and two workers never create two goldens for one entity.

Each test gets its own queue prefix and Redis database, and starts the workers it needs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from redis import Redis
from sqlalchemy import create_engine, text

from mdm.services.sweep import sweep_lost_records
from mdm.settings import Settings
from tests.conftest import Hub, WorkerProcess, _build_hub, truncate

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def iso(pg_settings: Settings, resolve_worker: WorkerProcess) -> Iterator[tuple[Hub, list[WorkerProcess]]]:
    """A hub on the test database with a queue prefix no running worker listens to, in a Redis
    database of its own (so the test may flush it); workers are started by the test."""
    db = int(pg_settings.redis_url.rsplit("/", 1)[1]) - 8  # type: ignore[union-attr]
    settings = replace(
        pg_settings,
        queue_prefix=f"iso{uuid.uuid4().hex[:8]}",
        redis_url=pg_settings.redis_url.rsplit("/", 1)[0] + f"/{db}",  # type: ignore[union-attr]
    )
    Redis.from_url(settings.redis_url).flushdb()
    truncate(settings)
    workers: list[WorkerProcess] = []
    yield _build_hub(settings), workers
    for worker in workers:
        worker.kill(9)
    Redis.from_url(settings.redis_url).flushdb()


def sql(settings: Settings, query: str, **params: object) -> list:
    engine = create_engine(settings.database_url)
    with engine.begin() as conn:
        rows = conn.execute(text(query), params).all() if query.lstrip().upper().startswith("SELECT") else conn.execute(text(query), params)
    engine.dispose()
    return rows  # type: ignore[return-value]


def post_batch(hub: Hub, records: list[dict], source: str = "erp") -> str:
    response = hub.client.post(f"/api/v1/sources/{source}/customer/batches", json={"records": records}, headers=hub.headers(source))
    assert response.status_code == 202, response.get_json()
    return response.get_json()["batch_id"]


def people(n: int, prefix: str = "P") -> list[dict]:
    first = ["Ann", "Bob", "Cleo", "Dmitri", "Esme", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Lena"]
    last = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Haddad", "Keller", "Rossi", "Silva", "Nowak"]
    return [
        {
            "source_id": f"{prefix}{i}",
            "updated_at": "2026-01-01T00:00:00Z",
            "fields": {
                "kind": "person",
                "first_name": first[i % 12],
                "last_name": f"{last[(i // 12) % 10]}-{i}",
                "birth_date": f"19{50 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "email": f"person{i}@example.com",
            },
        }
        for i in range(n)
    ]


def wait_until(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pending(settings: Settings) -> int:
    return sql(settings, "SELECT count(*) FROM source_record WHERE match_status = 'pending'")[0][0]


def test_sweep_leaves_queued_jobs_alone_and_restores_jobs_redis_lost(iso: tuple[Hub, list[WorkerProcess]]) -> None:
    hub, workers = iso
    post_batch(hub, people(120))
    time.sleep(hub.settings.sweep_after_seconds + 0.5)
    # nothing consumes the queue yet: the jobs are queued, so the sweep must not duplicate them
    assert sweep_lost_records(hub.settings) == {"stale": 120, "requeued": 0, "loads_requeued": 0}

    Redis.from_url(hub.settings.redis_url).flushdb()  # Redis restarted without persistence
    assert sweep_lost_records(hub.settings) == {"stale": 120, "requeued": 120, "loads_requeued": 0}

    workers.append(WorkerProcess(hub.settings, sweep=False))
    wait_until(lambda: pending(hub.settings) == 0, 90, "all records resolved")
    assert sql(hub.settings, "SELECT count(*) FROM source_record WHERE golden_id IS NULL")[0][0] == 0


def test_accepted_records_store_their_job_id_in_the_write_that_stores_them(iso: tuple[Hub, list[WorkerProcess]]) -> None:
    """The job that will resolve a record is named on the record by the accept's own INSERT or
    UPDATE (one row version per record, not a second UPDATE after it), and it is the job that
    holds the record in the queue — for new, changed and unchanged-but-pending records of a
    batch alike, and for a single record sent alone."""
    from rq import Queue
    from rq.serializers import JSONSerializer

    hub, _workers = iso
    first = people(120)
    batch = post_batch(hub, first)
    # one row version per record, written by the transaction that wrote the batch row
    xmins = sql(hub.settings, "SELECT DISTINCT sr.xmin::text FROM source_record sr JOIN batch_item bi "
                              "ON bi.source_record_id = sr.id WHERE bi.batch_id = :b", b=batch)
    assert [x for (x,) in xmins] == [x for (x,) in sql(hub.settings, "SELECT xmin::text FROM batch WHERE id = :b", b=batch)]

    changed = [{**r, "fields": {**r["fields"], "email": "new-" + r["fields"]["email"]}} for r in first[:10]]
    post_batch(hub, changed + first[10:20] + people(5, prefix="N"))  # changed, unchanged (still pending), new
    queue = Queue(f"{hub.settings.queue_prefix}-resolve", connection=Redis.from_url(hub.settings.redis_url),
                  serializer=JSONSerializer)
    jobs = queue.get_job_ids()
    assert len(jobs) == 3 + 1  # 120 records in chunks of 50, then the second batch's 25
    newest_job = {rid: job_id for job_id in jobs for rid in queue.fetch_job(job_id).args[0]}  # in enqueue order
    stored = dict(sql(hub.settings, "SELECT id, job_id FROM source_record"))
    assert len(stored) == 125 and stored == newest_job

    # one record at a time (PUT): the same, for a new record and a changed one
    for record in (people(1, prefix="S")[0], {**first[30], "fields": {**first[30]["fields"], "email": "other@example.com"}}):
        response = hub.client.put(f"/api/v1/sources/erp/customer/records/{record['source_id']}",
                                  json={"fields": record["fields"], "updated_at": "2026-01-02T00:00:00Z"}, headers=hub.headers("erp"))
        assert response.status_code == 202 and response.get_json()["outcome"] == "accepted", response.get_json()
        rid = response.get_json()["record_id"]
        newest = queue.get_job_ids()[-1]
        assert queue.fetch_job(newest).args[0] == [rid]
        # stored by the accept's own write: job id, and enqueued_at from the same clock reading as received_at
        assert sql(hub.settings, "SELECT job_id, enqueued_at = received_at FROM source_record WHERE id = :r", r=rid) == [(newest, True)]


def test_sweep_restores_a_job_a_killed_worker_dequeued_but_never_started(iso: tuple[Hub, list[WorkerProcess]]) -> None:
    """RQ moves a job from its queue to an intermediate list as a worker dequeues it, and marks
    it started just after; a worker SIGKILLed in between leaves the job "queued" but in no queue
    (it was caught by test_sigkilled_worker_loses_nothing now and then, on a loaded machine)."""
    from rq import Queue

    hub, workers = iso
    post_batch(hub, people(30))
    redis = Redis.from_url(hub.settings.redis_url)
    queue = Queue(f"{hub.settings.queue_prefix}-resolve", connection=redis)
    job_ids = queue.get_job_ids()
    assert job_ids, "the batch's jobs are queued"
    for _ in job_ids:  # what a dequeuing worker does, then dies before marking the job started
        redis.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")
    assert queue.get_job_ids() == [] and all(queue.fetch_job(j).get_status(refresh=True) == "queued" for j in job_ids)
    time.sleep(hub.settings.sweep_after_seconds + 0.5)
    assert sweep_lost_records(hub.settings) == {"stale": 30, "requeued": 30, "loads_requeued": 0}

    workers.append(WorkerProcess(hub.settings, sweep=False))
    wait_until(lambda: pending(hub.settings) == 0, 90, "all records resolved")
    assert sql(hub.settings, "SELECT count(*) FROM source_record WHERE golden_id IS NULL")[0][0] == 0


def test_sweep_closes_batches_that_two_workers_finished_at_once(iso: tuple[Hub, list[WorkerProcess]]) -> None:
    """A batch with nothing pending but no ``finished_at`` (what two workers finishing its last
    two items at once left before resolvers closed batches lock-then-check; see
    test_batch_close_race.py) is closed by the sweep."""
    from mdm.services.sweep import close_finished_batches

    hub, workers = iso
    done_batch = post_batch(hub, people(30, prefix="A"))
    open_batch = post_batch(hub, people(30, prefix="B"))
    workers.append(WorkerProcess(hub.settings, sweep=False))
    wait_until(lambda: pending(hub.settings) == 0, 90, "all records resolved")
    # the race's outcome, and a batch that really still has work pending
    sql(hub.settings, "UPDATE batch SET finished_at = NULL WHERE id IN (:a, :b)", a=done_batch, b=open_batch)
    sql(hub.settings, "UPDATE batch_item SET status = 'pending' WHERE batch_id = :b AND position = 0", b=open_batch)

    assert close_finished_batches(hub.settings, older_than_seconds=0) == 1
    finished, last_resolved = sql(hub.settings, """
        SELECT b.finished_at, max(sr.resolved_at) FROM batch b JOIN batch_item bi ON bi.batch_id = b.id
          JOIN source_record sr ON sr.id = bi.source_record_id WHERE b.id = :a GROUP BY b.finished_at""", a=done_batch)[0]
    assert finished == last_resolved
    assert sql(hub.settings, "SELECT finished_at FROM batch WHERE id = :b", b=open_batch)[0][0] is None
    assert close_finished_batches(hub.settings, older_than_seconds=0) == 0  # nothing left to close


def test_sigkilled_worker_loses_nothing(iso: tuple[Hub, list[WorkerProcess]]) -> None:
    hub, workers = iso
    settings = replace(hub.settings, resolve_chunk_size=25)
    hub.client.application.config["MDM_SETTINGS"] = settings
    from mdm import runtime

    runtime.configure(settings)
    post_batch(hub, people(400))
    worker = WorkerProcess(settings, sweep=False)
    workers.append(worker)
    wait_until(lambda: pending(settings) < 350, 60, "the worker to get going")
    worker.kill(9)  # worker, work-horse and all: mid-job
    left = pending(settings)
    assert 0 < left < 400

    workers.append(WorkerProcess(settings, sweep=True))  # a fresh worker, with its sweep
    wait_until(lambda: pending(settings) == 0, 120, "every record resolved after the restart")
    rows = sql(settings, "SELECT count(*), count(DISTINCT golden_id) FROM source_record WHERE golden_id IS NOT NULL")
    assert rows[0][0] == 400
    # every golden's latest version lists exactly its current members (no lost or doubled update)
    bad = sql(
        settings,
        """SELECT g.id FROM golden_record g JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version
           WHERE jsonb_array_length(v.members) <> (SELECT count(*) FROM source_record s WHERE s.golden_id = g.id AND NOT s.deleted)""",
    )
    assert bad == []


def test_failing_job_is_retried_parked_listed_and_requeued(iso: tuple[Hub, list[WorkerProcess]]) -> None:
    hub, workers = iso
    # a database that refuses this one record (a DBA's trigger, a broken constraint): the job fails
    sql(
        hub.settings,
        """CREATE OR REPLACE FUNCTION refuse_poison() RETURNS trigger AS $$
           BEGIN IF NEW.source_id = 'POISON' AND NEW.resolved_hash IS NOT NULL THEN
             RAISE EXCEPTION 'poisoned record refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql""",
    )
    sql(hub.settings, "CREATE TRIGGER refuse_poison BEFORE UPDATE ON source_record FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
    try:
        workers.append(WorkerProcess(hub.settings, sweep=False))
        assert hub.put("erp", "customer", "POISON", {"name": "Poison Pill Ltd"}).status_code == 202
        assert hub.put("erp", "customer", "FINE", {"name": "Fine Foods Ltd"}).status_code == 202
        wait_until(
            lambda: sql(hub.settings, "SELECT match_status FROM source_record WHERE source_id = 'POISON'")[0][0] == "error",
            60,
            "the poisoned record to be parked after its attempts",
        )
        record = hub.get("/sources/erp/customer/records/POISON").get_json()
        assert record["attempts"] == hub.settings.job_max_attempts and "poisoned record refused" in record["last_error"]
        assert hub.get("/sources/erp/customer/records/FINE").get_json()["golden_id"]

        def failed_listed() -> bool:
            return any(j["function"] == "mdm.jobs.resolve_records" for j in hub.get("/admin/jobs/failed").get_json()["jobs"])

        wait_until(failed_listed, 30, "the job in RQ's failed registry")
        listing = hub.get("/admin/jobs/failed").get_json()
        assert [r["source_id"] for r in listing["records"]] == ["POISON"]
        job_id = next(j["job_id"] for j in listing["jobs"] if j["function"] == "mdm.jobs.resolve_records")
        assert hub.get("/admin/jobs/failed", role="steward").status_code == 403
    finally:
        sql(hub.settings, "DROP TRIGGER IF EXISTS refuse_poison ON source_record")

    response = hub.client.post(f"/api/v1/admin/jobs/failed/{job_id}/requeue", headers=hub.headers())
    assert response.status_code == 202, response.get_json()
    wait_until(lambda: hub.get("/sources/erp/customer/records/POISON").get_json()["match_status"] == "new", 60, "the requeued job")
    assert hub.client.post("/api/v1/admin/jobs/failed/nope/requeue", headers=hub.headers()).status_code == 404


@pytest.mark.parametrize(("chunk", "group"), [(1, 1), (20, 10)], ids=["record-per-transaction", "groups"])
def test_two_workers_never_split_one_entity_across_goldens(iso: tuple[Hub, list[WorkerProcess]], chunk: int, group: int) -> None:
    """Copies of the same customer resolved at the same moment by two workers end in one golden,
    and its last version reflects every member (advisory locks on blocking keys + row locks) —
    one record per transaction, and groups of records per transaction (resolve_group: all keys
    locked up front in one sorted set, so two groups never deadlock)."""
    hub, workers = iso
    settings = replace(hub.settings, resolve_chunk_size=chunk, resolve_group_size=group)
    hub.client.application.config["MDM_SETTINGS"] = settings
    from mdm import runtime

    runtime.configure(settings)
    workers.append(WorkerProcess(settings, sweep=False))
    workers.append(WorkerProcess(settings, sweep=False))
    entities = people(60)
    copies = []
    for copy in range(3):  # three systems' copies of each person, interleaved
        copies += [{**e, "source_id": f"{e['source_id']}-{copy}"} for e in entities]
    post_batch(hub, copies[0::2])
    post_batch(hub, copies[1::2])
    wait_until(lambda: pending(settings) == 0, 120, "all copies resolved")
    groups = sql(settings, "SELECT split_part(source_id, '-', 1), count(DISTINCT golden_id) FROM source_record GROUP BY 1")
    assert len(groups) == 60
    assert all(n == 1 for _, n in groups), [g for g in groups if g[1] != 1]
    latest = sql(
        settings,
        """SELECT jsonb_array_length(v.members) FROM golden_record g
           JOIN golden_version v ON v.golden_id = g.id AND v.version = g.version WHERE g.status = 'active'""",
    )
    assert sorted(n for (n,) in latest) == [3] * 60
    logs = "".join(w.output() for w in workers)
    assert "deadlock" not in logs.lower() and "failed; resolving them one by one" not in logs, logs[-3000:]


def test_concurrent_member_updates_to_one_golden_lose_nothing(iso: tuple[Hub, list[WorkerProcess]]) -> None:
    """Twelve copies of one person change at once, resolved by two workers one record per job:
    the golden's last version must reflect every member's latest e-mail (union field)."""
    hub, workers = iso
    settings = replace(hub.settings, resolve_chunk_size=1)
    hub.client.application.config["MDM_SETTINGS"] = settings
    from mdm import runtime

    runtime.configure(settings)
    person = {"kind": "person", "first_name": "Margarethe", "last_name": "Zielinski-Okonkwo", "birth_date": "1971-04-09",
              "phone": "+49 30 1234567"}
    first = [{"source_id": f"Z{i}", "updated_at": "2026-01-01T00:00:00Z", "fields": {**person, "email": f"old{i}@example.org"}} for i in range(12)]
    post_batch(hub, first)
    workers.append(WorkerProcess(settings, sweep=False))
    workers.append(WorkerProcess(settings, sweep=False))
    wait_until(lambda: pending(settings) == 0, 60, "the first copies resolved")
    assert sql(settings, "SELECT count(DISTINCT golden_id) FROM source_record")[0][0] == 1
    second = [{"source_id": f"Z{i}", "updated_at": "2026-02-01T00:00:00Z", "fields": {**person, "email": f"new{i}@example.org"}} for i in range(12)]
    post_batch(hub, second)
    wait_until(lambda: pending(settings) == 0, 60, "the updates resolved")
    golden_id = sql(settings, "SELECT golden_id FROM source_record LIMIT 1")[0][0]
    golden = hub.get(f"/golden/customer/{golden_id}").get_json()
    assert sorted(golden["fields"]["email_all"]) == sorted(f"new{i}@example.org" for i in range(12))
    versions = sql(settings, "SELECT version FROM golden_version WHERE golden_id = :g ORDER BY version", g=golden_id)
    assert [v for (v,) in versions] == list(range(1, golden["version"] + 1)), "no version number lost or doubled"


def test_a_long_job_in_a_non_forking_worker_keeps_its_records(iso: tuple[Hub, list[WorkerProcess]]) -> None:
    """``mdm worker`` runs jobs in its own process (no work-horse whose parent refreshes the
    heartbeat): the job refreshes it itself, so the sweep does not mistake a long job for a dead
    worker's and hand its records to a second job."""
    hub, workers = iso
    settings = replace(hub.settings, resolve_chunk_size=20, resolve_group_size=4)
    hub.client.application.config["MDM_SETTINGS"] = settings
    from mdm import runtime

    runtime.configure(settings)
    lost_after = 2 * settings.job_heartbeat_seconds + 10
    # a slow database: every resolution write takes a second, so the one job runs ~20 s
    sql(settings, """CREATE OR REPLACE FUNCTION slow_resolve() RETURNS trigger AS $$
                     BEGIN IF NEW.resolved_hash IS NOT NULL THEN PERFORM pg_sleep(1); END IF; RETURN NEW; END $$ LANGUAGE plpgsql""")
    sql(settings, "CREATE TRIGGER slow_resolve BEFORE UPDATE ON source_record FOR EACH ROW EXECUTE FUNCTION slow_resolve()")
    try:
        workers.append(WorkerProcess(settings, sweep=False))
        post_batch(hub, people(20, prefix="S"))
        started = time.monotonic()
        wait_until(lambda: pending(settings) < 20, 30, "the job to commit its first group")
        time.sleep(max(0.0, lost_after + 2 - (time.monotonic() - started)))
        assert pending(settings) > 0, "the job is still running"
        assert sweep_lost_records(settings, older_than_seconds=0)["requeued"] == 0
        wait_until(lambda: pending(settings) == 0, 60, "the job to finish")
    finally:
        sql(settings, "DROP TRIGGER IF EXISTS slow_resolve ON source_record")
    assert sql(settings, "SELECT count(DISTINCT job_id) FROM source_record")[0][0] == 1, "no second job took records"
