"""E-mail addresses: lower case, plus-tags removed, Gmail dots ignored."""

from __future__ import annotations

import re
from typing import Any

from .text import Cleaned, is_placeholder, to_text

_EMAIL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+$")
_DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
PLACEHOLDER_LOCALS = frozenset({"test", "noreply", "no-reply", "none", "na", "example", "donotreply", "nobody"})
PLACEHOLDER_DOMAINS = frozenset({"example.com", "example.org", "test.com", "none.com", "email.com", "domain.com"})


def normalize_email(value: Any) -> Cleaned:
    """Canonical mailbox for matching ("John.Doe+crm@GMail.com" → "johndoe@gmail.com")."""
    raw = to_text(value, max_chars=254)
    if raw.text is None:
        return raw
    text = raw.text.strip().lower().removeprefix("mailto:").strip("<>\"' ")
    if not _EMAIL.match(text):
        return Cleaned(None, "not an e-mail address")
    local, domain = text.rsplit("@", 1)
    local = local.split("+", 1)[0] or local
    if domain == "googlemail.com":
        domain = "gmail.com"
    if domain in _DOTLESS_DOMAINS:
        local = local.replace(".", "")
    if local in PLACEHOLDER_LOCALS or domain in PLACEHOLDER_DOMAINS or is_placeholder(local):
        return Cleaned(None, "placeholder e-mail address")
    return Cleaned(f"{local}@{domain}", raw.flag)


def email_domain(email: str | None) -> str | None:
    """Domain part of a normalized e-mail."""
    return email.rsplit("@", 1)[1] if email and "@" in email else None
