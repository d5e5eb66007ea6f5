"""Websites to their registrable domain ("https://www.shop.acme.co.uk/x" → "acme.co.uk")."""

from __future__ import annotations

import re
from typing import Any

import tldextract

from .text import Cleaned, to_text

# The bundled public-suffix snapshot only: matching must never touch the network.
_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
_HOSTLIKE = re.compile(r"^[a-z0-9.-]+$")

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "aol.com", "icloud.com",
        "me.com", "msn.com", "protonmail.com", "proton.me", "gmx.de", "gmx.net", "web.de", "yahoo.co.uk",
        "mail.com", "zoho.com", "yandex.ru", "mail.ru", "qq.com", "163.com", "comcast.net", "verizon.net",
        "att.net", "sbcglobal.net", "bigpond.com", "orange.fr", "free.fr", "t-online.de", "btinternet.com",
    }
)


def normalize_website(value: Any) -> Cleaned:
    """Registrable domain of a URL or host name; flagged when there is none."""
    raw = to_text(value, max_chars=500)
    if raw.text is None:
        return raw
    text = raw.text.strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    host = re.split(r"[/?#:@\s]", text, maxsplit=1)[0].strip(".")
    if not host or not _HOSTLIKE.match(host):
        return Cleaned(None, "not a web address")
    parts = _EXTRACT(host)
    if not parts.domain or not parts.suffix:
        return Cleaned(None, "no registrable domain in web address")
    return Cleaned(f"{parts.domain}.{parts.suffix}", raw.flag)
