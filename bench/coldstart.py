"""Cold start: process start → `initialize` answered, beside bare interpreter starts.

Baselines (spawn → exit): `python -c pass` and `python -c "import lsprotocol.types"` (pygls' protocol
types, which any pygls server imports). Starts are interleaved; each figure is the median.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time

from bench._common import Row, ms
from bench._lsp import loopback_settings, spawn, server_env

TARGET_S = 0.3


async def python_start(code: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env)
    await asyncio.wait_for(process.wait(), 30)
    return time.monotonic() - started


async def byok_start(home: str) -> float:
    client, started = await spawn(home)
    try:
        _, future = client.send_request(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "capabilities": {},
                "initializationOptions": {"byok": loopback_settings("http://127.0.0.1:9/v1")},
            },
        )
        reply = await asyncio.wait_for(future, 30)
        return reply.at - started
    finally:
        await client.close()


async def run(quick: bool) -> list[Row]:
    starts = 3 if quick else 10
    byok: list[float] = []
    bare: list[float] = []
    lsprotocol: list[float] = []
    with tempfile.TemporaryDirectory(prefix="byok-bench-") as home:
        env = server_env(home)
        await byok_start(home)  # warm the page cache and .pyc files
        for _ in range(starts):
            bare.append(await python_start("pass", env))
            lsprotocol.append(await python_start("import lsprotocol.types", env))
            byok.append(await byok_start(home))
    b, p, lp = (statistics.median(v) for v in (byok, bare, lsprotocol))
    return [
        Row(
            f"cold start → initialize answered (median of {starts})",
            ms(b),
            f"{ms(p)} (python -c pass)",
            f"+{(b - p) * 1000:.0f} ms",
            "≤ 300 ms",
            b <= TARGET_S,
        ),
        Row(
            "cold start: import lsprotocol.types alone",
            "",
            ms(lp),
            f"byok = {b / lp:.2f}× of it",
            "",
            None,
        ),
    ]
