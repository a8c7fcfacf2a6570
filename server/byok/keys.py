"""Key custody: keys live only in the OS keychain (through `keyring`) or in the conventional env vars.

A stored key is bound to the endpoint it was stored for. Every key this process touches is registered
with `redact`, so no log line, result or error can carry it: only its fingerprint (`sk-…a1b2`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Literal

import keyring
import keyring.errors

from byok.errors import ByokError
from byok.protocol import ErrorCode

SERVICE = "byok"
MAX_KEY_LENGTH = 8192
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
# Shapes of well-known keys, redacted from any text even when this process never loaded them.
_KEY_SHAPES = re.compile(
    r"sk-(?:ant-|or-|proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,}|(?:AKIA|ASIA)[0-9A-Z]{16}"
)


def fingerprint(secret: str) -> str:
    """A recognisable, non-secret label: the key's family prefix and its last four characters."""
    secret = secret.strip()
    if secret.startswith("{"):
        try:
            access_key = str(json.loads(secret).get("accessKeyId", ""))
        except (ValueError, AttributeError):
            access_key = ""
        if access_key:
            return fingerprint(access_key)
    prefix = next((p for p, _ in _KEY_FAMILIES if secret.startswith(p) and len(secret) > len(p) + 8), "")
    if len(secret) < 12:
        return f"{prefix}…"
    return f"{prefix}…{secret[-4:]}"


class _Redactor:
    """Every secret this process has seen, and the means to scrub them from text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def register(self, secret: str) -> None:
        parts = [secret]
        if secret.strip().startswith("{"):
            with contextlib.suppress(ValueError, AttributeError):
                parts += [str(v) for v in json.loads(secret).values() if isinstance(v, str)]
        with self._lock:
            for part in parts:
                part = part.strip()
                if len(part) >= 8 and part not in self._secrets:
                    label = fingerprint(part)
                    self._secrets[part] = label
                    self._secrets[base64.b64encode(part.encode()).decode()] = label
                    self._pattern = None

    def redact(self, text: str) -> str:
        with self._lock:
            if self._secrets and self._pattern is None:
                alternatives = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))
            pattern, secrets = self._pattern, self._secrets
        if pattern is not None:
            text = pattern.sub(lambda m: secrets[m.group(0)], text)
        return _KEY_SHAPES.sub(lambda m: fingerprint(m.group(0)), text)


REDACTOR = _Redactor()
redact = REDACTOR.redact


class RedactingFormatter(logging.Formatter):
    """Formats a record (traceback included), then scrubs every known key from the result."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


@dataclass(frozen=True, slots=True)
class StoredKey:
    provider: str
    secret: str
    source: KeySource
    endpoint: str | None
    """The origin the key was stored for (None: not bound, e.g. from an env var)."""

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


class KeyStore:
    """Keys in the OS keychain (service `byok`, user = provider id), env vars as a read-only fallback.

    Blocking (the keychain may be a D-Bus call): the server calls it from a worker thread.
    """

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._environ = environ

    @property
    def environ(self) -> dict[str, str]:
        return self._environ if self._environ is not None else dict(os.environ)

    def store(self, provider: str, secret: str, endpoint: str | None) -> StoredKey:
        REDACTOR.register(secret)
        record = json.dumps({"v": 1, "key": secret, "endpoint": endpoint})
        try:
            keyring.set_password(SERVICE, provider, record)
        except (keyring.errors.KeyringError, RuntimeError) as exc:
            raise _keyring_error(exc, provider) from None
        return StoredKey(provider, secret, "keyring", endpoint)

    def load(self, provider: str, env_vars: tuple[str, ...]) -> StoredKey | None:
        """The keychain's key for a provider, else the first set env var, else None."""
        try:
            record = keyring.get_password(SERVICE, provider)
        except (keyring.errors.KeyringError, RuntimeError):
            record = None
        if record:
            key, endpoint = _decode_record(record)
            REDACTOR.register(key)
            return StoredKey(provider, key, "keyring", endpoint)
        environ = self.environ
        for name in env_vars:
            if value := environ.get(name, "").strip():
                REDACTOR.register(value)
                return StoredKey(provider, value, "env", None)
        return None

    def delete(self, provider: str) -> bool:
        try:
            if keyring.get_password(SERVICE, provider) is None:
                return False
            keyring.delete_password(SERVICE, provider)
        except keyring.errors.PasswordDeleteError:
            return False
        except (keyring.errors.KeyringError, RuntimeError) as exc:
            raise _keyring_error(exc, provider) from None
        return True


def _decode_record(record: str) -> tuple[str, str | None]:
    """Stored records are `{"v":1,"key":…,"endpoint":…}`; a bare string (set by another tool) is unbound."""
    try:
        data = json.loads(record)
    except ValueError:
        return record, None
    if isinstance(data, dict) and data.get("v") == 1 and isinstance(data.get("key"), str):
        endpoint = data.get("endpoint")
        return data["key"], endpoint if isinstance(endpoint, str) else None
    return record, None
