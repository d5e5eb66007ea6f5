"""Subscription URL checks: only http(s), and never the hub's own network unless allowed (SSRF).

A webhook URL is a request the hub makes on a subscriber's behalf; pointed at
``http://127.0.0.1:6379`` or a cloud metadata address it would let a subscriber key probe the
hub's network. Every address a host name resolves to must be public, unless the host (or a
CIDR containing the address) is on the explicit allow-list ``MDM_PUBLISH_ALLOWED_HOSTS``.
The check runs when a subscription is saved and again before every send (DNS can change).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from mdm.errors import InvalidInput

Resolver = Callable[[str], list[str]]


class UnsafeUrl(InvalidInput):
    code = "unsafe_url"


def resolve_host(host: str) -> list[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _allowed(host: str, address: str, allow: Iterable[str]) -> bool:
    ip = ipaddress.ip_address(address)
    for entry in allow:
        if entry == "*" or entry.lower() == host.lower():
            return True
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_url(url: object, allowed_hosts: Iterable[str], resolver: Resolver = resolve_host) -> str:
    """Return the URL if it is an http(s) URL whose every address is public or allow-listed."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("url is required", details={"url": url})
    if len(url) > 2048:
        raise InvalidInput("url is longer than 2048 characters", details={"length": len(url)})
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"url is not a valid URL: {exc}", details={"url": url}) from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("url must use http or https", details={"url": url, "scheme": parts.scheme})
    host = parts.hostname
    if not host:
        raise InvalidInput("url has no host", details={"url": url})
    if parts.username or parts.password:
        raise InvalidInput("url must not carry credentials; use the signing secret", details={"url": url})
    allow = list(allowed_hosts)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolver(host)
        except (OSError, UnicodeError) as exc:
            raise InvalidInput(f"url host {host!r} does not resolve", details={"host": host}) from exc
    if not addresses:
        raise InvalidInput(f"url host {host!r} does not resolve", details={"host": host})
    blocked = [a for a in addresses if _is_private(ipaddress.ip_address(a)) and not _allowed(host, a, allow)]
    if blocked:
        raise UnsafeUrl(
            f"url host {host!r} is on a private, loopback or link-local network; "
            "add it to MDM_PUBLISH_ALLOWED_HOSTS to allow it explicitly",
            details={"host": host, "addresses": blocked, "port": port},
        )
    return url.strip()
