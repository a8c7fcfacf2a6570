"""The usage ledger: budget enforcement, summaries, warnings, and several processes sharing one file."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from byok.base.config import BudgetSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.ledger import Ledger, Reservation, _Damaged, default_path
from byok.core.prices import Price, Quote

WORKER = Path(__file__).with_name("ledger_worker.py")
NOW = datetime(2025, 3, 15, 12, 0, 0)
NO_LIMIT = BudgetSettings()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "usage.sqlite3") as opened:
        yield opened


def spend(
    ledger: Ledger,
    cost: float | None,
    *,
    provider: str = "openai",
    model: str = "gpt-4o",
    feature: str = "chat",
    now: datetime = NOW,
    estimated: bool = False,
    tokens: tuple[int, int] = (100, 10),
    cache: tuple[int, int] = (0, 0),
    saved: float | None = None,
) -> Reservation:
    reservation = ledger.reserve(
        provider=provider,
        model=model,
        feature=feature,
        quote=None if cost is None else Quote(cost),
        budget=NO_LIMIT,
        now=now,
    )
    ledger.settle(
        reservation,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cache_read_tokens=cache[0],
        cache_write_tokens=cache[1],
        estimated=estimated,
        cost_usd=cost,
        saved_usd=saved,
        outcome="ok",
        request_id="req",
        now=now,
    )
    return reservation


def row_count(ledger: Ledger) -> int:
    with ledger._transaction() as db:
        return int(db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])


def test_file_is_in_wal_mode(ledger: Ledger) -> None:
    with ledger._transaction() as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert default_path().name == "usage.sqlite3"


def test_reserve_refuses_past_the_monthly_limit_and_writes_nothing(ledger: Ledger) -> None:
    budget = BudgetSettings(monthly_usd=1.0)
    spend(ledger, 0.90)
    assert row_count(ledger) == 1
    with pytest.raises(ByokError) as caught:
        ledger.reserve(
            provider="openai", model="gpt-4o", feature="chat", quote=Quote(0.2), budget=budget, now=NOW
        )
    error = caught.value
    assert error.code == ErrorCode.BUDGET_EXCEEDED
    assert error.cause == "spent $0.90 of $1.00 this month"
    assert "wait until the 1st" in error.fix
    assert error.provider == "openai"
    assert error.to_data()["worstCaseUsd"] == 0.2
    assert row_count(ledger) == 1
    # what still fits is allowed, and the limit counts open reservations at their worst case
    ledger.reserve(
        provider="openai", model="gpt-4o", feature="chat", quote=Quote(0.1), budget=budget, now=NOW
    )
    with pytest.raises(ByokError):
        ledger.reserve(
            provider="openai", model="gpt-4o", feature="chat", quote=Quote(0.01), budget=budget, now=NOW
        )


def test_last_month_does_not_count(ledger: Ledger) -> None:
    spend(ledger, 5.0, now=NOW - timedelta(days=30))
    ledger.reserve(
        provider="openai",
        model="gpt-4o",
        feature="chat",
        quote=Quote(0.5),
        budget=BudgetSettings(monthly_usd=1.0),
        now=NOW,
    )


def test_per_provider_limit(ledger: Ledger) -> None:
    budget = BudgetSettings(per_provider={"anthropic": 0.5})
    spend(ledger, 0.45, provider="anthropic", model="claude-sonnet-4-5")
    spend(ledger, 10.0, provider="openai")
    with pytest.raises(ByokError) as caught:
        ledger.reserve(
            provider="anthropic", model="claude", feature="chat", quote=Quote(0.1), budget=budget, now=NOW
        )
    assert caught.value.cause == "spent $0.45 of $0.50 on anthropic this month"
    assert "perProvider.anthropic" in caught.value.fix
    ledger.reserve(
        provider="openai", model="gpt-4o", feature="chat", quote=Quote(5.0), budget=budget, now=NOW
    )


def test_an_unknown_price_is_refused_under_a_limit_and_free_requests_always_pass(ledger: Ledger) -> None:
    ledger.reserve(provider="together", model="custom", feature="chat", quote=None, budget=NO_LIMIT, now=NOW)
    for budget in (BudgetSettings(monthly_usd=1.0), BudgetSettings(per_provider={"together": 5.0})):
        with pytest.raises(ByokError) as caught:
            ledger.reserve(
                provider="together", model="custom", feature="chat", quote=None, budget=budget, now=NOW
            )
        assert caught.value.code == ErrorCode.BUDGET_EXCEEDED
        assert caught.value.cause == "No price is known for custom"
        assert 'byok.prices["custom"]' in caught.value.fix
    # another provider's limit does not apply
    ledger.reserve(
        provider="together",
        model="custom",
        feature="chat",
        quote=None,
        budget=BudgetSettings(per_provider={"openai": 1.0}),
        now=NOW,
    )
    spend(ledger, 1.0)
    free = ledger.reserve(
        provider="ollama",
        model="llama3",
        feature="chat",
        quote=Quote(0.0),
        max_output_tokens=4096,
        budget=BudgetSettings(monthly_usd=1.0),
        now=NOW,
    )
    assert (free.worst_case_usd, free.max_output_tokens) == (0.0, 4096)


def test_the_output_limit_is_what_the_room_left_covers(ledger: Ledger) -> None:
    budget = BudgetSettings(monthly_usd=1.0, per_provider={"openai": 0.5})
    spend(ledger, 0.3)
    quote = Quote(input_usd=0.1, output_usd_per_token=0.0001)
    # room: monthly 0.7, openai 0.2 -> (0.2 - 0.1) / 0.0001 = 1000 output tokens
    granted = ledger.reserve(
        provider="openai",
        model="gpt-4o",
        feature="chat",
        quote=quote,
        max_output_tokens=4096,
        min_output_tokens=256,
        budget=budget,
        now=NOW,
    )
    assert granted.max_output_tokens == 1000
    assert granted.worst_case_usd == pytest.approx(0.2)
    # the whole room is now reserved: not even a 256-token answer fits
    with pytest.raises(ByokError) as caught:
        ledger.reserve(
            provider="openai",
            model="gpt-4o",
            feature="chat",
            quote=quote,
            max_output_tokens=4096,
            min_output_tokens=256,
            budget=budget,
            now=NOW,
        )
    assert caught.value.code == ErrorCode.BUDGET_EXCEEDED
    assert "256-token answer" in caught.value.message
    assert caught.value.to_data()["worstCaseUsd"] == pytest.approx(0.1256)
    # what the request asks for is never raised
    small = ledger.reserve(
        provider="anthropic",
        model="claude",
        feature="chat",
        quote=quote,
        max_output_tokens=100,
        min_output_tokens=100,
        budget=budget,
        now=NOW,
    )
    assert small.max_output_tokens == 100


def test_an_invalid_limit_blocks_the_requests_it_would_limit(ledger: Ledger) -> None:
    budget, problems = BudgetSettings.load(
        {"monthlyUsd": 5, "perProvider": {"openai": "two", "anthropic": 1}}
    )
    assert problems == [
        "byok.budget.perProvider.openai: Input should be a valid number, unable to parse string as a number "
        "(paid requests to openai are refused until it is fixed)"
    ]
    with pytest.raises(ByokError) as caught:
        ledger.reserve(
            provider="openai", model="gpt-4o", feature="chat", quote=Quote(0.01), budget=budget, now=NOW
        )
    assert caught.value.code == ErrorCode.BUDGET_INVALID
    assert caught.value.cause.startswith("byok.budget.perProvider.openai: ")
    ledger.reserve(
        provider="anthropic", model="claude", feature="chat", quote=Quote(0.01), budget=budget, now=NOW
    )
    ledger.reserve(provider="openai", model="local", feature="chat", quote=Quote(0.0), budget=budget, now=NOW)
    everything, _ = BudgetSettings.load({"monthlyUsd": -1})
    with pytest.raises(ByokError) as caught:
        ledger.reserve(
            provider="anthropic", model="claude", feature="chat", quote=None, budget=everything, now=NOW
        )
    assert caught.value.code == ErrorCode.BUDGET_INVALID


def test_summary_shape_and_unknown_cost_is_never_zero(ledger: Ledger) -> None:
    spend(ledger, 0.25, model="gpt-4o", feature="chat")
    spend(ledger, 0.50, model="gpt-4o", feature="agent", estimated=True, now=NOW + timedelta(days=1))
    spend(ledger, None, provider="ollama", model="llama3", feature="chat")
    spend(
        ledger,
        0.125,
        provider="anthropic",
        model="claude-sonnet-4-5",
        feature="chat",
        cache=(60, 20),
        saved=-0.01,
    )
    spend(
        ledger,
        0.0,
        provider="anthropic",
        model="claude-sonnet-4-5",
        feature="agent",
        cache=(80, 0),
        saved=0.03,
    )
    ledger.reserve(provider="openai", model="o1", feature="chat", quote=Quote(0.3), budget=NO_LIMIT, now=NOW)

    result = ledger.summary("2025-03", "model", BudgetSettings(monthly_usd=2.0), now=NOW)
    assert set(result) == {
        "month",
        "totalUsd",
        "budgetUsd",
        "remainingUsd",
        "reservedUsd",
        "savedUsd",
        "unknownCostRequests",
        "rows",
    }
    assert result["month"] == "2025-03"
    assert result["totalUsd"] == pytest.approx(0.875)
    assert result["budgetUsd"] == 2.0
    assert result["reservedUsd"] == pytest.approx(0.3)
    assert result["remainingUsd"] == pytest.approx(2.0 - 0.875 - 0.3)
    assert result["unknownCostRequests"] == 1
    assert result["savedUsd"] == pytest.approx(0.02)  # the rows that know it; a negative saving counts too
    assert result["rows"] == [
        {
            "key": "gpt-4o",
            "requests": 2,
            "inputTokens": 200,
            "outputTokens": 20,
            "cacheReadTokens": 0,
            "cacheWriteTokens": 0,
            "costUsd": 0.75,
            "savedUsd": None,
            "estimated": True,
            "unknownCostRequests": 0,
        },
        {
            "key": "claude-sonnet-4-5",
            "requests": 2,
            "inputTokens": 200,
            "outputTokens": 20,
            "cacheReadTokens": 140,
            "cacheWriteTokens": 20,
            "costUsd": 0.125,
            "savedUsd": 0.02,
            "estimated": False,
            "unknownCostRequests": 0,
        },
        {
            "key": "llama3",
            "requests": 1,
            "inputTokens": 100,
            "outputTokens": 10,
            "cacheReadTokens": 0,
            "cacheWriteTokens": 0,
            "costUsd": None,
            "savedUsd": None,
            "estimated": False,
            "unknownCostRequests": 1,
        },
    ]

    by_feature = {row["key"]: row for row in ledger.summary("2025-03", "feature", now=NOW)["rows"]}
    # a mixed group sums what is known and says how many requests are unpriced
    assert by_feature["chat"]["costUsd"] == pytest.approx(0.375)
    assert by_feature["chat"]["savedUsd"] == pytest.approx(-0.01)  # writes cost more than reads saved
    assert by_feature["chat"]["unknownCostRequests"] == 1
    by_day = ledger.summary("2025-03", "day", now=NOW)["rows"]
    assert [row["key"] for row in by_day] == ["2025-03-15", "2025-03-16"]
    by_provider = [row["key"] for row in ledger.summary("2025-03", "provider", now=NOW)["rows"]]
    assert by_provider == ["openai", "anthropic", "ollama"]


def test_summary_of_an_empty_or_all_unknown_month(ledger: Ledger) -> None:
    empty = ledger.summary("2025-02", now=NOW)
    assert empty["totalUsd"] == 0.0 and empty["rows"] == [] and empty["remainingUsd"] is None
    spend(ledger, None, provider="ollama", model="llama3")
    unknown = ledger.summary(now=NOW)
    assert unknown["totalUsd"] is None and unknown["unknownCostRequests"] == 1
    with pytest.raises(ValueError):
        ledger.summary("March", now=NOW)


def test_stale_pending_row_becomes_interrupted_with_what_it_streamed(ledger: Ledger) -> None:
    reservation = ledger.reserve(
        provider="anthropic",
        model="claude-sonnet-4-5",
        feature="chat",
        quote=Quote(0.5),
        budget=NO_LIMIT,
        price=Price(3.0, 15.0),
        input_tokens_estimate=2000,
        now=NOW,
    )
    ledger.update_progress(reservation, output_tokens_estimate=300, now=NOW + timedelta(minutes=5))
    # still within the stale limit of its last progress: in flight, counted as reserved
    live = ledger.summary(now=NOW + timedelta(minutes=20))
    assert live["rows"] == [] and live["reservedUsd"] == 0.5
    later = ledger.summary(now=NOW + timedelta(minutes=26))
    [row] = later["rows"]
    assert (row["outputTokens"], row["inputTokens"], row["estimated"]) == (300, 2000, True)
    assert row["costUsd"] == pytest.approx((2000 * 3.0 + 300 * 15.0) / 1e6)
    assert later["reservedUsd"] == 0.0
    # the owner may still settle it afterwards: the real numbers win
    ledger.settle(
        reservation,
        input_tokens=2100,
        output_tokens=320,
        estimated=False,
        cost_usd=0.0111,
        outcome="ok",
        request_id="msg_1",
        now=NOW,
    )
    [row] = ledger.summary(now=NOW)["rows"]
    assert (row["inputTokens"], row["costUsd"], row["estimated"]) == (2100, 0.0111, False)


def test_warn_once_per_month_per_limit_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    budget = BudgetSettings(monthly_usd=10.0, per_provider={"anthropic": 2.0})
    first, second = Ledger(path), Ledger(path)  # two windows on one file
    spend(first, 7.0)
    assert first.should_warn(budget, now=NOW) == []
    spend(first, 1.0)
    [message] = first.should_warn(budget, now=NOW)
    assert "$8.00" in message and "$10.00" in message and "80%" in message
    assert second.should_warn(budget, now=NOW) == []
    assert first.should_warn(budget, now=NOW) == []
    spend(second, 1.7, provider="anthropic")
    [message] = second.should_warn(budget, now=NOW)
    assert "anthropic" in message
    # next month warns afresh
    spend(first, 9.0, now=NOW + timedelta(days=30))
    assert len(first.should_warn(budget, now=NOW + timedelta(days=30))) == 1
    first.close()
    second.close()


def start_worker(*args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def release(processes: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    results = []
    for process in processes:
        out, _ = process.communicate()
        assert process.returncode == 0
        results.append(json.loads(out))
    return results


def test_processes_racing_for_the_last_dollar_never_overshoot(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    workers = [start_worker("race", str(path), "1.0", "0.025") for _ in range(6)]
    results = release(workers)
    accepted = sum(int(result["accepted"]) for result in results)
    assert accepted == 40  # 40 x $0.025 = $1.00 exactly; a 41st would cross the limit
    with Ledger(path) as ledger:
        summary = ledger.summary(budget=BudgetSettings(monthly_usd=1.0))
    assert summary["totalUsd"] == pytest.approx(1.0)
    assert summary["rows"][0]["requests"] == 40


def test_a_reservation_in_progress_elsewhere_is_seen_before_the_check(tmp_path: Path) -> None:
    """Another process holds the write lock with a $0.95 reservation not yet committed: our check must
    wait for it and then refuse, not pass on a snapshot taken before it and overshoot."""
    path = tmp_path / "usage.sqlite3"
    Ledger(path).close()
    worker = start_worker("race", str(path), "1.0", "0.10")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    now = datetime.now()
    other.execute(
        """INSERT INTO requests (started_at, updated_at, month, day, provider, model, feature, reserved_usd,
            outcome, host, pid) VALUES (?, ?, ?, ?, 'openai', 'gpt-4o', 'chat', 0.95, 'pending', ?, ?)""",
        (
            now.timestamp(),
            now.timestamp(),
            now.strftime("%Y-%m"),
            now.strftime("%Y-%m-%d"),
            socket.gethostname(),
            os.getpid(),
        ),
    )
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    time.sleep(0.3)  # give the worker time to reach the lock; the assertion holds whatever the timing
    other.execute("COMMIT")
    other.close()
    out, _ = worker.communicate()
    assert worker.returncode == 0
    assert json.loads(out) == {"accepted": 0}


def test_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    workers = [start_worker("write", str(path), "25") for _ in range(4)]
    results = release(workers)
    ids = [row_id for result in results for row_id in result["ids"]]
    assert len(ids) == len(set(ids)) == 100
    with Ledger(path) as ledger:
        [row] = ledger.summary()["rows"]
    assert row["requests"] == 100
    assert row["costUsd"] == pytest.approx(0.1)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and pid liveness are POSIX")
def test_a_process_killed_mid_stream_leaves_what_it_streamed(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    worker = start_worker("stream", str(path), "120")
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    json.loads(worker.stdout.readline())  # it has recorded its progress and is "streaming"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL
    with Ledger(path) as ledger:
        summary = ledger.summary()
        with ledger._transaction() as db:
            outcome = db.execute("SELECT outcome FROM requests").fetchone()[0]
    [row] = summary["rows"]
    assert outcome == "interrupted"
    assert (row["inputTokens"], row["outputTokens"], row["estimated"]) == (1000, 120, True)
    assert row["costUsd"] == pytest.approx((1000 * 3.0 + 120 * 15.0) / 1e6)
    assert summary["reservedUsd"] == 0.0


def test_a_held_write_lock_is_ledger_busy_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    with Ledger(path) as ledger:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(ByokError) as caught:
                ledger.reserve(
                    provider="openai", model="gpt-4o", feature="chat", quote=Quote(0.1), budget=NO_LIMIT
                )
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert caught.value.code == ErrorCode.LEDGER_BUSY
        assert str(path) in caught.value.cause
        spend(ledger, 0.1)  # usable again once the lock is gone


def test_a_damaged_ledger_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ByokError) as caught:
        Ledger(path)
    error = caught.value
    assert error.code == ErrorCode.LEDGER_CORRUPT
    moved = Path(error.extra["movedTo"])
    assert moved.read_bytes().startswith(b"this is not a database")
    assert str(moved) in error.message and error.fix
    with Ledger(path) as ledger:
        spend(ledger, 0.1)
        assert ledger.summary(now=NOW)["totalUsd"] == pytest.approx(0.1)


def test_an_unusable_data_directory_is_ledger_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    with pytest.raises(ByokError) as caught:
        Ledger(blocker / "byok" / "usage.sqlite3")
    assert caught.value.code == ErrorCode.LEDGER_UNAVAILABLE
    assert str(blocker) in caught.value.cause and "writable" in caught.value.fix


# The schema of version 1 (before prompt-cache columns), verbatim from byok's ledger of that version.
SCHEMA_V1 = (
    """CREATE TABLE IF NOT EXISTS requests (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        month TEXT NOT NULL,
        day TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        feature TEXT NOT NULL,
        reserved_usd REAL,
        price_input REAL,
        price_output REAL,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        estimated INTEGER NOT NULL DEFAULT 1,
        cost_usd REAL,
        outcome TEXT NOT NULL,
        request_id TEXT,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS requests_month ON requests (month, provider)",
    "CREATE INDEX IF NOT EXISTS requests_pending ON requests (outcome) WHERE outcome = 'pending'",
    """CREATE TABLE IF NOT EXISTS warnings (
        month TEXT NOT NULL,
        scope TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (month, scope)
    )""",
    "PRAGMA user_version = 1",
)


def test_a_version_1_ledger_is_migrated_keeping_every_row(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    old = sqlite3.connect(path)
    for statement in SCHEMA_V1:
        old.execute(statement)
    ts = NOW.astimezone().timestamp()
    rows = [
        (
            ts,
            ts,
            "2025-03",
            "2025-03-15",
            "openai",
            "gpt-4o",
            "chat",
            0.5,
            2.5,
            10.0,
            1000,
            100,
            0,
            0.0035,
            "ok",
        ),
        (
            ts,
            ts,
            "2025-03",
            "2025-03-15",
            "anthropic",
            "claude",
            "agent",
            1.0,
            3.0,
            15.0,
            2000,
            50,
            1,
            None,
            "error",
        ),
        (
            ts,
            ts,
            "2025-02",
            "2025-02-01",
            "openai",
            "gpt-4o",
            "chat",
            0.1,
            2.5,
            10.0,
            10,
            1,
            0,
            0.1,
            "cancelled",
        ),
    ]
    old.executemany(
        """INSERT INTO requests (started_at, updated_at, month, day, provider, model, feature, reserved_usd,
            price_input, price_output, input_tokens, output_tokens, estimated, cost_usd, outcome, host, pid)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'elsewhere', 1)""",
        rows,
    )
    old.execute("INSERT INTO warnings VALUES ('2025-03', 'monthly', ?)", (ts,))
    old.commit()
    old.close()

    with Ledger(path) as ledger:
        summary = ledger.summary("2025-03", "model", now=NOW)
        spend(ledger, 0.01, model="claude", provider="anthropic", cache=(700, 200), saved=0.002)
    by_model = {row["key"]: row for row in summary["rows"]}
    assert by_model["gpt-4o"]["inputTokens"] == 1000 and by_model["gpt-4o"]["costUsd"] == 0.0035
    assert by_model["gpt-4o"]["cacheReadTokens"] == 0 and by_model["gpt-4o"]["savedUsd"] is None
    assert by_model["claude"]["unknownCostRequests"] == 1 and by_model["claude"]["estimated"] is True
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    kept = db.execute(
        """SELECT started_at, updated_at, month, day, provider, model, feature, reserved_usd, price_input,
            price_output, input_tokens, output_tokens, estimated, cost_usd, outcome FROM requests
        WHERE host = 'elsewhere' ORDER BY id"""
    ).fetchall()
    assert kept == rows
    assert db.execute("SELECT COUNT(*) FROM warnings").fetchone()[0] == 1
    new = db.execute(
        "SELECT cache_read_tokens, cache_write_tokens, saved_usd FROM requests WHERE host != 'elsewhere'"
    ).fetchall()
    assert new == [(700, 200, 0.002)]
    db.close()
    with Ledger(path) as reopened:  # a migrated ledger opens as it is
        assert reopened.summary("2025-03", "model", now=NOW)["savedUsd"] == pytest.approx(0.002)


def test_processes_opening_an_old_ledger_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    old = sqlite3.connect(path)
    for statement in SCHEMA_V1:
        old.execute(statement)
    old.commit()
    old.close()
    code = "import sys; from pathlib import Path; from byok.core.ledger import Ledger; Ledger(Path(sys.argv[1])).close()"
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE) for _ in range(4)
    ]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0, 0]
    db = sqlite3.connect(path)
    columns = [row[1] for row in db.execute("PRAGMA table_info(requests)")]
    assert columns.count("cache_read_tokens") == 1 and "saved_usd" in columns
    db.close()


# -- reservations made on the event loop (Ledger.try_reserve) ----------------------------------------------


def quick(ledger: Ledger, cost: float, budget: BudgetSettings = NO_LIMIT) -> Reservation | None:
    return ledger.try_reserve(
        provider="openai", model="gpt-4o", feature="chat", quote=Quote(cost), budget=budget, now=NOW
    )


def test_a_quick_reservation_is_a_row_of_the_ledger_under_the_same_limits(ledger: Ledger) -> None:
    budget = BudgetSettings(monthly_usd=1.0)
    spend(ledger, 0.5)
    first = quick(ledger, 0.3, budget)
    assert first is not None and row_count(ledger) == 2
    assert ledger.summary(now=NOW)["reservedUsd"] == pytest.approx(0.3)  # the other connection sees it
    with pytest.raises(ByokError) as caught:  # 0.5 spent + 0.3 reserved + 0.3 > 1.0, on either path
        quick(ledger, 0.3, budget)
    assert caught.value.code == ErrorCode.BUDGET_EXCEEDED and row_count(ledger) == 2
    with pytest.raises(ByokError):
        ledger.reserve(
            provider="openai", model="gpt-4o", feature="chat", quote=Quote(0.3), budget=budget, now=NOW
        )
    ledger.settle(
        first,
        input_tokens=1,
        output_tokens=1,
        estimated=False,
        cost_usd=0.1,
        outcome="ok",
        request_id=None,
        now=NOW,
    )
    assert ledger.summary(now=NOW)["totalUsd"] == pytest.approx(0.6)


def test_a_quick_reservation_never_waits_for_a_held_lock(ledger: Ledger) -> None:
    """Another process holds the write lock: the loop gets None at once (busy timeout 0) and writes nothing;
    `reserve` in a worker thread then waits for the lock as before."""
    holder = sqlite3.connect(ledger.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        assert quick(ledger, 0.1) is None
        assert ledger._quick._db is not None
        assert ledger._quick._db.execute("PRAGMA busy_timeout").fetchone()[0] == 0
        assert ledger._quick._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert row_count(ledger) == 0
    assert quick(ledger, 0.1) is not None and row_count(ledger) == 1


def test_a_quick_reservation_goes_to_the_new_ledger_after_a_damaged_one_was_moved_aside(
    ledger: Ledger,
) -> None:
    assert quick(ledger, 0.1) is not None  # the loop's connection is open on the first file
    error = ledger._start_afresh(_Damaged("damaged for the test", ledger._file_id))
    moved = Path(error.extra["movedTo"])
    assert quick(ledger, 0.2) is not None
    assert ledger.summary(now=NOW)["reservedUsd"] == pytest.approx(0.2)
    with sqlite3.connect(moved) as old:
        assert old.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1
