"""MCP servers an ACP client hands over in session/new: connected through byok's MCP client without the
first-start ask, their tools asked about per call through session/request_permission; real servers
(server-everything over streamable HTTP, mcp-server-time over stdio) driven by the ACP Python SDK's client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from acp import text_block
from acp.schema import EnvVariable, HttpMcpServer, McpServerStdio

from tests.e2e.acp_harness import CAPABILITIES, RecordingClient, acp_agent, acp_env, store_key
from tests.e2e.edits import settings_for
from tests.fakes import FakeServer, openai_stream
from tests.mcp_servers.test_mcp_agent import wait_until_gone

pytestmark = pytest.mark.mcp_servers

CHAT = ("POST", "/v1/chat/completions")
HEADER_SECRET = "FAKE-acp-mcp-header-secret-77e1"


async def test_client_mcp_servers_are_connected_without_a_start_ask(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, time_server: Path, everything_http: int
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    fake.route(
        *CHAT,
        openai_stream(
            [],
            tool_calls=[
                ("c1", "mcp__everything__echo", {"message": "hello over ACP"}),
                ("c2", "mcp__clock__get_current_time", {"timezone": "UTC"}),
            ],
        ),
        openai_stream(["Both tools answered."]),
    )
    env = acp_env(server_env, tmp_path, settings_for(fake, features={"agent": "gpt-4o"}))
    store_key(env)
    client = RecordingClient(answers=["allow_once", "allow_always"])
    servers = [
        HttpMcpServer(
            type="http",
            name="everything",
            url=f"http://127.0.0.1:{everything_http}/mcp",
            headers=[{"name": "Authorization", "value": f"Bearer {HEADER_SECRET}"}],
        ),
        McpServerStdio(
            name="clock",
            command=str(time_server),
            args=[],
            env=[EnvVariable(name="CLOCK_NOTE", value="${keyring:openai}")],
        ),
    ]
    stderr = tmp_path / "agent.stderr"
    async with acp_agent(client, env, stderr) as (conn, _):
        await conn.initialize(protocol_version=1, client_capabilities=CAPABILITIES)
        session = await conn.new_session(cwd=str(root), mcp_servers=servers)
        answer = await conn.prompt(
            session_id=session.session_id, prompt=[text_block("Echo and tell the time")]
        )
        assert answer.stop_reason == "end_turn"
    declared = [t["function"]["name"] for t in fake.requests[0].json()["tools"]]
    assert "mcp__everything__echo" in declared and "mcp__clock__get_current_time" in declared
    questions = [a["toolCall"]["content"][0]["content"]["text"] for a in client.asks]
    assert len(questions) == 2 and not any("Start MCP server" in q for q in questions), questions
    assert [o["optionId"] for o in client.asks[0]["options"]] == ["allow_once", "allow_always", "reject"]
    results = {
        m["tool_call_id"]: m["content"] for m in fake.requests[1].json()["messages"] if m["role"] == "tool"
    }
    assert "Echo: hello over ACP" in results["c1"]
    assert "UTC" in results["c2"] or "timezone" in results["c2"]
    assert not wait_until_gone(str(time_server)), "the client's stdio MCP server outlived the ACP agent"
    exchanged = stderr.read_text() + json.dumps(client.updates)
    assert HEADER_SECRET not in exchanged, "a handed-over credential header reached a log or the client"
