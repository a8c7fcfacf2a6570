"""One `session/prompt`: byok's agent loop with its output as ordered `session/update`s.

Everything the client sees of a prompt goes through one queue, so text, thoughts and tool calls arrive in
the order they happened: the stream sink puts redacted chunks on it, the tool observer puts `tool_call`
and `tool_call_update`s, and a permission ask first waits until everything before it was sent. Every edit
is written (through the client when it offers `fs/write_text_file`) right after its tool call, so the
user reviews it in the editor while the agent goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from byok.acp.editor import ClientFiles, Permissions
from byok.acp.sessions import StoredSession
from byok.acp.tool_calls import kind_of, locations_of, path_of, shown_result, title_of
from byok.base.names import AcpMode
from byok.base.redaction import DeltaRedactor, redact
from byok.features.agent_tools import ToolResult
from byok.providers.base import ToolCall
from byok.workspace.changes import Changes
from byok.workspace.jail import Workspace

if TYPE_CHECKING:
    from acp.helpers import SessionUpdate, ToolCallContentVariant
    from acp.interfaces import Client
    from acp.schema import ToolCallUpdate

log = logging.getLogger(__name__)


class PromptRun:
    """The sink, tool observer, edit approver and asker of one prompt in one session."""

    def __init__(
        self,
        client: Client,
        session: StoredSession,
        workspace: Workspace,
        files: ClientFiles,
        permissions: Permissions,
    ) -> None:
        self.client = client
        self.session = session
        self.workspace = workspace
        self.files = files
        self.permissions = permissions
        self._redactor = DeltaRedactor()
        self._queue: asyncio.Queue[SessionUpdate] = asyncio.Queue()
        self._pump = asyncio.get_running_loop().create_task(self._send_all())
        self._ids: dict[int, str] = {}
        self._current: ToolCall | None = None
        self._terminal: str | None = None

    # -- ordered updates ------------------------------------------------------------------------------

    async def _send_all(self) -> None:
        while True:
            update = await self._queue.get()
            try:
                self.session.record(update.model_dump(mode="json", by_alias=True, exclude_none=True))
                await self.client.session_update(session_id=self.session.session_id, update=update)
            except ConnectionError:
                log.info("the client went away; an update was not sent")
            except Exception:  # logged with its traceback; the updates after it still go out
                log.exception("a session update could not be sent")
            finally:
                self._queue.task_done()

    def send(self, update: SessionUpdate) -> None:
        self._queue.put_nowait(update)

    async def flush(self) -> None:
        """Wait until every update so far has been sent."""
        await self._queue.join()

    async def close(self) -> None:
        for kind, rest in self._redactor.finish():
            self._chunk(kind, rest)
        await self.flush()
        self._pump.cancel()

    def abort(self) -> None:
        """Stop sending (the connection is closing)."""
        self._pump.cancel()

    def message(self, text: str) -> None:
        from acp import update_agent_message_text

        self.send(update_agent_message_text(redact(text)))

    # -- StreamSink -----------------------------------------------------------------------------------

    def delta(self, kind: str, text: str) -> None:
        self._chunk(kind, self._redactor.feed(kind, text))

    def _chunk(self, kind: str, text: str) -> None:
        from acp import update_agent_message_text, update_agent_thought_text

        if not text:
            return
        if kind == "text":
            self.send(update_agent_message_text(text))
        elif kind == "reasoning":
            self.send(update_agent_thought_text(text))
        else:  # status lines (a retry, a fallback model) read as the agent's thoughts, one per line
            self.send(update_agent_thought_text(f"\n{text}\n"))

    # -- ToolObserver ---------------------------------------------------------------------------------

    def call_id(self, call: ToolCall) -> str:
        """The call's id for the client, unique in the prompt (models reuse ids across steps)."""
        return self._ids.setdefault(id(call), f"byok-{len(self._ids) + 1}")

    async def started(self, call: ToolCall) -> None:
        from acp import start_tool_call

        self._current, self._terminal = call, None
        self.send(
            start_tool_call(
                self.call_id(call),
                title_of(call),
                kind=kind_of(call),
                status="in_progress",
                locations=locations_of(call, self.workspace),
                raw_input=_redacted_arguments(call),
            )
        )
        path = path_of(call, self.workspace)
        if path is not None:
            await self.files.fetch(path)

    async def finished(self, call: ToolCall, result: ToolResult, changes: Changes) -> ToolResult:
        from acp import (
            RequestError,
            text_block,
            tool_content,
            tool_diff_content,
            tool_terminal_ref,
            update_tool_call,
        )

        content: list[ToolCallContentVariant] = []
        pending = [s for s in changes.files.values() if s.text != s.base and s.text is not None]
        if pending:
            for state in pending:
                assert state.text is not None
                try:
                    await self.files.write(state.path, state.text)
                except (RequestError, ValidationError, ConnectionError, OSError) as exc:
                    state.text = state.base
                    result = ToolResult(
                        f"Error: the editor did not accept the change to "
                        f"{self.workspace.relative(state.path)}: {redact(str(exc))[:300]}",
                        is_error=True,
                    )
                    continue
                content.append(tool_diff_content(str(state.path), state.text, state.base))
            changes.mark_applied()
        if self._terminal is not None:
            content.append(tool_terminal_ref(self._terminal))
        if not content or result.is_error:
            content.append(tool_content(text_block(shown_result(redact(result.content)))))
        self.send(
            update_tool_call(
                self.call_id(call),
                status="failed" if result.is_error else "completed",
                content=content,
            )
        )
        self._current = None
        return result

    # -- asks -----------------------------------------------------------------------------------------

    def _shown(self, content: list[ToolCallContentVariant]) -> ToolCallUpdate:
        from acp.schema import ToolCallUpdate

        call = self._current
        if call is None:
            return ToolCallUpdate(tool_call_id="byok-ask", title="byok", content=content)
        return ToolCallUpdate(
            tool_call_id=self.call_id(call),
            title=title_of(call),
            kind=kind_of(call),
            status="pending",
            content=content,
            locations=locations_of(call, self.workspace),
        )

    async def choose(self, question: str, actions: Sequence[str]) -> str | None:
        """Chooser: a command to run, a change to a file editors run commands from, an MCP tool call."""
        from acp import text_block, tool_content

        await self.flush()  # the tool call is on the client's screen before the question
        return await self.permissions.choose(self._shown([tool_content(text_block(question))]), actions)

    async def approve_write(self, path: Path, before: str | None, after: str | None) -> bool:
        """WriteApprover: in `edit` mode every change is asked about, with its diff."""
        from acp import tool_diff_content

        if self.session.mode != AcpMode.EDIT or after is None:
            return True
        await self.flush()
        return await self.permissions.allow_edit(self._shown([tool_diff_content(str(path), after, before)]))

    async def on_terminal(self, terminal_id: str) -> None:
        """The client's terminal a command runs in, shown in its tool call while it runs."""
        from acp import tool_terminal_ref, update_tool_call

        self._terminal = terminal_id
        if self._current is not None:
            self.send(update_tool_call(self.call_id(self._current), content=[tool_terminal_ref(terminal_id)]))


def _redacted_arguments(call: ToolCall) -> dict[str, Any]:
    if call.arguments_error is not None:
        return {"_raw": redact(call.raw_arguments)}
    return {k: redact(v) if isinstance(v, str) else v for k, v in call.arguments.items()}
