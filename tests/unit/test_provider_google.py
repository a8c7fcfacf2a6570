"""The Gemini adapter against the loopback fake: alt=sse stream, thought signatures, Google's error shapes."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from tests.conftest import TEST_KEY_GOOGLE as KEY
from tests.fakes import (
    FakeServer,
    Reply,
    gemini_bad_key,
    gemini_error,
    gemini_models,
    gemini_stream,
    json_reply,
    refused_url,
    sse_reply,
    thought_signature,
)
from tests.unit.adapter_checks import expect_failure, stream_events

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
    complete,
)
from byok.providers.google import GeminiProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
HI = ChatRequest(model="gemini-2.5-flash", messages=[Message("user", "hi")])


@pytest.fixture(autouse=True)
def _key_registered() -> None:
    REDACTOR.register(KEY)


@pytest.fixture
def adapter(fake: FakeServer, client: httpx.AsyncClient) -> GeminiProvider:
    return GeminiProvider("google", fake.url, KEY, client)


async def events(adapter: GeminiProvider, request: ChatRequest = HI) -> list[StreamEvent]:
    return await stream_events(adapter, request)


async def failure(adapter: GeminiProvider, request: ChatRequest = HI) -> ByokError:
    return await expect_failure(adapter, request, (KEY,))


def chunk(parts: list[dict[str, object]], finish: str | None = None, **extra: object) -> str:
    candidate: dict[str, object] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return "data: " + json.dumps({"candidates": [candidate], **extra})


# -- streaming and request shape ----------------------------------------------------------------------


async def test_text_stream_and_request_shape(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_stream(["Hel", "lo"], usage=(15, 6)))
    request = ChatRequest(
        model="models/gemini-2.5-flash",
        messages=[
            Message("system", "Be terse."),
            Message("user", "hi"),
            Message("assistant", "Hi!"),
            Message("user", "again"),
        ],
        max_tokens=256,
        temperature=0.2,
    )
    assert await events(adapter, request) == [TextDelta("Hel"), TextDelta("lo"), Usage(15, 6), Finish("stop")]
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", STREAM)
    assert sent.query == {"alt": "sse"}
    assert sent.headers["x-goog-api-key"] == KEY
    assert "authorization" not in sent.headers
    assert KEY not in sent.path
    assert sent.json() == {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "Hi!"}]},
            {"role": "user", "parts": [{"text": "again"}]},
        ],
        "generationConfig": {"maxOutputTokens": 256, "temperature": 0.2},
        "systemInstruction": {"parts": [{"text": "Be terse."}]},
    }


async def test_thoughts_count_as_output(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_stream(["a"], usage=(10, 5), thoughts_tokens=7))
    assert (await complete(adapter, HI)).usage == Usage(10, 12, reasoning_tokens=7)


async def test_thought_parts_are_reasoning(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route(
        "POST",
        STREAM,
        sse_reply([chunk([{"text": "plan", "thought": True}]), chunk([{"text": "done"}], "STOP")]),
    )
    assert await events(adapter) == [ReasoningDelta("plan"), TextDelta("done"), Finish("stop")]


async def test_usage_fields_merge_across_chunks(fake: FakeServer, adapter: GeminiProvider) -> None:
    first = chunk([{"text": "a"}], usageMetadata={"promptTokenCount": 40, "cachedContentTokenCount": 32})
    last = chunk([{"text": "b"}], "STOP", usageMetadata={"candidatesTokenCount": 3})
    fake.route("POST", STREAM, sse_reply([first, last]))
    assert (await complete(adapter, HI)).usage == Usage(40, 3, cache_read_tokens=32)


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("OTHER", "other"),
    ],
)
async def test_finish_reasons(fake: FakeServer, adapter: GeminiProvider, reason: str, finish: str) -> None:
    fake.route("POST", STREAM, gemini_stream(["x"], finish=reason))
    assert (await complete(adapter, HI)).finish_reason == finish


async def test_blocked_prompt(fake: FakeServer, adapter: GeminiProvider) -> None:
    blocked = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
        "usageMetadata": {"promptTokenCount": 9},
    }
    fake.route("POST", STREAM, sse_reply([f"data: {json.dumps(blocked)}"]))
    assert await events(adapter) == [Usage(9, 0), Finish("content_filter")]


async def test_crlf_stream(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route(
        "POST",
        STREAM,
        sse_reply([chunk([{"text": "a"}]) + "\r\n\r\n", chunk([{"text": "b"}], "STOP") + "\r\n\r\n"]),
    )
    assert await events(adapter) == [TextDelta("a"), TextDelta("b"), Finish("stop")]


# -- function calls ---------------------------------------------------------------------------------------


async def test_function_calls_keep_and_echo_thought_signatures(
    fake: FakeServer, adapter: GeminiProvider
) -> None:
    fake.route(
        "POST",
        STREAM,
        gemini_stream(
            [], function_calls=[("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"}, "fc_7")]
        ),
    )
    weather = ToolCall(
        "call_0",
        "get_weather",
        {"city": "Paris"},
        provider_data={"thoughtSignature": thought_signature("get_weather", 0)},
    )
    time = ToolCall(
        "fc_7",
        "get_time",
        {"tz": "CET"},
        provider_data={"thoughtSignature": thought_signature("get_time", 1)},
    )
    assert await events(adapter) == [
        ToolCallEvent(weather),
        ToolCallEvent(time),
        Usage(10, 5),
        Finish("tool_calls"),
    ]

    fake.route("POST", STREAM, gemini_stream(["18 C at 14:00"]))
    follow_up = ChatRequest(
        model="gemini-2.5-flash",
        messages=[
            Message("user", "weather and time?"),
            Message("assistant", tool_calls=[weather, time]),
            Message("tool", "18 C", tool_call_id="call_0", name="get_weather"),
            Message("tool", "14:00", tool_call_id="fc_7", name="get_time"),
        ],
    )
    assert (await complete(adapter, follow_up)).text == "18 C at 14:00"
    assert fake.requests[-1].json()["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": thought_signature("get_weather", 0),
                },
                {
                    "functionCall": {"name": "get_time", "args": {"tz": "CET"}},
                    "thoughtSignature": thought_signature("get_time", 1),
                },
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "18 C"}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "14:00"}}},
            ],
        },
    ]


async def test_tools_are_declared(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_stream(["ok"]))
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    await complete(adapter, replace(HI, tools=[ToolSpec("get_weather", "Weather now", schema)]))
    assert fake.requests[-1].json()["tools"] == [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "Weather now", "parametersJsonSchema": schema}
            ]
        }
    ]


async def test_non_object_args_become_empty(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, sse_reply([chunk([{"functionCall": {"name": "f", "args": "oops"}}], "STOP")]))
    (call,) = (await complete(adapter, HI)).tool_calls
    assert (call.name, call.arguments, call.provider_data) == ("f", {}, None)


# -- errors -----------------------------------------------------------------------------------------------

HTTP_FAULTS = [
    (gemini_bad_key(), ErrorCode.INVALID_KEY),
    (
        gemini_error(
            400, "API key expired. Please renew the API key.", "INVALID_ARGUMENT", "API_KEY_EXPIRED"
        ),
        ErrorCode.INVALID_KEY,
    ),
    (
        gemini_error(400, "User location is not supported for the API use.", "FAILED_PRECONDITION"),
        ErrorCode.NO_MODEL_ACCESS,
    ),
    (gemini_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"), ErrorCode.BAD_REQUEST),
    (
        gemini_error(403, "Method doesn't allow unregistered callers.", "PERMISSION_DENIED"),
        ErrorCode.NO_MODEL_ACCESS,
    ),
    (
        gemini_error(404, "models/gemini-9 is not found for API version v1beta", "NOT_FOUND"),
        ErrorCode.MODEL_NOT_FOUND,
    ),
    (
        gemini_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "RESOURCE_EXHAUSTED",
            quota_id="GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            retry_delay="38s",
        ),
        ErrorCode.QUOTA_EXHAUSTED,
    ),
    (gemini_error(500, "An internal error has occurred.", "INTERNAL"), ErrorCode.PROVIDER_ERROR),
    (
        gemini_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"),
        ErrorCode.PROVIDER_OVERLOADED,
    ),
    (
        gemini_error(504, "Deadline expired before operation could complete.", "DEADLINE_EXCEEDED"),
        ErrorCode.TIMEOUT,
    ),
]


@pytest.mark.parametrize(("reply", "code"), HTTP_FAULTS)
async def test_http_errors(fake: FakeServer, adapter: GeminiProvider, reply: Reply, code: ErrorCode) -> None:
    fake.route("POST", STREAM, reply)
    exc = await failure(adapter)
    assert (exc.code, exc.status, exc.provider) == (code, reply.status, "google")


async def test_bad_key_fix_points_at_ai_studio(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_bad_key())
    exc = await failure(adapter)
    assert (exc.status, exc.message) == (400, "API key not valid. Please pass a valid API key.")
    assert "aistudio.google.com" in exc.fix


@pytest.mark.parametrize(
    ("reply", "seconds"),
    [
        (
            gemini_error(
                429,
                "Quota exceeded",
                "RESOURCE_EXHAUSTED",
                quota_id="GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                retry_delay="38s",
            ),
            38.0,
        ),
        (gemini_error(429, "Resource has been exhausted", "RESOURCE_EXHAUSTED", retry_after=5), 5.0),
    ],
)
async def test_per_minute_quota_is_rate_limited(
    fake: FakeServer, adapter: GeminiProvider, reply: Reply, seconds: float
) -> None:
    fake.route("POST", STREAM, reply)
    exc = await failure(adapter)
    assert (exc.code, exc.to_data()["retryAfterS"]) == (ErrorCode.RATE_LIMITED, seconds)


async def test_raw_json_error_mid_stream(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_stream(["one", "two"], error_after=1))
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as info:
        async for event in adapter.stream(HI):
            seen.append(event)
    assert seen == [TextDelta("one")]
    assert info.value.code == ErrorCode.PROVIDER_OVERLOADED
    assert info.value.to_data()["midStream"] is True


async def test_mid_stream_error_with_a_string_code(fake: FakeServer, adapter: GeminiProvider) -> None:
    error = {"error": {"code": "invalid_request", "message": "Interactions-style error"}}
    fake.route("POST", STREAM, sse_reply([chunk([{"text": "a"}]), f"data: {json.dumps(error)}"]))
    exc = await failure(adapter)
    assert (exc.code, exc.status, exc.message) == (ErrorCode.PROVIDER_ERROR, 500, "Interactions-style error")


async def test_error_body_as_json_array(fake: FakeServer, adapter: GeminiProvider) -> None:
    body = [{"error": {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}}]
    fake.route("POST", STREAM, Reply(status=404, body=json.dumps(body).encode()))
    assert (await failure(adapter)).code == ErrorCode.MODEL_NOT_FOUND


async def test_stream_without_finish_reason(fake: FakeServer, adapter: GeminiProvider) -> None:
    reply = gemini_stream(["one", "two"])
    assert reply.chunks is not None
    fake.route("POST", STREAM, replace(reply, chunks=reply.chunks[:1]))
    exc = await failure(adapter)
    assert exc.code == ErrorCode.STREAM_INTERRUPTED
    assert "finishReason" in exc.message


async def test_malformed_chunk(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, sse_reply(['data: {"candidates": [']))
    assert (await failure(adapter)).code == ErrorCode.PROVIDER_ERROR


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    exc = await failure(GeminiProvider("google", refused_url(), KEY, client))
    assert exc.code == ErrorCode.ENDPOINT_UNREACHABLE


async def test_stall_before_first_byte(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_stream(["a"]).delayed(2.0))
    assert (await failure(adapter)).code == ErrorCode.TIMEOUT


async def test_stall_mid_stream(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_stream(["a", "b"]).with_stall(1, 2.0))
    assert (await failure(adapter)).code == ErrorCode.TIMEOUT


async def test_drop_mid_stream(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_stream(["a", "b"]).with_drop(1))
    assert (await failure(adapter)).code == ErrorCode.STREAM_INTERRUPTED


async def test_echoed_key_is_redacted(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route(
        "POST", STREAM, gemini_error(400, f"API key not valid: {KEY}", "INVALID_ARGUMENT", "API_KEY_INVALID")
    )
    assert (await failure(adapter)).code == ErrorCode.INVALID_KEY


# -- verify and cancellation -----------------------------------------------------------------------------


async def test_verify_filters_strips_and_paginates(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route(
        "GET",
        "/v1beta/models",
        gemini_models(["gemini-2.5-pro", ("text-embedding-004", ["embedContent"])], next_page_token="page2"),
        gemini_models(["gemini-2.5-flash", ("aqa", ["generateAnswer"])]),
    )
    assert [m.id for m in await adapter.verify()] == ["gemini-2.5-flash", "gemini-2.5-pro"]
    assert [r.query.get("pageToken") for r in fake.requests] == [None, "page2"]
    assert all(r.headers["x-goog-api-key"] == KEY and "key" not in r.query for r in fake.requests)


@pytest.mark.parametrize("models", [["gemini-2.5-pro"], 7, [{"supportedGenerationMethods": 3}]])
async def test_verify_of_a_model_list_of_the_wrong_shape_is_a_provider_error(
    fake: FakeServer, adapter: GeminiProvider, models: object
) -> None:
    fake.route("GET", "/v1beta/models", json_reply(200, {"models": models}))
    with pytest.raises(ByokError) as info:
        await adapter.verify()
    assert info.value.code == ErrorCode.PROVIDER_ERROR


async def test_verify_bad_key(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("GET", "/v1beta/models", gemini_bad_key())
    with pytest.raises(ByokError) as info:
        await adapter.verify()
    assert info.value.code == ErrorCode.INVALID_KEY


async def test_aclose_mid_stream_closes_the_connection(fake: FakeServer, adapter: GeminiProvider) -> None:
    fake.route("POST", STREAM, gemini_stream(["a", "b"]).with_stall(1, 3.0))
    stream = adapter.stream(HI)
    assert await anext(stream) == TextDelta("a")
    await stream.aclose()
    assert await fake.await_disconnect(2.0)
