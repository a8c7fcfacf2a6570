"""What the benchmark modules share: the result row, percentiles, a chat through byok, the direct call."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from bench._lsp import LspClient, Reply, loopback_settings, spawn
from bench._servers import LoopbackServer

CHAT_TIMEOUT_S = 60.0
_ids = itertools.count(1)


@dataclass
class Row:
    """One line of the results table. `ok` is None when there is no target."""

    metric: str
    byok: str
    baseline: str
    compare: str
    target: str
    ok: bool | None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def script(n: int, *, text: str = "x", interval: float = 0.0, hold: float = 0.0, tag: str = "") -> str:
    """The message content that tells the loopback server what to stream."""
    return json.dumps({"n": n, "text": text, "interval": interval, "hold": hold, "tag": tag})


def new_tag(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


@dataclass
class Context:
    """One loopback server, one byok process talking to it, one direct httpx client to it."""

    server: LoopbackServer
    client: LspClient
    direct: httpx.AsyncClient


@contextlib.asynccontextmanager
async def context() -> AsyncIterator[Context]:
    with tempfile.TemporaryDirectory(prefix="byok-bench-") as home:
        async with LoopbackServer() as server:
            client, _ = await spawn(home)
            try:
                await client.initialize(loopback_settings(server.url))
                limits = httpx.Limits(max_connections=200, max_keepalive_connections=20)
                timeout = httpx.Timeout(CHAT_TIMEOUT_S)
                async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as direct:
                    yield Context(server, client, direct)
            finally:
                await client.close()


@dataclass
class Timing:
    """One streamed chat: when it was sent, when the first text arrived, when it finished."""

    sent: float
    first: float
    done: float
    chars: int
    notifications: int = 0

    @property
    def ttft(self) -> float:
        return self.first - self.sent

    @property
    def total(self) -> float:
        return self.done - self.sent


def chat_params(content: str, stream_id: str) -> dict[str, Any]:
    return {
        "command": "byok.chat",
        "arguments": [{"messages": [{"role": "user", "content": content}], "streamId": stream_id}],
    }


def send_chat(client: LspClient, content: str) -> tuple[int, str, float, Any]:
    """Send a byok.chat now; (request id, stream id, sent time, reply future)."""
    stream_id = new_tag("s")
    client.stream(stream_id)
    sent = time.monotonic()
    request_id, future = client.send_request("workspace/executeCommand", chat_params(content, stream_id))
    return request_id, stream_id, sent, future


async def byok_chat(client: LspClient, content: str) -> Timing:
    """A streamed chat through the server: request written → first byok/stream → response."""
    _, stream_id, sent, future = send_chat(client, content)
    reply: Reply = await _bounded(future)
    if reply.error is not None:
        raise RuntimeError(f"byok.chat failed: {reply.error}")
    stream = client.streams.pop(stream_id)
    assert stream.first_at is not None, "no byok/stream notification arrived"
    return Timing(sent, stream.first_at, reply.at, stream.chars, stream.notifications)


async def _bounded(future: Any) -> Reply:
    result: Reply = await asyncio.wait_for(future, CHAT_TIMEOUT_S)
    return result


def direct_body(content: str) -> dict[str, Any]:
    """The body byok sends for a chat (same size and shape)."""
    return {
        "model": "m",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": 4096,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def direct_chat(client: httpx.AsyncClient, base_url: str, content: str) -> Timing:
    """The baseline: the same request straight to the loopback server, parsing each SSE chunk."""
    sent = time.monotonic()
    first = 0.0
    chars = 0
    async with client.stream(
        "POST",
        f"{base_url}/chat/completions",
        json=direct_body(content),
        headers={"Accept": "text/event-stream"},
    ) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data.startswith("[DONE]"):
                continue  # read the body to its end, as the OpenAI SDK does: the connection is kept
            for choice in json.loads(data).get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    if not chars:
                        first = time.monotonic()
                    chars += len(text)
    return Timing(sent, first, time.monotonic(), chars)
