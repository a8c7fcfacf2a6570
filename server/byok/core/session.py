"""The state every front end shares (LSP server and CLI): settings, keys, the HTTP client, model routing.

Nothing here knows LSP. Every method that can fail for a user-fixable reason raises `ByokError`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from byok import __version__
from byok.base.config import Settings, WireApi
from byok.base.display import visible
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core import routing
from byok.core.cache_key import CacheKeys
from byok.core.discovery import LocalServer, candidates, discover
from byok.core.keys import KeyRoute, KeyStore, StoredKey, check_key_shape
from byok.core.reasoning import fit_for_route
from byok.core.routing import BUILTIN_MODELS, BYOK_FEATURES, Route, Verified
from byok.providers import ResolvedProvider, create_provider, known_provider_ids, resolve_provider
from byok.providers.base import ModelInfo, Provider
from byok.providers.urls import is_loopback, origin, proxy_origin, read_ca_bundle, require_secure
from byok.workspace.rules import RulesReader

if TYPE_CHECKING:
    import httpx

    from byok.core.approvals import Approvals
    from byok.core.ledger import Ledger
    from byok.core.mcp.servers import McpServers

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

MODEL_LIST_TIMEOUT_S = 5.0
"""How long a model_not_found error waits for the list of models the key can see."""
REDISCOVER_AFTER_S = 30.0
"""A discovery that found no local server is tried again after this long (the user may start one)."""


@dataclass(frozen=True, slots=True)
class Network:
    """One request's network view: a settings snapshot, the client built from it, and the fingerprint of the
    CA bundle bytes that client trusts (None: the system store). A key's route is checked against these."""

    settings: Settings
    client: httpx.AsyncClient
    ca_fingerprint: str | None


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
        self.verified_models: Verified = {}
        self._show_warning: Callable[[str], None] = functools.partial(log.warning, "%s")
        self._network: Network | None = None
        self._ledger_path = ledger_path
        self._ledger: Ledger | None = None
        self._ledger_thread: ThreadPoolExecutor | None = None
        self.cache_keys = CacheKeys(ledger_path.parent if ledger_path else None)
        self._approvals: Approvals | None = None
        self._mcp: McpServers | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._local: LocalServer | None = None
        self._discovery: asyncio.Task[LocalServer | None] | None = None
        self._discovery_started = 0.0
        self.rules = RulesReader()
        """Project rules files, each re-read only when it changes."""

    def on_warning(self, show: Callable[[str], None]) -> None:
        """Show out-of-band warnings with `show` (the LSP server: window/showMessage) instead of logging them."""
        self._show_warning = show

    def warn(self, message: str) -> None:
        """Tell the user something that is not the answer to a request (a cost not recorded, a limit near)."""
        self._show_warning(message)

    @property
    def ledger(self) -> Ledger:
        """The shared usage ledger, opened on first use (not at start-up)."""
        if self._ledger is None:
            from byok.core.ledger import Ledger

            self._ledger = Ledger(self._ledger_path)
        return self._ledger

    async def in_ledger(self, work: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a ledger call on the ledger's own thread: its calls queue there (they take one lock anyway)
        instead of filling the shared worker threads that rules, keys and files are read on."""
        if self._ledger_thread is None:
            self._ledger_thread = ThreadPoolExecutor(1, thread_name_prefix="byok-ledger")
        call = functools.partial(work, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._ledger_thread, call)

    @property
    def approvals(self) -> Approvals:
        """The user's remembered approvals ("Always allow"), in the user data dir."""
        if self._approvals is None:
            from byok.core.approvals import Approvals

            self._approvals = Approvals()
        return self._approvals

    @property
    def mcp(self) -> McpServers:
        """The user's MCP servers (none started until the agent, a resource read or startOnLaunch needs them)."""
        if self._mcp is None:
            from byok.core.mcp.servers import McpServers

            self._mcp = McpServers(self.settings.mcp, lambda: self.approvals)
        return self._mcp

    # -- settings and HTTP ---------------------------------------------------------------------------

    def update_settings(self, settings: Settings) -> None:
        old, self._network = self._network, None
        self.settings = settings
        if self._mcp is not None:
            self._mcp.configure(settings.mcp)
        if old is not None:
            asyncio.get_running_loop().create_task(old.client.aclose())

    async def network(self) -> Network:
        """The current settings and the client built from them, for one request to use throughout.

        The CA bundle is read (off the loop) on every call and a changed file gets a new client, so the
        fingerprint a key's route is checked against is that of the bytes the client trusts.
        """
        settings = self.settings
        ca = await asyncio.to_thread(read_ca_bundle, settings.ca_bundle) if settings.ca_bundle else None
        if self.settings is not settings:  # changed while the file was read: use the new ones
            return await self.network()
        fingerprint = ca.fingerprint if ca else None
        current = self._network
        if current is not None and current.settings is settings and current.ca_fingerprint == fingerprint:
            return current
        from byok.providers.http import build_client  # httpx loads on the first provider call

        self._network = Network(settings, build_client(settings, ca), fingerprint)
        if current is not None:
            self.in_background(current.client.aclose())  # held until closed (a bare task can be collected)
        return self._network

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
        if self._discovery is not None:
            self._discovery.cancel()
            await asyncio.gather(self._discovery, return_exceptions=True)
        if self._mcp is not None:
            await self._mcp.aclose()
        if self._network is not None:
            await self._network.client.aclose()
            self._network = None
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
        if self._ledger_thread is not None:
            self._ledger_thread.shutdown()
            self._ledger_thread = None

    # -- keys ----------------------------------------------------------------------------------------

    def resolve(self, provider_id: str, settings: Settings | None = None) -> ResolvedProvider:
        """The provider with its preset and settings; a discovered local server (keyless, loopback) stands
        in for settings the user did not write for it."""
        if not isinstance(provider_id, str) or not provider_id:
            raise ByokError(ErrorCode.UNKNOWN_PROVIDER, "No provider given", fix="Pass a provider id")
        settings = settings or self.settings
        local = self._local
        if local is not None and local.provider_id == provider_id and provider_id not in settings.providers:
            settings = settings.model_copy(
                update={"providers": {**settings.providers, provider_id: local.settings}}
            )
        return resolve_provider(settings, provider_id)

    @staticmethod
    def key_route(network: Network, resolved: ResolvedProvider, adapter: Provider) -> KeyRoute:
        """The route a key for this provider takes with these settings and this client.

        The settings' proxy is part of it unless the endpoint is loopback (never proxied); the CA bundle
        the client trusts unless the endpoint is plain HTTP. The environment's own proxies are not.
        """
        endpoint = origin(adapter.key_endpoint)
        proxy = network.settings.proxy
        return KeyRoute(
            endpoint,
            proxy_origin(proxy) if proxy and not is_loopback(urlsplit(endpoint).hostname or "") else None,
            network.ca_fingerprint if endpoint.startswith("https://") else None,
        )

    async def set_key(self, provider_id: str, key: str) -> dict[str, Any]:
        network = await self.network()
        resolved = self.resolve(provider_id, network.settings)
        secret = check_key_shape(provider_id, key, resolved.preset.key_prefixes)
        if resolved.kind == "azure" and not resolved.settings.endpoint:
            raise ByokError(
                ErrorCode.KEY_REJECTED,
                "Set the Azure endpoint before its key",
                provider=provider_id,
                cause="An Azure key is bound to its resource endpoint, and none is configured",
                fix="Set byok.providers.azure.endpoint (paste the deployment URL), then store the key",
            )
        adapter = create_provider(resolved, None, network.client)
        route = self.key_route(network, resolved, adapter)
        require_secure(route.endpoint, provider_id)
        stored = await asyncio.to_thread(self.keys.store, provider_id, secret, route)
        result: dict[str, Any] = {
            "provider": provider_id,
            "fingerprint": stored.fingerprint,
            "source": "keyring",
        }
        default = resolved.default_key_endpoint(adapter)
        if route != KeyRoute(default or ""):
            result |= {"route": route.to_data(), "default": default}
        return result

    async def prepare_bind(
        self, provider_id: str, endpoint: str | None = None
    ) -> tuple[KeyRoute, StoredKey | None, str]:
        """The route `bind_key` would bind, the key it concerns, and a question that shows both to the user.

        `endpoint`, when given, must be the configured endpoint: a bind never moves a key by itself.
        """
        network = await self.network()
        resolved = self.resolve(provider_id, network.settings)
        adapter = create_provider(resolved, None, network.client)
        route = self.key_route(network, resolved, adapter)
        if endpoint is not None and origin(endpoint) != route.endpoint:
            raise ByokError(
                ErrorCode.KEY_ENDPOINT_MISMATCH,
                visible(
                    f"{origin(endpoint)} is not the endpoint configured for {provider_id} ({route.endpoint})"
                ),
                provider=provider_id,
                cause="byok.bindKey binds the route in the settings, and the endpoint given differs",
                fix=f"Set the {provider_id} endpoint in the settings first, then bind",
            )
        require_secure(route.endpoint, provider_id)
        stored = await asyncio.to_thread(self.keys.load, provider_id, resolved.env_vars)
        if stored is None:
            what = "AWS credentials from the environment" if resolved.kind == "bedrock" else "keys"
            key = f"{what} for {provider_id}"
        elif stored.source == "env":
            key = f"the {provider_id} key from ${stored.env_var} ({stored.fingerprint})"
        else:
            key = f"the stored {provider_id} key {stored.fingerprint}"
        question = visible(
            f"Allow byok to send {key} to {route.endpoint}, via proxy {route.proxy or 'none (direct)'}, "
            f"trusting {'the CA bundle ' + route.ca_bundle[:19] + '…' if route.ca_bundle else 'the system CA store'}?"
            " Only allow a route you configured yourself."
        )
        return route, stored, question

    async def bind_key(self, provider_id: str, route: KeyRoute, stored: StoredKey | None) -> dict[str, Any]:
        """Bind a confirmed route: a stored key is re-stored with it, else it binds the env key (or AWS chain)."""
        if stored is not None and stored.source == "keyring":
            await asyncio.to_thread(self.keys.store, provider_id, stored.secret, route)
        else:
            await asyncio.to_thread(self.keys.bind, provider_id, route, stored.env_var if stored else None)
        return {
            "provider": provider_id,
            "fingerprint": stored.fingerprint if stored else None,
            "source": stored.source if stored else None,
            "route": route.to_data(),
        }

    async def delete_key(self, provider_id: str) -> dict[str, Any]:
        self.resolve(provider_id)
        deleted = await asyncio.to_thread(self.keys.delete, provider_id)
        self.verified_models.pop(provider_id, None)
        return {"provider": provider_id, "deleted": deleted}

    async def stored_key(self, provider_id: str) -> StoredKey | None:
        resolved = self.resolve(provider_id)
        return await self._key(provider_id, resolved.env_vars)

    async def _key(self, provider_id: str, env_vars: tuple[str, ...]) -> StoredKey | None:
        """The provider's key (or None): remembered while no key changed, else read off the event loop."""
        remembered = self.keys.recall(provider_id, env_vars)
        if remembered is not None:
            return remembered.key
        return await asyncio.to_thread(self.keys.load, provider_id, env_vars)

    async def list_keys(self) -> list[dict[str, Any]]:
        found = await asyncio.gather(*(self.stored_key(pid) for pid in known_provider_ids(self.settings)))
        return [key.describe() for key in found if key is not None]

    async def provider(self, provider_id: str, api: WireApi = "chat") -> tuple[Provider, StoredKey | None]:
        """An adapter speaking `api`, with its key, after the custody checks: key present, route bound and secure.

        One settings snapshot serves the whole call: the adapter, its client and the route checked.
        """
        network = await self.network()
        resolved = self.resolve(provider_id, network.settings)
        stored = await self._key(provider_id, resolved.env_vars)
        if stored is None and resolved.preset.key_required:
            env = " or ".join(resolved.env_vars) or f"byok.providers.{provider_id}.apiKeyEnv"
            raise ByokError(
                ErrorCode.KEY_MISSING,
                f"No API key is set for {provider_id}",
                provider=provider_id,
                fix=f"Run `byok keys set {provider_id}` (or BYOK: Set API Key), or set {env}",
            )
        adapter = create_provider(resolved, stored.secret if stored else None, network.client, api)
        if stored is not None or resolved.kind == "bedrock":  # Bedrock without a key uses the AWS chain
            route = self.key_route(network, resolved, adapter)
            require_secure(route.endpoint, provider_id)
            await self._check_route(resolved, adapter, stored, route)
        return adapter, stored

    async def _check_route(
        self, resolved: ResolvedProvider, adapter: Provider, stored: StoredKey | None, route: KeyRoute
    ) -> None:
        """Refuse to send a key over any route but the one it is bound to (unbound: the preset's default)."""
        pid = resolved.provider_id
        if stored is not None:
            bound, own_var = (
                stored.route,
                stored.source == "keyring" or stored.env_var in resolved.preset.env_vars,
            )
            where = f" from ${stored.env_var}" if stored.source == "env" else ""
        else:
            binding = await asyncio.to_thread(self.keys.load_binding, pid)
            bound, own_var = (binding.route if binding and binding.env_var is None else None), True
            where = " (AWS credentials from the environment)"
        if bound is None and own_var:
            default = resolved.default_key_endpoint(adapter)
            bound = KeyRoute(default) if default else None
        fix = (
            f"If this route is right, run `byok keys bind {pid}` in a terminal (or the byok.bindKey command) "
            "to bind the key to it; otherwise fix the settings"
        )
        if bound is None:
            raise ByokError(
                ErrorCode.KEY_ENDPOINT_MISMATCH,
                visible(f"The {pid} key{where} is not bound to {route.endpoint}; it was not sent"),
                provider=pid,
                cause=(
                    "A key from the environment goes only to its provider's default endpoint until bound, "
                    "and a binding covers only the variable it was made for"
                ),
                fix=fix,
            )
        if changes := route.changes_since(bound):
            raise ByokError(
                ErrorCode.KEY_ENDPOINT_MISMATCH,
                visible(
                    f"The {pid} key{where} is bound to another route: {'; '.join(changes)}. It was not sent"
                ),
                provider=pid,
                cause="The settings changed the key's route since it was stored or bound",
                fix=fix,
            )

    async def verify(self, provider_id: str) -> dict[str, Any]:
        """Check a key with the provider's cheapest call; provider failures come back as `ok: false`."""
        self.resolve(provider_id)
        started = time.perf_counter()
        fingerprint: str | None = None
        try:
            adapter, stored = await self.provider(provider_id, routing.verify_api(self.settings, provider_id))
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
            "models": [model.id for model in models],
            "latencyMs": round((time.perf_counter() - started) * 1000, 1),
        }

    # -- models --------------------------------------------------------------------------------------

    async def visible_models(self, provider_id: str) -> list[str]:
        """The models the key can see, for a model_not_found error (best effort, bounded)."""
        if provider_id in self.verified_models:
            return [model.id for model in self.verified_models[provider_id]]
        try:
            async with asyncio.timeout(MODEL_LIST_TIMEOUT_S):
                verified = await self.verify(provider_id)
        except (ByokError, TimeoutError):
            return []
        models: list[str] = verified["models"]
        return models

    def route(self, model_id: str) -> Route:
        return routing.route(self.settings, self.verified_models, model_id)

    async def routes(self, feature: str, model: str | None) -> list[Route]:
        """The model (or fallback list) serving a feature: the request's, the feature's, chat's, a default."""
        return await routing.routes(
            self.settings, self.verified_models, feature, model, self._has_key, self._local_model
        )

    async def default_model(self) -> str:
        return await routing.default_model(self.settings, self._has_key, self._local_model)

    async def model_list(self) -> list[dict[str, Any]]:
        """`routing.model_list`, each entry saying whether its provider has a key (or needs none)."""
        entries = routing.model_list(self.settings, self.verified_models)
        usable = {
            pid: await self._usable(pid) for pid in {e["provider"] for e in entries if not e["builtin"]}
        }
        return [{**entry, "hasKey": entry["builtin"] or usable[entry["provider"]]} for entry in entries]

    async def _has_key(self, provider_id: str) -> bool:
        return await self.stored_key(provider_id) is not None

    async def _usable(self, provider_id: str) -> bool:
        """A key is stored or in the environment for the provider, or it needs none (a local server, a custom
        provider that names no key variable; Bedrock: the AWS chain has credentials to find)."""
        try:
            resolved = self.resolve(provider_id)
        except ByokError:
            return False
        if await self._key(provider_id, resolved.env_vars) is not None:
            return True
        if resolved.kind == "bedrock":
            from byok.providers.bedrock_auth import chain_may_have_credentials

            return chain_may_have_credentials(resolved.settings.profile)
        names_a_key = bool(resolved.settings.api_key_env)  # told which key to use: it needs that key
        return not resolved.preset.key_required and not names_a_key

    # -- local servers -------------------------------------------------------------------------------

    def start_discovery(self) -> None:
        """Look for a local server in the background (the LSP server calls this once settings are in)."""
        if self._discovery is None or (
            self._discovery.done()
            and self._discovery.result() is None
            and time.monotonic() - self._discovery_started > REDISCOVER_AFTER_S
        ):
            self._discovery_started = time.monotonic()
            self._discovery = asyncio.get_running_loop().create_task(self._discover())

    async def local_server(self) -> LocalServer | None:
        """The local server in use: only when discovery is on, no key exists and no model is configured."""
        if not self._may_discover():
            return None
        self.start_discovery()
        assert self._discovery is not None
        return await asyncio.shield(self._discovery)

    def _may_discover(self) -> bool:
        settings = self.settings
        return settings.discover_local_servers and not settings.models and not settings.features.chat

    async def _discover(self) -> LocalServer | None:
        """Probe (bounded by `PROBE_BUDGET_S`), then verify the server found to learn its context windows."""
        try:
            if not self._may_discover() or await self.list_keys():
                return None
        except ByokError as exc:  # a keychain that cannot be read: nothing says there is no key
            log.warning("not looking for a local model server: %s", exc)
            return None
        network = await self.network()
        found = await discover(network.client, candidates())
        if found is None:
            return None
        self._local = found
        self.verified_models.setdefault(found.provider_id, [ModelInfo(m) for m in found.models])
        verified = await self.verify(found.provider_id)
        if not verified["ok"]:
            log.warning("%s did not verify: %s", found.summary, verified["error"]["message"])
        return found

    async def _local_model(self) -> str | None:
        found = await self.local_server()
        return found.chat_model if found else None

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
                    "reasoning": fit_for_route(self.settings, routes[0], None, feature).describe(),
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
        local = self._local if self._may_discover() else None
        return {
            "version": __version__,
            "features": features,
            "keys": await self.list_keys(),
            "localServer": local.to_data() if local else None,
        }
