"""`byok acp` driven by the ACP Python SDK's client against a scripted fake provider."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from acp import RequestError, text_block

from byok.base.config import CheckpointSettings
from byok.core.approvals import Approvals, workspace_scope
from byok.providers import PRESETS
from byok.workspace.checkpoints import CheckpointStore
from tests.conftest import LEAK_NEEDLES
from tests.e2e.acp_harness import CAPABILITIES, RecordingClient, acp_agent, acp_env, store_key
from tests.e2e.edits import settings_for
from tests.fakes import FakeServer, openai_stream

CHAT = ("POST", "/v1/chat/completions")
APP = 'def greet(name):\n    return "hello " + name\n'
SNIPPET = 'def greet(name):\n    return "hello, " + name.title()\n'


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(APP)
    return root


def assert_no_leak(*texts: str) -> None:
    joined = "\n".join(texts)
    assert not [n[:12] for n in LEAK_NEEDLES if n in joined]


async def test_edit_through_the_client_with_permission_allow_then_reject_and_load(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    app = root / "src" / "app.py"
    fake.route(
        *CHAT,
        openai_stream(["Looking."], tool_calls=[("c1", "read_file", {"path": "src/app.py"})]),
        openai_stream([], tool_calls=[("c2", "edit_file", {"path": "src/app.py", "code": SNIPPET})]),
        openai_stream(["Title-cased the greeting."]),
        openai_stream([], tool_calls=[("c3", "create_file", {"path": "src/new.py", "content": "X = 1\n"})]),
        openai_stream(["Left it alone."]),
    )
    env = acp_env(server_env, tmp_path, settings_for(fake, features={"agent": "gpt-4o"}))
    store_key(env)
    unsaved = APP.replace("hello", "hello there")  # the editor's unsaved buffer, not the disk
    client = RecordingClient(buffers={str(app): unsaved}, answers=["allow_once"])
    stderr = tmp_path / "agent.stderr"
    async with acp_agent(client, env, stderr) as (conn, process):
        init = await conn.initialize(protocol_version=2, client_capabilities=CAPABILITIES)
        assert init.protocol_version == 1
        assert init.agent_capabilities.load_session is True
        assert init.agent_capabilities.prompt_capabilities.embedded_context is True
        assert init.agent_capabilities.prompt_capabilities.image is False
        assert init.agent_capabilities.mcp_capabilities.http is True
        assert init.auth_methods == []
        session = await conn.new_session(cwd=str(root), mcp_servers=[])
        assert session.modes.current_mode_id == "agent"
        assert [m.id for m in session.modes.available_modes] == ["ask", "edit", "agent"]
        mode_option, model_option, reasoning_option = session.config_options
        assert reasoning_option.id == "reasoning" and reasoning_option.category == "thought_level"
        assert [o.value for o in reasoning_option.options][:3] == ["auto", "none", "minimal"]
        assert mode_option.id == "mode" and mode_option.current_value == "agent"
        assert model_option.id == "model" and model_option.current_value == "auto"
        assert [o.value for o in model_option.options] == ["auto", PRESETS["openai"].default_model]
        await conn.set_session_mode(session_id=session.session_id, mode_id="edit")
        answer = await conn.prompt(
            session_id=session.session_id, prompt=[text_block("Title-case the greeting")]
        )
        assert answer.stop_reason == "end_turn"
        assert client.reads == [str(app)], "read through the client (its unsaved buffer)"
        sent = fake.requests[1].json()["messages"]
        assert any("hello there" in str(m.get("content")) for m in sent)
        assert len(client.asks) == 1 and client.asks[0]["toolCall"]["kind"] == "edit"
        diff = client.asks[0]["toolCall"]["content"][0]
        assert diff["type"] == "diff" and diff["path"] == str(app) and "title()" in diff["newText"]
        assert [o["optionId"] for o in client.asks[0]["options"]] == ["allow_once", "allow_always", "reject"]
        assert len(client.writes) == 1 and client.writes[0][0] == str(app)
        assert client.writes[0][1] == SNIPPET
        assert app.read_text() == APP, "the edit went to the editor, not the disk"
        store = CheckpointStore.for_workspace(
            root, CheckpointSettings(), Path(env["XDG_DATA_HOME"]) / "byok" / "checkpoints"
        )
        [listed] = store.list()
        assert listed["feature"] == "agent" and listed["files"] == ["src/app.py"]
        [snapshot] = store.load(listed["id"]).files
        assert snapshot.before == unsaved, "the checkpoint holds the editor's text before the edit"
        calls = [u for u in client.updates if u["sessionUpdate"] in ("tool_call", "tool_call_update")]
        assert calls[0]["kind"] == "read" and calls[0]["locations"][0]["path"] == str(app)
        done = [u for u in calls if u["sessionUpdate"] == "tool_call_update" and u.get("status")]
        assert [u["status"] for u in done] == ["completed", "completed"]
        assert done[1]["content"][0]["type"] == "diff"
        assert client.text().endswith("Title-cased the greeting.")

        client.answers = ["reject"]
        second = await conn.prompt(session_id=session.session_id, prompt=[text_block("Add a constant")])
        assert second.stop_reason == "end_turn"
        assert len(client.asks) == 2 and not (root / "src" / "new.py").exists()
        rejected = fake.requests[-1].json()["messages"]
        assert any(m["role"] == "tool" and "rejected" in m["content"] for m in rejected)
        assert any("Title-cased the greeting." in str(m.get("content")) for m in rejected), "history kept"
        shown = client.text()
        session_id = session.session_id

    assert process.returncode == 0, "the agent exits by itself when stdin closes"
    client2 = RecordingClient()
    async with acp_agent(client2, env, tmp_path / "agent2.stderr") as (conn, _):
        await conn.initialize(protocol_version=1, client_capabilities=CAPABILITIES)
        loaded = await conn.load_session(cwd=str(root), session_id=session_id, mcp_servers=[])
        assert loaded.modes.current_mode_id == "edit"
        kinds = client2.kinds()
        assert kinds[0] == "user_message_chunk" and "tool_call" in kinds
        assert "Title-cased the greeting." in client2.text()
        assert client2.text("user_message_chunk").startswith("Title-case the greeting")
        assert client2.text() == shown, "the replay shows the conversation as it was"
    assert_no_leak(stderr.read_text(), json.dumps(client.updates), json.dumps(client2.updates))


async def test_cancel_mid_stream_closes_the_upstream_request(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    fake.route(*CHAT, openai_stream([f"word{i} " for i in range(200)], delay_between=0.05))
    env = acp_env(server_env, tmp_path, settings_for(fake, features={"agent": "gpt-4o"}))
    store_key(env)
    client = RecordingClient()
    async with acp_agent(client, env, tmp_path / "agent.stderr") as (conn, _):
        await conn.initialize(protocol_version=1, client_capabilities=CAPABILITIES)
        session = await conn.new_session(cwd=str(root), mcp_servers=[])
        running = asyncio.create_task(
            conn.prompt(session_id=session.session_id, prompt=[text_block("Write a lot")])
        )
        await asyncio.wait_for(client.first_chunk.wait(), 30)
        await conn.cancel(session_id=session.session_id)
        answer = await asyncio.wait_for(running, 30)
        assert answer.stop_reason == "cancelled"
        assert await fake.await_disconnect(10), "the provider stream was closed"
        assert "word199" not in client.text()


async def test_bad_requests_and_byok_errors_leave_the_agent_running(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    env = acp_env(server_env, tmp_path, settings_for(fake, features={"agent": "gpt-4o"}))
    client = RecordingClient()
    async with acp_agent(client, env, tmp_path / "agent.stderr") as (conn, process):
        init = await conn.initialize(protocol_version=1, client_capabilities=CAPABILITIES)
        assert len(init.auth_methods) == 1
        assert "byok keys set openai" in init.auth_methods[0].description
        with pytest.raises(RequestError) as invalid:
            await conn.new_session(cwd="relative/path", mcp_servers=[])
        assert invalid.value.data["code"] == "bad_request" and "cwd" in str(invalid.value)
        session = await conn.new_session(cwd=str(root), mcp_servers=[])
        with pytest.raises(RequestError) as missing:
            await conn.prompt(session_id=session.session_id, prompt=[text_block("hi")])
        assert missing.value.code == -32050
        assert missing.value.data["code"] == "key_missing" and "byok keys set" in missing.value.data["fix"]
        with pytest.raises(RequestError) as mode:
            await conn.set_session_mode(session_id=session.session_id, mode_id="yolo")
        assert "modeId" in str(mode.value)
        with pytest.raises(RequestError) as option:
            await conn.set_config_option(config_id="model", session_id=session.session_id, value="nope")
        assert "value" in str(option.value)
        chosen = await conn.set_config_option(config_id="mode", session_id=session.session_id, value="ask")
        assert chosen.config_options[0].current_value == "ask"
        effort = await conn.set_config_option(
            config_id="reasoning", session_id=session.session_id, value="high"
        )
        assert effort.config_options[2].current_value == "high"
        with pytest.raises(RequestError) as extreme:
            await conn.set_config_option(
                config_id="reasoning", session_id=session.session_id, value="extreme"
            )
        assert "reasoning effort" in str(extreme.value)
        assert process.returncode is None


async def test_malformed_lines_are_answered_and_never_fatal(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    """Raw stdio: not JSON (-32700), JSON that is not an object or not a request (-32600), an unknown
    method (-32601), params that do not validate (-32602 naming the field), ids and folders byok refuses
    (-32050 with its error data), bad notifications (no answer); then a good request is answered."""
    env = acp_env(server_env, tmp_path, {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "byok.cli",
        "acp",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    lines = [
        b"this is not json",
        b"[1, 2]",
        b'"x"',
        b'{"jsonrpc": "2.0", "id": 3, "method": 5}',
        b'{"jsonrpc": "2.0", "id": 4, "method": "no/such_method", "params": {}}',
        b'{"jsonrpc": "2.0", "id": 5, "method": "session/new", "params": {"cwd": 42, "mcpServers": []}}',
        b'{"jsonrpc": "2.0", "id": 7, "method": "session/prompt", "params": {}}',
        b'{"jsonrpc": "2.0", "id": 8, "method": "session/prompt", "params": {"sessionId": "x", "prompt": "hi"}}',
        b'{"jsonrpc": "2.0", "id": 9, "method": "session/set_mode", "params": {"sessionId": 5, "modeId": []}}',
        b'{"jsonrpc": "2.0", "id": 10, "method": "session/load", '
        b'"params": {"sessionId": "../../etc/passwd", "cwd": "/", "mcpServers": []}}',
        b'{"jsonrpc": "2.0", "id": 11, "method": "session/new", "params": {"cwd": "/no/such/dir", "mcpServers": []}}',
        b'{"jsonrpc": "2.0", "id": 12, "method": "session/prompt", '
        b'"params": {"sessionId": "nope", "prompt": [{"type": "text", "text": "hi"}]}}',
        b'{"jsonrpc": "2.0", "id": 13, "method": "initialize", "params": {"protocolVersion": -1}}',
        b'{"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": 5}}',
        b'{"jsonrpc": "2.0", "method": "session/cancel", "params": {"sessionId": "nope"}}',
        b'{"jsonrpc": "2.0", "id": 6, "method": "initialize", "params": {"protocolVersion": 1}}',
    ]
    process.stdin.write(b"\n".join(lines) + b"\n")
    await process.stdin.drain()
    answers = []
    for _ in range(14):
        answers.append(json.loads(await asyncio.wait_for(process.stdout.readline(), 30)))
    by_id = {a["id"]: a for a in answers if a["id"] is not None}
    errors = sorted(a["error"]["code"] for a in answers if a["id"] is None)
    assert errors == [-32700, -32600, -32600]
    assert by_id[3]["error"]["code"] == -32600
    assert by_id[4]["error"]["code"] == -32601
    assert by_id[5]["error"]["code"] == -32602 and "cwd" in json.dumps(by_id[5]["error"])
    for invalid in (7, 8, 9, 13):
        assert by_id[invalid]["error"]["code"] == -32602, by_id[invalid]
    for refused in (10, 11, 12):
        assert by_id[refused]["error"]["code"] == -32050
        assert (
            by_id[refused]["error"]["data"]["code"] == "bad_request"
            and by_id[refused]["error"]["data"]["fix"]
        )
    assert by_id[6]["result"]["protocolVersion"] == 1
    process.stdin.close()
    assert await asyncio.wait_for(process.wait(), 30) == 0


async def test_agent_mode_edits_freely_and_always_allow_covers_the_program(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Agent mode (default): no ask for edits; a command asks, `allow_always` covers the same program (and
    is remembered for the workspace); a client without `terminal` gets byok's runner; without fs/* edits
    go to disk."""
    root = workspace(tmp_path)
    fake.route(
        *CHAT,
        openai_stream([], tool_calls=[("c1", "edit_file", {"path": "src/app.py", "code": SNIPPET})]),
        openai_stream([], tool_calls=[("c2", "run_command", {"command": "echo one"})]),
        openai_stream([], tool_calls=[("c3", "run_command", {"command": "echo two && echo three"})]),
        openai_stream(
            [], tool_calls=[("c4", "run_command", {"command": "echo four; grep -c title src/app.py"})]
        ),
        openai_stream(["All done."]),
    )
    env = acp_env(server_env, tmp_path, settings_for(fake, features={"agent": "gpt-4o"}))
    store_key(env)
    client = RecordingClient(answers=["allow_always", "allow_once"])
    async with acp_agent(client, env, tmp_path / "agent.stderr") as (conn, _):
        await conn.initialize(protocol_version=1)  # no fs, no terminal
        session = await conn.new_session(cwd=str(root), mcp_servers=[])
        answer = await conn.prompt(session_id=session.session_id, prompt=[text_block("Go")])
        assert answer.stop_reason == "end_turn"
    assert (root / "src" / "app.py").read_text() == SNIPPET, "written to disk by byok"
    assert client.writes == [] and client.reads == []
    assert [a["toolCall"]["kind"] for a in client.asks] == ["execute", "execute"], (
        "asked for `echo`, then for the `grep` that `echo` does not cover"
    )
    results = {
        m["tool_call_id"]: m["content"] for m in fake.requests[4].json()["messages"] if m["role"] == "tool"
    }
    assert "one" in results["c2"] and "two\nthree" in results["c3"] and "four\n1" in results["c4"]
    approvals = Approvals(Path(env["XDG_DATA_HOME"]) / "byok" / "approvals")
    assert approvals.remembered(workspace_scope(root)) == ["command:echo"], "remembered for the workspace"


async def test_a_spending_limit_stop_is_byok_error_with_its_data(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    settings = settings_for(fake, features={"agent": "gpt-4o"}, budget={"monthlyUsd": 0.000001})
    env = acp_env(server_env, tmp_path, settings)
    store_key(env)
    client = RecordingClient()
    async with acp_agent(client, env, tmp_path / "agent.stderr") as (conn, process):
        await conn.initialize(protocol_version=1, client_capabilities=CAPABILITIES)
        session = await conn.new_session(cwd=str(root), mcp_servers=[])
        with pytest.raises(RequestError) as stopped:
            await conn.prompt(session_id=session.session_id, prompt=[text_block("Do it")])
        assert stopped.value.code == -32050
        data = stopped.value.data
        assert data["code"] == "budget_exceeded" and data["cause"] and data["fix"] and "limitUsd" in data
        assert fake.requests == [], "nothing was sent to the provider"
        assert process.returncode is None
