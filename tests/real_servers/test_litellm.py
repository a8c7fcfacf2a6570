"""byok's `openai`, `azure` and `google` adapters against a real multi-format proxy: LiteLLM 1.106.2.

LiteLLM serves one set of `mock_response` models on three wire formats (see conftest.LITELLM_CONFIG):
- OpenAI:  POST /v1/chat/completions, GET /v1/models
- Azure:   POST /openai/deployments/{deployment}/chat/completions?api-version=... (`api-key` header)
- Gemini:  POST /v1beta/models/{model}:streamGenerateContent?alt=sse (`x-goog-api-key` header); LiteLLM
           turns it into a chat completion and streams Gemini-shaped chunks back.
- Responses: POST /v1/responses for `smollm2`, a real model (llama.cpp's server with SmolLM2) behind the
           proxy: LiteLLM's own Responses event stream over that server's chat completions.
What LiteLLM 1.106.2 does NOT serve, read from its source (litellm/proxy/google_endpoints/endpoints.py
registers only :generateContent, :streamGenerateContent, :countTokens and the interactions routes):
GET /v1beta/models, so byok's Gemini `verifyKey` gets a 404 there.

Its master key (fresh per run) is the "provider key" for all three adapters.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.e2e.harness import Session, byok_error, lsp_session
from tests.real_servers.conftest import MOCK_TEXT, RealServer

pytestmark = pytest.mark.real_servers

USER = [{"role": "user", "content": "Say hi"}]
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hi"},
    {"role": "assistant", "content": "Hi!"},
    {"role": "user", "content": "Again, please."},
]
API_VERSION = "2024-10-21"
PROVIDERS = ("openai", "azure", "google")
CHAT_MODEL = {"openai": "mock-gpt", "azure": "mock-azure", "google": "mock-gemini"}
RATE_LIMITED_MODEL = {"openai": "openai-429", "azure": "azure-429", "google": "google-429"}
RATE_LIMITED_PROVIDER = {"openai": "openai", "azure": "azure429", "google": "google"}
OVERLOADED_MODEL = {"openai": "openai-529", "azure": "azure-529", "google": "google-529"}
OVERLOADED_PROVIDER = {"openai": "openai", "azure": "azure529", "google": "google"}


def azure_endpoint(proxy: RealServer, deployment: str) -> str:
    return f"{proxy.url}/openai/deployments/{deployment}/chat/completions?api-version={API_VERSION}"


def proxy_settings(proxy: RealServer, **extra: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {"baseUrl": f"{proxy.url}/v1"},
            "azure": {"endpoint": azure_endpoint(proxy, "mock-azure")},
            "azure429": {"kind": "azure", "endpoint": azure_endpoint(proxy, "mock-429")},
            "azure529": {"kind": "azure", "endpoint": azure_endpoint(proxy, "mock-529")},
            "google": {"baseUrl": proxy.url},
        },
        "models": [
            {"id": "mock-gpt", "provider": "openai"},
            {"id": "mock-azure", "provider": "azure"},
            {"id": "mock-gemini", "provider": "google"},
            {"id": "openai-429", "provider": "openai", "model": "mock-429"},
            {"id": "azure-429", "provider": "azure429"},
            {"id": "google-429", "provider": "google", "model": "mock-429"},
            {"id": "openai-529", "provider": "openai", "model": "mock-529"},
            {"id": "azure-529", "provider": "azure529"},
            {"id": "google-529", "provider": "google", "model": "mock-529"},
        ],
        "retry": {"maxAttempts": 1},
        **extra,
    }


async def set_keys(session: Session, proxy: RealServer, *providers: str) -> None:
    assert proxy.key
    for provider in providers:
        stored = await session.command("byok.setKey", {"provider": provider, "key": proxy.key})
        assert stored["source"] == "keyring"


def assert_no_key(session: Session, proxy: RealServer) -> None:
    assert proxy.key and proxy.key not in session.everything()


def text_deltas(session: Session, stream_id: str) -> list[str]:
    return [
        d["delta"]["text"]
        for d in session.deltas
        if d["streamId"] == stream_id and d["delta"]["type"] == "text"
    ]


async def test_openai_verify_lists_the_proxy_models(
    litellm_proxy: RealServer, server_env: dict[str, str]
) -> None:
    async with lsp_session(proxy_settings(litellm_proxy), server_env) as s:
        await set_keys(s, litellm_proxy, "openai")
        verified = await s.command("byok.verifyKey", {"provider": "openai"})
        assert verified["ok"] is True, verified
        assert verified["models"] == [
            "mock-429",
            "mock-529",
            "mock-azure",
            "mock-gemini",
            "mock-gpt",
            "smollm2",
        ]
        assert_no_key(s, litellm_proxy)


async def test_azure_verify_probe_passes(litellm_proxy: RealServer, server_env: dict[str, str]) -> None:
    async with lsp_session(proxy_settings(litellm_proxy), server_env) as s:
        await set_keys(s, litellm_proxy, "azure")
        verified = await s.command("byok.verifyKey", {"provider": "azure"})
        assert verified["ok"] is True, verified
        assert verified["models"] == ["mock-azure"]
        assert_no_key(s, litellm_proxy)


async def test_google_verify_gets_404_because_litellm_has_no_model_list(
    litellm_proxy: RealServer, server_env: dict[str, str]
) -> None:
    """LiteLLM 1.106.2 serves no GET /v1beta/models; byok reports that as a failed verify, not a crash."""
    async with lsp_session(proxy_settings(litellm_proxy), server_env) as s:
        await set_keys(s, litellm_proxy, "google")
        verified = await s.command("byok.verifyKey", {"provider": "google"})
        assert verified["ok"] is False
        assert verified["error"]["code"] == "model_not_found", verified
        assert verified["error"].get("status") == 404
        assert_no_key(s, litellm_proxy)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_streamed_chat_on_each_format(
    litellm_proxy: RealServer, server_env: dict[str, str], provider: str
) -> None:
    async with lsp_session(proxy_settings(litellm_proxy), server_env) as s:
        await set_keys(s, litellm_proxy, provider)
        result = await asyncio.wait_for(
            s.command(
                "byok.chat",
                {"messages": CONVERSATION, "model": CHAT_MODEL[provider], "streamId": "s", "maxTokens": 64},
            ),
            30,
        )
        assert result["text"] == MOCK_TEXT
        assert result["provider"] == provider and result["model"] == CHAT_MODEL[provider]
        assert result["finishReason"] == "stop"
        pieces = text_deltas(s, "s")
        assert len(pieces) >= 2 and "".join(pieces) == MOCK_TEXT  # coalesced by byok (4 ms), still streamed
        usage = result["usage"]
        if provider != "google":  # see test_gemini_zero_usage_for_a_real_answer_is_marked_estimated
            # LiteLLM honours stream_options.include_usage on the OpenAI and Azure routes.
            assert usage["estimated"] is False and usage["inputTokens"] > 0 and usage["outputTokens"] > 0
        assert_no_key(s, litellm_proxy)


async def test_gemini_zero_usage_for_a_real_answer_is_marked_estimated(
    litellm_proxy: RealServer, server_env: dict[str, str]
) -> None:
    async with lsp_session(proxy_settings(litellm_proxy), server_env) as s:
        await set_keys(s, litellm_proxy, "google")
        result = await s.command("byok.chat", {"messages": USER, "model": "mock-gemini", "maxTokens": 64})
        assert result["text"] == MOCK_TEXT
        usage = result["usage"]
        assert usage["estimated"] is True or usage["outputTokens"] > 0, usage


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_injected_429_is_rate_limited(
    litellm_proxy: RealServer, server_env: dict[str, str], provider: str
) -> None:
    pid = RATE_LIMITED_PROVIDER[provider]
    async with lsp_session(proxy_settings(litellm_proxy), server_env) as s:
        await set_keys(s, litellm_proxy, pid)
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(
                s.command("byok.chat", {"messages": USER, "model": RATE_LIMITED_MODEL[provider]}), 30
            )
        data = byok_error(caught.value)
        assert data["code"] == "rate_limited", data
        assert data["status"] == 429 and data["provider"] == pid
        assert "rate limit" in data["message"].lower()
        assert_no_key(s, litellm_proxy)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_is_retried_then_reported(
    litellm_proxy: RealServer, server_env: dict[str, str], provider: str
) -> None:
    """LiteLLM sends no retry-after: byok backs off on its own, says so on the stream, then gives up."""
    pid = RATE_LIMITED_PROVIDER[provider]
    settings = proxy_settings(litellm_proxy, retry={"maxAttempts": 2, "maxWaitS": 5})
    async with lsp_session(settings, server_env) as s:
        await set_keys(s, litellm_proxy, pid)
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(
                s.command(
                    "byok.chat", {"messages": USER, "model": RATE_LIMITED_MODEL[provider], "streamId": "r"}
                ),
                30,
            )
        assert byok_error(caught.value)["code"] == "rate_limited"
        statuses = [
            d["delta"]["text"] for d in s.deltas if d["streamId"] == "r" and d["delta"]["type"] == "status"
        ]
        assert len(statuses) == 1 and "retrying in" in statuses[0], statuses
        assert_no_key(s, litellm_proxy)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_injected_529_is_provider_overloaded(
    litellm_proxy: RealServer, server_env: dict[str, str], provider: str
) -> None:
    pid = OVERLOADED_PROVIDER[provider]
    async with lsp_session(proxy_settings(litellm_proxy), server_env) as s:
        await set_keys(s, litellm_proxy, pid)
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(
                s.command(
                    "byok.chat", {"messages": USER, "model": OVERLOADED_MODEL[provider], "streamId": "o"}
                ),
                30,
            )
        data = byok_error(caught.value)
        # LiteLLM raises its "mid-stream" mock before the first chunk, so it arrives as an HTTP 529.
        assert data["code"] == "provider_overloaded" and data["status"] == 529, data
        assert data["provider"] == pid and "mock error raised mid-stream" in data["message"]
        assert "partialText" not in data
        assert_no_key(s, litellm_proxy)


async def test_wrong_key_is_not_verified(litellm_proxy: RealServer, server_env: dict[str, str]) -> None:
    """Without a database LiteLLM answers an unknown key with 400 "No connected db." (not 401), so byok
    can only say bad_request; what matters is that it does not report the key as working."""
    async with lsp_session(proxy_settings(litellm_proxy), server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": "byokrs-not-the-master-key"})
        verified = await s.command("byok.verifyKey", {"provider": "openai"})
        assert verified["ok"] is False
        assert verified["error"]["code"] == "bad_request" and verified["error"]["status"] == 400, verified
        assert "No connected db" in verified["error"]["message"]


# -- the Responses API (byok's `responses` adapter on an openai-compatible provider) --------------------


def responses_settings(proxy: RealServer) -> dict[str, Any]:
    return {
        "providers": {"litellm": {"kind": "openai-compatible", "baseUrl": f"{proxy.url}/v1"}},
        "models": [
            {"id": "smol-chat", "provider": "litellm", "model": "smollm2"},
            {"id": "smol-responses", "provider": "litellm", "model": "smollm2", "api": "responses"},
        ],
        "retry": {"maxAttempts": 1},
        "maxOutputTokens": 24,
    }


def responses_posts(proxy: RealServer) -> int:
    """How many POST /v1/responses the proxy answered 200 (its access log)."""
    return proxy.log_tail(10**7).count('"POST /v1/responses HTTP/1.1" 200')


async def test_chat_on_the_proxy_responses_route(
    litellm_proxy: RealServer, server_env: dict[str, str]
) -> None:
    """A multi-turn chat streamed from a real model through LiteLLM's /v1/responses, only when the entry says so."""
    before = responses_posts(litellm_proxy)
    async with lsp_session(responses_settings(litellm_proxy), server_env) as s:
        await set_keys(s, litellm_proxy, "litellm")
        result = await s.command(
            "byok.chat", {"messages": CONVERSATION, "model": "smol-responses", "streamId": "resp"}
        )
        assert result["text"].strip(), result
        assert "".join(text_deltas(s, "resp")) == result["text"]
        assert result["finishReason"] in ("stop", "length")
        assert result["usage"]["estimated"] is False and result["usage"]["inputTokens"] > 0, result
        assert responses_posts(litellm_proxy) == before + 1, "the request went to /v1/responses"
        chat = await s.command("byok.chat", {"messages": USER, "model": "smol-chat", "streamId": "chat"})
        assert chat["text"].strip()
        assert responses_posts(litellm_proxy) == before + 1, "an entry without api stays on chat completions"
        assert_no_key(s, litellm_proxy)
