"""Where prompt-cache breakpoints go in a request body: Anthropic `cache_control` and Bedrock `cachePoint`.

Both APIs cache the prefix of a request (tools, then system prompt, then messages) up to each breakpoint, at
most four per request, and read back the longest cached prefix that ends at one of a later request's
breakpoints. byok marks the tool list, the system prompt and, for requests a later one continues (chat,
agent), the last two user turns: the one before the last is where the previous request of the conversation
ended, so that whole prefix is read back however many blocks the newest turn added. A one-shot request
(inline edit, composer) marks no turn: its writes would cost more and never be read.
"""

from __future__ import annotations

import re
from typing import Any

CACHE_CONTROL = {"type": "ephemeral"}
"""An Anthropic breakpoint with the default five-minute lifetime."""
CACHE_POINT = {"cachePoint": {"type": "default"}}
CONVERSATION_TURNS = 2
"""User turns marked in a continued conversation (with the tools and the system prompt: four breakpoints)."""
_CLAUDE_CACHING = re.compile(r"(?:^|\.)anthropic\.claude-(?:3-7-sonnet|3-5-haiku|(?:opus|sonnet|haiku)-\d)")
_NOVA_CACHING = re.compile(r"(?:^|\.)amazon\.nova-(?:micro|lite|pro|premier)(?:-|$)")


def mark_messages_request(body: dict[str, Any], *, conversation: bool) -> None:
    """`cache_control` on an Anthropic Messages body's last tool, its system prompt (made a text block) and,
    with `conversation`, the last block of each of its last two user turns."""
    if body.get("tools"):
        body["tools"][-1]["cache_control"] = dict(CACHE_CONTROL)
    if body.get("system"):
        body["system"] = [{"type": "text", "text": body["system"], "cache_control": dict(CACHE_CONTROL)}]
    if conversation:
        for turn in _user_turns(body)[-CONVERSATION_TURNS:]:
            turn["content"][-1]["cache_control"] = dict(CACHE_CONTROL)


def converse_cache_fields(model: str) -> frozenset[str]:
    """Where a Bedrock model takes `cachePoint` blocks: Claude from 3.5 Haiku and 3.7 Sonnet on in the system
    prompt, the tools and the messages; Amazon Nova in the system prompt and the messages; any other model
    (or an application inference profile ARN, whose model is unknown) nowhere: Bedrock rejects a cachePoint
    the model does not support."""
    name = model.rsplit("/", 1)[-1].lower()
    if _CLAUDE_CACHING.search(name):
        return frozenset({"system", "tools", "messages"})
    if _NOVA_CACHING.search(name):
        return frozenset({"system", "messages"})
    return frozenset()


def mark_converse_request(body: dict[str, Any], model: str, *, conversation: bool) -> None:
    """`cachePoint` blocks after a Converse body's system prompt, its tool list and, with `conversation`, each
    of its last two user turns, where `model` takes them."""
    fields = converse_cache_fields(model)
    if "system" in fields and body.get("system"):
        body["system"].append(dict(CACHE_POINT))
    if "tools" in fields and "toolConfig" in body:
        body["toolConfig"]["tools"].append(dict(CACHE_POINT))
    if conversation and "messages" in fields:
        for turn in _user_turns(body)[-CONVERSATION_TURNS:]:
            turn["content"].append(dict(CACHE_POINT))


def _user_turns(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [turn for turn in body["messages"] if turn["role"] == "user"]
