"""The shared error mapping: context overflow, retry hints, redaction, the JSON of `data` on the wire, and
OpenAI-style stream endings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes import FakeServer, Reply, openai_error, openai_models, openai_stream

from byok.base.config import load_settings
from byok.base.errors import ByokError, error_for_status
from byok.base.names import ErrorCode
from byok.core.session import Backend
from byok.core.turn import Prompt, run_turn
from byok.providers.base import ChatRequest, Finish, Message, ToolCallEvent
from byok.providers.http import status_error
from byok.providers.openai import OpenAIProvider
from byok.workspace.files import check_context_bytes


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


def test_typed_fields_are_kept_under_their_wire_names_in_the_order_set() -> None:
    error = ByokError(ErrorCode.TIMEOUT, retry_after_s=2.0, limitS=5)
    error.partial_text = ""
    error.model = "m"
    assert list(error.to_data())[6:] == ["retryAfterS", "limitS", "partialText", "model"]
    assert (error.retry_after_s, error.partial_text, error.models, error.should_retry) == (
        2.0,
        "",
        None,
        None,
    )
    error.partial_text = None
    assert "partialText" not in error.to_data()
    assert ByokError(ErrorCode.RATE_LIMITED, shouldRetry=False).should_retry is False


_CHAT = "/v1/chat/completions"
_HEAD = '"provider": "local", '
_WIRE_AFTER_A_TURN: dict[str, tuple[dict[str, Reply], dict[str, Any], str]] = {
    "rate limit with retry hints": (
        {_CHAT: openai_error(429, "slow down", retry_after=1.5, headers={"x-should-retry": "false"})},
        {},
        '{"code": "rate_limited", ' + _HEAD + '"status": 429, "message": "slow down", '
        '"cause": "Too many requests", "fix": "Wait, or upgrade the provider plan", '
        '"retryAfterS": 1.5, "shouldRetry": false, "model": "local-model"}',
    ),
    "cut mid-stream": (
        {_CHAT: openai_stream(["Hel", "lo"], error_after=1)},
        {},
        '{"code": "provider_error", ' + _HEAD + '"status": 500, '
        '"message": "The server had an error while processing your request.", "cause": "The provider failed", '
        '"fix": "Try again; if it persists, check the provider\'s status page", '
        '"midStream": true, "partialText": "Hel", "model": "local-model"}',
    ),
    "model not found": (
        {
            _CHAT: openai_error(404, "no such model", code="model_not_found"),
            "/v1/models": openai_models(["m2"]),
        },
        {},
        '{"code": "model_not_found", ' + _HEAD + '"status": 404, "message": "no such model", '
        '"cause": "Model not found", "fix": "Pick one of the models the key can see", '
        '"models": ["m2"], "model": "local-model"}',
    ),
    "total timeout after some text": (
        {_CHAT: openai_stream(["Hel", "lo"]).with_stall(2, 30)},
        {"timeouts": {"totalS": 2}},
        '{"code": "timeout", ' + _HEAD + '"status": null, "message": "The answer took longer than 2 s", '
        '"cause": "The request ran past byok.timeouts.totalS", '
        '"fix": "Ask for a shorter answer, or raise byok.timeouts.totalS", '
        '"limitS": 2.0, "partialText": "Hel", "model": "local-model"}',
    ),
}


class _Quiet:
    def delta(self, kind: str, text: str) -> None:
        """Live output goes nowhere."""


@pytest.mark.parametrize("case", list(_WIRE_AFTER_A_TURN))
async def test_error_data_on_the_wire_after_a_turn(
    case: str, fake: FakeServer, keyring_file: Path, tmp_path: Path
) -> None:
    """`data` keeps its keys and their order (captured before ByokError had typed fields)."""
    replies, more_settings, expected = _WIRE_AFTER_A_TURN[case]
    for path, reply in replies.items():
        fake.route("POST" if path == _CHAT else "GET", path, reply)
    settings, problems = load_settings(
        {
            "providers": {"local": {"kind": "openai-compatible", "baseUrl": f"{fake.url}/v1"}},
            "models": [{"id": "local-model", "provider": "local", "upstream": "m1"}],
            "retry": {"maxAttempts": 1},
            **more_settings,
        }
    )
    assert not problems
    backend = Backend(settings, ledger_path=tmp_path / "ledger.db")
    request = Prompt([Message("user", "hi")], max_tokens=100)
    try:
        with pytest.raises(ByokError) as info:
            await run_turn(backend, await backend.routes("chat", None), request, _Quiet(), feature="chat")
    finally:
        await backend.aclose()
    assert json.dumps(info.value.to_data()) == expected


def test_error_data_on_the_wire() -> None:
    overloaded = status_error(529, "anthropic", "Overloaded", {"retry-after": "2", "x-should-retry": "false"})
    assert json.dumps(overloaded.to_data()) == (
        '{"code": "provider_overloaded", "provider": "anthropic", "status": 529, "message": "Overloaded", '
        '"cause": "The provider is overloaded", "fix": "Try again in a moment, or pick another model", '
        '"retryAfterS": 2.0, "shouldRetry": false}'
    )
    with pytest.raises(ByokError) as too_large:
        check_context_bytes([("a.py", 10), ("b.py", 30)], 20)
    assert json.dumps(too_large.value.to_data()) == (
        '{"code": "context_too_large", "provider": null, "status": null, '
        '"message": "The context files total 40 bytes, over the 20-byte limit", '
        '"cause": "The largest files: b.py (30 bytes), a.py (10 bytes)", '
        '"fix": "Send fewer or smaller files, or raise byok.context.maxBytes", "contextBytes": 40, "maxBytes": 20}'
    )
    with pytest.raises(ByokError) as unknown:
        Backend(load_settings({})[0]).route("mystery")
    assert json.dumps(unknown.value.to_data()) == (
        '{"code": "model_not_found", "provider": null, "status": null, '
        '"message": "No provider is known for model \'mystery\'", '
        '"cause": "\'mystery\' is not in byok.models and has no well-known prefix", '
        '"fix": "Add it to byok.models as {\\"id\\": \\"...\\", \\"provider\\": \\"...\\"}, '
        'or write it as provider/model", "models": []}'
    )


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
    from byok.providers.base import Message, ToolCall

    adapter = OpenAIProvider("openai", "https://api.openai.com/v1", None, httpx.AsyncClient())
    broken = ToolCall("c1", "read_file", {}, '{"path": ')
    assert broken.arguments_error is not None
    fine = ToolCall("c2", "read_file", {"path": "a.py"}, '{"path": "a.py"}')
    body = adapter.request_body(ChatRequest("gpt-4o", [Message("assistant", "", tool_calls=[broken, fine])]))
    sent = [call["function"]["arguments"] for call in body["messages"][0]["tool_calls"]]
    assert sent == ["{}", '{"path": "a.py"}']


def test_unusable_tool_arguments_are_an_empty_object_and_a_reason() -> None:
    from byok.providers.base import ToolCall, parse_tool_arguments, sent_arguments

    def made(raw: str) -> ToolCall:
        return ToolCall("c1", "edit", parse_tool_arguments(raw), raw)

    assert made('{"path": ').arguments_error == ("arguments are not valid JSON: Expecting value")
    assert made("[1]").arguments_error == "arguments are not a JSON object"
    for usable in ("", "  ", "{}", '{"path": "a.py"}'):
        assert made(usable).arguments_error is None
    broken = made('"text"')
    assert broken.arguments == {} and sent_arguments(broken) == {} and broken.raw_arguments == '"text"'
    assert ToolCall("c2", "edit", {}, "{", arguments_error="given").arguments_error == "given"
