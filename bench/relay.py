"""Relay throughput: one provider stream of many tiny deltas, characters per second reaching the client.

byok coalesces deltas that arrive within `COALESCE_S` of the last notification; the first delta is sent
at once, so the table also shows first-token latency on this stream and how many notifications carried it.
"""

from __future__ import annotations

from bench._common import Context, Row, Timing, byok_chat, direct_chat, ms, script
from bench._lsp import cpu_s


async def run(ctx: Context, quick: bool) -> list[Row]:
    deltas = 2_000 if quick else 20_000
    repeats = 1 if quick else 3
    content = script(deltas, text="x")
    direct: list[Timing] = []
    byok: list[Timing] = []
    cpu = 0.0
    for _ in range(repeats):  # alternate; keep each side's best run (least disturbed by other load)
        direct.append(await direct_chat(ctx.direct, ctx.server.url, content))
        before = cpu_s(ctx.client.pid)
        byok.append(await byok_chat(ctx.client, content))
        cpu += cpu_s(ctx.client.pid) - before
    for timing in (*direct, *byok):
        assert timing.chars == deltas, f"expected {deltas} characters, got {timing.chars}"
    b = min(byok, key=lambda t: t.total)
    d = min(direct, key=lambda t: t.total)
    b_rate, d_rate = deltas / b.total, deltas / d.total
    return [
        Row(
            f"relay: {deltas:,} 1-char deltas, chars/s",
            f"{b_rate:,.0f}/s",
            f"{d_rate:,.0f}/s",
            f"{b_rate / d_rate:.0%}",
            "≥ 90%",
            b_rate / d_rate >= 0.9,
        ),
        Row(
            "relay: first token on that stream",
            ms(b.ttft),
            ms(d.ttft),
            f"+{(b.ttft - d.ttft) * 1000:.2f} ms",
            "first delta sent at once",
            None,
        ),
        Row(
            "relay: notifications for the stream",
            f"{b.notifications:,}",
            f"{deltas:,} deltas",
            f"{deltas / max(1, b.notifications):.0f} deltas each",
            f"coalesced within {_coalesce_ms()} ms",
            None,
        ),
        Row(
            "relay: byok CPU per 1,000 deltas",
            f"{cpu / repeats / deltas * 1000 * 1000:.1f} ms",
            "",
            "",
            "",
            None,
        ),
    ]


def _coalesce_ms() -> str:
    try:
        from byok.lsp.stream import COALESCE_S
    except ImportError:
        return "?"
    return f"{COALESCE_S * 1000:g}"
