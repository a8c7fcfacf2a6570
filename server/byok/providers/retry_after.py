"""The provider's retry hints on a refusal: `retry-after(-ms)` and the rate-limit reset headers."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_retry_after(
    headers: Mapping[str, str], *, status: int | None = None, now: float | None = None
) -> float | None:
    """Seconds the provider asked us to wait, or None when it did not say.

    Reads `retry-after-ms` (milliseconds), then `retry-after` (seconds, or an HTTP date). On a 429 without
    either, falls back to the reset time of the exhausted limit: OpenAI's `x-ratelimit-reset-{requests,
    tokens}` durations (`6m0s`, `12ms`) or Anthropic's `anthropic-ratelimit-*-reset` RFC 3339 times; when
    no `*-remaining` header says which limit is exhausted, the latest reset counts. `now` is Unix time.
    """
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    current = time.time() if now is None else now
    if (value := _number(lowered.get("retry-after-ms"))) is not None:
        return max(0.0, value / 1000)
    if raw := lowered.get("retry-after"):
        if (value := _number(raw)) is not None:
            return max(0.0, value)
        if (when := _http_date(raw)) is not None:
            return max(0.0, when - current)
    if status != 429:
        return None
    return _reset_fallback(lowered, current)


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (`6m0s`, `1h2m`, `12ms`, `0.5s`, Gemini's `38s`); None if not one."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(number) * scale[unit] for number, unit in parts)


def _reset_fallback(headers: Mapping[str, str], now: float) -> float | None:
    resets: dict[str, float] = {}
    exhausted: set[str] = set()
    for name, raw in headers.items():
        for prefix in ("x-ratelimit-", "anthropic-ratelimit-"):
            if not name.startswith(prefix):
                continue
            rest = name.removeprefix(prefix)
            if prefix == "x-ratelimit-" and rest.startswith("reset-"):
                if (seconds := parse_duration(raw)) is not None:
                    resets[rest.removeprefix("reset-")] = seconds
            elif prefix == "x-ratelimit-" and rest.startswith("remaining-"):
                if _number(raw) == 0:
                    exhausted.add(rest.removeprefix("remaining-"))
            elif rest.endswith("-reset"):
                if (when := _rfc3339(raw)) is not None:
                    resets[rest.removesuffix("-reset")] = max(0.0, when - now)
            elif rest.endswith("-remaining") and _number(raw) == 0:
                exhausted.add(rest.removesuffix("-remaining"))
    chosen = [seconds for limit, seconds in resets.items() if limit in exhausted] or list(resets.values())
    return max(chosen) if chosen else None


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _http_date(raw: str) -> float | None:
    try:
        return parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _rfc3339(raw: str) -> float | None:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
