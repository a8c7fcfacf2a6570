"""The one small protocol every provider adapter implements, and the normalised types it speaks.

Adapters turn a `ChatRequest` into their wire format and their wire stream into `StreamEvent`s.
They never know LSP; the features never know HTTP. Streaming and non-streaming share one path:
`complete()` is the stream, collected.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from byok.base.redaction import StreamRedactor

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(slots=True)
class ToolCall:
    """A complete tool call the model asked for; `arguments` is the parsed JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""
    provider_data: dict[str, Any] | None = None
    """Opaque data the provider needs echoed back (e.g. Gemini's thoughtSignature)."""
    arguments_error: str | None = None
    """Why `raw_arguments` are unusable (not JSON, not an object), else None; `arguments` is then `{}`.
    When not given, found from `raw_arguments`."""

    def __post_init__(self) -> None:
        if self.arguments_error is None and not self.arguments and self.raw_arguments:
            self.arguments_error = _parse_arguments(self.raw_arguments)[1]


@dataclass(slots=True)
class ReasoningItem:
    """Reasoning a provider returned that must go back unchanged, in order, in the next turn's input.

    Anthropic `thinking` (with `signature`) and `redacted_thinking` blocks, Bedrock `reasoningContent`
    blocks, Responses API `reasoning` items (with `encrypted_content`). `family` names the wire family
    that produced it: an adapter sends back only its own family's items and drops the others.
    """

    family: str
    data: dict[str, Any]


@dataclass(slots=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning_items: list[ReasoningItem] = field(default_factory=list)
    """For role "assistant": the reasoning to echo before this turn's text and tool calls."""
    tool_call_id: str | None = None
    """For role "tool": the id of the call this answers."""
    name: str | None = None
    """For role "tool": the tool's name (Gemini needs it)."""
    is_error: bool = False


@dataclass(slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    """A JSON Schema object."""
    read_only: bool = False
    """The tool changes nothing (an MCP tool's `readOnlyHint`): calls to it may run side by side."""


@dataclass(frozen=True, slots=True)
class Reasoning:
    """The reasoning asked for, already fitted to what the model supports (see core's capability table)."""

    effort: str | None = None
    """none, minimal, low, medium, high, xhigh or max."""
    budget_tokens: int | None = None
    """A thinking budget, for APIs that take one (Anthropic before adaptive thinking, Gemini 2.x)."""
    summary: bool = False
    """Ask for the model's reasoning (a summary, where that is all the API gives) to be streamed."""


@dataclass(slots=True)
class ChatRequest:
    model: str
    """The provider's own model name (Azure: ignored, the deployment decides)."""
    messages: list[Message]
    max_tokens: int = 4096
    temperature: float | None = None
    reasoning: Reasoning | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    cache: bool = True
    """Prompt caching: breakpoints where the API takes them (Anthropic, Bedrock)."""
    cache_key: str | None = None
    """A stable, opaque per-workspace value for APIs that route by one (OpenAI `prompt_cache_key`)."""
    cache_conversation: bool = True
    """With `cache`, also cache the conversation (breakpoints on its last user turns): for requests a later
    one continues (chat, agent); not for one-shot ones (inline edit, composer), whose writes nobody reads."""

    @property
    def system(self) -> str:
        return "\n\n".join(m.content for m in self.messages if m.role == "system")

    @property
    def conversation(self) -> list[Message]:
        return [m for m in self.messages if m.role != "system"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model a key can see, with the limits its provider reported at verify time (None: not reported)."""

    id: str
    context_window: int | None = None
    """Input and output together, in tokens (for a local server: the context it was started with)."""
    max_output_tokens: int | None = None
    source: str | None = None
    """Where the limits were read, e.g. `GET http://127.0.0.1:8080/props`."""


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ReasoningDelta:
    text: str


@dataclass(slots=True)
class ToolCallEvent:
    call: ToolCall


@dataclass(slots=True)
class ReasoningItemEvent:
    item: ReasoningItem


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    """All input, cached included (OpenAI's convention)."""
    output_tokens: int = 0
    """All output, reasoning included."""
    cache_read_tokens: int = 0
    """The part of `input_tokens` read from the prompt cache."""
    cache_write_tokens: int = 0
    """The part of `input_tokens` written to the prompt cache."""
    reasoning_tokens: int = 0
    """The part of `output_tokens` spent on reasoning, where the provider says."""
    estimated: bool = False

    @classmethod
    def with_cache(cls, uncached_input: Any, output: Any, cache_read: Any, cache_write: Any) -> Usage:
        """From APIs that count cache reads and writes apart from input (Anthropic, Bedrock)."""
        read, write = int(cache_read or 0), int(cache_write or 0)
        return cls(int(uncached_input or 0) + read + write, int(output or 0), read, write)


@dataclass(slots=True)
class Finish:
    reason: str
    """Normalised: stop, length, tool_calls, content_filter, or the provider's own word."""


StreamEvent = TextDelta | ReasoningDelta | ReasoningItemEvent | ToolCallEvent | Usage | Finish
MAX_PARTIAL_TEXT = 256 * 1024
"""The most text (UTF-8 bytes) an error keeps as `partialText` (the whole stream was relayed as it arrived)."""


@dataclass(slots=True)
class ChatResult:
    """A turn folded from its stream; text is kept in pieces and joined on demand (no quadratic +=)."""

    text_parts: list[str] = field(default_factory=list)
    reasoning_parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    reasoning_items: list[ReasoningItem] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str = "stop"

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    @property
    def reasoning(self) -> str:
        return "".join(self.reasoning_parts)

    @property
    def partial_text(self) -> str:
        """The text to hand back with an error: the first `MAX_PARTIAL_TEXT` bytes of UTF-8 of the redacted
        text, whole characters. Redacted before it is cut, so a key across the cut leaves no part of itself."""
        redactor = StreamRedactor()  # the redacted text's start, without redacting all of a long text
        kept: list[str] = []
        size = 0
        for part in self.text_parts:
            if size >= MAX_PARTIAL_TEXT:
                break
            kept.append(redactor.feed(part))
            size += len(kept[-1])
        else:
            kept.append(redactor.finish())
        encoded = "".join(kept).encode(errors="surrogatepass")
        if len(encoded) <= MAX_PARTIAL_TEXT:
            return encoded.decode(errors="surrogatepass")
        end = MAX_PARTIAL_TEXT
        while encoded[end] & 0xC0 == 0x80:  # a continuation byte: the cut would split a character
            end -= 1
        return encoded[:end].decode(errors="surrogatepass")

    def add(self, event: StreamEvent) -> None:
        """Fold one stream event into the result."""
        if isinstance(event, TextDelta):
            self.text_parts.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self.reasoning_parts.append(event.text)
        elif isinstance(event, ToolCallEvent):
            self.tool_calls.append(event.call)
        elif isinstance(event, ReasoningItemEvent):
            self.reasoning_items.append(event.item)
        elif isinstance(event, Usage):
            self.usage = event
        else:
            self.finish_reason = event.reason


class Provider(Protocol):
    """One provider family's adapter, bound to one configured endpoint and (maybe) one key."""

    provider_id: str

    @property
    def key_endpoint(self) -> str:
        """The origin the key is sent to; a stored key is bound to it."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Stream one chat turn; raises `ByokError` for every provider failure."""
        ...

    async def verify(self) -> list[ModelInfo]:
        """Prove the key works with the cheapest call the provider has; return the models it can see, with
        their limits where the provider reports them (a missing metadata endpoint is never a failure)."""
        ...


async def complete(provider: Provider, request: ChatRequest) -> ChatResult:
    """The non-streaming call: the same stream, collected."""
    result = ChatResult()
    async for event in provider.stream(request):
        result.add(event)
    return result


def merged_turns(
    messages: list[Message],
    blocks_of: Callable[[Message], list[dict[str, Any]]],
    *,
    assistant_role: str = "assistant",
    blocks_key: str = "content",
) -> list[dict[str, Any]]:
    """User/assistant turns of content blocks, for APIs that want strictly alternating roles.

    Tool results ride in user turns; consecutive turns of one role are merged; empty turns are dropped.
    """
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = assistant_role if message.role == "assistant" else "user"
        blocks = blocks_of(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1][blocks_key] += blocks
        else:
            turns.append({"role": role, blocks_key: blocks})
    return turns


def sent_arguments(call: ToolCall) -> dict[str, Any]:
    """Tool-call arguments to echo in history: `{}` for a call whose arguments were malformed."""
    return call.arguments if call.arguments_error is None else {}


def parse_tool_arguments(raw: str) -> dict[str, Any]:
    """Parse streamed tool-call arguments: `{}` when blank, and when malformed (a `ToolCall` made with `raw`
    then says why in `arguments_error`, and the agent loop reports it to the model as a failed call)."""
    return _parse_arguments(raw)[0]


def _parse_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """The arguments object, and why `raw` is unusable (or None)."""
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"arguments are not valid JSON: {exc.msg}"
    return (value, None) if isinstance(value, dict) else ({}, "arguments are not a JSON object")
