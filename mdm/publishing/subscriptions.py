"""Subscriptions: who receives golden changes, where, signed with what, filtered how.

Validation lives here (not in the API) so the CLI and the API reject the same things: a URL
that is not http(s) or points into the hub's own network without an allow-list entry, a
missing or malformed secret, an unknown domain or event type are all ``InvalidInput`` (422).
"""

from __future__ import annotations

import base64
import binascii
import secrets as pysecrets
from datetime import timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import Forbidden, InvalidInput, NotFound
from mdm.models import OutboxEvent, utcnow
from mdm.publishing import crypto
from mdm.publishing.config import PublishSettings
from mdm.publishing.feed import encode_cursor, visibility_bound
from mdm.publishing.models import EVENT_TYPES, KINDS, Delivery, Subscription
from mdm.publishing.urls import check_url
from mdm.services.apikeys import Principal
from mdm.source_mapping import DOMAINS

SECRET_PREFIX = "whsec_"
SALESFORCE_DEFAULTS: dict[str, Any] = {
    "token_url": "https://login.salesforce.com/services/oauth2/token",
    "grant_type": "refresh_token",
    "api_version": "60.0",
    "external_id_field": "MDM_Golden_Id__c",
    "sobject": "Account",
}
SALESFORCE_SECRET_KEYS = ("client_secret", "refresh_token", "password")


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(pysecrets.token_bytes(32)).decode()


def check_secret(secret: object) -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 to 64 random bytes."""
    if not isinstance(secret, str) or not secret:
        raise InvalidInput("secret is required (whsec_ + base64 of 24-64 random bytes)", details={"secret": "missing"})
    body = secret[len(SECRET_PREFIX):] if secret.startswith(SECRET_PREFIX) else secret
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("secret is not valid base64", details={"secret": "invalid"}) from exc
    if not 24 <= len(raw) <= 64:
        raise InvalidInput("secret must decode to 24-64 bytes", details={"secret": f"{len(raw)} bytes"})
    return secret if secret.startswith(SECRET_PREFIX) else SECRET_PREFIX + body


def _subset(name: str, values: object, known: tuple[str, ...], *, allow_empty: bool = False) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"{name} must be a list of strings", details={name: values})
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InvalidInput(f"unknown {name}: {', '.join(unknown)}", details={name: unknown, "known": list(known)})
    if not values and not allow_empty:
        raise InvalidInput(f"{name} must not be empty", details={name: values})
    return sorted(set(values), key=known.index)


def feed_head(uow: UnitOfWork) -> tuple[int, int]:
    """Where a subscription that starts "now" begins reading the feed."""
    bound = visibility_bound(uow)
    if bound is not None:
        return bound, 0
    return 0, int(uow.session.execute(sa_select(func.coalesce(func.max(OutboxEvent.id), 0))).scalar_one())


def _check_salesforce(config: object, psettings: PublishSettings) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise InvalidInput("salesforce settings are required for kind 'salesforce'", details={"salesforce": config})
    merged = {**SALESFORCE_DEFAULTS, **config}
    for key in ("instance_url", "client_id"):
        if not isinstance(merged.get(key), str) or not merged[key]:
            raise InvalidInput(f"salesforce.{key} is required", details={"salesforce": key})
    grant = merged["grant_type"]
    needed = {"refresh_token": ("refresh_token",), "password": ("username", "password"), "client_credentials": ()}
    if grant not in needed:
        raise InvalidInput("salesforce.grant_type must be refresh_token, password or client_credentials", details={"grant_type": grant})
    for key in needed[grant]:
        if not merged.get(key):
            raise InvalidInput(f"salesforce.{key} is required for grant_type {grant}", details={"salesforce": key})
    check_url(merged["instance_url"], psettings.allowed_hosts)
    check_url(merged["token_url"], psettings.allowed_hosts)
    if not isinstance(merged.get("field_map", {}), dict):
        raise InvalidInput("salesforce.field_map must be an object", details={"field_map": merged.get("field_map")})
    return merged


def create_subscription(uow: UnitOfWork, data: dict[str, Any], who: Principal, psettings: PublishSettings) -> tuple[Subscription, str | None]:
    """Create a subscription; returns it and the secret when the hub generated one (shown once)."""
    kind = data.get("kind", "webhook")
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}", details={"kind": kind, "known": list(KINDS)})
    if kind == "salesforce" and who.role != "admin":
        raise Forbidden("only an admin may create a Salesforce subscription", details={"kind": kind})
    sub = Subscription(kind=kind, owner_key_id=who.key_id)
    generated = None
    if kind == "webhook":
        sub.url = check_url(data.get("url"), psettings.allowed_hosts)
        secret = data.get("secret")
        if secret == "generate":
            secret = generated = generate_secret()
        sub.secrets = crypto.seal(uow.settings.secret_key, [{"secret": check_secret(secret), "expires_at": None}])
        default_domains = list(DOMAINS)
    else:
        config = _check_salesforce(data.get("salesforce"), psettings)
        sub.url = config["instance_url"]
        sub.config = crypto.seal(uow.settings.secret_key, config)
        sub.secrets = crypto.seal(uow.settings.secret_key, [])
        default_domains = ["customer"]
    sub.domains = _subset("domains", data.get("domains", default_domains), DOMAINS)
    if kind == "salesforce" and sub.domains != ["customer"]:
        raise InvalidInput("a Salesforce subscription publishes the customer domain only", details={"domains": sub.domains})
    sub.event_types = _subset("event_types", data.get("event_types", list(EVENT_TYPES)), EVENT_TYPES)
    sub.publish_unapproved = _subset("publish_unapproved", data.get("publish_unapproved", []), DOMAINS, allow_empty=True)
    sub.name = str(data.get("name") or sub.url or kind)[:128]
    sub.active = bool(data.get("active", True))
    start = data.get("start", "now")
    if start not in ("now", "beginning"):
        raise InvalidInput("start must be 'now' or 'beginning'", details={"start": start})
    sub.cursor_txid, sub.cursor_id = feed_head(uow) if start == "now" else (0, 0)
    uow.session.add(sub)
    uow.session.flush()
    return sub, generated


def get_subscription(uow: UnitOfWork, subscription_id: str, who: Principal | None = None, *, lock: bool = False) -> Subscription:
    query = select(Subscription).where(Subscription.id == subscription_id, Subscription.deleted_at.is_(None))  # type: ignore[union-attr]
    if lock:
        query = query.with_for_update()
    sub = uow.session.exec(query).first()
    if sub is None or (who is not None and who.role != "admin" and sub.owner_key_id != who.key_id):
        raise NotFound(f"no subscription {subscription_id!r}", details={"subscription_id": subscription_id})
    return sub


def list_subscriptions(uow: UnitOfWork, who: Principal | None = None) -> list[Subscription]:
    query = select(Subscription).where(Subscription.deleted_at.is_(None)).order_by(Subscription.created_at)  # type: ignore[union-attr]
    if who is not None and who.role != "admin":
        query = query.where(Subscription.owner_key_id == who.key_id)
    return list(uow.session.exec(query).all())


def update_subscription(uow: UnitOfWork, sub: Subscription, data: dict[str, Any], psettings: PublishSettings) -> Subscription:
    """Change URL, filters or the active flag. Re-activating clears a 410's ``disabled_reason``;
    the subscription resumes where its cursor stopped, so nothing published meanwhile is lost."""
    if "url" in data:
        if sub.kind != "webhook":
            raise InvalidInput("a Salesforce subscription's URL is its instance_url", details={"url": data["url"]})
        sub.url = check_url(data["url"], psettings.allowed_hosts)
    if "domains" in data:
        sub.domains = _subset("domains", data["domains"], DOMAINS)
    if "event_types" in data:
        sub.event_types = _subset("event_types", data["event_types"], EVENT_TYPES)
    if "publish_unapproved" in data:
        sub.publish_unapproved = _subset("publish_unapproved", data["publish_unapproved"], DOMAINS, allow_empty=True)
    if "name" in data:
        sub.name = str(data["name"])[:128]
    if "active" in data:
        sub.active = bool(data["active"])
        if sub.active:
            sub.disabled_reason = None
    sub.updated_at = utcnow()
    uow.session.add(sub)
    return sub


def rotate_secret(uow: UnitOfWork, sub: Subscription, new_secret: object, grace_seconds: float) -> str | None:
    """Sign with the new secret from now on; keep signing with the old ones until the grace
    period ends, so a consumer can switch over without rejecting a single message."""
    if sub.kind != "webhook":
        raise InvalidInput("only webhook subscriptions have signing secrets", details={"kind": sub.kind})
    generated = None
    if new_secret in (None, "generate"):
        new_secret = generated = generate_secret()
    secret = check_secret(new_secret)
    now = utcnow()
    expires = (now + timedelta(seconds=max(0.0, grace_seconds))).isoformat()
    current = [s for s in signing_secrets(uow.settings.secret_key, sub) if s["secret"] != secret]
    for entry in current:
        entry["expires_at"] = min(entry["expires_at"] or expires, expires)
    sub.secrets = crypto.seal(uow.settings.secret_key, [{"secret": secret, "expires_at": None}, *current])
    sub.updated_at = now
    uow.session.add(sub)
    return generated


def signing_secrets(secret_key: str, sub: Subscription) -> list[dict[str, Any]]:
    """The secrets that still sign, newest first (expired ones are dropped)."""
    now = utcnow().isoformat()
    entries = crypto.unseal(secret_key, sub.secrets, [])
    return [e for e in entries if not e.get("expires_at") or e["expires_at"] > now]


def delete_subscription(uow: UnitOfWork, sub: Subscription) -> None:
    """Soft delete: delivery history stays queryable; nothing more is sent."""
    sub.deleted_at = sub.updated_at = utcnow()
    sub.active = False
    uow.session.add(sub)


def delivery_counts(uow: UnitOfWork, subscription_id: str) -> dict[str, int]:
    rows = uow.session.execute(
        sa_select(Delivery.status, func.count()).where(Delivery.subscription_id == subscription_id).group_by(Delivery.status)
    ).all()
    return {status: int(n) for status, n in rows}


def subscription_json(uow: UnitOfWork, sub: Subscription, *, counts: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": sub.id,
        "name": sub.name,
        "kind": sub.kind,
        "url": sub.url,
        "domains": sub.domains,
        "event_types": sub.event_types,
        "publish_unapproved": sub.publish_unapproved,
        "active": sub.active,
        "disabled_reason": sub.disabled_reason,
        "cursor": encode_cursor(sub.cursor_txid, sub.cursor_id),
        "created_at": sub.created_at.isoformat() if sub.created_at else None,
        "updated_at": sub.updated_at.isoformat() if sub.updated_at else None,
    }
    if sub.kind == "webhook":
        doc["secrets"] = [
            {"hint": e["secret"][:10] + "…", "expires_at": e.get("expires_at")}
            for e in crypto.unseal(uow.settings.secret_key, sub.secrets, [])
        ]
    else:
        config = crypto.unseal(uow.settings.secret_key, sub.config, {})
        doc["salesforce"] = {k: v for k, v in config.items() if k not in SALESFORCE_SECRET_KEYS}
    if counts:
        doc["deliveries"] = delivery_counts(uow, sub.id)
    return doc
