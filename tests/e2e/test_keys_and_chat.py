"""End to end over stdio: keys, verify, streamed chat on each provider family, errors, cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.conftest import (
    TEST_KEY_ANTHROPIC,
    TEST_KEY_AZURE,
    TEST_KEY_GOOGLE,
    TEST_KEY_OPENAI,
)
from tests.e2e.harness import byok_error, lsp_session
from tests.fakes import (
    FakeServer,
    anthropic_models,
    anthropic_stream,
    azure_stream,
    gemini_bad_key,
    gemini_models,
    gemini_stream,
    openai_bad_key,
    openai_error,
    openai_models,
    openai_stream,
)

USER = [{"role": "user", "content": "Say hi"}]


def settings_for(fake: FakeServer, **extra: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"baseUrl": f"{fake.url}/v1"},
            "anthropic": {"baseUrl": fake.url},
            "google": {"baseUrl": fake.url},
            "azure": {
                "endpoint": f"{fake.url}/openai/deployments/dep1/chat/completions?api-version=2024-10-21"
            },
            "local": {"kind": "openai-compatible", "baseUrl": f"{fake.url}/v1"},
        },
        "models": [{"id": "local-model", "provider": "local"}, {"id": "azure-4o", "provider": "azure"}],
        **extra,
    }


async def test_set_list_verify_delete_key(fake: FakeServer, server_env: dict[str, str]) -> None:
    fake.route("GET", "/v1/models", openai_models(["gpt-4.1-mini", "gpt-4o"]))
    async with lsp_session(settings_for(fake), server_env) as s:
        stored = await s.command("byok.setKey", {"provider": "openai", "key": f"  {TEST_KEY_OPENAI}\n"})
        listed = {"provider": "openai", "fingerprint": "sk-proj-…1b2c", "source": "keyring"}
        route = {"endpoint": fake.url, "proxy": None, "caBundle": None}
        assert stored == {**listed, "route": route, "default": "https://api.openai.com"}
        assert await s.command("byok.listKeys") == [listed]
        verified = await s.command("byok.verifyKey", {"provider": "openai"})
        assert verified["ok"] is True and verified["models"] == ["gpt-4.1-mini", "gpt-4o"]
        assert verified["fingerprint"] == "sk-proj-…1b2c" and verified["latencyMs"] >= 0
        assert fake.requests[-1].headers["authorization"] == f"Bearer {TEST_KEY_OPENAI}"
        models = await s.command("byok.listModels")
        assert {
            "id": "gpt-4o",
            "provider": "openai",
            "features": ["chat", "composer", "agent", "inlineEdit"],
            "builtin": False,
            "contextWindow": 128000,
            "contextWindowSource": "byok's shipped model table",
            "maxOutputTokens": 16384,
            "hasKey": True,
        } in models
        assert {
            "id": "builtin-tab",
            "provider": "builtin",
            "features": ["tab"],
            "builtin": True,
            "contextWindow": None,
            "contextWindowSource": None,
            "maxOutputTokens": None,
            "hasKey": True,
        } in models
        assert await s.command("byok.deleteKey", {"provider": "openai"}) == {
            "provider": "openai",
            "deleted": True,
        }
        assert await s.command("byok.deleteKey", {"provider": "openai"}) == {
            "provider": "openai",
            "deleted": False,
        }
        assert await s.command("byok.listKeys") == []
        assert TEST_KEY_OPENAI not in s.everything()


async def test_key_for_another_provider_is_refused(fake: FakeServer, server_env: dict[str, str]) -> None:
    async with lsp_session(settings_for(fake), server_env) as s:
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_ANTHROPIC})
        data = byok_error(caught.value)
        assert data["code"] == "key_rejected" and "Anthropic" in data["message"]
        assert await s.command("byok.listKeys") == []
        assert TEST_KEY_ANTHROPIC not in s.everything()


async def test_verify_bad_key_reports_cause_and_fix(fake: FakeServer, server_env: dict[str, str]) -> None:
    fake.route("GET", "/v1/models", openai_bad_key())
    fake.route("GET", "/v1beta/models", gemini_bad_key())
    async with lsp_session(settings_for(fake), server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        await s.command("byok.setKey", {"provider": "google", "key": TEST_KEY_GOOGLE})
        for provider in ("openai", "google"):
            result = await s.command("byok.verifyKey", {"provider": provider})
            assert result["ok"] is False
            assert result["error"]["code"] == "invalid_key", result
            assert result["error"]["fix"]
        missing = await s.command("byok.verifyKey", {"provider": "anthropic"})
        assert missing["error"]["code"] == "key_missing"
        assert "byok keys set anthropic" in missing["error"]["fix"]
        assert "ANTHROPIC_API_KEY" in missing["error"]["fix"]


@pytest.mark.parametrize(
    ("provider", "key", "model", "route"),
    [
        ("openai", TEST_KEY_OPENAI, "gpt-4.1-mini", ("POST", "/v1/chat/completions")),
        ("anthropic", TEST_KEY_ANTHROPIC, "claude-sonnet-4-5", ("POST", "/v1/messages")),
        (
            "google",
            TEST_KEY_GOOGLE,
            "gemini-2.5-flash",
            ("POST", r"/v1beta/models/gemini-2\.5-flash:streamGenerateContent"),
        ),
        ("azure", TEST_KEY_AZURE, "azure-4o", ("POST", "/openai/deployments/dep1/chat/completions")),
        ("local", None, "local-model", ("POST", "/v1/chat/completions")),
    ],
)
async def test_streamed_chat_on_each_family(
    fake: FakeServer,
    server_env: dict[str, str],
    provider: str,
    key: str | None,
    model: str,
    route: tuple[str, str],
) -> None:
    texts = ["Hel", "lo ", "there", "!"]
    builders = {
        "openai": openai_stream(texts, usage=(11, 4)),
        "anthropic": anthropic_stream(texts, usage=(11, 4)),
        "google": gemini_stream(texts, usage=(11, 4)),
        "azure": azure_stream(texts, usage=(11, 4)),
        "local": openai_stream(texts, usage=(11, 4)),
    }
    fake.route(route[0], route[1], builders[provider])
    async with lsp_session(settings_for(fake), server_env) as s:
        if key:
            await s.command("byok.setKey", {"provider": provider, "key": key})
        result = await s.command("byok.chat", {"messages": USER, "model": model, "streamId": "s1"})
        assert result["text"] == "Hello there!"
        assert result["provider"] == provider and result["model"] == model
        assert result["finishReason"] == "stop"
        # a keyless server on loopback costs $0; a model without a price (the Azure deployment) is unknown
        expected_cost = {"openai": 1.08e-5, "anthropic": 9.3e-5, "google": 1.33e-5, "local": 0.0}.get(
            provider
        )
        assert result["usage"] == {
            "inputTokens": 11,
            "outputTokens": 4,
            "cacheReadTokens": 0,
            "cacheWriteTokens": 0,
            "reasoningTokens": 0,
            "estimated": False,
            "costUsd": pytest.approx(expected_cost) if expected_cost is not None else None,
            "savedUsd": 0.0 if expected_cost is not None else None,
        }
        assert s.text_of("s1") == "Hello there!"
        assert result["codeBlocks"] == []
        request = fake.requests[-1]
        if provider == "azure":
            assert request.query["api-version"] == "2024-10-21"
            assert request.headers["api-key"] == TEST_KEY_AZURE
        if provider == "anthropic":
            assert request.headers["x-api-key"] == TEST_KEY_ANTHROPIC
            assert request.headers["anthropic-version"] == "2023-06-01"
        if provider == "google":
            assert request.headers["x-goog-api-key"] == TEST_KEY_GOOGLE
            assert request.json()["contents"] == [{"role": "user", "parts": [{"text": "Say hi"}]}]
        if key:
            assert key not in s.everything()


async def test_chat_results_list_the_code_blocks_and_the_files_they_name(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    answer = "Change it:\n\n### src/app.py\n```python\nx = 2\n```\n\nThen run:\n```bash\npytest\n```\n"
    fake.route("POST", "/v1/chat/completions", openai_stream([answer[:30], answer[30:]]))
    async with lsp_session(settings_for(fake), server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command("byok.chat", {"messages": USER, "model": "gpt-4o"})
    assert result["codeBlocks"] == [
        {"language": "python", "path": "src/app.py", "code": "x = 2\n"},
        {"language": "bash", "code": "pytest\n"},
    ]


async def test_cancel_closes_upstream_connection(fake: FakeServer, server_env: dict[str, str]) -> None:
    slow = openai_stream(["first "] + ["more "] * 50, usage=(5, 51), delay_between=0.2)
    fake.route("POST", "/v1/chat/completions", slow)
    async with lsp_session(settings_for(fake), server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        params = types.ExecuteCommandParams(
            command="byok.chat", arguments=[{"messages": USER, "model": "gpt-4o", "streamId": "c"}]
        )
        task = asyncio.ensure_future(
            s.client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="chat-1")
        )
        for _ in range(100):
            if s.text_of("c"):
                break
            await asyncio.sleep(0.05)
        assert s.text_of("c").startswith("first")
        s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="chat-1"))
        with pytest.raises(JsonRpcException) as caught:
            await task
        assert caught.value.code == -32800
        assert await asyncio.to_thread(fake.wait_disconnect, 5.0)
        # The server is still fine afterwards.
        assert (await s.command("byok.status"))["features"]["tab"]["model"] == "builtin-tab"


async def test_timeout_before_first_byte(fake: FakeServer, server_env: dict[str, str]) -> None:
    stalled = openai_stream(["late"]).with_stall(0, 5.0)
    fake.route("POST", "/v1/chat/completions", stalled)
    settings = settings_for(fake, timeouts={"firstByteS": 0.5})
    async with lsp_session(settings, server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", {"messages": USER, "model": "gpt-4o"})
        data = byok_error(caught.value)
        assert data["code"] == "timeout"


async def test_key_not_sent_to_a_changed_endpoint(server_env: dict[str, str]) -> None:
    with FakeServer() as first, FakeServer() as second:
        first.route("GET", "/v1/models", openai_models(["gpt-4o"]))
        second.route("GET", "/v1/models", openai_models(["gpt-4o"]))
        async with lsp_session(settings_for(first), server_env) as s:
            await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        async with lsp_session(settings_for(second), server_env) as s:
            result = await s.command("byok.verifyKey", {"provider": "openai"})
            assert result["ok"] is False and result["error"]["code"] == "key_endpoint_mismatch"
            assert "byok keys bind openai" in result["error"]["fix"]
            assert f"endpoint changed from {first.url} to {second.url}" in result["error"]["message"]
            assert second.requests == []


async def test_insecure_endpoint_refused(server_env: dict[str, str]) -> None:
    settings = {"providers": {"openai": {"baseUrl": "http://api.example.com/v1"}}}
    async with lsp_session(settings, server_env) as s:
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        assert byok_error(caught.value)["code"] == "insecure_endpoint"


async def test_invalid_params_and_server_survives(fake: FakeServer, server_env: dict[str, str]) -> None:
    async with lsp_session(settings_for(fake), server_env) as s:
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", {"messages": "nope"})
        assert caught.value.code == -32602 and "messages" in caught.value.message
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.setKey", raw_args=["openai", "k"])
        assert caught.value.code == -32602
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.verifyKey", {"provider": "nosuch"})
        assert byok_error(caught.value)["code"] == "unknown_provider"
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", {"messages": [{"role": "user", "content": "x" * 5_000_000}]})
        assert caught.value.code == -32602
        assert (await s.command("byok.status"))["version"]


async def test_models_anthropic_and_gemini_verify(fake: FakeServer, server_env: dict[str, str]) -> None:
    fake.route("GET", "/v1/models", anthropic_models(["claude-sonnet-4-5", "claude-haiku-4-5"]))
    fake.route("GET", "/v1beta/models", gemini_models(["gemini-2.5-flash", "gemini-2.5-pro"]))
    async with lsp_session(settings_for(fake), server_env) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        await s.command("byok.setKey", {"provider": "google", "key": TEST_KEY_GOOGLE})
        anthropic = await s.command("byok.verifyKey", {"provider": "anthropic"})
        google = await s.command("byok.verifyKey", {"provider": "google"})
        assert anthropic["models"] == ["claude-haiku-4-5", "claude-sonnet-4-5"]
        assert google["ok"] and "gemini-2.5-flash" in google["models"]


@pytest.mark.filterwarnings("ignore:Unknown progress token")  # pytest-lsp only knows tokens it created itself
async def test_work_done_progress_follows_the_request_token(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    fake.route(
        "POST",
        "/v1/chat/completions",
        openai_error(429, "slow down", "requests", None, retry_after=0.1),
        openai_stream(["ok"]),
    )
    async with lsp_session(settings_for(fake), server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="byok.chat",
                arguments=[{"messages": USER, "model": "gpt-4o"}],
                work_done_token="chat-progress",
            )
        )
        assert result["text"] == "ok"
        for _ in range(50):
            reports = s.client.progress_reports.get("chat-progress", [])
            if reports and isinstance(reports[-1], types.WorkDoneProgressEnd):
                break
            await asyncio.sleep(0.05)
        kinds = [type(r).__name__ for r in reports]
        assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
        assert any(
            isinstance(r, types.WorkDoneProgressReport) and "retrying" in (r.message or "") for r in reports
        )


async def test_model_not_found_lists_the_models_the_key_can_see(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    fake.route(
        "POST",
        "/v1/chat/completions",
        openai_error(
            404,
            "The model `gpt-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
    )
    fake.route("GET", "/v1/models", openai_models(["gpt-4.1-mini", "gpt-4o"]))
    async with lsp_session(settings_for(fake), server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", {"messages": USER, "model": "gpt-9"})
        data = byok_error(caught.value)
        assert data["code"] == "model_not_found" and data["status"] == 404
        assert data["models"] == ["gpt-4.1-mini", "gpt-4o"] and data["model"] == "gpt-9"
