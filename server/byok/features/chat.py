"""Chat: a streamed conversation on the user's own key, with files as context."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from byok.base.config import CamelModel, ReasoningSettings
from byok.builtin.answer_blocks import parse_answer
from byok.core.session import Backend
from byok.core.turn import Prompt, StreamSink, run_turn
from byok.features.mcp_context import ResourceReader, read_context
from byok.features.rules import load_rules, with_rules
from byok.providers.base import Message
from byok.workspace.files import format_files
from byok.workspace.jail import FileJail

MAX_MESSAGE_CHARS = 4_000_000


class ChatMessageParam(CamelModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=MAX_MESSAGE_CHARS)


class ChatParams(CamelModel):
    messages: list[ChatMessageParam] = Field(min_length=1, max_length=1000)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    files: list[str] = Field(default_factory=list, max_length=200)
    stream_id: str | None = Field(default=None, max_length=200)
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    reasoning: ReasoningSettings | None = None
    """How hard the model should think; beats the feature's and the model entry's `reasoning`."""


def code_blocks(answer: str) -> list[dict[str, str]]:
    """The answer's fenced blocks for a client's Apply: `{language, code}` and `path` where one is named."""
    return [
        {"language": b.language, "code": b.code} | ({"path": b.path} if b.path else {})
        for b in parse_answer(answer)
        if b.kind != "delete"
    ]


async def chat(
    backend: Backend,
    params: ChatParams,
    sink: StreamSink,
    jail: FileJail,
    read_resource: ResourceReader | None = None,
    rules_roots: Sequence[Path] | None = None,
) -> dict[str, object]:
    """One chat turn; the project rules come from `rules_roots` (default: the jail's workspace folders)."""
    routes = await backend.routes("chat", params.model)
    files = await read_context(jail, params.files, "files", backend.settings.context.max_bytes, read_resource)
    roots = jail.real_roots if rules_roots is None else rules_roots
    rules = await load_rules(backend, roots, [f.path for f in files], sink=sink)
    messages = with_rules([Message(m.role, m.content) for m in params.messages], rules)
    if files:
        context = "The user shared these files:\n\n" + format_files(files)
        first_user = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
        messages.insert(first_user, Message("user", context))
    request = Prompt(
        messages=messages,
        max_tokens=params.max_tokens or backend.settings.max_output_tokens,
        temperature=params.temperature,
        files=files,
        workspace=next(iter(jail.real_roots), None),
        reasoning=params.reasoning,
    )
    turn = await run_turn(backend, routes, request, sink, feature="chat")
    result: dict[str, object] = {
        "text": turn.result.text,
        "model": turn.route.model_id,
        "provider": turn.route.provider_id,
        "finishReason": turn.result.finish_reason,
        "codeBlocks": code_blocks(turn.result.text),
        "usage": turn.usage_dict(),
    }
    if turn.result.reasoning:
        result["reasoning"] = turn.result.reasoning
    return result
