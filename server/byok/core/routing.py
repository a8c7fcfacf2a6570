"""Which provider and upstream name serve a model id, and which models serve a feature."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from byok.base.config import ModelChoice, ModelSettings, Settings, WireApi
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.model_table import SOURCE as TABLE_SOURCE
from byok.core.model_table import table_limits
from byok.providers import PRESETS, RESPONSES_KINDS, default_api, known_provider_ids, resolve_provider
from byok.providers.base import ModelInfo

BYOK_FEATURES = ("chat", "composer", "agent", "inlineEdit")
BUILTIN_MODELS = {"tab": "builtin-tab", "apply": "builtin-apply"}
_PREFIX_ROUTES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt-", "o1", "o3", "o4", "chatgpt-"), "openai"),
    (("claude-",), "anthropic"),
    (("gemini-",), "google"),
    (("anthropic.", "us.", "eu.", "apac.", "meta.", "amazon.", "mistral.", "cohere.", "ai21."), "bedrock"),
)
_DEFAULT_PROVIDER_ORDER = ("openai", "anthropic", "google", "azure", "bedrock", "openrouter", "together")

HasKey = Callable[[str], Awaitable[bool]]
"""Whether a key (stored or from the environment) is available for a provider id."""
LocalModel = Callable[[], Awaitable[str | None]]
"""The chat model of a discovered local server, if there is one."""
Verified = dict[str, list[ModelInfo]]
"""The models each verified provider's key can see, with the limits verify learnt."""


@dataclass(frozen=True, slots=True)
class Route:
    """Where a model id goes: the provider and the provider's own name for the model."""

    model_id: str
    provider_id: str
    upstream: str
    max_output_tokens: int | None = None
    context_window: int | None = None
    api: WireApi = "chat"
    """The API the model is spoken to on (OpenAI-style providers: Chat Completions or Responses)."""
    cache: bool | None = None
    """The model entry's prompt-caching switch; None follows the global setting."""
    context_source: str | None = None
    """Where `context_window` came from: a setting, a verify (naming the endpoint), or the shipped table."""


def route(settings: Settings, verified: Verified, model_id: str) -> Route:
    """The route for `model_id`: byok.models, then provider/model, then a verified key's models, then a prefix;
    with the model's limits from its setting, else from verify, else from the shipped table."""
    for index, model in enumerate(settings.models):
        if model.id == model_id:
            api = wire_api(
                settings, model.provider, (model.id, model.upstream), model.api, f"byok.models[{index}].api"
            )
            found = Route(model.id, model.provider, model.upstream, api=api, cache=model.cache)
            return _limited(found, verified, (index, model))
    head, sep, rest = model_id.partition("/")
    if sep and rest and head in known_provider_ids(settings):
        return _limited(Route(model_id, head, rest, api=wire_api(settings, head, (rest,))), verified)
    for provider_id, models in verified.items():
        if any(model.id == model_id for model in models):
            api = wire_api(settings, provider_id, (model_id,))
            return _limited(Route(model_id, provider_id, model_id, api=api), verified)
    for prefixes, provider_id in _PREFIX_ROUTES:
        if model_id.startswith(prefixes):
            api = wire_api(settings, provider_id, (model_id,))
            return _limited(Route(model_id, provider_id, model_id, api=api), verified)
    raise ByokError(
        ErrorCode.MODEL_NOT_FOUND,
        f"No provider is known for model {model_id!r}",
        cause=f"{model_id!r} is not in byok.models and has no well-known prefix",
        fix='Add it to byok.models as {"id": "...", "provider": "..."}, or write it as provider/model',
        models=[m["id"] for m in model_list(settings, verified) if not m["builtin"]],
    )


def _limited(route: Route, verified: Verified, entry: tuple[int, ModelSettings] | None = None) -> Route:
    """`route` with its context window (and that window's source) and output limit, each taken from the
    first that knows it: the byok.models entry, the provider's verify, the shipped table."""
    index, setting = entry if entry else (None, None)
    info = next((m for m in verified.get(route.provider_id, []) if m.id == route.upstream), None)
    table = table_limits(route.upstream, route.provider_id)
    window, source = None, None
    if setting is not None and setting.context_window:
        window, source = setting.context_window, f"the setting byok.models[{index}].contextWindow"
    elif info is not None and info.context_window:
        window, source = info.context_window, f"verify of {route.provider_id} ({info.source})"
    elif table is not None:
        window, source = table.context_window, TABLE_SOURCE
    max_output = (
        (setting.max_output_tokens if setting else None)
        or (info.max_output_tokens if info else None)
        or (table.max_output_tokens if table else None)
    )
    return replace(route, max_output_tokens=max_output, context_window=window, context_source=source)


def wire_api(
    settings: Settings,
    provider_id: str,
    names: tuple[str, ...],
    chosen: WireApi | None = None,
    setting: str = "",
) -> WireApi:
    """The API a model named `names` is spoken to on: `chosen` (its entry's `api`, at `setting`), else the
    default rule for its provider's kind (Azure: the deployment's name counts too)."""
    resolved = resolve_provider(settings, provider_id)
    if chosen is None:
        deployment = resolved.settings.deployment if resolved.kind == "azure" else None
        return default_api(resolved.kind, (*names, deployment) if deployment else names)
    if chosen == "responses" and resolved.kind not in RESPONSES_KINDS:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            f'{setting} is "responses", but {provider_id} is a provider of kind {resolved.kind}, '
            "which has no Responses API",
            provider=provider_id,
            cause="Only OpenAI, Azure OpenAI and OpenAI-compatible servers serve the Responses API",
            fix=f"Remove {setting}, or point the model at an openai, azure or openai-compatible provider",
        )
    return chosen


def verify_api(settings: Settings, provider_id: str) -> WireApi:
    """The API a provider's key is checked on (it matters where the check is a real request: Azure's
    deployment probe): its first model entry's, else the default rule for its deployment."""
    for index, model in enumerate(settings.models):
        if model.provider == provider_id:
            return wire_api(
                settings, provider_id, (model.id, model.upstream), model.api, f"byok.models[{index}].api"
            )
    return wire_api(settings, provider_id, ())


async def routes(
    settings: Settings,
    verified: Verified,
    feature: str,
    model: str | None,
    has_key: HasKey,
    local_model: LocalModel,
) -> list[Route]:
    """The model (or fallback list) serving a feature: the request's, the feature's, chat's, a default."""
    features = settings.features
    choice: ModelChoice = model or features.choice(feature).model or features.choice("chat").model
    if not choice:
        choice = await default_model(settings, has_key, local_model)
    ids = [choice] if isinstance(choice, str) else list(choice)
    return [route(settings, verified, model_id) for model_id in ids]


async def default_model(settings: Settings, has_key: HasKey, local_model: LocalModel) -> str:
    """The first configured model, else the default model of the first provider (in a fixed order) with a key,
    else the first model of a local server found running on this machine."""
    if settings.models:
        return settings.models[0].id
    for provider_id in _DEFAULT_PROVIDER_ORDER:
        preset = PRESETS[provider_id]
        if preset.default_model and await has_key(provider_id):
            return preset.default_model
    if local := await local_model():
        return local
    raise ByokError(
        ErrorCode.KEY_MISSING,
        "No model is configured and no provider has a key",
        cause="byok.features.chat is not set, no API key is stored, and no local model server is running",
        fix="Run `byok keys set openai` (or another provider), set byok.features.chat, or start Ollama, "
        "LM Studio, llama.cpp's server or vLLM",
    )


def model_list(settings: Settings, verified: Verified) -> list[dict[str, Any]]:
    """The builtin models, then byok.models, then the models verified keys can see (each id once), each with
    its context window (and where that came from) and output limit, null when unknown."""
    seen: dict[str, dict[str, Any]] = {}
    for feature, model_id in BUILTIN_MODELS.items():
        seen[model_id] = {
            "id": model_id,
            "provider": "builtin",
            "features": [feature],
            "builtin": True,
            "contextWindow": None,
            "contextWindowSource": None,
            "maxOutputTokens": None,
        }
    routes = [
        _limited(Route(m.id, m.provider, m.upstream), verified, (i, m)) for i, m in enumerate(settings.models)
    ]
    routes += [_limited(Route(m.id, pid, m.id), verified) for pid, models in verified.items() for m in models]
    for found in routes:
        seen.setdefault(
            found.model_id,
            {
                "id": found.model_id,
                "provider": found.provider_id,
                "features": list(BYOK_FEATURES),
                "builtin": False,
                "contextWindow": found.context_window,
                "contextWindowSource": found.context_source,
                "maxOutputTokens": found.max_output_tokens,
            },
        )
    return list(seen.values())
