"""Run one model turn for any feature: route, key custody, streaming to a sink, errors with partial text.

Shared by chat, inline edit, composer and each agent step, so every feature gets the same fallback,
error and streaming behaviour.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Protocol

from byok.backend import Backend, Route
from byok.context import estimate_tokens
from byok.errors import ByokError
from byok.protocol import ErrorCode
from byok.providers.base import ChatRequest, ChatResult, ReasoningDelta, StreamEvent, TextDelta, Usage

log = logging.getLogger(__name__)
FALLBACK_CODES = frozenset(
    {
        ErrorCode.RATE_LIMITED,
        ErrorCode.PROVIDER_OVERLOADED,
        ErrorCode.PROVIDER_ERROR,
        ErrorCode.ENDPOINT_UNREACHABLE,
        ErrorCode.TIMEOUT,
    }
)
MODEL_LIST_TIMEOUT_S = 5.0


class StreamSink(Protocol):
    """Where a feature's live output goes (LSP notifications, the terminal, or nowhere)."""

    def delta(self, kind: str, text: str) -> None: ...


class NullSink:
    def delta(self, kind: str, text: str) -> None:
        return None


@dataclass(slots=True)
class Turn:
    """One finished model turn and the model that answered it."""

    result: ChatResult
    route: Route

    def usage_dict(self) -> dict[str, int | bool]:
        usage = self.result.usage or Usage()
        return {
            "inputTokens": usage.input_tokens,
            "outputTokens": usage.output_tokens,
            "estimated": usage.estimated,
        }


async def run_turn(
    backend: Backend,
    routes: list[Route],
    request: ChatRequest,
    sink: StreamSink,
    *,
    feature: str,
) -> Turn:
    """Try each route in order; move to the next only when one fails before any output."""
    last_error: ByokError | None = None
    for index, route in enumerate(routes):
        if index:
            sink.delta(
                "status",
                f"{routes[index - 1].model_id} failed ({last_error.code if last_error else ''}); "
                f"trying {route.model_id}",
            )
        routed = replace(
            request,
            model=route.upstream,
            max_tokens=min(request.max_tokens, route.max_output_tokens or request.max_tokens),
        )
        result = ChatResult()
        try:
            adapter, _ = await backend.provider(route.provider_id)
            async for event in _guarded(adapter.stream(routed)):
                result.add(event)
                if isinstance(event, TextDelta):
                    sink.delta("text", event.text)
                elif isinstance(event, ReasoningDelta):
                    sink.delta("reasoning", event.text)
        except ByokError as exc:
            exc.extra.setdefault("model", route.model_id)
            if result.text or result.tool_calls:
                exc.extra["partialText"] = result.text
                raise
            if exc.code == ErrorCode.MODEL_NOT_FOUND and "models" not in exc.extra:
                exc.extra["models"] = await _visible_models(backend, route.provider_id)
            if exc.code not in FALLBACK_CODES or index == len(routes) - 1:
                raise
            last_error = exc
            log.warning("%s failed for %s: %s", route.model_id, feature, exc)
            continue
        if result.usage is None:
            prompt = "".join(m.content for m in request.messages)
            result.usage = Usage(estimate_tokens(prompt), estimate_tokens(result.text), estimated=True)
        return Turn(result, route)
    raise AssertionError("run_turn needs at least one route")


async def _guarded(events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """Close the provider stream (and so its connection) whatever happens to the consumer."""
    try:
        async for event in events:
            yield event
    finally:
        closer = getattr(events, "aclose", None)
        if closer is not None:
            await closer()


async def _visible_models(backend: Backend, provider_id: str) -> list[str]:
    """The models the key can see, for a model_not_found error (best effort, bounded)."""
    if provider_id in backend.verified_models:
        return backend.verified_models[provider_id]
    try:
        async with asyncio.timeout(MODEL_LIST_TIMEOUT_S):
            adapter, _ = await backend.provider(provider_id)
            models = await adapter.verify()
    except (ByokError, TimeoutError):
        return []
    backend.verified_models[provider_id] = models
    return models
