"""Context windows and output limits learnt at verify time from each family's own endpoints (loopback fakes)."""

from __future__ import annotations

import httpx
import pytest
from tests.fakes import FakeServer, anthropic_models, gemini_models, json_reply, openai_models
from tests.fakes.local_servers import (
    fake_ollama,
    llamacpp_models,
    llamacpp_props,
    lmstudio_v0_models,
    lmstudio_v1_models,
    model_list,
    ollama_show,
    openrouter_models,
    vllm_models,
)

from byok.providers.anthropic import AnthropicProvider
from byok.providers.base import ModelInfo
from byok.providers.google import GeminiProvider
from byok.providers.openai import OpenAIProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")


def compatible(fake: FakeServer, client: httpx.AsyncClient, provider_id: str = "local") -> OpenAIProvider:
    return OpenAIProvider(provider_id, f"{fake.url}/v1", None, client, compatible=True)


def paths(fake: FakeServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in fake.requests]


# -- hosted lists that carry their limits: one call ------------------------------------------------------


async def test_openrouter_list_gives_window_and_max_completion(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route("GET", "/v1/models", openrouter_models({"anthropic/claude-sonnet-4.5": (1000000, 64000)}))
    models = await compatible(fake, client, "openrouter").verify()
    assert models == [ModelInfo("anthropic/claude-sonnet-4.5", 1000000, 64000, f"GET {fake.url}/v1/models")]
    assert paths(fake) == ["GET /v1/models"]


async def test_vllm_max_model_len(fake: FakeServer, client: httpx.AsyncClient) -> None:
    fake.route("GET", "/v1/models", vllm_models("Qwen/Qwen2.5-Coder-7B", 32768))
    [model] = await compatible(fake, client, "vllm").verify()
    assert (model.context_window, model.max_output_tokens) == (32768, None)
    assert paths(fake) == ["GET /v1/models"]


# -- llama.cpp -------------------------------------------------------------------------------------------


async def test_llamacpp_props_gives_one_slots_context(fake: FakeServer, client: httpx.AsyncClient) -> None:
    fake.route("GET", "/v1/models", llamacpp_models("smollm2.gguf", n_ctx_train=8192))
    fake.route("GET", "/props", llamacpp_props(n_ctx=2048, total_slots=4))
    [model] = await compatible(fake, client).verify()
    assert model == ModelInfo("smollm2.gguf", 2048, None, f"GET {fake.url}/props")
    assert paths(fake) == ["GET /v1/models", "GET /props"]


async def test_llamacpp_old_props_context_is_shared_by_its_slots(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route("GET", "/v1/models", llamacpp_models("m.gguf", n_ctx_train=8192))
    fake.route("GET", "/props", json_reply(200, {"n_ctx": 8192, "total_slots": 4}))
    [model] = await compatible(fake, client).verify()
    assert model.context_window == 2048


async def test_llamacpp_without_props_falls_back_to_models_meta(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    """`--no-props`-like servers (404): verify still succeeds, with the slot context its list gives."""
    fake.route("GET", "/v1/models", llamacpp_models("m.gguf", n_ctx_train=8192, n_ctx=4096))
    [model] = await compatible(fake, client).verify()
    assert (model.id, model.context_window, model.source) == ("m.gguf", 4096, f"GET {fake.url}/v1/models")


async def test_training_context_is_never_taken_for_the_window(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route("GET", "/v1/models", llamacpp_models("m.gguf", n_ctx_train=8192))
    [model] = await compatible(fake, client).verify()
    assert model == ModelInfo("m.gguf")


# -- LM Studio -------------------------------------------------------------------------------------------


async def test_lmstudio_v1_loaded_context_beats_the_maximum(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route("GET", "/v1/models", model_list(["qwen2.5-7b", "gemma-3-4b"], "organization_owner"))
    fake.route(
        "GET",
        "/api/v1/models",
        lmstudio_v1_models({"qwen2.5-7b": (32768, 8192), "gemma-3-4b": (131072, None)}),
    )
    models = {m.id: m for m in await compatible(fake, client).verify()}
    assert models["qwen2.5-7b"].context_window == 8192
    assert models["gemma-3-4b"].context_window == 131072
    assert models["gemma-3-4b"].source == f"GET {fake.url}/api/v1/models"
    assert paths(fake) == ["GET /v1/models", "GET /api/v1/models"]


async def test_lmstudio_before_0_4_uses_api_v0(fake: FakeServer, client: httpx.AsyncClient) -> None:
    fake.route("GET", "/v1/models", model_list(["qwen2.5-7b"], "organization_owner"))
    fake.route("GET", "/api/v0/models", lmstudio_v0_models({"qwen2.5-7b": 32768}))
    [model] = await compatible(fake, client).verify()
    assert (model.context_window, model.source) == (32768, f"GET {fake.url}/api/v0/models")
    assert paths(fake) == ["GET /v1/models", "GET /api/v1/models", "GET /api/v0/models"]


async def test_lmstudio_without_rest_api_still_verifies(fake: FakeServer, client: httpx.AsyncClient) -> None:
    fake.route("GET", "/v1/models", model_list(["qwen2.5-7b"], "organization_owner"))
    assert await compatible(fake, client, "lmstudio").verify() == [ModelInfo("qwen2.5-7b")]


# -- Ollama ----------------------------------------------------------------------------------------------


async def test_ollama_loaded_then_num_ctx_then_trained_context(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake_ollama(
        fake,
        loaded={"llama3.2:latest": 4096},
        shown={
            "qwen2.5-coder:7b": ollama_show(num_ctx=16384),
            "phi4:latest": ollama_show(architecture="phi3", trained=16000),
        },
    )
    models = {m.id: m for m in await compatible(fake, client, "ollama").verify()}
    assert models["llama3.2:latest"] == ModelInfo("llama3.2:latest", 4096, None, f"GET {fake.url}/api/ps")
    assert models["qwen2.5-coder:7b"] == ModelInfo(
        "qwen2.5-coder:7b", 16384, None, f"POST {fake.url}/api/show"
    )
    assert models["phi4:latest"].context_window == 16000
    shows = [r.json() for r in fake.requests if r.path == "/api/show"]
    assert shows == [{"model": "phi4:latest"}, {"model": "qwen2.5-coder:7b"}]  # the loaded one is not shown


async def test_ollama_show_failing_leaves_the_model_without_limits(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route("GET", "/v1/models", model_list(["llama3.2:latest"], "library"))
    fake.route("GET", "/api/ps", json_reply(200, {"models": []}))
    fake.route("POST", "/api/show", json_reply(500, {"error": "boom"}))
    assert await compatible(fake, client, "ollama").verify() == [ModelInfo("llama3.2:latest")]


async def test_an_unknown_compatible_server_gets_one_call(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route("GET", "/v1/models", openai_models(["m1"]))
    assert await compatible(fake, client, "custom").verify() == [ModelInfo("m1")]
    assert paths(fake) == ["GET /v1/models"]


# -- Gemini and Anthropic model lists ---------------------------------------------------------------------


async def test_gemini_input_and_output_token_limits(fake: FakeServer, client: httpx.AsyncClient) -> None:
    fake.route("GET", "/v1beta/models", gemini_models(["gemini-2.5-flash"]))
    [model] = await GeminiProvider("google", fake.url, "AIzaTESTFAKE", client).verify()
    assert (model.context_window, model.max_output_tokens) == (1048576, 65536)


async def test_anthropic_models_api_limits(fake: FakeServer, client: httpx.AsyncClient) -> None:
    reply = anthropic_models(["claude-sonnet-4-5"])
    payload = reply.body.replace(
        b'"display_name"', b'"max_input_tokens": 200000, "max_tokens": 64000, "display_name"'
    )
    fake.route("GET", "/v1/models", json_reply(200, __import__("json").loads(payload)))
    [model] = await AnthropicProvider("anthropic", fake.url, "sk-ant-TESTFAKE", client).verify()
    assert (model.context_window, model.max_output_tokens) == (200000, 64000)
