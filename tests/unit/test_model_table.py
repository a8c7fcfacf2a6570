"""The shipped table of model limits, and which source (setting, verify, table) a route and the model list use."""

from __future__ import annotations

from byok.base.config import ModelSettings, Settings
from byok.core.model_table import SOURCE as TABLE_SOURCE
from byok.core.model_table import table_limits
from byok.core.routing import model_list, route
from byok.providers.base import ModelInfo


def test_table_matches_dated_prefixed_and_bedrock_spellings() -> None:
    for model_id, provider in [
        ("gpt-4.1-mini-2025-04-14", "openai"),
        ("claude-sonnet-4-5-20250929", "anthropic"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "bedrock"),
        ("anthropic/claude-sonnet-4.5", "openrouter"),
    ]:
        assert table_limits(model_id, provider) is not None, model_id
    limits = table_limits("gpt-4.1-mini-2025-04-14", "openai")
    assert limits is not None and (limits.context_window, limits.max_output_tokens) == (1047576, 32768)


def test_table_never_guesses() -> None:
    assert table_limits("gpt-4.1-mini", "ollama") is None  # a local server's name says nothing
    assert table_limits("gpt-9-ultra", "openai") is None
    assert table_limits("gpt-5.4-mini", "openai") is None  # not "gpt-5.4" by prefix


def test_setting_beats_verify_beats_table() -> None:
    verified = {"openai": [ModelInfo("gpt-4.1", 900000, 30000, "GET https://api.openai.com/v1/models")]}
    plain = route(Settings(), verified, "gpt-4.1")
    assert (plain.context_window, plain.max_output_tokens) == (900000, 30000)
    assert plain.context_source == "verify of openai (GET https://api.openai.com/v1/models)"
    table = route(Settings(), {}, "gpt-4.1")
    assert (table.context_window, table.context_source) == (1047576, TABLE_SOURCE)
    settings = Settings(
        models=[ModelSettings(id="mine", provider="openai", model="gpt-4.1", context_window=5000)]
    )
    mine = route(settings, verified, "mine")
    assert (mine.context_window, mine.max_output_tokens) == (
        5000,
        30000,
    )  # each field from the first that knows
    assert mine.context_source == "the setting byok.models[0].contextWindow"


def test_unknown_limits_stay_unknown() -> None:
    found = route(Settings(), {"ollama": [ModelInfo("mystery:latest")]}, "mystery:latest")
    assert (found.context_window, found.max_output_tokens, found.context_source) == (None, None, None)


def test_model_list_entries_carry_the_limits() -> None:
    verified = {"ollama": [ModelInfo("llama3.2:latest", 4096, None, "GET http://127.0.0.1:11434/api/ps")]}
    entries = {e["id"]: e for e in model_list(Settings(), verified)}
    assert entries["llama3.2:latest"]["contextWindow"] == 4096
    assert (
        entries["llama3.2:latest"]["contextWindowSource"]
        == "verify of ollama (GET http://127.0.0.1:11434/api/ps)"
    )
    assert entries["llama3.2:latest"]["maxOutputTokens"] is None
    assert entries["builtin-tab"]["contextWindow"] is None
