"""When and how long to wait before trying a provider again.

The rules follow the official OpenAI and Anthropic SDKs: retry rate limits, overloads and 5xx only; honour
the provider's `retry-after`; otherwise back off exponentially, `min(0.5 * 2**n, 8)` seconds times a jitter
factor in (0.75, 1]. Unlike the SDKs, the waits of one request are bounded in total by `max_wait_s`, and a
request is never retried once it has streamed output.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from byok.base.config import RetrySettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.base import ReasoningDelta, StreamEvent, TextDelta, ToolCallEvent

T = TypeVar("T")

_RETRYABLE = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.PROVIDER_OVERLOADED})
_BASE_DELAY_S = 0.5
_MAX_BACKOFF_S = 8.0
_RNG = random.Random()

OnWait = Callable[[float, ByokError], Awaitable[None] | None]
"""Told each wait before it starts (seconds, the error that caused it); may be sync or async."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`max_attempts` counts every attempt including the first; `max_wait_s` bounds one request's waits."""

    max_attempts: int = 3
    max_wait_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(max_attempts=settings.max_attempts, max_wait_s=settings.max_wait_s)

    def retry_delay(self, error: ByokError, attempt: int, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before the next attempt after attempt number `attempt` (1-based) failed.

        None means do not retry: the error is not transient (400/401/403/404, quota, timeouts, ...), the
        adapter said `shouldRetry: false` (from `x-should-retry`), the attempts are used up, or the
        provider asked for a wait (`retryAfterS`) longer than `max_wait_s`. A positive `retryAfterS` up to
        `max_wait_s` is used as is; otherwise the delay is the jittered exponential backoff.
        """
        if attempt >= self.max_attempts or not is_retryable(error):
            return None
        asked = error.retry_after_s
        if asked is not None and asked > 0:
            return asked if asked <= self.max_wait_s else None
        backoff = min(_BASE_DELAY_S * 2.0 ** (attempt - 1), _MAX_BACKOFF_S)
        jitter = 1.0 - 0.25 * (rng or _RNG).random()
        return min(backoff * jitter, self.max_wait_s)


def is_retryable(error: ByokError) -> bool:
    """Rate limits (429), overloads (529/503) and other 5xx; never auth, bad requests or quota."""
    if error.should_retry is False:
        return False
    if error.code in _RETRYABLE:
        return True
    return error.code == ErrorCode.PROVIDER_ERROR and error.status is not None and error.status >= 500


async def run_with_retries(
    start: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_wait: OnWait,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call `start()` until it returns, retrying the `ByokError`s `policy` allows.

    `start` opens a stream and returns once the first output has arrived (see `first_output`), so every
    error it raises happened before the user saw anything; what the caller reads afterwards is never
    retried. Before each wait `on_wait(delay_s, error)` runs, for a `status` delta and `$/progress`. The
    total of the waits stays within `policy.max_wait_s`; the last error is raised when retries end.
    """
    waited = 0.0
    attempt = 1
    while True:
        try:
            return await start()
        except ByokError as error:
            delay = policy.retry_delay(error, attempt, rng)
            if delay is None or waited + delay > policy.max_wait_s:
                raise
            outcome = on_wait(delay, error)
            if inspect.isawaitable(outcome):
                await outcome
            await sleep(delay)
            waited += delay
            attempt += 1


@dataclass(slots=True)
class StartedStream:
    """A stream read up to its first output: `head` holds the events so far, `rest` the remainder."""

    head: list[StreamEvent]
    rest: AsyncIterator[StreamEvent]
    done: bool = False
    """True when the stream ended before any output (e.g. an empty answer)."""

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Every event of the stream, `head` first."""
        for event in self.head:
            yield event
        if not self.done:
            async for event in self.rest:
                yield event


async def first_output(stream: AsyncIterator[StreamEvent]) -> StartedStream:
    """Read `stream` until its first text, reasoning or tool call (or its end), keeping what was read.

    Usage and other bookkeeping events may precede the output (Anthropic's `message_start`), and a
    provider may fail after them but before any output (Anthropic's `overloaded_error` event); such a
    failure is still safe to retry, so "before the first token" means before the first of these events.
    """
    head: list[StreamEvent] = []
    async for event in stream:
        head.append(event)
        if isinstance(event, TextDelta | ReasoningDelta | ToolCallEvent):
            return StartedStream(head, stream)
    return StartedStream(head, stream, done=True)
