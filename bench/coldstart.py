"""Cold start: process start → `initialize` answered, beside bare interpreter starts.

Baselines (spawn → exit): `python -c pass`, `python -c "import lsprotocol.types"` (pygls' protocol
types, which any pygls server imports) and `python -c "import pygls.lsp.server"` (pygls' server module,
the floor while pygls is the framework; issue 15's target is byok ≤ 1.1x of it). Starts are interleaved;
each figure is the median.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time

from bench._common import Row, ms
from bench._lsp import cpu_s, loopback_settings, server_env, spawn

TARGET_S = 0.3
PYGLS_RATIO_TARGET = 1.1


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def python_start(code: str, env: dict[str, str], cpu: list[float]) -> float:
    """Wall time spawn → exit; appends the child's CPU time to `cpu`."""
    before = children_cpu_s()
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env)
    await asyncio.wait_for(process.wait(), 30)
    wall = time.monotonic() - started
    cpu.append(children_cpu_s() - before)
    return wall


async def byok_start(home: str, cpu: list[float] | None = None) -> float:
    """Wall time spawn → initialize answered; appends the server's CPU time by then to `cpu`."""
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
        if cpu is not None:
            cpu.append(cpu_s(client.pid))
        return reply.at - started
    finally:
        await client.close()


async def run(quick: bool) -> list[Row]:
    starts = 3 if quick else 10
    byok: list[float] = []
    bare: list[float] = []
    lsprotocol: list[float] = []
    pygls: list[float] = []
    cpu: dict[str, list[float]] = {"byok": [], "pass": [], "lsprotocol": [], "pygls": []}
    with tempfile.TemporaryDirectory(prefix="byok-bench-") as home:
        env = server_env(home)
        await byok_start(home)  # warm the page cache and .pyc files
        for _ in range(starts):
            bare.append(await python_start("pass", env, cpu["pass"]))
            lsprotocol.append(await python_start("import lsprotocol.types", env, cpu["lsprotocol"]))
            pygls.append(await python_start("import pygls.lsp.server", env, cpu["pygls"]))
            byok.append(await byok_start(home, cpu["byok"]))
    b, p, lp, pg = (statistics.median(v) for v in (byok, bare, lsprotocol, pygls))
    cb, cp, clp, cpg = (statistics.median(cpu[name]) for name in ("byok", "pass", "lsprotocol", "pygls"))
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
            f"byok = {b / lp:.2f}x of it",
            "",
            None,
        ),
        Row(
            "cold start vs import pygls.lsp.server alone",
            ms(b),
            ms(pg),
            f"{b / pg:.2f}x",
            f"≤ {PYGLS_RATIO_TARGET}x",
            b <= pg * PYGLS_RATIO_TARGET,
        ),
        Row(
            "cold start CPU vs import pygls.lsp.server alone",
            ms(cb),
            ms(cpg),
            f"{cb / cpg:.2f}x",
            f"≤ {PYGLS_RATIO_TARGET}x",
            cb <= cpg * PYGLS_RATIO_TARGET,
        ),
        Row(
            "cold start CPU time (median; less load-sensitive)",
            ms(cb),
            f"{ms(cp)} pass / {ms(clp)} lsprotocol",
            f"byok = {cb / clp:.2f}x lsprotocol import",
            "",
            None,
        ),
    ]
