"""Redaction on the hot path: every delta, result, error and log line passes one compiled regex.

Measured in this process, each beside its baseline: a 4 KB reply redacted with 8 keys registered (each
in 5 encodings) vs with none (key shapes only); and a stream of 7-character deltas through the stream
redactor vs JSON-encoding the `byok/stream` notification each delta is sent in anyway.
"""

from __future__ import annotations

import json
import random
import timeit
from collections.abc import Callable

from bench._common import Row
from byok.base.redaction import REDACTOR, StreamRedactor, redact

KEYS = (
    "sk-proj-FAKEBENCHKEY0openai0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1b2c",
    "sk-ant-api03-FAKEBENCHKEY0anthropic0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb9z8y",
    "AIzaFAKEBENCHKEY0google0cccccccccccccccccc",
    "0123456789abcdef0123456789abBNCH",
    "local-FAKEBENCHKEY-compat-dddddddddddddddd",
    "FAKE/aws/secret+FAKEBENCHKEY/slashy+0000",
    "FAKEsessionBENCHTOKEN//////////wEaCXVzLWVhc3QtMSJH",
    "ABSKFAKEQmVkcm9ja0FQSUtleS1ieW9rLWJlbmNoLWtleS0xMjM0NTY3ODkw",
)
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "def",
    "return",
    "self",
    "import",
    "class",
    "42",
    "(",
    ")",
    ":",
    "sk",
    "as",
    "Ask",
    "0x7f",
    "=",
    "{}",
    "[]",
    "sks",
]
DELTA_CHARS = 7


def _best_us(call: Callable[[], object], number: int) -> float:
    """Best of 5 repeats, in microseconds per call (the least disturbed by other load)."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6


def _stream(pieces: list[str]) -> None:
    redactor = StreamRedactor()
    for piece in pieces:
        redactor.feed(piece)
    redactor.finish()


def _notify(pieces: list[str]) -> None:
    for piece in pieces:
        json.dumps({"streamId": "s", "delta": {"type": "text", "text": piece}})


async def run(quick: bool) -> list[Row]:
    rng = random.Random(11)
    text = " ".join(rng.choice(WORDS) for _ in range(1200))[:4096]
    pieces = [text[i : i + DELTA_CHARS] for i in range(0, len(text), DELTA_CHARS)]
    number = 50 if quick else 500
    no_keys = _best_us(lambda: redact(text), number)
    for key in KEYS:
        REDACTOR.register(key)
    with_keys = _best_us(lambda: redact(text), number)
    stream = _best_us(lambda: _stream(pieces), max(1, number // 10)) / len(pieces)
    notify = _best_us(lambda: _notify(pieces), max(1, number // 10)) / len(pieces)
    return [
        Row(
            f"redaction: {len(text):,}-char reply, {len(KEYS)} keys",
            f"{with_keys:.1f} µs",
            f"{no_keys:.1f} µs (no keys)",
            f"{with_keys / no_keys:.2f}x",
            "",
            None,
        ),
        Row(
            f"redaction: per {DELTA_CHARS}-char stream delta, {len(KEYS)} keys",
            f"{stream:.2f} µs",
            f"{notify:.2f} µs (JSON of its notification)",
            f"{stream / notify:.0%}",
            "",
            None,
        ),
    ]
