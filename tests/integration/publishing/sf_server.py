"""A local Salesforce for the tests: HTTPS (simple-salesforce only speaks https), answering the
REST calls the publisher makes — OAuth2 token, single upsert by external id, sObject
Collections upsert and update — and recording every request.

Scriptable: expire the session (401 INVALID_SESSION_ID), queue whole-call failures (5xx,
403 REQUEST_LIMIT_EXCEEDED), make an external id match several Accounts (300), or reject a
record with a per-record error.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "sf.crt", directory / "sf.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class FakeSalesforce:
    directory: Path
    requests: list[dict[str, Any]] = field(default_factory=list)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # sf id -> fields
    token_number: int = 0
    valid_token: str | None = None
    failures: list[tuple[int, Any]] = field(default_factory=list)  # whole-call failures, consumed in order
    multiple_match: set[str] = field(default_factory=set)  # external ids matching 2 Accounts
    record_errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # golden id -> errors
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    cert: Path | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def calls(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["kind"] == kind]

    def expire_session(self) -> None:
        self.valid_token = "expired-elsewhere"

    def _new_id(self) -> str:
        return f"001{len(self.accounts) + 1:012d}AAA"[:18]

    def _upsert(self, ext_field: str, ext_value: str, fields: dict[str, Any]) -> tuple[int, Any]:
        if ext_value in self.multiple_match:
            return 300, [f"/services/data/v60.0/sobjects/Account/001{i:012d}AAA" for i in (1, 2)]
        if ext_value in self.record_errors:
            return 400, self.record_errors[ext_value]
        for sf_id, account in self.accounts.items():
            if account.get(ext_field) == ext_value:
                account.update(fields)
                return 200, {"id": sf_id, "success": True, "created": False, "errors": []}
        sf_id = self._new_id()
        self.accounts[sf_id] = {ext_field: ext_value, **fields}
        return 201, {"id": sf_id, "success": True, "created": True, "errors": []}

    def start(self) -> FakeSalesforce:
        self.cert, key = make_certificate(self.directory)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:  # noqa: N802
                raw = self._body()
                if self.path == "/services/oauth2/token":
                    form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                    with fake.lock:
                        fake.requests.append({"kind": "token", "form": form})
                        if form.get("refresh_token") != "good-refresh-token":
                            self._answer(400, {"error": "invalid_grant"})
                            return
                        fake.token_number += 1
                        fake.valid_token = f"token-{fake.token_number}"
                    self._answer(200, {"access_token": fake.valid_token, "instance_url": fake.url, "token_type": "Bearer"})
                    return
                self._answer(404, [{"errorCode": "NOT_FOUND", "message": self.path}])

            def do_PATCH(self) -> None:  # noqa: N802
                raw = self._body()
                body = json.loads(raw) if raw else {}
                token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                parts = self.path.split("/services/data/")[-1].split("/")[1:]  # after vNN.N
                kind = "collection_upsert" if parts[:2] == ["composite", "sobjects"] and len(parts) == 4 else (
                    "collection_update" if parts[:2] == ["composite", "sobjects"] else "single_upsert")
                with fake.lock:
                    fake.requests.append({"kind": kind, "path": self.path, "body": body, "token": token,
                                          "call_options": self.headers.get("Sforce-Call-Options")})
                    if token != fake.valid_token:
                        self._answer(401, [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}])
                        return
                    if fake.failures:
                        status, payload = fake.failures.pop(0)
                        self._answer(status, payload)
                        return
                    if kind == "single_upsert":  # sobjects/Account/<ext field>/<value>
                        ext_field, ext_value = parts[2], parts[3]
                        status, result = fake._upsert(ext_field, ext_value, body)
                        if status == 300:
                            self._answer(300, result)
                        elif status == 400:
                            self._answer(400, result)
                        else:
                            self._answer(201 if result["created"] else 204, {"id": result["id"], "success": True, "errors": []} if result["created"] else None)
                        return
                    results = []
                    for record in body["records"]:
                        record = {k: v for k, v in record.items() if k != "attributes"}
                        if kind == "collection_upsert":
                            ext_field = parts[3]
                            status, result = fake._upsert(ext_field, record[ext_field], record)
                            if status == 300:
                                result = {"success": False, "errors": [{"statusCode": "DUPLICATE_EXTERNAL_ID", "message": "more than one record found"}]}
                            elif status == 400:
                                result = {"success": False, "errors": fake.record_errors[record[ext_field]]}
                            results.append(result)
                        else:
                            sf_id = record.pop("id")
                            if sf_id not in fake.accounts:
                                results.append({"id": sf_id, "success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}]})
                                continue
                            fake.accounts[sf_id].update(record)
                            results.append({"id": sf_id, "success": True, "errors": []})
                    self._answer(200, results)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
