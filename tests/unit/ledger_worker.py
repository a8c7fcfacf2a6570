"""A separate process that uses the usage ledger, for the multi-process tests in test_usage.py.

    ledger_worker.py race DB LIMIT_USD WORST_USD   reserve+settle until refused; prints {"accepted": n}
    ledger_worker.py write DB COUNT                 COUNT reserve+settle pairs, no limit; prints {"ids": [...]}
    ledger_worker.py stream DB TOKENS               reserve, record TOKENS streamed, then block until killed
    ledger_worker.py chat DB SETTINGS_JSON PROMPT_BYTES
                                                    real chat turns (byok.core.turn over HTTP) until refused;
                                                    prints {"accepted": n, "refused": code}

Each mode prints "ready" and waits for a line on stdin before it starts, so the parent can release all
workers at once.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from byok.base.config import BudgetSettings, load_settings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.ledger import Ledger
from byok.core.prices import Price, Quote
from byok.core.session import Backend
from byok.core.turn import Prompt, run_turn
from byok.providers.base import Message


class _Quiet:
    def delta(self, kind: str, text: str) -> None:
        """Live output goes nowhere."""


async def chat_until_refused(db: Path, raw_settings: str, prompt_bytes: int) -> dict[str, object]:
    settings, problems = load_settings(json.loads(raw_settings))
    assert not problems, problems
    backend = Backend(settings, ledger_path=db)
    request = Prompt([Message("user", "x" * prompt_bytes)], max_tokens=4096)
    accepted = 0
    try:
        while True:
            routes = await backend.routes("chat", None)
            try:
                await run_turn(backend, routes, request, _Quiet(), feature="chat")
            except ByokError as exc:
                return {"accepted": accepted, "refused": exc.code.value}
            accepted += 1
    finally:
        await backend.aclose()


def main(mode: str, db: str, *args: str) -> None:
    if mode == "chat":
        print("ready", flush=True)
        sys.stdin.readline()
        print(json.dumps(asyncio.run(chat_until_refused(Path(db), args[0], int(args[1])))), flush=True)
        return
    ledger = Ledger(Path(db))
    print("ready", flush=True)
    sys.stdin.readline()
    if mode == "race":
        limit, worst = float(args[0]), float(args[1])
        budget = BudgetSettings(monthly_usd=limit)
        accepted = 0
        while True:
            try:
                reservation = ledger.reserve(
                    provider="openai", model="gpt-4o", feature="chat", quote=Quote(worst), budget=budget
                )
            except ByokError as exc:
                assert exc.code == ErrorCode.BUDGET_EXCEEDED
                break
            accepted += 1
            ledger.settle(
                reservation,
                input_tokens=100,
                output_tokens=10,
                estimated=False,
                cost_usd=worst,
                outcome="ok",
                request_id=f"req-{accepted}",
            )
        print(json.dumps({"accepted": accepted}), flush=True)
    elif mode == "write":
        ids = []
        for index in range(int(args[0])):
            reservation = ledger.reserve(
                provider="anthropic",
                model="claude",
                feature="agent",
                quote=Quote(0.01),
                budget=BudgetSettings(),
            )
            ledger.settle(
                reservation,
                input_tokens=1,
                output_tokens=1,
                estimated=False,
                cost_usd=0.001,
                outcome="ok",
                request_id=str(index),
            )
            ids.append(reservation.id)
        print(json.dumps({"ids": ids}), flush=True)
    elif mode == "stream":
        tokens = int(args[0])
        reservation = ledger.reserve(
            provider="anthropic",
            model="claude-sonnet-4-5",
            feature="chat",
            quote=Quote(1.0),
            budget=BudgetSettings(),
            price=Price(3.0, 15.0),
            input_tokens_estimate=1000,
        )
        for streamed in range(10, tokens + 1, 10):
            ledger.update_progress(reservation, output_tokens_estimate=streamed)
        print(json.dumps({"id": reservation.id}), flush=True)
        sys.stdin.readline()  # "streaming" until the parent kills us


if __name__ == "__main__":
    main(*sys.argv[1:])
