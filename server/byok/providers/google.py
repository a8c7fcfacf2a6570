"""Google Gemini (AI Studio keys): `streamGenerateContent?alt=sse`, `systemInstruction`, user/model roles."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ModelInfo,
    Reasoning,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    merged_turns,
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
from byok.providers.model_limits import positive_int
from byok.providers.sse import finish_lines, iter_sse, response_lines

FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
FILTERED = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE"}


GEMINI_SCHEMA_KEYWORDS = frozenset(
    {
        "$id", "$defs", "$ref", "$anchor", "type", "format", "title", "description", "enum", "items",
        "prefixItems", "minItems", "maxItems", "minimum", "maximum", "anyOf", "oneOf", "properties",
        "additionalProperties", "required", "propertyOrdering",
    }
)  # fmt: skip
"""The JSON Schema keywords Gemini's `parametersJsonSchema` takes; others (`$schema`, `default`, `const`,
`pattern`, ...) make it refuse the request, so tools from elsewhere (MCP servers) are reduced to these."""
_SCHEMA_MAPS = ("properties", "$defs")
_SCHEMA_LISTS = ("prefixItems", "anyOf", "oneOf")


def gemini_schema(schema: Any) -> Any:
    """`schema` with only the keywords Gemini accepts: `const` becomes a one-value `enum`, a type list its
    first non-null type, an `enum` that is not all strings or all numbers is dropped; nested schemas too."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "const" and "enum" not in schema:
            key, value = "enum", [value]
        if key not in GEMINI_SCHEMA_KEYWORDS:
            continue
        if key == "type" and isinstance(value, list):
            value = next((t for t in value if t != "null"), "string")
        elif key == "enum" and not (
            isinstance(value, list)
            and value
            and (
                all(isinstance(v, str) for v in value)
                or all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            )
        ):
            continue
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: gemini_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [gemini_schema(sub) for sub in value]
        elif key in ("items", "additionalProperties"):
            value = gemini_schema(value)
        out[key] = value
    return out


class GeminiProvider(HttpProvider):
    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.key} if self.key else {}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if thinking := _thinking_config(request.reasoning):
            config["thinkingConfig"] = thinking
        body: dict[str, Any] = {"contents": _wire_contents(request.conversation), "generationConfig": config}
        if request.system:
            body["systemInstruction"] = {"parts": [{"text": request.system}]}
        if request.tools:
            body["tools"] = [
                {
                    "functionDeclarations": [
                        {
                            "name": t.name,
                            "description": t.description,
                            "parametersJsonSchema": gemini_schema(t.parameters),
                        }
                        for t in request.tools
                    ]
                }
            ]
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        model = request.model.removeprefix("models/")
        async with open_stream(
            self.client,
            "POST",
            f"{self.base_url}/v1beta/models/{quote(model, safe='')}:streamGenerateContent",
            provider=self.provider_id,
            parse_error=self.parse_error,
            headers={**self.headers(), "Accept": "text/event-stream"},
            body=self.request_body(request),
            params={"alt": "sse"},
        ) as response:
            lines = response_lines(response, provider=self.provider_id)
            async for event in self.decode(lines):
                yield event
            await finish_lines(lines)

    async def decode(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
        usage: dict[str, Any] = {}
        finish: str | None = None
        tool_calls = ToolCalls(self.provider_id)
        async for sse in iter_sse(lines, provider=self.provider_id):
            chunk = json_text(sse.data)
            if not isinstance(chunk, dict):
                raise malformed_chunk(self.provider_id)
            with decoding(self.provider_id):
                if isinstance(chunk.get("error"), dict):
                    error = chunk["error"]
                    code = error.get("code")
                    status = code if isinstance(code, int) and 400 <= code < 600 else 500
                    exc = self.error_from(status, error, {})
                    exc.mid_stream = True
                    raise exc
                usage.update(chunk.get("usageMetadata") or {})
                feedback = chunk.get("promptFeedback") or {}
                if feedback.get("blockReason") and not chunk.get("candidates"):
                    finish = "content_filter"
                for candidate in (chunk.get("candidates") or [])[:1]:
                    for part in (candidate.get("content") or {}).get("parts") or []:
                        if "functionCall" in part:
                            call = part["functionCall"]
                            extra = (
                                {"thoughtSignature": part["thoughtSignature"]}
                                if "thoughtSignature" in part
                                else None
                            )
                            args = call.get("args") if isinstance(call.get("args"), dict) else {}
                            tool_calls.whole(args)
                            yield ToolCallEvent(
                                ToolCall(
                                    id=str(call.get("id") or f"call_{tool_calls.count - 1}"),
                                    name=str(call.get("name", "")),
                                    arguments=args,
                                    provider_data=extra,
                                )
                            )
                        elif text := part.get("text"):
                            text = as_text(text)
                            yield ReasoningDelta(text) if part.get("thought") else TextDelta(text)
                    if reason := candidate.get("finishReason"):
                        finish = (
                            "content_filter"
                            if reason in FILTERED
                            else FINISH_REASONS.get(reason, reason.lower())
                        )
        if finish is None:
            raise interrupted(self.provider_id, "the stream ended before a finishReason")
        with decoding(self.provider_id):
            final_usage = (
                Usage(
                    input_tokens=int(usage.get("promptTokenCount") or 0),
                    output_tokens=int(usage.get("candidatesTokenCount") or 0)
                    + int(usage.get("thoughtsTokenCount") or 0),
                    cache_read_tokens=int(usage.get("cachedContentTokenCount") or 0),
                    reasoning_tokens=int(usage.get("thoughtsTokenCount") or 0),
                )
                if usage
                else None
            )
        if final_usage is not None:
            yield final_usage
        yield Finish("tool_calls" if tool_calls.count and finish == "stop" else finish)

    def parse_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> ByokError:
        return self.error_from(status, error_object(body), headers)

    def error_from(self, status: int, error: Mapping[str, Any], headers: Mapping[str, str]) -> ByokError:
        message = str(error.get("message") or f"HTTP {status}")
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        reasons = {str(d.get("reason")) for d in details if d.get("reason")}
        if reasons & {"API_KEY_INVALID", "API_KEY_EXPIRED"} or "api key not valid" in message.lower():
            return ByokError(
                ErrorCode.INVALID_KEY,
                message,
                provider=self.provider_id,
                status=status,
                fix="Create a new key at aistudio.google.com (API keys), then set it again",
            )
        if status == 400 and error.get("status") == "FAILED_PRECONDITION":
            return ByokError(
                ErrorCode.NO_MODEL_ACCESS,
                message,
                provider=self.provider_id,
                status=status,
                cause="The free tier is not available here, or billing is not enabled",
                fix="Enable billing for the key's project in Google AI Studio",
            )
        if status == 429:
            quota_ids = [
                str(v.get("quotaId", ""))
                for d in details
                for v in d.get("violations") or []
                if isinstance(v, dict)
            ]
            if any("PerDay" in q for q in quota_ids):
                return ByokError(
                    ErrorCode.QUOTA_EXHAUSTED,
                    message,
                    provider=self.provider_id,
                    status=status,
                    cause="The daily quota for this model is used up",
                    fix="Wait until tomorrow, enable billing, or pick another model",
                )
            return status_error(
                status,
                self.provider_id,
                message,
                headers,
                retry_after_s=_retry_delay(details),
            )
        return status_error(status, self.provider_id, message, headers)

    async def verify(self) -> list[ModelInfo]:
        """The generateContent models, with their `inputTokenLimit` and `outputTokenLimit`."""
        models: list[ModelInfo] = []
        params = {"pageSize": "1000"}
        url = f"{self.base_url}/v1beta/models"
        for _ in range(20):
            payload = await self.get_json(url, headers=self.headers(), params=params)
            if not isinstance(payload, dict):
                raise self.unexpected_shape()
            with decoding(self.provider_id):
                for model in payload.get("models") or []:
                    methods = model.get("supportedGenerationMethods") or ["generateContent"]
                    if "generateContent" in methods:
                        models.append(
                            ModelInfo(
                                str(model.get("name", "")).removeprefix("models/"),
                                positive_int(model.get("inputTokenLimit")),
                                positive_int(model.get("outputTokenLimit")),
                                f"GET {url}",
                            )
                        )
            if not payload.get("nextPageToken"):
                break
            params = {"pageSize": "1000", "pageToken": str(payload["nextPageToken"])}
        return sorted(models, key=lambda model: model.id)


def _thinking_config(reasoning: Reasoning | None) -> dict[str, Any]:
    """`thinkingBudget` (Gemini 2.x; 0 turns thinking off) or `thinkingLevel` (Gemini 3), never both."""
    if reasoning is None:
        return {}
    config: dict[str, Any] = {}
    if reasoning.budget_tokens is not None:
        config["thinkingBudget"] = reasoning.budget_tokens
    elif reasoning.effort == "none":
        config["thinkingBudget"] = 0
    elif reasoning.effort:
        config["thinkingLevel"] = reasoning.effort.upper()
    if reasoning.summary:
        config["includeThoughts"] = True
    return config


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (match := re.fullmatch(r"([\d.]+)s", delay)):
            return float(match.group(1))
    return None


def _wire_contents(messages: list[Message]) -> list[dict[str, Any]]:
    return merged_turns(messages, _parts, assistant_role="model", blocks_key="parts")


def _parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.role == "tool":
        parts.append(
            {"functionResponse": {"name": message.name or "", "response": {"result": message.content}}}
        )
    elif message.content:
        parts.append({"text": message.content})
    for call in message.tool_calls:
        part: dict[str, Any] = {"functionCall": {"name": call.name, "args": call.arguments}}
        part.update(call.provider_data or {})
        parts.append(part)
    return parts
