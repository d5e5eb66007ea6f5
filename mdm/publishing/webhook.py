"""Send one event to one webhook endpoint, signed per Standard Webhooks.

Headers: ``webhook-id`` (the event id: the consumer's idempotency key), ``webhook-timestamp``
(this attempt, seconds since the epoch) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>``
per signing secret, space separated, so a consumer verifying with either the old or the new
secret accepts the message during a rotation). Signing uses the ``standardwebhooks`` library.

Any 2xx acknowledges. 410 disables the subscription. Everything else — other statuses,
timeouts, refused connections, TLS errors, a peer that answers garbage — is a retry; this
function never raises for a receiver's misbehaviour, so a bad subscriber cannot crash a worker.
Redirects are not followed (a redirect could point into the hub's network).
"""

from __future__ import annotations

import email.utils
import json
import threading
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

from mdm.publishing.config import PublishSettings
from mdm.publishing.deliveries import Claimed, Outcome
from mdm.publishing.messages import event_message
from mdm.publishing.urls import check_url

USER_AGENT = "mdm-hub-webhooks/1"
_local = threading.local()


def http_session() -> requests.Session:
    """One keep-alive session per thread (requests sessions are not shared across threads)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
    return session


def sign_headers(secrets: list[str], msg_id: str, body: str, moment: datetime | None = None) -> dict[str, str]:
    moment = moment or datetime.now(UTC)
    signatures = " ".join(Webhook(secret).sign(msg_id, moment, body) for secret in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date; garbage is ignored."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


#: read at most this much of an answer; a fully read body lets the keep-alive connection be
#: reused (a half-read one must be closed), a huge one is cut off instead of filling memory
MAX_BODY = 64 * 1024


def _read_body(response: requests.Response) -> bytes:
    body = b""
    try:
        for chunk in response.iter_content(8192):
            body += chunk
            if len(body) > MAX_BODY:
                break
    except Exception:  # noqa: BLE001 - a broken body is only a detail of the error message
        pass
    return body


def send(claimed: Claimed, url: str, secrets: list[str], psettings: PublishSettings) -> Outcome:
    """POST one event. Returns an :class:`Outcome`; never raises for receiver errors."""
    base: dict[str, Any] = {"delivery_id": claimed.delivery_id, "token": claimed.token}
    try:
        check_url(url, psettings.allowed_hosts)
    except Exception as exc:  # noqa: BLE001 - an unsafe or unresolvable URL is a failed attempt
        return Outcome(**base, kind="retry", error=f"url refused before sending: {exc}")
    if not secrets:
        return Outcome(**base, kind="retry", error="the subscription has no active signing secret")
    body = json.dumps(event_message(claimed.event), separators=(",", ":"), ensure_ascii=False, default=str)
    headers = sign_headers(secrets, claimed.event.event_id, body)
    try:
        response = http_session().post(
            url,
            data=body.encode(),
            headers=headers,
            timeout=(psettings.connect_timeout_seconds, psettings.timeout_seconds),
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as exc:
        return Outcome(**base, kind="retry", error=f"{exc.__class__.__name__}: {exc}"[:1000])
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed response line: the receiver's fault
        return Outcome(**base, kind="retry", error=f"unexpected {exc.__class__.__name__}: {exc}"[:1000])
    try:
        code = response.status_code
        detail = _read_body(response)[:512].decode("utf-8", errors="replace")
        if 200 <= code < 300:
            return Outcome(**base, kind="delivered", status_code=code)
        if code == 410:
            return Outcome(**base, kind="gone", status_code=code, error="410 Gone: subscription disabled")
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if code in (429, 503) else None
        return Outcome(**base, kind="retry", status_code=code, error=f"HTTP {code}: {detail}", retry_after=retry_after)
    finally:
        response.close()
