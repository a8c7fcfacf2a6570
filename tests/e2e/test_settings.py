"""Settings arrive in initializationOptions, are re-read on didChangeConfiguration, and never crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from tests.e2e.harness import Session, lsp_session


async def _chat_model(s: Session) -> str | None:
    status = await s.command("byok.status")
    model = status["features"]["chat"]["model"]
    return model if isinstance(model, str) else None


async def test_configuration_change_is_pulled(server_env: dict[str, str]) -> None:
    first = {"models": [{"id": "alpha", "provider": "ollama"}]}
    async with lsp_session(first, server_env) as s:
        assert await _chat_model(s) == "alpha"
        s.client.set_configuration(
            {"models": [{"id": "beta", "provider": "ollama"}], "features": {"inlineEdit": "beta"}},
            section="byok",
        )
        s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        for _ in range(100):
            if await _chat_model(s) == "beta":
                break
            await asyncio.sleep(0.05)
        assert await _chat_model(s) == "beta"
        assert (await s.command("byok.status"))["features"]["inlineEdit"]["model"] == "beta"


async def test_settings_pushed_without_configuration_capability(server_env: dict[str, str]) -> None:
    async with lsp_session(
        {"models": [{"id": "alpha", "provider": "ollama"}]}, server_env, configuration=False
    ) as s:
        s.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"byok": {"models": [{"id": "gamma", "provider": "vllm"}]}}
            )
        )
        for _ in range(100):
            if await _chat_model(s) == "gamma":
                break
            await asyncio.sleep(0.05)
        assert await _chat_model(s) == "gamma"


async def test_invalid_settings_are_shown_and_defaults_used(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    bad = {
        "timeouts": {"connectS": -1},
        "models": [{"id": "ok", "provider": "ollama"}],
        "providers": {"openai": {"headers": {"Authorization": "Bearer nope"}}},
        "budget": "lots",
    }
    async with lsp_session(bad, server_env) as s:
        assert await _chat_model(s) == "ok"
        for _ in range(100):
            if s.client.messages:
                break
            await asyncio.sleep(0.05)
        shown = " ".join(m.message for m in s.client.messages)
        assert "invalid" in shown and "defaults" in shown
        logged = " ".join(m.message for m in s.client.log_messages)
        assert "byok.timeouts.connectS" in logged and "byok.budget" in logged
        assert "keys are never a setting" in logged
