"""Time to first token through byok vs a direct httpx stream, against a real llama.cpp server (SmolLM2).

    python bench/ttft_llama.py [--runs 30]

Needs the CI cache (`tests/real_servers/setup.sh`): llama.cpp's `llama-server` and the SmolLM2 GGUF from
`${BYOK_CACHE_DIR:-~/.cache/byok-ci}`. Runs alternate (direct, byok, …) on the same server; each stops
at the first content delta (byok's request is cancelled, the direct stream closed), so a run costs one
prompt evaluation. "Added" is byok's p50 minus the direct p50 (target ≤ 5 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from bench._common import direct_body, percentile, send_chat  # noqa: E402
from bench._lsp import LspClient, loopback_settings, spawn  # noqa: E402

PROMPT = "Say hello."
READY_LIMIT_S = 120.0
TARGET_S = 0.005


def _cache() -> Path:
    return Path(os.environ.get("BYOK_CACHE_DIR") or Path.home() / ".cache" / "byok-ci")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def llama_server() -> Iterator[str]:
    """llama-server with SmolLM2 on a free loopback port; yields its OpenAI base URL."""
    binaries = sorted(glob.glob(str(_cache() / "llama-server-*" / "bin" / "llama-server")))
    ggufs = glob.glob(
        str(_cache() / "venv-realservers" / "lib" / "python*" / "site-packages" / "**" / "*.gguf")
    )
    if not binaries or not ggufs:
        raise SystemExit(f"no llama-server or SmolLM2 GGUF under {_cache()}: run tests/real_servers/setup.sh")
    port = _free_port()
    command = [binaries[-1], "--model", ggufs[0], "--host", "127.0.0.1", "--port", str(port)]
    command += ["--ctx-size", "2048", "--parallel", "2", "--threads", "2"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + READY_LIMIT_S
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                time.sleep(0.2)
            else:
                raise SystemExit("llama-server did not become ready")
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            process.wait(10)


async def direct_ttft(client: httpx.AsyncClient, base_url: str) -> float:
    """Request written → first content delta parsed; then the stream is closed."""
    sent = time.monotonic()
    async with client.stream("POST", f"{base_url}/chat/completions", json=direct_body(PROMPT)) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and not line.startswith("data: [DONE]"):
                for choice in json.loads(line[6:]).get("choices") or []:
                    if (choice.get("delta") or {}).get("content"):
                        return time.monotonic() - sent
    raise RuntimeError("no content delta")


async def byok_ttft(client: LspClient) -> float:
    """byok.chat written → first byok/stream notification read; then the request is cancelled."""
    request_id, stream_id, sent, future = send_chat(client, PROMPT)
    first = await client.first_delta(stream_id, 60)
    client.cancel(request_id)
    await asyncio.wait_for(future, 60)
    client.streams.pop(stream_id, None)
    return first - sent


async def run(runs: int) -> None:
    with llama_server() as base_url, tempfile.TemporaryDirectory(prefix="byok-bench-") as home:
        client, _ = await spawn(home)
        try:
            await client.initialize(loopback_settings(base_url))
            async with httpx.AsyncClient(timeout=60, trust_env=False) as direct:
                for _ in range(3):  # warm-up: connections, lazy imports, the prompt cache
                    await direct_ttft(direct, base_url)
                    await byok_ttft(client)
                byok: list[float] = []
                plain: list[float] = []
                for _ in range(runs):
                    plain.append(await direct_ttft(direct, base_url))
                    byok.append(await byok_ttft(client))
        finally:
            await client.close()
    b50, d50 = percentile(byok, 50), percentile(plain, 50)
    added = b50 - d50
    print(f"llama.cpp SmolLM2, {runs} runs each, interleaved:")
    print(
        f"  first token p50: byok {b50 * 1000:.2f} ms, direct {d50 * 1000:.2f} ms, added {added * 1000:+.2f} ms"
    )
    print(f"  p90: byok {percentile(byok, 90) * 1000:.2f} ms, direct {percentile(plain, 90) * 1000:.2f} ms")
    print(f"  target ≤ +{TARGET_S * 1000:.0f} ms: {'✓' if added <= TARGET_S else '✗'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(run(parser.parse_args().runs))


if __name__ == "__main__":
    main()
