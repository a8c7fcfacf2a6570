"""Agent mode: a native tool-calling loop over the workspace, on the user's own key.

Each step is one model turn (`run_turn`, with the tools declared); the turn's tool calls run in order
against the workspace tools (consecutive read-only calls side by side) and their results go back, in the
model's order, as `tool` messages, which each adapter sends in its provider's native format. Edits stay in memory (later tools see them) and reach the editor as
`workspace/applyEdit`: once at the end, or after each step with `agent.applyEachStep`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import Field

from byok.base.config import CamelModel, ReasoningSettings, ReviewMode
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import redact
from byok.core.mcp.servers import McpServers
from byok.core.session import Backend
from byok.core.turn import Prompt, StreamSink, Turn, run_turn
from byok.features.agent_mcp import McpToolbox
from byok.features.agent_tools import (
    TOOL_SPECS,
    CommandRunner,
    ToolResult,
    Tools,
    WriteApprover,
    describe_calls,
)
from byok.features.checkpoints import RunCheckpoint
from byok.features.mcp_context import ResourceReader, read_context
from byok.features.rules import load_rules
from byok.providers.base import Message, ToolCall, Usage
from byok.workspace.changes import Changes, Chooser, FileSummary
from byok.workspace.edits import EditApplier
from byok.workspace.files import ContextFile, format_files
from byok.workspace.jail import FileJail, Workspace

DEFAULT_MAX_STEPS = 25
MAX_TASK_CHARS = 100_000
MAX_TOOL_CALLS_PER_STEP = 64
"""Tool calls of one step that run; the rest get a tool error without running."""
MAX_RUN_TOOL_CHARS = 8_000_000
"""Characters of tool results one run keeps; once reached, further calls get a tool error without running."""
BRIEF_ARGUMENT_CHARS = 200
BRIEF_RESULT_CHARS = 500

SYSTEM_PROMPT = """You are a coding agent working in the user's workspace through tools.
- Look before you change anything: list_files, search and read_file.
- Change files with edit_file (the changed parts with unchanged lines around them, and \
`... existing code ...` comments for what you leave out) or create_file. Your edits are shown to the \
user when you finish; read_file already sees them.
- run_command needs the user's permission each time and sees the files on disk, not your pending edits. \
Changes to files that editors or tools run commands from (.vscode/, .devcontainer/, .envrc ...) need it too.
- Tools named mcp__<server>__<tool> come from the user's MCP servers; the user may be asked before each call.
- Paths are relative to the workspace root. Secret files (.env, keys) and .git are off limits.
- When the task is done, stop calling tools and reply with a short summary of what you changed."""


class AgentParams(CamelModel):
    task: str = Field(min_length=1, max_length=MAX_TASK_CHARS)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    max_steps: int = Field(default=DEFAULT_MAX_STEPS, ge=1, le=200)
    stream_id: str | None = Field(default=None, max_length=200)
    files: list[str] = Field(default_factory=list, max_length=200)
    """Context for the task: workspace file URIs and `mcp://<server>/<resource uri>` entries."""
    reasoning: ReasoningSettings | None = None
    """How hard the model should think; beats the feature's and the model entry's `reasoning`."""
    review: ReviewMode | None = None
    """`preview`: edits carry change annotations the user confirms; default `agent.review`."""


class ToolObserver(Protocol):
    """Follows each tool call as it runs (ACP shows them as tool calls with their diffs)."""

    async def started(self, call: ToolCall) -> None: ...

    async def finished(self, call: ToolCall, result: ToolResult, changes: Changes) -> ToolResult:
        """Called after the call ran; returns the result the model gets (an edit the editor refused fails)."""
        ...


@dataclass(frozen=True, slots=True)
class FrontEnd:
    """What a front end other than the language server plugs into the loop (the ACP agent's session)."""

    history: Sequence[Message] = ()
    """Earlier user and assistant messages of the conversation, before this task."""
    read_only: bool = False
    """Offer only the tools that read (read_file, list_files, search)."""
    observer: ToolObserver | None = None
    approve_write: WriteApprover | None = None
    runner: CommandRunner | None = None
    mcp_servers: McpServers | None = None
    """The MCP servers of this front end's session (byok's settings plus those its client handed over)."""


class UsageTotal:
    """Token counts, cost and what prompt caching saved, summed over the steps (a sum of money is None until
    some step's is known)."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.cost_usd: float | None = None
        self.saved_usd: float | None = None

    def add(self, turn: Turn) -> None:
        step = turn.result.usage or Usage()
        self.usage.input_tokens += step.input_tokens
        self.usage.output_tokens += step.output_tokens
        self.usage.cache_read_tokens += step.cache_read_tokens
        self.usage.cache_write_tokens += step.cache_write_tokens
        self.usage.reasoning_tokens += step.reasoning_tokens
        self.usage.estimated = self.usage.estimated or step.estimated
        if turn.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + turn.cost_usd
        if turn.saved_usd is not None:
            self.saved_usd = (self.saved_usd or 0.0) + turn.saved_usd

    def as_dict(self) -> dict[str, Any]:
        return {
            "inputTokens": self.usage.input_tokens,
            "outputTokens": self.usage.output_tokens,
            "cacheReadTokens": self.usage.cache_read_tokens,
            "cacheWriteTokens": self.usage.cache_write_tokens,
            "reasoningTokens": self.usage.reasoning_tokens,
            "estimated": self.usage.estimated,
            "costUsd": self.cost_usd,
            "savedUsd": self.saved_usd,
        }


def _shorten(text: str, limit: int) -> str:
    """`text` redacted, then cut to `limit` characters (a key cut first would no longer be recognised)."""
    text = redact(text)
    return text if len(text) <= limit else text[:limit] + "…"


def _shown_arguments(call: ToolCall) -> dict[str, Any]:
    """A call's arguments for the step log; for malformed ones, the text the model sent and why."""
    if call.arguments_error is None:
        return call.arguments
    return {"_raw": call.raw_arguments, "_error": call.arguments_error}


def _brief(arguments: dict[str, Any]) -> dict[str, Any]:
    """A tool call's arguments for the step log: long strings (code) shortened."""
    return {k: _shorten(v, BRIEF_ARGUMENT_CHARS) if isinstance(v, str) else v for k, v in arguments.items()}


async def _run_call(
    tools: Tools, call: ToolCall, index: int, kept_chars: int, mcp: McpToolbox | None = None
) -> ToolResult:
    """The call's result; a tool error without running it when it is beyond MAX_TOOL_CALLS_PER_STEP (`index`
    in its step) or the run's results reached MAX_RUN_TOOL_CHARS (`kept_chars` so far)."""
    if index >= MAX_TOOL_CALLS_PER_STEP:
        return ToolResult(
            f"Error: not run: one step runs at most {MAX_TOOL_CALLS_PER_STEP} tool calls; "
            "call the rest in the next step.",
            is_error=True,
        )
    if kept_chars >= MAX_RUN_TOOL_CHARS:
        return ToolResult(
            f"Error: not run: this run's tool results reached {MAX_RUN_TOOL_CHARS} characters; "
            "finish with a summary of what is done.",
            is_error=True,
        )
    if mcp is not None and mcp.handles(call.name) and call.arguments_error is None:
        return await mcp.call(call)
    return await tools.call(call)


async def _context_files(
    jail: FileJail | None, entries: list[str], backend: Backend, read_resource: ResourceReader | None
) -> list[ContextFile]:
    """The task's `files` (workspace files and MCP resources); a front end without a file jail takes none."""
    if not entries:
        return []
    if jail is None:
        raise ByokError(
            ErrorCode.BAD_REQUEST, "files: this client cannot pass files to the agent", field="files"
        )
    return await read_context(jail, entries, "files", backend.settings.context.max_bytes, read_resource)


def call_batches(calls: Sequence[ToolCall], read_only: Collection[str]) -> list[list[int]]:
    """The indices of `calls` in the batches they run in, in order: consecutive calls to `read_only` tools
    together (side by side), every other call alone, so a read after an edit sees the edit."""
    batches: list[list[int]] = []
    for index, call in enumerate(calls):
        joins = call.name in read_only and bool(batches) and calls[batches[-1][-1]].name in read_only
        if joins:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


async def run_together(work: list[Coroutine[Any, Any, ToolResult]]) -> list[ToolResult]:
    """The results of `work`, run side by side, in its order; when one fails or the run is cancelled, the
    rest are cancelled and waited for."""
    tasks = [asyncio.ensure_future(item) for item in work]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


AgentStop = Literal["done", "length", "max_steps", "cancelled", "context_window", "budget"]


@dataclass(slots=True)
class AgentOutcome:
    """How an agent run ended and what it did; `to_wire` is `byok.agent`'s result."""

    summary: str
    steps: list[dict[str, Any]]
    stop_reason: AgentStop
    edits: dict[str, Any]
    files: list[FileSummary]
    applied: bool | None
    checkpoint: str | None
    model: str
    usage: dict[str, Any]
    budget_error: ByokError | None = None
    """The spending-limit error when the budget stopped the run."""

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "summary": self.summary,
            "steps": self.steps,
            "stopReason": self.stop_reason,
            "edits": self.edits,
            "files": [entry.to_wire() for entry in self.files],
            "applied": self.applied,
            "checkpoint": self.checkpoint,
            "model": self.model,
            "usage": self.usage,
        }
        if self.budget_error is not None:
            wire["error"] = self.budget_error.to_data()
        return wire


async def agent(
    backend: Backend,
    params: AgentParams,
    sink: StreamSink,
    workspace: Workspace | None,
    *,
    choose: Chooser | None = None,
    apply_edit: EditApplier | None = None,
    front_end: FrontEnd | None = None,
    jail: FileJail | None = None,
    read_resource: ResourceReader | None = None,
) -> AgentOutcome:
    """Run the agent loop until the model stops calling tools, `max_steps`, cancellation or the budget."""
    front_end = front_end or FrontEnd()
    if workspace is None:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            "Agent mode needs a workspace folder",
            cause="The editor did not send a workspace root, so the agent's tools have nowhere to work",
            fix="Open a folder, then start the agent again",
        )
    routes = await backend.routes("agent", params.model)
    settings = backend.settings.agent
    changes = Changes(workspace)
    checkpoint = RunCheckpoint(backend, changes, "agent", params.task)
    review_by = "byok agent" if (params.review or settings.review) == "preview" else None
    tools = Tools(
        changes,
        choose=choose,
        allow_commands=settings.allow_commands,
        command_timeout_s=settings.command_timeout_s,
        command_env=settings.command_env,
        commands=settings.commands,
        approvals=backend.approvals,
        approve_write=front_end.approve_write,
        runner=front_end.runner,
    )
    specs = [s for s in TOOL_SPECS if s.read_only] if front_end.read_only else TOOL_SPECS
    files = await _context_files(jail, params.files, backend, read_resource)
    rules = await load_rules(backend, [workspace.root], [f.path for f in files], agent=True, sink=sink)
    shared = "\n\nThe user shared these files:\n\n" + format_files(files) if files else ""
    mcp = await McpToolbox.open(backend, workspace.root, choose, front_end.mcp_servers)
    messages = [
        Message("system", rules.before(SYSTEM_PROMPT)),
        *front_end.history,
        Message("user", f"Workspace root: {workspace.root.name}\n\nTask: {params.task}{shared}"),
    ]
    steps: list[dict[str, Any]] = []
    usage = UsageTotal()
    model = routes[0].model_id
    stop: AgentStop = "max_steps"
    summary = ""
    budget_error: ByokError | None = None
    kept_chars = 0
    try:
        for number in range(1, params.max_steps + 1):
            request = Prompt(
                messages=list(messages),
                max_tokens=backend.settings.max_output_tokens,
                tools=specs + (mcp.specs(read_only=front_end.read_only) if mcp else []),
                reasoning=params.reasoning,
                files=files,
                workspace=workspace.root,
            )
            turn = await run_turn(backend, routes, request, sink, feature="agent")
            usage.add(turn)
            model = turn.route.model_id
            calls = turn.result.tool_calls
            messages.append(
                Message(
                    "assistant",
                    turn.result.text,
                    tool_calls=calls,
                    reasoning_items=turn.result.reasoning_items,
                )
            )
            summary = turn.result.text or summary
            step: dict[str, Any] = {"step": number, "text": turn.result.text, "toolCalls": []}
            if turn.result.reasoning:
                step["reasoning"] = turn.result.reasoning
            steps.append(step)
            if not calls:
                stop = "length" if turn.result.finish_reason == "length" else "done"
                break
            sink.delta("status", describe_calls(calls[:MAX_TOOL_CALLS_PER_STEP]))
            read_only = {spec.name for spec in request.tools if spec.read_only}
            for batch in call_batches(calls, read_only):
                if front_end.observer is not None:
                    for index in batch:
                        await front_end.observer.started(calls[index])
                results = await run_together([_run_call(tools, calls[i], i, kept_chars, mcp) for i in batch])
                for index, result in zip(batch, results, strict=True):
                    call = calls[index]
                    if front_end.observer is not None:
                        if changes.pending():  # the observer writes the edit: the files as they were go first
                            await checkpoint.record(sink)
                        result = await front_end.observer.finished(call, result, changes)
                    kept_chars += len(result.content)
                    messages.append(
                        Message(
                            "tool",
                            result.content,
                            tool_call_id=call.id,
                            name=call.name,
                            is_error=result.is_error,
                        )
                    )
                    step["toolCalls"].append(
                        {
                            "name": call.name,
                            "arguments": _brief(_shown_arguments(call)),
                            "ok": not result.is_error,
                            "result": _shorten(result.content, BRIEF_RESULT_CHARS),
                        }
                    )
            if settings.apply_each_step and apply_edit is not None and changes.pending():
                await checkpoint.record(sink)
                await _apply(changes, apply_edit, sink, review_by)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        stop = "cancelled"
    except ByokError as exc:
        if exc.code == ErrorCode.CONTEXT_TOO_LARGE and steps:
            stop, summary = "context_window", f"Stopped: the conversation no longer fits: {exc.message}"
        elif exc.code == ErrorCode.BUDGET_EXCEEDED:
            stop, summary = "budget", f"Stopped by the spending limit: {exc.message}"
            budget_error = exc
        else:
            exc.extra.update(
                steps=len(steps),
                edits=changes.edit(since_start=True, review_by=review_by),
                checkpoint=await checkpoint.record(sink),
            )
            raise
    if stop == "max_steps":
        summary = summary or f"Stopped after {params.max_steps} steps; the task may be unfinished."
    checkpoint_id = await checkpoint.record(sink)
    applied: bool | None = None
    if stop != "cancelled" and apply_edit is not None and changes.pending():
        applied = await _apply(changes, apply_edit, sink, review_by)
    elif settings.apply_each_step and any(s.applied for s in changes.files.values()):
        applied = True
    return AgentOutcome(
        summary=summary,
        steps=steps,
        stop_reason=stop,
        edits=changes.edit(since_start=True, review_by=review_by),
        files=changes.summary(),
        applied=applied,
        checkpoint=checkpoint_id,
        model=model,
        usage=usage.as_dict(),
        budget_error=budget_error,
    )


async def _apply(changes: Changes, apply_edit: EditApplier, sink: StreamSink, review_by: str | None) -> bool:
    count = sum(1 for s in changes.files.values() if s.text != s.base)
    sink.delta("status", f"applying edits to {count} file{'s' if count != 1 else ''}")
    applied = await apply_edit(changes.edit(review_by=review_by))
    if applied:
        changes.mark_applied()
    return applied
