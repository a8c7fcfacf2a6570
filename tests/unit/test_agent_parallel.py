"""Parallel tool calls: consecutive read-only calls of one step run side by side; results keep the model's order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from byok.features.agent import call_batches, run_together
from byok.features.agent_tools import TOOL_SPECS, ToolResult, Tools
from byok.providers.base import ToolCall
from byok.workspace.changes import Changes
from byok.workspace.jail import Workspace

READ_ONLY = {spec.name for spec in TOOL_SPECS if spec.read_only}


def calls(*names: str) -> list[ToolCall]:
    return [ToolCall(f"c{i}", name, {}) for i, name in enumerate(names)]


def test_the_built_in_read_only_tools() -> None:
    assert {"read_file", "list_files", "search"} == READ_ONLY


def test_consecutive_read_only_calls_share_a_batch_and_writes_run_alone() -> None:
    assert call_batches(calls("read_file", "search", "list_files"), READ_ONLY) == [[0, 1, 2]]
    assert call_batches(
        calls("read_file", "read_file", "edit_file", "read_file", "run_command", "run_command", "search"),
        READ_ONLY,
    ) == [[0, 1], [2], [3], [4], [5], [6]]
    assert call_batches(calls("mcp__fs__read", "read_file"), READ_ONLY | {"mcp__fs__read"}) == [[0, 1]]
    assert call_batches(calls("mcp__fs__write", "read_file"), READ_ONLY) == [[0], [1]]
    assert call_batches([], READ_ONLY) == []


async def test_a_batch_runs_side_by_side_and_answers_in_order() -> None:
    """The first call cannot finish until the second has started: run one after the other, this never ends."""
    second_started = asyncio.Event()
    finished: list[str] = []

    async def first() -> ToolResult:
        await second_started.wait()
        finished.append("first")
        return ToolResult("first")

    async def second() -> ToolResult:
        second_started.set()
        finished.append("second")
        return ToolResult("second")

    results = await asyncio.wait_for(run_together([first(), second()]), timeout=30)
    assert [r.content for r in results] == ["first", "second"], "the model's order, not the finishing order"
    assert finished == ["second", "first"]


async def test_a_failure_or_cancel_stops_the_rest_of_the_batch() -> None:
    cancelled: list[str] = []

    async def waits_forever(name: str) -> ToolResult:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return ToolResult(name)

    async def fails() -> ToolResult:
        await asyncio.sleep(0)
        raise RuntimeError("a bug, not a tool error")

    with pytest.raises(RuntimeError):
        await asyncio.wait_for(run_together([waits_forever("a"), fails(), waits_forever("b")]), timeout=30)
    assert sorted(cancelled) == ["a", "b"]

    cancelled.clear()
    task = asyncio.ensure_future(run_together([waits_forever("c"), waits_forever("d")]))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == ["c", "d"]


async def test_real_read_only_tools_run_together_with_their_own_results(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "b.txt").write_text("beta\n")
    tools = Tools(Changes(Workspace(tmp_path)), choose=None, allow_commands=False, command_timeout_s=5)
    batch = [
        ToolCall("1", "search", {"query": "beta"}),
        ToolCall("2", "read_file", {"path": "a.txt"}),
        ToolCall("3", "list_files", {}),
        ToolCall("4", "read_file", {"path": "missing.txt"}),
    ]
    results = await run_together([tools.call(call) for call in batch])
    assert [r.content for r in results] == ["b.txt:1: beta", "alpha\n", "a.txt\nb.txt", results[3].content]
    assert results[3].is_error and "missing.txt does not exist" in results[3].content
