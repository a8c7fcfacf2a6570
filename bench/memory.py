"""Memory: the server's RSS when idle, and its growth over 1,000 streamed chats.

Idle is measured after `initialize`/`initialized` and a short settle, beside an idle interpreter that
has imported pygls' server (the floor any pygls server pays). Growth is measured from after 10 warm-up
chats (connection pool, lazy imports, SQLite ledger open) to after 1,000 more.
"""

from __future__ import annotations

import asyncio
import sys

from bench._common import Context, Row, byok_chat, context, script
from bench._lsp import rss_kb, server_env

IDLE_TARGET_MB = 80
GROWTH_TARGET_MB = 5
FLOOR = "import sys, pygls.lsp.server, lsprotocol.types; print('ready', flush=True); sys.stdin.read()"


def mb(kb: int) -> str:
    return f"{kb / 1024:.1f} MB"


async def floor_rss(home: str) -> int:
    """RSS of an idle interpreter that imported pygls' LanguageServer and lsprotocol.types."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FLOOR,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env=server_env(home),
    )
    assert process.stdout is not None and process.stdin is not None
    try:
        await asyncio.wait_for(process.stdout.readline(), 30)
        await asyncio.sleep(0.5)
        return rss_kb(process.pid)
    finally:
        process.stdin.close()
        await asyncio.wait_for(process.wait(), 10)


async def measure(ctx: Context, chats: int) -> tuple[int, int, int]:
    await asyncio.sleep(0.5)
    idle = rss_kb(ctx.client.pid)
    content = script(20, text="tok ")
    for _ in range(10):
        await byok_chat(ctx.client, content)
    warm = rss_kb(ctx.client.pid)
    for _ in range(chats):
        await byok_chat(ctx.client, content)
    await asyncio.sleep(0.5)
    return idle, warm, rss_kb(ctx.client.pid)


async def run(quick: bool) -> list[Row]:
    chats = 100 if quick else 1000
    async with context() as ctx:
        idle, warm, end = await measure(ctx, chats)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="byok-bench-") as home:
        floor = await floor_rss(home)
    growth = end - warm
    return [
        Row(
            "memory: RSS idle",
            mb(idle),
            f"{mb(floor)} (idle pygls import)",
            f"+{mb(idle - floor)}",
            f"≤ {IDLE_TARGET_MB} MB",
            idle <= IDLE_TARGET_MB * 1024,
        ),
        Row(
            f"memory: RSS growth over {chats:,} chats",
            f"{'+' if growth >= 0 else ''}{mb(growth)}",
            f"{mb(warm)} after 10 warm-up",
            f"{mb(end)} at end; idle→end +{mb(end - idle)}",
            f"≤ {GROWTH_TARGET_MB} MB",
            growth <= GROWTH_TARGET_MB * 1024,
        ),
    ]
