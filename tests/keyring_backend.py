"""A keyring backend for tests, selected with PYTHON_KEYRING_BACKEND=tests.keyring_backend.FileKeyring.

It stores passwords in the JSON file named by BYOK_TEST_KEYRING_FILE so several processes (the server,
the CLI, the test) share them. Test use only: it is plaintext.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def path(self) -> Path:
        return Path(os.environ["BYOK_TEST_KEYRING_FILE"])

    def _update(self, change: object) -> dict[str, str]:
        self.path.touch(exist_ok=True)
        with self.path.open("r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            text = handle.read()
            data: dict[str, str] = json.loads(text) if text else {}
            if callable(change):
                change(data)
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(data))
            return data

    def get_password(self, service: str, username: str) -> str | None:
        return self._update(None).get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        self._update(lambda data: data.__setitem__(f"{service}\0{username}", password))

    def delete_password(self, service: str, username: str) -> None:
        name = f"{service}\0{username}"
        if name not in self._update(None):
            raise PasswordDeleteError(name)
        self._update(lambda data: data.pop(name, None))
