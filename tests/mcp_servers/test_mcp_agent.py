"""The agent with real MCP servers (server-everything, mcp-server-time) over stdio, streamable HTTP and SSE,
driven end to end through the byok server by a scripted fake provider of each wire family."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from lsprotocol import types

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE, TEST_KEY_OPENAI
from tests.e2e.edits import settings_for
from tests.e2e.harness import Session, lsp_session
from tests.fakes import FakeServer, anthropic_stream, gemini_stream, openai_stream
from tests.fakes_bedrock import (
    ACCESS_KEY,
    MODEL,
    SECRET_KEY,
    SESSION_TOKEN,
    FakeBedrock,
    StreamReply,
    event,
    metadata,
    text_events,
)

pytestmark = pytest.mark.mcp_servers

CHAT = ("POST", "/v1/chat/completions")
MESSAGES = ("POST", "/v1/messages")
GEMINI = ("POST", r"/v1beta/models/gemini-2\.5-flash:streamGenerateContent")
LINGER = "987654.321"
"""`sleep` argument of the child a test server leaves behind: how the test finds it in /proc."""
ENV_SECRET = "FAKE-mcp-env-secret-5a7c9e"


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_until_gone(marker: str, timeout_s: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def stdio_servers(everything_js: Path, time_server: Path, **extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "everything": {
            "command": "node",
            "args": [str(everything_js), "stdio"],
            "env": {"EVERYTHING_TOKEN": "${env:MCP_TEST_ENV_SECRET}"},
            **extra.get("everything", {}),
        },
        "time": {"command": str(time_server), **extra.get("time", {})},
    }


def answering(
    *, start: str = "Start", tool: str = "Allow once"
) -> Callable[[types.ShowMessageRequestParams], str]:
    def answer(params: types.ShowMessageRequestParams) -> str:
        titles = [a.title for a in params.actions or []]
        return start if "Start" in titles else tool

    return answer


def asks(s: Session, kind: str) -> list[str]:
    """The questions asked of one kind: "start" (Start / Don't start) or "tool" (Allow once / ...)."""
    wanted = "Start" if kind == "start" else "Allow once"
    return [m.message for m in s.message_requests if wanted in [a.title for a in m.actions or []]]


ECHO = {"message": "hello from the agent"}
TIME = {"timezone": "UTC"}


def openai_script(fake: FakeServer) -> None:
    fake.route(
        *CHAT,
        openai_stream(
            [],
            tool_calls=[("c1", "mcp__everything__echo", ECHO), ("c2", "mcp__time__get_current_time", TIME)],
        ),
        openai_stream(["done"]),
    )


def anthropic_script(fake: FakeServer) -> None:
    fake.route(
        *MESSAGES,
        anthropic_stream(
            [],
            tool_uses=[
                ("toolu_1", "mcp__everything__echo", json.dumps(ECHO)),
                ("toolu_2", "mcp__time__get_current_time", json.dumps(TIME)),
            ],
        ),
        anthropic_stream(["done"]),
    )


def gemini_script(fake: FakeServer) -> None:
    fake.route(
        *GEMINI,
        gemini_stream(
            [], function_calls=[("mcp__everything__echo", ECHO), ("mcp__time__get_current_time", TIME)]
        ),
        gemini_stream(["done"]),
    )


SCRIPTS: dict[str, tuple[Callable[[FakeServer], None], str, str]] = {
    "openai": (openai_script, "gpt-4o", TEST_KEY_OPENAI),
    "anthropic": (anthropic_script, "claude-sonnet-4-5", TEST_KEY_ANTHROPIC),
    "google": (gemini_script, "gemini-2.5-flash", TEST_KEY_GOOGLE),
}


def check_tool_results(first: dict[str, Any], last: dict[str, Any]) -> None:
    declared, sent = json.dumps(first), json.dumps(last)
    assert "mcp__everything__echo" in declared and "mcp__time__get_current_time" in declared
    assert "read_file" in declared, "MCP tools come beside the built-in ones"
    assert "Echo: hello from the agent" in sent
    assert '\\"timezone\\": \\"UTC\\"' in sent or '"timezone": "UTC"' in sent


@pytest.mark.parametrize("family", sorted(SCRIPTS))
async def test_real_mcp_tools_on_each_wire_family(
    family: str,
    fake: FakeServer,
    server_env: dict[str, str],
    tmp_path: Path,
    everything_js: Path,
    time_server: Path,
) -> None:
    script, model, key = SCRIPTS[family]
    script(fake)
    root = tmp_path / "ws"
    root.mkdir()
    settings = settings_for(fake, mcp={"servers": stdio_servers(everything_js, time_server)})
    env = {**server_env, "MCP_TEST_ENV_SECRET": ENV_SECRET}
    async with lsp_session(settings, env, root=root.as_uri()) as s:
        s.answer = answering()
        await s.command("byok.setKey", {"provider": family, "key": key})
        result = await s.command("byok.agent", {"task": "echo and time", "model": model})
        assert result["stopReason"] == "done", result
        calls = result["steps"][0]["toolCalls"]
        assert [c["name"] for c in calls] == ["mcp__everything__echo", "mcp__time__get_current_time"]
        assert all(c["ok"] for c in calls), calls
        start_asks = asks(s, "start")
        assert len(start_asks) == 2
        assert any(q.startswith('Start MCP server "everything": node ') for q in start_asks)
        assert all("EVERYTHING_TOKEN" not in q or ENV_SECRET not in q for q in start_asks)
        assert len(asks(s, "tool")) == 2
        check_tool_results(fake.requests[0].json(), fake.requests[-1].json())
        if family == "google":
            declarations = fake.requests[0].json()["tools"][0]["functionDeclarations"]
            assert "$schema" not in json.dumps(declarations), "server-everything's schemas carry $schema"
        status = await s.command("byok.mcpStatus", {})
        by_name = {server["name"]: server for server in status["servers"]}
        assert by_name["everything"]["state"] == "running" and by_name["everything"]["transport"] == "stdio"
        assert any(t["name"] == "echo" for t in by_name["everything"]["tools"])
        assert any(r["uri"].startswith("demo://") for r in by_name["everything"]["resources"])
        assert ENV_SECRET not in s.everything()
    assert not wait_until_gone(str(everything_js)), "server-everything outlived the byok server"
    assert not wait_until_gone(str(time_server)), "mcp-server-time outlived the byok server"


async def test_real_mcp_tools_on_bedrock(
    server_env: dict[str, str], tmp_path: Path, everything_js: Path, time_server: Path
) -> None:
    def tool_use(index: int, call_id: str, name: str, arguments: dict[str, Any]) -> list[bytes]:
        return [
            event(
                "contentBlockStart",
                {"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": call_id, "name": name}}},
            ),
            event(
                "contentBlockDelta",
                {"contentBlockIndex": index, "delta": {"toolUse": {"input": json.dumps(arguments)}}},
            ),
            event("contentBlockStop", {"contentBlockIndex": index}),
        ]

    turn = [
        event("messageStart", {"role": "assistant"}),
        *tool_use(0, "tooluse_1", "mcp__everything__echo", ECHO),
        *tool_use(1, "tooluse_2", "mcp__time__get_current_time", TIME),
        event("messageStop", {"stopReason": "tool_use"}),
        metadata(50, 9),
    ]
    root = tmp_path / "ws"
    root.mkdir()
    credentials = json.dumps(
        {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY, "sessionToken": SESSION_TOKEN}
    )
    env = {k: v for k, v in server_env.items() if not k.startswith("AWS_")} | {
        "MCP_TEST_ENV_SECRET": ENV_SECRET
    }
    with FakeBedrock(session_token=SESSION_TOKEN) as bedrock:
        bedrock.replies = [StreamReply(turn), StreamReply(text_events("done"))]
        settings = {
            "providers": {"bedrock": {"region": "us-east-1", "endpointUrl": bedrock.url}},
            "mcp": {"servers": stdio_servers(everything_js, time_server)},
        }
        async with lsp_session(settings, env, root=root.as_uri()) as s:
            s.answer = answering()
            await s.command("byok.setKey", {"provider": "bedrock", "key": credentials})
            result = await s.command("byok.agent", {"task": "echo and time", "model": MODEL})
            assert result["stopReason"] == "done", result
            assert all(c["ok"] for c in result["steps"][0]["toolCalls"])
            check_tool_results(bedrock.requests[0].json(), bedrock.requests[-1].json())
    assert not wait_until_gone(str(everything_js))


async def test_auto_approve_always_allow_and_deny(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, everything_js: Path, time_server: Path
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    servers = stdio_servers(everything_js, time_server, everything={"autoApprove": ["echo"]})
    settings = settings_for(fake, mcp={"servers": servers})
    sum_call = ("c2", "mcp__everything__get-sum", {"a": 2, "b": 3})
    fake.route(
        *CHAT,
        openai_stream([], tool_calls=[("c1", "mcp__everything__echo", ECHO), sum_call]),
        openai_stream(["first"]),
        openai_stream([], tool_calls=[sum_call, ("c3", "mcp__time__get_current_time", TIME)]),
        openai_stream(["second"]),
    )
    env = {**server_env, "MCP_TEST_ENV_SECRET": ENV_SECRET}
    async with lsp_session(settings, env, root=root.as_uri()) as s:
        s.answer = answering(tool="Always allow")
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        first = await s.command("byok.agent", {"task": "one", "model": "gpt-4o"})
        assert [c["ok"] for c in first["steps"][0]["toolCalls"]] == [True, True]
        tool_asks = asks(s, "tool")
        assert len(tool_asks) == 1 and '"get-sum"' in tool_asks[0], "echo is auto-approved"
        assert "The sum of 2 and 3 is 5" in json.dumps(fake.requests[1].json())

        s.answer = answering(tool="Deny")
        second = await s.command("byok.agent", {"task": "two", "model": "gpt-4o"})
        sum_result, time_result = second["steps"][0]["toolCalls"]
        assert sum_result["ok"] is True, "get-sum was always allowed in this workspace"
        assert time_result["ok"] is False and "did not allow" in time_result["result"]
        assert len(asks(s, "tool")) == 2 and len(asks(s, "start")) == 2, "starts are asked once"
        tool_messages = [m for m in fake.requests[3].json()["messages"] if m["role"] == "tool"]
        assert "not run" in tool_messages[1]["content"]
    approvals = (tmp_path / "data" / "byok" / "approvals").glob("*.json")
    remembered = "".join(path.read_text() for path in approvals)
    assert re.search(r"mcp-tool:everything@[0-9a-f]{16}/get-sum", remembered) and str(root) not in remembered


async def test_a_killed_server_is_a_tool_error_and_no_process_outlives_byok(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, time_server: Path
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    # The server leaves a child behind in its process group: the byok server must end it too.
    spawner = {
        "command": "sh",
        "args": ["-c", f'echo "token is $MCP_TOKEN" >&2; sleep {LINGER} & exec "$0"', str(time_server)],
        "env": {"MCP_TOKEN": "${env:MCP_TEST_ENV_SECRET}"},
    }
    settings = settings_for(fake, mcp={"servers": {"time": spawner}})
    fake.route(
        *CHAT,
        openai_stream([], tool_calls=[("c1", "mcp__time__get_current_time", TIME)]),
        openai_stream(["first"]),
        openai_stream([], tool_calls=[("c2", "mcp__time__get_current_time", TIME)]),
        openai_stream(["went on"]),
    )
    env = {**server_env, "MCP_TEST_ENV_SECRET": ENV_SECRET}
    async with lsp_session(settings, env, root=root.as_uri()) as s:
        s.answer = answering()
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        first = await s.command("byok.agent", {"task": "time", "model": "gpt-4o"})
        assert first["steps"][0]["toolCalls"][0]["ok"] is True
        assert processes_with(LINGER), "the server's child runs"
        logged = [m.message for m in s.client.log_messages if "token is" in m.message]
        assert logged and ENV_SECRET not in logged[0], "the server's stderr is logged, redacted"

        def kill_then_allow(params: types.ShowMessageRequestParams) -> str:
            for pid in processes_with(str(time_server)):
                os.kill(pid, signal.SIGKILL)
            return "Allow once"

        s.answer = kill_then_allow
        second = await s.command("byok.agent", {"task": "time again", "model": "gpt-4o"})
        assert second["stopReason"] == "done" and second["summary"] == "went on"
        call = second["steps"][0]["toolCalls"][0]
        assert call["ok"] is False and "MCP server 'time'" in call["result"], call
        assert ENV_SECRET not in s.everything()
    assert not wait_until_gone(LINGER), "the server's child outlived the byok server"
    assert not wait_until_gone(str(time_server))


async def test_http_sse_status_resources_and_workspace_configs(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, everything_http: int, everything_sse: int
) -> None:
    root = tmp_path / "ws"
    (root / ".vscode").mkdir(parents=True)
    marker = tmp_path / "workspace-server-ran"
    evil = json.dumps({"command": "touch", "args": [str(marker)]})
    (root / ".vscode" / "mcp.json").write_text(
        '{\n  // a workspace server: reported, never started\n  "servers": {"evil": ' + evil + "},\n}\n"
    )
    (root / ".mcp.json").write_text(json.dumps({"mcpServers": {"remote": {"url": "https://x.test/mcp"}}}))
    settings = settings_for(
        fake,
        mcp={
            "startOnLaunch": True,
            "servers": {
                "streamable": {"url": f"http://127.0.0.1:{everything_http}/mcp"},
                "legacy": {"url": f"http://127.0.0.1:{everything_sse}/sse"},
                "off": {"command": "touch", "args": [str(marker)], "enabled": False},
            },
        },
    )
    fake.route(*CHAT, openai_stream(["I read it."]))
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        s.answer = answering()
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        deadline = time.monotonic() + 60
        while True:
            status = {v["name"]: v for v in (await s.command("byok.mcpStatus", {}))["servers"]}
            if status["streamable"]["state"] == "running" and status["legacy"]["state"] == "running":
                break
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.2)
        assert status["streamable"]["transport"] == "http" and status["legacy"]["transport"] == "sse"
        assert status["off"]["state"] == "disabled"
        assert status["evil"] == {
            "name": "evil",
            "transport": "stdio",
            "state": "found",
            "source": ".vscode/mcp.json",
            "tools": [],
            "resources": [],
        }
        assert status["remote"]["state"] == "found" and status["remote"]["source"] == ".mcp.json"
        resource = "demo://resource/static/document/architecture.md"
        result = await s.command(
            "byok.chat",
            {
                "messages": [{"role": "user", "content": "Summarise"}],
                "files": [f"mcp://streamable/{quote(resource, safe='')}"],
                "model": "gpt-4o",
            },
        )
        assert result["text"] == "I read it."
        sent = json.dumps(fake.requests[0].json())
        assert f"mcp://streamable/{quote(resource, safe='')}" in sent and "Architecture" in sent
    assert not marker.exists(), "nothing from the workspace or a disabled server was started"


async def test_list_changed_binary_results_and_resources_in_agent_files(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, everything_js: Path, time_server: Path
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    servers = stdio_servers(everything_js, time_server, everything={"autoApprove": "*"})
    settings = settings_for(fake, mcp={"servers": servers, "maxResultBytes": 200})
    gzip = {
        "name": "note.txt.gz",
        "data": "data:text/plain;base64,aGVsbG8gd29ybGQ=",
        "outputType": "resource",
    }
    fake.route(
        *CHAT,
        openai_stream(
            [],
            tool_calls=[
                ("c1", "mcp__everything__gzip-file-as-resource", gzip),
                ("c2", "mcp__everything__echo", {"message": "x" * 500}),
            ],
        ),
        openai_stream(["compressed"]),
    )
    resource = "demo://resource/static/document/features.md"
    env = {**server_env, "MCP_TEST_ENV_SECRET": ENV_SECRET}
    async with lsp_session(settings, env, root=root.as_uri()) as s:
        s.answer = answering()
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command(
            "byok.agent",
            {"task": "gzip", "model": "gpt-4o", "files": [f"mcp://everything/{quote(resource, safe='')}"]},
        )
        assert result["stopReason"] == "done" and asks(s, "tool") == [], "autoApprove '*' asks nothing"
        first, last = fake.requests[0].json(), fake.requests[-1].json()
        assert f"mcp://everything/{quote(resource, safe='')}" in first["messages"][1]["content"]
        results = {m["tool_call_id"]: m["content"] for m in last["messages"] if m["role"] == "tool"}
        assert re.search(
            r"\[binary resource \S*note\.txt\.gz: application/gzip, \d+ bytes; not shown\]", results["c1"]
        )
        assert "truncated" in results["c2"] and len(results["c2"].split("\n")[0].encode()) <= 200
        deadline = time.monotonic() + 30
        while True:
            status = {v["name"]: v for v in (await s.command("byok.mcpStatus", {}))["servers"]}
            uris = [r["uri"] for r in status["everything"]["resources"]]
            if any(uri.endswith("note.txt.gz") for uri in uris):
                break
            assert time.monotonic() < deadline, "resources/list_changed did not refresh the list"
            await asyncio.sleep(0.2)


async def test_sigterm_to_byok_stops_its_servers_and_their_children(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, time_server: Path
) -> None:
    marker = "876543.21"
    spawner = {"command": "sh", "args": ["-c", f'sleep {marker} & exec "$0"', str(time_server)]}
    settings = settings_for(fake, mcp={"startOnLaunch": True, "servers": {"time": spawner}})
    terminated: int | None = None
    try:
        async with lsp_session(settings, server_env) as s:
            s.answer = answering()
            deadline = time.monotonic() + 60
            while (await s.command("byok.mcpStatus", {}))["servers"][0]["state"] != "running":
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
            assert processes_with(marker), "the server's child runs"
            process = s.client._server
            assert process is not None
            process.send_signal(signal.SIGTERM)
            terminated = await asyncio.wait_for(process.wait(), 30)
    except Exception:
        if terminated is None:
            raise  # the session failed before the byok server was terminated
    assert terminated == 143
    assert not wait_until_gone(marker), "the server's child outlived the byok server"
    assert not wait_until_gone(str(time_server))


async def test_a_settings_change_stops_the_server_it_changes(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, time_server: Path
) -> None:
    marker = "765432.1"
    spawner = {"command": "sh", "args": ["-c", f'sleep {marker} & exec "$0"', str(time_server)]}
    settings = settings_for(fake, mcp={"startOnLaunch": True, "servers": {"time": spawner}})
    async with lsp_session(settings, server_env) as s:
        s.answer = answering()
        deadline = time.monotonic() + 60
        while (await s.command("byok.mcpStatus", {}))["servers"][0]["state"] != "running":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        assert processes_with(marker)
        disabled = settings_for(fake, mcp={"servers": {"time": {**spawner, "enabled": False}}})
        s.client.set_configuration(disabled, section="byok")
        s.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        deadline = time.monotonic() + 30
        while processes_with(marker):  # the client keeps answering (workspace/configuration) meanwhile
            assert time.monotonic() < deadline, "the changed server's process group was not ended"
            await asyncio.sleep(0.1)
        assert (await s.command("byok.mcpStatus", {}))["servers"][0]["state"] == "disabled"
