"""The prompt-cache key: one stable, opaque value per workspace, for APIs that route requests by one (OpenAI's
`prompt_cache_key`), so an agent run's repeated prefix lands on the same cache.

It is an HMAC-SHA256 of the workspace's resolved root folder under a random secret kept in byok's data
directory: the same folder always gets the same key on this machine, and the key says nothing about the
folder's path or the project's name, even to a provider that guesses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

SECRET_FILE = "prompt-cache-secret"
SECRET_BYTES = 32
KEY_PREFIX = "byok-"
KEY_HEX_CHARS = 32


class CacheKeys:
    """Per-workspace prompt-cache keys; the secret is read (or created) once, off the event loop."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._data_dir = data_dir
        self._secret: bytes | None = None
        self._keys: dict[Path | None, str] = {}

    async def key_for(self, root: Path | None) -> str | None:
        """The key for the workspace at `root` (None: requests made without a workspace folder), or None when
        byok's data directory cannot hold the secret (the request then goes without a key)."""
        if root in self._keys:
            return self._keys[root]
        if self._secret is None:
            try:
                self._secret = await asyncio.to_thread(load_secret, self._directory())
            except OSError as exc:
                log.warning("no prompt-cache key: %s", exc.strerror or exc)
                return None
        folder = b"" if root is None else os.fsencode(await asyncio.to_thread(_resolved, root))
        digest = hmac.new(self._secret, b"workspace\0" + folder, hashlib.sha256).hexdigest()
        self._keys[root] = key = KEY_PREFIX + digest[:KEY_HEX_CHARS]
        return key

    def _directory(self) -> Path:
        if self._data_dir is not None:
            return self._data_dir
        import platformdirs

        return platformdirs.user_data_path("byok")


def load_secret(directory: Path) -> bytes:
    """The install's secret from `directory`, created (mode 0600, atomically) when there is none yet.

    Of several processes creating it at once, the first link wins and every process reads that one.
    """
    path = directory / SECRET_FILE
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(SECRET_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < SECRET_BYTES // 2:
        raise OSError(f"{path} is damaged: delete it and byok makes a new one")
    return secret


def _resolved(root: Path) -> Path:
    return Path(os.path.abspath(root)).resolve()
