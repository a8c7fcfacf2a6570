"""Which API a model is spoken to on: a model entry's `api`, else the default rule for its provider's kind."""

from __future__ import annotations

from typing import Any

import pytest

from byok.base.config import load_settings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.routing import route, verify_api

AZURE = {"endpoint": "https://res.openai.azure.com", "deployment": "gpt-4o-prod"}


def api_of(model_id: str, **raw: Any) -> str:
    settings, problems = load_settings(raw)
    assert problems == []
    return route(settings, {}, model_id).api


@pytest.mark.parametrize(
    ("model_id", "api"),
    [
        ("gpt-5.3-codex", "responses"),
        ("gpt-5.4-pro", "responses"),
        ("o3-pro", "responses"),
        ("openai/GPT-5-Codex-Mini", "responses"),
        ("gpt-4.1", "chat"),
        ("gpt-5.4", "chat"),
        ("o4-mini", "chat"),
        ("gpt-5-professional", "chat"),
        ("claude-opus-4-5", "chat"),
        ("gemini-2.5-pro", "chat"),
    ],
)
def test_default_rule_for_well_known_ids(model_id: str, api: str) -> None:
    assert api_of(model_id) == api


def test_the_setting_always_wins() -> None:
    models = [
        {"id": "codex-on-chat", "provider": "openai", "model": "gpt-5.3-codex", "api": "chat"},
        {"id": "mini", "provider": "openai", "model": "gpt-4.1-mini", "api": "responses"},
        {"id": "fast", "provider": "openai", "model": "gpt-5.4-pro"},
    ]
    assert api_of("codex-on-chat", models=models) == "chat"
    assert api_of("mini", models=models) == "responses"
    assert api_of("fast", models=models) == "responses", "the upstream name counts, not only the id"


def test_compatible_servers_speak_chat_unless_the_entry_says_responses() -> None:
    models = [
        {"id": "local-codex", "provider": "vllm", "model": "gpt-5.3-codex"},
        {"id": "litellm-codex", "provider": "vllm", "model": "gpt-5.3-codex", "api": "responses"},
    ]
    assert api_of("local-codex", models=models) == "chat"
    assert api_of("vllm/o3-pro") == "chat"
    assert api_of("litellm-codex", models=models) == "responses"


def test_azure_deployment_name_counts() -> None:
    codex = {"azure": {**AZURE, "deployment": "codex-prod"}}
    models = [{"id": "work", "provider": "azure"}]
    assert api_of("work", providers={"azure": AZURE}, models=models) == "chat"
    assert api_of("work", providers=codex, models=models) == "responses"
    settings, _ = load_settings({"providers": codex})
    assert verify_api(settings, "azure") == "responses", "the deployment probe goes where the model answers"
    settings, _ = load_settings(
        {"providers": codex, "models": [{"id": "w", "provider": "azure", "api": "chat"}]}
    )
    assert verify_api(settings, "azure") == "chat"


def test_responses_on_a_family_without_it_names_the_field() -> None:
    settings, _ = load_settings(
        {
            "models": [
                {"id": "x", "provider": "openai"},
                {"id": "c", "provider": "anthropic", "api": "responses"},
            ]
        }
    )
    with pytest.raises(ByokError) as info:
        route(settings, {}, "c")
    assert info.value.code == ErrorCode.BAD_REQUEST
    assert "byok.models[1].api" in str(info.value) and "anthropic" in str(info.value)


def test_an_invalid_api_value_falls_back_and_is_reported() -> None:
    settings, problems = load_settings({"models": [{"id": "m", "provider": "openai", "api": "completions"}]})
    assert any("models.0.api" in problem for problem in problems), problems
    assert settings.models == [], "byok.models falls back to its default"
