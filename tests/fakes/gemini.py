"""Google Gemini Developer API wire format (providers.md section 3)."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.fakes.server import Item, Reply, json_reply
from tests.fakes.sse import data_event, retry_headers, stream_reply

FunctionCall = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str]
"""(name, args) or (name, args, id)."""

RESPONSE_ID = "fake-response-0001"
SERVICE = "generativelanguage.googleapis.com"
GEMINI_SSE_HEADERS = {"content-type": "text/event-stream", "x-content-type-options": "nosniff"}
DEFAULT_METHODS = ("generateContent", "countTokens", "createCachedContent", "batchGenerateContent")


def thought_signature(name: str, position: int) -> str:
    """The opaque `thoughtSignature` the fake attaches to function call number `position`."""
    return base64.b64encode(f"fake-signature:{name}:{position}".encode()).decode()


def _usage(prompt: int, candidates: int, thoughts: int | None, cached: int | None = None) -> dict[str, Any]:
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + (thoughts or 0),
    }
    if cached is not None:
        usage["cachedContentTokenCount"] = cached  # a part of promptTokenCount
    if thoughts is not None:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _response(
    parts: list[dict[str, Any]], usage: dict[str, Any], model: str, finish: str | None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": RESPONSE_ID,
    }


def _call_parts(function_calls: list[FunctionCall]) -> list[dict[str, Any]]:
    parts = []
    for position, (name, args, *call_id) in enumerate(function_calls):
        call: dict[str, Any] = {"name": name, "args": args}
        if call_id:
            call["id"] = call_id[0]
        parts.append({"functionCall": call, "thoughtSignature": thought_signature(name, position)})
    return parts


def gemini_stream(
    texts: list[str],
    *,
    model: str = "gemini-2.5-flash",
    usage: tuple[int, int] = (10, 5),
    thoughts_tokens: int | None = None,
    cached: int | None = None,
    finish: str = "STOP",
    function_calls: list[FunctionCall] | None = None,
    error_after: int | None = None,
    headers: dict[str, str] | None = None,
    delay_between: float = 0.0,
) -> Reply:
    """A `streamGenerateContent?alt=sse` reply: one `data:` event per GenerateContentResponse, no `[DONE]`.

    One chunk per text, then one chunk holding every function call as a whole `functionCall` part (with a
    `thoughtSignature`); the last chunk carries `finishReason`. Each chunk has cumulative
    `usageMetadata`, ending at `usage`. `error_after=n` ends after n text chunks with a pretty-printed
    JSON error written without a `data:` prefix, as Google does mid-stream.
    """
    prompt, candidates = usage
    bodies: list[list[dict[str, Any]]] = [[{"text": text}] for text in texts]
    if error_after is not None:
        bodies = bodies[:error_after]
    elif function_calls:
        bodies.append(_call_parts(function_calls))
    if not bodies and error_after is None:
        bodies = [[{"text": ""}]]
    events: list[Item] = []
    for position, parts in enumerate(bodies, start=1):
        last = position == len(bodies) and error_after is None
        so_far = candidates if last else candidates * position // (len(bodies) + 1)
        events.append(
            data_event(
                _response(
                    parts, _usage(prompt, so_far, thoughts_tokens, cached), model, finish if last else None
                )
            )
        )
    if error_after is not None:
        error = {
            "error": {
                "code": 503,
                "message": "The model is overloaded. Please try again later.",
                "status": "UNAVAILABLE",
            }
        }
        events.append((json.dumps(error, indent=2) + "\n").encode())
    return stream_reply(events, {**GEMINI_SSE_HEADERS, **(headers or {})}, delay_between)


def gemini_response(
    text: str,
    usage: tuple[int, int] = (10, 5),
    *,
    model: str = "gemini-2.5-flash",
    finish: str = "STOP",
    function_calls: list[FunctionCall] | None = None,
) -> Reply:
    """A non-streaming `generateContent` body."""
    parts: list[dict[str, Any]] = [{"text": text}] if text else []
    parts += _call_parts(function_calls or [])
    return json_reply(200, _response(parts, _usage(*usage, None), model, finish))


def gemini_models(
    ids: list[str | tuple[str, list[str]]],
    *,
    next_page_token: str | None = None,
) -> Reply:
    """A `GET /v1beta/models` page; an id given as (id, methods) overrides `supportedGenerationMethods`."""
    models = []
    for entry in ids:
        model_id, methods = (entry, list(DEFAULT_METHODS)) if isinstance(entry, str) else entry
        models.append(
            {
                "name": f"models/{model_id}",
                "version": "001",
                "displayName": model_id,
                "description": f"Fake {model_id}",
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": methods,
                "temperature": 1,
                "maxTemperature": 2,
                "topP": 0.95,
                "topK": 64,
            }
        )
    body: dict[str, Any] = {"models": models}
    if next_page_token is not None:
        body["nextPageToken"] = next_page_token
    return json_reply(200, body)


def gemini_error(
    status: int,
    message: str,
    status_name: str,
    reason: str | None = None,
    *,
    retry_delay: str | None = None,
    quota_id: str | None = None,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """A google.rpc.Status error body.

    `reason` adds ErrorInfo + LocalizedMessage details, `quota_id` a QuotaFailure (429s), `retry_delay`
    (e.g. "38s") a RetryInfo. Gemini sends no retry-after header; `retry_after` adds one anyway.
    """
    details: list[dict[str, Any]] = []
    if reason is not None:
        details += [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": SERVICE},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ]
    if quota_id is not None:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {"quotaMetric": f"{SERVICE}/generate_content_free_tier_requests", "quotaId": quota_id},
                ],
            }
        )
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    error: dict[str, Any] = {"code": status, "message": message, "status": status_name}
    if details:
        error["details"] = details
    return json_reply(status, {"error": error}, retry_headers(retry_after, headers))


def gemini_bad_key() -> Reply:
    """The 400 (not 401) Gemini sends for a wrong key, with reason API_KEY_INVALID."""
    return gemini_error(
        400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", "API_KEY_INVALID"
    )
