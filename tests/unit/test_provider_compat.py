"""The OpenAI adapter in `compatible` mode against fakes of Ollama, vLLM, Together, LM Studio and OpenRouter."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest
from tests.conftest import TEST_KEY_COMPAT as KEY
from tests.fakes import (
    OPENROUTER_PROCESSING,
    FakeServer,
    Reply,
    openai_models,
    openai_stream,
    openrouter_error,
    openrouter_stream_error,
    refused_url,
    sse_reply,
    together_models,
    vllm_error,
    vllm_unauthorized,
)
from tests.unit.adapter_checks import expect_failure, stream_events

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    Reasoning,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    complete,
)
from byok.providers.openai import OpenAIProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")
CHAT = "/v1/chat/completions"
HI = ChatRequest(model="llama3.2", messages=[Message("user", "hi")])


@pytest.fixture(autouse=True)
def _key_registered() -> None:
    REDACTOR.register(KEY)


@pytest.fixture
def local(fake: FakeServer, client: httpx.AsyncClient) -> OpenAIProvider:
    """A keyless local server (Ollama, LM Studio)."""
    return OpenAIProvider("local", f"{fake.url}/v1", None, client, compatible=True)


@pytest.fixture
def keyed(fake: FakeServer, client: httpx.AsyncClient) -> OpenAIProvider:
    """A hosted or `--api-key` server (vLLM, Together, OpenRouter)."""
    return OpenAIProvider(
        "openrouter",
        f"{fake.url}/v1",
        KEY,
        client,
        compatible=True,
        extra_headers={"HTTP-Referer": "https://byok.dev", "X-Title": "byok"},
    )


async def events(adapter: OpenAIProvider, request: ChatRequest = HI) -> list[StreamEvent]:
    return await stream_events(adapter, request)


async def failure(adapter: OpenAIProvider, request: ChatRequest = HI) -> ByokError:
    return await expect_failure(adapter, request, (KEY,))


def cut(reply: Reply, keep: int) -> Reply:
    assert reply.chunks is not None
    return replace(reply, chunks=reply.chunks[:keep])


# -- request shape and streams --------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["llama3.2", "o3-mini", "gpt-5"])
async def test_compatible_servers_get_plain_chat_fields(
    fake: FakeServer, local: OpenAIProvider, model: str
) -> None:
    fake.route("POST", CHAT, openai_stream(["hi"], usage=None))
    request = ChatRequest(
        model=model,
        messages=[Message("system", "Be terse."), Message("user", "hi")],
        max_tokens=50,
        temperature=0.7,
        reasoning=Reasoning(effort="high"),
    )
    await complete(local, request)
    sent = fake.requests[-1]
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "model": model,
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 50,
        "temperature": 0.7,
        "reasoning_effort": "high",
    }, "plain chat fields; the effort asked goes as given (Ollama, vLLM, OpenRouter read reasoning_effort)"


async def test_stream_without_usage_or_role_chunk(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["a", "b"], usage=None, role_chunk=False))
    assert await events(local) == [TextDelta("a"), TextDelta("b"), Finish("stop")]


async def test_usage_only_chunk_is_read(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["a"], usage=(30, 4)))
    assert await events(local) == [TextDelta("a"), Finish("stop"), Usage(30, 4)]


async def test_keyed_server_gets_bearer_and_extra_headers(fake: FakeServer, keyed: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["a"]))
    await complete(keyed, HI)
    headers = fake.requests[-1].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert (headers["http-referer"], headers["x-title"]) == ("https://byok.dev", "byok")


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_deltas(fake: FakeServer, local: OpenAIProvider, field: str) -> None:
    fake.route("POST", CHAT, openai_stream(["42"], reasoning=["think ", "hard"], reasoning_field=field))
    assert await events(local) == [
        ReasoningDelta("think "),
        ReasoningDelta("hard"),
        TextDelta("42"),
        Finish("stop"),
        Usage(10, 5),
    ]


async def test_ollama_whole_tool_calls(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route(
        "POST",
        CHAT,
        openai_stream(
            [],
            usage=None,
            whole_tool_calls=True,
            tool_calls=[("call_x1", "read_file", {"path": "a.py"}), ("call_x2", "list_dir", {"path": "."})],
        ),
    )
    assert await events(local) == [
        ToolCallEvent(ToolCall("call_x1", "read_file", {"path": "a.py"}, '{"path": "a.py"}')),
        ToolCallEvent(ToolCall("call_x2", "list_dir", {"path": "."}, '{"path": "."}')),
        Finish("tool_calls"),
    ]


async def test_tool_call_without_id_gets_one(fake: FakeServer, local: OpenAIProvider) -> None:
    chunk = {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "f"}}]}}]}
    fake.route(
        "POST",
        CHAT,
        sse_reply(
            [
                f"data: {json.dumps(chunk)}",
                'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
                "data: [DONE]",
            ]
        ),
    )
    (call,) = (await complete(local, HI)).tool_calls
    assert (call.id, call.name, call.arguments) == ("call_0", "f", {})


async def test_openrouter_keepalive_comments_are_skipped(fake: FakeServer, keyed: OpenAIProvider) -> None:
    reply = openai_stream(["a", "b"]).with_inserted(0, OPENROUTER_PROCESSING, OPENROUTER_PROCESSING)
    fake.route("POST", CHAT, reply.with_inserted(4, OPENROUTER_PROCESSING))
    assert await events(keyed) == [TextDelta("a"), TextDelta("b"), Finish("stop"), Usage(10, 5)]


async def test_crlf_stream(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route(
        "POST",
        CHAT,
        sse_reply(
            [
                'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\r\n\r\n',
                'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\r\n\r\n',
                "data: [DONE]\r\n\r\n",
            ]
        ),
    )
    assert await events(local) == [TextDelta("x"), Finish("stop")]


# -- errors -----------------------------------------------------------------------------------------------

HTTP_FAULTS = [
    (vllm_unauthorized(), ErrorCode.INVALID_KEY),
    (vllm_error(400, "This model's maximum context length is 8192 tokens"), ErrorCode.CONTEXT_TOO_LARGE),
    (vllm_error(404, "The model `llama9` does not exist.", "NotFoundError"), ErrorCode.MODEL_NOT_FOUND),
    (
        openrouter_error(402, "Insufficient credits. Add more using https://openrouter.ai/credits"),
        ErrorCode.QUOTA_EXHAUSTED,
    ),
    (openrouter_error(401, "No auth credentials found"), ErrorCode.INVALID_KEY),
    (
        openrouter_error(403, "Input was flagged by moderation", metadata={"reasons": ["x"]}),
        ErrorCode.NO_MODEL_ACCESS,
    ),
    (
        openrouter_error(502, "Provider returned error", metadata={"raw": "upstream"}),
        ErrorCode.PROVIDER_ERROR,
    ),
    (openrouter_error(503, "No endpoints found matching your data policy"), ErrorCode.PROVIDER_OVERLOADED),
    (Reply(status=500, body=b"Internal Server Error"), ErrorCode.PROVIDER_ERROR),
]


@pytest.mark.parametrize(("reply", "code"), HTTP_FAULTS)
async def test_http_errors(fake: FakeServer, keyed: OpenAIProvider, reply: Reply, code: ErrorCode) -> None:
    fake.route("POST", CHAT, reply)
    exc = await failure(keyed)
    assert (exc.code, exc.status) == (code, reply.status)


async def test_vllm_unauthorized_message(fake: FakeServer, keyed: OpenAIProvider) -> None:
    fake.route("POST", CHAT, vllm_unauthorized())
    assert (await failure(keyed)).message == "Unauthorized"


async def test_openrouter_rate_limit_retry_after(fake: FakeServer, keyed: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openrouter_error(429, "Rate limit exceeded: free-models-per-min", retry_after=4))
    exc = await failure(keyed)
    assert exc.code == ErrorCode.RATE_LIMITED
    assert exc.to_data()["retryAfterS"] == 4.0


@pytest.mark.parametrize(
    ("code", "expected"),
    [(502, ErrorCode.PROVIDER_ERROR), (429, ErrorCode.RATE_LIMITED), (402, ErrorCode.QUOTA_EXHAUSTED)],
)
async def test_openrouter_error_inside_a_200_stream(
    fake: FakeServer, keyed: OpenAIProvider, code: int, expected: ErrorCode
) -> None:
    reply = cut(openai_stream(["a", "b"]), 2)
    fake.route(
        "POST",
        CHAT,
        reply.with_inserted(2, OPENROUTER_PROCESSING, openrouter_stream_error(code, "Upstream broke")),
    )
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as info:
        async for event in keyed.stream(HI):
            seen.append(event)
    assert seen == [TextDelta("a")]
    assert info.value.code == expected
    assert info.value.to_data()["midStream"] is True
    assert info.value.message == "Upstream broke"


async def test_ollama_native_error_line_mid_stream(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route(
        "POST", CHAT, cut(openai_stream(["a"]), 2).with_inserted(2, b'{"error":"model runner crashed"}\n')
    )
    exc = await failure(local)
    assert (exc.code, exc.message) == (ErrorCode.PROVIDER_ERROR, "model runner crashed")


async def test_server_not_running(client: httpx.AsyncClient) -> None:
    url = f"{refused_url()}/v1"
    exc = await failure(OpenAIProvider("ollama", url, None, client, compatible=True))
    assert exc.code == ErrorCode.ENDPOINT_UNREACHABLE
    assert exc.fix == f"Is the server running at {url}? Start it or fix baseUrl"


async def test_stall_before_first_byte(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["a"]).delayed(2.0))
    assert (await failure(local)).code == ErrorCode.TIMEOUT


async def test_stall_mid_stream(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["a", "b"]).with_stall(2, 2.0))
    assert (await failure(local)).code == ErrorCode.TIMEOUT


async def test_drop_mid_stream(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["a", "b"]).with_drop(2))
    assert (await failure(local)).code == ErrorCode.STREAM_INTERRUPTED


async def test_unframed_stream_closed_without_done(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("POST", CHAT, replace(cut(openai_stream(["a", "b"], usage=None), 2), framing="close"))
    assert (await failure(local)).code == ErrorCode.STREAM_INTERRUPTED


async def test_malformed_chunk(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("POST", CHAT, sse_reply(["data: {not json}", "data: [DONE]"]))
    assert (await failure(local)).code == ErrorCode.PROVIDER_ERROR


async def test_echoed_unshaped_key_is_redacted(fake: FakeServer, keyed: OpenAIProvider) -> None:
    fake.route("POST", CHAT, vllm_error(401, f"Invalid API key {KEY}", "Unauthorized"))
    exc = await failure(keyed)
    assert exc.code == ErrorCode.INVALID_KEY


# -- verify and cancellation ------------------------------------------------------------------------------


async def test_verify_openai_shaped_list(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("GET", "/v1/models", openai_models(["qwen2.5-coder:7b", "llama3.2:latest"]))
    assert [m.id for m in await local.verify()] == ["llama3.2:latest", "qwen2.5-coder:7b"]


async def test_verify_together_bare_array(fake: FakeServer, keyed: OpenAIProvider) -> None:
    fake.route(
        "GET", "/v1/models", together_models(["meta-llama/Llama-3.3-70B-Instruct-Turbo", "Qwen/Qwen3-235B"])
    )
    assert [m.id for m in await keyed.verify()] == [
        "Qwen/Qwen3-235B",
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ]
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_verify_vllm_bad_key(fake: FakeServer, keyed: OpenAIProvider) -> None:
    fake.route("GET", "/v1/models", vllm_unauthorized())
    with pytest.raises(ByokError) as info:
        await keyed.verify()
    assert info.value.code == ErrorCode.INVALID_KEY


async def test_verify_server_not_running(client: httpx.AsyncClient) -> None:
    with pytest.raises(ByokError) as info:
        await OpenAIProvider("lmstudio", f"{refused_url()}/v1", None, client, compatible=True).verify()
    assert info.value.code == ErrorCode.ENDPOINT_UNREACHABLE


async def test_aclose_mid_stream_closes_the_connection(fake: FakeServer, local: OpenAIProvider) -> None:
    fake.route("POST", CHAT, openai_stream(["a", "b"], usage=None).with_stall(2, 3.0))
    stream = local.stream(HI)
    assert await anext(stream) == TextDelta("a")
    await stream.aclose()
    assert await fake.await_disconnect(2.0)
