"""Retry decisions, backoff timing with a fake sleep, the first-output rule, and retry-after parsing."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from byok.base.config import RetrySettings
from byok.base.errors import ByokError, error_for_status
from byok.base.names import ErrorCode
from byok.core.retry import RetryPolicy, StartedStream, first_output, is_retryable, run_with_retries
from byok.providers.base import Finish, StreamEvent, TextDelta, Usage
from byok.providers.retry_after import parse_duration, parse_retry_after


class FixedRng(random.Random):
    """`random()` always returns `value`: 0.0 gives jitter factor 1, values near 1 give nearly 0.75."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


class FakeClock:
    """A sleep that only records; `now` advances by what was slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def err(status: int, retry_after: float | None = None) -> ByokError:
    return error_for_status(status, "openai", f"HTTP {status}", retry_after_s=retry_after)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (429, True),
        (529, True),
        (503, True),
        (500, True),
        (502, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (402, False),
        (408, False),
        (504, False),
    ],
)
def test_which_statuses_are_retried(status: int, retryable: bool) -> None:
    assert is_retryable(err(status)) is retryable


def test_quota_and_should_retry_false_are_never_retried() -> None:
    assert not is_retryable(ByokError(ErrorCode.QUOTA_EXHAUSTED, status=429))
    assert not is_retryable(ByokError(ErrorCode.RATE_LIMITED, status=429, shouldRetry=False))
    assert not is_retryable(ByokError(ErrorCode.PROVIDER_ERROR))  # no status: not an HTTP 5xx


def test_backoff_doubles_up_to_8s_with_jitter_in_range() -> None:
    policy = RetryPolicy(max_attempts=10, max_wait_s=100)
    no_jitter = [policy.retry_delay(err(429), attempt, FixedRng(0.0)) for attempt in range(1, 8)]
    assert no_jitter == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    most_jitter = policy.retry_delay(err(503), 1, FixedRng(0.999999))
    assert most_jitter is not None and 0.375 < most_jitter <= 0.5
    rng = random.Random(7)
    for attempt in range(1, 10):
        delay = policy.retry_delay(err(500), attempt, rng)
        cap = min(0.5 * 2 ** (attempt - 1), 8.0)
        assert delay is not None and 0.75 * cap < delay <= cap


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.retry_delay(err(429), 2, FixedRng(0)) is not None
    assert policy.retry_delay(err(429), 3, FixedRng(0)) is None
    assert RetryPolicy.from_settings(RetrySettings(max_attempts=1)).retry_delay(err(429), 1) is None


def test_retry_after_is_honoured_up_to_max_wait_and_refused_beyond() -> None:
    policy = RetryPolicy(max_attempts=3, max_wait_s=30)
    assert policy.retry_delay(err(429, retry_after=12.5), 1, FixedRng(0.5)) == 12.5
    assert policy.retry_delay(err(429, retry_after=30), 1) == 30
    assert policy.retry_delay(err(429, retry_after=86400), 1) is None  # Azure's "come back tomorrow"
    assert policy.retry_delay(err(429, retry_after=0), 1, FixedRng(0)) == 0.5  # 0: fall back to backoff


async def test_run_with_retries_waits_then_succeeds() -> None:
    clock = FakeClock()
    waits: list[tuple[float, ErrorCode]] = []
    outcomes: list[ByokError | str] = [err(429, retry_after=2), err(529), "first event"]

    async def start() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, ByokError):
            raise outcome
        return outcome

    async def on_wait(delay: float, error: ByokError) -> None:
        waits.append((delay, error.code))

    result = await run_with_retries(
        start, RetryPolicy(3, 30), on_wait=on_wait, sleep=clock.sleep, rng=FixedRng(0)
    )
    assert result == "first event"
    assert clock.sleeps == [2.0, 1.0]  # retry-after, then the 2nd backoff step
    assert waits == [(2.0, ErrorCode.RATE_LIMITED), (1.0, ErrorCode.PROVIDER_OVERLOADED)]


async def test_run_with_retries_gives_up_with_the_last_error() -> None:
    clock = FakeClock()
    calls = 0

    async def start() -> str:
        nonlocal calls
        calls += 1
        raise err(503)

    with pytest.raises(ByokError) as caught:
        await run_with_retries(start, RetryPolicy(4, 30), on_wait=lambda *_: None, sleep=clock.sleep)
    assert caught.value.status == 503
    assert calls == 4 and len(clock.sleeps) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_raised_at_once(status: int) -> None:
    clock = FakeClock()

    async def start() -> str:
        raise err(status)

    with pytest.raises(ByokError):
        await run_with_retries(start, RetryPolicy(5, 30), on_wait=lambda *_: None, sleep=clock.sleep)
    assert clock.sleeps == []


async def test_total_wait_stays_within_max_wait() -> None:
    clock = FakeClock()

    async def start() -> str:
        raise err(429, retry_after=20)

    with pytest.raises(ByokError):
        await run_with_retries(start, RetryPolicy(10, 30), on_wait=lambda *_: None, sleep=clock.sleep)
    assert clock.sleeps == [20.0]  # a second 20 s wait would pass 30 s in total
    assert clock.now <= 30


async def fake_stream(events: list[StreamEvent | ByokError]) -> AsyncIterator[StreamEvent]:
    for event in events:
        if isinstance(event, ByokError):
            raise event
        yield event


async def test_errors_after_bookkeeping_events_but_before_output_are_retried() -> None:
    clock = FakeClock()
    streams: list[list[StreamEvent | ByokError]] = [
        [Usage(input_tokens=10), err(529)],  # Anthropic: message_start, then an overloaded_error event
        [Usage(input_tokens=10), TextDelta("Hel"), TextDelta("lo"), Usage(10, 2), Finish("stop")],
    ]

    async def start() -> StartedStream:
        return await first_output(fake_stream(streams.pop(0)))

    started = await run_with_retries(start, RetryPolicy(3, 30), on_wait=lambda *_: None, sleep=clock.sleep)
    assert len(clock.sleeps) == 1
    events = [event async for event in started.events()]
    assert events == [Usage(input_tokens=10), TextDelta("Hel"), TextDelta("lo"), Usage(10, 2), Finish("stop")]


async def test_no_retry_once_output_has_streamed() -> None:
    clock = FakeClock()
    opened = 0

    async def start() -> StartedStream:
        nonlocal opened
        opened += 1
        return await first_output(fake_stream([TextDelta("partial"), err(529)]))

    started = await run_with_retries(start, RetryPolicy(3, 30), on_wait=lambda *_: None, sleep=clock.sleep)
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as caught:
        async for event in started.events():
            seen.append(event)
    assert caught.value.code == ErrorCode.PROVIDER_OVERLOADED
    assert seen == [TextDelta("partial")]
    assert opened == 1 and clock.sleeps == []


async def test_a_stream_without_output_is_done() -> None:
    started = await first_output(fake_stream([Usage(1, 0), Finish("stop")]))
    assert started.done
    assert [event async for event in started.events()] == [Usage(1, 0), Finish("stop")]


@pytest.mark.parametrize(
    ("headers", "status", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 429, 1.5),
        ({"Retry-After": "7"}, 429, 7.0),
        ({"retry-after": "0.25"}, 503, 0.25),
        ({"retry-after": "-3"}, 429, 0.0),
        ({"retry-after": "soon"}, 429, None),
        ({}, 429, None),
        # OpenAI reset durations: only on a 429, and the exhausted limit wins
        ({"x-ratelimit-reset-requests": "12ms", "x-ratelimit-reset-tokens": "6m0s"}, 429, 360.0),
        (
            {
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "12ms",
                "x-ratelimit-remaining-tokens": "5000",
                "x-ratelimit-reset-tokens": "6m0s",
            },
            429,
            0.012,
        ),
        ({"x-ratelimit-reset-tokens": "6m0s"}, 503, None),
        ({"x-ratelimit-reset-tokens": "1h2m3.5s"}, 429, 3723.5),
        # Anthropic RFC 3339 resets (now = 2025-01-01T00:00:00Z)
        (
            {
                "anthropic-ratelimit-requests-remaining": "10",
                "anthropic-ratelimit-requests-reset": "2025-01-01T00:00:40Z",
                "anthropic-ratelimit-output-tokens-remaining": "0",
                "anthropic-ratelimit-output-tokens-reset": "2025-01-01T00:00:05Z",
            },
            429,
            5.0,
        ),
    ],
)
def test_parse_retry_after(headers: dict[str, str], status: int, expected: float | None) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    result = parse_retry_after(headers, status=status, now=now)
    assert result == (None if expected is None else pytest.approx(expected))


def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2025, 1, 1, 12, 0, 42, tzinfo=UTC), usegmt=True)
    assert parse_retry_after({"retry-after": later}, now=now.timestamp()) == pytest.approx(42.0)
    earlier = format_datetime(datetime(2025, 1, 1, 11, 0, 0, tzinfo=UTC), usegmt=True)
    assert parse_retry_after({"retry-after": earlier}, now=now.timestamp()) == 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("12ms", 0.012),
        ("6m0s", 360.0),
        ("38s", 38.0),
        ("1.5s", 1.5),
        ("2h", 7200.0),
        ("", None),
        ("5 minutes", None),
        ("10", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == (None if seconds is None else pytest.approx(seconds))
