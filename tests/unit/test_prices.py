"""Price lookups for every id shape providers use, overrides, and cost arithmetic."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byok.base.config import PriceSettings
from byok.base.tokens import estimate_tokens
from byok.core.prices import (
    Price,
    Quote,
    cost_usd,
    estimate_input_tokens,
    max_input_tokens,
    price_for,
    quote,
    saved_usd,
    user_price,
)
from byok.providers.base import ChatRequest, Message, ToolCall, ToolSpec, Usage

SONNET = (3.0, 15.0)
OPUS_OLD = (15.0, 75.0)


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        # the seed's figures
        ("gpt-4o", "openai", (2.5, 10.0)),
        ("gpt-4o-mini", "openai", (0.15, 0.6)),
        ("claude-3-5-sonnet-20241022", "anthropic", SONNET),
        ("claude-opus-4-1-20250805", "anthropic", OPUS_OLD),
        ("claude-opus-4-20250514", "anthropic", OPUS_OLD),
        ("o1", "openai", (15.0, 60.0)),
        # date suffixes, -latest, newer families
        ("gpt-4o-2024-08-06", "openai", (2.5, 10.0)),
        ("gpt-4o-mini-2024-07-18", None, (0.15, 0.6)),
        ("gpt-4o-2024-05-13", "openai", (5.0, 15.0)),  # the first snapshot was dearer
        ("o1-2024-12-17", "openai", (15.0, 60.0)),
        ("o3-2025-04-16", "openai", (2.0, 8.0)),
        ("o4-mini-2025-04-16", "openai", (1.1, 4.4)),
        ("o3-mini", "azure", (1.1, 4.4)),
        ("gpt-4-0613", "openai", (30.0, 60.0)),
        ("claude-sonnet-4-5-20250929", "anthropic", SONNET),
        ("claude-3-5-sonnet-latest", "anthropic", SONNET),
        ("claude-opus-4-5-20251101", "anthropic", (5.0, 25.0)),
        ("claude-opus-4-6", "anthropic", (5.0, 25.0)),
        ("claude-haiku-4-5-20251001", "anthropic", (1.0, 5.0)),
        ("claude-3-5-haiku-latest", "anthropic", (0.8, 4.0)),
        ("claude-3-5-sonnet-v2@20241022", "vertex", SONNET),
        ("gemini-2.5-pro", "google", (1.25, 10.0)),
        ("gemini-2.5-flash", "google", (0.3, 2.5)),
        ("models/gemini-2.0-flash-001", "google", (0.1, 0.4)),
        ("gemini-2.5-pro-preview-05-06", "google", (1.25, 10.0)),
        ("gemini-3-pro-preview", "google", (2.0, 12.0)),
        # Bedrock: vendor prefix, region prefix, version suffix, context-size suffix, ARNs
        ("anthropic.claude-3-5-sonnet-20241022-v2:0", "bedrock", SONNET),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "bedrock", SONNET),
        ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "bedrock", SONNET),
        ("anthropic.claude-3-haiku-20240307-v1:0:200k", "bedrock", (0.25, 1.25)),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock", (3.3, 16.5)),  # regional +10%
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock", SONNET),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0",
            "bedrock",
            OPUS_OLD,
        ),
        ("meta.llama3-70b-instruct-v1:0", "bedrock", (2.65, 3.5)),
        ("us.meta.llama3-3-70b-instruct-v1:0", "bedrock", (0.72, 0.72)),
        ("amazon.nova-pro-v1:0", "bedrock", (0.8, 3.2)),
        ("us.amazon.nova-lite-v1:0", "bedrock", (0.06, 0.24)),
        # OpenRouter vendor/model ids, with OpenRouter's dotted Claude versions and variants
        ("openai/gpt-4o", "openrouter", (2.5, 10.0)),
        ("anthropic/claude-3.5-sonnet", "openrouter", SONNET),
        ("anthropic/claude-sonnet-4.5", "openrouter", SONNET),
        ("anthropic/claude-3.7-sonnet:thinking", "openrouter", SONNET),
        ("google/gemini-2.5-flash", "openrouter", (0.3, 2.5)),
        ("meta-llama/llama-3.3-70b-instruct:free", "openrouter", (0.0, 0.0)),
    ],
)
def test_table_prices(model: str, provider: str | None, expected: tuple[float, float]) -> None:
    price = price_for(model, provider, {})
    assert price is not None, model
    assert (price.input, price.output) == pytest.approx(expected)


@pytest.mark.parametrize(
    "model",
    [
        "llama3",
        "gpt-4o-audio-preview",  # not the text price: unknown rather than guessed
        "o1-pro-ish",
        "meta-llama/llama-3.3-70b-instruct",  # OpenRouter's own price is not in the table
        "mistral.unknown-model-v1:0",
        "",
    ],
)
def test_unknown_models_have_no_price(model: str) -> None:
    assert price_for(model, "openai", {}) is None


@pytest.mark.parametrize("provider", ["ollama", "lmstudio", "vllm"])
def test_local_servers_are_unknown_unless_the_user_prices_them(provider: str) -> None:
    assert price_for("gpt-oss-20b", provider, {}) is None
    assert price_for("gpt-4o", provider, {}) is None  # a local model named like a cloud one is not billed
    free = {f"{provider}/*": PriceSettings(input=0, output=0)}
    assert price_for("gpt-4o", provider, free) == Price(0.0, 0.0)


def test_local_flag_overrides_the_provider_id() -> None:
    assert price_for("gpt-4o", "my-box", {}, local=True) is None
    assert price_for("gpt-4o", "ollama", {}, local=False) == price_for("gpt-4o", "openai", {})


def test_override_precedence() -> None:
    overrides = {
        "OpenRouter/anthropic/claude-3.5-sonnet": PriceSettings(input=1, output=2),
        "claude-sonnet-4-5": PriceSettings(input=3, output=4, cache_read=0.5),
        "together/*": PriceSettings(input=5, output=6),
        "meta-llama/Llama-3.3-70B-Instruct-Turbo": PriceSettings(input=7, output=8),
        "gpt-4o": PriceSettings(input=9, output=10),
    }
    assert price_for("anthropic/claude-3.5-sonnet", "openrouter", overrides) == Price(1, 2)
    # a plain override name matches dated, Bedrock and OpenRouter spellings of the same model
    for model in ("claude-sonnet-4-5-20250929", "us.anthropic.claude-sonnet-4-5-20250929-v1:0"):
        assert price_for(model, "bedrock", overrides) == Price(3, 4, 0.5)
    assert price_for("anthropic/claude-sonnet-4.5", "openrouter", overrides) == Price(3, 4, 0.5)
    # an exact model beats the provider wildcard; the wildcard covers the rest
    assert price_for("meta-llama/Llama-3.3-70B-Instruct-Turbo", "together", overrides) == Price(7, 8)
    assert price_for("Qwen/Qwen3-235B", "together", overrides) == Price(5, 6)
    # settings beat the table
    assert price_for("gpt-4o-2024-08-06", "openai", overrides) == Price(9, 10)


def test_cost_uses_cached_price_for_the_cached_part_of_the_input() -> None:
    price = Price(input=2.5, output=10.0, cache_read=1.25)
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=400_000)
    assert cost_usd(price, usage) == pytest.approx(0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10.0)
    assert saved_usd(price, usage) == pytest.approx(0.4 * (2.5 - 1.25))
    assert cost_usd(Price(3.0, 15.0), usage) == pytest.approx(3.0 + 1.5)  # no cache price: full price
    assert saved_usd(Price(3.0, 15.0), usage) == 0.0
    assert cost_usd(None, usage) is None and saved_usd(None, usage) is None
    assert cost_usd(Price(0.0, 0.0), usage) == 0.0


def test_cost_counts_reads_and_writes_at_their_own_rates() -> None:
    sonnet = Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
    # 10k input of which 6k read from the cache and 3k written to it; 1k uncached; 500 output
    usage = Usage(input_tokens=10_000, output_tokens=500, cache_read_tokens=6_000, cache_write_tokens=3_000)
    expected = (1_000 * 3.0 + 6_000 * 0.3 + 3_000 * 3.75 + 500 * 15.0) / 1e6
    assert cost_usd(sonnet, usage) == pytest.approx(expected)
    uncached = (10_000 * 3.0 + 500 * 15.0) / 1e6
    assert saved_usd(sonnet, usage) == pytest.approx(uncached - expected)
    # the first turn of a run only writes: caching costs more than it saved, and says so
    first = Usage(input_tokens=10_000, output_tokens=500, cache_write_tokens=9_000)
    assert saved_usd(sonnet, first) == pytest.approx(-9_000 * 0.75 / 1e6)
    assert saved_usd(sonnet, first) < 0
    # reads and writes a provider over-reports are bounded by the input they are parts of
    wild = Usage(input_tokens=100, output_tokens=0, cache_read_tokens=80, cache_write_tokens=80)
    assert cost_usd(sonnet, wild) == pytest.approx((80 * 0.3 + 20 * 3.75) / 1e6)


def test_cache_read_price_is_read_under_its_new_and_its_old_name() -> None:
    assert PriceSettings.model_validate({"input": 1, "output": 2, "cacheRead": 0.1}).cache_read == 0.1
    assert PriceSettings.model_validate({"input": 1, "output": 2, "cachedInput": 0.2}).cache_read == 0.2
    table = json.loads(resources.files("byok").joinpath("data/prices.json").read_text(encoding="utf-8"))
    assert not [name for name, entry in table["models"].items() if "cachedInput" in entry]
    for name in ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"):
        price = price_for(name, "anthropic", {})
        assert price is not None and price.cache_write is not None and price.cache_read is not None
        # Anthropic's published rates: writes 1.25x, reads 0.1x the input price
        assert price.cache_write == pytest.approx(1.25 * price.input)
        assert price.cache_read == pytest.approx(0.1 * price.input)


def test_a_quote_prices_every_input_token_at_the_dearest_input_rate() -> None:
    sonnet = price_for("claude-sonnet-4-5-20250929", "anthropic", {})
    assert sonnet is not None and sonnet.cache_write == 3.75
    # below the long-context threshold: cache-write rate for input, list rate for output
    assert quote(sonnet, 10_000, caching=True) == Quote(
        pytest.approx(10_000 * 3.75 / 1e6), pytest.approx(15.0 / 1e6)
    )
    # with caching off nothing is written to the cache: the input price is the dearest
    assert quote(sonnet, 10_000, caching=False) == Quote(
        pytest.approx(10_000 * 3.0 / 1e6), pytest.approx(15.0 / 1e6)
    )
    # above it: the long-context price for all of it
    assert quote(sonnet, 300_000, caching=True) == Quote(
        pytest.approx(300_000 * 7.5 / 1e6), pytest.approx(22.5 / 1e6)
    )
    assert quote(Price(2.0, 8.0, cache_read=0.5), 1_000_000, caching=True) == Quote(2.0, 8.0 / 1e6)
    assert quote(None, 10, caching=True) is None
    assert Quote(0.5, 0.001).usd(100) == pytest.approx(0.6)


def test_long_context_and_cache_write_prices_from_the_table() -> None:
    gemini = price_for("gemini-2.5-pro", "google", {})
    assert gemini is not None and gemini.long_context is not None
    assert gemini.long_context[0] == 200_000 and gemini.long_context[1].output == 15.0
    long = Usage(input_tokens=250_000, output_tokens=1000)
    assert cost_usd(gemini, long) == pytest.approx((250_000 * 2.5 + 1000 * 15.0) / 1e6)
    short = Usage(input_tokens=200_000, output_tokens=1000)
    assert cost_usd(gemini, short) == pytest.approx((200_000 * 1.25 + 1000 * 10.0) / 1e6)
    bedrock = price_for("us.anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock", {})
    assert bedrock is not None and bedrock.cache_write == pytest.approx(1.375)


def test_max_input_tokens_bounds_what_any_tokenizer_can_count() -> None:
    text = "x = [1, 2, 3]  # ✓ 日本語 😀\n" * 100
    request = ChatRequest(model="m", messages=[Message("user", text)])
    assert max_input_tokens(request) >= len(text.encode())
    assert max_input_tokens(request) > 3 * estimate_input_tokens(request)
    with_tools = ChatRequest(
        model="m",
        messages=[
            *request.messages,
            Message("assistant", "", tool_calls=[ToolCall("call_1", "read_file", {"path": "a.py"})]),
            Message("tool", "contents", tool_call_id="call_1", name="read_file"),
        ],
        tools=[ToolSpec("read_file", "Read a file", {"type": "object"})],
    )
    assert max_input_tokens(with_tools) > max_input_tokens(request) + 1000  # the provider's tool prompt


def test_a_price_set_for_the_model_id_applies() -> None:
    overrides = {"my-deployment": PriceSettings(input=1, output=2, cache_write=1.5)}
    assert user_price("my-deployment", "azure", overrides) == Price(1, 2, None, 1.5)
    assert user_price("other", "azure", overrides) is None


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("def main():\n    return 42\n") == 7
    assert estimate_tokens("日本語のテキスト") == 8  # non-ASCII counts whole


@given(st.text(), st.text())
def test_estimate_tokens_is_monotonic_and_subadditive_within_rounding(a: str, b: str) -> None:
    whole = estimate_tokens(a + b)
    assert whole >= max(estimate_tokens(a), estimate_tokens(b))
    assert whole <= estimate_tokens(a) + estimate_tokens(b)


def test_estimate_input_tokens_counts_messages_and_tools() -> None:
    request = ChatRequest(
        model="m",
        messages=[Message("system", "x" * 400), Message("user", "y" * 40)],
        tools=[ToolSpec("read_file", "Read a file", {"type": "object"})],
    )
    bare = ChatRequest(model="m", messages=request.messages)
    assert estimate_input_tokens(bare) == 4 + 100 + 4 + 10
    assert estimate_input_tokens(request) > estimate_input_tokens(bare)


def test_table_has_no_zero_prices_and_loads_as_package_data() -> None:
    raw = json.loads(resources.files("byok").joinpath("data/prices.json").read_text(encoding="utf-8"))
    for section in (raw["models"], raw["bedrock"]["models"]):
        for name, entry in section.items():
            assert entry["input"] > 0 and entry["output"] > 0, name
            assert name == name.lower()
            price = price_for(name, None, {})
            assert price is not None, name
            if price.long_context is not None:  # a long-context price is never the cheaper one
                above = price.long_context[1]
                assert above.input >= price.input and above.output >= price.output, name
