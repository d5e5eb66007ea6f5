"""The ``mdm`` command as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text


def mdm(args: list[str], env: dict[str, str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "mdm.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"mdm {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def laptop(tmp_path: Path) -> dict[str, str]:
    """The laptop default: no MDM_* settings at all, run from an empty directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    mdm(["db", "upgrade"], env, tmp_path)
    assert (tmp_path / "mdm.sqlite3").exists(), "the default database is a SQLite file in the working directory"
    return env


def test_apikey_is_printed_once_and_stored_hashed(laptop: dict[str, str], tmp_path: Path) -> None:
    key = mdm(["apikey", "create", "--name", "crm", "--role", "source", "--source", "salesforce"], laptop, tmp_path).stdout.strip()
    assert key.startswith("mdm_") and len(key) > 40
    engine = create_engine(f"sqlite:///{tmp_path / 'mdm.sqlite3'}")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT key_hash, role, source FROM api_key")).one()
    engine.dispose()
    assert key not in stored[0] and stored[1:] == ("source", "salesforce")
    bad = mdm(["apikey", "create", "--name", "x", "--role", "source"], laptop, tmp_path, check=False)
    assert bad.returncode != 0 and "--source" in bad.stderr


def test_load_csv_and_jsonl_with_rejects(laptop: dict[str, str], tmp_path: Path) -> None:
    csv_file = tmp_path / "accounts.csv"
    csv_file.write_text(
        "Id,Name,BillingStreet,BillingCity,BillingPostalCode,updated_at\n"
        "001A00000000001,Acme Corp.,1 Main St,Springfield,62701,2026-01-01T00:00:00Z\n"
        ",No Id Inc,2 Main St,Springfield,62701,\n"
        "001A00000000002,Globex Inc,9 Elm Ave,Shelbyville,62565,\n"
    )
    out = mdm(["load", str(csv_file), "--source", "salesforce", "--domain", "customer"], laptop, tmp_path)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert (report["total"], report["stored"], report["rejected"]) == (3, 2, 1)
    rejects = [json.loads(line) for line in Path(report["reject_file"]).read_text().splitlines()]
    assert rejects[0]["line"] == 3 and "source_id" in rejects[0]["error"]

    jsonl = tmp_path / "erp.jsonl"
    jsonl.write_text(
        json.dumps({"source_id": "C-1", "fields": {"kind": "organization", "name": "ACME Corporation", "address": {"line1": "1 Main Street", "city": "Springfield", "postal_code": "62701"}}}) + "\n"
        + "{not json\n"
        + json.dumps({"source_id": "C-2", "fields": {"name": "Bad", "address": "a string"}}) + "\n"
    )
    strict = mdm(["load", str(jsonl), "--source", "erp", "--domain", "customer", "--strict"], laptop, tmp_path, check=False)
    assert strict.returncode == 1
    report = json.loads(strict.stdout.strip().splitlines()[-1])
    assert (report["stored"], report["rejected"]) == (1, 2)
    lines = sorted(json.loads(x)["line"] for x in Path(report["reject_file"]).read_text().splitlines())
    assert lines == [2, 3]

    engine = create_engine(f"sqlite:///{tmp_path / 'mdm.sqlite3'}")
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT source_id, golden_id FROM source_record")).all())
        statuses = {s for (s,) in conn.execute(text("SELECT match_status FROM source_record")).all()}
    engine.dispose()
    assert statuses <= {"new", "linked"}, "inline jobs resolved everything during the load"
    assert rows["001A00000000001IAA"] == rows["C-1"] != rows["001A00000000002IAA"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_runs_gunicorn_on_the_given_port(laptop: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mdm.cli", "serve", "--port", str(port)], env=laptop, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        assert body["status"] == "ready" and body["checks"]["redis"].startswith("not configured")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/sources", timeout=2)
            raise AssertionError("expected 401")
        except urllib.error.HTTPError as exc:
            assert exc.code == 401 and json.loads(exc.read())["error"]["code"] == "unauthorized"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


def test_a_file_load_through_gunicorn_with_and_without_content_length(laptop: dict[str, str], tmp_path: Path) -> None:
    """``POST …/loads`` through the real server: a body larger than the JSON calls' limit, sent with a
    Content-Length and then chunked (no length), is streamed into the hub and loaded (inline job)."""
    import http.client

    env = {**laptop, "MDM_MAX_CONTENT_LENGTH": "2048"}
    key = mdm(["apikey", "create", "--name", "erp", "--role", "source", "--source", "erp"], env, tmp_path).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mdm.cli", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def lines(prefix: str) -> bytes:
        return "".join(json.dumps({"source_id": f"{prefix}{i}", "fields": {"kind": "organization", "name": f"Firm {prefix}{i} Pty Ltd"}}) + "\n"
                       for i in range(80)).encode()

    def send(body: Any) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
        if isinstance(body, bytes):
            conn.request("POST", "/api/v1/sources/erp/customer/loads", body=body, headers=headers)
        else:
            conn.request("POST", "/api/v1/sources/erp/customer/loads", body=body, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        payload = json.loads(response.read())
        assert response.status == 202, payload
        conn.request("GET", payload["status_url"], headers=headers)
        status = json.loads(conn.getresponse().read())
        conn.close()
        return status

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        first = lines("A")
        assert len(first) > 2048
        status = send(first)
        assert (status["status"], status["path"], status["stored"]) == ("done", "bulk", 80), status
        second = lines("B")
        status = send(iter([second[:1000], second[1000:]]))  # chunked transfer encoding
        assert (status["status"], status["path"], status["stored"]) == ("done", "stream", 80), status
        # a client that goes away half-way through its file stores nothing
        cut = lines("C")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall((f"POST /api/v1/sources/erp/customer/loads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                          f"Content-Type: application/x-ndjson\r\nContent-Length: {len(cut)}\r\n\r\n").encode() + cut[:len(cut) // 2])
        time.sleep(1.0)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
    engine = create_engine(f"sqlite:///{tmp_path / 'mdm.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM source_record WHERE match_status != 'pending'")).scalar_one() == 160
        assert conn.execute(text("SELECT count(*) FROM data_load")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM data_load_chunk WHERE kind = 'input'")).scalar_one() == 0
    engine.dispose()


def test_worker_refuses_to_start_without_redis(laptop: dict[str, str], tmp_path: Path) -> None:
    result = mdm(["worker"], laptop, tmp_path, check=False)
    assert result.returncode != 0 and "MDM_REDIS_URL" in result.stderr
