"""OpenAI and Azure OpenAI Chat Completions wire formats (providers.md sections 1 and 4)."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.server import Item, Reply, json_reply
from tests.fakes.sse import data_event, fragments, retry_headers, stream_reply

ToolCall = tuple[str, str, str | dict[str, Any]]
"""(id, name, arguments): arguments as the JSON string to stream, or an object to serialise."""

CHUNK_ID = "chatcmpl-fake0001"
CREATED = 1741569952
FINGERPRINT = "fp_fake0001"
OPENAI_HEADERS = {"x-request-id": "req_fake0001", "openai-processing-ms": "12"}
AZURE_HEADERS = {"apim-request-id": "fake-apim-0001", "x-ms-region": "East US"}

_SAFE = {"filtered": False, "severity": "safe"}
AZURE_FILTER_RESULTS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
AZURE_PROMPT_FILTER_CHUNK = {
    "id": "",
    "choices": [],
    "created": 0,
    "model": "",
    "object": "",
    "system_fingerprint": None,
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {
                **AZURE_FILTER_RESULTS,
                "jailbreak": {"filtered": False, "detected": False},
            },
        }
    ],
}


def _arguments(arguments: str | dict[str, Any]) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _usage(usage: tuple[int, ...]) -> dict[str, Any]:
    """(prompt, completion[, cached[, cache written]]): the cache counts are parts of the prompt tokens."""
    prompt, completion, cached, written = (*usage, 0, 0)[:4]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_stream_events(
    texts: list[str],
    *,
    model: str,
    usage: tuple[int, ...] | None,
    finish: str | None,
    tool_calls: list[ToolCall] | None,
    role_chunk: bool,
    whole_tool_calls: bool,
    reasoning: list[str] | None,
    reasoning_field: str,
    error_after: int | None,
    error: dict[str, Any] | None,
    azure: bool,
) -> list[Item]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice: dict[str, Any] = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        if azure:
            choice["content_filter_results"] = AZURE_FILTER_RESULTS if "content" in delta else {}
        body: dict[str, Any] = {
            "id": CHUNK_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [choice],
        }
        if usage is not None:
            body["usage"] = None
        return data_event(body)

    calls = tool_calls or []
    events: list[Item] = [data_event(AZURE_PROMPT_FILTER_CHUNK)] if azure else []
    role_pending = role_chunk
    if role_chunk and (texts or reasoning or not calls):
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        role_pending = False
    events += [chunk({reasoning_field: piece}) for piece in reasoning or []]
    for count, text in enumerate(texts):
        if error_after is not None and count == error_after:
            break
        events.append(chunk({"content": text}))
    if error_after is not None:
        fault = error or {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        events.append(data_event({"error": fault}))
        return events
    for index, (call_id, name, arguments) in enumerate(calls):
        pieces = fragments(_arguments(arguments), 4)
        opening: dict[str, Any] = {
            "tool_calls": [
                {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": "".join(pieces) if whole_tool_calls else ""},
                }
            ]
        }
        if role_pending:
            opening = {"role": "assistant", "content": None, **opening, "refusal": None}
            role_pending = False
        events.append(chunk(opening))
        if not whole_tool_calls:
            events += [
                chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces
            ]
    events.append(chunk({}, finish or ("tool_calls" if calls else "stop")))
    if usage is not None:
        events.append(
            data_event(
                {
                    "id": CHUNK_ID,
                    "object": "chat.completion.chunk",
                    "created": CREATED,
                    "model": model,
                    "system_fingerprint": FINGERPRINT,
                    "choices": [],
                    "usage": _usage(usage),
                }
            )
        )
    events.append(data_event("[DONE]"))
    return events


def openai_stream(
    texts: list[str],
    *,
    model: str = "gpt-4.1-mini",
    usage: tuple[int, ...] | None = (10, 5),
    finish: str | None = None,
    tool_calls: list[ToolCall] | None = None,
    role_chunk: bool = True,
    whole_tool_calls: bool = False,
    reasoning: list[str] | None = None,
    reasoning_field: str = "reasoning_content",
    error_after: int | None = None,
    error: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    delay_between: float = 0.0,
) -> Reply:
    """A streamed Chat Completions reply, one `data:` event per chunk, ending `data: [DONE]`.

    A role chunk opens (merged into the first tool-call delta when there is no text), then `reasoning`
    deltas (in `delta[reasoning_field]`, as compatible servers send them), text deltas, tool calls
    (opening delta then argument fragments, one index per call; with `whole_tool_calls`, each call in
    one delta as Ollama sends them), the finish chunk (`finish` defaults to
    "tool_calls" with tool calls, else "stop"), the `choices: []` usage chunk when `usage` is given
    (other chunks then carry `"usage": null`), and `[DONE]`. `error_after=n` instead ends after n text
    deltas with a `data: {"error": ...}` event (`error` overrides its object) and no `[DONE]`.
    """
    events = _chat_stream_events(
        texts,
        model=model,
        usage=usage,
        finish=finish,
        tool_calls=tool_calls,
        role_chunk=role_chunk,
        whole_tool_calls=whole_tool_calls,
        reasoning=reasoning,
        reasoning_field=reasoning_field,
        error_after=error_after,
        error=error,
        azure=False,
    )
    return stream_reply(events, {**OPENAI_HEADERS, **(headers or {})}, delay_between)


def azure_stream(
    texts: list[str],
    *,
    model: str = "gpt-4o-2024-08-06",
    usage: tuple[int, ...] | None = (10, 5),
    finish: str | None = None,
    tool_calls: list[ToolCall] | None = None,
    role_chunk: bool = True,
    error_after: int | None = None,
    error: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    delay_between: float = 0.0,
) -> Reply:
    """openai_stream() as Azure sends it: first a prompt-filter chunk with `choices: []`, empty id and
    model and `created: 0`, then chunks whose choices carry `content_filter_results`."""
    events = _chat_stream_events(
        texts,
        model=model,
        usage=usage,
        finish=finish,
        tool_calls=tool_calls,
        role_chunk=role_chunk,
        whole_tool_calls=False,
        reasoning=None,
        reasoning_field="reasoning_content",
        error_after=error_after,
        error=error,
        azure=True,
    )
    return stream_reply(events, {**AZURE_HEADERS, **(headers or {})}, delay_between)


def openai_completion(
    text: str | None,
    usage: tuple[int, ...] = (10, 5),
    *,
    model: str = "gpt-4.1-mini",
    finish: str | None = None,
    tool_calls: list[ToolCall] | None = None,
) -> Reply:
    """A non-streaming `chat.completion` body."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": _arguments(arguments)},
            }
            for call_id, name, arguments in tool_calls
        ]
    return json_reply(
        200,
        {
            "id": CHUNK_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish or ("tool_calls" if tool_calls else "stop"),
                }
            ],
            "usage": _usage(usage),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        },
        OPENAI_HEADERS,
    )


def openai_models(ids: list[str]) -> Reply:
    """A `GET /v1/models` list."""
    return json_reply(
        200,
        {
            "object": "list",
            "data": [{"id": i, "object": "model", "created": CREATED, "owned_by": "system"} for i in ids],
        },
        OPENAI_HEADERS,
    )


def openai_error(
    status: int,
    message: str,
    type: str = "invalid_request_error",
    code: str | None = None,
    *,
    param: str | None = None,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An OpenAI error body: `{"error": {"message", "type", "param", "code"}}`."""
    return json_reply(
        status,
        {"error": {"message": message, "type": type, "param": param, "code": code}},
        {**OPENAI_HEADERS, **retry_headers(retry_after, headers)},
    )


def openai_bad_key() -> Reply:
    """The 401 OpenAI sends for a wrong key."""
    return openai_error(
        401,
        "Incorrect API key provided: sk-fake***1234. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )


def azure_error(
    status: int,
    code: str,
    message: str,
    *,
    inner_error: dict[str, Any] | None = None,
    retry_after: float | None = None,
    retry_after_ms: int | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An Azure OpenAI error body: `{"error": {"code": "<string>", "message", ...}}`."""
    error: dict[str, Any] = {"code": code, "message": message}
    if inner_error is not None:
        error["inner_error"] = inner_error
    extra = retry_headers(retry_after, headers)
    if retry_after_ms is not None:
        extra["retry-after-ms"] = str(retry_after_ms)
    return json_reply(status, {"error": error}, {**AZURE_HEADERS, **extra})


def azure_bad_key() -> Reply:
    """The 401 Azure sends for a wrong key."""
    return azure_error(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
        "key for an active subscription and use a correct regional API endpoint for your resource.",
    )


def azure_deployment_not_found() -> Reply:
    """The 404 Azure sends for an unknown deployment name."""
    return azure_error(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment within the "
        "last 5 minutes, please wait a moment and try again.",
    )


def azure_models(ids: list[str]) -> Reply:
    """A `GET /openai/models?api-version=...` list (models available to the resource)."""
    return json_reply(
        200,
        {
            "object": "list",
            "data": [
                {
                    "id": i,
                    "object": "model",
                    "status": "succeeded",
                    "capabilities": {"chat_completion": True, "completion": False, "embeddings": False},
                    "lifecycle_status": "generally-available",
                    "created_at": CREATED,
                }
                for i in ids
            ],
        },
        AZURE_HEADERS,
    )
