"""The price table: USD per 1M tokens for a model id in any of the shapes providers use.

The table ships as `byok/data/prices.json`; the `byok.prices` setting overrides or adds entries. A model
we have no price for costs `None` ("unknown"), never 0. Local servers (ollama, lmstudio, llamacpp, vllm) are priced
only by the user's settings (e.g. `"ollama/*": {"input": 0, "output": 0}`), never from the cloud table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from byok.base.config import PriceSettings
from byok.base.tokens import estimate_tokens
from byok.providers.base import ChatRequest, Usage

LOCAL_PROVIDERS = frozenset({"ollama", "lmstudio", "llamacpp", "vllm"})
"""Provider ids whose models run on the user's machine: no table price, only the user's own."""

_PER_MESSAGE_TOKENS = 4
_FRAMING_TOKENS = 16
"""Bound on the tokens a provider wraps around each message, tool call or tool (roles, separators)."""
_TOOL_PROMPT_TOKENS = 1000
"""Bound on the system prompt a provider adds when tools are offered (Anthropic documents up to 530)."""

_BEDROCK_ID = re.compile(
    r"^(?:(?P<region>us|us-gov|eu|apac|au|ca|jp|global)\.)?"
    r"(?P<vendor>anthropic|amazon|meta|mistral|cohere|ai21|deepseek|openai|qwen|google|nvidia|writer)\."
    r"(?P<name>.+)$"
)
_SUFFIXES = (
    re.compile(r":[a-z0-9.]+$"),  # Bedrock ":0", OpenRouter ":thinking"
    re.compile(r"-v\d+$"),  # Bedrock "-v2"
    re.compile(r"@[a-z0-9]+$"),  # Vertex "@20241022"
    re.compile(r"-latest$"),
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # OpenAI snapshots
    re.compile(r"-\d{8}$"),  # Anthropic snapshots
    re.compile(r"-preview$"),
    re.compile(r"-\d{2}-\d{2}$"),  # Gemini "-preview-05-06"
    re.compile(r"-\d{3,4}$"),  # Gemini "-002", OpenAI "-0613"
)
_CLAUDE_DOT = re.compile(r"(?<=\d)\.(?=\d)")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per 1M tokens. `cache_read` is the price of input read from the prompt cache and `cache_write` of
    input written to it; None means "same as input". `long_context` is (threshold, price): a request with
    more input tokens than the threshold is priced wholly at that price (Gemini Pro, GPT-5.4, Claude Sonnet
    with 1M)."""

    input: float
    output: float
    cache_read: float | None = None
    cache_write: float | None = None
    long_context: tuple[int, Price] | None = None

    @classmethod
    def from_settings(cls, settings: PriceSettings) -> Price:
        return cls(settings.input, settings.output, settings.cache_read, settings.cache_write)

    def for_input(self, input_tokens: int) -> Price:
        """The price that applies to a request with `input_tokens` of input."""
        if self.long_context is not None and input_tokens > self.long_context[0]:
            return self.long_context[1]
        return self

    @property
    def read_rate(self) -> float:
        return self.input if self.cache_read is None else self.cache_read

    @property
    def write_rate(self) -> float:
        return self.input if self.cache_write is None else self.cache_write

    def highest_input(self, caching: bool) -> float:
        """The dearest an input token can be: plain, read from the cache, or (when caching) written to it."""
        return max(self.input, self.read_rate, self.write_rate if caching else 0.0)


@dataclass(frozen=True, slots=True)
class Quote:
    """The most a request can cost: its input (at the dearest input rate) plus a rate per output token."""

    input_usd: float
    output_usd_per_token: float = 0.0

    def usd(self, output_tokens: int) -> float:
        return self.input_usd + output_tokens * self.output_usd_per_token


def price_for(
    model: str,
    provider: str | None,
    overrides: Mapping[str, PriceSettings],
    *,
    local: bool | None = None,
) -> Price | None:
    """The price of `model` as sent to `provider`, or None when unknown.

    Settings win. An override key is matched, in order, as `"{provider}/{model}"` exactly, `model` exactly,
    a plain model name (no "/") equal to the model id without its date/version suffixes (so
    `"claude-sonnet-4-5"` prices `claude-sonnet-4-5-20250929`), and finally `"{provider}/*"`.
    `local` (default: the provider id is one of `LOCAL_PROVIDERS`) skips the shipped table.
    Azure callers should pass the deployment's underlying model name when they know it.
    """
    override = user_price(model, provider, overrides)
    if override is not None:
        return override
    if local if local is not None else (provider or "").lower() in LOCAL_PROVIDERS:
        return None
    return _table_price(model)


def cost_usd(price: Price | None, usage: Usage) -> float | None:
    """What `usage` costs at `price`; None when the price is unknown.

    Cost = uncached input x input + cache reads x read + cache writes x write + output x output, where
    `usage.input_tokens` counts every input token and the cache reads and writes are parts of it.
    """
    if price is None:
        return None
    tier = price.for_input(usage.input_tokens)
    reads, writes = _cache_parts(usage)
    total = (
        (usage.input_tokens - reads - writes) * tier.input
        + reads * tier.read_rate
        + writes * tier.write_rate
        + usage.output_tokens * tier.output
    )
    return total / 1_000_000


def saved_usd(price: Price | None, usage: Usage) -> float | None:
    """What prompt caching saved on `usage` against paying for all its input at the input price; negative when
    the cache writes cost more than the reads saved. None when the price is unknown."""
    if price is None:
        return None
    tier = price.for_input(usage.input_tokens)
    reads, writes = _cache_parts(usage)
    return (reads * (tier.input - tier.read_rate) + writes * (tier.input - tier.write_rate)) / 1_000_000


def _cache_parts(usage: Usage) -> tuple[int, int]:
    """(cache reads, cache writes), bounded so that together they never exceed the input."""
    reads = min(max(usage.cache_read_tokens, 0), usage.input_tokens)
    writes = min(max(usage.cache_write_tokens, 0), usage.input_tokens - reads)
    return reads, writes


def quote(price: Price | None, max_input_tokens: int, *, caching: bool) -> Quote | None:
    """The most a request with at most `max_input_tokens` of input can cost; None when the price is unknown.

    Every input token is priced at the dearest input-side rate that can apply: the cache-write rate when
    caching is on, and the long-context price above its threshold.
    """
    if price is None:
        return None
    tier = price.for_input(max_input_tokens)
    return Quote(max_input_tokens * tier.highest_input(caching) / 1_000_000, tier.output / 1_000_000)


def estimate_input_tokens(request: ChatRequest) -> int:
    """Estimated input tokens of a whole request: messages, tool calls, tool schemas, framing."""
    total = 0
    for message in request.messages:
        total += _PER_MESSAGE_TOKENS + estimate_tokens(message.content)
        for call in message.tool_calls:
            total += estimate_tokens(call.name) + estimate_tokens(
                call.raw_arguments or json.dumps(call.arguments)
            )
    for tool in request.tools:
        total += estimate_tokens(tool.name + tool.description + json.dumps(tool.parameters))
    return total


def max_input_tokens(request: ChatRequest) -> int:
    """An upper bound on a request's input tokens, for reservations: one token per UTF-8 byte of text (no
    tokenizer makes a token of less than a byte), plus framing per message, tool call and tool, plus the
    system prompt providers add when tools are offered."""
    total = _FRAMING_TOKENS
    for message in request.messages:
        total += _FRAMING_TOKENS + _utf8_bytes(message.content)
        for call in message.tool_calls:
            arguments = call.raw_arguments or json.dumps(call.arguments)
            total += _FRAMING_TOKENS + _utf8_bytes(call.id + call.name + arguments)
        total += _utf8_bytes(message.tool_call_id or "") + _utf8_bytes(message.name or "")
    for tool in request.tools:
        total += _FRAMING_TOKENS + _utf8_bytes(tool.name + tool.description + json.dumps(tool.parameters))
    return total + (_TOOL_PROMPT_TOKENS if request.tools else 0)


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def user_price(model: str, provider: str | None, overrides: Mapping[str, PriceSettings]) -> Price | None:
    """The price the user set for `model` in `byok.prices` (matched as `price_for` describes), or None."""
    if not overrides:
        return None
    keyed = {key.strip().lower(): value for key, value in overrides.items()}
    name = model.strip().lower()
    scope = (provider or "").lower()
    if scope and (hit := keyed.get(f"{scope}/{name}")) is not None:
        return Price.from_settings(hit)
    if (hit := keyed.get(name)) is not None:
        return Price.from_settings(hit)
    plain = {_dotless(key): value for key, value in keyed.items() if "/" not in key}
    bare = name.rsplit("/", 1)[-1]
    if match := _BEDROCK_ID.match(bare):
        bare = match["name"]
    for candidate in _candidates(bare):
        if (hit := plain.get(candidate)) is not None:
            return Price.from_settings(hit)
    if scope and (hit := keyed.get(f"{scope}/*")) is not None:
        return Price.from_settings(hit)
    return None


def _table_price(model: str) -> Price | None:
    models, bedrock = _table()
    name = model.strip().lower().rsplit("/", 1)[-1]  # OpenRouter "vendor/model", ARNs, "models/..."
    if name.endswith(":free"):
        return Price(0.0, 0.0)
    match = _BEDROCK_ID.match(name)
    if match:
        if match["region"] != "global":
            for candidate in _candidates(f"{match['vendor']}.{match['name']}"):
                if candidate in bedrock:
                    return bedrock[candidate]
        name = match["name"]
    for candidate in _candidates(name):
        if candidate in models:
            return models[candidate]
    return None


def bare_model_name(model: str) -> str:
    """A model's own name: lower case, without an OpenRouter `vendor/`, a Bedrock region and vendor, or
    dots in a Claude version (`us.anthropic.claude-sonnet-4-5-...` -> `claude-sonnet-4-5-...`)."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if match := _BEDROCK_ID.match(name):
        name = match["name"]
    return _dotless(name)


def table_names(model: str) -> Iterator[str]:
    """The names a shipped table may list `model` under, most specific first: its bare name, then with one
    more date/version suffix removed each step."""
    yield from _candidates(bare_model_name(model))


def _candidates(name: str) -> Iterator[str]:
    """`name`, then `name` with one more date/version/alias suffix removed each step."""
    current = _dotless(name)
    yield current
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            stripped = suffix.sub("", current)
            if stripped != current and stripped:
                current = stripped
                changed = True
                yield current
                break


def _dotless(name: str) -> str:
    """Claude ids are spelled `claude-3.5-sonnet` on OpenRouter and `claude-3-5-sonnet` elsewhere."""
    return _CLAUDE_DOT.sub("-", name) if "claude" in name else name


@cache
def _table() -> tuple[dict[str, Price], dict[str, Price]]:
    raw = json.loads(resources.files("byok").joinpath("data/prices.json").read_text(encoding="utf-8"))
    return _parse(raw["models"]), _parse(raw["bedrock"]["models"])


def _parse(entries: dict[str, Any]) -> dict[str, Price]:
    return {name.lower(): _entry(entry) for name, entry in entries.items()}


def _entry(entry: dict[str, Any]) -> Price:
    """A table entry, validated as strictly as a setting; `longContext` adds `above` (tokens) to a price."""
    price = Price.from_settings(PriceSettings.model_validate(entry))
    long_context = entry.get("longContext")
    if long_context is None:
        return price
    return replace(price, long_context=(int(long_context["above"]), _entry(long_context)))
