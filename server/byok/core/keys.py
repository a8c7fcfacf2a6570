"""Key custody: keys live only in the OS keychain (through `keyring`) or in env vars the user names.

A key is bound to a route: the endpoint origin, the settings' proxy and CA bundle it was stored (or bound)
for. A stored key's record carries its route; the binding of a key from the environment is a keychain
record of its own that holds the route and the variable it was made for (never the key). Every key this
process touches is registered with `redact`, so no log line, result or error can carry it: only its
fingerprint (`sk-…a1b2`).

A key read once is kept in memory (never on disk) for the process: every byok process that stores, binds or
deletes a key rewrites a marker file in the data dir, and a remembered key is used only while that marker is
unchanged and for at most `REMEMBER_S` (a keychain edited with another tool is seen by then).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR as REDACTOR
from byok.base.redaction import fingerprint

log = logging.getLogger(__name__)

SERVICE = "byok"
ROUTE_SERVICE = "byok-route"
"""Keychain service of env-key bindings (user = provider id): a route and an env var name, never a key."""
MAX_KEY_LENGTH = 8192
REMEMBER_S = 60.0
"""How long a key read from the keychain (or its absence) is used without reading the keychain again."""
CHANGES_FILE = "keys-changed"
"""The marker in byok's data dir that every change to a key or binding rewrites (it holds no key)."""
KeySource = Literal["keyring", "env"]

# Most specific first: the family a key's shape points to.
_KEY_FAMILIES: tuple[tuple[str, str], ...] = (
    ("sk-ant-", "anthropic"),
    ("sk-or-", "openrouter"),
    ("sk-proj-", "openai"),
    ("sk-svcacct-", "openai"),
    ("sk-admin-", "openai"),
    ("AIza", "google"),
    ("AKIA", "aws"),
    ("ASIA", "aws"),
    ("sk-", "openai"),
)
_FAMILY_LABEL = {
    "anthropic": "an Anthropic",
    "openrouter": "an OpenRouter",
    "openai": "an OpenAI",
    "google": "a Google",
    "aws": "an AWS",
}


@dataclass(frozen=True, slots=True)
class KeyRoute:
    """Where a key may go: an endpoint origin, reached through a proxy (or not), trusting a CA bundle (or not).

    `proxy` is the settings' proxy origin without credentials (None: no proxy from settings; the
    environment's HTTPS_PROXY/NO_PROXY are the user's own and not part of a route). `ca_bundle` is the
    `sha256:` fingerprint of the settings' CA bundle (None: the system trust store).
    """

    endpoint: str
    proxy: str | None = None
    ca_bundle: str | None = None

    def to_data(self) -> dict[str, str | None]:
        return {"endpoint": self.endpoint, "proxy": self.proxy, "caBundle": self.ca_bundle}

    @classmethod
    def from_data(cls, data: object) -> KeyRoute | None:
        if not isinstance(data, dict) or not isinstance(data.get("endpoint"), str):
            return None
        proxy, ca_bundle = data.get("proxy"), data.get("caBundle")
        return cls(
            data["endpoint"],
            proxy if isinstance(proxy, str) else None,
            ca_bundle if isinstance(ca_bundle, str) else None,
        )

    def changes_since(self, bound: KeyRoute) -> list[str]:
        """What differs from the route a key was bound to, in words (empty: the same route)."""
        changes = []
        if self.endpoint != bound.endpoint:
            changes.append(f"the endpoint changed from {bound.endpoint} to {self.endpoint}")
        if self.proxy != bound.proxy:
            changes.append(f"the proxy changed from {bound.proxy or 'none'} to {self.proxy or 'none'}")
        if self.ca_bundle != bound.ca_bundle:
            before = "the system CA store" if bound.ca_bundle is None else "the bound bundle"
            after = "the system CA store" if self.ca_bundle is None else f"{self.ca_bundle[:19]}…"
            changes.append(f"the CA bundle changed from {before} to {after}")
        return changes


@dataclass(frozen=True, slots=True)
class Binding:
    """The route a credential from outside the keychain may take, and which credential that is."""

    route: KeyRoute
    env_var: str | None
    """The env var whose key is bound (None: the AWS credential chain). Another variable is not bound."""


@dataclass(frozen=True, slots=True)
class StoredKey:
    provider: str
    secret: str
    source: KeySource
    route: KeyRoute | None
    """The route the key is bound to (None: not bound; only the preset's default route is allowed).

    A key from an env var has the provider's binding only if it was made for that variable."""
    env_var: str | None = None
    """The env var a key came from (source `env`)."""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.secret)

    def describe(self) -> dict[str, str | None]:
        return {"provider": self.provider, "fingerprint": self.fingerprint, "source": self.source}


def key_family(secret: str) -> str | None:
    return next((family for prefix, family in _KEY_FAMILIES if secret.startswith(prefix)), None)


def check_key_shape(provider: str, secret: str, expected_prefixes: tuple[str, ...]) -> str:
    """Normalise a pasted key and refuse one that is malformed or clearly meant for another provider."""
    secret = secret.strip()
    if not secret:
        raise ByokError(
            ErrorCode.KEY_REJECTED, "The key is empty", provider=provider, fix="Paste the whole key"
        )
    if len(secret) > MAX_KEY_LENGTH:
        raise ByokError(ErrorCode.KEY_REJECTED, "The key is too long to be an API key", provider=provider)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in secret) and not secret.startswith("{"):
        raise ByokError(
            ErrorCode.KEY_REJECTED,
            "The key contains spaces or control characters",
            provider=provider,
            fix="Copy the key again; paste it alone, without quotes or line breaks",
        )
    if not secret.isascii():
        raise ByokError(
            ErrorCode.KEY_REJECTED,
            "The key contains characters API keys never have (letters outside ASCII)",
            provider=provider,
            fix="Copy the key again from the provider's console; a pasted key may have picked up typographic quotes",
        )
    family = key_family(secret)
    expected = key_family(expected_prefixes[0]) if expected_prefixes else None
    if expected and family and family != expected:
        raise ByokError(
            ErrorCode.KEY_REJECTED,
            f"This looks like {_FAMILY_LABEL.get(family, 'another provider')} key, not a key for {provider}",
            provider=provider,
            cause="The key's shape belongs to another provider",
            fix=f"Paste the key meant for {provider}, or set this one for the provider it belongs to",
        )
    return secret


def _keyring_error(exc: Exception, provider: str) -> ByokError:
    return ByokError(
        ErrorCode.KEYRING_UNAVAILABLE,
        f"The OS keychain is not usable: {type(exc).__name__}",
        provider=provider,
    )


_Marker = tuple[int, int, int] | None
"""The changes marker's inode, mtime and size (None: no key was changed since the data dir was made)."""


@dataclass(frozen=True, slots=True)
class Remembered:
    """What `KeyStore.load` found for a provider (a key or None), and the marker and time it was read at."""

    key: StoredKey | None
    marker: _Marker
    read_at: float


class KeyStore:
    """Keys in the OS keychain (service `byok`, user = provider id), env vars as a read-only fallback.

    Blocking (the keychain may be a D-Bus call): the server calls it from a worker thread, except `recall`.
    """

    def __init__(self, environ: dict[str, str] | None = None, changes: Path | None = None) -> None:
        self._environ = environ
        self._changes = changes
        self._remembered: dict[tuple[str, tuple[str, ...]], Remembered] = {}
        self._generation = 0
        """Counts this process' changes: a read that a change overtook is not remembered."""
        self._lock = threading.Lock()

    @property
    def changes(self) -> Path:
        """The marker file every key change rewrites (in byok's data dir unless given)."""
        if self._changes is None:
            import platformdirs

            self._changes = platformdirs.user_data_path("byok") / CHANGES_FILE
        return self._changes

    def recall(self, provider: str, env_vars: tuple[str, ...]) -> Remembered | None:
        """What `load` last found for the provider, if no byok process changed a key since and it is recent
        (None: read the keychain with `load`). One `stat`, no keychain call: cheap enough for the event loop."""
        with self._lock:
            remembered = self._remembered.get((provider, env_vars))
        if remembered is None or time.monotonic() - remembered.read_at > REMEMBER_S:
            return None
        return remembered if remembered.marker == self._marker() else None

    def _marker(self) -> _Marker:
        try:
            stat = os.stat(self.changes)
        except FileNotFoundError:
            return None
        except OSError:  # the data dir is unusable: nothing can be remembered safely
            return (-1, time.monotonic_ns(), -1)
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _changed(self, provider: str) -> None:
        """Forget every remembered key and tell other byok processes (after the keychain was written)."""
        with self._lock:
            self._remembered.clear()
            self._generation += 1
        stamp = time.time_ns()
        try:
            self.changes.parent.mkdir(parents=True, exist_ok=True)
            self.changes.write_text(f"{stamp} {os.getpid()}\n")
            os.utime(self.changes, ns=(stamp, stamp))
        except OSError as exc:
            log.warning(
                "other byok processes may use the previous %s key for up to %g s: %s cannot be written (%s)",
                provider,
                REMEMBER_S,
                self.changes,
                exc.strerror or exc,
            )

    @property
    def environ(self) -> dict[str, str]:
        return self._environ if self._environ is not None else dict(os.environ)

    def store(self, provider: str, secret: str, route: KeyRoute) -> StoredKey:
        import keyring  # loaded on first use: keyring's backend discovery is slow at start-up

        REDACTOR.register(secret)
        record = json.dumps({"v": 2, "key": secret, "route": route.to_data()})
        try:
            keyring.set_password(SERVICE, provider, record)
        except (keyring.errors.KeyringError, RuntimeError) as exc:
            raise _keyring_error(exc, provider) from None
        finally:
            self._changed(provider)
        return StoredKey(provider, secret, "keyring", route)

    def load(self, provider: str, env_vars: tuple[str, ...]) -> StoredKey | None:
        """The keychain's key for a provider, else the first set env var (with its binding), else None.

        Always reads the keychain; what it finds is remembered for `recall`."""
        with self._lock:
            generation = self._generation
        marker, read_at = self._marker(), time.monotonic()  # before the read: a change during it is seen
        key = self._read(provider, env_vars)
        with self._lock:
            if generation == self._generation:
                self._remembered[(provider, env_vars)] = Remembered(key, marker, read_at)
        return key

    def _read(self, provider: str, env_vars: tuple[str, ...]) -> StoredKey | None:
        import keyring

        try:
            record = keyring.get_password(SERVICE, provider)
        except (keyring.errors.KeyringError, RuntimeError):
            record = None
        if record:
            key, route = _decode_record(record)
            REDACTOR.register(key)
            return StoredKey(provider, key, "keyring", route)
        environ = self.environ
        for name in env_vars:
            if value := environ.get(name, "").strip():
                REDACTOR.register(value)
                binding = self.load_binding(provider)
                route = binding.route if binding and binding.env_var == name else None
                return StoredKey(provider, value, "env", route, name)
        return None

    def bind(self, provider: str, route: KeyRoute, env_var: str | None) -> None:
        """Record the route the key in `env_var` (None: the AWS credential chain) may be sent over.

        One binding per provider: binding another variable replaces it.
        """
        import keyring

        record = json.dumps({"v": 3, "route": route.to_data(), "envVar": env_var})
        try:
            keyring.set_password(ROUTE_SERVICE, provider, record)
        except (keyring.errors.KeyringError, RuntimeError) as exc:
            raise _keyring_error(exc, provider) from None
        finally:
            self._changed(provider)

    def load_binding(self, provider: str) -> Binding | None:
        """The provider's env-key binding; an older record, which does not name its variable, binds nothing."""
        import keyring

        try:
            record = keyring.get_password(ROUTE_SERVICE, provider)
        except (keyring.errors.KeyringError, RuntimeError):
            return None
        try:
            data = json.loads(record) if record else None
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("v") != 3:
            return None
        route, env_var = KeyRoute.from_data(data.get("route")), data.get("envVar")
        if route is None or not isinstance(env_var, str | None):
            return None
        return Binding(route, env_var)

    def delete(self, provider: str) -> bool:
        """Delete the stored key and any env-key binding; True if there was a stored key."""
        import keyring

        deleted = False
        try:
            for service in (SERVICE, ROUTE_SERVICE):
                try:
                    if keyring.get_password(service, provider) is None:
                        continue
                    keyring.delete_password(service, provider)
                except keyring.errors.PasswordDeleteError:
                    continue
                except (keyring.errors.KeyringError, RuntimeError) as exc:
                    raise _keyring_error(exc, provider) from None
                deleted = deleted or service == SERVICE
        finally:
            self._changed(provider)
        return deleted


def _decode_record(record: str) -> tuple[str, KeyRoute | None]:
    """`{"v":2,"key","route"}`, or an old `{"v":1,"key","endpoint"}`; a bare string (another tool's) is unbound.

    A v1 record bound the origin only; it is read as that origin with no proxy and no CA bundle from
    settings, so a proxy or CA configured since needs a bind.
    """
    try:
        data = json.loads(record)
    except ValueError:
        return record, None
    if not isinstance(data, dict) or not isinstance(data.get("key"), str):
        return record, None
    if data.get("v") == 2:
        return data["key"], KeyRoute.from_data(data.get("route"))
    if data.get("v") == 1:
        endpoint = data.get("endpoint")
        return data["key"], KeyRoute(endpoint) if isinstance(endpoint, str) else None
    return record, None
