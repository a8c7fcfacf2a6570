"""OpenAI's Responses API (`POST /responses`): the codex and pro models, and reasoning carried across turns.

It is spoken to the endpoint of a Chat Completions adapter (OpenAI, Azure's v1 route, or an OpenAI-compatible
server that serves it), whose auth, error mapping and verification it shares. Requests are stateless
(`store: false`, never `previous_response_id`, which zero-data-retention organisations reject): each turn
sends the whole conversation, and the `reasoning` items a turn returned go back unchanged, in order, with
their `encrypted_content`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from byok.base.errors import ByokError
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ModelInfo,
    ReasoningDelta,
    ReasoningItem,
    ReasoningItemEvent,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from byok.providers.http import ToolCalls, as_text, decoding, interrupted, json_text, malformed_chunk
from byok.providers.openai import OpenAIProvider, arguments_json, is_reasoning_model
from byok.providers.sse import iter_sse

log = logging.getLogger(__name__)
FAMILY = "responses"
"""The `ReasoningItem.family` of this API's reasoning items."""
MIN_OUTPUT_TOKENS = 16
"""The smallest `max_output_tokens` the API accepts (a smaller one is a 400)."""
REASONING_BEFORE = "reasoningBefore"
"""A tool call's `provider_data`: how many of its turn's reasoning items came before it (their order)."""
ERROR_STATUS = {
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "vector_store_timeout": 504,
}
"""The HTTP status a failed response's error code stands for; other codes are the request's fault (400)."""
INCOMPLETE_REASONS: dict[str, str] = {"max_output_tokens": "length", "content_filter": "content_filter"}


class ResponsesProvider:
    """The Responses API on the endpoint of `endpoint`, a Chat Completions adapter."""

    def __init__(self, endpoint: OpenAIProvider) -> None:
        self.endpoint = endpoint
        self.provider_id = endpoint.provider_id

    @property
    def key_endpoint(self) -> str:
        return self.endpoint.key_endpoint

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        endpoint = self.endpoint
        reasoning = request.reasoning
        model = endpoint.responses_model(request)
        wants_reasoning = reasoning is not None and (
            reasoning.effort not in (None, "none") or reasoning.summary
        )
        reasoning_model = wants_reasoning or (
            not endpoint.compatible and (is_reasoning_model(request.model) or is_reasoning_model(model))
        )
        body: dict[str, Any] = {
            "model": model,
            "input": input_items(request.conversation, keep_unencrypted=endpoint.compatible),
            "max_output_tokens": max(request.max_tokens, MIN_OUTPUT_TOKENS),
            "store": False,
            "stream": True,
        }
        if request.system:
            body["instructions"] = request.system
        if reasoning_model:
            body["include"] = ["reasoning.encrypted_content"]
        elif request.temperature is not None:
            body["temperature"] = request.temperature
        if reasoning is not None and (reasoning.effort or reasoning.summary):
            asked: dict[str, str] = {"effort": reasoning.effort} if reasoning.effort else {}
            body["reasoning"] = asked | ({"summary": "auto"} if reasoning.summary else {})
        if request.tools:
            body["tools"] = [
                # strict: the API's default is strict schemas, which most tool schemas (MCP's) are not
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                    "strict": False,
                }
                for t in request.tools
            ]
        if request.cache and request.cache_key:
            body["prompt_cache_key"] = request.cache_key
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """One turn. When the API refuses the encrypted reasoning replayed from earlier turns (another
        organisation's after a fallback, or a key changed since), the turn is sent once more without it."""
        endpoint = self.endpoint
        url, body = endpoint.responses_url(), self.request_body(request)
        refusals: list[ByokError] = []

        def error_from(status: int, error: Mapping[str, Any], headers: Mapping[str, str]) -> ByokError:
            exc = endpoint.responses_error_from(status, error, headers)
            if status == 400 and _refuses_reasoning(error) and any(_is_reasoning(i) for i in body["input"]):
                refusals.append(exc)
            return exc

        try:
            async with endpoint.post_stream(url, body, error_from=error_from) as lines:
                async for event in self.decode(lines):
                    yield event
            return
        except ByokError as exc:
            if exc not in refusals:
                raise
        log.warning(
            "%s refused the reasoning of earlier turns; the turn is sent without it", self.provider_id
        )
        body = {**body, "input": [item for item in body["input"] if not _is_reasoning(item)]}
        async with endpoint.post_stream(url, body, error_from=endpoint.responses_error_from) as lines:
            async for event in self.decode(lines):
                yield event

    async def decode(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
        """Turn the Responses event stream into normalised events; it ends at its terminal event."""
        provider = self.provider_id
        turn = _Turn(provider, self.stream_error)
        async for sse in iter_sse(lines, provider=provider):
            if sse.data.startswith("[DONE]"):
                break
            payload = json_text(sse.data)
            if not isinstance(payload, dict):
                raise malformed_chunk(provider)
            with decoding(provider):
                events = turn.feed(payload)
            for event in events:
                yield event
            if turn.finished:
                return
        raise interrupted(provider, "the stream ended before the response was complete")

    def stream_error(self, error: Mapping[str, Any]) -> ByokError:
        """A `response.failed` or `error` event's error, through the endpoint's error table."""
        code = str(error.get("code") or "")
        if code.isdigit() and 400 <= int(code) < 600:  # proxies put the HTTP status there
            status = int(code)
        else:
            status = ERROR_STATUS.get(code, 400) if code else 500
        exc = self.endpoint.responses_error_from(status, error, {})
        exc.mid_stream = True
        return exc

    async def verify(self) -> list[ModelInfo]:
        return await self.endpoint.verify(via=self)


def input_items(messages: list[Message], *, keep_unencrypted: bool) -> list[dict[str, Any]]:
    """The conversation (system prompt aside) as Responses input items.

    Reasoning items without `encrypted_content` are left out unless `keep_unencrypted` (OpenAI and Azure
    look such an item up by id, and with `store: false` it is not there; compatible servers read its text).
    """
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            items.append(
                {"type": "function_call_output", "call_id": message.tool_call_id, "output": message.content}
            )
        elif message.role == "assistant":
            items += _assistant_items(message, keep_unencrypted)
        else:
            items.append({"role": "user", "content": message.content})
    return items


def _assistant_items(message: Message, keep_unencrypted: bool) -> list[dict[str, Any]]:
    """One assistant turn: its reasoning items, text and function calls, in the order the model gave them."""
    reasoning = [item.data for item in message.reasoning_items if item.family == FAMILY]
    items: list[dict[str, Any]] = []
    sent = 0

    def reasoning_until(count: int) -> None:
        nonlocal sent
        items.extend(r for r in reasoning[sent:count] if keep_unencrypted or r.get("encrypted_content"))
        sent = max(sent, count)

    calls = message.tool_calls
    reasoning_until(_reasoning_before(calls[0], len(reasoning)) if calls else len(reasoning))
    if message.content:
        items.append({"role": "assistant", "content": message.content})
    for call in calls:
        reasoning_until(_reasoning_before(call, len(reasoning)))
        items.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": arguments_json(call),
            }
        )
    reasoning_until(len(reasoning))
    return items


def _is_reasoning(item: dict[str, Any]) -> bool:
    return item.get("type") == "reasoning"


def _refuses_reasoning(error: Mapping[str, Any]) -> bool:
    """Whether a 400 is about replayed encrypted reasoning ("The encrypted content for item rs_... could not be
    verified"); some relays drop the code and keep only the message."""
    message = str(error.get("message") or "").lower()
    return error.get("code") == "invalid_encrypted_content" or "encrypted content" in message


def _reasoning_before(call: ToolCall, default: int) -> int:
    count = (call.provider_data or {}).get(REASONING_BEFORE)
    return count if isinstance(count, int) else default


class _Turn:
    """One response's stream folded into events: text, reasoning, function calls, usage and the finish."""

    def __init__(self, provider: str, error_from: Callable[[Mapping[str, Any]], ByokError]) -> None:
        self.error_from = error_from
        self.tool_calls = ToolCalls(provider)
        self.called = False
        self.reasoning_items = 0
        self.streamed: set[str] = set()
        """Output items whose text or reasoning arrived as deltas (their `done` item repeats it)."""
        self.reasoning_part: tuple[str, int] | None = None
        self.finished = False

    def feed(self, event: dict[str, Any]) -> list[StreamEvent]:
        match event.get("type"):
            case "response.output_text.delta" | "response.refusal.delta":
                self.streamed.add(str(event.get("item_id")))
                return [TextDelta(as_text(event["delta"]))]
            case "response.reasoning_summary_text.delta" | "response.reasoning_text.delta":
                return self._reasoning_delta(event)
            case "response.output_item.added":
                self._item_added(int(event["output_index"]), event["item"])
            case "response.function_call_arguments.delta":
                self.tool_calls.add(int(event["output_index"]), arguments=event["delta"])
            case "response.output_item.done":
                return self._item_done(int(event["output_index"]), event["item"])
            case "response.completed":
                return self._finish(event["response"], "tool_calls" if self.called else "stop")
            case "response.incomplete":
                details = event["response"].get("incomplete_details") or {}
                reason = str(details.get("reason") or "max_output_tokens")
                return self._finish(event["response"], INCOMPLETE_REASONS.get(reason, reason))
            case "response.failed":
                raise self.error_from(event["response"].get("error") or {"message": "The response failed"})
            case "error":
                error = event.get("error")
                raise self.error_from(error if isinstance(error, dict) else event)
            case None if isinstance(event.get("error"), dict):  # a bare error object mid-stream
                raise self.error_from(event["error"])
        return []

    def _reasoning_delta(self, event: dict[str, Any]) -> list[StreamEvent]:
        item_id = str(event.get("item_id"))
        self.streamed.add(item_id)
        part = (item_id, int(event.get("summary_index", event.get("content_index")) or 0))
        text = as_text(event["delta"])
        if self.reasoning_part is not None and part != self.reasoning_part:
            text = "\n\n" + text  # a new summary part
        self.reasoning_part = part
        return [ReasoningDelta(text)]

    def _item_added(self, index: int, item: dict[str, Any]) -> None:
        if item["type"] == "function_call":
            self.tool_calls.start(index, str(item.get("call_id") or ""), str(item.get("name") or ""))
            if item.get("arguments"):
                self.tool_calls.add(index, arguments=item["arguments"])

    def _item_done(self, index: int, item: dict[str, Any]) -> list[StreamEvent]:
        kind, item_id = item["type"], str(item.get("id"))
        if kind == "function_call":
            self.tool_calls.add(
                index,
                call_id=str(item.get("call_id") or ""),
                name=str(item.get("name") or ""),
                # a server that sent no argument deltas has them only here
                arguments="" if self.tool_calls.has_arguments(index) else item.get("arguments") or "",
            )
            call = self.tool_calls.finish(index)
            assert call is not None  # `add` just started it if nothing had
            return [ToolCallEvent(self._called(call))]
        if kind == "reasoning":
            self.reasoning_items += 1
            events: list[StreamEvent] = []
            if item_id not in self.streamed:
                parts = [*(item.get("summary") or []), *(item.get("content") or [])]
                if text := "\n\n".join(as_text(part["text"]) for part in parts):
                    events.append(ReasoningDelta(text))
            return [*events, ReasoningItemEvent(ReasoningItem(FAMILY, item))]
        if kind == "message" and item_id not in self.streamed:
            text = "".join(
                as_text(part.get("text", part.get("refusal")))
                for part in item.get("content") or []
                if part["type"] in ("output_text", "refusal")
            )
            return [TextDelta(text)] if text else []
        return []

    def _called(self, call: ToolCall) -> ToolCall:
        """A finished call, marked with its place among the turn's reasoning items."""
        call.provider_data = {REASONING_BEFORE: self.reasoning_items}
        self.called = True
        return call

    def _finish(self, response: dict[str, Any], reason: str) -> list[StreamEvent]:
        self.finished = True
        events: list[StreamEvent] = [ToolCallEvent(self._called(c)) for c in self.tool_calls.finish_all()]
        if events and reason == "stop":
            reason = "tool_calls"
        if usage := response.get("usage"):
            inputs = usage.get("input_tokens_details") or {}
            outputs = usage.get("output_tokens_details") or {}
            events.append(
                Usage(
                    input_tokens=int(usage.get("input_tokens") or 0),
                    output_tokens=int(usage.get("output_tokens") or 0),
                    cache_read_tokens=int(inputs.get("cached_tokens") or 0),
                    cache_write_tokens=int(inputs.get("cache_write_tokens") or 0),
                    reasoning_tokens=int(outputs.get("reasoning_tokens") or 0),
                )
            )
        events.append(Finish(reason))
        return events
