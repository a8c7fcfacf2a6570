"""Endpoint checks that need no HTTP library: loopback detection, origins, the HTTPS-only rule for keys,
and the parts of a key's route that come from settings (the proxy's origin, the CA bundle read once with its
fingerprint).
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from byok.base.display import visible
from byok.base.errors import ByokError
from byok.base.names import ErrorCode

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """The one loopback definition: plain HTTP is allowed to these hosts, and they never go via a proxy."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: str) -> str:
    """`scheme://host[:port]` of a URL: what a stored key is bound to. A URL that does not parse (brackets that
    do not close) is `insecure_endpoint`."""
    parts = _split(url)
    return f"{parts.scheme.lower()}://{(parts.netloc or '').lower()}"


def _split(url: str, provider: str | None = None) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise ByokError(
            ErrorCode.INSECURE_ENDPOINT,
            f"{visible(url.rpartition('@')[2])!r} is not a valid URL: {exc}",
            provider=provider,
            cause="The endpoint is not a valid URL",
            fix="Set it to the full https:// URL of the API",
        ) from None


def require_secure(url: str, provider: str) -> None:
    """Keys go only over HTTPS, except to loopback hosts."""
    parts = _split(url, provider)
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


def proxy_origin(proxy: str) -> str:
    """`scheme://host[:port]` of a proxy URL, without its credentials; a malformed URL is `proxy_invalid`."""
    try:
        parts = urlsplit(proxy.strip())
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise proxy_error(proxy, str(exc)) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise proxy_error(proxy, "a proxy URL starts with http:// or https://")
    if not host:
        raise proxy_error(proxy, "the URL names no host")
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{shown}" + (f":{port}" if port is not None else "")


def proxy_error(proxy: str, reason: str) -> ByokError:
    without_credentials = proxy.rpartition("@")[2]
    return ByokError(
        ErrorCode.PROXY_INVALID,
        f"byok.proxy {without_credentials!r} is not a usable proxy URL",
        cause=reason,
    )


@dataclass(frozen=True, slots=True)
class CaBundle:
    """A CA bundle read once: the certificates a client trusts and the fingerprint a key's route binds."""

    path: str
    pem: bytes
    """The file's bytes (a directory: its files' bytes in name order, concatenated)."""
    fingerprint: str
    """`sha256:<hex>` of the file (a directory: of each file's name and bytes in name order)."""


def read_ca_bundle(ca_bundle: str) -> CaBundle:
    """Read a CA bundle file or directory once (blocking); unreadable is `ca_bundle_unreadable`."""
    path = Path(ca_bundle).expanduser()
    digest = hashlib.sha256()
    pem: list[bytes] = []
    try:
        if path.is_dir():
            for file in sorted(p for p in path.iterdir() if p.is_file()):
                data = file.read_bytes()
                digest.update(file.name.encode() + b"\0" + data)
                pem += [data, b"\n"]
        else:
            pem.append(path.read_bytes())
            digest.update(pem[0])
    except OSError as exc:
        raise ca_bundle_error(ca_bundle, exc.strerror or type(exc).__name__) from None
    return CaBundle(ca_bundle, b"".join(pem), f"sha256:{digest.hexdigest()}")


def ca_bundle_error(ca_bundle: str, reason: str) -> ByokError:
    return ByokError(
        ErrorCode.CA_BUNDLE_UNREADABLE, f"byok.caBundle {ca_bundle!r} cannot be used: {reason}", cause=reason
    )
