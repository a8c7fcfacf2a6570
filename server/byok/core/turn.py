"""Run one model turn for any feature: route, key custody, budget, retries, fallbacks, streaming, ledger.

Shared by chat, inline edit, composer and each agent step, so every feature gets the same spending
limit, retry, fallback, error and streaming behaviour, and every request leaves a row in the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from byok.base.config import ReasoningSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.tokens import estimate_tokens
from byok.core.prices import (
    Price,
    cost_usd,
    estimate_input_tokens,
    max_input_tokens,
    price_for,
    quote,
    saved_usd,
    user_price,
)
from byok.core.reasoning import MIN_ANSWER_TOKENS, fit_for_route, plan_output
from byok.core.retry import RetryPolicy, first_output, run_with_retries
from byok.core.routing import Route
from byok.core.session import Backend
from byok.providers.base import (
    ChatRequest,
    ChatResult,
    Message,
    Provider,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolSpec,
    Usage,
)
from byok.providers.urls import is_loopback
from byok.workspace.files import ContextFile

if TYPE_CHECKING:
    from byok.core.keys import StoredKey
    from byok.core.ledger import Outcome, Reservation

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
PROGRESS_EVERY_S = 0.5
"""How often a streaming request's ledger row is brought up to date (survives a kill -9)."""
SETTLE_ATTEMPTS = 5
SETTLE_RETRY_S = 1.0
"""A settle that finds the ledger locked by another process is tried again this often."""


class StreamSink(Protocol):
    """Where a feature's live output goes (LSP notifications, the terminal, or nowhere)."""

    def delta(self, kind: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a feature asks of a model; `run_turn` adds each route's model name and output cap."""

    messages: list[Message]
    max_tokens: int
    temperature: float | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    files: list[ContextFile] = field(default_factory=list)
    """The context files inside `messages`: a request too large for a model's window names the largest."""
    workspace: Path | None = None
    """The workspace folder the request is about (None: no folder open); it picks the prompt-cache key."""
    cache_conversation: bool = True
    """Whether a later request continues this conversation (chat, agent), so caching its turns pays."""
    reasoning: ReasoningSettings | None = None
    """The request's own reasoning ask; it beats the feature's and the model entry's."""


@dataclass(slots=True)
class Turn:
    """One finished model turn and the model that answered it."""

    result: ChatResult
    route: Route
    cost_usd: float | None = None
    saved_usd: float | None = None
    """What prompt caching saved against uncached input prices (negative: writes cost more than reads saved)."""

    def usage_dict(self) -> dict[str, int | bool | float | None]:
        usage = self.result.usage or Usage()
        return {
            "inputTokens": usage.input_tokens,
            "outputTokens": usage.output_tokens,
            "cacheReadTokens": usage.cache_read_tokens,
            "cacheWriteTokens": usage.cache_write_tokens,
            "reasoningTokens": usage.reasoning_tokens,
            "estimated": usage.estimated,
            "costUsd": self.cost_usd,
            "savedUsd": self.saved_usd,
        }


async def run_turn(
    backend: Backend,
    routes: list[Route],
    prompt: Prompt,
    sink: StreamSink,
    *,
    feature: str,
) -> Turn:
    """Try each route in order; move to the next only when one fails before any output."""
    for index, route in enumerate(routes):
        try:
            return await _run_route(backend, route, prompt, sink, feature)
        except ByokError as exc:
            if exc.model is None:
                exc.model = route.model_id
            if exc.partial_text is not None or exc.code not in FALLBACK_CODES or index == len(routes) - 1:
                raise
            log.warning("%s failed for %s: %s", route.model_id, feature, exc)
            sink.delta(
                "status", f"{route.model_id} failed ({exc.code.value}); trying {routes[index + 1].model_id}"
            )
    raise AssertionError("run_turn needs at least one route")


async def _run_route(backend: Backend, route: Route, prompt: Prompt, sink: StreamSink, feature: str) -> Turn:
    settings = backend.settings
    adapter, stored = await backend.provider(route.provider_id, route.api)
    fitted = fit_for_route(settings, route, prompt.reasoning, feature)
    if fitted.note:
        sink.delta("status", f"reasoning: {fitted.note}")
    output = plan_output(
        min(prompt.max_tokens, route.max_output_tokens or prompt.max_tokens),
        route.max_output_tokens,
        fitted.reasoning,
    )
    routed = ChatRequest(
        model=route.upstream,
        messages=prompt.messages,
        max_tokens=output.max_tokens,
        temperature=prompt.temperature,
        tools=prompt.tools,
        cache=settings.cache if route.cache is None else route.cache,
        cache_key=await backend.cache_keys.key_for(prompt.workspace),
        cache_conversation=prompt.cache_conversation,
        reasoning=fitted.reasoning,
    )
    thinking = output.thinking_tokens
    price = _price(backend, route, adapter, stored)
    input_estimate = estimate_input_tokens(routed)
    room = _window_room(route, prompt, input_estimate, thinking)
    if room is not None and room < routed.max_tokens:
        sink.delta(
            "status",
            f"{route.model_id}'s {route.context_window:,}-token context window leaves room for an answer of "
            f"at most {room:,} tokens",
        )
        routed.max_tokens = room
    reservation = await _reserve(
        backend,
        provider=route.provider_id,
        model=route.model_id,
        feature=feature,
        quote=quote(price, max_input_tokens(routed), caching=routed.cache),
        budget=settings.budget,
        price=price,
        input_tokens_estimate=input_estimate,
        max_output_tokens=routed.max_tokens,
        min_output_tokens=output.min_tokens,
        thinking_tokens=thinking,
    )
    if reservation.max_output_tokens < routed.max_tokens:
        after = f" after the {thinking}-token thinking budget" if thinking else ""
        sink.delta(
            "status",
            "The spending limit leaves room for an answer of at most "
            f"{reservation.max_output_tokens - thinking} tokens{after}",
        )
        routed = replace(routed, max_tokens=reservation.max_output_tokens)
    result = ChatResult()
    outcome: Outcome = "error"
    billed_input = input_estimate

    def on_wait(delay_s: float, error: ByokError) -> None:
        sink.delta("status", f"{route.provider_id}: {error.cause.lower()}; retrying in {delay_s:.1f} s")

    try:
        try:
            async with asyncio.timeout(settings.timeouts.total_s):
                started = await run_with_retries(
                    lambda: first_output(adapter.stream(routed)),
                    RetryPolicy.from_settings(settings.retry),
                    on_wait=on_wait,
                )
                last_progress = time.monotonic()

                def relay(event: StreamEvent) -> None:
                    result.add(event)
                    if isinstance(event, TextDelta):
                        sink.delta("text", event.text)
                    elif isinstance(event, ReasoningDelta):
                        sink.delta("reasoning", event.text)

                try:
                    for event in started.head:
                        relay(event)
                    if not started.done:
                        async for event in started.rest:
                            relay(event)
                            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                                last_progress = time.monotonic()
                                await _record_progress(backend, reservation, result)
                finally:
                    await _close(started.rest)
        except TimeoutError:
            raise ByokError(
                ErrorCode.TIMEOUT,
                f"The answer took longer than {settings.timeouts.total_s:g} s",
                provider=route.provider_id,
                cause="The request ran past byok.timeouts.totalS",
                fix="Ask for a shorter answer, or raise byok.timeouts.totalS",
                limitS=settings.timeouts.total_s,
            ) from None
        outcome = "ok"
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    except ByokError as exc:
        if result.text or result.tool_calls:
            exc.partial_text = result.partial_text
        else:
            billed_input = 0  # refused or failed before answering: providers do not bill it
        if exc.code == ErrorCode.MODEL_NOT_FOUND and exc.models is None:
            exc.models = await backend.visible_models(route.provider_id)
        raise
    finally:
        usage = result.usage
        if usage is None or (usage.output_tokens == 0 and (result.text or result.tool_calls)):
            # No report, or one that contradicts what streamed (some proxies send zeros): estimate.
            usage = Usage(
                input_tokens=usage.input_tokens if usage and usage.input_tokens else billed_input,
                output_tokens=estimate_tokens(result.text + result.reasoning),
                cache_read_tokens=usage.cache_read_tokens if usage else 0,
                cache_write_tokens=usage.cache_write_tokens if usage else 0,
                estimated=True,
            )
        result.usage = usage
        cost = cost_usd(price, usage)
        if cost is not None and reservation.worst_case_usd is not None and cost > reservation.worst_case_usd:
            log.warning(
                "%s reported usage costing $%.6f, more than the $%.6f reserved for it",
                route.provider_id,
                cost,
                reservation.worst_case_usd,
            )
        saved = saved_usd(price, usage)
        backend.in_background(_settle(backend, reservation, usage, cost, saved, outcome))
    return Turn(result, route, cost, saved)


def _window_room(route: Route, prompt: Prompt, input_tokens: int, thinking_tokens: int) -> int | None:
    """The output tokens the model's context window leaves after the input (None: the window is unknown).

    A request whose input fills the window, or leaves too little of it for its thinking budget and an
    answer, is refused here, before anything is sent (a local server would otherwise cut the prompt
    silently; a thinking budget is never shrunk silently)."""
    window = route.context_window
    if window is None:
        return None
    room = window - input_tokens
    needed = thinking_tokens + min(MIN_ANSWER_TOKENS, prompt.max_tokens) if thinking_tokens else 1
    if room >= needed:
        return room
    largest = sorted(prompt.files, key=lambda f: len(f.text), reverse=True)[:3]
    names = ", ".join(f"{f.path} (~{estimate_tokens(f.text):,} tokens)" for f in largest)
    local = route.context_source is not None and route.context_source.startswith("verify")
    over = (
        f"over {route.model_id}'s {window:,}-token context window"
        if room <= 0
        else f"which leaves {route.model_id}'s {window:,}-token context window too little room for the "
        f"{thinking_tokens:,}-token thinking budget and an answer"
    )
    raise ByokError(
        ErrorCode.CONTEXT_TOO_LARGE,
        f"About {input_tokens:,} tokens of input, {over} (from {route.context_source}); nothing was sent",
        provider=route.provider_id,
        cause=f"The largest files: {names}" if names else "The messages alone are too long",
        fix="Send fewer or smaller files (@Files, not @Codebase, when you know the location), or pick a model "
        "with a larger window"
        + (" (or run this one with a larger context, e.g. Ollama num_ctx, llama.cpp -c)" if local else ""),
        estimatedTokens=input_tokens,
        contextWindow=window,
        contextWindowSource=route.context_source,
    )


def _price(backend: Backend, route: Route, adapter: Provider, stored: StoredKey | None) -> Price | None:
    """The user's price for the model id, else the price of the provider's model name; a keyless server on
    this machine (Ollama, LM Studio, llama.cpp) without one costs nothing."""
    overrides = backend.settings.prices
    price = user_price(route.model_id, route.provider_id, overrides) or price_for(
        route.upstream, route.provider_id, overrides
    )
    if price is not None or stored is not None or backend.resolve(route.provider_id).kind == "bedrock":
        return price  # Bedrock without a stored key uses the AWS credential chain: not keyless
    return Price(0.0, 0.0) if is_loopback(urlsplit(adapter.key_endpoint).hostname or "") else None


async def _reserve(backend: Backend, *, thinking_tokens: int, **reservation: Any) -> Reservation:
    """A reservation made on the event loop while the ledger is free (`Ledger.try_reserve`), else by
    `Ledger.reserve` on the ledger's thread; one that lands there after its request was cancelled is released
    at once rather than left pending. A refusal names the thinking budget it had to cover: the budget is never
    cut to fit."""
    try:
        reserved = backend.ledger.try_reserve(**reservation)
        if reserved is not None:
            return reserved
        pending = asyncio.ensure_future(backend.in_ledger(backend.ledger.reserve, **reservation))
        try:
            return await asyncio.shield(pending)
        except asyncio.CancelledError:
            backend.in_background(_release(backend, pending))
            raise
    except ByokError as exc:
        if exc.code != ErrorCode.BUDGET_EXCEEDED or not thinking_tokens:
            raise
        raise ByokError(
            exc.code,
            f"{exc.message}, including its {thinking_tokens}-token thinking budget",
            provider=exc.provider,
            cause=exc.cause,
            fix=f"Lower reasoning.effort or reasoning.budgetTokens, or: {exc.fix}",
            **exc.extra,
        ) from None


async def _release(backend: Backend, pending: asyncio.Future[Reservation]) -> None:
    try:
        reservation = await pending
    except ByokError:
        return  # refused: nothing was reserved
    await _settle(backend, reservation, Usage(), 0.0, 0.0, "cancelled")


async def _record_progress(backend: Backend, reservation: Reservation, result: ChatResult) -> None:
    """Bring the ledger row up to date; a ledger that is briefly unusable does not stop the answer."""
    try:
        await backend.in_ledger(
            backend.ledger.update_progress,
            reservation,
            output_tokens_estimate=estimate_tokens(result.text + result.reasoning),
        )
    except ByokError as exc:
        log.warning("could not record a request's progress: %s", exc)


async def _settle(
    backend: Backend,
    reservation: Reservation,
    usage: Usage,
    cost: float | None,
    saved: float | None,
    outcome: Outcome,
) -> None:
    """Write a request's outcome; a busy ledger is tried again, and a row left open is reported."""
    for attempt in range(1, SETTLE_ATTEMPTS + 1):
        try:
            await backend.in_ledger(
                backend.ledger.settle,
                reservation,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                estimated=usage.estimated,
                cost_usd=cost,
                saved_usd=saved,
                outcome=outcome,
                request_id=None,
            )
            break
        except ByokError as exc:
            if exc.code != ErrorCode.LEDGER_BUSY or attempt == SETTLE_ATTEMPTS:
                backend.warn(f"byok could not record the cost of a request: {exc}")
                return
            await asyncio.sleep(SETTLE_RETRY_S)
    if backend.settings.budget.limited:
        try:
            warnings = await backend.in_ledger(backend.ledger.should_warn, backend.settings.budget)
        except ByokError as exc:
            log.warning("could not check the spending limits: %s", exc)
            return
        for warning in warnings:
            backend.warn(warning)


async def _close(stream: AsyncIterator[StreamEvent]) -> None:
    """Close the provider stream (and so its connection) whatever happened to the consumer."""
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        await closer()
