"""Scrubbing keys from text: every secret this process has seen, and well-known key shapes.

Used by errors (every message), logging (every record) and the LSP layer (every result), so a key can
only ever appear as its fingerprint (`sk-…a1b2`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import threading

_PREFIXES = ("sk-ant-", "sk-or-", "sk-proj-", "sk-svcacct-", "sk-admin-", "AIza", "AKIA", "ASIA", "sk-")
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
    prefix = next((p for p in _PREFIXES if secret.startswith(p) and len(secret) > len(p) + 8), "")
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
