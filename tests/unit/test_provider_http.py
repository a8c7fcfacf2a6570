"""The plumbing every adapter shares: only decoding the provider's JSON turns builtin errors into
provider_error; the same errors anywhere else are our own bugs and surface as themselves."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import TEST_KEY_OPENAI as KEY
from tests.fakes import (
    FakeServer,
    Stall,
    anthropic_stream,
    gemini_stream,
    json_reply,
    openai_stream,
    sse_reply,
)

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.anthropic import AnthropicProvider
from byok.providers.base import ChatRequest, Message, Provider, complete
from byok.providers.google import GeminiProvider
from byok.providers.http import open_stream
from byok.providers.openai import OpenAIProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")
CHAT = "/v1/chat/completions"
HI = ChatRequest(model="gpt-4.1-mini", messages=[Message("user", "hi")])


async def test_a_bug_while_a_stream_is_open_is_not_reported_as_a_malformed_chunk(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route("POST", CHAT, openai_stream(["hi"]))
    adapter = OpenAIProvider("openai", f"{fake.url}/v1", KEY, client)
    with pytest.raises(KeyError, match="our own bug"):
        async with open_stream(
            client, "POST", adapter.chat_url(), provider="openai", parse_error=adapter.parse_error, body={}
        ):
            raise KeyError("our own bug")


@pytest.mark.parametrize(
    "chunk",
    [
        'data: {"choices": [{"delta": {"content": 5}}]}',
        'data: {"choices": ["not an object"]}',
        'data: {"choices": [{"delta": {"tool_calls": [{"index": "x"}]}}]}',
        'data: {"choices": [], "usage": {"prompt_tokens": "many"}}',
    ],
    ids=["number-for-text", "string-for-choice", "bad-index", "bad-usage"],
)
async def test_provider_json_of_the_wrong_shape_is_still_a_provider_error(
    fake: FakeServer, client: httpx.AsyncClient, chunk: str
) -> None:
    fake.route("POST", CHAT, sse_reply([chunk, "data: [DONE]"]))
    with pytest.raises(ByokError) as caught:
        await complete(OpenAIProvider("openai", f"{fake.url}/v1", KEY, client), HI)
    assert (caught.value.code, caught.value.cause) == (ErrorCode.PROVIDER_ERROR, "Malformed stream chunk")


async def test_an_error_body_of_the_wrong_shape_is_still_a_provider_error(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    """Gemini's error parser walks `details`; a number there is the provider's fault, not ours."""
    from byok.providers.google import GeminiProvider

    fake.route("POST", r"/v1beta/models/.+", json_reply(429, {"error": {"code": 429, "details": 7}}))
    with pytest.raises(ByokError) as caught:
        await complete(GeminiProvider("google", fake.url, KEY, client), HI)
    assert caught.value.code == ErrorCode.PROVIDER_ERROR


@pytest.mark.parametrize("family", ["openai", "anthropic", "google"])
async def test_a_finished_stream_leaves_its_connection_for_the_next_request(
    fake: FakeServer, client: httpx.AsyncClient, family: str
) -> None:
    """A stream ends at its last event ([DONE], message_stop); the body's end is read after it, so the
    next request reuses the connection instead of paying for a new TCP (and TLS) handshake."""
    adapter: Provider
    if family == "openai":
        fake.route("POST", CHAT, openai_stream(["hi"]))
        adapter = OpenAIProvider("openai", f"{fake.url}/v1", KEY, client)
    elif family == "anthropic":
        fake.route("POST", "/v1/messages", anthropic_stream(["hi"]))
        adapter = AnthropicProvider("anthropic", fake.url, KEY, client)
    else:
        fake.route("POST", r"/v1beta/models/.+", gemini_stream(["hi"]))
        adapter = GeminiProvider("google", fake.url, KEY, client)
    for _ in range(3):
        assert (await complete(adapter, HI)).text == "hi"
    assert len(fake.requests) == 3
    assert fake.connections_opened == 1


async def test_a_body_that_does_not_end_after_the_last_event_is_cut_off(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    """A server that stays silent after [DONE] does not hold the answer: its connection is dropped."""
    done = 'data: {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}'
    fake.route("POST", CHAT, sse_reply([done, "data: [DONE]", Stall(10)]))
    adapter = OpenAIProvider("openai", f"{fake.url}/v1", KEY, client)
    assert (await complete(adapter, HI)).text == "hi"
    assert await fake.await_disconnect()
