"""Endpoint checks that need no HTTP library: loopback detection, origins, the HTTPS-only rule for keys."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from byok.errors import ByokError
from byok.protocol import ErrorCode

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: what a stored key is bound to."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


def require_secure(url: str, provider: str) -> None:
    """Keys go only over HTTPS, except to loopback hosts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ByokError(
            ErrorCode.INSECURE_ENDPOINT,
            f"{url!r} is not an http(s) URL",
            provider=provider,
            cause="The configured endpoint is not a valid URL",
            fix="Set baseUrl to a full https:// URL",
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ByokError(
            ErrorCode.INSECURE_ENDPOINT,
            f"Refusing to send a key over plain HTTP to {parts.hostname}",
            provider=provider,
        )
