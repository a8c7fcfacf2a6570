"""The spending-limit policy: which limits apply to a request, and the errors that name them."""

from __future__ import annotations

from collections.abc import Iterator

from byok.base.config import BudgetSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.core.prices import Quote


def limits(budget: BudgetSettings, provider: str) -> Iterator[tuple[bool, float]]:
    """(is the provider's own limit, limit) for each limit that applies to a request to `provider`."""
    if budget.monthly_usd is not None:
        yield False, budget.monthly_usd
    if provider in budget.per_provider:
        yield True, budget.per_provider[provider]


def all_limits(budget: BudgetSettings) -> Iterator[tuple[str | None, float]]:
    """(provider, or None for the monthly limit; limit) for every limit set."""
    if budget.monthly_usd is not None:
        yield None, budget.monthly_usd
    yield from budget.per_provider.items()


def _limit_names(provider: str, provider_limit: bool) -> tuple[str, str]:
    """(" on <provider>" or "", the setting that holds the limit)."""
    if provider_limit:
        return f" on {provider}", f"byok.budget.perProvider.{provider}"
    return "", "byok.budget.monthlyUsd"


def budget_error(
    provider: str, provider_limit: bool, spent: float, limit: float, quote: Quote, min_output_tokens: int
) -> ByokError:
    """`budget_exceeded` for a request whose worst case would cross a limit."""
    where, setting = _limit_names(provider, provider_limit)
    worst_case = quote.usd(min_output_tokens)
    answer = f" even with a {min_output_tokens}-token answer" if min_output_tokens else ""
    return ByokError(
        ErrorCode.BUDGET_EXCEEDED,
        f"This request could cost up to {usd(worst_case)}{answer}, which would cross the limit{where}",
        provider=provider,
        cause=f"spent {usd(spent)} of {usd(limit)}{where} this month",
        fix=f"Raise the limit ({setting}), send less context, or wait until the 1st",
        spentUsd=round(spent, 6),
        limitUsd=limit,
        worstCaseUsd=round(worst_case, 9),
    )


def unpriced_error(provider: str, model: str, provider_limit: bool, spent: float, limit: float) -> ByokError:
    """`budget_exceeded` for a model without a known price while a limit applies."""
    where, setting = _limit_names(provider, provider_limit)
    return ByokError(
        ErrorCode.BUDGET_EXCEEDED,
        f"{model} has no known price, so byok cannot keep it within the spending limit{where}",
        provider=provider,
        cause=f"No price is known for {model}",
        fix=f'Add its price as byok.prices["{model}"] = {{"input": ..., "output": ...}} (USD per 1M tokens), '
        f"or remove the limit ({setting})",
        spentUsd=round(spent, 6),
        limitUsd=limit,
        worstCaseUsd=None,
    )


def invalid_budget_error(provider: str, problem: str) -> ByokError:
    """`budget_invalid` for an invalid limit setting that may apply to `provider`."""
    return ByokError(
        ErrorCode.BUDGET_INVALID,
        f"A spending limit that applies to {provider} is invalid, so paid requests to it are refused",
        provider=provider,
        cause=problem,
        fix="Fix that setting (a number of US dollars, 0 or more) or remove it",
    )


def usd(amount: float) -> str:
    """A dollar amount for messages: cents, or four decimals below $0.10."""
    return f"${amount:,.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.4f}"
