"""Provider presets and the factory that builds an adapter for a configured provider id.

Adapter modules are imported lazily, so a user who never uses Bedrock never pays for botocore.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from byok.base.config import ProviderKind, ProviderSettings, Settings, WireApi
from byok.base.display import visible
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.base import Provider
from byok.providers.urls import origin

if TYPE_CHECKING:
    from byok.providers.openai import OpenAIProvider


@dataclass(frozen=True, slots=True)
class Preset:
    kind: ProviderKind
    label: str
    base_url: str | None
    env_vars: tuple[str, ...] = ()
    key_required: bool = True
    key_prefixes: tuple[str, ...] = ()
    """Shapes a key for this provider usually has (a hint for messages, never a validity check)."""
    default_model: str | None = None


PRESETS: dict[str, Preset] = {
    "openai": Preset(
        "openai", "OpenAI", "https://api.openai.com/v1", ("OPENAI_API_KEY",), True, ("sk-",), "gpt-4.1-mini"
    ),
    "anthropic": Preset(
        "anthropic",
        "Anthropic",
        "https://api.anthropic.com",
        ("ANTHROPIC_API_KEY",),
        True,
        ("sk-ant-",),
        "claude-sonnet-4-5",
    ),
    "google": Preset(
        "google",
        "Google Gemini",
        "https://generativelanguage.googleapis.com",
        ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
        True,
        ("AIza",),
        "gemini-2.5-flash",
    ),
    "azure": Preset("azure", "Azure OpenAI", None, ("AZURE_OPENAI_API_KEY",), True),
    "bedrock": Preset(
        "bedrock",
        "AWS Bedrock",
        None,
        ("AWS_BEARER_TOKEN_BEDROCK",),
        False,
        (),
        "us.anthropic.claude-sonnet-4-20250514-v1:0",
    ),
    "ollama": Preset("openai-compatible", "Ollama", "http://localhost:11434/v1", ("OLLAMA_API_KEY",), False),
    "lmstudio": Preset(
        "openai-compatible", "LM Studio", "http://localhost:1234/v1", ("LMSTUDIO_API_KEY",), False
    ),
    "llamacpp": Preset(
        "openai-compatible", "llama.cpp", "http://localhost:8080/v1", ("LLAMA_API_KEY",), False
    ),
    "vllm": Preset("openai-compatible", "vLLM", "http://localhost:8000/v1", ("VLLM_API_KEY",), False),
    "together": Preset(
        "openai-compatible", "Together AI", "https://api.together.xyz/v1", ("TOGETHER_API_KEY",), True
    ),
    "openrouter": Preset(
        "openai-compatible",
        "OpenRouter",
        "https://openrouter.ai/api/v1",
        ("OPENROUTER_API_KEY",),
        True,
        ("sk-or-",),
    ),
}


@dataclass(frozen=True, slots=True)
class ResolvedProvider:
    """A provider id with its preset and the user's settings merged."""

    provider_id: str
    preset: Preset
    settings: ProviderSettings

    @property
    def kind(self) -> ProviderKind:
        return self.settings.kind or self.preset.kind

    @property
    def base_url(self) -> str | None:
        return self.settings.base_url or self.preset.base_url

    @property
    def env_vars(self) -> tuple[str, ...]:
        """Env vars a key may come from: the one named in `apiKeyEnv` first, then the preset's own."""
        named = self.settings.api_key_env
        return (named, *(v for v in self.preset.env_vars if v != named)) if named else self.preset.env_vars

    def default_key_endpoint(self, adapter: Provider) -> str | None:
        """The origin the preset sends keys to when no setting moves it (None: there is none).

        Keys from the preset's own env vars (and the AWS credential chain) may go there without a bind.
        """
        if self.provider_id not in PRESETS or self.kind != self.preset.kind:
            return None
        if self.kind == "bedrock":
            from byok.providers.bedrock import BedrockProvider

            assert isinstance(adapter, BedrockProvider)
            return origin(adapter.default_runtime_url)
        return origin(self.preset.base_url) if self.preset.base_url else None


def known_provider_ids(settings: Settings) -> list[str]:
    return sorted(set(PRESETS) | set(settings.providers))


def resolve_provider(settings: Settings, provider_id: str) -> ResolvedProvider:
    configured = settings.providers.get(provider_id)
    preset = PRESETS.get(provider_id)
    if preset is None and configured is None:
        raise ByokError(
            ErrorCode.UNKNOWN_PROVIDER,
            f"Unknown provider {provider_id!r}",
            provider=provider_id,
            fix=f"Use one of {', '.join(known_provider_ids(settings))}, or add it under byok.providers",
        )
    if preset is None:
        kind = configured.kind if configured and configured.kind else "openai-compatible"
        preset = Preset(kind, provider_id, None, (), False)
    resolved_settings = configured or ProviderSettings()
    with contextlib.suppress(
        ValueError
    ):  # an endpoint that does not parse stays as it is: create_provider names it
        resolved_settings = resolved_settings.with_azure_url_expanded()
    return ResolvedProvider(provider_id, preset, resolved_settings)


ENDPOINT_SETTING: dict[ProviderKind, str] = {"azure": "endpoint", "bedrock": "endpointUrl"}
"""The setting that moves a provider kind's endpoint (the others: baseUrl)."""


def check_endpoint(url: str, provider_id: str, kind: ProviderKind) -> None:
    """A URL requests cannot go to (no parse, a bad port, a host httpx refuses, blanks or invisible characters,
    a user name or password before the host) is `insecure_endpoint` naming the setting that holds it."""
    try:
        urlsplit(url).port  # noqa: B018 (raises for brackets that do not close, a bad port)
        httpx.URL(url)  # raises for an invalid IDNA host or control characters
    except (ValueError, httpx.InvalidURL) as exc:
        reason = str(exc)
    else:
        if url.isprintable() and not any(char.isspace() for char in url):
            netloc = urlsplit(url).netloc
            if "@" not in netloc:
                return
            setting = f"byok.providers.{provider_id}.{ENDPOINT_SETTING.get(kind, 'baseUrl')}"
            # httpx connects to the host after the `@`; text before it could pose as the host where shown.
            raise ByokError(
                ErrorCode.INSECURE_ENDPOINT,
                f"{setting} has a user name or password before its host ({visible(netloc.rpartition('@')[2])}); "
                "nothing is sent to it",
                provider=provider_id,
                cause="Text before an @ in a URL is not the host, and can be made to look like one",
                fix=f"Set {setting} to the plain URL of the API; put credentials in the key "
                f"(byok keys set {provider_id})",
            )
        reason = "it holds a blank or an invisible character"
    setting = f"byok.providers.{provider_id}.{ENDPOINT_SETTING.get(kind, 'baseUrl')}"
    raise ByokError(
        ErrorCode.INSECURE_ENDPOINT,
        f"{setting} is not a valid URL: {visible(reason)}",
        provider=provider_id,
        cause="The configured endpoint is not a valid URL",
        fix=f"Set {setting} to the full https:// URL of the API",
    )


RESPONSES_KINDS: tuple[ProviderKind, ...] = ("openai", "azure", "openai-compatible")
"""The provider kinds that may speak the Responses API."""


def default_api(kind: ProviderKind, names: tuple[str, ...]) -> WireApi:
    """The API a model speaks when its entry does not say: `responses` for OpenAI and Azure models whose name
    contains `codex` or ends in `-pro` (they answer only there), else `chat`. OpenAI-compatible servers get
    `chat` unless the entry says otherwise."""
    if kind in ("openai", "azure"):
        lowered = [name.lower() for name in names]
        if any("codex" in name or name.endswith("-pro") for name in lowered):
            return "responses"
    return "chat"


def create_provider(
    resolved: ResolvedProvider, key: str | None, client: httpx.AsyncClient, api: WireApi = "chat"
) -> Provider:
    """Build the adapter for a resolved provider, speaking `api` where the kind has a choice. The caller has
    already checked the key's binding (both APIs send the key to the same origin).

    A configured endpoint that does not parse is `insecure_endpoint` (see `check_endpoint`).
    """
    pid, kind, settings = resolved.provider_id, resolved.kind, resolved.settings
    endpoint = {"bedrock": settings.endpoint_url, "azure": settings.endpoint}.get(kind, resolved.base_url)
    if endpoint:
        check_endpoint(endpoint, pid, kind)
    if kind == "bedrock":
        from byok.providers.bedrock import BedrockProvider

        return BedrockProvider(pid, settings, key, client)
    if kind == "azure":
        from byok.providers.azure import AzureOpenAIProvider

        if not settings.endpoint or not settings.deployment:
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                "Azure needs an endpoint and a deployment",
                provider=pid,
                cause="byok.providers.azure.endpoint or .deployment is not set",
                fix="Paste the deployment's full URL from the Azure portal into byok.providers.azure.endpoint",
            )
        azure = AzureOpenAIProvider(
            pid, settings.endpoint, settings.deployment, settings.api_version, key, client
        )
        return _speaking(api, azure)
    base_url = resolved.base_url
    if not base_url:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            f"No baseUrl for provider {pid!r}",
            provider=pid,
            cause="A custom provider needs a base URL",
            fix=f"Set byok.providers.{pid}.baseUrl",
        )
    if kind == "anthropic":
        from byok.providers.anthropic import AnthropicProvider

        return AnthropicProvider(pid, base_url, key, client)
    if kind == "google":
        from byok.providers.google import GeminiProvider

        return GeminiProvider(pid, base_url, key, client)
    from byok.providers.openai import OpenAIProvider

    chat = OpenAIProvider(
        pid, base_url, key, client, compatible=kind == "openai-compatible", extra_headers=settings.headers
    )
    return _speaking(api, chat)


def _speaking(api: WireApi, endpoint: OpenAIProvider) -> Provider:
    """The adapter for `api` on an OpenAI-style endpoint: the endpoint's own (chat), or Responses on it."""
    if api == "chat":
        return endpoint
    from byok.providers.openai_responses import ResponsesProvider

    return ResponsesProvider(endpoint)
