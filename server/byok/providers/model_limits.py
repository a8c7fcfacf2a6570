"""Context windows and output limits of OpenAI-compatible servers, read at verify time.

Hosted routers put them in their model list (OpenRouter and Together `context_length`, OpenRouter
`top_provider.max_completion_tokens`, vLLM `max_model_len`). Local servers keep them in a native endpoint
beside the OpenAI one: LM Studio `/api/v1/models` (0.4+; `/api/v0/models` before), llama.cpp `/props`,
Ollama `/api/ps` (loaded models) then `/api/show` (`num_ctx`, else the model's trained context). Those
endpoints are optional: an older server without one gives no limits, never a failed verify.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from byok.base.errors import ByokError
from byok.providers.base import ModelInfo

FetchJson = Callable[[str, Any], Awaitable[Any]]
"""GET a URL (POST when a body is given) and return its JSON; raises `ByokError` for any failure."""
LocalServer = Literal["ollama", "lmstudio", "llamacpp"]
METADATA_TIMEOUT_S = 5.0
"""How long one optional metadata call may take before verify goes on without it."""
MAX_OLLAMA_SHOWS = 32
"""At most this many `/api/show` calls per verify (models not loaded); the rest stay without limits."""
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Limits:
    context_window: int | None
    max_output_tokens: int | None
    source: str


def positive_int(value: Any) -> int | None:
    """`value` as a token count: a positive integer (or an integral float), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value > 0 else None


def listed_limits(item: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The limits a `/models` entry carries itself (OpenRouter, Together, vLLM, llama.cpp's `meta`)."""
    top = item.get("top_provider")
    top = top if isinstance(top, dict) else {}
    meta = item.get("meta")
    meta = meta if isinstance(meta, dict) else {}
    window = (
        positive_int(item.get("context_length"))
        or positive_int(item.get("max_model_len"))
        or positive_int(top.get("context_length"))
        or positive_int(meta.get("n_ctx"))
    )
    return window, positive_int(top.get("max_completion_tokens"))


def local_server(provider_id: str, base_url: str, items: list[dict[str, Any]]) -> LocalServer | None:
    """Which local server answers at `base_url`: by what its model list says, else its preset or port."""
    owners = {str(item.get("owned_by")) for item in items}
    if "llamacpp" in owners:
        return "llamacpp"
    if "organization_owner" in owners:
        return "lmstudio"
    port = urlsplit(base_url).port
    if provider_id == "ollama" or port == 11434:
        return "ollama"
    if provider_id == "lmstudio" or port == 1234:
        return "lmstudio"
    if provider_id == "llamacpp":
        return "llamacpp"
    return None


async def local_limits(server: LocalServer, root: str, ids: list[str], fetch: FetchJson) -> dict[str, Limits]:
    """Limits per model id from a local server's native endpoints; {} when it has none of them."""
    if server == "lmstudio":
        return await _lmstudio(root, fetch)
    if server == "llamacpp":
        return await _llamacpp(root, ids, fetch)
    return await _ollama(root, ids, fetch)


def with_limits(
    ids: list[str], listed: Mapping[str, Limits], native: Mapping[str, Limits]
) -> list[ModelInfo]:
    """The models, sorted by id, each with its native limits, else those its list entry carried."""
    models = []
    for model_id in sorted(set(ids)):
        limits = native.get(model_id) or listed.get(model_id)
        if limits is None:
            models.append(ModelInfo(model_id))
        else:
            models.append(ModelInfo(model_id, limits.context_window, limits.max_output_tokens, limits.source))
    return models


async def _optional(fetch: FetchJson, url: str, body: Any = None) -> Any:
    """A metadata endpoint's JSON, or None when the server does not have it (or answers oddly)."""
    try:
        async with asyncio.timeout(METADATA_TIMEOUT_S):
            return await fetch(url, body)
    except (ByokError, TimeoutError):
        return None


async def _lmstudio(root: str, fetch: FetchJson) -> dict[str, Limits]:
    """LM Studio 0.4+: a loaded instance's `context_length`, else the model's `max_context_length`;
    0.3.x: `/api/v0/models` with `loaded_context_length` or `max_context_length`."""
    url = f"{root}/api/v1/models"
    payload = await _optional(fetch, url)
    found: dict[str, Limits] = {}
    if isinstance(payload, dict) and isinstance(payload.get("models"), list):
        for model in payload["models"]:
            if not isinstance(model, dict) or not isinstance(model.get("key"), str):
                continue
            maximum = positive_int(model.get("max_context_length"))
            for instance in model.get("loaded_instances") or []:
                config = instance.get("config") if isinstance(instance, dict) else None
                loaded = positive_int(config.get("context_length")) if isinstance(config, dict) else None
                if isinstance(instance.get("id"), str) and (loaded or maximum):
                    found[instance["id"]] = Limits(loaded or maximum, None, f"GET {url}")
            if maximum and model["key"] not in found:
                found[model["key"]] = Limits(maximum, None, f"GET {url}")
        return found
    url = f"{root}/api/v0/models"
    payload = await _optional(fetch, url)
    if isinstance(payload, dict) and isinstance(payload.get("data"), list):
        for model in payload["data"]:
            if isinstance(model, dict) and isinstance(model.get("id"), str):
                window = positive_int(model.get("loaded_context_length")) or positive_int(
                    model.get("max_context_length")
                )
                if window:
                    found[model["id"]] = Limits(window, None, f"GET {url}")
    return found


async def _llamacpp(root: str, ids: list[str], fetch: FetchJson) -> dict[str, Limits]:
    """llama.cpp serves one model; `/props` gives the context of one slot (`n_ctx` of the default
    generation settings; an old server's top-level `n_ctx` is shared by `total_slots` slots)."""
    url = f"{root}/props"
    props = await _optional(fetch, url)
    if not isinstance(props, dict):
        return {}
    settings = props.get("default_generation_settings")
    window = positive_int(settings.get("n_ctx")) if isinstance(settings, dict) else None
    if window is None and (total := positive_int(props.get("n_ctx"))):
        window = total // (positive_int(props.get("total_slots")) or 1) or None
    if window is None:
        return {}
    return {model_id: Limits(window, None, f"GET {url}") for model_id in ids}


async def _ollama(root: str, ids: list[str], fetch: FetchJson) -> dict[str, Limits]:
    """A loaded model's `context_length` from `/api/ps`; for the others `/api/show`: the `num_ctx`
    parameter the model was made with, else its trained `<arch>.context_length`."""
    found: dict[str, Limits] = {}
    url = f"{root}/api/ps"
    running = await _optional(fetch, url)
    if isinstance(running, dict):
        for model in running.get("models") or []:
            if isinstance(model, dict) and (window := positive_int(model.get("context_length"))):
                for name in {model.get("name"), model.get("model")} & set(ids):
                    found[str(name)] = Limits(window, None, f"GET {url}")
    for model_id in [model_id for model_id in ids if model_id not in found][:MAX_OLLAMA_SHOWS]:
        show = await _optional(fetch, f"{root}/api/show", {"model": model_id})
        if isinstance(show, dict) and (window := _shown_window(show)):
            found[model_id] = Limits(window, None, f"POST {root}/api/show")
    return found


def _shown_window(show: Mapping[str, Any]) -> int | None:
    parameters = show.get("parameters")
    if isinstance(parameters, str) and (match := _NUM_CTX.search(parameters)):
        return positive_int(int(match.group(1)))
    info = show.get("model_info")
    if not isinstance(info, dict):
        return None
    architecture = info.get("general.architecture")
    return positive_int(info.get(f"{architecture}.context_length")) if isinstance(architecture, str) else None
