"""Prompt caching on the wire: Anthropic breakpoints, OpenAI/Azure cache keys, every family's cache usage.

The fake providers keep a prompt cache of their own (tests/fakes/prompt_cache.py): what an adapter marks is
what the fake reads back on the next request, so these tests see cache hits only when the breakpoints are
where they have to be.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_AZURE, TEST_KEY_GOOGLE, TEST_KEY_OPENAI
from tests.fakes import (
    FakeServer,
    anthropic_error,
    anthropic_stream,
    azure_error,
    azure_stream,
    openai_stream,
)
from tests.fakes.gemini import gemini_stream
from tests.fakes.prompt_cache import CacheUsage, PromptCache, cached_replies
from tests.fakes.server import Reply
from tests.unit.adapter_checks import stream_events

from byok.base.redaction import REDACTOR
from byok.providers.anthropic import AnthropicProvider
from byok.providers.azure import AzureOpenAIProvider
from byok.providers.base import ChatRequest, Message, ToolCall, ToolSpec, Usage, complete
from byok.providers.google import GeminiProvider
from byok.providers.openai import OpenAIProvider

pytestmark = pytest.mark.asyncio(loop_scope="module")
MESSAGES = "/v1/messages"
CHAT = "/v1/chat/completions"
AZURE_CHAT = "/openai/deployments/dep1/chat/completions"
CACHE_KEY = "byok-0123456789abcdef0123456789abcdef"
SYSTEM = "You are a coding agent. " * 40
TOOLS = [
    ToolSpec(
        f"tool_{n}", f"Tool number {n} " * 20, {"type": "object", "properties": {"path": {"type": "string"}}}
    )
    for n in range(3)
]


@pytest.fixture(autouse=True)
def _keys_registered() -> None:
    for key in (TEST_KEY_ANTHROPIC, TEST_KEY_OPENAI, TEST_KEY_AZURE, TEST_KEY_GOOGLE):
        REDACTOR.register(key)


def agent_history(steps: int) -> list[Message]:
    """An agent run after `steps` tool-calling steps: system, task, then (assistant call, tool result) pairs."""
    messages = [Message("system", SYSTEM), Message("user", "Task: tidy src/")]
    for step in range(steps):
        call = ToolCall(f"toolu_{step}", "tool_0", {"path": f"src/f{step}.py"})
        messages += [
            Message("assistant", f"Step {step}.", tool_calls=[call]),
            Message("tool", f"contents of f{step}.py " * 30, tool_call_id=call.id, name="tool_0"),
        ]
    return messages


def anthropic_turn(usage: CacheUsage) -> Reply:
    return anthropic_stream(["ok"], usage=(usage.uncached, 5), cache=(usage.read, usage.written))


def anthropic_cache(fake: FakeServer, cache: PromptCache) -> None:
    refuse: Callable[[str], Reply] = lambda message: anthropic_error(400, "invalid_request_error", message)  # noqa: E731
    fake.route("POST", MESSAGES, cached_replies(cache, PromptCache.anthropic, [anthropic_turn], refuse))


def marked_blocks(body: dict[str, Any]) -> list[str]:
    """Where a Messages request's cache_control breakpoints are: tool names, "system", "user#<turn>"."""
    marks = [tool["name"] for tool in body.get("tools", []) if "cache_control" in tool]
    marks += [
        "system" for block in body.get("system") or [] if isinstance(block, dict) and "cache_control" in block
    ]
    for turn_index, turn in enumerate(body["messages"]):
        marks += [f"{turn['role']}#{turn_index}" for block in turn["content"] if "cache_control" in block]
    return marks


async def test_anthropic_marks_tools_system_and_the_last_two_user_turns(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    cache = PromptCache(min_tokens=0)
    anthropic_cache(fake, cache)
    adapter = AnthropicProvider("anthropic", fake.url, TEST_KEY_ANTHROPIC, client)
    for steps in range(4):
        await complete(adapter, ChatRequest("claude-sonnet-4-5", agent_history(steps), tools=TOOLS))
    bodies = [request.json() for request in fake.requests]
    assert marked_blocks(bodies[0]) == ["tool_2", "system", "user#0"]
    assert marked_blocks(bodies[3]) == ["tool_2", "system", "user#4", "user#6"]
    for body in bodies:
        assert len(marked_blocks(body)) <= 4
        assert body["system"] == [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}]


async def test_anthropic_reads_back_the_prefix_of_each_previous_turn(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    cache = PromptCache(min_tokens=0)
    anthropic_cache(fake, cache)
    adapter = AnthropicProvider("anthropic", fake.url, TEST_KEY_ANTHROPIC, client)
    usages: list[Usage] = []
    for steps in range(4):
        result = await complete(adapter, ChatRequest("claude-sonnet-4-5", agent_history(steps), tools=TOOLS))
        assert result.usage is not None
        usages.append(result.usage)
    first, *later = usages
    assert first.cache_read_tokens == 0 and first.cache_write_tokens > 0
    for previous, usage in zip(usages, later, strict=False):
        # everything the previous request sent is read back; only the new turn is written
        assert usage.cache_read_tokens == previous.input_tokens
        assert 0 < usage.cache_write_tokens < usage.input_tokens
        # inputTokens counts every input token; the last breakpoint ends the prompt, so none is uncached
        assert usage.input_tokens == usage.cache_read_tokens + usage.cache_write_tokens


async def test_a_one_shot_request_caches_its_system_prompt_and_tools_only(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    cache = PromptCache(min_tokens=0)
    anthropic_cache(fake, cache)
    adapter = AnthropicProvider("anthropic", fake.url, TEST_KEY_ANTHROPIC, client)
    request = ChatRequest("claude-sonnet-4-5", agent_history(0), tools=TOOLS, cache_conversation=False)
    first = await complete(adapter, request)
    second = await complete(adapter, request)
    assert [marked_blocks(r.json()) for r in fake.requests] == [["tool_2", "system"]] * 2
    assert first.usage is not None and second.usage is not None
    # the stable prefix is written once and read back; the one-shot turn is never written at the write price
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens
    assert second.usage.cache_write_tokens == 0
    assert second.usage.input_tokens > second.usage.cache_read_tokens


async def test_anthropic_without_cache_sends_no_breakpoint_and_reads_nothing(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    cache = PromptCache(min_tokens=0)
    anthropic_cache(fake, cache)
    adapter = AnthropicProvider("anthropic", fake.url, TEST_KEY_ANTHROPIC, client)
    for steps in range(3):
        result = await complete(
            adapter, ChatRequest("claude-sonnet-4-5", agent_history(steps), tools=TOOLS, cache=False)
        )
        assert result.usage is not None
        assert (result.usage.cache_read_tokens, result.usage.cache_write_tokens) == (0, 0)
    for request in fake.requests:
        body = request.json()
        assert "cache_control" not in json.dumps(body)
        assert isinstance(body["system"], str)


async def test_the_fake_refuses_a_fifth_breakpoint_as_the_api_does(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    anthropic_cache(fake, PromptCache(min_tokens=0))
    marked = {"cache_control": {"type": "ephemeral"}}
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": str(n), **marked} for n in range(5)]}
        ],
    }
    answer = await client.post(f"{fake.url}{MESSAGES}", json=body)
    assert answer.status_code == 400
    assert "A maximum of 4 blocks with cache_control" in answer.json()["error"]["message"]


async def test_openai_sends_the_workspace_cache_key_and_counts_cached_and_written_tokens(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    cache = PromptCache()

    def turn(usage: CacheUsage) -> Reply:
        return openai_stream(["ok"], usage=(usage.total, 5, usage.read, usage.written))

    fake.route("POST", CHAT, cached_replies(cache, PromptCache.openai, [turn], lambda m: openai_stream([m])))
    adapter = OpenAIProvider("openai", f"{fake.url}/v1", TEST_KEY_OPENAI, client)
    usages = []
    for steps in (6, 7):
        request = ChatRequest("gpt-4.1", agent_history(steps), tools=TOOLS, cache_key=CACHE_KEY)
        result = await complete(adapter, request)
        usages.append(result.usage)
    assert [r.json()["prompt_cache_key"] for r in fake.requests] == [CACHE_KEY, CACHE_KEY]
    first, second = usages
    assert first is not None and second is not None
    assert first.cache_read_tokens == 0
    assert second.cache_read_tokens >= 1024 and second.cache_read_tokens % 128 == 0
    assert second.cache_read_tokens <= first.input_tokens <= second.input_tokens


async def test_openai_cache_write_tokens_are_read_from_prompt_details(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route("POST", CHAT, openai_stream(["ok"], usage=(3000, 7, 1024, 1800)))
    adapter = OpenAIProvider("openai", f"{fake.url}/v1", TEST_KEY_OPENAI, client)
    result = await complete(adapter, ChatRequest("gpt-5.6", [Message("user", "hi")]))
    assert result.usage == Usage(3000, 7, cache_read_tokens=1024, cache_write_tokens=1800)


@pytest.mark.parametrize(
    ("cache", "compatible", "sent"), [(True, False, True), (False, False, False), (True, True, False)]
)
async def test_the_cache_key_goes_only_to_openai_and_only_with_caching_on(
    fake: FakeServer, client: httpx.AsyncClient, cache: bool, compatible: bool, sent: bool
) -> None:
    fake.route("POST", CHAT, openai_stream(["ok"]))
    adapter = OpenAIProvider("openai", f"{fake.url}/v1", TEST_KEY_OPENAI, client, compatible=compatible)
    await complete(adapter, ChatRequest("gpt-4.1", [Message("user", "hi")], cache=cache, cache_key=CACHE_KEY))
    assert ("prompt_cache_key" in fake.requests[-1].json()) is sent


async def test_azure_sends_the_cache_key_and_drops_it_where_the_deployment_refuses_it(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    refused = azure_error(
        400, "unrecognized_request_argument", "Unrecognized request argument supplied: prompt_cache_key"
    )
    fake.route("POST", AZURE_CHAT, refused, azure_stream(["ok"]), azure_stream(["again"]))
    adapter = AzureOpenAIProvider("azure", fake.url, "dep1", "2024-10-21", TEST_KEY_AZURE, client)
    request = ChatRequest("ignored", [Message("user", "hi")], cache_key=CACHE_KEY)
    assert (await complete(adapter, request)).text == "ok"
    assert (await complete(adapter, request)).text == "again"
    sent = [r.json() for r in fake.requests]
    assert [body.get("prompt_cache_key") for body in sent] == [CACHE_KEY, None, None]


async def test_azure_other_bad_requests_are_not_retried(fake: FakeServer, client: httpx.AsyncClient) -> None:
    fake.route(
        "POST",
        r"/openai/deployments/dep2/chat/completions",
        azure_error(400, "BadRequest", "max_tokens is too large"),
    )
    adapter = AzureOpenAIProvider("azure", fake.url, "dep2", "2024-10-21", TEST_KEY_AZURE, client)
    with pytest.raises(Exception, match="max_tokens is too large"):
        await complete(adapter, ChatRequest("ignored", [Message("user", "hi")], cache_key=CACHE_KEY))
    assert len(fake.requests) == 1


async def test_gemini_cached_content_tokens_are_cache_reads(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    fake.route(
        "POST",
        r"/v1beta/models/gemini-2\.5-flash:streamGenerateContent",
        gemini_stream(["ok"], usage=(4000, 9), cached=3072),
    )
    adapter = GeminiProvider("google", fake.url, TEST_KEY_GOOGLE, client)
    events = await stream_events(adapter, ChatRequest("gemini-2.5-flash", [Message("user", "hi")]))
    usage = next(event for event in events if isinstance(event, Usage))
    assert usage == Usage(4000, 9, cache_read_tokens=3072)
