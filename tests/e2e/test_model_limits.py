"""End to end over stdio: model limits in byok.listModels, the context check before anything is sent, the
output clamp, and a keyless user finding a local server (byok.status and `byok status` say which)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.harness import byok_error, lsp_session
from tests.e2e.test_cli import byok, cli_env
from tests.fakes import FakeServer, openai_models, openai_stream, refused_url
from tests.fakes.local_servers import BlackHole, fake_ollama, llamacpp_models, llamacpp_props, ollama_show

CHAT = "/v1/chat/completions"


def llamacpp(fake: FakeServer, n_ctx: int) -> None:
    fake.route("GET", "/v1/models", llamacpp_models("smollm2", n_ctx_train=8192))
    fake.route("GET", "/props", llamacpp_props(n_ctx=n_ctx))
    fake.route("POST", CHAT, openai_stream(["Hi", " there"], usage=(20, 2)))


def local_settings(fake: FakeServer, **model: object) -> dict[str, object]:
    return {
        "providers": {"llama": {"kind": "openai-compatible", "baseUrl": f"{fake.url}/v1"}},
        "models": [{"id": "smollm2", "provider": "llama", **model}],
    }


def chats(fake: FakeServer) -> list[dict[str, object]]:
    return [r.json() for r in fake.requests if r.path == CHAT]


async def test_list_models_carries_limits_and_has_key(fake: FakeServer, server_env: dict[str, str]) -> None:
    fake_ollama(
        fake, loaded={"llama3.2:latest": 8192}, shown={"qwen2.5-coder:7b": ollama_show(num_ctx=32768)}
    )
    settings = {
        "providers": {"ollama": {"baseUrl": f"{fake.url}/v1"}},
        "models": [
            {"id": "gpt-4.1", "provider": "openai"},
            {"id": "tiny", "provider": "ollama", "contextWindow": 999},
        ],
    }
    async with lsp_session(settings, server_env) as s:
        verified = await s.command("byok.verifyKey", {"provider": "ollama"})
        assert verified["ok"] and verified["models"] == ["llama3.2:latest", "qwen2.5-coder:7b"]
        models = {m["id"]: m for m in await s.command("byok.listModels")}
    assert models["llama3.2:latest"] == {
        "id": "llama3.2:latest",
        "provider": "ollama",
        "features": ["chat", "composer", "agent", "inlineEdit"],
        "builtin": False,
        "contextWindow": 8192,
        "contextWindowSource": f"verify of ollama (GET {fake.url}/api/ps)",
        "maxOutputTokens": None,
        "hasKey": True,  # a local server needs no key
    }
    assert models["qwen2.5-coder:7b"]["contextWindow"] == 32768
    assert models["tiny"]["contextWindow"] == 999
    assert models["tiny"]["contextWindowSource"] == "the setting byok.models[1].contextWindow"
    gpt = models["gpt-4.1"]
    assert (gpt["contextWindow"], gpt["maxOutputTokens"], gpt["hasKey"]) == (1047576, 32768, False)
    assert gpt["contextWindowSource"] == "byok's shipped model table"
    assert models["builtin-tab"]["hasKey"] is True


async def test_a_request_over_the_window_is_refused_before_sending(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    llamacpp(fake, n_ctx=512)
    async with lsp_session(local_settings(fake), server_env) as s:
        assert (await s.command("byok.verifyKey", {"provider": "llama"}))["ok"]
        with pytest.raises(JsonRpcException) as caught:
            await s.command(
                "byok.chat", {"messages": [{"role": "user", "content": "word " * 1000}], "model": "smollm2"}
            )
    data = byok_error(caught.value)
    assert data["code"] == "context_too_large"
    assert "512-token context window" in data["message"]
    assert f"verify of llama (GET {fake.url}/props)" in data["message"]
    assert "larger context" in data["fix"]
    assert chats(fake) == []  # nothing was sent


async def test_output_limit_never_exceeds_the_maximum_nor_the_room_left(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    llamacpp(fake, n_ctx=1000)
    async with lsp_session(local_settings(fake), server_env) as s:
        await s.command("byok.verifyKey", {"provider": "llama"})
        await s.command(
            "byok.chat",
            {
                "messages": [{"role": "user", "content": "hi"}],
                "model": "smollm2",
                "maxTokens": 4000,
                "streamId": "w",
            },
        )
        statuses = [d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "status"]
    sent = chats(fake)[-1]["max_tokens"]
    assert isinstance(sent, int) and 900 < sent < 1000  # the window less the input, not the 4000 asked
    assert any("1,000-token context window leaves room" in text for text in statuses)
    async with lsp_session(local_settings(fake, maxOutputTokens=100), server_env) as s:
        await s.command("byok.chat", {"messages": [{"role": "user", "content": "hi"}], "model": "smollm2"})
    assert chats(fake)[-1]["max_tokens"] == 100


async def test_a_keyless_user_gets_the_first_local_server(
    fake: FakeServer, server_env: dict[str, str]
) -> None:
    llamacpp(fake, n_ctx=4096)
    with BlackHole() as hole:
        order = (
            f"ollama={hole.url}/v1,lmstudio={refused_url()}/v1,llamacpp={fake.url}/v1,vllm={refused_url()}/v1"
        )
        async with lsp_session(None, {**server_env, "BYOK_LOCAL_SERVERS": order}) as s:
            assert hole.hung_up == 0  # initialize was answered while discovery was still waiting on it
            status = await s.command("byok.status")
            address = fake.url.removeprefix("http://")
            assert status["localServer"]["summary"] == f"using llama.cpp at {address} (no key needed)"
            assert status["features"]["chat"]["model"] == "smollm2"
            assert status["features"]["chat"]["provider"] == "llamacpp"
            assert hole.wait_hung_up()  # the black hole was given up, not waited on
            models = {m["id"]: m for m in await s.command("byok.listModels")}
            assert models["smollm2"]["contextWindow"] == 4096 and models["smollm2"]["hasKey"] is True
            result = await s.command("byok.chat", {"messages": [{"role": "user", "content": "hello"}]})
    assert result["text"] == "Hi there" and result["provider"] == "llamacpp"
    assert result["usage"]["costUsd"] == 0  # a keyless server on this machine costs nothing
    assert chats(fake)[-1]["max_tokens"] <= 4096


async def test_no_discovery_once_a_model_is_configured(fake: FakeServer, server_env: dict[str, str]) -> None:
    with FakeServer() as ollama:
        ollama.route("GET", "/v1/models", openai_models(["llama3.2:latest"]))
        env = {**server_env, "BYOK_LOCAL_SERVERS": f"ollama={ollama.url}/v1"}
        async with lsp_session(local_settings(fake), env) as s:
            status = await s.command("byok.status")
        assert status["localServer"] is None and status["features"]["chat"]["model"] == "smollm2"
        assert ollama.requests == []


def test_cli_status_names_the_local_server(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    fake.route("GET", "/v1/models", openai_models(["qwen2.5-coder:7b"]))
    env = {**cli_env(server_env, tmp_path, {}), "BYOK_LOCAL_SERVERS": f"ollama={fake.url}/v1"}
    status = byok(env, "status")
    assert status.returncode == 0, status.stderr
    assert f"using Ollama at {fake.url.removeprefix('http://')} (no key needed)" in status.stdout
    assert "qwen2.5-coder:7b" in status.stdout
    models = byok(env, "models")
    assert "context" in models.stdout.splitlines()[0]
