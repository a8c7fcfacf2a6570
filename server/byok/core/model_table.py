"""The shipped table of context windows and output limits (`byok/data/model_limits.json`) for OpenAI and
Anthropic ids, used when neither a setting nor a verify gave a model's limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from byok.core.prices import LOCAL_PROVIDERS, table_names

SOURCE = "byok's shipped model table"


@dataclass(frozen=True, slots=True)
class TableLimits:
    context_window: int
    max_output_tokens: int


def table_limits(model: str, provider_id: str) -> TableLimits | None:
    """The shipped limits for `model` (any date or version suffix, OpenRouter or Bedrock spelling), or None.
    A local server's models are never looked up: a name there says nothing about the window it runs with."""
    if provider_id.lower() in LOCAL_PROVIDERS:
        return None
    table = _table()
    return next((table[name] for name in table_names(model) if name in table), None)


@cache
def _table() -> dict[str, TableLimits]:
    raw = json.loads(resources.files("byok").joinpath("data/model_limits.json").read_text(encoding="utf-8"))
    return {
        name.lower(): TableLimits(int(entry["contextWindow"]), int(entry["maxOutputTokens"]))
        for name, entry in raw["models"].items()
    }
