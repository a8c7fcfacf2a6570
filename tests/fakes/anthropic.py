"""Anthropic Messages API wire format (providers.md section 2)."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import Item, Reply, json_reply
from tests.fakes.sse import fragments, named_event, retry_headers, stream_reply

ToolUse = tuple[str, str, str | dict[str, Any]]
"""(id, name, input): input as the JSON string to stream, or an object to serialise."""
Thinking = tuple[str, str] | str
"""A thinking block: (thinking text, signature), or the opaque `data` of a redacted_thinking block."""

MESSAGE_ID = "msg_fake0001"
REQUEST_ID = "req_fake0001"
ANTHROPIC_HEADERS = {"request-id": REQUEST_ID, "anthropic-organization-id": "org-fake"}


def _input_json(value: str | dict[str, Any]) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def anthropic_stream(
    texts: list[str],
    *,
    model: str = "claude-sonnet-4-5",
    usage: tuple[int, int] = (10, 5),
    cache: tuple[int, int] = (0, 0),
    stop_reason: str | None = None,
    tool_uses: list[ToolUse] | None = None,
    ping: bool = True,
    error_after: int | None = None,
    error_type: str = "overloaded_error",
    error_message: str = "Overloaded",
    headers: dict[str, str] | None = None,
    delay_between: float = 0.0,
    thinking: list[Thinking] | None = None,
) -> Reply:
    """A streamed Messages reply with named events.

    `message_start` (input tokens not read from or written to the cache; the `cache` reads and writes;
    `output_tokens: 1`), one block per `thinking` entry (a `thinking` block
    streamed as `thinking_delta`s then one `signature_delta`, as the API does; or a `redacted_thinking`
    block whose `data` comes whole in its start event), a text block (start, a `ping` when `ping`,
    one `text_delta` per text, stop) when `texts` is non-empty, one `tool_use` block per tool use
    (`input_json_delta` fragments, the first one empty), `message_delta` (`stop_reason` defaults to
    "tool_use" with tool uses, else "end_turn"; cumulative `output_tokens`), `message_stop`.
    `error_after=n` sends an `event: error` after n text deltas and ends without `message_stop`.
    """
    input_tokens, output_tokens = usage
    cache_read, cache_write = cache
    uses = tool_uses or []
    events: list[Item] = [
        named_event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": MESSAGE_ID,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": input_tokens,
                        "cache_creation_input_tokens": cache_write,
                        "cache_read_input_tokens": cache_read,
                        "output_tokens": 1,
                        "service_tier": "standard",
                    },
                },
            },
        )
    ]
    index = 0
    for block in thinking or []:
        events += _thinking_events(index, block)
        index += 1
    if texts or error_after is not None:
        events.append(
            named_event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        if ping:
            events.append(named_event("ping", {"type": "ping"}))
        for count, text in enumerate(texts):
            if count == error_after:
                break
            events.append(
                named_event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": text},
                    },
                )
            )
        if error_after is not None:
            events.append(
                named_event(
                    "error",
                    {
                        "type": "error",
                        "error": {"type": error_type, "message": error_message},
                    },
                )
            )
            return stream_reply(events, {**ANTHROPIC_HEADERS, **(headers or {})}, delay_between)
        events.append(named_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for offset, (use_id, name, tool_input) in enumerate(uses):
        block = index + offset
        events.append(
            named_event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": block,
                    "content_block": {"type": "tool_use", "id": use_id, "name": name, "input": {}},
                },
            )
        )
        events += [
            named_event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": block,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
            )
            for piece in ["", *fragments(_input_json(tool_input), 4)]
        ]
        events.append(named_event("content_block_stop", {"type": "content_block_stop", "index": block}))
    events.append(
        named_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": stop_reason or ("tool_use" if uses else "end_turn"),
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    events.append(named_event("message_stop", {"type": "message_stop"}))
    return stream_reply(events, {**ANTHROPIC_HEADERS, **(headers or {})}, delay_between)


def _thinking_events(index: int, block: Thinking) -> list[Item]:
    def delta(payload: dict[str, Any]) -> Item:
        return named_event(
            "content_block_delta", {"type": "content_block_delta", "index": index, "delta": payload}
        )

    if isinstance(block, str):
        start = {"type": "redacted_thinking", "data": block}
        middle: list[Item] = []
    else:
        text, signature = block
        start = {"type": "thinking", "thinking": "", "signature": ""}
        middle = [delta({"type": "thinking_delta", "thinking": piece}) for piece in fragments(text, 3)]
        middle.append(delta({"type": "signature_delta", "signature": signature}))
    return [
        named_event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
        ),
        *middle,
        named_event("content_block_stop", {"type": "content_block_stop", "index": index}),
    ]


def thinking_problems(body: dict[str, Any], returned: list[list[dict[str, Any]]]) -> list[str]:
    """What the Messages API would refuse (400) in a request with thinking, per its documented rules:
    sampling knobs with thinking on, a budget under 1024 or not below max_tokens, adaptive thinking without
    a known effort, and a tool-use assistant turn whose thinking blocks (`returned`: the blocks each
    earlier reply streamed, in order) were dropped, reordered or changed."""
    problems: list[str] = []
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        problems += [
            f"{knob} is not allowed with thinking"
            for knob in ("temperature", "top_p", "top_k")
            if knob in body
        ]
        if thinking["type"] == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int) or budget < 1024:
                problems.append("thinking.budget_tokens must be >= 1024")
            elif budget >= body.get("max_tokens", 0):
                problems.append("max_tokens must be greater than thinking.budget_tokens")
        elif (body.get("output_config") or {}).get("effort") not in ("low", "medium", "high", "xhigh", "max"):
            problems.append("output_config.effort must be one of low, medium, high, xhigh, max")
    assistant_turns = [m for m in body.get("messages", []) if m.get("role") == "assistant"]
    for turn, blocks in zip(assistant_turns, returned, strict=False):
        content = turn["content"] if isinstance(turn["content"], list) else []
        sent = [b for b in content if b.get("type") in ("thinking", "redacted_thinking")]
        if sent != blocks:
            problems.append("thinking blocks must be passed back unmodified and in their original order")
        if sent and content[: len(sent)] != sent:
            problems.append("an assistant turn must start with its thinking blocks")
    return problems


def anthropic_message(
    text: str,
    usage: tuple[int, int] = (10, 5),
    *,
    model: str = "claude-sonnet-4-5",
    stop_reason: str = "end_turn",
) -> Reply:
    """A non-streaming Messages reply with one text block."""
    input_tokens, output_tokens = usage
    return json_reply(
        200,
        {
            "id": MESSAGE_ID,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "service_tier": "standard",
            },
        },
        ANTHROPIC_HEADERS,
    )


def anthropic_models(ids: list[str]) -> Reply:
    """A `GET /v1/models` page (everything on one page)."""
    return json_reply(
        200,
        {
            "data": [
                {"type": "model", "id": i, "display_name": i, "created_at": "2025-09-29T00:00:00Z"}
                for i in ids
            ],
            "has_more": False,
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
        },
        ANTHROPIC_HEADERS,
    )


def anthropic_error(
    status: int,
    type: str,
    message: str,
    *,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An Anthropic error body; a 529 also carries `x-should-retry: true`."""
    extra = retry_headers(retry_after, headers)
    if status == 529:
        extra.setdefault("x-should-retry", "true")
    return json_reply(
        status,
        {"type": "error", "error": {"type": type, "message": message}, "request_id": REQUEST_ID},
        {**ANTHROPIC_HEADERS, **extra},
    )


def anthropic_bad_key() -> Reply:
    """The 401 Anthropic sends for a wrong key."""
    return anthropic_error(401, "authentication_error", "invalid x-api-key")
