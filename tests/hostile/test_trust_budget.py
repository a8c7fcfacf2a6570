"""The budget and the usage ledger fail closed.

Issue 11, part E: a cancelled reservation is always released; a model without a price is refused under a
limit (keyless loopback servers cost $0); invalid prices drop only themselves and an invalid budget blocks;
a reservation bounds what a request can cost even when the provider bills more than estimated (four real
processes racing one limit included); a held lock, a damaged ledger and an unusable data directory come
back as error codes with a cause and a fix. Everything runs against the real server over stdio (or the
real runner in worker processes), a real SQLite ledger in a temporary data directory and loopback fakes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from byok.core.ledger import Ledger
from tests.conftest import TEST_KEY_AZURE, TEST_KEY_COMPAT, TEST_KEY_OPENAI
from tests.e2e.harness import Session, byok_error
from tests.fakes import FakeServer, openai_stream
from tests.hostile.helpers import REQUEST_TIMEOUT_S, answer, hostile_env, hostile_session

WORKER = Path(__file__).parents[1] / "unit" / "ledger_worker.py"
HI = [{"role": "user", "content": "Say hi"}]
REQUEST_CANCELLED = -32800
DAMAGED = b"SQLite format 3\x00" + b"\xff" * 8192
"""A SQLite header followed by garbage."""
GPT_4O_OUT = 10.0 / 1e6
"""gpt-4o: $2.50 in (no cache-write price), $10 out per 1M tokens."""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return hostile_env(tmp_path)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    """Where the server's ledger lives (platformdirs follows XDG_DATA_HOME)."""
    return tmp_path / "data" / "byok" / "usage.sqlite3"


# -- a provider that bills the most a real one could -------------------------------------------------------


class Metered(ThreadingHTTPServer):
    """OpenAI-compatible chat that bills a token per byte of the prompt (more than byok's 4-characters-per-
    token estimate; no tokenizer counts more) and every output token the request allows."""

    daemon_threads = True

    def __init__(self) -> None:
        self.asked: list[int] = []
        """The output limit of each chat request, in order."""
        super().__init__(("127.0.0.1", 0), _MeteredHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _MeteredHandler(BaseHTTPRequestHandler):
    server: Metered

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        asked = int(body.get("max_completion_tokens") or body["max_tokens"])
        self.server.asked.append(asked)
        prompt = sum(len(str(message.get("content") or "").encode()) for message in body["messages"])
        reply = openai_stream(["ok"], usage=(prompt, asked))
        data = b"".join(item for item in reply.chunks or [] if isinstance(item, bytes))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def metered() -> Iterator[Metered]:
    server = Metered()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def settings_at(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"baseUrl": f"{url}/v1"},
            "azure": {"endpoint": f"{url}/openai/deployments/dep1/chat/completions?api-version=2024-10-21"},
            "ollama": {"baseUrl": f"{url}/v1"},
            "gateway": {"kind": "openai-compatible", "baseUrl": f"{url}/v1"},
        },
        "models": [
            {"id": "azure-4o", "provider": "azure"},
            {"id": "team-model", "provider": "gateway", "model": "org/team-model-v3"},
        ],
        "retry": {"maxAttempts": 1},
        **extra,
    }


@asynccontextmanager
async def session(settings: dict[str, Any], env: dict[str, str]) -> AsyncIterator[Session]:
    async with hostile_session(settings, env) as (opened, _):
        yield opened


async def store_openai_key(s: Session) -> None:
    await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})


async def refusal(s: Session, argument: dict[str, Any], command: str = "byok.chat") -> dict[str, Any]:
    outcome = await answer(s, command, [argument])
    assert isinstance(outcome, JsonRpcException), f"{command} was not refused: {outcome}"
    data = byok_error(outcome)
    assert data["cause"] and data["fix"], data
    return data


def ledger_rows(path: Path) -> list[tuple[str, float | None, float | None]]:
    """(outcome, reserved_usd, cost_usd) of every row, read as another process would."""
    with sqlite3.connect(path, timeout=10) as db:
        return db.execute("SELECT outcome, reserved_usd, cost_usd FROM requests ORDER BY id").fetchall()


async def until_no_pending(
    path: Path, *, none_is_fine: bool = False
) -> list[tuple[str, float | None, float | None]]:
    """The ledger's rows once there are some and none is pending (settles run in the background); fails
    after 10 s, unless `none_is_fine` and there are no rows at all."""
    rows: list[tuple[str, float | None, float | None]] = []
    for _ in range(200):
        rows = await asyncio.to_thread(ledger_rows, path)
        if rows and all(outcome != "pending" for outcome, _, _ in rows):
            return rows
        await asyncio.sleep(0.05)
    if none_is_fine and not rows:
        return rows
    raise AssertionError(f"a reservation was left pending: {rows}")


async def shown(s: Session, needle: str) -> str:
    """The logged or shown message containing `needle` (settings problems arrive after initialize)."""
    for _ in range(100):
        for message in [*s.client.log_messages, *s.client.messages]:
            if needle in message.message:
                return message.message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message mentions {needle!r}")


# -- cancellation ----------------------------------------------------------------------------------------

# $0.20 a month; one chat reserves $0.199 of it (19,900 output tokens at $10 per 1M, plus its input): a
# reservation left behind would refuse every later chat.
HOLDS_MOST_OF_IT = {"messages": HI, "model": "gpt-4o", "maxTokens": 16_000}
"""$0.16 of the $0.20 limit (gpt-4o's largest output is 16,384 tokens): a reservation left behind would halve it."""
TWENTY_CENTS = {"monthlyUsd": 0.20}


async def test_a_chat_cancelled_while_the_ledger_reserves_releases_its_reservation(
    env: dict[str, str], ledger_path: Path, metered: Metered
) -> None:
    Ledger(ledger_path).close()
    async with session(settings_at(metered.url, budget=TWENTY_CENTS), env) as s:
        await store_openai_key(s)
        holder = sqlite3.connect(ledger_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the reservation waits for this lock
        try:
            params = types.ExecuteCommandParams(command="byok.chat", arguments=[HOLDS_MOST_OF_IT])
            chat = asyncio.ensure_future(
                s.client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="held")
            )
            await asyncio.sleep(0.5)  # let it reach the ledger; the assertions hold whatever the timing
            s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="held"))
            with pytest.raises(JsonRpcException) as caught:
                await asyncio.wait_for(chat, REQUEST_TIMEOUT_S)
            assert caught.value.code == REQUEST_CANCELLED
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # The reservation landed after the cancel (or, on a very slow machine, gave up on the lock)
        for outcome, _, cost in await until_no_pending(ledger_path, none_is_fine=True):
            assert (outcome, cost) == ("cancelled", 0.0)
        assert metered.asked == []  # nothing was sent
        result = await asyncio.wait_for(s.command("byok.chat", HOLDS_MOST_OF_IT), REQUEST_TIMEOUT_S)
        assert result["text"] == "ok" and metered.asked == [16_000]


async def test_a_chat_cancelled_mid_stream_settles_its_reservation(
    env: dict[str, str], ledger_path: Path, fake: FakeServer
) -> None:
    slow = openai_stream(["first "] + ["more "] * 50, model="gpt-4o", usage=(5, 51), delay_between=0.2)
    fake.route("POST", "/v1/chat/completions", slow)
    async with session(settings_at(fake.url, budget=TWENTY_CENTS), env) as s:
        await store_openai_key(s)
        params = types.ExecuteCommandParams(
            command="byok.chat", arguments=[{**HOLDS_MOST_OF_IT, "streamId": "c"}]
        )
        chat = asyncio.ensure_future(
            s.client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="streaming")
        )
        for _ in range(200):
            if s.text_of("c"):
                break
            await asyncio.sleep(0.05)
        assert s.text_of("c").startswith("first")
        s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="streaming"))
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(chat, REQUEST_TIMEOUT_S)
        assert caught.value.code == REQUEST_CANCELLED
        [(outcome, _, cost)] = await until_no_pending(ledger_path)
        assert outcome == "cancelled" and cost is not None and 0 < cost < 0.001  # what streamed, not $0.16
        fake.route("POST", "/v1/chat/completions", openai_stream(["again"], model="gpt-4o"))
        result = await asyncio.wait_for(s.command("byok.chat", HOLDS_MOST_OF_IT), REQUEST_TIMEOUT_S)
        assert result["text"] == "again"
        assert fake.requests[-1].json()["max_tokens"] == 16_000


# -- models without a price --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "key"),
    [
        ("gpt-4.5-preview", "openai", TEST_KEY_OPENAI),  # a new model the table does not know yet
        ("azure-4o", "azure", TEST_KEY_AZURE),  # an Azure deployment name
        ("team-model", "gateway", TEST_KEY_COMPAT),  # a custom provider's model, behind a key
    ],
)
async def test_a_model_without_a_price_is_refused_under_a_limit(
    env: dict[str, str], metered: Metered, model: str, provider: str, key: str
) -> None:
    settings = settings_at(metered.url, budget={"monthlyUsd": 0.01})
    async with session(settings, env) as s:
        await s.command("byok.setKey", {"provider": provider, "key": key})
        refused = await refusal(s, {"messages": HI, "model": model, "maxTokens": 1_000_000})
        assert refused["code"] == "budget_exceeded"
        assert refused["cause"] == f"No price is known for {model}"
        assert f'byok.prices["{model}"]' in refused["fix"]
    assert metered.asked == []
    priced = settings_at(metered.url, budget={"monthlyUsd": 0.01}, prices={model: {"input": 1, "output": 2}})
    async with session(priced, env) as s:
        result = await s.command("byok.chat", {"messages": HI, "model": model, "maxTokens": 100})
        assert result["usage"]["costUsd"] == pytest.approx((6 * 1 + 100 * 2) / 1e6)
    assert metered.asked == [100]


async def test_keyless_servers_on_this_machine_cost_nothing_even_at_a_zero_limit(
    env: dict[str, str], metered: Metered
) -> None:
    settings = settings_at(metered.url, budget={"monthlyUsd": 0})
    async with session(settings, env) as s:
        for model in ("ollama/llama3.2", "team-model"):  # a preset and a custom server, no key for either
            result = await s.command("byok.chat", {"messages": HI, "model": model})
            assert result["usage"]["costUsd"] == 0.0
        await s.command("byok.setKey", {"provider": "gateway", "key": TEST_KEY_COMPAT})
        assert (await refusal(s, {"messages": HI, "model": "team-model"}))["code"] == "budget_exceeded"
    assert metered.asked == [4096, 4096]


# -- invalid prices and budgets ------------------------------------------------------------------------------


async def test_an_invalid_price_entry_drops_only_itself(env: dict[str, str], metered: Metered) -> None:
    prices = {
        "gpt-4o": {"input": 1, "output": 2},
        "broken": {"input": "cheap", "output": 1},
        "negative": {"input": -1, "output": 1},
        "endless": {"input": 1, "output": float("inf")},
    }
    async with session(settings_at(metered.url, prices=prices, budget={"monthlyUsd": 1}), env) as s:
        await store_openai_key(s)
        result = await s.command("byok.chat", {"messages": HI, "model": "gpt-4o", "maxTokens": 100})
        assert result["usage"]["costUsd"] == pytest.approx((6 * 1 + 100 * 2) / 1e6)  # the user's price held
        for field in ("byok.prices.broken.input", "byok.prices.negative.input", "byok.prices.endless.output"):
            assert "this price is ignored" in await shown(s, field)


@pytest.mark.parametrize(
    ("budget", "field"),
    [
        ({"monthlyUsd": 1, "perProvider": {"openai": "two dollars"}}, "byok.budget.perProvider.openai"),
        ({"monthlyUsd": 1, "perProvider": ["openai", 1]}, "byok.budget.perProvider"),
        ({"monthlyUsd": -1}, "byok.budget.monthlyUsd"),
        ({"monthlyUsd": float("inf")}, "byok.budget.monthlyUsd"),
        ({"monthlyUsd": float("nan")}, "byok.budget.monthlyUsd"),
        ({"monthlyUSD": 1}, "byok.budget.monthlyUSD"),
        ("lots", "byok.budget"),
    ],
)
async def test_an_invalid_budget_blocks_paid_requests_and_says_why(
    env: dict[str, str], metered: Metered, budget: Any, field: str
) -> None:
    async with session(settings_at(metered.url, budget=budget), env) as s:
        await store_openai_key(s)
        two_dollars = {"messages": HI, "model": "gpt-4o", "maxTokens": 200_000}
        refused = await refusal(s, two_dollars)
        assert refused["code"] == "budget_invalid"
        assert refused["cause"].startswith(f"{field}: "), refused
        assert "refused until it is fixed" in await shown(s, field)
        # what costs nothing is not blocked
        free = await s.command("byok.chat", {"messages": HI, "model": "ollama/llama3.2"})
        assert free["usage"]["costUsd"] == 0.0
    assert metered.asked == [4096]


# -- a reservation bounds what a request can cost --------------------------------------------------------


async def test_the_output_limit_sent_is_what_the_reservation_covers(
    env: dict[str, str], ledger_path: Path, metered: Metered
) -> None:
    # 16,000 bytes of prompt: byok used to estimate 4,000 tokens; the provider bills 16,000 ($0.04 at
    # gpt-4o's $2.50 per 1M) plus every output token allowed. $0.045 leaves room for ~490 of the 1,000 asked.
    prompt = [{"role": "user", "content": "x = 1\n" * 2_000 + "y" * 4_000}]
    chat = {"messages": prompt, "model": "gpt-4o", "maxTokens": 1_000, "streamId": "b"}
    async with session(settings_at(metered.url, budget={"monthlyUsd": 0.045}), env) as s:
        await store_openai_key(s)
        result = await s.command("byok.chat", chat)
        [asked] = metered.asked
        assert 256 <= asked < 1_000
        statuses = [d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "status"]
        assert any(f"at most {asked} tokens" in text for text in statuses), statuses
        assert result["usage"]["costUsd"] == pytest.approx((16_000 * 2.5 + asked * 10.0) / 1e6)
        refused = await refusal(s, chat)
        assert refused["code"] == "budget_exceeded" and "256-token answer" in refused["message"]
        usage = await s.command("byok.usage", {})
        assert usage["totalUsd"] <= 0.045 and usage["reservedUsd"] == 0.0
    assert metered.asked == [asked]


def start_chat_worker(db: Path, settings: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(WORKER), "chat", str(db), json.dumps(settings), "40000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_four_processes_racing_one_limit_never_spend_past_it(
    env: dict[str, str], tmp_path: Path, metered: Metered
) -> None:
    """Each worker runs real chat turns (byok.runner, the OpenAI adapter over HTTP) until refused. The
    provider bills ~4x byok's input estimate; the reservations still bound the total."""
    db = tmp_path / "race.sqlite3"
    settings = {
        "providers": {"metered": {"kind": "openai-compatible", "baseUrl": f"{metered.url}/v1"}},
        "models": [{"id": "metered-model", "provider": "metered"}],
        "features": {"chat": "metered-model"},
        "prices": {"metered-model": {"input": 2.5, "output": 10.0}},
        "budget": {"monthlyUsd": 1.0},
        "retry": {"maxAttempts": 1},
    }
    workers = [start_chat_worker(db, settings, env) for _ in range(4)]
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        results.append(json.loads(out))
    assert {result["refused"] for result in results} == {"budget_exceeded"}
    accepted = sum(result["accepted"] for result in results)
    with Ledger(db) as ledger:
        summary = ledger.summary()
    assert summary["rows"][0]["requests"] == accepted == len(metered.asked) > 0
    assert summary["reservedUsd"] == 0.0
    assert summary["totalUsd"] <= 1.0 + 1e-9, summary  # (it was $1.80 when reservations used the estimate)


# -- the ledger's own failures ----------------------------------------------------------------------------


async def test_a_held_ledger_lock_is_an_error_with_a_code_not_a_hang(
    env: dict[str, str], ledger_path: Path, metered: Metered
) -> None:
    Ledger(ledger_path).close()
    async with session(settings_at(metered.url), env) as s:
        await store_openai_key(s)
        holder = sqlite3.connect(ledger_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            refused = await refusal(s, {"messages": HI, "model": "gpt-4o"})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert refused["code"] == "ledger_busy" and str(ledger_path) in refused["cause"]
        assert metered.asked == []
        assert (await s.command("byok.chat", {"messages": HI, "model": "gpt-4o"}))["text"] == "ok"


async def test_a_damaged_ledger_is_moved_aside_and_the_user_told(
    env: dict[str, str], ledger_path: Path, metered: Metered
) -> None:
    await asyncio.to_thread(ledger_path.parent.mkdir, parents=True)
    await asyncio.to_thread(ledger_path.write_bytes, DAMAGED)
    async with session(settings_at(metered.url, budget={"monthlyUsd": 1}), env) as s:
        await store_openai_key(s)
        refused = await refusal(s, {"messages": HI, "model": "gpt-4o"})
        assert refused["code"] == "ledger_corrupt"
        moved = Path(refused["movedTo"])
        assert await asyncio.to_thread(moved.read_bytes) == DAMAGED
        assert str(moved) in refused["message"] and "Send the request again" in refused["fix"]
        assert metered.asked == []
        assert (await s.command("byok.chat", {"messages": HI, "model": "gpt-4o"}))["text"] == "ok"
        usage = await s.command("byok.usage", {})
        assert usage["rows"][0]["requests"] == 1


async def test_an_unusable_data_directory_is_an_error_with_a_code(
    env: dict[str, str], tmp_path: Path, metered: Metered
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("where the data directory should be")
    async with session(settings_at(metered.url), {**env, "XDG_DATA_HOME": str(blocker)}) as s:
        await store_openai_key(s)
        refused = await refusal(s, {"messages": HI, "model": "gpt-4o"})
        assert refused["code"] == "ledger_unavailable" and str(blocker) in refused["cause"]
        assert (await refusal(s, {}, "byok.usage"))["code"] == "ledger_unavailable"
    assert metered.asked == []
