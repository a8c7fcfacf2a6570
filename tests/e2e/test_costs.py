"""End to end: the ledger, the spending limit, retries, fallbacks and the usage report."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_OPENAI
from tests.e2e.harness import Session, byok_error, lsp_session
from tests.e2e.test_keys_and_chat import USER, settings_for
from tests.fakes import FakeServer, anthropic_stream, openai_bad_key, openai_error, openai_stream


async def _keys(s: Session) -> None:
    await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
    await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})


async def test_budget_refuses_before_sending(fake: FakeServer, server_env: dict[str, str]) -> None:
    fake.route("POST", "/v1/chat/completions", openai_stream(["never"]))
    async with lsp_session(settings_for(fake, budget={"monthlyUsd": 0.0001}), server_env) as s:
        await _keys(s)
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", {"messages": USER, "model": "gpt-4o"})
        data = byok_error(caught.value)
        assert data["code"] == "budget_exceeded"
        assert "$0.0001" in data["cause"] or "0.0001" in data["cause"]
        assert "Raise the limit or wait until the 1st" in data["fix"] or "1st" in data["fix"]
        assert [r for r in fake.requests if r.method == "POST"] == []


async def test_spend_warning_then_limit(fake: FakeServer, server_env: dict[str, str]) -> None:
    # gpt-4.1-mini: $0.4 / $1.6 per 1M. The reservation is 38 input tokens (6 bytes + framing) and 100
    # output tokens: $0.0001752, within $0.0002; the provider bills 20 + 100 tokens: $0.000168, 84 %.
    fake.route("POST", "/v1/chat/completions", openai_stream(["ok"], usage=(20, 100)))
    settings = settings_for(fake, budget={"monthlyUsd": 0.0002})
    chat = {"messages": USER, "model": "gpt-4.1-mini", "maxTokens": 100}
    async with lsp_session(settings, server_env) as s:
        await _keys(s)
        first = await s.command("byok.chat", chat)
        assert first["usage"]["costUsd"] == pytest.approx(1.68e-4)
        assert fake.requests[-1].json()["max_tokens"] == 100
        for _ in range(50):
            if s.client.messages:
                break
            await asyncio.sleep(0.05)
        warnings = [m.message for m in s.client.messages if m.type == types.MessageType.Warning]
        assert any("of your monthly byok limit" in w for w in warnings), warnings
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", chat)
        assert byok_error(caught.value)["code"] == "budget_exceeded"
        usage = await s.command("byok.usage", {"groupBy": "model"})
        assert usage["budgetUsd"] == 0.0002
        assert usage["rows"][0]["key"] == "gpt-4.1-mini" and usage["rows"][0]["requests"] == 1
        assert usage["totalUsd"] == pytest.approx(1.68e-4)


async def test_retry_after_429_streams_status_and_succeeds(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    fake.route(
        "POST",
        "/v1/chat/completions",
        openai_error(429, "Rate limit reached", "requests", "rate_limit_exceeded", retry_after=0.2),
        openai_stream(["after ", "retry"]),
    )
    async with lsp_session(settings_for(fake), server_env) as s:
        await _keys(s)
        result = await s.command("byok.chat", {"messages": USER, "model": "gpt-4o", "streamId": "r"})
        assert result["text"] == "after retry"
        statuses = [d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "status"]
        assert any("retrying in 0.2 s" in text for text in statuses), statuses
        assert len([r for r in fake.requests if r.method == "POST"]) == 2


async def test_no_retry_on_401(fake: FakeServer, server_env: dict[str, str]) -> None:
    fake.route("POST", "/v1/chat/completions", openai_bad_key())
    async with lsp_session(settings_for(fake), server_env) as s:
        await _keys(s)
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", {"messages": USER, "model": "gpt-4o"})
        assert byok_error(caught.value)["code"] == "invalid_key"
        assert len([r for r in fake.requests if r.method == "POST"]) == 1


async def test_fallback_to_next_model_when_first_is_down(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    fake.route("POST", "/v1/chat/completions", openai_error(503, "overloaded", "server_error", None))
    fake.route("POST", "/v1/messages", anthropic_stream(["from ", "claude"]))
    settings: dict[str, Any] = settings_for(
        fake, features={"chat": ["gpt-4o", "claude-sonnet-4-5"]}, retry={"maxAttempts": 2, "maxWaitS": 1}
    )
    async with lsp_session(settings, server_env) as s:
        await _keys(s)
        result = await s.command("byok.chat", {"messages": USER, "streamId": "f"})
        assert result["text"] == "from claude"
        assert result["model"] == "claude-sonnet-4-5" and result["provider"] == "anthropic"
        assert len([r for r in fake.requests if r.path == "/v1/chat/completions"]) == 2
        statuses = " ".join(d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "status")
        assert "trying claude-sonnet-4-5" in statuses
        status = await s.command("byok.status")
        assert status["features"]["chat"]["fallbacks"] == ["claude-sonnet-4-5"]


async def test_server_stays_responsive_during_a_429_storm(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    fake.route(
        "POST", "/v1/chat/completions", openai_error(429, "slow down", "requests", None, retry_after=1)
    )
    settings = settings_for(fake, retry={"maxAttempts": 3, "maxWaitS": 5})
    async with lsp_session(settings, server_env) as s:
        await _keys(s)
        chats = [
            asyncio.ensure_future(s.command("byok.chat", {"messages": USER, "model": "gpt-4o"}))
            for _ in range(5)
        ]
        await asyncio.sleep(0.3)
        await s.command("byok.status")
        assert not any(chat.done() for chat in chats), "status waited for the retrying chats"
        results = await asyncio.gather(*chats, return_exceptions=True)
        assert all(
            isinstance(r, JsonRpcException) and byok_error(r)["code"] == "rate_limited" for r in results
        )
        usage = await s.command("byok.usage", {"groupBy": "provider"})
        assert usage["rows"][0]["requests"] == 5
