"""The shared error mapping: context overflow, retry hints, redaction, and OpenAI-style stream endings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from byok.base.errors import ByokError, error_for_status
from byok.base.names import ErrorCode
from byok.providers.base import Finish, ToolCallEvent
from byok.providers.http import status_error
from byok.providers.openai import OpenAIProvider


def test_context_overflow_is_its_own_code() -> None:
    for message in (
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130001 tokens.",
        "prompt is too long: 210000 tokens > 200000 maximum",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    ):
        error = error_for_status(400, "openai", message)
        assert error.code == ErrorCode.CONTEXT_TOO_LARGE, message
        assert "fewer" in error.fix
    assert (
        error_for_status(400, "openai", "Unsupported parameter: 'temperature'").code == ErrorCode.BAD_REQUEST
    )


def test_retry_hints_from_headers() -> None:
    limited = status_error(429, "openai", "slow down", {"retry-after-ms": "1500"})
    assert limited.code == ErrorCode.RATE_LIMITED and limited.extra["retryAfterS"] == 1.5
    overloaded = status_error(529, "anthropic", "Overloaded", {"x-should-retry": "false"})
    assert overloaded.code == ErrorCode.PROVIDER_OVERLOADED and overloaded.extra["shouldRetry"] is False
    assert "shouldRetry" not in status_error(529, "anthropic", "Overloaded", {"x-should-retry": "true"}).extra


def test_messages_are_redacted_on_the_way_in() -> None:
    key = "sk-proj-" + "Q" * 48 + "zz99"
    error = ByokError(ErrorCode.INVALID_KEY, f"Incorrect API key provided: {key}", cause=f"bad {key}")
    assert key not in str(error) and key not in repr(error.to_data())
    assert "sk-proj-…zz99" in error.message


async def _lines(*events: str) -> AsyncIterator[str]:
    for event in events:
        yield f"data: {event}"
        yield ""


async def test_tool_calls_before_done_without_finish_reason_are_kept() -> None:
    adapter = OpenAIProvider("local", "http://127.0.0.1:9/v1", None, httpx.AsyncClient(), compatible=True)
    chunk = (
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function",'
        '"function":{"name":"read_file","arguments":"{\\"path\\": \\"a.py\\"}"}}]}}]}'
    )
    events = [e async for e in adapter.decode(_lines(chunk, "[DONE]"))]
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert [(c.id, c.name, c.arguments) for c in calls] == [("c1", "read_file", {"path": "a.py"})]
    assert isinstance(events[-1], Finish) and events[-1].reason == "tool_calls"


def test_malformed_tool_arguments_are_echoed_as_an_empty_object() -> None:
    from byok.providers.base import ChatRequest, Message, ToolCall

    adapter = OpenAIProvider("openai", "https://api.openai.com/v1", None, httpx.AsyncClient())
    broken = ToolCall("c1", "read_file", {"_raw": '{"path": ', "_error": "not JSON"}, '{"path": ')
    fine = ToolCall("c2", "read_file", {"path": "a.py"}, '{"path": "a.py"}')
    body = adapter.request_body(ChatRequest("gpt-4o", [Message("assistant", "", tool_calls=[broken, fine])]))
    sent = [call["function"]["arguments"] for call in body["messages"][0]["tool_calls"]]
    assert sent == ["{}", '{"path": "a.py"}']
