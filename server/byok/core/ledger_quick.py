"""A second connection to the ledger, for reservations made on the event loop (no worker thread).

It never waits for a lock (busy timeout 0) and never checkpoints the WAL (the ledger's own connection does,
from its thread), so a commit here is a write into the page cache, not an fsync. Anything but a clean commit
(the write lock taken by another request or process, a replaced file, any SQLite error) gives up with None, and
the caller reserves on the ledger's thread as before, with the errors that path reports.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class QuickConnection:
    """The ledger connection of the event loop thread (used from that thread only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._file_id: tuple[int, int] | None = None

    def run(self, file_id: tuple[int, int], work: Callable[[sqlite3.Connection], T]) -> T | None:
        """`work` in one write transaction if the write lock is free at once; None when it is not or SQLite
        fails. `file_id` is the ledger file now in use: a connection to a file since replaced is reopened."""
        try:
            db = self._connection(file_id)
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error:
            return None
        try:
            result = work(db)
            db.execute("COMMIT")
        except sqlite3.Error:
            _rollback(db)
            return None
        except BaseException:
            _rollback(db)
            raise
        return result

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _connection(self, file_id: tuple[int, int]) -> sqlite3.Connection:
        if self._db is not None and self._file_id != file_id:
            self.close()
        if self._db is None:
            db = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA wal_autocheckpoint = 0")
            except sqlite3.Error:
                db.close()
                raise
            self._db, self._file_id = db, file_id
        return self._db


def _rollback(db: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):  # the error being handled says more
        db.execute("ROLLBACK")
