"""Settings: one fully defaulted pydantic model with camelCase aliases.

Invalid settings never crash the server: `load_settings` keeps every valid part, falls back to the
defaults for the invalid ones, and returns the problems so the server can show them to the user. Money
fails closed: an invalid price entry is left out (the model may then have no price), and an invalid budget
entry blocks the paid requests it would have limited instead of falling back to "no limit".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

ProviderKind = Literal["openai", "anthropic", "google", "azure", "bedrock", "openai-compatible"]
WireApi = Literal["chat", "responses"]
"""The OpenAI API a model is spoken to on: Chat Completions or the Responses API."""


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


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
REASONING_EFFORTS: tuple[ReasoningEffort, ...] = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
"""Every effort, least to most; `none` turns reasoning off where the model allows it."""


class ReasoningSettings(CamelModel):
    """How hard a model should think, as asked (core fits it to what the model supports)."""

    model_config = ConfigDict(extra="forbid")
    effort: ReasoningEffort | None = None
    budget_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    """A thinking budget in tokens, for APIs that take one; others get the nearest effort."""
    summary: bool | None = None
    """Ask for the model's reasoning (or its summary) to be streamed."""

    def over(self, lower: ReasoningSettings | None) -> ReasoningSettings:
        """These settings on top of `lower`: `effort` and `budgetTokens` are one knob (a layer that sets
        either replaces both), `summary` is taken from the highest layer that sets it."""
        if lower is None:
            return self
        knob_set = self.effort is not None or self.budget_tokens is not None
        return ReasoningSettings(
            effort=self.effort if knob_set else lower.effort,
            budget_tokens=self.budget_tokens if knob_set else lower.budget_tokens,
            summary=self.summary if self.summary is not None else lower.summary,
        )


class ThinkingBudgetRange(CamelModel):
    model_config = ConfigDict(extra="forbid")
    min: int = Field(default=1, ge=0)
    max: int = Field(gt=0)


class ReasoningCapability(CamelModel):
    """What a model accepts: its efforts (empty: it does not reason) and, for models that take a thinking
    budget instead of an effort (Anthropic before adaptive thinking, Gemini 2.x), the budget's range."""

    model_config = ConfigDict(extra="forbid")
    efforts: list[ReasoningEffort]
    budget: ThinkingBudgetRange | None = None


class ModelSettings(CamelModel):
    """A model the user can pick: `id` is what they choose, `model` the provider's own name for it."""

    id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    model: str | None = None
    context_window: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    reasoning: ReasoningSettings | None = None
    api: WireApi | None = None
    """Chat Completions or the Responses API (providers of kind openai, azure, openai-compatible); unset: the
    default rule in `providers.default_api`."""
    cache: bool | None = None
    """Prompt caching for this model; None follows the global `cache` setting."""

    @property
    def upstream(self) -> str:
        return self.model or self.id


ModelChoice = str | list[str] | None


class FeatureChoice(CamelModel):
    """A feature's model (or fallback list) and the reasoning it asks for; both optional."""

    model_config = ConfigDict(extra="forbid")
    model: ModelChoice = None
    reasoning: ReasoningSettings | None = None


class FeatureSettings(CamelModel):
    """Each BYOK feature's model: an id, a list of ids tried in order, or `{model, reasoning}`.
    Tab and Apply are always built in."""

    chat: ModelChoice | FeatureChoice = None
    inline_edit: ModelChoice | FeatureChoice = None
    composer: ModelChoice | FeatureChoice = None
    agent: ModelChoice | FeatureChoice = None

    def choice(self, feature: str) -> FeatureChoice:
        """The feature's setting (`feature` as on the wire: "inlineEdit") in object form."""
        value = getattr(self, to_snake(feature))
        return value if isinstance(value, FeatureChoice) else FeatureChoice(model=value)


class TimeoutSettings(CamelModel):
    connect_s: float = Field(default=10.0, gt=0)
    first_byte_s: float = Field(default=60.0, gt=0)
    """Limit for the provider's first byte, and for any silence inside a stream."""
    total_s: float = Field(default=600.0, gt=0)


Usd = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A price or a limit: finite and not negative."""
ALL_PROVIDERS = "*"


class BudgetSettings(CamelModel):
    """Spending limits. An invalid part is never dropped silently: `load` keeps the valid parts and marks
    the requests the invalid part would have limited as blocked (`problem_for`), so they are refused."""

    model_config = ConfigDict(extra="forbid")
    monthly_usd: Usd | None = None
    per_provider: dict[str, Usd] = Field(default_factory=dict)
    _invalid: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def load(cls, raw: Any) -> tuple[BudgetSettings, list[str]]:
        """Validate entry by entry: a bad `perProvider.<id>` blocks that provider, anything else all of them."""
        if raw is None:
            return cls(), []
        try:
            return cls.model_validate(raw), []
        except ValidationError as exc:
            errors = exc.errors()
        kept: dict[Any, Any] = dict(raw) if isinstance(raw, dict) else {}
        invalid: dict[str, str] = {}
        problems: list[str] = []
        for error in errors:
            location = error["loc"]
            field = ".".join(["byok.budget", *(str(part) for part in location)])
            limits = kept.get(location[0]) if location else None
            if (
                len(location) >= 2
                and location[0] in ("perProvider", "per_provider")
                and isinstance(limits, dict)
            ):
                scope = str(location[1])
                kept[location[0]] = {name: value for name, value in limits.items() if name != location[1]}
                blocked = f"paid requests to {scope} are refused until it is fixed"
            else:
                scope = ALL_PROVIDERS
                if location:
                    kept.pop(location[0], None)
                blocked = "paid requests are refused until it is fixed"
            invalid.setdefault(scope, f"{field}: {error['msg']}")
            problems.append(f"{field}: {error['msg']} ({blocked})")
        budget = cls.model_validate(kept)
        budget._invalid = invalid
        return budget, problems

    def problem_for(self, provider: str) -> str | None:
        """Why the limits on requests to `provider` are unknown (an invalid setting), or None."""
        return self._invalid.get(provider) or self._invalid.get(ALL_PROVIDERS)

    @property
    def limited(self) -> bool:
        """Whether any limit (or an invalid one, which blocks) applies to some provider."""
        return self.monthly_usd is not None or bool(self.per_provider) or bool(self._invalid)


class RetrySettings(CamelModel):
    max_attempts: int = Field(default=3, ge=1, le=10)
    max_wait_s: float = Field(default=30.0, ge=0)


class PriceSettings(CamelModel):
    """USD per 1M tokens; `cacheRead` (also read as its old name `cachedInput`) and `cacheWrite` default to
    `input`."""

    input: Usd
    output: Usd
    cache_read: Usd | None = Field(
        default=None, validation_alias=AliasChoices("cacheRead", "cachedInput", "cache_read", "cached_input")
    )
    cache_write: Usd | None = None

    @classmethod
    def load_table(cls, raw: Any) -> tuple[dict[str, PriceSettings], list[str]]:
        """Validate `byok.prices` entry by entry: an invalid entry is left out and reported."""
        if raw is None:
            return {}, []
        if not isinstance(raw, dict):
            return {}, [f"byok.prices must be an object, got {type(raw).__name__} (no price is overridden)"]
        prices: dict[str, PriceSettings] = {}
        problems: list[str] = []
        for model, entry in raw.items():
            try:
                prices[str(model)] = cls.model_validate(entry)
            except ValidationError as exc:
                problems += [
                    f"byok.prices.{model}{''.join(f'.{part}' for part in error['loc'])}: {error['msg']} "
                    "(this price is ignored)"
                    for error in exc.errors()
                ]
        return prices, problems


ReviewMode = Literal["apply", "preview"]
"""How edits reach the editor: applied (`apply`) or as a preview the user confirms change by change."""


class CommandSettings(CamelModel):
    """`agent.commands`: patterns run_command checks (`*` = any characters); deny beats allow."""

    allow: list[str] = Field(default_factory=list)
    deny: list[str] = Field(default_factory=list)


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
    commands: CommandSettings = Field(default_factory=CommandSettings)
    review: ReviewMode = "apply"


class ComposerSettings(CamelModel):
    review: ReviewMode = "apply"


class ContextSettings(CamelModel):
    max_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    """Total bytes of the files one request sends as context (chat, composer, inline edit)."""


class RulesSettings(CamelModel):
    """Project rules (AGENTS.md, CLAUDE.md, .cursor/rules ...) sent at the start of every system prompt."""

    enabled: bool = True
    max_bytes: int = Field(default=32 * 1024, ge=0, le=1024 * 1024)
    """Bytes of rules text one request sends in all; the rest is cut, and the prompt says so."""
    extra_files: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        default_factory=list, max_length=100
    )
    """More rules files: paths inside the workspace or byok's config dir (anything else is refused)."""


class CheckpointSettings(CamelModel):
    """Bounds of the per-workspace checkpoint store (oldest dropped first)."""

    max_count: int = Field(default=50, ge=1, le=10_000, validation_alias="max", serialization_alias="max")
    max_mb: float = Field(
        default=100.0,
        gt=0,
        le=100_000,
        allow_inf_nan=False,
        validation_alias="maxMB",
        serialization_alias="maxMB",
    )

    @property
    def max_bytes(self) -> int:
        return int(self.max_mb * 1024 * 1024)


def user_config_dir() -> Path:
    """byok's config dir (settings.json, the user-level rules.md): platformdirs' user config path."""
    import platformdirs

    return platformdirs.user_config_path("byok")


EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SECRET_REFERENCE = re.compile(r"\$\{(env|keyring):([^}]*)\}")
"""`${env:VAR}` or `${keyring:NAME}` inside an MCP server's `env` value or header: resolved at start."""


class McpServerSettings(CamelModel):
    """One MCP server: a command to run (stdio) or a URL (streamable HTTP, legacy SSE as fallback)."""

    model_config = ConfigDict(extra="forbid")
    command: str | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[EnvName, str] = Field(default_factory=dict)
    cwd: str | None = Field(default=None, min_length=1)
    url: str | None = Field(default=None, pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    auto_approve: list[str] | Literal["*"] = Field(default_factory=list)
    """Tools called without asking: their MCP names, or "*" for all of this server's tools."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Limit for starting the server and for each tool call or resource read."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (stdio) or `url` (HTTP), not both or neither")
        if self.url is None and self.headers:
            raise ValueError("`headers` go with `url`; a stdio server takes `env`")
        if self.command is None and (self.args or self.env or self.cwd):
            raise ValueError("`args`, `env` and `cwd` go with `command`; an HTTP server takes `headers`")
        for text in [*self.env.values(), *self.headers.values()]:
            for kind, name in SECRET_REFERENCE.findall(text):
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,127}", name):
                    raise ValueError(f"${{{kind}:{name}}} is not a valid reference name")
        return self

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    def auto_approves(self, tool: str) -> bool:
        return self.auto_approve == "*" or tool in self.auto_approve


class McpSettings(CamelModel):
    servers: dict[str, McpServerSettings] = Field(default_factory=dict)
    start_on_launch: bool = False
    """Start every enabled server when the settings arrive, not on the agent's first use."""
    max_result_bytes: int = Field(default=64 * 1024, gt=0)
    """Bytes of one MCP tool result's text passed to the model; the rest is cut and the cut is said."""

    @classmethod
    def load(cls, raw: Any) -> tuple[McpSettings, list[str]]:
        """Validate server by server: an invalid server is left out and reported, the others kept."""
        if raw is None:
            return cls(), []
        if not isinstance(raw, dict):
            return cls(), [f"byok.mcp must be an object, got {type(raw).__name__} (no MCP server is used)"]
        data = dict(raw)
        servers = data.pop("servers", None)
        problems: list[str] = []
        kept: dict[str, McpServerSettings] = {}
        if isinstance(servers, dict):
            for name, entry in servers.items():
                if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", str(name)):
                    problems.append(
                        f"byok.mcp.servers.{name}: a server name is 1-64 letters, digits, '_', '-' or '.' "
                        "(this server is ignored)"
                    )
                    continue
                try:
                    kept[str(name)] = McpServerSettings.model_validate(entry)
                except ValidationError as exc:
                    problems += [
                        f"byok.mcp.servers.{name}{''.join(f'.{part}' for part in error['loc'])}: "
                        f"{error['msg']} (this server is ignored)"
                        for error in exc.errors()
                    ]
        elif servers is not None:
            problems.append("byok.mcp.servers must be an object of servers by name (none is used)")
        try:
            settings = cls.model_validate(data)
        except ValidationError as exc:
            problems += [
                f"byok.mcp.{'.'.join(str(p) for p in error['loc'])}: {error['msg']} (using the default)"
                for error in exc.errors()
            ]
            settings = cls()
        return settings.model_copy(update={"servers": kept}), problems


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
    composer: ComposerSettings = Field(default_factory=ComposerSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    checkpoints: CheckpointSettings = Field(default_factory=CheckpointSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    reasoning_models: dict[str, ReasoningCapability] = Field(default_factory=dict)
    """Model-name glob -> what it accepts; consulted before the shipped table (byok/data/reasoning.json)."""
    cache: bool = True
    """Prompt caching: cache breakpoints (Anthropic, Bedrock) and a per-workspace cache key (OpenAI, Azure)."""
    discover_local_servers: bool = True
    """With no key and no model configured, look for Ollama, LM Studio, llama.cpp or vLLM on this machine."""


def load_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Validate raw settings; invalid parts fall back to their defaults (budget: block) and are reported."""
    if raw is None:
        return Settings(), []
    if not isinstance(raw, dict):
        return Settings(), [f"byok settings must be an object, got {type(raw).__name__}; using defaults"]
    data = dict(raw)
    budget, problems = BudgetSettings.load(data.pop("budget", None))
    prices, price_problems = PriceSettings.load_table(data.pop("prices", None))
    problems += price_problems + _drop_invalid_reasoning(data)
    mcp, mcp_problems = McpSettings.load(data.pop("mcp", None))
    problems += mcp_problems
    for _ in range(len(data) + 1):
        try:
            return Settings.model_validate(data).model_copy(
                update={"budget": budget, "prices": prices, "mcp": mcp}
            ), problems
        except ValidationError as exc:
            bad_keys = set()
            for error in exc.errors():
                location = ".".join(str(part) for part in error["loc"])
                problems.append(f"byok.{location}: {error['msg']} (using the default)")
                bad_keys.add(error["loc"][0] if error["loc"] else None)
            for key in bad_keys:
                data.pop(str(key), None)
    return Settings(budget=budget, prices=prices, mcp=mcp), problems


def _drop_invalid_reasoning(data: dict[str, Any]) -> list[str]:
    """Leave out (and report) each invalid `reasoning` of a model entry or feature and each invalid
    `reasoningModels` entry, so one bad value does not reset all models or features to their defaults."""
    places: list[tuple[str, dict[Any, Any], Any, type[BaseModel]]] = []
    models = data.get("models")
    if isinstance(models, list):
        models = data["models"] = [dict(m) if isinstance(m, dict) else m for m in models]
        places += [
            (f"byok.models.{index}.reasoning", entry, "reasoning", ReasoningSettings)
            for index, entry in enumerate(models)
            if isinstance(entry, dict)
        ]
    features = data.get("features")
    if isinstance(features, dict):
        features = data["features"] = {k: dict(v) if isinstance(v, dict) else v for k, v in features.items()}
        places += [
            (f"byok.features.{name}.reasoning", entry, "reasoning", ReasoningSettings)
            for name, entry in features.items()
            if isinstance(entry, dict)
        ]
    table = data.get("reasoningModels", data.get("reasoning_models"))
    if isinstance(table, dict):
        table = dict(table)
        data.pop("reasoning_models", None)
        data["reasoningModels"] = table
        places += [(f"byok.reasoningModels.{glob}", table, glob, ReasoningCapability) for glob in list(table)]
    problems: list[str] = []
    for where, holder, key, model in places:
        if holder.get(key) is None:
            continue
        try:
            model.model_validate(holder[key])
        except ValidationError as exc:
            del holder[key]
            problems += [
                f"{where}{''.join(f'.{part}' for part in error['loc'])}: {error['msg']} (left out)"
                for error in exc.errors()
            ]
    return problems
