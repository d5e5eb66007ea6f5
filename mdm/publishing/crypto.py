"""Secrets at rest: webhook signing secrets and Salesforce credentials are Fernet-encrypted.

They must be reversible (HMAC signing needs the clear secret), so hashing is not an option.
The key is derived from ``MDM_SECRET_KEY``; changing that key makes stored secrets
unreadable, which is reported as a delivery error, never as garbage signatures.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class SecretsUnreadable(RuntimeError):
    """Stored secrets cannot be decrypted (``MDM_SECRET_KEY`` changed)."""


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"mdm-publishing-secrets\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secret_key: str, value: Any) -> str:
    return _fernet(secret_key).encrypt(json.dumps(value).encode()).decode()


def unseal(secret_key: str, token: str | None, default: Any = None) -> Any:
    if not token:
        return default
    try:
        return json.loads(_fernet(secret_key).decrypt(token.encode()))
    except InvalidToken as exc:
        raise SecretsUnreadable("stored publishing secrets cannot be decrypted: was MDM_SECRET_KEY changed?") from exc
