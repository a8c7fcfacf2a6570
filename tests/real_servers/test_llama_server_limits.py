"""byok against llama.cpp's own C++ server (llama-server) with SmolLM2: the context window verify learns from
its `/props`, and a request over that window refused before llama.cpp sees it."""

from __future__ import annotations

import httpx
import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.harness import byok_error, lsp_session
from tests.real_servers.conftest import RealServer

pytestmark = pytest.mark.real_servers


def settings(server: RealServer) -> dict[str, object]:
    return {
        "providers": {"llamacpp": {"baseUrl": f"{server.url}/v1"}},
        "models": [{"id": "smollm2", "provider": "llamacpp"}],
    }


async def tokens_processed(server: RealServer) -> float:
    """llama-server's own count of prompt and generated tokens (its Prometheus `/metrics`)."""
    async with httpx.AsyncClient(timeout=10) as http:
        metrics = (await http.get(f"{server.url}/metrics")).text
    counters = (
        "llamacpp:prompt_tokens_total",
        "llamacpp:prompt_tokens_cached_total",
        "llamacpp:tokens_predicted_total",
    )
    return sum(float(line.split()[1]) for line in metrics.splitlines() if line.split(" ")[0] in counters)


async def test_verify_learns_one_slots_context_from_props(
    llama_cpp_server: RealServer, server_env: dict[str, str]
) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        props = (await http.get(f"{llama_cpp_server.url}/props")).json()
    slot_context = props["default_generation_settings"]["n_ctx"]
    assert props["total_slots"] == 2 and 0 < slot_context <= 2048
    async with lsp_session(settings(llama_cpp_server), server_env) as s:
        verified = await s.command("byok.verifyKey", {"provider": "llamacpp"})
        assert verified["ok"] is True, verified
        assert verified["models"] == ["smollm2"]
        [model] = [m for m in await s.command("byok.listModels") if m["id"] == "smollm2"]
    assert model["contextWindow"] == slot_context
    assert model["contextWindowSource"] == f"verify of llamacpp (GET {llama_cpp_server.url}/props)"
    assert model["hasKey"] is True


async def test_a_prompt_over_the_window_never_reaches_llama_cpp(
    llama_cpp_server: RealServer, server_env: dict[str, str]
) -> None:
    async with lsp_session(settings(llama_cpp_server), server_env) as s:
        await s.command("byok.verifyKey", {"provider": "llamacpp"})
        answered = await s.command(
            "byok.chat",
            {"messages": [{"role": "user", "content": "Say hello."}], "maxTokens": 100000, "temperature": 0},
        )
        assert answered["text"] and answered["provider"] == "llamacpp"  # the clamp sent a limit it accepts
        before = await tokens_processed(llama_cpp_server)
        assert before > 0, "llama-server counts the tokens of the request it answered"
        with pytest.raises(JsonRpcException) as caught:
            await s.command("byok.chat", {"messages": [{"role": "user", "content": "bread " * 3000}]})
    data = byok_error(caught.value)
    assert data["code"] == "context_too_large" and "/props" in data["message"]
    assert await tokens_processed(llama_cpp_server) == before  # llama.cpp never saw the refused prompt
