"""The Anthropic Messages adapter against the loopback fake: named events, tool_use blocks, faults."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import pytest
from tests.conftest import TEST_KEY_ANTHROPIC as KEY
from tests.fakes import (
    FakeServer,
    Reply,
    anthropic_bad_key,
    anthropic_error,
    anthropic_models,
    anthropic_stream,
    json_reply,
    refused_url,
    sse_reply,
)
from tests.unit.adapter_checks import expect_failure, stream_events

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.providers.anthropic import AnthropicProvider
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    complete,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
MESSAGES = "/v1/messages"
HI = ChatRequest(model="claude-sonnet-4-5", messages=[Message("user", "hi")])


@pytest.fixture(autouse=True)
def _key_registered() -> None:
    REDACTOR.register(KEY)


@pytest.fixture
def adapter(fake: FakeServer, client: httpx.AsyncClient) -> AnthropicProvider:
    return AnthropicProvider("anthropic", fake.url, KEY, client)


async def events(adapter: AnthropicProvider, request: ChatRequest = HI) -> list[StreamEvent]:
    return await stream_events(adapter, request)


async def failure(adapter: AnthropicProvider, request: ChatRequest = HI) -> ByokError:
    return await expect_failure(adapter, request, (KEY,))


def named(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}"


# -- streaming and request shape ----------------------------------------------------------------------


async def test_text_stream_and_request_shape(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["Hel", "lo"], usage=(21, 7)))
    request = ChatRequest(
        model="claude-sonnet-4-5",
        messages=[Message("system", "Be terse."), Message("user", "hi"), Message("system", "No emoji.")],
        max_tokens=256,
        temperature=1.7,
        cache=False,
    )
    assert await events(adapter, request) == [TextDelta("Hel"), TextDelta("lo"), Usage(21, 7), Finish("stop")]
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", MESSAGES)
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "system": "Be terse.\n\nNo emoji.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "stream": True,
        "temperature": 1.0,
    }


@pytest.mark.parametrize(("stop_reason", "finish"), [("max_tokens", "length"), ("refusal", "content_filter")])
async def test_stop_reasons(
    fake: FakeServer, adapter: AnthropicProvider, stop_reason: str, finish: str
) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["x"], stop_reason=stop_reason))
    assert (await complete(adapter, HI)).finish_reason == finish


async def test_thinking_and_crlf(fake: FakeServer, adapter: AnthropicProvider) -> None:
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}}
    thinking = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "hmm"},
    }
    text = {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "ok"}}
    end = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}
    raw = [
        named("message_start", start),
        named("content_block_delta", thinking),
        named("ping", {"type": "ping"}),
    ]
    raw += [named("content_block_delta", text), named("message_delta", end), named("message_stop", {})]
    fake.route("POST", MESSAGES, sse_reply([event.replace("\n", "\r\n") + "\r\n\r\n" for event in raw]))
    assert await events(adapter) == [ReasoningDelta("hmm"), TextDelta("ok"), Usage(3, 9), Finish("stop")]


async def test_cache_tokens_are_counted_as_input(fake: FakeServer, adapter: AnthropicProvider) -> None:
    start_usage = {
        "input_tokens": 5,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
        "output_tokens": 1,
    }
    start = {"type": "message_start", "message": {"usage": start_usage}}
    end = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn"},
        "usage": {"input_tokens": 5, "output_tokens": 40},
    }
    fake.route(
        "POST",
        MESSAGES,
        sse_reply([named("message_start", start), named("message_delta", end), named("message_stop", {})]),
    )
    assert (await complete(adapter, HI)).usage == Usage(
        input_tokens=125, output_tokens=40, cache_read_tokens=100, cache_write_tokens=20
    )


# -- tool use ---------------------------------------------------------------------------------------------


async def test_tool_use_fragments_are_joined(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route(
        "POST",
        MESSAGES,
        anthropic_stream(
            ["Checking."],
            tool_uses=[
                ("toolu_01", "get_weather", {"location": "Paris", "unit": "c"}),
                ("toolu_02", "get_time", {"tz": "Europe/Paris"}),
            ],
            usage=(377, 65),
        ),
    )
    weather = json.dumps({"location": "Paris", "unit": "c"})
    time = json.dumps({"tz": "Europe/Paris"})
    assert await events(adapter) == [
        TextDelta("Checking."),
        ToolCallEvent(ToolCall("toolu_01", "get_weather", {"location": "Paris", "unit": "c"}, weather)),
        ToolCallEvent(ToolCall("toolu_02", "get_time", {"tz": "Europe/Paris"}, time)),
        Usage(377, 65),
        Finish("tool_calls"),
    ]


async def test_malformed_tool_input_becomes_an_error_value(
    fake: FakeServer, adapter: AnthropicProvider
) -> None:
    fake.route("POST", MESSAGES, anthropic_stream([], tool_uses=[("toolu_01", "edit", '{"path": "a.py",')]))
    (call,) = (await complete(adapter, HI)).tool_calls
    assert call.arguments == {} and call.raw_arguments == '{"path": "a.py",'
    assert call.arguments_error is not None and "not valid JSON" in call.arguments_error


async def test_tool_history_becomes_blocks(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["18 C"]))
    calls = [
        ToolCall("toolu_01", "get_weather", {"location": "Paris"}),
        ToolCall("toolu_02", "broken", {}, "{"),
    ]
    request = ChatRequest(
        model="claude-sonnet-4-5",
        messages=[
            Message("user", "weather?"),
            Message("assistant", "Let me check.", tool_calls=calls),
            Message("tool", "18 C", tool_call_id="toolu_01", name="get_weather"),
            Message("tool", "bad arguments", tool_call_id="toolu_02", name="broken", is_error=True),
        ],
        cache=False,
    )
    await complete(adapter, request)
    assert fake.requests[-1].json()["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"location": "Paris"}},
                {"type": "tool_use", "id": "toolu_02", "name": "broken", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18 C", "is_error": False},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_02",
                    "content": "bad arguments",
                    "is_error": True,
                },
            ],
        },
    ]


# -- errors -----------------------------------------------------------------------------------------------

HTTP_FAULTS = [
    (anthropic_bad_key(), ErrorCode.INVALID_KEY),
    (
        anthropic_error(403, "permission_error", "Your API key does not have permission"),
        ErrorCode.NO_MODEL_ACCESS,
    ),
    (anthropic_error(404, "not_found_error", "model: claude-nope"), ErrorCode.MODEL_NOT_FOUND),
    (anthropic_error(500, "api_error", "Internal server error"), ErrorCode.PROVIDER_ERROR),
    (anthropic_error(529, "overloaded_error", "Overloaded"), ErrorCode.PROVIDER_OVERLOADED),
    (
        anthropic_error(
            400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API."
        ),
        ErrorCode.QUOTA_EXHAUSTED,
    ),
    (anthropic_error(402, "billing_error", "Payment required"), ErrorCode.QUOTA_EXHAUSTED),
    (anthropic_error(400, "invalid_request_error", "max_tokens: Field required"), ErrorCode.BAD_REQUEST),
    (Reply(status=502, body=b"<html>502 Bad Gateway</html>"), ErrorCode.PROVIDER_ERROR),
]


@pytest.mark.parametrize(("reply", "code"), HTTP_FAULTS)
async def test_http_errors(
    fake: FakeServer, adapter: AnthropicProvider, reply: Reply, code: ErrorCode
) -> None:
    fake.route("POST", MESSAGES, reply)
    exc = await failure(adapter)
    assert (exc.code, exc.status, exc.provider) == (code, reply.status, "anthropic")


async def test_rate_limit_retry_after(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route(
        "POST",
        MESSAGES,
        anthropic_error(429, "rate_limit_error", "Number of requests exceeded", retry_after=7),
    )
    exc = await failure(adapter)
    assert (exc.code, exc.to_data()["retryAfterS"]) == (ErrorCode.RATE_LIMITED, 7.0)


async def test_overloaded_mid_stream(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["one", "two"], error_after=1))
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as info:
        async for event in adapter.stream(HI):
            seen.append(event)
    assert seen == [TextDelta("one")]
    assert info.value.code == ErrorCode.PROVIDER_OVERLOADED
    assert info.value.to_data()["midStream"] is True
    assert info.value.message == "Overloaded"


async def test_stream_without_message_stop(fake: FakeServer, adapter: AnthropicProvider) -> None:
    reply = anthropic_stream(["one", "two"])
    assert reply.chunks is not None
    fake.route("POST", MESSAGES, replace(reply, chunks=reply.chunks[:-1]))
    exc = await failure(adapter)
    assert exc.code == ErrorCode.STREAM_INTERRUPTED
    assert "message_stop" in exc.message


async def test_malformed_chunk(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, sse_reply(["event: message_start\ndata: {oops"]))
    assert (await failure(adapter)).code == ErrorCode.PROVIDER_ERROR


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    exc = await failure(AnthropicProvider("anthropic", refused_url(), KEY, client))
    assert exc.code == ErrorCode.ENDPOINT_UNREACHABLE


async def test_stall_before_first_byte(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["a"]).delayed(2.0))
    assert (await failure(adapter)).code == ErrorCode.TIMEOUT


async def test_stall_mid_stream(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["a", "b"]).with_stall(3, 2.0))
    assert (await failure(adapter)).code == ErrorCode.TIMEOUT


async def test_drop_mid_stream(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["a", "b"]).with_drop(4))
    assert (await failure(adapter)).code == ErrorCode.STREAM_INTERRUPTED


async def test_echoed_key_is_redacted(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_error(401, "authentication_error", f"invalid x-api-key: {KEY}"))
    exc = await failure(adapter)
    assert exc.code == ErrorCode.INVALID_KEY
    assert "sk-ant-…9z8y" in exc.message


# -- verify and cancellation -----------------------------------------------------------------------------


async def test_verify_follows_pagination(fake: FakeServer, adapter: AnthropicProvider) -> None:
    first = json_reply(
        200,
        {
            "data": [
                {"type": "model", "id": "claude-sonnet-4-5"},
                {"type": "model", "id": "claude-opus-4-1"},
            ],
            "has_more": True,
            "first_id": "claude-sonnet-4-5",
            "last_id": "claude-opus-4-1",
        },
    )
    fake.route("GET", "/v1/models", first, anthropic_models(["claude-haiku-4-5"]))
    assert [m.id for m in await adapter.verify()] == [
        "claude-haiku-4-5",
        "claude-opus-4-1",
        "claude-sonnet-4-5",
    ]
    assert [r.query.get("after_id") for r in fake.requests] == [None, "claude-opus-4-1"]
    assert all(r.headers["x-api-key"] == KEY for r in fake.requests)


async def test_verify_bad_key(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("GET", "/v1/models", anthropic_bad_key())
    with pytest.raises(ByokError) as info:
        await adapter.verify()
    assert info.value.code == ErrorCode.INVALID_KEY


async def test_aclose_mid_stream_closes_the_connection(fake: FakeServer, adapter: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["a", "b"]).with_stall(4, 3.0))
    stream = adapter.stream(HI)
    assert await anext(stream) == TextDelta("a")
    await stream.aclose()
    assert await fake.await_disconnect(2.0)
