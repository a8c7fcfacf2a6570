"""Remembered approvals ("Always allow"): small JSON files in the user data dir, never in a workspace.

One file per scope, `<user data dir>/approvals/<scope>.json`: the scope is `global` or `ws-<hash>` (a hash of
the workspace root, so no path appears in a file name). A file holds the approved keys, each a kind and a
subject: `command:<program>`, `mcp-tool:<server>@<hash of its command line and folder, or URL>/<tool>`, `mcp-start:<sha256 of the command line>`.

Writes take an exclusive lock on `approvals/.lock` (several byok processes share the directory), then write a
temporary file and `os.replace` it, so a reader sees the old or the new file, never half of one. A file that
cannot be read as approvals counts as approving nothing (the user is asked again) and is replaced on the next
write; a directory that cannot be written is `approvals_unavailable`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import platformdirs

from byok.base.atomic import write_atomic
from byok.base.errors import ByokError
from byok.base.names import ErrorCode

log = logging.getLogger(__name__)

GLOBAL_SCOPE = "global"
MAX_KEY_CHARS = 1000
_SCOPE = re.compile(r"^(global|ws-[0-9a-f]{32})$")
_FORMAT_VERSION = 1


def default_directory() -> Path:
    """`approvals/` in byok's user data dir (beside the usage ledger; follows XDG_DATA_HOME on Linux)."""
    return platformdirs.user_data_path("byok") / "approvals"


def workspace_scope(root: Path) -> str:
    """The scope of approvals remembered for the workspace at `root`: a hash of its resolved path."""
    digest = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()
    return f"ws-{digest[:32]}"


def _check(scope: str, key: str | None = None) -> None:
    if not _SCOPE.match(scope):
        raise ValueError(f"not an approvals scope: {scope!r}")
    if key is not None and not (0 < len(key) <= MAX_KEY_CHARS and ":" in key):
        raise ValueError("an approval key is `kind:subject`, at most 1000 characters")


class Approvals:
    """What the user chose to "Always allow", per scope. Thread-safe; each call is a few small file operations."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_directory()
        self._thread_lock = threading.Lock()

    def approved(self, scope: str, key: str) -> bool:
        """Whether `key` was remembered in `scope`."""
        _check(scope, key)
        return key in self._read(scope)

    def remembered(self, scope: str) -> list[str]:
        """The keys remembered in `scope`, sorted."""
        _check(scope)
        return sorted(self._read(scope))

    def scopes(self) -> list[str]:
        """The scopes that hold remembered approvals, sorted."""
        try:
            names = [path.stem for path in self.directory.glob("*.json")]
        except OSError:
            return []
        return sorted(name for name in names if _SCOPE.match(name))

    def remember(self, scope: str, key: str) -> None:
        """Remember `key` in `scope` (an `approvals_unavailable` ByokError when it cannot be written)."""
        _check(scope, key)
        with self._locked():
            approved = self._read(scope)
            approved.setdefault(key, {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            self._write(scope, approved)

    def forget(self, scope: str | None) -> int:
        """Forget what `scope` remembered (None: every scope); how many approvals were forgotten."""
        if scope is not None:
            _check(scope)
        with self._locked():
            forgotten = 0
            for name in [scope] if scope is not None else self.scopes():
                forgotten += len(self._read(name))
                try:
                    self._path(name).unlink(missing_ok=True)
                except OSError as exc:
                    raise _unavailable(self.directory, exc) from None
            return forgotten

    def forget_workspace(self, root: Path | None) -> int:
        """`byok.forgetApprovals`: forget the workspace's approvals (at `root`) and the global ones."""
        scopes = [GLOBAL_SCOPE, *([workspace_scope(root)] if root is not None else [])]
        return sum(self.forget(scope) for scope in scopes)

    def _path(self, scope: str) -> Path:
        return self.directory / f"{scope}.json"

    def _read(self, scope: str) -> dict[str, Any]:
        path = self._path(scope)
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("approvals file %s is unreadable (%s); nothing in it counts as approved", path, exc)
            return {}
        approved = data.get("approved") if isinstance(data, dict) else None
        if not isinstance(approved, dict):
            log.warning("approvals file %s has no approvals object; nothing in it counts as approved", path)
            return {}
        return approved

    def _write(self, scope: str, approved: dict[str, Any]) -> None:
        content = json.dumps({"version": _FORMAT_VERSION, "approved": approved}, indent=1, sort_keys=True)
        try:
            write_atomic(self._path(scope), content)
        except OSError as exc:
            raise _unavailable(self.directory, exc) from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """This process' threads, then other processes (flock on `.lock`), one at a time."""
        with self._thread_lock:
            try:
                self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
                lock = open(self.directory / ".lock", "a+b")  # noqa: SIM115 - held for the block below
            except OSError as exc:
                raise _unavailable(self.directory, exc) from None
            with lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                yield


def _unavailable(directory: Path, exc: OSError) -> ByokError:
    return ByokError(
        ErrorCode.APPROVALS_UNAVAILABLE,
        f"Remembered approvals cannot be written: {exc.strerror or type(exc).__name__}",
        directory=str(directory),
    )
