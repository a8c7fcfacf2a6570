"""Which provider and upstream name serve a model id, and which models serve a feature."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from byok.base.config import ModelChoice, Settings, WireApi
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers import PRESETS, RESPONSES_KINDS, default_api, known_provider_ids, resolve_provider

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


def route(settings: Settings, verified: dict[str, list[str]], model_id: str) -> Route:
    """The route for `model_id`: byok.models, then provider/model, then a verified key's models, then a prefix."""
    for index, model in enumerate(settings.models):
        if model.id == model_id:
            api = wire_api(
                settings, model.provider, (model.id, model.upstream), model.api, f"byok.models[{index}].api"
            )
            return Route(
                model.id,
                model.provider,
                model.upstream,
                model.max_output_tokens,
                model.context_window,
                api,
                cache=model.cache,
            )
    head, sep, rest = model_id.partition("/")
    if sep and rest and head in known_provider_ids(settings):
        return Route(model_id, head, rest, api=wire_api(settings, head, (rest,)))
    for provider_id, models in verified.items():
        if model_id in models:
            return Route(model_id, provider_id, model_id, api=wire_api(settings, provider_id, (model_id,)))
    for prefixes, provider_id in _PREFIX_ROUTES:
        if model_id.startswith(prefixes):
            return Route(model_id, provider_id, model_id, api=wire_api(settings, provider_id, (model_id,)))
    raise ByokError(
        ErrorCode.MODEL_NOT_FOUND,
        f"No provider is known for model {model_id!r}",
        cause=f"{model_id!r} is not in byok.models and has no well-known prefix",
        fix='Add it to byok.models as {"id": "...", "provider": "..."}, or write it as provider/model',
        models=[m["id"] for m in model_list(settings, verified) if not m["builtin"]],
    )


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
    settings: Settings, verified: dict[str, list[str]], feature: str, model: str | None, has_key: HasKey
) -> list[Route]:
    """The model (or fallback list) serving a feature: the request's, the feature's, chat's, a default."""
    features = settings.features
    choice: ModelChoice = model or features.choice(feature).model or features.choice("chat").model
    if not choice:
        choice = await default_model(settings, has_key)
    ids = [choice] if isinstance(choice, str) else list(choice)
    return [route(settings, verified, model_id) for model_id in ids]


async def default_model(settings: Settings, has_key: HasKey) -> str:
    """The first configured model, else the default model of the first provider (in a fixed order) with a key."""
    if settings.models:
        return settings.models[0].id
    for provider_id in _DEFAULT_PROVIDER_ORDER:
        preset = PRESETS[provider_id]
        if preset.default_model and await has_key(provider_id):
            return preset.default_model
    raise ByokError(
        ErrorCode.KEY_MISSING,
        "No model is configured and no provider has a key",
        cause="byok.features.chat is not set and no API key is stored",
        fix="Run `byok keys set openai` (or another provider), or set byok.features.chat",
    )


def model_list(settings: Settings, verified: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The builtin models, then byok.models, then the models verified keys can see (each id once)."""
    seen: dict[str, dict[str, Any]] = {}
    for feature, model_id in BUILTIN_MODELS.items():
        seen[model_id] = {"id": model_id, "provider": "builtin", "features": [feature], "builtin": True}
    entries = [(m.id, m.provider) for m in settings.models]
    entries += [(model_id, pid) for pid, models in verified.items() for model_id in models]
    for model_id, provider_id in entries:
        seen.setdefault(
            model_id,
            {"id": model_id, "provider": provider_id, "features": list(BYOK_FEATURES), "builtin": False},
        )
    return list(seen.values())
