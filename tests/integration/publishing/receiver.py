"""A real webhook receiver for the tests: an HTTP server on 127.0.0.1 in a thread.

It verifies every request with the ``standardwebhooks`` library, records what it got, and
behaves as scripted (fail with a status for a while, be slow, answer garbage). It applies
each event id once, like a careful consumer, and notes the order in which versions of each
golden record were first applied.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    secrets: list[str]
    received: list[Received] = field(default_factory=list)
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: dict[str, list[int]] = field(default_factory=dict)
    bad_signatures: int = 0
    #: decides the answer: (request number, body) -> (status, headers, body bytes) or "garbage" / "hang"
    behaviour: Callable[[int, dict[str, Any]], Any] | None = None
    requests: int = 0
    request_times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests += 1
                    receiver.request_times.append(time.monotonic())
                    number = receiver.requests
                body = json.loads(raw)
                answer = receiver.behaviour(number, body) if receiver.behaviour else 200
                if answer == "hang":
                    time.sleep(30)
                    return
                if answer == "garbage":
                    self.wfile.write(b"\x00\x01 this is not HTTP\r\n\r\n")
                    self.close_connection = True
                    return
                status, extra = (answer, {}) if isinstance(answer, int) else answer
                if 200 <= status < 300:
                    receiver._accept(raw, headers, body)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        ThreadingHTTPServer.request_queue_size = 128  # the default backlog of 5 drops bursts of connects
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def _accept(self, raw: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        verified = False
        for secret in self.secrets:
            try:
                Webhook(secret).verify(raw, headers)
                verified = True
                break
            except WebhookVerificationError:
                continue
        with self.lock:
            if not verified:
                self.bad_signatures += 1
                return
            msg_id = headers["webhook-id"]
            self.received.append(Received(msg_id, body, headers, time.time()))
            if msg_id in self.applied:
                return  # at-least-once in, exactly-once applied
            self.applied[msg_id] = body
            data = body["data"]
            self.order.setdefault(data["golden_id"], []).append(data["version"])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def wait_for(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.applied) >= count:
                return
            time.sleep(0.05)
        raise AssertionError(f"receiver applied {len(self.applied)} of {count} events in {timeout}s ({self.requests} requests)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
