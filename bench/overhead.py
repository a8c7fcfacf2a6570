"""Overhead: time to first token and total time of a streamed chat through byok vs a direct httpx call.

Runs alternate (direct, byok, direct, byok, …) against the same loopback server, so a busy machine
weighs on both sides alike. "Added" is byok's percentile minus the direct call's.
"""

from __future__ import annotations

from bench._common import Context, Row, Timing, byok_chat, direct_chat, ms, percentile, script

DELTAS = 20
"""A short answer: 20 small deltas, the first written at once, the rest in one write."""


async def run(ctx: Context, quick: bool) -> list[Row]:
    runs = 30 if quick else 200
    content = script(DELTAS, text="tok ")
    for _ in range(5):  # warm-up: connections, lazy imports, the ledger
        await direct_chat(ctx.direct, ctx.server.url, content)
        await byok_chat(ctx.client, content)
    direct: list[Timing] = []
    byok: list[Timing] = []
    for _ in range(runs):
        direct.append(await direct_chat(ctx.direct, ctx.server.url, content))
        byok.append(await byok_chat(ctx.client, content))
    rows = []
    for label, attr in (("first token", "ttft"), ("total", "total")):
        for q, budget in ((50, 0.002), (99, 0.005)):
            b = percentile([getattr(t, attr) for t in byok], q)
            d = percentile([getattr(t, attr) for t in direct], q)
            rows.append(
                Row(
                    f"overhead: {label} p{q} ({runs} chats)",
                    ms(b),
                    ms(d),
                    f"+{(b - d) * 1000:.2f} ms",
                    f"≤ +{budget * 1000:.0f} ms",
                    b - d <= budget,
                )
            )
    return rows
