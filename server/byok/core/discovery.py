"""Find a running local model server for a user with no key and no model configured.

Ollama (11434), LM Studio (1234), llama.cpp's server (8080) and vLLM (8000) are probed on loopback at once,
with one short deadline for all of them (`PROBE_BUDGET_S`), and the first in that order that lists a chat
model wins. `BYOK_LOCAL_SERVERS` replaces the list (`provider=url,...`; empty: probe nothing); entries that
are not loopback are ignored, so nothing is ever probed off this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from byok.base.config import ProviderSettings
from byok.providers import PRESETS
from byok.providers.urls import is_loopback

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

LOCAL_SERVERS_ENV = "BYOK_LOCAL_SERVERS"
DEFAULT_CANDIDATES = (
    "ollama=http://127.0.0.1:11434/v1,lmstudio=http://127.0.0.1:1234/v1,"
    "llamacpp=http://127.0.0.1:8080/v1,vllm=http://127.0.0.1:8000/v1"
)
PROBE_BUDGET_S = 0.15
"""All probes together give up after this long (a port that accepts and never answers costs no more)."""
MAX_LISTING_BYTES = 1024 * 1024
_NOT_CHAT = ("embed", "rerank", "whisper", "tts")
"""Model ids with these in them are never picked as the chat model."""


@dataclass(frozen=True, slots=True)
class Candidate:
    provider_id: str
    base_url: str


@dataclass(frozen=True, slots=True)
class LocalServer:
    """A local server that answered, as an OpenAI-compatible provider with the models it listed."""

    provider_id: str
    base_url: str
    models: tuple[str, ...]

    @property
    def label(self) -> str:
        preset = PRESETS.get(self.provider_id)
        return preset.label if preset else self.provider_id

    @property
    def address(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def summary(self) -> str:
        return f"using {self.label} at {self.address} (no key needed)"

    @property
    def chat_model(self) -> str:
        """The first model it listed that is not an embedding (or other non-chat) model."""
        return next((m for m in self.models if not any(w in m.lower() for w in _NOT_CHAT)), self.models[0])

    @property
    def settings(self) -> ProviderSettings:
        return ProviderSettings(kind="openai-compatible", base_url=self.base_url)

    def to_data(self) -> dict[str, object]:
        return {
            "provider": self.provider_id,
            "name": self.label,
            "address": self.address,
            "models": list(self.models),
            "summary": self.summary,
        }


def candidates(environ: Mapping[str, str] = os.environ) -> list[Candidate]:
    """The servers to probe, in order: `BYOK_LOCAL_SERVERS` if set, else the four defaults."""
    found = []
    for entry in environ.get(LOCAL_SERVERS_ENV, DEFAULT_CANDIDATES).split(","):
        provider_id, sep, url = entry.strip().partition("=")
        if not entry.strip():
            continue
        host = urlsplit(url.strip()).hostname if sep else None
        if not provider_id or not host or not is_loopback(host):
            log.warning(
                "%s: %r is not provider=http://loopback-address/...; ignored", LOCAL_SERVERS_ENV, entry
            )
            continue
        found.append(Candidate(provider_id.strip(), url.strip().rstrip("/")))
    return found


async def discover(
    client: httpx.AsyncClient, to_probe: list[Candidate], budget_s: float = PROBE_BUDGET_S
) -> LocalServer | None:
    """Probe every candidate at once; the first (in list order) that lists a model within `budget_s` wins."""
    if not to_probe:
        return None
    # httpx's async transport loads on first use; that import is not the servers' time.
    with contextlib.suppress(ImportError):
        await asyncio.to_thread(importlib.import_module, "anyio._backends._asyncio")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_s
    probes = [asyncio.create_task(_probe(client, c, budget_s)) for c in to_probe]
    try:
        for probe in probes:
            try:
                async with asyncio.timeout_at(deadline):
                    found = await asyncio.shield(probe)
            except TimeoutError:
                found = probe.result() if probe.done() else None
            if found is not None:
                return found
        return None
    finally:
        for probe in probes:
            probe.cancel()
        await asyncio.gather(*probes, return_exceptions=True)


async def _probe(client: httpx.AsyncClient, candidate: Candidate, budget_s: float) -> LocalServer | None:
    """`GET /models` without a key; a server that answers with a model list is one we can use."""
    import httpx

    try:
        response = await client.get(f"{candidate.base_url}/models", timeout=httpx.Timeout(budget_s))
    except httpx.HTTPError:
        return None
    if response.status_code != 200 or len(response.content) > MAX_LISTING_BYTES:
        return None
    try:
        payload = response.json()
    except ValueError:
        return None
    items = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        return None
    ids = tuple(
        str(item["id"]) for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)
    )
    return LocalServer(candidate.provider_id, candidate.base_url, ids) if ids else None
