"""OpenAI Chat Completions, and every OpenAI-compatible server (Ollama, LM Studio, vLLM, Together, OpenRouter).

Azure OpenAI reuses this adapter with its own URL, auth header and error quirks (see `azure.py`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ModelInfo,
    Provider,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    sent_arguments,
)
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
from byok.providers.model_limits import Limits, listed_limits, local_limits, local_server, with_limits
from byok.providers.sse import RAW_JSON_EVENT, finish_lines, iter_sse, response_lines

REASONING_MODEL = re.compile(r"^(?:openai/)?(?:o\d|gpt-5)|codex", re.IGNORECASE)
"""Names of reasoning models (o-series, GPT-5 and every codex model)."""
FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


ErrorMapper = Callable[[int, Mapping[str, Any], Mapping[str, str]], ByokError]
"""(status, the body's error object, headers) -> the error to raise."""


def is_reasoning_model(model: str) -> bool:
    return bool(REASONING_MODEL.search(model))


class OpenAIProvider(HttpProvider):
    """Chat Completions over SSE. `compatible=True` relaxes OpenAI-only request fields for local servers."""

    def __init__(
        self,
        provider_id: str,
        base_url: str,
        key: str | None,
        client: httpx.AsyncClient,
        *,
        compatible: bool = False,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(provider_id, base_url, key, client)
        self.compatible = compatible
        self.extra_headers = dict(extra_headers or {})

    # -- request shape ---------------------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def chat_params(self) -> dict[str, str] | None:
        return None

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        reasoning = not self.compatible and is_reasoning_model(request.model)
        messages = [_wire_message(m, reasoning) for m in request.messages]
        body: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.reasoning and request.reasoning.effort:
            body["reasoning_effort"] = request.reasoning.effort
        if reasoning:
            body["max_completion_tokens"] = request.max_tokens
        else:
            body["max_tokens"] = request.max_tokens
            if request.temperature is not None:
                body["temperature"] = request.temperature
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
        if request.cache and request.cache_key and not self.compatible:
            body["prompt_cache_key"] = request.cache_key
        return body

    # -- the stream --------------------------------------------------------------------------------------

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async with self.post_stream(self.chat_url(), self.request_body(request), self.chat_params()) as lines:
            async for event in self.decode(lines):
                yield event

    @asynccontextmanager
    async def post_stream(
        self,
        url: str,
        body: dict[str, Any],
        params: Mapping[str, str] | None = None,
        error_from: ErrorMapper | None = None,
    ) -> AsyncIterator[AsyncIterator[str]]:
        """POST `body` to this endpoint and yield the event stream's lines (shared with the Responses API,
        which maps HTTP errors with its own `error_from`)."""
        headers = {**self.extra_headers, **self.auth_headers(), "Accept": "text/event-stream"}
        mapper = error_from or self.error_from
        async with open_stream(
            self.client,
            "POST",
            url,
            provider=self.provider_id,
            parse_error=lambda status, raw, response_headers: mapper(
                status, error_object(raw), response_headers
            ),
            headers=headers,
            body=body,
            params=params,
            unreachable_fix=self.unreachable_fix(),
        ) as response:
            lines = response_lines(response, provider=self.provider_id)
            yield lines
            await finish_lines(lines)

    # -- the Responses API on this endpoint (see openai_responses.py) -------------------------------------

    def responses_url(self) -> str:
        return f"{self.base_url}/responses"

    def responses_model(self, request: ChatRequest) -> str:
        """The `model` a Responses request names (Azure: the deployment)."""
        return request.model

    def responses_error_from(
        self, status: int, error: Mapping[str, Any], headers: Mapping[str, str]
    ) -> ByokError:
        """An error on the Responses route (the same table as chat's, but for Azure's path errors)."""
        return self.error_from(status, error, headers)

    async def decode(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
        """Turn Chat Completions SSE into normalised events (shared by Azure and compatible servers)."""
        tool_calls = ToolCalls(self.provider_id)
        finished = False
        async for sse in iter_sse(lines, provider=self.provider_id):
            if sse.data.startswith("[DONE]"):
                break
            chunk = json_text(sse.data)
            if not isinstance(chunk, dict):
                raise malformed_chunk(self.provider_id)
            if chunk.get("error"):
                raise self.stream_error(chunk["error"])
            if sse.event == RAW_JSON_EVENT:
                continue
            with decoding(self.provider_id):
                events = self._events(chunk, tool_calls)
            for event in events:
                finished = finished or isinstance(event, Finish)
                yield event
        else:
            if not finished:
                raise interrupted(self.provider_id, "the stream ended before the answer was complete")
        if (
            tool_calls.pending
        ):  # a server that ends with [DONE] but never sent a finish_reason for its tool calls
            for call in tool_calls.finish_all():
                yield ToolCallEvent(call)
            yield Finish("tool_calls")

    def _events(self, chunk: dict[str, Any], tool_calls: ToolCalls) -> list[StreamEvent]:
        """The events of one chunk; tool-call fragments go to `tool_calls` until their choice finishes."""
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if text := delta.get("content"):
                events.append(TextDelta(as_text(text)))
            if text := delta.get("refusal"):
                events.append(TextDelta(as_text(text)))
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ReasoningDelta(reasoning))
            for fragment in delta.get("tool_calls") or []:
                function = fragment.get("function") or {}
                tool_calls.add(
                    int(fragment.get("index", 0)),
                    call_id=fragment.get("id") or "",
                    name=function.get("name") or "",
                    arguments=function.get("arguments") or "",
                )
            if reason := choice.get("finish_reason"):
                events += [ToolCallEvent(call) for call in tool_calls.finish_all()]
                events.append(Finish(FINISH_REASONS.get(reason, reason)))
        if usage := chunk.get("usage"):
            details = usage.get("prompt_tokens_details") or {}
            output_details = usage.get("completion_tokens_details") or {}
            events.append(
                Usage(
                    input_tokens=int(usage.get("prompt_tokens") or 0),
                    output_tokens=int(usage.get("completion_tokens") or 0),
                    cache_read_tokens=int(details.get("cached_tokens") or 0),
                    cache_write_tokens=int(details.get("cache_write_tokens") or 0),
                    reasoning_tokens=int(output_details.get("reasoning_tokens") or 0),
                )
            )
        return events

    # -- errors and verification ------------------------------------------------------------------------

    def unreachable_fix(self) -> str | None:
        if self.compatible:
            return f"Is the server running at {self.base_url}? Start it or fix baseUrl"
        return None

    def parse_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> ByokError:
        return self.error_from(status, error_object(body), headers)

    def stream_error(self, error: Any) -> ByokError:
        if not isinstance(error, dict):
            error = {"message": str(error)}
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else 500
        exc = self.error_from(status, error, {})
        exc.mid_stream = True
        return exc

    def error_from(self, status: int, error: Mapping[str, Any], headers: Mapping[str, str]) -> ByokError:
        message = str(error.get("message") or f"HTTP {status}")
        kind = str(error.get("type") or "")
        code = str(error.get("code") or "")
        if kind == "insufficient_quota" or code in ("insufficient_quota", "credit_balance_exhausted"):
            return ByokError(ErrorCode.QUOTA_EXHAUSTED, message, provider=self.provider_id, status=status)
        if status == 401 and "scope" in message.lower():
            return ByokError(
                ErrorCode.NO_MODEL_ACCESS,
                message,
                provider=self.provider_id,
                status=status,
                cause="The key is valid but restricted: it lacks a permission this request needs",
                fix="Give the key the missing scope at the provider, or use an unrestricted key",
            )
        if status == 400 and code == "unsupported_value" and error.get("param") == "stream":
            return ByokError(
                ErrorCode.NO_MODEL_ACCESS,
                message,
                provider=self.provider_id,
                status=status,
                cause="This model streams only for verified organizations",
                fix="Verify the organization at the provider, or pick another model",
            )
        return status_error(status, self.provider_id, message, headers)

    async def verify(self, via: Provider | None = None) -> list[ModelInfo]:
        """The model list (free, and the same whichever API `via` speaks); for a local server also its native
        metadata endpoint (context windows)."""
        headers = {**self.extra_headers, **self.auth_headers()}
        url = f"{self.base_url}/models"
        payload = await self.get_json(url, headers=headers, unreachable_fix=self.unreachable_fix())
        items = payload.get("data") if isinstance(payload, dict) else payload  # Together: a bare array
        if not isinstance(items, list):
            raise self.unexpected_shape()
        entries = [item for item in items if isinstance(item, dict) and "id" in item]
        ids = [str(item["id"]) for item in entries]
        listed = {
            str(item["id"]): Limits(*limits, f"GET {url}")
            for item in entries
            if any(limits := listed_limits(item))
        }
        server = local_server(self.provider_id, self.base_url, entries) if self.compatible else None
        if server is None:
            return with_limits(ids, listed, {})

        async def fetch(target: str, body: Any) -> Any:
            return await self.get_json(target, headers=headers, body=body)

        root = self.base_url.removesuffix("/v1")
        return with_limits(ids, listed, await local_limits(server, root, ids, fetch))


def arguments_json(call: ToolCall) -> str:
    """The arguments to echo in history, as the model sent them; malformed ones become `{}` (the API may
    reject invalid JSON)."""
    if call.raw_arguments and call.arguments_error is None:
        return call.raw_arguments
    return json.dumps(sent_arguments(call))


def _wire_message(message: Message, reasoning: bool) -> dict[str, Any]:
    if message.role == "system":
        return {"role": "developer" if reasoning else "system", "content": message.content}
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": arguments_json(call),
                },
            }
            for call in message.tool_calls
        ]
    return wire
