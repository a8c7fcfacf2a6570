"""Review of the ACP agent (issue 17), driving `byok acp` over stdio with the ACP Python SDK's client."""

from __future__ import annotations

from pathlib import Path

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
