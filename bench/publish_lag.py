"""End-to-end publish lag: a burst of golden changes → every webhook subscriber has all of them.

Real PostgreSQL, real Redis, real ``mdm worker --queue publish`` processes, real HTTP
receivers (in this process, verifying every Standard Webhooks signature). Each change is
written to the outbox in its own transaction through the same after-commit hook the golden
service uses. Lag = first receipt at a subscriber − the event's ``created_at``.

    python bench/publish_lag.py                 # 10,000 changes, 2 subscribers, 2 workers
    python bench/publish_lag.py --smoke         # 300 changes, 1 worker (CI)

Needs MDM_TEST_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test) and
MDM_TEST_REDIS_URL (default redis://127.0.0.1:6379/15); creates and drops its own database.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402
from standardwebhooks.webhooks import Webhook  # noqa: E402

PG = os.environ.get("MDM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("MDM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


class Sink:
    """A webhook receiver that records when each event id first arrived."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.first: dict[str, float] = {}
        self.created: dict[str, float] = {}
        self.requests = self.bad = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                now = time.time()
                try:
                    body = Webhook(sink.secret).verify(raw, {k.lower(): v for k, v in self.headers.items()})
                    ok = True
                except Exception:  # noqa: BLE001
                    ok = False
                with sink.lock:
                    sink.requests += 1
                    if not ok:
                        sink.bad += 1
                    elif self.headers["webhook-id"] not in sink.first:
                        sink.first[self.headers["webhook-id"]] = now
                        sink.created[self.headers["webhook-id"]] = datetime.fromisoformat(body["timestamp"]).timestamp()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        ThreadingHTTPServer.request_queue_size = 128  # the default backlog of 5 drops bursts of connects
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    # a SIGTERM (e.g. from `timeout`) must still run the cleanup below: workers, database
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small run for CI (300 changes, 1 worker)")
    parser.add_argument("--changes", type=int, default=None)
    parser.add_argument("--subscribers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--writers", type=int, default=8, help="concurrent writing transactions")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    changes = args.changes or (300 if args.smoke else 10_000)
    workers = args.workers or (1 if args.smoke else 2)

    name = f"mdm_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG.rsplit("/", 1)[0] + f"/{name}"
    env = {
        **os.environ, "MDM_DATABASE_URL": url, "MDM_REDIS_URL": REDIS, "MDM_QUEUE_PREFIX": f"bench{uuid.uuid4().hex[:6]}",
        "MDM_PUBLISH_ALLOWED_HOSTS": "127.0.0.1", "MDM_PUBLISH_SWEEP_INTERVAL_SECONDS": "1",
    }
    os.environ.update(env)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from mdm import runtime
        from mdm.db import UnitOfWork
        from mdm.migrate import upgrade
        from mdm.models import OutboxEvent
        from mdm.publishing.config import PublishSettings
        from mdm.publishing.subscriptions import create_subscription, generate_secret
        from mdm.publishing.trigger import after_outbox_write
        from mdm.services.apikeys import Principal
        from mdm.settings import Settings

        upgrade(url)
        settings = Settings.from_env()
        runtime.configure(settings)
        sinks = [Sink(generate_secret()) for _ in range(args.subscribers)]
        with UnitOfWork(settings) as uow:
            for sink in sinks:
                create_subscription(uow, {"url": sink.url, "secret": sink.secret}, Principal(0, "bench", "admin", None), PublishSettings.from_env())
            uow.commit()
        log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}-workers.log", "wb")  # noqa: SIM115
        procs = [
            subprocess.Popen([sys.executable, "-m", "mdm.cli", "worker", "--queue", "publish", *(["--no-sweep"] if i else [])],
                             env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            for i in range(workers)
        ]
        time.sleep(3)  # workers import and warm up

        goldens = [str(uuid.uuid4()) for _ in range(max(1, changes // 2))]

        def write(i: int) -> None:
            golden = goldens[i % len(goldens)]
            with UnitOfWork(settings) as uow:
                uow.session.add(OutboxEvent(golden_id=golden, domain="customer", golden_version=i // len(goldens) + 1, type="updated",
                                            payload={"id": golden, "approval": "approved", "fields": {"name": f"Company {i}"}, "crossref": []}))
                after_outbox_write(uow)
                uow.commit()

        started = time.time()
        with ThreadPoolExecutor(args.writers) as pool:
            list(pool.map(write, range(changes)))
        written = time.time()
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and any(len(s.first) < changes for s in sinks):
            time.sleep(0.2)
        finished = time.time()
        lags = [s.first[e] - s.created[e] for s in sinks for e in s.first]
        result = {
            "changes": changes, "subscribers": len(sinks), "publish_workers": workers,
            "received": [len(s.first) for s in sinks], "requests": [s.requests for s in sinks],
            "bad_signatures": sum(s.bad for s in sinks),
            "write_seconds": round(written - started, 2), "all_delivered_seconds": round(finished - started, 2),
            "lag_p50_seconds": round(percentile(lags, 50), 3) if lags else None,
            "lag_p95_seconds": round(percentile(lags, 95), 3) if lags else None,
            "lag_max_seconds": round(max(lags), 3) if lags else None,
            "lag_mean_seconds": round(statistics.fmean(lags), 3) if lags else None,
        }
        print(json.dumps(result, indent=2))
        if any(len(s.first) < changes for s in sinks):
            sys.exit("not every subscriber received every change")
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=20)
            except Exception:  # noqa: BLE001
                os.killpg(proc.pid, 9)
        from mdm.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))


if __name__ == "__main__":
    main()
