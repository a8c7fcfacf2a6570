"""Reasoning on the wire: Anthropic thinking (both block kinds, signatures), Gemini thinkingConfig, Bedrock
reasoningContent, OpenAI reasoning_effort and reasoning tokens, each against its loopback fake."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx
import pytest
from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE, TEST_KEY_OPENAI
from tests.fakes import (
    FakeServer,
    anthropic_error,
    anthropic_stream,
    gemini_stream,
    openai_error,
    openai_stream,
)
from tests.fakes.anthropic import thinking_problems
from tests.fakes.sse import data_event, stream_reply
from tests.fakes_bedrock import ACCESS_KEY, MODEL, SECRET_KEY, FakeBedrock, StreamReply, event, metadata
from tests.unit.adapter_checks import expect_failure, stream_events

from byok.base.config import ProviderSettings
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.providers.anthropic import AnthropicProvider
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    Reasoning,
    ReasoningDelta,
    ReasoningItem,
    ReasoningItemEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
    complete,
)
from byok.providers.bedrock import BedrockProvider
from byok.providers.google import GeminiProvider
from byok.providers.openai import OpenAIProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")
MESSAGES = "/v1/messages"
SIGNATURE = "EqQBCkYIARgCKkDFAKEsignatureTESTONLY0aaaa/bbbb+cccc=="
REDACTED = "EmwKAhgBEgy3vaTESTredactedFAKEdata0123456789=="
IAM_KEY = json.dumps({"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY})
LOOK = ToolSpec("read_file", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})


@pytest.fixture(autouse=True)
def _keys_registered() -> None:
    for key in (TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE, TEST_KEY_OPENAI):
        REDACTOR.register(key)


def ask(model: str, reasoning: Reasoning | None, **fields: Any) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[Message("system", "Be terse."), Message("user", "fix it")],
        reasoning=reasoning,
        **fields,
    )


# -- Anthropic ----------------------------------------------------------------------------------------


@pytest.fixture
def claude(fake: FakeServer, client: httpx.AsyncClient) -> AnthropicProvider:
    return AnthropicProvider("anthropic", fake.url, TEST_KEY_ANTHROPIC, client)


async def test_budget_thinking_is_enabled_without_sampling_knobs(
    fake: FakeServer, claude: AnthropicProvider
) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["ok"]))
    request = ask(
        "claude-sonnet-4-5", Reasoning("medium", 8192, summary=True), max_tokens=12288, temperature=0.3
    )
    await complete(claude, request)
    body = fake.requests[-1].json()
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192, "display": "summarized"}
    assert body["max_tokens"] == 12288 and "temperature" not in body and "output_config" not in body
    assert thinking_problems(body, []) == []


async def test_adaptive_thinking_takes_an_effort(fake: FakeServer, claude: AnthropicProvider) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["ok"]))
    await complete(claude, ask("claude-opus-4-6", Reasoning("max"), temperature=0.3))
    body = fake.requests[-1].json()
    assert (body["thinking"], body["output_config"]) == ({"type": "adaptive"}, {"effort": "max"})
    assert "temperature" not in body and thinking_problems(body, []) == []


@pytest.mark.parametrize("reasoning", [None, Reasoning("none"), Reasoning(summary=True)])
async def test_no_thinking_keeps_temperature(
    fake: FakeServer, claude: AnthropicProvider, reasoning: Reasoning | None
) -> None:
    fake.route("POST", MESSAGES, anthropic_stream(["ok"]))
    await complete(claude, ask("claude-opus-4-6", reasoning, temperature=0.3))
    body = fake.requests[-1].json()
    assert "thinking" not in body and "output_config" not in body and body["temperature"] == 0.3


async def test_both_thinking_block_kinds_stream_and_come_back_unchanged(
    fake: FakeServer, claude: AnthropicProvider
) -> None:
    plan = "I should read app.py before editing."
    returned = [
        {"type": "thinking", "thinking": plan, "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": REDACTED},
    ]
    fake.route(
        "POST",
        MESSAGES,
        anthropic_stream(
            ["Reading."],
            thinking=[(plan, SIGNATURE), REDACTED],
            tool_uses=[("toolu_1", "read_file", {"path": "app.py"})],
        ),
        anthropic_stream(["Done."]),
    )
    first = ask("claude-sonnet-4-5", Reasoning("low", 2048), max_tokens=4096, tools=[LOOK])
    events = await stream_events(claude, first)
    reasoning_text = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    items = [e.item for e in events if isinstance(e, ReasoningItemEvent)]
    assert reasoning_text == plan
    assert items == [ReasoningItem("anthropic", block) for block in returned]
    assert [type(e) for e in events][-4:] == [TextDelta, ToolCallEvent, Usage, Finish]

    call = next(e.call for e in events if isinstance(e, ToolCallEvent))
    second = ask(
        "claude-sonnet-4-5",
        Reasoning("low", 2048),
        max_tokens=4096,
        tools=[LOOK],
    )
    second.messages += [
        Message("assistant", "Reading.", tool_calls=[call], reasoning_items=items),
        Message("tool", "print('hi')", tool_call_id=call.id, name=call.name),
    ]
    assert (await complete(claude, second)).text == "Done."
    body = fake.requests[-1].json()
    assistant = body["messages"][1]
    assert assistant["content"][:2] == returned, "thinking blocks first, unchanged, in order"
    assert [b["type"] for b in assistant["content"][2:]] == ["text", "tool_use"]
    assert thinking_problems(body, [returned]) == []


async def test_the_fake_refuses_what_the_api_refuses() -> None:
    """The checker the tests lean on says no to each rule broken (so its empty answers mean something)."""
    blocks = [{"type": "thinking", "thinking": "t", "signature": "s"}]
    body = {
        "max_tokens": 2000,
        "temperature": 0.5,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]},
        ],
    }
    assert thinking_problems(body, [blocks]) == [
        "temperature is not allowed with thinking",
        "max_tokens must be greater than thinking.budget_tokens",
        "thinking blocks must be passed back unmodified and in their original order",
    ]
    changed = [{**blocks[0], "thinking": "edited"}]
    body = {**body, "messages": [{"role": "assistant", "content": changed}], "temperature": None}
    del body["temperature"]
    assert "thinking blocks must be passed back unmodified and in their original order" in thinking_problems(
        body, [blocks]
    )


async def test_the_anthropic_sdk_reads_the_fake_thinking_stream_as_the_adapter_does(
    fake: FakeServer, claude: AnthropicProvider
) -> None:
    """The official SDK's stream parser, pointed at the same fake, sees the same blocks the adapter keeps."""
    reply = anthropic_stream(
        ["Answer."],
        thinking=[("step one, step two", SIGNATURE), REDACTED],
        tool_uses=[("toolu_9", "read_file", {})],
    )
    fake.route("POST", MESSAGES, reply)
    sdk = anthropic.AsyncAnthropic(api_key=TEST_KEY_ANTHROPIC, base_url=fake.url, max_retries=0)
    async with sdk.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=[{"role": "user", "content": "hi"}],
    ) as stream:
        final = await stream.get_final_message()
    await sdk.close()
    sdk_blocks = [
        b.model_dump(exclude_none=True) for b in final.content if b.type in ("thinking", "redacted_thinking")
    ]
    result = await complete(claude, ask("claude-sonnet-4-5", Reasoning("low", 2048), max_tokens=4096))
    assert [item.data for item in result.reasoning_items] == sdk_blocks
    assert result.reasoning == final.content[0].thinking  # type: ignore[union-attr]


async def test_an_effort_the_model_refuses_is_a_bad_request_naming_the_values(
    fake: FakeServer, claude: AnthropicProvider
) -> None:
    message = "output_config.effort: Input should be 'low', 'medium' or 'high'"
    fake.route("POST", MESSAGES, anthropic_error(400, "invalid_request_error", message))
    error = await expect_failure(claude, ask("claude-haiku-5", Reasoning("max")), (TEST_KEY_ANTHROPIC,))
    assert error.code == ErrorCode.BAD_REQUEST
    assert "low, medium, high" in error.fix and error.extra["supportedEfforts"] == ["low", "medium", "high"]


# -- OpenAI chat --------------------------------------------------------------------------------------


async def test_openai_reasoning_effort_and_reasoning_tokens(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    adapter = OpenAIProvider("openai", fake.url, TEST_KEY_OPENAI, client)
    usage = {
        "prompt_tokens": 40,
        "completion_tokens": 300,
        "total_tokens": 340,
        "completion_tokens_details": {"reasoning_tokens": 256},
    }
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "o3", "choices": []}
    fake.route(
        "POST",
        "/chat/completions",
        stream_reply(
            [
                data_event(
                    {**chunk, "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": None}]}
                ),
                data_event({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                data_event({**chunk, "usage": usage}),
                data_event("[DONE]"),
            ]
        ),
    )
    result = await complete(adapter, ask("o3", Reasoning("high"), temperature=0.2))
    body = fake.requests[-1].json()
    assert body["reasoning_effort"] == "high" and body["max_completion_tokens"] == 4096
    assert "temperature" not in body
    assert result.usage == Usage(40, 300, reasoning_tokens=256)


async def test_openai_unsupported_effort_lists_the_supported_values(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    adapter = OpenAIProvider("openai", fake.url, TEST_KEY_OPENAI, client)
    message = (
        "Unsupported value: 'reasoning_effort' does not support 'minimal' with this model. "
        "Supported values are: 'low', 'medium', and 'high'."
    )
    fake.route(
        "POST",
        "/chat/completions",
        openai_error(
            400, message, type="invalid_request_error", code="unsupported_value", param="reasoning_effort"
        ),
    )
    error = await expect_failure(adapter, ask("o9-preview", Reasoning("minimal")), (TEST_KEY_OPENAI,))
    assert error.code == ErrorCode.BAD_REQUEST
    assert error.fix.startswith("Set reasoning.effort to one this model takes: low, medium, high")


async def test_openai_without_reasoning_sends_no_effort(fake: FakeServer, client: httpx.AsyncClient) -> None:
    adapter = OpenAIProvider("openai", fake.url, TEST_KEY_OPENAI, client)
    fake.route("POST", "/chat/completions", openai_stream(["ok"]))
    await complete(adapter, ask("gpt-5", None))
    assert "reasoning_effort" not in fake.requests[-1].json()


# -- Gemini -------------------------------------------------------------------------------------------


@pytest.fixture
def gemini(fake: FakeServer, client: httpx.AsyncClient) -> GeminiProvider:
    return GeminiProvider("google", fake.url, TEST_KEY_GOOGLE, client)


@pytest.mark.parametrize(
    ("model", "reasoning", "config"),
    [
        ("gemini-3-pro-preview", Reasoning("low"), {"thinkingLevel": "LOW"}),
        (
            "gemini-3-flash-preview",
            Reasoning("minimal", summary=True),
            {"thinkingLevel": "MINIMAL", "includeThoughts": True},
        ),
        ("gemini-2.5-flash", Reasoning("medium", 8192), {"thinkingBudget": 8192}),
        ("gemini-2.5-flash", Reasoning("none"), {"thinkingBudget": 0}),
        (
            "gemini-2.5-pro",
            Reasoning("high", 24576, summary=True),
            {"thinkingBudget": 24576, "includeThoughts": True},
        ),
        ("gemini-2.5-flash", Reasoning(summary=True), {"includeThoughts": True}),
    ],
)
async def test_gemini_thinking_config_never_has_both(
    fake: FakeServer, gemini: GeminiProvider, model: str, reasoning: Reasoning, config: dict[str, Any]
) -> None:
    fake.route("POST", rf"/v1beta/models/{model}:streamGenerateContent", gemini_stream(["ok"], model=model))
    await complete(gemini, ask(model, reasoning))
    sent = fake.requests[-1].json()["generationConfig"]["thinkingConfig"]
    assert sent == config
    assert not {"thinkingLevel", "thinkingBudget"} <= sent.keys()


async def test_gemini_thoughts_stream_as_reasoning_and_count(
    fake: FakeServer, gemini: GeminiProvider
) -> None:
    model = "gemini-2.5-flash"
    fake.route(
        "POST",
        rf"/v1beta/models/{model}:streamGenerateContent",
        gemini_stream(["ok"], usage=(10, 5), thoughts_tokens=40, model=model),
    )
    result = await complete(gemini, ask(model, Reasoning("low", 2048, summary=True)))
    assert result.usage == Usage(10, 45, reasoning_tokens=40)


# -- Bedrock ------------------------------------------------------------------------------------------


@pytest.fixture
def bedrock_fake() -> Iterator[FakeBedrock]:
    with FakeBedrock() as server:
        yield server


@pytest.fixture
async def tls_client() -> AsyncIterator[httpx.AsyncClient]:
    import ssl

    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), verify=ssl.create_default_context()) as http:
        yield http


def reasoning_delta(index: int, **fields: str) -> bytes:
    return event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"reasoningContent": fields}})


async def test_bedrock_reasoning_content_comes_back_with_its_signature(
    bedrock_fake: FakeBedrock, tls_client: httpx.AsyncClient
) -> None:
    adapter = BedrockProvider(
        "bedrock",
        ProviderSettings(endpoint_url=bedrock_fake.url, region=bedrock_fake.region),
        IAM_KEY,
        tls_client,
    )
    bedrock_fake.replies = [
        StreamReply(
            [
                event("messageStart", {"role": "assistant"}),
                reasoning_delta(0, text="Look at "),
                reasoning_delta(0, text="the file."),
                reasoning_delta(0, signature=SIGNATURE),
                event("contentBlockStop", {"contentBlockIndex": 0}),
                reasoning_delta(1, redactedContent=REDACTED),
                event("contentBlockStop", {"contentBlockIndex": 1}),
                event(
                    "contentBlockStart",
                    {
                        "contentBlockIndex": 2,
                        "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "read_file"}},
                    },
                ),
                event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{}"}}}),
                event("contentBlockStop", {"contentBlockIndex": 2}),
                event("messageStop", {"stopReason": "tool_use"}),
                metadata(50, 30),
            ],
            split=7,
        ),
        StreamReply(
            [
                event("messageStart", {"role": "assistant"}),
                event("messageStop", {"stopReason": "end_turn"}),
                metadata(9, 1),
            ]
        ),
    ]
    request = ask(MODEL, Reasoning("high", 24576), max_tokens=30000, temperature=0.4, tools=[LOOK])
    result = await complete(adapter, request)
    assert result.reasoning == "Look at the file."
    assert result.reasoning_items == [
        ReasoningItem("bedrock", {"reasoningText": {"text": "Look at the file.", "signature": SIGNATURE}}),
        ReasoningItem("bedrock", {"redactedContent": REDACTED}),
    ]
    first = bedrock_fake.requests[0].json()
    assert first["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": 24576}}
    assert first["inferenceConfig"] == {"maxTokens": 30000}, "no temperature with thinking on"

    [call] = result.tool_calls
    request.messages += [
        Message("assistant", "", tool_calls=[call], reasoning_items=result.reasoning_items),
        Message("tool", "x = 1", tool_call_id=call.id, name=call.name),
    ]
    await complete(adapter, request)
    assistant = bedrock_fake.requests[1].json()["messages"][1]
    assert assistant["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "Look at the file.", "signature": SIGNATURE}}},
        {"reasoningContent": {"redactedContent": REDACTED}},
        {"toolUse": {"toolUseId": "tooluse_1", "name": "read_file", "input": {}}},
    ]


async def test_bedrock_non_anthropic_models_get_no_thinking_fields(
    bedrock_fake: FakeBedrock, tls_client: httpx.AsyncClient
) -> None:
    adapter = BedrockProvider(
        "bedrock",
        ProviderSettings(endpoint_url=bedrock_fake.url, region=bedrock_fake.region),
        IAM_KEY,
        tls_client,
    )
    bedrock_fake.replies = [
        StreamReply(
            [
                event("messageStart", {"role": "assistant"}),
                event("messageStop", {"stopReason": "end_turn"}),
                metadata(9, 1),
            ]
        )
    ]
    bedrock_fake.profiles = ["us.amazon.nova-pro-v1:0"]
    await complete(adapter, ask("us.amazon.nova-pro-v1:0", Reasoning("high"), temperature=0.4))
    sent = bedrock_fake.requests[0].json()
    assert "additionalModelRequestFields" not in sent and sent["inferenceConfig"]["temperature"] == 0.4


async def test_reasoning_items_of_other_families_are_not_sent() -> None:
    """An assistant turn from another family (a fallback) carries nothing foreign into this wire."""
    from byok.providers.anthropic import _wire_messages as anthropic_wire
    from byok.providers.bedrock import _wire_messages as bedrock_wire

    foreign = [ReasoningItem("responses", {"type": "reasoning", "encrypted_content": "x"})]
    turn = Message("assistant", "hi", reasoning_items=foreign, tool_calls=[ToolCall("c", "read_file", {})])
    assert json.dumps(anthropic_wire([turn])).count("encrypted") == 0
    assert json.dumps(bedrock_wire([turn])).count("encrypted") == 0
