"""The state every front end shares (LSP server and CLI): settings, keys, the HTTP client, model routing.

Nothing here knows LSP. Every method that can fail for a user-fixable reason raises `ByokError`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from byok import __version__
from byok.config import ModelChoice, Settings
from byok.errors import ByokError
from byok.keys import KeyStore, StoredKey, check_key_shape
from byok.protocol import ErrorCode
from byok.providers import PRESETS, ResolvedProvider, create_provider, known_provider_ids, resolve_provider
from byok.providers.base import Provider
from byok.providers.urls import origin, require_secure

if TYPE_CHECKING:
    import httpx

    from byok.usage import Ledger

log = logging.getLogger(__name__)

BYOK_FEATURES = ("chat", "composer", "agent", "inlineEdit")
BUILTIN_MODELS = {"tab": "builtin-tab", "apply": "builtin-apply"}
_PREFIX_ROUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt-", "o1", "o3", "o4", "chatgpt-"), "openai"),
    (("claude-",), "anthropic"),
    (("gemini-",), "google"),
    (("anthropic.", "us.", "eu.", "apac.", "meta.", "amazon.", "mistral.", "cohere.", "ai21."), "bedrock"),
)
_DEFAULT_PROVIDER_ORDER = ("openai", "anthropic", "google", "azure", "bedrock", "openrouter", "together")


@dataclass(frozen=True, slots=True)
class Route:
    """Where a model id goes: the provider and the provider's own name for the model."""

    model_id: str
    provider_id: str
    upstream: str
    max_output_tokens: int | None = None
    context_window: int | None = None


class Backend:
    def __init__(
        self,
        settings: Settings | None = None,
        keys: KeyStore | None = None,
        *,
        ledger_path: Path | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self.keys = keys or KeyStore()
        self.verified_models: dict[str, list[str]] = {}
        self.warn_user: Callable[[str], None] = lambda message: log.warning("%s", message)
        """Out-of-band warnings for the user (the LSP server shows them with window/showMessage)."""
        self._client: httpx.AsyncClient | None = None
        self._ledger_path = ledger_path
        self._ledger: Ledger | None = None
        self._background: set[asyncio.Task[None]] = set()

    @property
    def ledger(self) -> Ledger:
        """The shared usage ledger, opened on first use (not at start-up)."""
        if self._ledger is None:
            from byok.usage import Ledger

            self._ledger = Ledger(self._ledger_path)
        return self._ledger

    # -- settings and HTTP ---------------------------------------------------------------------------

    def update_settings(self, settings: Settings) -> None:
        old_client, self._client = self._client, None
        self.settings = settings
        if old_client is not None:
            asyncio.get_running_loop().create_task(old_client.aclose())

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            from byok.providers.http import build_client  # httpx loads on the first provider call

            self._client = build_client(self.settings)
        return self._client

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run bookkeeping (ledger writes) off the response path; `settled()` waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def settled(self) -> None:
        """Wait until every ledger write started so far has landed (before reading the ledger)."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        await self.settled()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    # -- keys ----------------------------------------------------------------------------------------

    def resolve(self, provider_id: str) -> ResolvedProvider:
        if not isinstance(provider_id, str) or not provider_id:
            raise ByokError(ErrorCode.UNKNOWN_PROVIDER, "No provider given", fix="Pass a provider id")
        return resolve_provider(self.settings, provider_id)

    def key_endpoint(self, resolved: ResolvedProvider) -> str:
        """The origin a key for this provider would be sent to, as configured right now."""
        adapter = create_provider(resolved, None, self.client)
        return origin(adapter.key_endpoint)

    async def set_key(self, provider_id: str, key: str) -> dict[str, Any]:
        resolved = self.resolve(provider_id)
        secret = check_key_shape(provider_id, key, resolved.preset.key_prefixes)
        if resolved.kind == "azure" and not resolved.settings.endpoint:
            raise ByokError(
                ErrorCode.KEY_REJECTED,
                "Set the Azure endpoint before its key",
                provider=provider_id,
                cause="An Azure key is bound to its resource endpoint, and none is configured",
                fix="Set byok.providers.azure.endpoint (paste the deployment URL), then store the key",
            )
        endpoint = self.key_endpoint(resolved)
        require_secure(endpoint, provider_id)
        stored = await asyncio.to_thread(self.keys.store, provider_id, secret, endpoint)
        return {"provider": provider_id, "fingerprint": stored.fingerprint, "source": stored.source}

    async def delete_key(self, provider_id: str) -> dict[str, Any]:
        self.resolve(provider_id)
        deleted = await asyncio.to_thread(self.keys.delete, provider_id)
        self.verified_models.pop(provider_id, None)
        return {"provider": provider_id, "deleted": deleted}

    async def stored_key(self, provider_id: str) -> StoredKey | None:
        resolved = self.resolve(provider_id)
        return await asyncio.to_thread(self.keys.load, provider_id, resolved.preset.env_vars)

    async def list_keys(self) -> list[dict[str, Any]]:
        found = await asyncio.gather(*(self.stored_key(pid) for pid in known_provider_ids(self.settings)))
        return [key.describe() for key in found if key is not None]

    async def provider(self, provider_id: str) -> tuple[Provider, StoredKey | None]:
        """An adapter with its key, after the custody checks: key present, endpoint bound and secure."""
        resolved = self.resolve(provider_id)
        stored = await asyncio.to_thread(self.keys.load, provider_id, resolved.preset.env_vars)
        if stored is None and resolved.preset.key_required:
            env = " or ".join(resolved.preset.env_vars) or f"{provider_id.upper()}_API_KEY"
            raise ByokError(
                ErrorCode.KEY_MISSING,
                f"No API key is set for {provider_id}",
                provider=provider_id,
                fix=f"Run `byok keys set {provider_id}` (or BYOK: Set API Key), or set {env}",
            )
        adapter = create_provider(resolved, stored.secret if stored else None, self.client)
        endpoint = origin(adapter.key_endpoint)
        if stored is not None:
            require_secure(endpoint, provider_id)
            if stored.endpoint is not None and stored.endpoint != endpoint:
                raise ByokError(
                    ErrorCode.KEY_ENDPOINT_MISMATCH,
                    f"The {provider_id} key was stored for {stored.endpoint}, but settings now point to {endpoint}",
                    provider=provider_id,
                    fix=f"If {endpoint} is right, store the key again while it is configured "
                    f"(`byok keys set {provider_id}`); otherwise fix the base URL",
                )
        return adapter, stored

    async def verify(self, provider_id: str) -> dict[str, Any]:
        """Check a key with the provider's cheapest call; provider failures come back as `ok: false`."""
        self.resolve(provider_id)
        started = time.perf_counter()
        fingerprint: str | None = None
        try:
            adapter, stored = await self.provider(provider_id)
            fingerprint = stored.fingerprint if stored else None
            models = await adapter.verify()
        except ByokError as exc:
            if exc.code in (ErrorCode.UNKNOWN_PROVIDER,):
                raise
            return {
                "ok": False,
                "provider": provider_id,
                "fingerprint": fingerprint,
                "models": [],
                "latencyMs": round((time.perf_counter() - started) * 1000, 1),
                "error": exc.to_data(),
            }
        self.verified_models[provider_id] = models
        return {
            "ok": True,
            "provider": provider_id,
            "fingerprint": fingerprint,
            "models": models,
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
        }

    # -- models --------------------------------------------------------------------------------------

    def route(self, model_id: str) -> Route:
        for model in self.settings.models:
            if model.id == model_id:
                return Route(
                    model.id, model.provider, model.upstream, model.max_output_tokens, model.context_window
                )
        head, sep, rest = model_id.partition("/")
        if sep and rest and head in known_provider_ids(self.settings):
            return Route(model_id, head, rest)
        for provider_id, models in self.verified_models.items():
            if model_id in models:
                return Route(model_id, provider_id, model_id)
        for prefixes, provider_id in _PREFIX_ROUTES:
            if model_id.startswith(prefixes):
                return Route(model_id, provider_id, model_id)
        raise ByokError(
            ErrorCode.MODEL_NOT_FOUND,
            f"No provider is known for model {model_id!r}",
            cause=f"{model_id!r} is not in byok.models and has no well-known prefix",
            fix='Add it to byok.models as {"id": "...", "provider": "..."}, or write it as provider/model',
            models=[m["id"] for m in self.model_list() if not m["builtin"]],
        )

    async def routes(self, feature: str, model: str | None) -> list[Route]:
        """The model (or fallback list) serving a feature: the request's, the feature's, chat's, a default."""
        features = self.settings.features
        choice: ModelChoice = model or getattr(features, _snake(feature), None) or features.chat
        if not choice:
            choice = await self.default_model()
        ids = [choice] if isinstance(choice, str) else list(choice)
        return [self.route(model_id) for model_id in ids]

    async def default_model(self) -> str:
        if self.settings.models:
            return self.settings.models[0].id
        for provider_id in _DEFAULT_PROVIDER_ORDER:
            preset = PRESETS[provider_id]
            if preset.default_model and await self.stored_key(provider_id):
                return preset.default_model
        raise ByokError(
            ErrorCode.KEY_MISSING,
            "No model is configured and no provider has a key",
            cause="byok.features.chat is not set and no API key is stored",
            fix="Run `byok keys set openai` (or another provider), or set byok.features.chat",
        )

    def model_list(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for feature, model_id in BUILTIN_MODELS.items():
            seen[model_id] = {"id": model_id, "provider": "builtin", "features": [feature], "builtin": True}
        entries = [(m.id, m.provider) for m in self.settings.models]
        entries += [(model_id, pid) for pid, models in self.verified_models.items() for model_id in models]
        for model_id, provider_id in entries:
            seen.setdefault(
                model_id,
                {"id": model_id, "provider": provider_id, "features": list(BYOK_FEATURES), "builtin": False},
            )
        return list(seen.values())

    async def status(self) -> dict[str, Any]:
        features: dict[str, Any] = {}
        for feature in BYOK_FEATURES:
            try:
                routes = await self.routes(feature, None)
                features[feature] = {
                    "model": routes[0].model_id,
                    "provider": routes[0].provider_id,
                    "fallbacks": [r.model_id for r in routes[1:]],
                    "builtin": False,
                }
            except ByokError as exc:
                features[feature] = {
                    "model": None,
                    "provider": None,
                    "builtin": False,
                    "error": exc.to_data(),
                }
        for feature, model_id in BUILTIN_MODELS.items():
            features[feature] = {"model": model_id, "provider": "builtin", "builtin": True}
        return {"version": __version__, "features": features, "keys": await self.list_keys()}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
