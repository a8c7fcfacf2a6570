"""Reasoning settings: the capability table's fitting, the layering, settings loading, the output plan."""

from __future__ import annotations

import pytest

from byok.base.config import ReasoningCapability, ReasoningSettings, load_settings
from byok.base.errors import ByokError, error_for_status
from byok.base.names import ErrorCode
from byok.core.reasoning import capability, fit, fit_for_route, nearest_effort, plan_output
from byok.core.routing import Route
from byok.providers.base import Reasoning

# (model, asked effort, asked budget) -> (effort sent, budget sent); None effort = nothing sent
FITTING = [
    # OpenAI: effort only
    ("gpt-5.1", "minimal", None, "low", None),  # no minimal: low, never none
    ("gpt-5.1", "none", None, "none", None),
    ("gpt-5", "none", None, "minimal", None),  # cannot switch off: the least it takes
    ("gpt-5", "xhigh", None, "high", None),
    ("gpt-5-pro", "low", None, "high", None),  # takes only high
    ("gpt-5.2", "xhigh", None, "xhigh", None),
    ("gpt-5.2", "max", None, "xhigh", None),
    ("o3-mini", "minimal", None, "low", None),
    ("o4-mini-2025-04-16", "medium", None, "medium", None),
    ("gpt-5.1", None, 20000, "high", None),  # a budget on an effort model: the nearest effort
    ("gpt-5.1", None, 1500, "low", None),
    ("gpt-4.1", "high", None, None, None),  # does not reason: nothing sent
    ("o1-mini", "high", None, None, None),
    # Anthropic: budgets before adaptive thinking, efforts after
    ("claude-sonnet-4-5-20250929", "low", None, "low", 2048),
    ("claude-sonnet-4-5", "medium", None, "medium", 8192),
    ("claude-opus-4-1", "high", None, "high", 24576),
    ("claude-3-7-sonnet-latest", "max", None, "high", 24576),
    ("claude-haiku-4-5", "minimal", None, "low", 2048),
    ("claude-sonnet-4-5", None, 500, "low", 1024),  # under the API's 1024 minimum
    ("claude-sonnet-4-5", "high", 40000, "high", 40000),  # budgetTokens wins over the effort's default
    ("claude-sonnet-4-5", "none", None, "none", None),
    ("claude-opus-4-6", "xhigh", None, "max", None),
    ("claude-opus-4-6", "minimal", None, "low", None),
    ("claude-opus-5", "xhigh", None, "xhigh", None),
    ("claude-3-5-sonnet-20241022", "high", None, None, None),
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "medium", None, "medium", 8192),  # Bedrock profile
    ("anthropic/claude-3.7-sonnet", "low", None, "low", 2048),  # OpenRouter spelling
    # Gemini: levels for 3, budgets for 2.5
    ("gemini-3-pro-preview", "medium", None, "high", None),
    ("gemini-3-pro-preview", "minimal", None, "low", None),
    ("gemini-3-flash-preview", "minimal", None, "minimal", None),
    ("gemini-2.5-pro", "none", None, "low", 2048),  # Pro cannot switch thinking off
    ("gemini-2.5-flash", "none", None, "none", None),
    ("gemini-2.5-flash", "max", None, "high", 24576),
    ("gemini-2.5-flash", None, 100000, "high", 24576),  # clamped to the model's range
    ("gemini-2.5-flash-lite", "low", 100, "low", 512),
    # unknown models: as asked
    ("llama3.2", "minimal", None, "minimal", None),
    ("my-own-model", "high", 5000, "high", 5000),
]


@pytest.mark.parametrize(("model", "effort", "budget", "sent_effort", "sent_budget"), FITTING)
def test_fitting_table(
    model: str, effort: str | None, budget: int | None, sent_effort: str | None, sent_budget: int | None
) -> None:
    asked = ReasoningSettings.model_validate({"effort": effort, "budgetTokens": budget})
    fitted = fit(asked, capability(model, {}), model)
    if sent_effort is None:
        assert fitted.reasoning is None and fitted.note and "does not take" in fitted.note
        return
    assert fitted.reasoning == Reasoning(sent_effort, sent_budget, False)
    changed = (effort is not None and sent_effort != effort) or (budget is not None and sent_budget != budget)
    assert bool(fitted.note) == changed, fitted.note


def test_nearest_ties_go_up_and_never_to_none() -> None:
    assert nearest_effort("minimal", ["none", "low", "high"]) == "low"
    assert nearest_effort("medium", ["low", "high"]) == "high"
    assert nearest_effort("none", ["low", "high"]) == "low"
    assert nearest_effort("low", ["none"]) == "none"


def test_user_table_wins_and_matches_globs() -> None:
    mine = {"gpt-5*": ReasoningCapability(efforts=["low", "high"]), "llama*": ReasoningCapability(efforts=[])}
    assert capability("gpt-5.1", mine) == ReasoningCapability(efforts=["low", "high"])
    fitted = fit(ReasoningSettings(effort="medium"), capability("gpt-5.1", mine), "gpt-5.1")
    assert fitted.reasoning == Reasoning("high", None, False)
    assert fit(ReasoningSettings(effort="high"), capability("llama3.2", mine), "llama3.2").reasoning is None
    assert capability("claude-opus-4-6", mine) == capability("claude-opus-4-6", {})


def test_summary_alone_and_summary_with_effort() -> None:
    assert fit(ReasoningSettings(summary=True), capability("gemini-2.5-pro", {}), "m").reasoning == Reasoning(
        summary=True
    )
    assert fit(ReasoningSettings(summary=False), capability("gemini-2.5-pro", {}), "m").reasoning is None
    fitted = fit(ReasoningSettings(effort="high", summary=True), capability("o3", {}), "o3")
    assert fitted.reasoning == Reasoning("high", None, True)


def test_request_beats_feature_beats_model_entry() -> None:
    settings, problems = load_settings(
        {
            "models": [
                {
                    "id": "thinker",
                    "provider": "anthropic",
                    "model": "claude-sonnet-4-5",
                    "reasoning": {"effort": "low", "summary": True},
                },
            ],
            "features": {
                "chat": "thinker",
                "agent": {"model": "thinker", "reasoning": {"budgetTokens": 16000}},
            },
        }
    )
    assert problems == []
    route = Route("thinker", "anthropic", "claude-sonnet-4-5")
    chat = fit_for_route(settings, route, None, "chat")
    assert chat.reasoning == Reasoning("low", 2048, True)  # the model entry's
    agent = fit_for_route(settings, route, None, "agent")
    assert agent.reasoning == Reasoning("high", 16000, True), (
        "the feature's budget replaces the effort; summary stays"
    )
    asked = ReasoningSettings(effort="medium")
    assert fit_for_route(settings, route, asked, "agent").reasoning == Reasoning("medium", 8192, True)
    assert fit_for_route(settings, route, None, "composer").reasoning == Reasoning("low", 2048, True)
    assert fit_for_route(settings, Route("gpt-4o", "openai", "gpt-4o"), None, "composer").asked is None


def test_feature_object_form_routes_like_a_plain_id() -> None:
    settings, problems = load_settings(
        {
            "features": {
                "chat": {"model": ["a", "b"]},
                "inlineEdit": {"reasoning": {"effort": "none"}},
                "agent": "c",
            }
        }
    )
    assert problems == []
    assert settings.features.choice("chat").model == ["a", "b"]
    assert settings.features.choice("inlineEdit").model is None
    assert settings.features.choice("inlineEdit").reasoning == ReasoningSettings(effort="none")
    assert settings.features.choice("agent").model == "c"


def test_an_invalid_reasoning_is_left_out_alone() -> None:
    settings, problems = load_settings(
        {
            "models": [
                {"id": "a", "provider": "openai", "reasoning": {"effort": "extreme"}},
                {"id": "b", "provider": "openai", "reasoning": {"effort": "high", "budgetTokens": -5}},
            ],
            "features": {"chat": {"model": "a", "reasoning": {"effrt": "high"}}},
            "reasoningModels": {"mine-*": {"efforts": ["low", "loud"]}, "ok-*": {"efforts": ["high"]}},
        }
    )
    assert [m.id for m in settings.models] == ["a", "b"]
    assert all(m.reasoning is None for m in settings.models)
    assert settings.features.choice("chat").model == "a"
    assert list(settings.reasoning_models) == ["ok-*"]
    assert len(problems) == 4
    assert problems[0].startswith("byok.models.0.reasoning.effort: Input should be 'none', 'minimal'")
    assert problems[1].startswith(
        "byok.models.1.reasoning.budgetTokens: Input should be greater than or equal to 1"
    )
    assert problems[2].startswith("byok.features.chat.reasoning.effrt: Extra inputs are not permitted")
    assert problems[3].startswith("byok.reasoningModels.mine-*.efforts.1: Input should be")


def test_output_plan_adds_the_thinking_budget() -> None:
    assert plan_output(4096, None, None).max_tokens == 4096
    assert plan_output(4096, None, Reasoning("high")).min_tokens == 256
    plan = plan_output(4096, None, Reasoning("medium", 8192))
    assert (plan.max_tokens, plan.min_tokens, plan.thinking_tokens) == (12288, 8448, 8192)
    capped = plan_output(4096, 10000, Reasoning("medium", 8192))
    assert (capped.max_tokens, capped.min_tokens) == (10000, 8448)
    with pytest.raises(ByokError) as caught:
        plan_output(4096, 8500, Reasoning("medium", 8192))
    assert caught.value.code == ErrorCode.BAD_REQUEST
    assert "8192-token thinking budget" in caught.value.message and "budgetTokens" in caught.value.fix


def test_status_description_says_what_was_asked_when_fitting_changed_it() -> None:
    asked = ReasoningSettings(effort="minimal", summary=True)
    fitted = fit(asked, capability("gpt-5.1", {}), "gpt-5.1")
    assert fitted.describe() == {
        "effort": "low",
        "budgetTokens": None,
        "summary": True,
        "asked": {"effort": "minimal", "summary": True},
        "note": "gpt-5.1 takes none, low, medium, high; sent low",
    }
    assert fit(ReasoningSettings(effort="high"), None, "x").describe() == {
        "effort": "high",
        "budgetTokens": None,
        "summary": False,
    }
    none_sent = fit(ReasoningSettings(effort="high"), capability("gpt-4o", {}), "gpt-4o").describe()
    assert none_sent is not None and none_sent["effort"] is None and "does not take" in none_sent["note"]


@pytest.mark.parametrize(
    ("message", "supported"),
    [
        (
            "Unsupported value: 'reasoning_effort' does not support 'minimal' with this model. "
            "Supported values are: 'low', 'medium', and 'high'.",
            ["low", "medium", "high"],
        ),
        ("output_config.effort: Input should be 'low', 'medium' or 'high'", ["low", "medium", "high"]),
        (
            "Thinking level MEDIUM is not supported for this model. Supported levels: LOW, HIGH.",
            ["low", "high"],
        ),
        ("thinking_level is not supported by this model.", []),
        ("thinking.budget_tokens: Input should be greater than or equal to 1024", []),
    ],
)
def test_a_rejected_reasoning_value_is_a_bad_request_naming_what_the_provider_takes(
    message: str, supported: list[str]
) -> None:
    error = error_for_status(400, "p", message)
    assert (
        error.code == ErrorCode.BAD_REQUEST
        and error.cause == "The model does not accept the reasoning setting sent"
    )
    assert error.extra.get("supportedEfforts") == (supported or None)
    if supported:
        assert f"one this model takes: {', '.join(supported)}" in error.fix
    else:
        assert "not every model takes each of none, minimal, low, medium, high, xhigh, max" in error.fix


def test_other_errors_that_mention_thinking_keep_their_codes() -> None:
    assert error_for_status(400, "p", "prompt is too long: 210000 tokens > 200000 maximum").code == (
        ErrorCode.CONTEXT_TOO_LARGE
    )
    assert error_for_status(429, "p", "too much thinking").code == ErrorCode.RATE_LIMITED
    assert (
        error_for_status(400, "p", "messages.0.content: Field required").extra.get("supportedEfforts") is None
    )
