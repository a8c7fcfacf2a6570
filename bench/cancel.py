"""Cancel: `$/cancelRequest` → the RequestCancelled answer, and → the upstream socket closed.

The loopback server sends one delta and then holds the stream open, recording when the client's socket
closes. The baseline is a direct httpx stream closed by the client itself (`aclose`) at the same point.
"""

from __future__ import annotations

import asyncio
import time

from bench._common import Context, Row, direct_body, ms, new_tag, percentile, script, send_chat

REQUEST_CANCELLED = -32800
HOLD_S = 20.0


async def closed_at(ctx: Context, tag: str, limit_s: float = 5.0) -> float:
    """When the loopback server saw the tagged connection close (polls, bounded)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        response = await ctx.direct.get(
            f"http://127.0.0.1:{ctx.server.port}/_bench/closed", params={"tag": tag}
        )
        value = response.json()["closed"]
        if value is not None:
            return float(value)
        await asyncio.sleep(0.005)
    raise TimeoutError(f"the loopback server never saw {tag} close")


async def byok_cancel(ctx: Context) -> tuple[float, float]:
    tag = new_tag("cancel")
    request_id, stream_id, _, future = send_chat(ctx.client, script(1, hold=HOLD_S, tag=tag))
    await ctx.client.first_delta(stream_id)
    await asyncio.sleep(0.01)
    cancelled = time.monotonic()
    ctx.client.cancel(request_id)
    reply = await asyncio.wait_for(future, 10)
    ctx.client.streams.pop(stream_id, None)
    assert reply.error is not None and reply.error["code"] == REQUEST_CANCELLED, reply
    return reply.at - cancelled, await closed_at(ctx, tag) - cancelled


async def direct_cancel(ctx: Context) -> float:
    tag = new_tag("cancel")
    content = script(1, hold=HOLD_S, tag=tag)
    async with ctx.direct.stream(
        "POST", f"{ctx.server.url}/chat/completions", json=direct_body(content)
    ) as resp:
        lines = resp.aiter_lines()  # kept referenced: dropping it mid-stream would close the connection
        while not (await anext(lines)).startswith("data: "):
            pass
        await asyncio.sleep(0.01)
        cancelled = time.monotonic()
        await lines.aclose()
        await resp.aclose()
    return await closed_at(ctx, tag) - cancelled


async def run(ctx: Context, quick: bool) -> list[Row]:
    runs = 5 if quick else 30
    answers: list[float] = []
    closes: list[float] = []
    direct: list[float] = []
    for _ in range(runs):
        direct.append(await direct_cancel(ctx))
        answer, closed = await byok_cancel(ctx)
        answers.append(answer)
        closes.append(closed)
    d50 = percentile(direct, 50)
    rows = []
    for label, values in (("→ -32800 answer", answers), ("→ upstream socket closed", closes)):
        worst = max(values)
        rows.append(
            Row(
                f"cancel {label} p50/max ({runs})",
                f"{ms(percentile(values, 50))} / {ms(worst)}",
                f"{ms(d50)} (direct aclose)",
                f"+{(percentile(values, 50) - d50) * 1000:.2f} ms",
                "≤ 50 ms",
                worst <= 0.05,
            )
        )
    return rows
