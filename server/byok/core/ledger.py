"""The usage ledger, shared by every byok process on the machine, and its atomic spending-limit check.

One SQLite file (WAL mode) holds one row per BYOK request. A request's life:

1. `reserve()` checks the limits (`byok.core.budget` says which apply) and inserts a `pending` row holding
   the request's worst-case cost, in one `BEGIN IMMEDIATE` transaction: of several processes racing for the
   last dollar, only as many get a row as the limit allows. A pending row counts against the limits at its
   worst-case cost. The worst case is a `Quote` (input at its dearest rate) plus the output tokens the
   reservation grants: as many as asked for, or fewer when the limits cannot cover that many; the caller
   sends no larger an output limit.
2. `update_progress()` records the streamed output so far, so that a process killed mid-stream still
   leaves what it streamed. Contract: call it from the delta loop at most about twice a second (e.g. when
   500 ms passed since the last call); each call is one small UPDATE, no fsync.
3. `settle()` writes the provider's token counts, the cost and the outcome.

A pending row becomes `interrupted` (costed from its progress at the reserved price, marked estimated) when
its process is gone (same host, POSIX) or it saw no progress for `stale_after_s` (default 20 min, longer
than `timeouts.totalS` plus retries). Months are local-time calendar months ("wait until the 1st").

Failures come back as `ByokError`s within about `BUSY_TIMEOUT_S`: `ledger_busy` (another process holds the
write lock), `ledger_unavailable` (the data directory or file cannot be written) and `ledger_corrupt` (the
file was damaged: it is moved aside and a new ledger started before the error is raised).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import platformdirs

from byok.base.config import BudgetSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.budget import all_limits, budget_error, invalid_budget_error, limits, unpriced_error, usd
from byok.core.ledger_quick import QuickConnection
from byok.core.ledger_schema import migrate, needs_migration
from byok.core.prices import Price, Quote

Outcome = Literal["ok", "error", "cancelled", "interrupted"]
GroupBy = Literal["model", "provider", "feature", "day"]

STALE_AFTER_S = 20 * 60.0
BUSY_TIMEOUT_S = 1.5
"""How long to wait for another process' write lock; ledger transactions take milliseconds."""
_EPSILON_USD = 1e-9
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_GROUP_COLUMNS: dict[str, str] = {
    "model": "model",
    "provider": "provider",
    "feature": "feature",
    "day": "day",
}
_HOST = socket.gethostname()
_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_CORRUPT = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_AUTH,
    }
)


@dataclass(frozen=True, slots=True)
class Reservation:
    """A pending ledger row; pass it to `update_progress` and `settle`."""

    id: int
    provider: str
    model: str
    feature: str
    month: str
    worst_case_usd: float | None
    max_output_tokens: int
    """The output limit the reservation covers: send no more than this."""


def default_path() -> Path:
    return platformdirs.user_data_path("byok") / "usage.sqlite3"


class Ledger:
    """The usage ledger. Methods are synchronous and thread-safe; call them via `asyncio.to_thread`."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        stale_after_s: float = STALE_AFTER_S,
        busy_timeout_s: float = BUSY_TIMEOUT_S,
    ) -> None:
        self.path = path or default_path()
        self.stale_after_s = stale_after_s
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._quick = QuickConnection(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unavailable(self.path, exc.strerror or str(exc)) from None
        try:
            self._db, self._file_id = self._connect()
        except _Damaged as damaged:
            error = self._start_afresh(damaged)
            self._db.close()
            raise error from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._quick.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def reserve(
        self,
        *,
        provider: str,
        model: str,
        feature: str,
        quote: Quote | None,
        budget: BudgetSettings,
        price: Price | None = None,
        input_tokens_estimate: int = 0,
        max_output_tokens: int = 0,
        min_output_tokens: int = 0,
        now: datetime | None = None,
        db: sqlite3.Connection | None = None,
    ) -> Reservation:
        """Check the limits, decide the output limit and insert a pending row, atomically across processes
        (in a transaction of its own, or in the write transaction the caller holds on `db`).

        The reservation grants `max_output_tokens`, or as many as this month's room under every limit that
        applies (limit minus settled costs minus open reservations) covers at `quote`. Raises (writing
        nothing) `budget_exceeded` when not even `min_output_tokens` fit, or when the price is unknown
        (`quote` None) and a limit applies; `budget_invalid` when an invalid limit setting may apply. Free
        requests (a zero quote) always pass. `price` and `input_tokens_estimate` let an interrupted row be
        costed from what it streamed.
        """
        when = _local(now)
        month = when.strftime("%Y-%m")
        output_tokens = max_output_tokens
        with self._transaction() if db is None else contextlib.nullcontext(db) as db:
            self._reap(db, when.timestamp())
            if quote is None or quote.usd(max_output_tokens) > 0:
                if problem := budget.problem_for(provider):
                    raise invalid_budget_error(provider, problem)
                for provider_limit, limit in limits(budget, provider):
                    spent = _spent(db, month, provider if provider_limit else None, include_pending=True)
                    if quote is None:
                        raise unpriced_error(provider, model, provider_limit, spent, limit)
                    room = limit - spent + _EPSILON_USD
                    if quote.usd(min_output_tokens) > room:
                        raise budget_error(provider, provider_limit, spent, limit, quote, min_output_tokens)
                    if quote.output_usd_per_token > 0:
                        affordable = math.floor((room - quote.input_usd) / quote.output_usd_per_token)
                        output_tokens = min(output_tokens, affordable)
            worst_case_usd = None if quote is None else quote.usd(output_tokens)
            cursor = db.execute(
                """INSERT INTO requests (started_at, updated_at, month, day, provider, model, feature,
                    reserved_usd, price_input, price_output, input_tokens, outcome, host, pid)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)""",
                (
                    when.timestamp(),
                    when.timestamp(),
                    month,
                    when.strftime("%Y-%m-%d"),
                    provider,
                    model,
                    feature,
                    worst_case_usd,
                    price.input if price else None,
                    price.output if price else None,
                    input_tokens_estimate,
                    _HOST,
                    os.getpid(),
                ),
            )
            row_id = cursor.lastrowid
        assert row_id is not None
        return Reservation(row_id, provider, model, feature, month, worst_case_usd, output_tokens)

    def try_reserve(self, **ask: Any) -> Reservation | None:
        """`reserve`, cheap enough for the event loop (see ledger_quick.py); None when the ledger is not free at
        once: call `reserve` in a worker thread then. A refusal is raised as `reserve` raises it."""
        file_id = self._file_id
        reservation = self._quick.run(file_id, lambda db: self.reserve(**ask, db=db))
        return reservation if file_id == self._file_id else None  # moved aside meanwhile: reserve again

    def update_progress(
        self, reservation: Reservation, *, output_tokens_estimate: int, now: datetime | None = None
    ) -> None:
        """Record the output streamed so far (see the module docstring for how often to call it)."""
        with self._lock, self._guard():
            self._db.execute(
                "UPDATE requests SET output_tokens = ?, updated_at = ? WHERE id = ? AND outcome = 'pending'",
                (output_tokens_estimate, _local(now).timestamp(), reservation.id),
            )

    def settle(
        self,
        reservation: Reservation,
        *,
        input_tokens: int,
        output_tokens: int,
        estimated: bool,
        cost_usd: float | None,
        outcome: Outcome,
        request_id: str | None,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        saved_usd: float | None = None,
        now: datetime | None = None,
    ) -> None:
        """Write the final counts and cost (None = unknown); overrides an `interrupted` mark.

        `input_tokens` counts all input; the cache reads and writes are parts of it. `saved_usd` is what
        caching saved against uncached prices (None = unknown)."""
        with self._lock, self._guard():
            self._db.execute(
                """UPDATE requests SET input_tokens = ?, output_tokens = ?, cache_read_tokens = ?,
                    cache_write_tokens = ?, estimated = ?, cost_usd = ?, saved_usd = ?,
                    outcome = ?, request_id = ?, updated_at = ? WHERE id = ?""",
                (
                    input_tokens,
                    output_tokens,
                    cache_read_tokens,
                    cache_write_tokens,
                    int(estimated),
                    cost_usd,
                    saved_usd,
                    outcome,
                    request_id,
                    _local(now).timestamp(),
                    reservation.id,
                ),
            )

    def summary(
        self,
        month: str | None = None,
        group_by: GroupBy = "model",
        budget: BudgetSettings | None = None,
        *,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The `byok.usage` result for `month` ("YYYY-MM", default this month) grouped by `group_by`.

        Unknown cost is never shown as 0: a row's `costUsd` sums its requests' known costs and is None when
        none is known; `unknownCostRequests` (per row and in total) counts the requests without a price, so
        a partial sum is always labelled. `totalUsd` follows the same rule; `remainingUsd` subtracts the
        known spend and the open reservations (`reservedUsd`) from `budget.monthlyUsd`, floored at 0.
        In-flight requests appear only in `reservedUsd`. `cacheReadTokens` and `cacheWriteTokens` are the
        parts of `inputTokens` read from and written to prompt caches; `savedUsd` sums what caching saved
        (negative: writes cost more than reads saved) and is null when no request of the row knows it.
        """
        when = _local(now)
        month = month or when.strftime("%Y-%m")
        if not _MONTH.match(month):
            raise ValueError(f"month must look like 2025-01, got {month!r}")
        column = _GROUP_COLUMNS[group_by]
        with self._transaction() as db:
            self._reap(db, when.timestamp())
            groups = db.execute(
                f"""SELECT {column}, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd),
                    COUNT(cost_usd), MAX(estimated), SUM(cache_read_tokens), SUM(cache_write_tokens),
                    SUM(saved_usd)
                FROM requests WHERE month = ? AND outcome != 'pending' GROUP BY {column}""",
                (month,),
            ).fetchall()
            reserved = db.execute(
                "SELECT COALESCE(SUM(reserved_usd), 0) FROM requests WHERE month = ? AND outcome = 'pending'",
                (month,),
            ).fetchone()[0]
        rows = [
            {
                "key": key,
                "requests": requests,
                "inputTokens": input_tokens,
                "outputTokens": output_tokens,
                "cacheReadTokens": cache_reads,
                "cacheWriteTokens": cache_writes,
                "costUsd": None if known == 0 else round(cost, 6),
                "savedUsd": None if saved is None else round(saved, 6),
                "estimated": bool(estimated),
                "unknownCostRequests": requests - known,
            }
            for key, requests, input_tokens, output_tokens, cost, known, estimated, cache_reads, cache_writes, saved in groups
        ]
        if group_by == "day":
            rows.sort(key=lambda row: row["key"])
        else:
            rows.sort(key=lambda row: (row["costUsd"] is None, -(row["costUsd"] or 0.0), row["key"]))
        requests_total = sum(row["requests"] for row in rows)
        unknown = sum(row["unknownCostRequests"] for row in rows)
        known_total = sum(row["costUsd"] or 0.0 for row in rows)
        saved = [row["savedUsd"] for row in rows if row["savedUsd"] is not None]
        limit = budget.monthly_usd if budget else None
        return {
            "month": month,
            "totalUsd": None if requests_total and unknown == requests_total else round(known_total, 6),
            "budgetUsd": limit,
            "remainingUsd": None if limit is None else round(max(0.0, limit - known_total - reserved), 6),
            "reservedUsd": round(reserved, 6),
            "savedUsd": round(sum(saved), 6) if saved else None,
            "unknownCostRequests": unknown,
            "rows": rows,
        }

    def should_warn(
        self,
        budget: BudgetSettings,
        *,
        month: str | None = None,
        threshold: float = 0.8,
        now: datetime | None = None,
    ) -> list[str]:
        """Warnings for limits whose settled spend reached `threshold`, each at most once per month.

        The "already warned" mark lives in the database, so of several processes only one warns. Returns
        the messages to show (empty: nothing to say); call it after `settle`.
        """
        when = _local(now)
        month = month or when.strftime("%Y-%m")
        messages: list[str] = []
        with self._transaction() as db:
            self._reap(db, when.timestamp())
            for provider, limit in all_limits(budget):
                if limit <= 0:
                    continue
                spent = _spent(db, month, provider, include_pending=False)
                if spent < threshold * limit:
                    continue
                scope = f"provider:{provider}" if provider else "monthly"
                inserted = db.execute(
                    "INSERT OR IGNORE INTO warnings (month, scope, at) VALUES (?, ?, ?)",
                    (month, scope, when.timestamp()),
                ).rowcount
                if inserted:
                    which = f"your {provider} limit" if provider else "your monthly byok limit"
                    messages.append(
                        f"byok has spent {usd(spent)} of {which} of {usd(limit)} this month "
                        f"({spent / limit:.0%})."
                    )
        return messages

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                with contextlib.suppress(sqlite3.DatabaseError):  # the error being raised says more
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite failures a user can act on as ByokErrors (a damaged file is replaced first)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if _code(exc) in _CORRUPT:
                self._db.close()
                raise self._start_afresh(_Damaged(str(exc), self._file_id)) from None
            raise _failure(exc, self.path, self.busy_timeout_s) from None

    def _connect(self) -> tuple[sqlite3.Connection, tuple[int, int]]:
        """Connect, set WAL mode, create the schema (retried while another process creates the file) and
        check the file; raises `_Damaged` for a damaged file."""
        db = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        deadline = time.monotonic() + self.busy_timeout_s
        try:
            stat = self.path.stat()
            file_id = (stat.st_dev, stat.st_ino)
            while True:
                try:
                    db.execute("PRAGMA journal_mode = WAL")
                    db.execute("PRAGMA synchronous = NORMAL")
                    if needs_migration(db):
                        db.execute("BEGIN IMMEDIATE")
                        migrate(db)
                        db.execute("COMMIT")
                    damage = db.execute("PRAGMA quick_check").fetchone()[0]
                    break
                except sqlite3.DatabaseError as exc:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    if _code(exc) in _CORRUPT:
                        damage = str(exc)
                        break
                    if _code(exc) not in _BUSY or time.monotonic() > deadline:
                        raise _failure(exc, self.path, self.busy_timeout_s) from None
                    time.sleep(0.05)
        except BaseException:
            db.close()
            raise
        if damage != "ok":
            db.close()
            raise _Damaged(damage, file_id)
        return db, file_id

    def _start_afresh(self, damaged: _Damaged) -> ByokError:
        """Move the damaged file aside (unless another process already did) and open a new ledger."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{datetime.now():%Y%m%d-%H%M%S}")
        moved_to = None
        try:
            current = self.path.stat()
            if (current.st_dev, current.st_ino) == damaged.file_id:
                for suffix in ("", "-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
                moved_to = str(aside)
        except FileNotFoundError:
            pass  # another process moved it aside and has not started the new one yet
        except OSError as exc:
            raise _unavailable(
                self.path, f"damaged ({damaged.damage}) and cannot be moved aside: {exc.strerror}"
            ) from None
        self._db, self._file_id = self._connect()
        where = f"it was moved to {moved_to}" if moved_to else "another byok process moved it aside"
        return ByokError(
            ErrorCode.LEDGER_CORRUPT,
            f"byok's usage ledger was damaged; {where} and a new one was started",
            cause=f"{self.path} is not a readable SQLite database ({damaged.damage})",
            fix="Send the request again. Spending recorded in the damaged ledger no longer counts against "
            "this month's limits: check the provider's billing page",
            movedTo=moved_to,
        )

    def _reap(self, db: sqlite3.Connection, now_ts: float) -> None:
        """Mark pending rows of dead processes, or without progress for too long, as interrupted."""
        pending = db.execute("SELECT id, host, pid, updated_at FROM requests WHERE outcome = 'pending'")
        own = os.getpid()
        gone = [
            row_id
            for row_id, host, pid, updated_at in pending.fetchall()
            if updated_at < now_ts - self.stale_after_s or (host == _HOST and pid != own and not _alive(pid))
        ]
        if gone:
            db.execute(
                f"""UPDATE requests SET outcome = 'interrupted', estimated = 1,
                    cost_usd = (input_tokens * price_input + output_tokens * price_output) / 1000000.0
                WHERE id IN ({",".join("?" * len(gone))})""",
                gone,
            )


class _Damaged(Exception):
    """The ledger file failed SQLite's integrity check or is not a database."""

    def __init__(self, damage: str, file_id: tuple[int, int]) -> None:
        super().__init__(damage)
        self.damage = damage
        self.file_id = file_id


def _code(exc: sqlite3.DatabaseError) -> int:
    """The primary SQLite result code of an error (0 when SQLite gave none)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def _failure(
    exc: sqlite3.DatabaseError, path: Path, busy_timeout_s: float
) -> ByokError | sqlite3.DatabaseError:
    """A busy or unusable ledger as a ByokError; any other SQLite error is a bug here and stays as it is."""
    if _code(exc) in _BUSY:
        return ByokError(
            ErrorCode.LEDGER_BUSY,
            "byok's usage ledger is locked by another process",
            cause=f"Another process held the write lock on {path} for over {busy_timeout_s:g} s",
            fix="Try again; if it persists, close other programs that have the ledger open "
            "(a sqlite3 shell, a backup or sync tool)",
        )
    if _code(exc) in _UNAVAILABLE:
        return _unavailable(path, str(exc))
    return exc


def _spent(db: sqlite3.Connection, month: str, provider: str | None, *, include_pending: bool) -> float:
    """Known spend this month; with `include_pending`, open reservations count at their worst case."""
    pending = "COALESCE(reserved_usd, 0)" if include_pending else "0"
    sql = f"""SELECT COALESCE(SUM(CASE WHEN outcome = 'pending' THEN {pending} ELSE COALESCE(cost_usd, 0) END), 0)
        FROM requests WHERE month = ?"""
    if provider is None:
        return float(db.execute(sql, (month,)).fetchone()[0])
    return float(db.execute(sql + " AND provider = ?", (month, provider)).fetchone()[0])


def _unavailable(path: Path, reason: str) -> ByokError:
    return ByokError(
        ErrorCode.LEDGER_UNAVAILABLE,
        f"byok cannot use its usage ledger at {path}",
        cause=f"{path}: {reason}",
        fix=f"Make {path.parent} a writable directory on a disk with free space "
        "(its location follows XDG_DATA_HOME on Linux)",
    )


def _local(now: datetime | None) -> datetime:
    """`now` in local time (naive values are taken as local); the current time when None."""
    return (now or datetime.now()).astimezone()


def _alive(pid: int) -> bool:
    """Whether process `pid` exists on this host; assumed alive where that cannot be asked cheaply."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
