"""End to end over stdio: reasoning settings through the real server — an Anthropic agent with thinking,
the request/feature/model layering, bad values, status, and a thinking budget under a spending limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_OPENAI
from tests.e2e.edits import settings_for
from tests.e2e.harness import Session, byok_error, lsp_session
from tests.fakes import FakeServer, anthropic_stream, openai_stream
from tests.fakes.anthropic import thinking_problems

MESSAGES = ("POST", "/v1/messages")
CHAT = ("POST", "/v1/chat/completions")
USER = [{"role": "user", "content": "hi"}]
SIGNATURE = "EqQBCkYIARgCKkDFAKEsignatureTESTONLY0aaaa/bbbb+cccc=="
REDACTED = "EmwKAhgBEgy3vaTESTredactedFAKEdata0123456789=="
PLAN = "The task needs app.py; read it first."


def posts(fake: FakeServer) -> list[dict[str, Any]]:
    return [r.json() for r in fake.requests if r.method == "POST"]


def kinds(s: Session, kind: str) -> list[str]:
    return [d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == kind]


async def test_anthropic_agent_with_thinking_carries_its_blocks_across_turns(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text("print('hi')\n")
    returned = [
        {"type": "thinking", "thinking": PLAN, "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": REDACTED},
    ]
    fake.route(
        *MESSAGES,
        anthropic_stream(
            ["Reading."],
            thinking=[(PLAN, SIGNATURE), REDACTED],
            tool_uses=[("toolu_1", "read_file", {"path": "app.py"})],
            usage=(900, 3000),
        ),
        anthropic_stream(["It prints hi."], thinking=[("Seen it.", SIGNATURE + "2")], usage=(1200, 400)),
    )
    settings = settings_for(
        fake,
        models=[
            {"id": "claude", "provider": "anthropic", "model": "claude-sonnet-4-5", "maxOutputTokens": 64000}
        ],
        features={"agent": {"model": "claude", "reasoning": {"effort": "medium"}}},
    )
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        status = await s.command("byok.status", {})
        assert status["features"]["agent"]["reasoning"] == {
            "effort": "medium",
            "budgetTokens": 8192,
            "summary": False,
        }
        assert status["features"]["chat"]["reasoning"] is None
        result = await s.command(
            "byok.agent", {"task": "What does app.py do?", "streamId": "t", "maxSteps": 3}
        )
        assert result["stopReason"] == "done" and result["summary"] == "It prints hi."
        assert result["steps"][0]["reasoning"] == PLAN and result["steps"][1]["reasoning"] == "Seen it."
        assert "".join(kinds(s, "reasoning")) == PLAN + "Seen it."
        first, second = posts(fake)
        assert first["thinking"] == {"type": "enabled", "budget_tokens": 8192}
        assert first["max_tokens"] == 8192 + 4096, "the budget plus the answer's limit"
        assert second["messages"][1]["content"][:2] == returned
        assert thinking_problems(first, []) == [] and thinking_problems(second, [returned]) == []
        assert first["system"] == second["system"]


async def test_request_beats_feature_beats_model_and_bad_values_send_nothing(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    fake.route(*CHAT, openai_stream(["ok"]))
    settings = settings_for(
        fake,
        models=[{"id": "o3", "provider": "openai", "reasoning": {"effort": "low"}}],
        features={"chat": "o3", "composer": {"model": "o3", "reasoning": {"effort": "medium"}}},
    )
    async with lsp_session(settings, server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        await s.command("byok.chat", {"messages": USER})
        await s.command("byok.chat", {"messages": USER, "reasoning": {"effort": "high"}})
        await s.command("byok.chat", {"messages": USER, "reasoning": {"effort": "minimal"}, "streamId": "m"})
        assert [body["reasoning_effort"] for body in posts(fake)] == ["low", "high", "low"]
        assert any("o3 takes low, medium, high; sent low" in text for text in kinds(s, "status"))
        status = await s.command("byok.status", {})
        assert status["features"]["chat"]["reasoning"]["effort"] == "low"
        assert status["features"]["composer"]["reasoning"]["effort"] == "medium"
        sent = len(fake.requests)
        for bad, field in [
            ({"effort": "extreme"}, "reasoning.effort"),
            ({"effrt": "high"}, "reasoning.effrt"),
            ({"budgetTokens": 0}, "reasoning.budgetTokens"),
            ("high", "reasoning"),
        ]:
            with pytest.raises(JsonRpcException) as caught:
                await s.command("byok.chat", {"messages": USER, "reasoning": bad})
            assert caught.value.code == -32602
            assert caught.value.data["fields"][0]["field"] == field, caught.value.data
        for command, params in [
            ("byok.agent", {"task": "x"}),
            ("byok.composer", {"instruction": "x"}),
            ("byok.inlineEdit", {"uri": "file:///x.py", "range": _range(), "instruction": "x"}),
        ]:
            with pytest.raises(JsonRpcException) as caught:
                await s.command(command, {**params, "reasoning": {"effort": "loud"}})
            assert caught.value.code == -32602 and "reasoning.effort" in caught.value.message
        assert len(fake.requests) == sent, "nothing is sent for a bad value"
        assert (await s.command("byok.chat", {"messages": USER}))["text"] == "ok", "the server stays up"


def _range() -> dict[str, Any]:
    return {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}


async def test_a_thinking_budget_the_limit_cannot_cover_is_refused_not_shrunk(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    # claude-sonnet-4-5 output is $15 per 1M tokens: a 24576-token budget alone is about $0.37.
    fake.route(*MESSAGES, anthropic_stream(["ok"], usage=(10, 300)))
    settings = settings_for(fake, budget={"monthlyUsd": 0.1})
    async with lsp_session(settings, server_env) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        chat = {"messages": USER, "model": "claude-sonnet-4-5", "maxTokens": 1000}
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", {**chat, "reasoning": {"effort": "high"}})
        error = byok_error(caught.value)
        assert error["code"] == "budget_exceeded"
        assert "24576-token thinking budget" in error["message"] and "reasoning.effort" in error["fix"]
        assert posts(fake) == []
        result = await s.command("byok.chat", {**chat, "reasoning": {"effort": "low"}})
        assert result["text"] == "ok"
        [body] = posts(fake)
        assert body["thinking"]["budget_tokens"] == 2048 and body["max_tokens"] == 3048
