"""Reasoning controls: the asked effort/budget, layered (request over feature over model entry) and fitted
to what the model accepts, from the `byok.reasoningModels` setting and the shipped capability table."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from importlib import resources
from typing import Any

from byok.base.config import (
    REASONING_EFFORTS,
    ReasoningCapability,
    ReasoningEffort,
    ReasoningSettings,
    Settings,
)
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.prices import bare_model_name
from byok.core.routing import Route
from byok.providers.base import Reasoning

MIN_ANSWER_TOKENS = 256
"""A request whose reservation cannot cover an answer this long (or the whole limit asked) is not sent."""
ANSWER_ROOM_TOKENS = 1024
"""Room kept for the answer above a thinking budget when the model's output limit caps both."""


@dataclass(frozen=True, slots=True)
class Fitted:
    """The reasoning a request sends (None: nothing), and what was asked when that differs."""

    reasoning: Reasoning | None
    asked: ReasoningSettings | None
    note: str | None = None
    """Why the sent value differs from the asked one (a fitted effort, a model that does not reason)."""

    def describe(self) -> dict[str, Any] | None:
        """For `byok.status` and results: the values sent, plus `asked` and `note` when fitting changed them."""
        if self.asked is None:
            return None
        sent = self.reasoning or Reasoning()
        data: dict[str, Any] = {
            "effort": sent.effort,
            "budgetTokens": sent.budget_tokens,
            "summary": sent.summary,
        }
        if self.note:
            data["asked"] = self.asked.model_dump(by_alias=True, exclude_none=True)
            data["note"] = self.note
        return data


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """The output limit to send and the least of it a spending-limit reservation must cover."""

    max_tokens: int
    min_tokens: int
    thinking_tokens: int = 0
    """The thinking budget inside `max_tokens` (0: none)."""


def fit_for_route(
    settings: Settings, route: Route, requested: ReasoningSettings | None, feature: str
) -> Fitted:
    """The reasoning for one routed request: request over feature over model entry, fitted to the model."""
    feature_reasoning = settings.features.choice(feature).reasoning
    entry = next((m.reasoning for m in settings.models if m.id == route.model_id), None)
    asked = _layered(requested, feature_reasoning, entry)
    if asked is None:
        return Fitted(None, None)
    return fit(asked, capability(route.upstream, settings.reasoning_models), route.upstream)


def fit(asked: ReasoningSettings, capability: ReasoningCapability | None, model: str) -> Fitted:
    """`asked` fitted to `capability`: the nearest effort the model takes, a budget for budget models.

    Unknown models (no capability) get the values as asked.
    """
    summary = bool(asked.summary)
    if capability is not None and not capability.efforts:
        return Fitted(None, asked, f"{model} does not take reasoning settings; none are sent")
    if asked.effort is None and asked.budget_tokens is None:
        return Fitted(Reasoning(summary=True) if summary else None, asked)
    if capability is None:
        return Fitted(Reasoning(asked.effort, asked.budget_tokens, summary), asked)
    wanted = asked.effort or _effort_for_budget(asked.budget_tokens or 0)
    effort = nearest_effort(wanted, capability.efforts)
    notes = [f"{model} takes {', '.join(capability.efforts)}; sent {effort}"] if effort != wanted else []
    if capability.budget is None:
        if asked.budget_tokens is not None and asked.effort is None:
            notes.append(f"{model} takes an effort, not a thinking budget")
        return Fitted(Reasoning(effort, None, summary), asked, "; ".join(notes) or None)
    if effort == "none":
        return Fitted(Reasoning("none", None, summary), asked, "; ".join(notes) or None)
    budget = asked.budget_tokens if asked.budget_tokens is not None else _budgets()[effort]
    clamped = min(max(budget, capability.budget.min), capability.budget.max)
    if clamped != budget:
        notes.append(
            f"{model} takes a thinking budget of {capability.budget.min}-{capability.budget.max} tokens; "
            f"sent {clamped}"
        )
    return Fitted(Reasoning(effort, clamped, summary), asked, "; ".join(notes) or None)


def nearest_effort(wanted: ReasoningEffort, supported: list[ReasoningEffort]) -> ReasoningEffort:
    """The supported effort closest to `wanted`; ties go to the stronger one, and an ask for some reasoning
    never becomes `none`."""
    if wanted in supported:
        return wanted
    candidates = [e for e in supported if e != "none"] if wanted != "none" else supported
    rank = REASONING_EFFORTS.index
    return min(candidates or supported, key=lambda e: (abs(rank(e) - rank(wanted)), -rank(e)))


def capability(model: str, user_table: dict[str, ReasoningCapability]) -> ReasoningCapability | None:
    """What `model` accepts: the first matching `byok.reasoningModels` glob, else the shipped table's."""
    name = bare_model_name(model)
    for glob, entry in user_table.items():
        if fnmatchcase(name, glob.strip().lower()) or fnmatchcase(model.lower(), glob.strip().lower()):
            return entry
    for globs, entry in _table():
        if any(fnmatchcase(name, glob) for glob in globs):
            return entry
    return None


def plan_output(max_tokens: int, model_limit: int | None, reasoning: Reasoning | None) -> OutputPlan:
    """The output limit for a request: with a thinking budget, the budget plus the answer's `max_tokens`
    (capped by the model's limit), and a reservation must cover the whole budget plus a short answer.

    Raises `bad_request` when the model's output limit cannot hold the budget and an answer.
    """
    answer_floor = min(MIN_ANSWER_TOKENS, max_tokens)
    budget = reasoning.budget_tokens if reasoning is not None else None
    if not budget:
        return OutputPlan(max_tokens, answer_floor)
    total = budget + max_tokens
    if model_limit is not None and total > model_limit:
        if model_limit - budget < min(ANSWER_ROOM_TOKENS, max_tokens):
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"A {budget}-token thinking budget leaves no room for an answer under the model's "
                f"{model_limit}-token output limit",
                cause="The thinking budget counts towards the output limit (maxOutputTokens)",
                fix="Lower reasoning.budgetTokens (or the effort), or raise the model's maxOutputTokens",
            )
        total = model_limit
    return OutputPlan(total, budget + answer_floor, budget)


def _layered(*layers: ReasoningSettings | None) -> ReasoningSettings | None:
    """Highest layer first."""
    result: ReasoningSettings | None = None
    for layer in reversed(layers):
        if layer is not None:
            result = layer.over(result)
    return result


def _effort_for_budget(budget: int) -> ReasoningEffort:
    """The effort whose default budget is nearest `budget` (by ratio), for models that take an effort."""
    budgets = _budgets()
    return min(budgets, key=lambda effort: abs(math.log(max(budget, 1) / budgets[effort])))


@cache
def _shipped() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        resources.files("byok").joinpath("data/reasoning.json").read_text(encoding="utf-8")
    )
    return loaded


@cache
def _budgets() -> dict[ReasoningEffort, int]:
    return {effort: int(tokens) for effort, tokens in _shipped()["budgets"].items()}


@cache
def _table() -> tuple[tuple[tuple[str, ...], ReasoningCapability], ...]:
    return tuple(
        (
            tuple(entry["match"]),
            ReasoningCapability.model_validate({k: v for k, v in entry.items() if k != "match"}),
        )
        for entry in _shipped()["models"]
    )
