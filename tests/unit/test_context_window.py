"""run_turn against a model's context window with a thinking budget: the budget is never shrunk to fit;
a window that cannot hold the input, the budget and an answer refuses the request before sending."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TEST_KEY_ANTHROPIC
from tests.fakes import FakeServer, anthropic_stream

from byok.base.config import load_settings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.keys import KeyRoute
from byok.core.session import Backend
from byok.core.turn import Prompt, run_turn
from byok.providers.base import Message


class Quiet:
    def __init__(self) -> None:
        self.statuses: list[str] = []

    def delta(self, kind: str, text: str) -> None:
        if kind == "status":
            self.statuses.append(text)


async def turn(fake: FakeServer, tmp_path: Path, text: str) -> tuple[Quiet, Exception | None]:
    settings, problems = load_settings(
        {
            "providers": {"anthropic": {"baseUrl": fake.url}},
            "models": [
                {
                    "id": "thinker",
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "contextWindow": 10000,
                    "reasoning": {"budgetTokens": 8192},
                }
            ],
        }
    )
    assert not problems
    backend = Backend(settings, ledger_path=tmp_path / "ledger.db")
    backend.keys.store("anthropic", TEST_KEY_ANTHROPIC, KeyRoute(fake.url))
    sink = Quiet()
    try:
        routes = await backend.routes("chat", None)
        await run_turn(
            backend, routes, Prompt([Message("user", text)], max_tokens=1000), sink, feature="chat"
        )
    except ByokError as exc:
        return sink, exc
    finally:
        await backend.aclose()
    return sink, None


async def test_room_for_the_budget_and_an_answer_is_sent_clamped(
    fake: FakeServer, tmp_path: Path, keyring_file: Path
) -> None:
    fake.route("POST", "/v1/messages", anthropic_stream(["ok"]))
    sink, error = await turn(fake, tmp_path, "x" * 4000)  # ~1,000 tokens: 9,000 left of the window
    assert error is None
    sent = fake.requests[-1].json()
    assert sent["thinking"]["budget_tokens"] == 8192  # never shrunk
    assert 8192 + 256 <= sent["max_tokens"] <= 10000 - 1000
    assert any("10,000-token context window leaves room" in status for status in sink.statuses)


async def test_no_room_for_the_budget_is_refused_before_sending(
    fake: FakeServer, tmp_path: Path, keyring_file: Path
) -> None:
    fake.route("POST", "/v1/messages", anthropic_stream(["ok"]))
    _, error = await turn(fake, tmp_path, "x" * 8000)  # ~2,000 tokens: 8,000 left, under 8,192 + 256
    assert isinstance(error, ByokError) and error.code == ErrorCode.CONTEXT_TOO_LARGE
    assert "8,192-token thinking budget" in error.message
    assert "the setting byok.models[0].contextWindow" in error.message
    assert fake.requests == []
