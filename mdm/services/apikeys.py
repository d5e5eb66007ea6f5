"""API keys: created once (the clear key is printed once), stored as a SHA-256 hash.

Keys are 256 random bits, so a plain SHA-256 is enough (no slow KDF needed): there is no
dictionary to attack, and lookups stay one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import select

from mdm.db import UnitOfWork
from mdm.errors import InvalidInput, NotFound, Unauthorized
from mdm.models import ApiKey, SourceSystem, utcnow

ROLES = ("source", "steward", "subscriber", "admin")
KEY_PREFIX = "mdm_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and (for ``source`` keys) its one source."""

    key_id: int
    name: str
    role: str
    source: str | None


def hash_key(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def create_key(uow: UnitOfWork, name: str, role: str, source: str | None = None) -> tuple[ApiKey, str]:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", details={"role": role, "known": list(ROLES)})
    if role == "source" and not source:
        raise InvalidInput("a key with role 'source' must be bound to a source (--source)", details={"source": None})
    if source and uow.session.get(SourceSystem, source) is None:
        raise NotFound(f"unknown source system {source!r}", details={"source": source})
    clear = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, source=source, key_hash=hash_key(clear), prefix=clear[:10])
    uow.session.add(key)
    uow.session.flush()
    return key, clear


def authenticate(uow: UnitOfWork, clear: str | None) -> Principal:
    if not clear:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    key = uow.session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(clear))).first()
    if key is None or key.revoked_at is not None:
        raise Unauthorized("invalid or revoked API key")
    return Principal(key.id or 0, key.name, key.role, key.source)


def revoke_key(uow: UnitOfWork, key_id: int) -> None:
    key = uow.session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    key.revoked_at = utcnow()
    uow.session.add(key)
