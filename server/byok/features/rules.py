"""The project rules of one request: read off the event loop (only checked on it when nothing changed and the
disk is quick), put at the start of its system prompt, and every refused rules file told to the user once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from byok.base.config import user_config_dir
from byok.core.session import Backend
from byok.core.turn import StreamSink
from byok.providers.base import Message
from byok.workspace.rules import Rules, nested_agents_files


async def load_rules(
    backend: Backend,
    roots: Sequence[Path],
    context: Sequence[Path | str] = (),
    *,
    agent: bool = False,
    sink: StreamSink | None = None,
) -> Rules:
    """The rules for a request with files `context` in it; `agent` also lists the rules not sent by name (the
    agent reads them with read_file when its work reaches their files)."""
    settings = backend.settings.rules
    nested = None
    if agent:
        nested = (
            [found for root in roots for found in await nested_agents_files(root)] if settings.enabled else []
        )
    request = (list(roots), user_config_dir(), settings, [Path(path) for path in context])
    rules = backend.rules.collect_unchanged(*request, nested=nested)  # no worker thread when nothing changed
    if rules is None:
        rules = await asyncio.to_thread(backend.rules.collect, *request, nested=nested)
    for refusal in backend.rules.unreported(rules.refused):
        backend.warn(f"byok: the rules file {refusal.path} is not used: {refusal.reason}")
    if rules.truncated and sink is not None:
        sink.delta("status", f"project rules cut to rules.maxBytes ({rules.max_bytes} bytes)")
    return rules


def with_rules(messages: list[Message], rules: Rules) -> list[Message]:
    """`messages` with the rules at the start of the system prompt (a system message first if none is)."""
    section = rules.section()
    if not section:
        return messages
    if messages and messages[0].role == "system":
        return [Message("system", rules.before(messages[0].content)), *messages[1:]]
    return [Message("system", section), *messages]


async def rules_status(backend: Backend, roots: Sequence[Path]) -> dict[str, Any]:
    """The rules in force for the workspace, as `byok.status` and `byok rules` show them."""
    rules = await load_rules(backend, roots, agent=True)
    return rules.status(backend.settings.rules)
