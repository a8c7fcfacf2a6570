"""A provider-side prompt cache, as the fakes play it: what a request's breakpoints let the provider read back
and what they make it write.

Anthropic (and Claude on Bedrock) caches only where a request asks: each `cache_control` block (Bedrock: each
`cachePoint` block) ends a prefix (tools, then system, then messages) that is written to the cache, and a
later request reads back the longest cached prefix that ends at one of its breakpoints or up to
`LOOKBACK_BLOCKS` blocks before one. A request without breakpoints neither reads nor writes. Prefixes shorter
than `min_tokens` are not cached. More than four breakpoints is the API's 400. OpenAI caches every prompt
of 1024 tokens or more by itself, in 128-token steps, per `prompt_cache_key`.

Tokens are counted as a quarter of each block's JSON (at least 1): the figures are the fake's, the rules the
providers'.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.anthropic import ToolUse, anthropic_error, anthropic_stream
from tests.fakes.server import RecordedRequest, Reply

LOOKBACK_BLOCKS = 20
MAX_BREAKPOINTS = 4
OPENAI_MIN_TOKENS = 1024
OPENAI_STEP_TOKENS = 128


@dataclass(frozen=True)
class CacheUsage:
    """One request's input, split as the provider bills it."""

    uncached: int
    read: int
    written: int

    @property
    def total(self) -> int:
        return self.uncached + self.read + self.written


class TooManyBreakpoints(ValueError):
    """The request marked more than `MAX_BREAKPOINTS` blocks (the API answers 400)."""


def tokens(block: Any) -> int:
    return max(1, len(json.dumps(block, sort_keys=True)) // 4)


class PromptCache:
    """The cache of one fake provider account; thread-safe (the fake server answers from threads)."""

    def __init__(self, min_tokens: int = 1024) -> None:
        self.min_tokens = min_tokens
        self._prefixes: set[str] = set()
        self._lock = threading.Lock()

    def anthropic(self, body: dict[str, Any]) -> CacheUsage:
        """Usage of a Messages request; raises `TooManyBreakpoints`."""
        blocks: list[tuple[Any, bool]] = [
            (_unmarked(tool), "cache_control" in tool) for tool in body.get("tools", [])
        ]
        system = body.get("system")
        if isinstance(system, str):
            blocks.append((system, False))
        else:
            blocks += [(_unmarked(block), "cache_control" in block) for block in system or []]
        for turn in body["messages"]:
            content = turn["content"]
            if isinstance(content, str):
                blocks.append(((turn["role"], content), False))
                continue
            blocks += [((turn["role"], _unmarked(block)), "cache_control" in block) for block in content]
        return self._breakpoints(blocks)

    def bedrock(self, body: dict[str, Any]) -> CacheUsage:
        """Usage of a Converse request: a `cachePoint` block marks the block before it."""
        blocks: list[tuple[Any, bool]] = []

        def add(items: list[dict[str, Any]], tag: Any = None) -> None:
            for item in items:
                if "cachePoint" in item:
                    if blocks:
                        blocks[-1] = (blocks[-1][0], True)
                else:
                    blocks.append(((tag, item), False))

        add(body.get("toolConfig", {}).get("tools", []))
        add(body.get("system", []))
        for turn in body["messages"]:
            add(turn["content"], turn["role"])
        return self._breakpoints(blocks)

    def openai(self, body: dict[str, Any]) -> CacheUsage:
        """Usage of a Chat Completions request: automatic prefix caching per `prompt_cache_key`."""
        namespace = body.get("prompt_cache_key")
        blocks = [*body.get("tools", []), *body["messages"]]
        sizes = [tokens(block) for block in blocks]
        keys = _prefix_keys([(namespace, block) for block in blocks])
        total = sum(sizes)
        read = 0
        with self._lock:
            for index in range(len(blocks) - 1, -1, -1):
                if keys[index] in self._prefixes:
                    read = sum(sizes[: index + 1])
                    break
            if total >= OPENAI_MIN_TOKENS:
                self._prefixes.update(keys)
        read = read // OPENAI_STEP_TOKENS * OPENAI_STEP_TOKENS if read >= OPENAI_MIN_TOKENS else 0
        return CacheUsage(total - read, read, 0)

    def _breakpoints(self, blocks: list[tuple[Any, bool]]) -> CacheUsage:
        marked = [index for index, (_, mark) in enumerate(blocks) if mark]
        if len(marked) > MAX_BREAKPOINTS:
            raise TooManyBreakpoints(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marked)}."
            )
        sizes = [tokens(block) for block, _ in blocks]
        ends = [sum(sizes[: index + 1]) for index in range(len(sizes))]
        keys = _prefix_keys([block for block, _ in blocks])
        total = ends[-1] if ends else 0
        hit = -1
        with self._lock:
            for point in marked:
                for index in range(point, max(point - LOOKBACK_BLOCKS, -1), -1):
                    if keys[index] in self._prefixes and index > hit:
                        hit = index
                        break
            read = ends[hit] if hit >= 0 else 0
            written_to = read
            for point in marked:
                if point > hit and ends[point] >= self.min_tokens:
                    self._prefixes.add(keys[point])
                    written_to = max(written_to, ends[point])
        return CacheUsage(total - written_to, read, written_to - read)


def _unmarked(block: dict[str, Any]) -> dict[str, Any]:
    """A block as the cache compares it: where the breakpoint sits is no part of the content."""
    return {name: value for name, value in block.items() if name != "cache_control"}


def _prefix_keys(blocks: list[Any]) -> list[str]:
    """A running hash: entry i identifies the prefix made of blocks 0..i."""
    digest = hashlib.sha256()
    keys: list[str] = []
    for block in blocks:
        digest.update(json.dumps(block, sort_keys=True).encode() + b"\0")
        keys.append(digest.copy().hexdigest())
    return keys


def cached_replies(
    cache: PromptCache,
    split: Callable[[PromptCache, dict[str, Any]], CacheUsage],
    replies: list[Callable[[CacheUsage], Reply]],
    refuse: Callable[[str], Reply],
) -> Callable[[RecordedRequest], Reply]:
    """A fake-server responder: each request's usage from `cache`, then the next of `replies` made with it
    (the last one repeats); a request with too many breakpoints gets `refuse(message)`."""
    pending = list(replies)
    lock = threading.Lock()

    def respond(request: RecordedRequest) -> Reply:
        try:
            usage = split(cache, request.json())
        except TooManyBreakpoints as exc:
            return refuse(str(exc))
        with lock:
            make = pending.pop(0) if len(pending) > 1 else pending[0]
        return make(usage)

    return respond


def anthropic_session(
    cache: PromptCache, turns: list[tuple[list[str], list[ToolUse]]], output_tokens: int = 40
) -> Callable[[RecordedRequest], Reply]:
    """A scripted Messages conversation (texts and tool uses per turn, the last turn repeating) whose usage
    comes from `cache`: a responder for `FakeServer.route`."""

    def turn(texts: list[str], uses: list[ToolUse]) -> Callable[[CacheUsage], Reply]:
        return lambda usage: anthropic_stream(
            texts, tool_uses=uses, usage=(usage.uncached, output_tokens), cache=(usage.read, usage.written)
        )

    return cached_replies(
        cache,
        PromptCache.anthropic,
        [turn(texts, uses) for texts, uses in turns],
        lambda message: anthropic_error(400, "invalid_request_error", message),
    )
