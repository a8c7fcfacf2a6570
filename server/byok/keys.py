"""Key custody: keys live only in the OS keychain (through `keyring`) or in the conventional env vars.

A stored key is bound to the endpoint it was stored for. Every key this process touches is registered
with `redact`, so no log line, result or error can carry it: only its fingerprint (`sk-…a1b2`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Literal

from byok.errors import ByokError
from byok.protocol import ErrorCode
from byok.redaction import REDACTOR as REDACTOR
from byok.redaction import fingerprint

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
        import keyring  # loaded on first use: keyring's backend discovery is slow at start-up

        REDACTOR.register(secret)
        record = json.dumps({"v": 1, "key": secret, "endpoint": endpoint})
        try:
            keyring.set_password(SERVICE, provider, record)
        except (keyring.errors.KeyringError, RuntimeError) as exc:
            raise _keyring_error(exc, provider) from None
        return StoredKey(provider, secret, "keyring", endpoint)

    def load(self, provider: str, env_vars: tuple[str, ...]) -> StoredKey | None:
        """The keychain's key for a provider, else the first set env var, else None."""
        import keyring

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
        import keyring

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
