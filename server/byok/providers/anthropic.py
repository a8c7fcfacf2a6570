"""Anthropic Messages API: named SSE events, top-level `system`, `tool_use`/`tool_result` blocks, thinking.

Thinking blocks (`thinking` with its `signature`, `redacted_thinking`) come back as reasoning items and go
back unchanged, first in their assistant turn, as the API requires in a tool-use loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ModelInfo,
    Reasoning,
    ReasoningDelta,
    ReasoningItem,
    ReasoningItemEvent,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    Usage,
    merged_turns,
    sent_arguments,
)
from byok.providers.cache_points import mark_messages_request
from byok.providers.http import (
    HttpProvider,
    ToolCalls,
    as_text,
    decoding,
    error_object,
    interrupted,
    json_text,
    malformed_chunk,
    open_stream,
    status_error,
)
from byok.providers.model_limits import positive_int
from byok.providers.sse import finish_lines, iter_sse, response_lines

API_VERSION = "2023-06-01"
FAMILY = "anthropic"
THINKING_BLOCKS = ("thinking", "redacted_thinking")
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
ERROR_TYPES = {
    "overloaded_error": 529,
    "rate_limit_error": 429,
    "api_error": 500,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "invalid_request_error": 400,
    "request_too_large": 413,
}


class AnthropicProvider(HttpProvider):
    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self.key:
            headers["x-api-key"] = self.key
        return headers

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": _wire_messages(request.conversation),
            "stream": True,
        }
        if request.system:
            body["system"] = request.system
        thinking = thinking_fields(request.reasoning)
        body.update(thinking)
        if request.temperature is not None and "thinking" not in thinking:
            body["temperature"] = min(max(request.temperature, 0.0), 1.0)
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
        if request.cache:
            mark_messages_request(body, conversation=request.cache_conversation)
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async with open_stream(
            self.client,
            "POST",
            f"{self.base_url}/v1/messages",
            provider=self.provider_id,
            parse_error=self.parse_error,
            headers={**self.headers(), "Accept": "text/event-stream"},
            body=self.request_body(request),
        ) as response:
            lines = response_lines(response, provider=self.provider_id)
            async for event in self.decode(lines):
                yield event
            await finish_lines(lines)

    async def decode(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
        usage: dict[str, Any] = {}
        tool_calls = ToolCalls(self.provider_id)
        thinking = _ThinkingBlocks()
        stop_reason = "stop"
        async for sse in iter_sse(lines, provider=self.provider_id):
            data = json_text(sse.data)
            if not isinstance(data, dict):
                raise malformed_chunk(self.provider_id)
            with decoding(self.provider_id):
                kind = data.get("type") or sse.event
                if kind == "message_start":
                    _merge_usage(usage, (data.get("message") or {}).get("usage") or {})
                elif kind == "content_block_start":
                    block = data.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        tool_calls.start(
                            int(data.get("index", 0)), block.get("id") or "", block.get("name") or ""
                        )
                    elif block.get("type") in THINKING_BLOCKS:
                        thinking.start(int(data.get("index", 0)), block)
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    delta_type = delta.get("type")
                    if delta_type == "text_delta":
                        yield TextDelta(as_text(delta.get("text", "")))
                    elif delta_type == "thinking_delta":
                        text = as_text(delta.get("thinking", ""))
                        thinking.add(int(data.get("index", 0)), "thinking", text)
                        yield ReasoningDelta(text)
                    elif delta_type == "signature_delta":
                        thinking.add(
                            int(data.get("index", 0)), "signature", as_text(delta.get("signature", ""))
                        )
                    elif delta_type == "input_json_delta":
                        tool_calls.add(int(data.get("index", 0)), arguments=delta.get("partial_json", ""))
                elif kind == "content_block_stop":
                    index = int(data.get("index", 0))
                    if (call := tool_calls.finish(index)) is not None:
                        yield ToolCallEvent(call)
                    elif (item := thinking.finish(index)) is not None:
                        yield ReasoningItemEvent(item)
                elif kind == "message_delta":
                    reason = (data.get("delta") or {}).get("stop_reason")
                    if reason:
                        stop_reason = STOP_REASONS.get(reason, reason)
                    _merge_usage(usage, data.get("usage") or {})
                elif kind == "message_stop":
                    yield _final_usage(usage)
                    yield Finish(stop_reason)
                    return
                elif kind == "error":
                    raise self.stream_error(data.get("error") or {})
        raise interrupted(self.provider_id, "the stream ended before message_stop")

    def stream_error(self, error: Mapping[str, Any]) -> ByokError:
        status = ERROR_TYPES.get(str(error.get("type")), 500)
        exc = self.error_from(status, error, {})
        exc.mid_stream = True
        return exc

    def parse_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> ByokError:
        return self.error_from(status, error_object(body), headers)

    def error_from(self, status: int, error: Mapping[str, Any], headers: Mapping[str, str]) -> ByokError:
        message = str(error.get("message") or f"HTTP {status}")
        if "credit balance" in message.lower() or error.get("type") == "billing_error":
            return ByokError(ErrorCode.QUOTA_EXHAUSTED, message, provider=self.provider_id, status=status)
        return status_error(status, self.provider_id, message, headers)

    async def verify(self) -> list[ModelInfo]:
        """The models, with `max_input_tokens` and `max_tokens` where the Models API gives them."""
        models: list[ModelInfo] = []
        params: dict[str, str] = {"limit": "1000"}
        url = f"{self.base_url}/v1/models"
        for _ in range(20):
            payload = await self.get_json(url, headers=self.headers(), params=params)
            if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
                raise self.unexpected_shape()
            models += [
                ModelInfo(
                    str(m["id"]),
                    positive_int(m.get("max_input_tokens")),
                    positive_int(m.get("max_tokens")),
                    f"GET {url}",
                )
                for m in payload["data"]
                if isinstance(m, dict) and "id" in m
            ]
            if not payload.get("has_more") or not payload.get("last_id"):
                break
            params = {"limit": "1000", "after_id": str(payload["last_id"])}
        return sorted(models, key=lambda model: model.id)


def thinking_fields(reasoning: Reasoning | None) -> dict[str, Any]:
    """The request fields that ask for thinking (also sent by Bedrock for Anthropic models): a budget
    (`thinking.type: enabled`) for models before adaptive thinking, else adaptive thinking with an effort."""
    if reasoning is None:
        return {}
    fields: dict[str, Any] = {}
    if reasoning.budget_tokens:
        fields["thinking"] = {"type": "enabled", "budget_tokens": reasoning.budget_tokens}
    elif reasoning.effort and reasoning.effort != "none":
        fields["thinking"] = {"type": "adaptive"}
        fields["output_config"] = {"effort": reasoning.effort}
    if reasoning.summary and "thinking" in fields:
        fields["thinking"]["display"] = "summarized"
    return fields


class _ThinkingBlocks:
    """Thinking blocks being streamed, by content-block index, until their `content_block_stop`."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.parts: dict[int, dict[str, list[str]]] = {}

    def start(self, index: int, block: Mapping[str, Any]) -> None:
        self.blocks[index] = dict(block)
        self.parts[index] = {"thinking": [], "signature": []}

    def add(self, index: int, field: str, text: str) -> None:
        if index in self.parts:
            self.parts[index][field].append(text)

    def finish(self, index: int) -> ReasoningItem | None:
        """The whole block, exactly as the API will want it back (text and signature joined)."""
        block = self.blocks.pop(index, None)
        if block is None:
            return None
        parts = self.parts.pop(index)
        if block.get("type") == "thinking":
            block["thinking"] = str(block.get("thinking") or "") + "".join(parts["thinking"])
            block["signature"] = str(block.get("signature") or "") + "".join(parts["signature"])
        return ReasoningItem(FAMILY, block)


def _merge_usage(usage: dict[str, Any], wire: Mapping[str, Any]) -> None:
    """Anthropic's usage fields are cumulative: a later value replaces an earlier one, field by field."""
    usage.update({name: value for name, value in wire.items() if isinstance(value, int)})


def _final_usage(usage: Mapping[str, Any]) -> Usage:
    return Usage.with_cache(
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        usage.get("cache_read_input_tokens"),
        usage.get("cache_creation_input_tokens"),
    )


def _wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    return merged_turns(messages, _blocks)


def _blocks(message: Message) -> list[dict[str, Any]]:
    blocks = [dict(item.data) for item in message.reasoning_items if item.family == FAMILY]
    if message.role == "tool":
        blocks.append(
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
                "is_error": message.is_error,
            }
        )
    elif message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": sent_arguments(c)}
        for c in message.tool_calls
    ]
    return blocks
