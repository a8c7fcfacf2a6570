"""Settings: one fully defaulted pydantic model with camelCase aliases.

Invalid settings never crash the server: `load_settings` keeps every valid part, falls back to the
defaults for the invalid ones, and returns the problems so the server can show them to the user.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import AliasGenerator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

ProviderKind = Literal["openai", "anthropic", "google", "azure", "bedrock", "openai-compatible"]


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
        populate_by_name=True,
        extra="ignore",
    )


class ProviderSettings(CamelModel):
    """Per-provider settings; every field is optional and filled from the provider's preset."""

    kind: ProviderKind | None = None
    base_url: str | None = None
    # Azure OpenAI
    endpoint: str | None = None
    deployment: str | None = None
    api_version: str | None = None
    # AWS Bedrock
    region: str | None = None
    endpoint_url: str | None = None
    profile: str | None = None
    # Extra, non-secret headers (e.g. OpenRouter's HTTP-Referer / X-Title).
    headers: dict[str, str] = Field(default_factory=dict)
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    """The env var holding this provider's key; such a key is sent only over a route bound with bindKey."""

    @field_validator("headers")
    @classmethod
    def _no_auth_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        secret = {"authorization", "api-key", "x-api-key", "x-goog-api-key"}
        if any(name.lower() in secret for name in headers):
            raise ValueError("keys are never a setting; store them with byok.setKey")
        return headers

    def with_azure_url_expanded(self) -> ProviderSettings:
        """A full deployment URL pasted into `endpoint` fills endpoint, deployment and apiVersion."""
        if not self.endpoint or "/deployments/" not in self.endpoint:
            return self
        parts = urlsplit(self.endpoint)
        before, _, after = parts.path.partition("/deployments/")
        deployment = after.split("/")[0]
        root = before.removesuffix("/openai").rstrip("/")
        version = parse_qs(parts.query).get("api-version", [None])[0]
        return self.model_copy(
            update={
                "endpoint": f"{parts.scheme}://{parts.netloc}{root}",
                "deployment": self.deployment or deployment or None,
                "api_version": self.api_version or version,
            }
        )


class ModelSettings(CamelModel):
    """A model the user can pick: `id` is what they choose, `model` the provider's own name for it."""

    id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    model: str | None = None
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)

    @property
    def upstream(self) -> str:
        return self.model or self.id


ModelChoice = str | list[str] | None


class FeatureSettings(CamelModel):
    """The model id (or fallback list) for each BYOK feature. Tab and Apply are always built in."""

    chat: ModelChoice = None
    inline_edit: ModelChoice = None
    composer: ModelChoice = None
    agent: ModelChoice = None


class TimeoutSettings(CamelModel):
    connect_s: float = Field(default=10.0, gt=0)
    first_byte_s: float = Field(default=60.0, gt=0)
    """Limit for the provider's first byte, and for any silence inside a stream."""
    total_s: float = Field(default=600.0, gt=0)


class BudgetSettings(CamelModel):
    monthly_usd: float | None = Field(default=None, ge=0)
    per_provider: dict[str, float] = Field(default_factory=dict)


class RetrySettings(CamelModel):
    max_attempts: int = Field(default=3, ge=1, le=10)
    max_wait_s: float = Field(default=30.0, ge=0)


class PriceSettings(CamelModel):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)


class AgentSettings(CamelModel):
    allow_commands: bool = False
    """Headless opt-in (run_command, edits to run-able files) for a client that cannot ask the user."""
    apply_each_step: bool = False
    command_timeout_s: float = Field(default=60.0, gt=0)
    command_env: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        default_factory=list
    )
    """Environment variables passed to commands besides PATH, HOME, LANG, LC_*, TERM ... (an allow-list)."""
    permission_timeout_s: float = Field(default=300.0, gt=0)
    """How long a consent question waits for the user; no answer denies."""


class ContextSettings(CamelModel):
    max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Total bytes of the files one request sends as context (chat, composer, inline edit)."""


class Settings(CamelModel):
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    models: list[ModelSettings] = Field(default_factory=list)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    proxy: str | None = None
    ca_bundle: str | None = None
    max_output_tokens: int = Field(default=4096, gt=0)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    prices: dict[str, PriceSettings] = Field(default_factory=dict)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)


def load_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Validate raw settings; invalid top-level parts fall back to their defaults and are reported."""
    if raw is None:
        return Settings(), []
    if not isinstance(raw, dict):
        return Settings(), [f"byok settings must be an object, got {type(raw).__name__}; using defaults"]
    data = dict(raw)
    problems: list[str] = []
    for _ in range(len(data) + 1):
        try:
            return Settings.model_validate(data), problems
        except ValidationError as exc:
            bad_keys = set()
            for error in exc.errors():
                location = ".".join(str(part) for part in error["loc"])
                problems.append(f"byok.{location}: {error['msg']} (using the default)")
                bad_keys.add(error["loc"][0] if error["loc"] else None)
            for key in bad_keys:
                data.pop(str(key), None)
    return Settings(), problems
