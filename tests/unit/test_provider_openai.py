"""The OpenAI adapter driven directly against the loopback fake: request shape, stream decoding, faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest
from tests.conftest import TEST_KEY_OPENAI as KEY
from tests.fakes import (
    FakeServer,
    Reply,
    json_reply,
    openai_bad_key,
    openai_error,
    openai_models,
    openai_stream,
    refused_url,
    sse_reply,
)
from tests.unit.adapter_checks import expect_failure, stream_events

from byok.base.config import Settings, TimeoutSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    Reasoning,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    complete,
)
from byok.providers.http import build_client
from byok.providers.openai import OpenAIProvider

CHAT = "/v1/chat/completions"
HI = ChatRequest(model="gpt-4.1-mini", messages=[Message("user", "hi")])
pytestmark = pytest.mark.asyncio(loop_scope="module")
UNREGISTERED = "sk-proj-TESTunregisteredshape00000000000000000000T3BlbkFJ9f9f"


@pytest.fixture(autouse=True)
def _key_registered() -> None:
    """Production adapters get keys from the KeyStore, which registers them with the redactor."""
    REDACTOR.register(KEY)


@pytest.fixture
def adapter(fake: FakeServer, client: httpx.AsyncClient) -> OpenAIProvider:
    return OpenAIProvider("openai", f"{fake.url}/v1", KEY, client)


async def events(adapter: OpenAIProvider, request: ChatRequest = HI) -> list[StreamEvent]:
    return await stream_events(adapter, request)


async def failure(adapter: OpenAIProvider, request: ChatRequest = HI) -> ByokError:
    return await expect_failure(adapter, request, (KEY, UNREGISTERED))


def cut(reply: Reply, keep: int) -> Reply:
    """The reply with only its first `keep` chunks: a stream that ends early but cleanly."""
    assert reply.chunks is not None
    return replace(reply, chunks=reply.chunks[:keep])


# -- streaming and request shape ----------------------------------------------------------------------


async def test_text_stream_and_request_shape(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["Hel", "lo", "!"], usage=(12, 3)))
    request = ChatRequest(
        model="gpt-4.1-mini",
        messages=[Message("system", "Be terse."), Message("user", "hi")],
        max_tokens=64,
        temperature=0.2,
    )
    assert await events(adapter, request) == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta("!"),
        Finish("stop"),
        Usage(input_tokens=12, output_tokens=3),
    ]
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", CHAT)
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {
        "model": "gpt-4.1-mini",
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 64,
        "temperature": 0.2,
    }


@pytest.mark.parametrize("model", ["o3-mini", "gpt-5", "o4-mini-2025-04-16"])
async def test_reasoning_models_get_their_own_fields(
    fake: FakeServer, adapter: OpenAIProvider, model: str
) -> None:
    fake.route("POST", CHAT, openai_stream(["ok"], model=model))
    request = ChatRequest(
        model=model,
        messages=[Message("system", "Be terse."), Message("user", "hi")],
        max_tokens=100,
        temperature=0.5,
        reasoning=Reasoning(effort="low"),
    )
    assert (await complete(adapter, request)).text == "ok"
    body = fake.requests[-1].json()
    assert body["messages"][0] == {"role": "developer", "content": "Be terse."}
    assert body["max_completion_tokens"] == 100
    assert body["reasoning_effort"] == "low"
    assert "max_tokens" not in body
    assert "temperature" not in body


async def test_cached_prompt_tokens(fake: FakeServer, adapter: OpenAIProvider) -> None:
    usage = {"prompt_tokens": 50, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 32}}
    fake.route(
        "POST",
        CHAT,
        sse_reply(
            [
                'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
                f"data: {json.dumps({'choices': [], 'usage': usage})}",
                "data: [DONE]",
            ]
        ),
    )
    assert await events(adapter) == [Finish("stop"), Usage(50, 4, cache_read_tokens=32)]


async def test_length_finish_and_complete(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["a", "b"], finish="length", usage=(7, 2)))
    result = await complete(adapter, HI)
    assert (result.text, result.finish_reason, result.usage) == ("ab", "length", Usage(7, 2))


async def test_sse_comments_and_crlf_are_ignored(fake: FakeServer, adapter: OpenAIProvider) -> None:
    chunk = {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    fake.route(
        "POST",
        CHAT,
        sse_reply(
            [": keep-alive\r\n\r\n", f"data: {json.dumps(chunk)}\r\n\r\n", f"data: {json.dumps(end)}\r\n\r\n"]
        ).with_inserted(3, b"data: [DONE]\r\n\r\n"),
    )
    assert await events(adapter) == [TextDelta("hi"), Finish("stop")]


# -- tool calls -------------------------------------------------------------------------------------------


async def test_parallel_tool_calls_assembled_by_index(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route(
        "POST",
        CHAT,
        openai_stream(
            [],
            tool_calls=[
                ("call_a", "get_weather", {"city": "Paris", "unit": "celsius"}),
                ("call_b", "get_stock_price", {"ticker": "MSFT"}),
            ],
        ),
    )
    weather = json.dumps({"city": "Paris", "unit": "celsius"})
    stock = json.dumps({"ticker": "MSFT"})
    assert await events(adapter) == [
        ToolCallEvent(ToolCall("call_a", "get_weather", {"city": "Paris", "unit": "celsius"}, weather)),
        ToolCallEvent(ToolCall("call_b", "get_stock_price", {"ticker": "MSFT"}, stock)),
        Finish("tool_calls"),
        Usage(10, 5),
    ]


async def test_interleaved_tool_call_fragments(fake: FakeServer, adapter: OpenAIProvider) -> None:
    def delta(index: int, **function: str) -> str:
        call = {"index": index, "function": function}
        if "name" in function:
            call |= {"id": f"call_{index}x", "type": "function"}
        return "data: " + json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})

    fake.route(
        "POST",
        CHAT,
        sse_reply(
            [
                delta(1, name="second", arguments=""),
                delta(0, name="first", arguments='{"a"'),
                delta(1, arguments='{"b": 2}'),
                delta(0, arguments=": 1}"),
                'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
                "data: [DONE]",
            ]
        ),
    )
    result = await complete(adapter, HI)
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_0x", "first", {"a": 1}),
        ("call_1x", "second", {"b": 2}),
    ]


async def test_malformed_tool_arguments_become_an_error_value(
    fake: FakeServer, adapter: OpenAIProvider
) -> None:
    fake.route("POST", CHAT, openai_stream([], tool_calls=[("call_a", "edit", '{"path": "a.py", "line": ')]))
    (call,) = (await complete(adapter, HI)).tool_calls
    assert call.raw_arguments == '{"path": "a.py", "line": '
    assert call.arguments == {}
    assert call.arguments_error is not None and call.arguments_error.startswith(
        "arguments are not valid JSON"
    )


async def test_tool_history_is_sent_back(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["12 C"]))
    call = ToolCall("call_a", "get_weather", {"city": "Paris"}, '{"city": "Paris"}')
    request = ChatRequest(
        model="gpt-4.1",
        messages=[
            Message("user", "weather?"),
            Message("assistant", tool_calls=[call]),
            Message("tool", '{"temp": 12}', tool_call_id="call_a", name="get_weather"),
        ],
    )
    await complete(adapter, request)
    assert fake.requests[-1].json()["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 12}'},
    ]


# -- HTTP errors ------------------------------------------------------------------------------------------

HTTP_FAULTS = [
    (openai_bad_key(), ErrorCode.INVALID_KEY),
    (
        openai_error(
            401, "You have insufficient permissions for this operation. Missing scopes: model.request."
        ),
        ErrorCode.NO_MODEL_ACCESS,
    ),
    (
        openai_error(403, "Country, region, or territory not supported", "request_forbidden"),
        ErrorCode.NO_MODEL_ACCESS,
    ),
    (
        openai_error(404, "The model `o3-2025-04-16` does not exist", code="model_not_found"),
        ErrorCode.MODEL_NOT_FOUND,
    ),
    (
        openai_error(429, "You exceeded your current quota", "insufficient_quota", "insufficient_quota"),
        ErrorCode.QUOTA_EXHAUSTED,
    ),
    (
        openai_error(429, "You have no credits remaining.", "insufficient_quota", "credit_balance_exhausted"),
        ErrorCode.QUOTA_EXHAUSTED,
    ),
    (openai_error(500, "The server had an error", "server_error"), ErrorCode.PROVIDER_ERROR),
    (openai_error(503, "The engine is currently overloaded", "server_error"), ErrorCode.PROVIDER_OVERLOADED),
    (
        openai_error(
            400,
            "Your organization must be verified to stream this model.",
            code="unsupported_value",
            param="stream",
        ),
        ErrorCode.NO_MODEL_ACCESS,
    ),
    (openai_error(400, "Unsupported parameter: 'max_tokens'", param="max_tokens"), ErrorCode.BAD_REQUEST),
    (Reply(status=502, body=b"<html>Bad Gateway</html>"), ErrorCode.PROVIDER_ERROR),
]


@pytest.mark.parametrize(("reply", "code"), HTTP_FAULTS)
async def test_http_errors_map_to_codes(
    fake: FakeServer, adapter: OpenAIProvider, reply: Reply, code: ErrorCode
) -> None:
    fake.route("POST", CHAT, reply)
    exc = await failure(adapter)
    assert (exc.code, exc.status, exc.provider) == (code, reply.status, "openai")
    assert exc.cause and exc.fix


async def test_rate_limit_carries_retry_after(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route(
        "POST",
        CHAT,
        openai_error(
            429,
            "Rate limit reached. Please try again in 6.5s.",
            "requests",
            "rate_limit_exceeded",
            retry_after=6.5,
        ),
    )
    exc = await failure(adapter)
    assert exc.code == ErrorCode.RATE_LIMITED
    assert exc.to_data()["retryAfterS"] == 6.5
    assert "Rate limit reached" in exc.message


async def test_bad_request_passes_the_provider_message(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_error(400, "Invalid 'messages[1].role': 'robot'"))
    exc = await failure(adapter)
    assert exc.to_data()["cause"] == "Invalid 'messages[1].role': 'robot'"


# -- transport faults -------------------------------------------------------------------------------------


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    exc = await failure(OpenAIProvider("openai", f"{refused_url()}/v1", KEY, client))
    assert exc.code == ErrorCode.ENDPOINT_UNREACHABLE
    assert "Cannot connect to http://127.0.0.1:" in exc.message


async def test_redirect_is_not_followed(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route(
        "POST", CHAT, Reply(status=301, headers={"location": "https://api.example/v1/chat/completions"})
    )
    exc = await failure(adapter)
    assert (exc.code, exc.status) == (ErrorCode.ENDPOINT_UNREACHABLE, 301)
    assert "redirected to https://api.example/v1/chat/completions" in exc.message
    assert len(fake.requests) == 1


async def test_stall_before_first_byte_times_out(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["late"]).delayed(2.0))
    exc = await failure(adapter)
    assert exc.code == ErrorCode.TIMEOUT
    assert exc.to_data()["limitS"] == 0.3


async def test_stall_mid_stream_times_out_after_partial_text(
    fake: FakeServer, adapter: OpenAIProvider
) -> None:
    fake.route("POST", CHAT, openai_stream(["one", "two"]).with_stall(2, 2.0))
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as info:
        async for event in adapter.stream(HI):
            seen.append(event)
    assert info.value.code == ErrorCode.TIMEOUT
    assert seen == [TextDelta("one")]


@pytest.mark.parametrize("reset", [False, True])
async def test_connection_dropped_mid_stream(fake: FakeServer, adapter: OpenAIProvider, reset: bool) -> None:
    fake.route("POST", CHAT, openai_stream(["one", "two"]).with_drop(2, reset=reset))
    exc = await failure(adapter)
    assert exc.code == ErrorCode.STREAM_INTERRUPTED


async def test_stream_without_finish_or_done_is_interrupted(
    fake: FakeServer, adapter: OpenAIProvider
) -> None:
    fake.route("POST", CHAT, cut(openai_stream(["one", "two"]), 3))
    exc = await failure(adapter)
    assert exc.code == ErrorCode.STREAM_INTERRUPTED
    assert "ended before" in exc.message


async def test_malformed_chunk_is_a_provider_error(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, sse_reply(['data: {"choices": [{"delta": {"content": "a"}}', "data: [DONE]"]))
    exc = await failure(adapter)
    assert (exc.code, exc.cause) == (ErrorCode.PROVIDER_ERROR, "Malformed stream chunk")


async def test_error_event_inside_a_200_stream(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["one", "two"], error_after=1))
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as info:
        async for event in adapter.stream(HI):
            seen.append(event)
    assert seen == [TextDelta("one")]
    assert info.value.code == ErrorCode.PROVIDER_ERROR
    assert info.value.to_data()["midStream"] is True


# -- verify -------------------------------------------------------------------------------------------------


async def test_verify_lists_model_ids(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("GET", "/v1/models", openai_models(["gpt-4.1", "o3-mini", "gpt-4.1-mini"]))
    assert [m.id for m in await adapter.verify()] == ["gpt-4.1", "gpt-4.1-mini", "o3-mini"]
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_verify_bad_key(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("GET", "/v1/models", openai_bad_key())
    with pytest.raises(ByokError) as info:
        await adapter.verify()
    assert info.value.code == ErrorCode.INVALID_KEY


async def test_verify_unexpected_shape(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("GET", "/v1/models", json_reply(200, {"object": "list"}))
    with pytest.raises(ByokError) as info:
        await adapter.verify()
    assert info.value.code == ErrorCode.PROVIDER_ERROR


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (lambda r: r.with_drop(1), ErrorCode.STREAM_INTERRUPTED),
        (lambda r: r.with_stall(1, 2.0), ErrorCode.TIMEOUT),
    ],
)
async def test_verify_body_faults_are_byok_errors(
    fake: FakeServer, adapter: OpenAIProvider, fault: Callable[[Reply], Reply], code: ErrorCode
) -> None:
    models = openai_models(["gpt-4.1"])
    half = replace(models, body=b"", chunks=[models.body[:20], models.body[20:]])
    fake.route("GET", "/v1/models", fault(half))
    with pytest.raises(ByokError) as info:
        await adapter.verify()
    assert info.value.code == code


# -- cancellation -------------------------------------------------------------------------------------------


async def test_aclose_mid_stream_closes_the_connection(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["one", "two"]).with_stall(2, 3.0))
    stream = adapter.stream(HI)
    assert await anext(stream) == TextDelta("one")
    await stream.aclose()
    assert await fake.await_disconnect(2.0)


async def test_break_mid_stream_closes_the_connection(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["one", "two"]).with_stall(2, 3.0))
    async for event in adapter.stream(HI):
        assert event == TextDelta("one")
        break
    assert await fake.await_disconnect(2.0)


async def test_cancel_while_waiting_for_headers_closes_the_connection(fake: FakeServer) -> None:
    fake.route("POST", CHAT, openai_stream(["late"]).delayed(3.0))
    async with build_client(Settings(timeouts=TimeoutSettings(first_byte_s=10))) as patient:
        task = asyncio.create_task(complete(OpenAIProvider("openai", f"{fake.url}/v1", KEY, patient), HI))
        assert await asyncio.to_thread(fake.wait_requests, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await fake.await_disconnect(2.0)


# -- no key leaks -------------------------------------------------------------------------------------------


async def test_echoed_key_is_redacted(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route(
        "POST",
        CHAT,
        openai_error(
            401, f"Incorrect API key provided: {KEY}. You can find your API key at …", code="invalid_api_key"
        ),
    )
    exc = await failure(adapter)
    assert exc.code == ErrorCode.INVALID_KEY
    assert "Incorrect API key provided: sk-proj-…1b2c." in exc.message


async def test_unregistered_key_shape_is_redacted(fake: FakeServer, adapter: OpenAIProvider) -> None:
    fake.route(
        "POST",
        CHAT,
        openai_error(401, f"Incorrect API key provided: {UNREGISTERED}.", code="invalid_api_key"),
    )
    exc = await failure(adapter)
    assert "sk-proj-…9f9f" in exc.message


async def test_echoed_key_in_a_mid_stream_error_is_redacted(
    fake: FakeServer, adapter: OpenAIProvider
) -> None:
    error = {"message": f"key {KEY} was revoked mid-stream", "type": "invalid_request_error", "code": 401}
    fake.route("POST", CHAT, openai_stream(["a"], error_after=1, error=error))
    exc = await failure(adapter)
    assert exc.code == ErrorCode.INVALID_KEY
