"""The Responses API adapter against the loopback fake: request shape, the event stream, reasoning echoed back,
faults; on OpenAI, Azure's v1 route and a compatible server; and the official SDK's parser on the fake."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from tests.conftest import TEST_KEY_AZURE, TEST_KEY_COMPAT
from tests.conftest import TEST_KEY_OPENAI as KEY
from tests.fakes import (
    FakeServer,
    Reply,
    azure_bad_key,
    azure_deployment_not_found,
    azure_error,
    openai_error,
    openai_models,
    sse_reply,
)
from tests.fakes.openai_responses import Call, Reasoning, Text, responses_stream
from tests.unit.adapter_checks import expect_failure, stream_events

from byok.base.config import ProviderSettings, Settings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.providers import ResolvedProvider, create_provider, resolve_provider
from byok.providers.azure import AzureOpenAIProvider
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ReasoningDelta,
    ReasoningItem,
    ReasoningItemEvent,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
    complete,
)
from byok.providers.base import (
    Reasoning as AskedReasoning,
)
from byok.providers.openai import OpenAIProvider
from byok.providers.openai_responses import ResponsesProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")
RESPONSES = "/v1/responses"
CODEX = "gpt-5.3-codex"
HI = ChatRequest(model=CODEX, messages=[Message("user", "hi")])
READ = ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})


@pytest.fixture(autouse=True)
def _keys_registered() -> None:
    for key in (KEY, TEST_KEY_AZURE, TEST_KEY_COMPAT):
        REDACTOR.register(key)


@pytest.fixture
def adapter(fake: FakeServer, client: httpx.AsyncClient) -> ResponsesProvider:
    return ResponsesProvider(OpenAIProvider("openai", f"{fake.url}/v1", KEY, client))


async def events(adapter: ResponsesProvider, request: ChatRequest = HI) -> list[StreamEvent]:
    return await stream_events(adapter, request)


async def failure(adapter: ResponsesProvider, request: ChatRequest = HI) -> ByokError:
    return await expect_failure(adapter, request, (KEY,))


def body(fake: FakeServer, index: int = -1) -> dict[str, Any]:
    request = fake.requests[index]
    assert request.path == RESPONSES
    parsed: dict[str, Any] = request.json()
    return parsed


# -- the request -----------------------------------------------------------------------------------------


async def test_text_stream_and_a_stateless_request(fake: FakeServer, adapter: ResponsesProvider) -> None:
    fake.route("POST", RESPONSES, responses_stream(["Hel", "lo", "!"], usage=(12, 3), model="gpt-4.1"))
    request = ChatRequest(
        model="gpt-4.1",
        messages=[
            Message("system", "Be terse."),
            Message("user", "hi"),
            Message("assistant", "Hello."),
            Message("user", "again"),
        ],
        max_tokens=64,
        temperature=0.2,
    )
    assert await events(adapter, request) == [
        TextDelta("Hel"),
        TextDelta("lo"),
        TextDelta("!"),
        Usage(12, 3),
        Finish("stop"),
    ]
    sent = fake.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["accept"] == "text/event-stream"
    assert body(fake) == {
        "model": "gpt-4.1",
        "instructions": "Be terse.",
        "input": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "again"},
        ],
        "max_output_tokens": 64,
        "store": False,
        "stream": True,
        "temperature": 0.2,
    }


async def test_reasoning_model_request(fake: FakeServer, adapter: ResponsesProvider) -> None:
    fake.route("POST", RESPONSES, responses_stream(["ok"]))
    request = ChatRequest(
        model=CODEX,
        messages=[Message("user", "hi")],
        max_tokens=4,
        temperature=0.5,
        reasoning=AskedReasoning(effort="high", summary=True),
        tools=[READ],
        cache_key="ws-4f1c9a",
    )
    await events(adapter, request)
    sent = body(fake)
    assert sent["include"] == ["reasoning.encrypted_content"]
    assert sent["reasoning"] == {"effort": "high", "summary": "auto"}
    assert sent["max_output_tokens"] == 16, "the API refuses fewer than 16"
    assert "temperature" not in sent, "reasoning models refuse a temperature"
    assert "previous_response_id" not in sent and sent["store"] is False
    assert sent["prompt_cache_key"] == "ws-4f1c9a"
    assert sent["tools"] == [
        {
            "type": "function",
            "name": "read_file",
            "description": "Read a file",
            "parameters": READ.parameters,
            "strict": False,
        }
    ]


async def test_reasoning_model_without_asking_gets_encrypted_content_only(
    fake: FakeServer, adapter: ResponsesProvider
) -> None:
    fake.route("POST", RESPONSES, responses_stream(["ok"]))
    await events(adapter, ChatRequest(model="o3-pro", messages=[Message("user", "hi")]))
    sent = body(fake)
    assert sent["include"] == ["reasoning.encrypted_content"]
    assert "reasoning" not in sent and "prompt_cache_key" not in sent
    await events(
        adapter,
        ChatRequest(model="o3-pro", messages=[Message("user", "hi")], reasoning=AskedReasoning("low")),
    )
    assert body(fake)["reasoning"] == {"effort": "low"}
    plain = ChatRequest(model="gpt-4.1", messages=[Message("user", "hi")], reasoning=AskedReasoning("none"))
    await events(adapter, plain)
    assert "include" not in body(fake), "a model that does not reason refuses encrypted content"


# -- the stream ------------------------------------------------------------------------------------------


async def test_reasoning_summary_items_and_usage(fake: FakeServer, adapter: ResponsesProvider) -> None:
    first = Reasoning("rs_a", ["Plan the edit.", "Check the tests."], "gAAAAAB-FAKE-blob-a")
    fake.route(
        "POST",
        RESPONSES,
        responses_stream(["Done."], reasoning=[first], usage=(900, 120), cached=512, reasoning_tokens=80),
    )
    got = await events(adapter)
    reasoning_text = "".join(e.text for e in got if isinstance(e, ReasoningDelta))
    assert reasoning_text == "Plan the edit.\n\nCheck the tests."
    items = [e.item for e in got if isinstance(e, ReasoningItemEvent)]
    assert items == [
        ReasoningItem(
            "responses",
            {
                "id": "rs_a",
                "type": "reasoning",
                "summary": [
                    {"type": "summary_text", "text": "Plan the edit."},
                    {"type": "summary_text", "text": "Check the tests."},
                ],
                "encrypted_content": "gAAAAAB-FAKE-blob-a",
            },
        )
    ], "the whole item from output_item.done, not the partial one from output_item.added"
    assert got[-2:] == [
        Usage(900, 120, cache_read_tokens=512, reasoning_tokens=80),
        Finish("stop"),
    ]
    assert [e for e in got if isinstance(e, TextDelta)] == [TextDelta("Done.")]


async def test_parallel_function_calls_with_split_arguments(
    fake: FakeServer, adapter: ResponsesProvider
) -> None:
    output = [
        Reasoning("rs_a", ["Look first."]),
        Call("call_1", "read_file", {"path": "src/app.py"}, parts=7),
        Reasoning("rs_b", []),
        Call("call_2", "list_files", {}, parts=1),
        Call("call_3", "search", '{"query": "hé"}', parts=5),
    ]
    fake.route("POST", RESPONSES, responses_stream(output=output))
    result = await complete(adapter, HI)
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_1", "read_file", {"path": "src/app.py"}),
        ("call_2", "list_files", {}),
        ("call_3", "search", {"query": "hé"}),
    ]
    assert [c.provider_data for c in result.tool_calls] == [
        {"reasoningBefore": 1},
        {"reasoningBefore": 2},
        {"reasoningBefore": 2},
    ]
    assert [i.data["id"] for i in result.reasoning_items] == ["rs_a", "rs_b"]
    assert result.finish_reason == "tool_calls"


async def test_reasoning_and_calls_go_back_unchanged_and_in_order(
    fake: FakeServer, adapter: ResponsesProvider
) -> None:
    """Turn 1 calls two tools around a second reasoning item; turn 2 sends it all back as it came."""
    output = [
        Reasoning("rs_a", ["Read it."], "gAAAAAB-FAKE-blob-a"),
        Text(["Reading."]),
        Call("call_1", "read_file", {"path": "a.py"}),
        Reasoning("rs_b", [], "gAAAAAB-FAKE-blob-b"),
        Call("call_2", "read_file", {"path": "b.py"}),
    ]
    fake.route("POST", RESPONSES, responses_stream(output=output), responses_stream(["Both read."]))
    conversation = [Message("system", "You edit code."), Message("user", "read a and b")]
    first = await complete(adapter, ChatRequest(model=CODEX, messages=conversation, tools=[READ]))
    foreign = ReasoningItem("anthropic", {"type": "thinking", "thinking": "x", "signature": "FAKE-sig"})
    conversation += [
        Message(
            "assistant",
            first.text,
            tool_calls=first.tool_calls,
            reasoning_items=[foreign, *first.reasoning_items],
        ),
        Message("tool", "A = 1", tool_call_id="call_1", name="read_file"),
        Message("tool", "B = 2", tool_call_id="call_2", name="read_file", is_error=False),
    ]
    second = await complete(adapter, ChatRequest(model=CODEX, messages=conversation, tools=[READ]))
    assert second.text == "Both read."
    sent = body(fake)
    assert body(fake, 0)["instructions"] == sent["instructions"] == "You edit code."
    assert sent["input"] == [
        {"role": "user", "content": "read a and b"},
        {
            "id": "rs_a",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Read it."}],
            "encrypted_content": "gAAAAAB-FAKE-blob-a",
        },
        {"role": "assistant", "content": "Reading."},
        {"type": "function_call", "call_id": "call_1", "name": "read_file", "arguments": '{"path": "a.py"}'},
        {"id": "rs_b", "type": "reasoning", "summary": [], "encrypted_content": "gAAAAAB-FAKE-blob-b"},
        {"type": "function_call", "call_id": "call_2", "name": "read_file", "arguments": '{"path": "b.py"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "A = 1"},
        {"type": "function_call_output", "call_id": "call_2", "output": "B = 2"},
    ]


REFUSED = openai_error(
    400,
    "The encrypted content for item rs_a could not be verified. Reason: Encrypted content item_id did not "
    "match the target item id.",
    "invalid_request_error",
    "invalid_encrypted_content",
)


async def test_refused_reasoning_is_dropped_and_the_turn_sent_once_more(
    fake: FakeServer, adapter: ResponsesProvider
) -> None:
    """After a fallback to another organisation (or a new key) the old encrypted reasoning cannot be read."""
    blob = ReasoningItem(
        "responses", {"id": "rs_a", "type": "reasoning", "summary": [], "encrypted_content": "gAAAAAB-FAKE"}
    )
    call = ToolCall("call_1", "read_file", {"path": "a.py"}, '{"path": "a.py"}', {"reasoningBefore": 1})
    messages = [
        Message("user", "read a"),
        Message("assistant", "", tool_calls=[call], reasoning_items=[blob]),
        Message("tool", "A = 1", tool_call_id="call_1"),
    ]
    fake.route("POST", RESPONSES, REFUSED, responses_stream(["A is 1."]))
    result = await complete(adapter, ChatRequest(model=CODEX, messages=messages))
    assert result.text == "A is 1."
    first, second = (r.json()["input"] for r in fake.requests)
    assert [item.get("type") for item in first] == [
        None,
        "reasoning",
        "function_call",
        "function_call_output",
    ]
    assert [item.get("type") for item in second] == [None, "function_call", "function_call_output"]
    fake.route("POST", RESPONSES, REFUSED, responses_stream(["never sent"]))
    error = await failure(adapter, ChatRequest(model=CODEX, messages=messages[:1]))
    assert error.code == ErrorCode.BAD_REQUEST and len(fake.requests) == 3, "nothing to drop: no second try"


async def test_reasoning_without_encrypted_content_stays_home_on_openai_but_not_on_compatible(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    """With store:false, OpenAI looks an item without encrypted content up by id and fails; vLLM reads it."""
    bare = ReasoningItem("responses", {"id": "rs_x", "type": "reasoning", "summary": [], "content": []})
    messages = [
        Message("user", "hi"),
        Message("assistant", "Hello.", reasoning_items=[bare]),
        Message("user", "again"),
    ]
    fake.route("POST", RESPONSES, responses_stream(["ok"]))
    for compatible, expected in ((False, []), (True, [bare.data])):
        endpoint = OpenAIProvider("vllm", f"{fake.url}/v1", None, client, compatible=compatible)
        await complete(ResponsesProvider(endpoint), ChatRequest(model="gpt-oss-20b", messages=messages))
        reasoning = [item for item in body(fake)["input"] if item.get("type") == "reasoning"]
        assert reasoning == expected


@pytest.mark.parametrize(
    ("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
async def test_incomplete_response(
    fake: FakeServer, adapter: ResponsesProvider, reason: str, finish: str
) -> None:
    fake.route("POST", RESPONSES, responses_stream(["Partial"], incomplete=reason, usage=(10, 16)))
    assert await events(adapter) == [TextDelta("Partial"), Usage(10, 16), Finish(finish)]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("rate_limit_exceeded", ErrorCode.RATE_LIMITED),
        ("server_error", ErrorCode.PROVIDER_ERROR),
        ("insufficient_quota", ErrorCode.QUOTA_EXHAUSTED),
        ("invalid_prompt", ErrorCode.BAD_REQUEST),
    ],
)
async def test_failed_response_maps_through_the_error_table(
    fake: FakeServer, adapter: ResponsesProvider, code: str, expected: ErrorCode
) -> None:
    message = f"Rate limit or fault ({code}). Incorrect API key provided: {KEY}"
    fake.route(
        "POST", RESPONSES, responses_stream(["Half an ans"], failed={"code": code, "message": message})
    )
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as info:
        async for event in adapter.stream(HI):
            seen.append(event)
    assert seen == [TextDelta("Half an ans")], "what streamed before the failure was relayed"
    assert info.value.code == expected and info.value.mid_stream is True
    assert KEY not in str(info.value) and KEY not in json.dumps(info.value.to_data())


async def test_error_event_mid_stream(fake: FakeServer, adapter: ResponsesProvider) -> None:
    fake.route("POST", RESPONSES, responses_stream(["one ", "two ", "three"], error_after=2))
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as info:
        async for event in adapter.stream(HI):
            seen.append(event)
    assert seen == [TextDelta("one "), TextDelta("two ")]
    assert info.value.code == ErrorCode.PROVIDER_ERROR
    fake.route(
        "POST",
        RESPONSES,
        responses_stream(["x"], error_after=1, error={"code": "rate_limit_exceeded", "message": "Slow down"}),
    )
    assert (await failure(adapter)).code == ErrorCode.RATE_LIMITED


async def test_a_proxys_error_object_in_the_stream(fake: FakeServer, adapter: ResponsesProvider) -> None:
    """LiteLLM and others write `data: {"error": {...}}` with the HTTP status as a string code."""
    for code, expected in (
        ("500", ErrorCode.PROVIDER_ERROR),
        ("429", ErrorCode.RATE_LIMITED),
        (503, ErrorCode.PROVIDER_OVERLOADED),
    ):
        error = {"message": "Error processing stream", "type": "internal_server_error", "code": code}
        fake.route("POST", RESPONSES, sse_reply(["data: " + json.dumps({"error": error}), "data: [DONE]"]))
        assert (await failure(adapter)).code == expected


@pytest.mark.parametrize(
    "event",
    [
        {"type": "response.output_text.delta", "item_id": "m", "delta": 5},
        {"type": "response.output_item.done", "output_index": "first", "item": {"type": "message"}},
        {"type": "response.output_item.added", "output_index": 0, "item": []},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {"type": "reasoning", "summary": [{"text": 1}]},
        },
        {"type": "response.completed", "response": ["not", "an", "object"]},
        {"type": "response.completed", "response": {"usage": {"input_tokens": "many"}}},
        {"type": "response.incomplete", "response": None},
    ],
)
async def test_malformed_events_are_provider_errors(
    fake: FakeServer, adapter: ResponsesProvider, event: dict[str, Any]
) -> None:
    fake.route("POST", RESPONSES, sse_reply(["data: " + json.dumps(event)]))
    error = await failure(adapter)
    assert error.code == ErrorCode.PROVIDER_ERROR and "malformed" in str(error)


async def test_tool_call_caps_hold(fake: FakeServer, adapter: ResponsesProvider) -> None:
    calls = [Call(f"call_{i}", "list_files", {}, parts=1) for i in range(129)]
    fake.route("POST", RESPONSES, responses_stream(tool_calls=calls))
    error = await failure(adapter)
    assert error.code == ErrorCode.PROVIDER_ERROR and "more than 128 tool calls" in str(error)


async def test_stream_cut_before_its_terminal_event(fake: FakeServer, adapter: ResponsesProvider) -> None:
    whole = responses_stream(["Hel", "lo"])
    assert whole.chunks is not None
    fake.route("POST", RESPONSES, Reply(headers=whole.headers, chunks=whole.chunks[:-1]))
    assert (await failure(adapter)).code == ErrorCode.STREAM_INTERRUPTED
    fake.route("POST", RESPONSES, sse_reply(["data: [DONE]"]))
    assert (await failure(adapter)).code == ErrorCode.STREAM_INTERRUPTED


async def test_items_without_deltas_still_give_their_text_and_arguments(
    fake: FakeServer, adapter: ResponsesProvider
) -> None:
    """A server that sends only whole `output_item.done` items (no deltas)."""

    def done(index: int, item: dict[str, Any]) -> str:
        return "data: " + json.dumps(
            {"type": "response.output_item.done", "output_index": index, "item": item}
        )

    fake.route(
        "POST",
        RESPONSES,
        sse_reply(
            [
                done(
                    0,
                    {"id": "rs_1", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Hm."}]},
                ),
                done(1, {"id": "m", "type": "message", "content": [{"type": "output_text", "text": "Hi"}]}),
                done(2, {"type": "function_call", "call_id": "c9", "name": "list_files", "arguments": "{}"}),
                'data: {"type":"response.completed","response":{"usage":null}}',
            ]
        ),
    )
    result = await complete(adapter, HI)
    assert (result.reasoning, result.text, [c.id for c in result.tool_calls]) == ("Hm.", "Hi", ["c9"])
    assert result.finish_reason == "tool_calls"


async def test_http_errors_use_the_endpoint_table(fake: FakeServer, adapter: ResponsesProvider) -> None:
    fake.route(
        "POST",
        RESPONSES,
        openai_error(429, "Rate limit reached", "requests", "rate_limit_exceeded", retry_after=2),
    )
    error = await failure(adapter)
    assert error.code == ErrorCode.RATE_LIMITED and error.retry_after_s == 2
    fake.route(
        "POST",
        RESPONSES,
        openai_error(400, "Unsupported parameter", "invalid_request_error", param="reasoning"),
    )
    assert (await failure(adapter)).code == ErrorCode.BAD_REQUEST


async def test_verify_lists_models(fake: FakeServer, adapter: ResponsesProvider) -> None:
    fake.route("GET", "/v1/models", openai_models(["gpt-5.3-codex", "gpt-4.1"]))
    assert [m.id for m in await adapter.verify()] == ["gpt-4.1", "gpt-5.3-codex"]


# -- Azure's v1 route ------------------------------------------------------------------------------------


async def test_azure_v1_route(fake: FakeServer, client: httpx.AsyncClient) -> None:
    azure = ResponsesProvider(
        AzureOpenAIProvider("azure", fake.url, "codex-prod", "2024-10-21", TEST_KEY_AZURE, client)
    )
    fake.route("POST", "/openai/v1/responses", responses_stream(["Hi"]))
    assert (await complete(azure, HI)).text == "Hi"
    sent = fake.requests[-1]
    assert sent.path == "/openai/v1/responses" and sent.query == {}, "no api-version on the v1 route"
    assert sent.headers["api-key"] == TEST_KEY_AZURE and "authorization" not in sent.headers
    assert sent.json()["model"] == "codex-prod", "the deployment name is the model"
    assert [m.id for m in await azure.verify()] == ["codex-prod"], "the probe goes to the Responses route"
    assert fake.requests[-1].path == "/openai/v1/responses"
    assert fake.requests[-1].json()["max_output_tokens"] == 16


async def test_azure_v1_route_errors_name_the_route(fake: FakeServer, client: httpx.AsyncClient) -> None:
    azure = ResponsesProvider(
        AzureOpenAIProvider("azure", fake.url, "codex-prod", None, TEST_KEY_AZURE, client)
    )
    fake.route("POST", "/openai/v1/responses", azure_error(404, "404", "Resource not found"))
    error = await expect_failure(azure, HI, (TEST_KEY_AZURE,))
    assert error.code == ErrorCode.BAD_API_VERSION and "v1 Responses route" in error.cause
    assert "apiVersion" not in error.cause, "the v1 route takes no api-version"
    fake.route("POST", "/openai/v1/responses", azure_deployment_not_found())
    assert (await expect_failure(azure, HI, (TEST_KEY_AZURE,))).code == ErrorCode.MODEL_NOT_FOUND
    fake.route("POST", "/openai/v1/responses", azure_bad_key())
    assert (await expect_failure(azure, HI, (TEST_KEY_AZURE,))).code == ErrorCode.INVALID_KEY


async def test_factory_picks_the_adapter_by_api(client: httpx.AsyncClient) -> None:
    settings = Settings(
        providers={"azure": ProviderSettings(endpoint="https://r.openai.azure.com", deployment="d")}
    )
    for provider_id in ("openai", "azure", "vllm"):
        resolved: ResolvedProvider = resolve_provider(settings, provider_id)
        assert not isinstance(create_provider(resolved, None, client), ResponsesProvider)
        responses = create_provider(resolved, None, client, "responses")
        assert isinstance(responses, ResponsesProvider)
        assert responses.key_endpoint == create_provider(resolved, None, client).key_endpoint


# -- the official SDK reads the fake -----------------------------------------------------------------------


async def test_the_openai_sdk_parses_the_fake_stream(fake: FakeServer) -> None:
    """openai's own Responses stream accumulator reads every event type the fake sends."""
    output = [
        Reasoning("rs_a", ["Think."], "gAAAAAB-FAKE-blob-a"),
        Text(["Hel", "lo"]),
        Call("call_1", "read_file", {"path": "a.py"}),
    ]
    fake.route(
        "POST", RESPONSES, responses_stream(output=output, usage=(20, 9), cached=8, reasoning_tokens=4)
    )
    sdk = openai.AsyncOpenAI(api_key=KEY, base_url=f"{fake.url}/v1", max_retries=0)
    async with sdk.responses.stream(model=CODEX, input="hi", store=False) as stream:
        kinds = [event.type async for event in stream]
        final = await stream.get_final_response()
    await sdk.close()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert (
        "response.reasoning_summary_text.delta" in kinds and "response.function_call_arguments.delta" in kinds
    )
    assert final.output_text == "Hello"
    reasoning, _message, call = final.output
    assert reasoning.type == "reasoning" and reasoning.encrypted_content == "gAAAAAB-FAKE-blob-a"
    assert (
        call.type == "function_call"
        and call.call_id == "call_1"
        and json.loads(call.arguments) == {"path": "a.py"}
    )
    assert final.usage is not None
    assert (
        final.usage.input_tokens_details.cached_tokens,
        final.usage.output_tokens_details.reasoning_tokens,
    ) == (8, 4)
