"""Review of the ACP agent (issue 17), driving `byok acp` over stdio with the ACP Python SDK's client."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from acp import text_block

from tests.e2e.acp_harness import CAPABILITIES, RecordingClient, acp_agent, acp_env, store_key
from tests.e2e.edits import settings_for
from tests.fakes import FakeServer, openai_stream

CHAT = ("POST", "/v1/chat/completions")


async def test_a_later_prompt_reads_the_editors_buffer_as_it_is_now(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """The client's text of a file was cached for the whole session: after the user changed the buffer, a
    later prompt's read_file still gave the model the text of the first read."""
    root = tmp_path / "ws"
    root.mkdir()
    app = root / "app.py"
    app.write_text("VERSION = 'disk'\n")
    fake.route(
        *CHAT,
        openai_stream([], tool_calls=[("c1", "read_file", {"path": "app.py"})]),
        openai_stream(["Read it."]),
        openai_stream([], tool_calls=[("c2", "read_file", {"path": "app.py"})]),
        openai_stream(["Read it again."]),
    )
    env = acp_env(server_env, tmp_path, settings_for(fake, features={"agent": "gpt-4o"}))
    store_key(env)
    client = RecordingClient(buffers={str(app): "VERSION = 'first buffer'\n"})
    async with acp_agent(client, env, tmp_path / "agent.stderr") as (conn, _):
        await conn.initialize(protocol_version=1, client_capabilities=CAPABILITIES)
        session = await conn.new_session(cwd=str(root), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("Read app.py")])
        client.buffers[str(app)] = "VERSION = 'edited buffer'\n"
        await conn.prompt(session_id=session.session_id, prompt=[text_block("Read app.py again")])

    def tool_results(request: int) -> list[str]:
        return [m["content"] for m in fake.requests[request].json()["messages"] if m["role"] == "tool"]

    assert "first buffer" in tool_results(1)[-1]
    assert "edited buffer" in tool_results(3)[-1], "the second prompt was given the stale buffer"
    assert client.reads == [str(app), str(app)]


async def _raw_agent(env: dict[str, str], stderr: Path) -> asyncio.subprocess.Process:
    with stderr.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "byok.cli",
            "acp",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=sink,
        )


async def _send(process: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(message).encode() + b"\n")
    await process.stdin.drain()


async def _next(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line, "the agent closed its output"
    message: dict[str, Any] = json.loads(line)
    return message


@pytest.mark.parametrize(
    "bad_answer", [{"error": "boom"}, {"result": {"content": 5}}], ids=["error-not-object", "result-invalid"]
)
async def test_a_malformed_answer_to_the_agents_own_request_leaves_it_running(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, bad_answer: dict[str, Any]
) -> None:
    """The SDK reads `error.code` of a client's answer without checking `error` is an object: answering
    the agent's fs/read_text_file with `"error": "boom"` killed its read loop (no more requests answered).
    A result that does not validate failed the whole prompt as "invalid params"; the file is read from
    disk instead, as when the client cannot read it."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text("X = 1\n")
    fake.route(
        *CHAT,
        openai_stream([], tool_calls=[("c1", "read_file", {"path": "app.py"})]),
        openai_stream(["Done."]),
    )
    env = acp_env(server_env, tmp_path, settings_for(fake, features={"agent": "gpt-4o"}))
    store_key(env)
    process = await _raw_agent(env, tmp_path / "agent.stderr")
    try:
        capabilities = {"fs": {"readTextFile": True, "writeTextFile": True}}
        await _send(
            process,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": 1, "clientCapabilities": capabilities},
            },
        )
        assert "result" in await _next(process)
        await _send(
            process,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "session/new",
                "params": {"cwd": str(root), "mcpServers": []},
            },
        )
        session_id = (await _next(process))["result"]["sessionId"]
        await _send(
            process,
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "session/prompt",
                "params": {"sessionId": session_id, "prompt": [{"type": "text", "text": "read app.py"}]},
            },
        )
        answer: dict[str, Any] | None = None
        while answer is None:
            message = await _next(process)
            if message.get("method") == "fs/read_text_file":
                await _send(process, {"jsonrpc": "2.0", "id": message["id"], **bad_answer})
            elif message.get("id") == 3:
                answer = message
        assert answer.get("result", {}).get("stopReason") == "end_turn", answer
        tool_results = [m["content"] for m in fake.requests[1].json()["messages"] if m["role"] == "tool"]
        assert tool_results == ["X = 1\n"], "read from disk"
        await _send(
            process, {"jsonrpc": "2.0", "id": 4, "method": "initialize", "params": {"protocolVersion": 1}}
        )
        while (message := await _next(process)).get("id") != 4:
            pass
        assert message["result"]["protocolVersion"] == 1
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_a_malformed_answer_to_a_permission_ask_is_a_refusal(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """A permission answer that does not validate failed the whole prompt as "invalid params"; it is a
    refusal (as a cancelled ask), the command does not run and the prompt goes on."""
    root = tmp_path / "ws"
    root.mkdir()
    fake.route(
        *CHAT,
        openai_stream([], tool_calls=[("c1", "run_command", {"command": "touch ran"})]),
        openai_stream(["Done."]),
    )
    env = acp_env(server_env, tmp_path, settings_for(fake, features={"agent": "gpt-4o"}))
    store_key(env)
    process = await _raw_agent(env, tmp_path / "agent.stderr")
    try:
        await _send(
            process, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": 1}}
        )
        assert "result" in await _next(process)
        await _send(
            process,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "session/new",
                "params": {"cwd": str(root), "mcpServers": []},
            },
        )
        session_id = (await _next(process))["result"]["sessionId"]
        prompt = {"sessionId": session_id, "prompt": [{"type": "text", "text": "touch a file"}]}
        await _send(process, {"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": prompt})
        asked = 0
        while (message := await _next(process)).get("id") != 3:
            if message.get("method") == "session/request_permission":
                asked += 1
                await _send(process, {"jsonrpc": "2.0", "id": message["id"], "result": {"outcome": 5}})
        assert message.get("result", {}).get("stopReason") == "end_turn", message
        assert asked == 1 and not (root / "ran").exists()
        tool_results = [m["content"] for m in fake.requests[1].json()["messages"] if m["role"] == "tool"]
        assert "not" in tool_results[0].lower(), tool_results
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
