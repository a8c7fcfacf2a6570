"""End to end over stdio: byok.agent's native tool-calling loop on each provider family, against a real workspace."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE, TEST_KEY_OPENAI
from tests.e2e.edits import apply_workspace_edit, settings_for
from tests.e2e.harness import Session, lsp_session
from tests.fakes import FakeServer, Reply, anthropic_stream, gemini_stream, openai_stream, thought_signature
from tests.fakes.sse import data_event, stream_reply
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

CHAT = ("POST", "/v1/chat/completions")
MESSAGES = ("POST", "/v1/messages")
GEMINI = ("POST", r"/v1beta/models/gemini-2\.5-flash:streamGenerateContent")
APP = 'def greet(name):\n    return "héllo " + name  # 😀\n\n\ndef main():\n    print(greet("world"))\n'
SECRET = "TOKEN=never-sent-0xdeadbeef"


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "build").mkdir()
    (root / "src" / "app.py").write_text(APP)
    (root / "README.md").write_text("# demo\nSay hello.\n")
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / "build" / "out.txt").write_text("hello from build\n")
    (root / "debug.log").write_text("hello from log\n")
    (root / ".env").write_text(SECRET + "\n")
    (tmp_path / "outside.txt").write_text("outside secret hello\n")
    (root / "link_out").symlink_to(tmp_path / "outside.txt")
    return root


def char_by_char_tool_call(call_id: str, name: str, arguments: dict[str, Any]) -> Reply:
    """An OpenAI stream whose one tool call's arguments arrive one character per delta."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return data_event(
            {
                "id": "chatcmpl-x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    text = json.dumps(arguments)
    opening = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    events = [chunk({"role": "assistant", "content": None, "tool_calls": [opening]})]
    events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": c}}]}) for c in text]
    events += [chunk({}, "tool_calls"), data_event("[DONE]")]
    return stream_reply(events)


def tool_messages(body: dict[str, Any]) -> dict[str, str]:
    """OpenAI request: tool_call_id -> tool result content."""
    return {m["tool_call_id"]: m["content"] for m in body["messages"] if m["role"] == "tool"}


def statuses(s: Session) -> list[str]:
    return [d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "status"]


async def test_openai_parallel_calls_split_arguments_and_one_edit(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    snippet = 'def greet(name):\n    return "héllo, " + name.title()  # 😀\n'
    fake.route(
        *CHAT,
        openai_stream(
            ["Let me look."],
            tool_calls=[("call_1", "list_files", {}), ("call_2", "read_file", {"path": "src/app.py"})],
        ),
        char_by_char_tool_call("call_3", "edit_file", {"path": "src/app.py", "code": snippet}),
        openai_stream(
            [],
            tool_calls=[
                ("call_4", "create_file", {"path": "src/extra.py", "content": "X = 1\n"}),
                ("call_5", "read_file", {"path": "src/app.py"}),
                ("call_6", "search", {"query": "hello"}),
            ],
        ),
        openai_stream(["Greeting now title-cases the name; added src/extra.py."]),
    )
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command(
            "byok.agent", {"task": "Title-case the name", "model": "gpt-4o", "streamId": "a"}
        )
        assert result["stopReason"] == "done"
        assert result["summary"] == "Greeting now title-cases the name; added src/extra.py."
        assert len(result["steps"]) == 4 and result["model"] == "gpt-4o"
        assert result["usage"]["estimated"] is True, "the char-by-char turn has no usage chunk"
        assert result["usage"]["outputTokens"] >= 15 and result["applied"] is True
        bodies = [r.json() for r in fake.requests]
        assert [t["function"]["name"] for t in bodies[0]["tools"]] == [
            "read_file",
            "list_files",
            "search",
            "edit_file",
            "create_file",
            "run_command",
        ]
        first = tool_messages(bodies[1])
        listed = first["call_1"].splitlines()
        assert listed == [".gitignore", "README.md", "src/app.py"], (
            "ignored, secret and escaping files are hidden"
        )
        assert first["call_2"] == APP
        assistant = bodies[1]["messages"][2]
        assert [c["id"] for c in assistant["tool_calls"]] == ["call_1", "call_2"]
        assert tool_messages(bodies[2])["call_3"].startswith("Edited src/app.py")
        third = tool_messages(bodies[3])
        assert third["call_4"].startswith("Created src/extra.py")
        assert "name.title()" in third["call_5"], "later tools see the in-memory edit"
        assert third["call_6"].splitlines() == ["README.md:2: Say hello."]
        assert statuses(s)[:3] == [
            "listing .; reading src/app.py",
            "editing src/app.py",
            "creating src/extra.py; reading src/app.py; searching for 'hello'",
        ]
        assert (root / "src" / "app.py").read_text() == APP, "nothing is written behind the editor's back"
        assert len(s.apply_edits) == 1 and s.apply_edits[0].label == "byok: agent"
        assert {f["path"]: f["action"] for f in result["files"]} == {
            "src/app.py": "modify",
            "src/extra.py": "create",
        }
        apply_workspace_edit(s.apply_edits[0].edit)
        assert SECRET not in json.dumps(bodies)
    assert (root / "src" / "app.py").read_text() == APP.replace('"héllo " + name', '"héllo, " + name.title()')
    assert (root / "src" / "extra.py").read_text() == "X = 1\n"


async def test_anthropic_malformed_arguments_escapes_and_secrets_are_errors(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    attempts = [
        "../outside.txt",
        str(tmp_path / "outside.txt"),
        "link_out",
        ".env",
        ".git/config",
        "src/../../outside.txt",
    ]
    fake.route(
        *MESSAGES,
        anthropic_stream([], tool_uses=[("toolu_1", "read_file", '{"path": "src/app.py"')]),
        anthropic_stream(
            ["Trying other files."],
            tool_uses=[(f"toolu_p{i}", "read_file", {"path": p}) for i, p in enumerate(attempts)],
        ),
        anthropic_stream(
            [], tool_uses=[("toolu_9", "create_file", {"path": "../escape.py", "content": "x"})]
        ),
        anthropic_stream(["I could not read those files."]),
    )
    settings = settings_for(fake, features={"agent": "claude-sonnet-4-5"})
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        result = await s.command("byok.agent", {"task": "Read everything"})
        assert result["stopReason"] == "done" and result["model"] == "claude-sonnet-4-5"
        bodies = [r.json() for r in fake.requests]
        results = {
            block["tool_use_id"]: block
            for body in bodies
            for message in body["messages"]
            if message["role"] == "user" and isinstance(message["content"], list)
            for block in message["content"]
            if block["type"] == "tool_result"
        }
        assert results["toolu_1"]["is_error"] is True
        assert "not usable" in results["toolu_1"]["content"]
        for i in range(len(attempts)):
            block = results[f"toolu_p{i}"]
            assert block["is_error"] is True and "Error:" in block["content"], block
        assert "outside the workspace" in results["toolu_p0"]["content"]
        assert "symlink" in results["toolu_p2"]["content"]
        assert "secrets" in results["toolu_p3"]["content"] and "secrets" in results["toolu_p4"]["content"]
        assert results["toolu_9"]["is_error"] is True
        assert [s["ok"] for s in result["steps"][1]["toolCalls"]] == [False] * len(attempts)
        text = json.dumps(bodies)
        assert SECRET not in text and "outside secret" not in text
        assert s.apply_edits == [] and result["edits"] == {"documentChanges": []}
    assert not (tmp_path / "escape.py").exists()


async def test_gemini_never_stops_calling_tools(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    fake.route(*GEMINI, gemini_stream([], function_calls=[("search", {"query": "greet", "regex": True})]))
    settings = settings_for(fake, features={"agent": "gemini-2.5-flash"})
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "google", "key": TEST_KEY_GOOGLE})
        result = await s.command("byok.agent", {"task": "Loop", "maxSteps": 3})
        assert result["stopReason"] == "max_steps"
        assert len(result["steps"]) == 3 and len(fake.requests) == 3
        assert "3 steps" in result["summary"]
        last = fake.requests[-1].json()["contents"]
        model_turns = [c for c in last if c["role"] == "model"]
        assert model_turns[0]["parts"][0]["thoughtSignature"] == thought_signature("search", 0)
        response = last[2]["parts"][0]["functionResponse"]
        assert response["name"] == "search"
        assert "src/app.py:1: def greet(name):" in response["response"]["result"]
        assert s.apply_edits == []


async def test_run_command_allowed_denied_and_timed_out(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    env = {**server_env, "SOME_SERVICE_API_KEY": "leak-me-not-123"}
    settings = settings_for(fake, agent={"commandTimeoutS": 1})

    def script(command: str) -> None:
        fake.route(
            *CHAT,
            openai_stream([], tool_calls=[("call_r", "run_command", {"command": command})]),
            openai_stream(["ok"]),
        )

    async with lsp_session(settings, env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        s.message_answer = "Allow once"
        script('echo "in $(pwd)"; echo "key=$SOME_SERVICE_API_KEY"; touch ran.txt; exit 3')
        await s.command("byok.agent", {"task": "run", "model": "gpt-4o"})
        output = tool_messages(fake.requests[-1].json())["call_r"]
        assert "exit code 3" in output and f"in {root}" in output
        assert "leak-me-not" not in output and "key=\n" in output
        assert (root / "ran.txt").exists()
        request = s.message_requests[-1]
        assert [a.title for a in request.actions or []] == [
            "Allow once",
            "Always allow `pwd …`, `echo …`, `touch …`, `exit …` here",
            "Deny",
        ]
        assert "touch ran.txt" in request.message

        s.message_answer = None
        script("touch denied.txt")
        result = await s.command("byok.agent", {"task": "run", "model": "gpt-4o"})
        assert "did not allow" in tool_messages(fake.requests[-1].json())["call_r"]
        assert result["steps"][0]["toolCalls"][0]["ok"] is False
        assert not (root / "denied.txt").exists()

        s.message_answer = "Allow once"
        script("sleep 30 & echo $! > bg.pid; sleep 30")
        started = asyncio.get_running_loop().time()
        await s.command("byok.agent", {"task": "run", "model": "gpt-4o"})
        assert asyncio.get_running_loop().time() - started < 15
        assert "timed out after 1 s" in tool_messages(fake.requests[-1].json())["call_r"]
        background = int((root / "bg.pid").read_text())
        assert await asyncio.to_thread(gone, background), "the timeout killed the whole process group"


def gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie counts), waiting up to 5 s."""
    for _ in range(100):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ", 1)[1].startswith("Z"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


async def test_apply_each_step_and_cancellation(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    settings = settings_for(fake, agent={"applyEachStep": True})
    fake.route(
        *CHAT,
        openai_stream([], tool_calls=[("c1", "create_file", {"path": "a.txt", "content": "one\n"})]),
        openai_stream([], tool_calls=[("c2", "edit_file", {"path": "a.txt", "code": "one\ntwo\n"})]),
        openai_stream(["slow", *[" more"] * 100], delay_between=0.1),
    )
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        params = types.ExecuteCommandParams(
            command="byok.agent", arguments=[{"task": "write", "model": "gpt-4o", "streamId": "ag"}]
        )
        task = asyncio.ensure_future(
            s.client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="agent-1")
        )
        for _ in range(200):
            if s.text_of("ag"):
                break
            await asyncio.sleep(0.05)
        s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="agent-1"))
        result = await asyncio.wait_for(task, 10)
        assert result["stopReason"] == "cancelled"
        assert len(s.apply_edits) == 2, "each step's edits were applied as they happened"
        for applied in s.apply_edits:
            apply_workspace_edit(applied.edit)
        assert result["files"] == [
            {"uri": (root / "a.txt").as_uri(), "path": "a.txt", "action": "create", "hunks": 1}
        ]
    assert (root / "a.txt").read_text() == "one\ntwo\n"


async def test_bedrock_tool_use_and_tool_result(server_env: dict[str, str], tmp_path: Path) -> None:
    root = workspace(tmp_path)
    credentials = json.dumps(
        {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY, "sessionToken": SESSION_TOKEN}
    )
    arguments = json.dumps({"path": "notes.md", "content": "# Notes\n"})
    tool_turn = [
        event("messageStart", {"role": "assistant"}),
        event(
            "contentBlockStart",
            {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "create_file"}}},
        ),
        *(
            event(
                "contentBlockDelta",
                {"contentBlockIndex": 0, "delta": {"toolUse": {"input": arguments[i : i + 5]}}},
            )
            for i in range(0, len(arguments), 5)
        ),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": "tool_use"}),
        metadata(50, 9),
    ]
    env = {k: v for k, v in server_env.items() if not k.startswith("AWS_")}
    with FakeBedrock(session_token=SESSION_TOKEN) as bedrock:
        bedrock.replies = [StreamReply(tool_turn), StreamReply(text_events("Added notes.md."))]
        settings = {"providers": {"bedrock": {"region": "us-east-1", "endpointUrl": bedrock.url}}}
        async with lsp_session(settings, env, root=root.as_uri()) as s:
            await s.command("byok.setKey", {"provider": "bedrock", "key": credentials})
            result = await s.command("byok.agent", {"task": "notes", "model": MODEL})
            assert result["stopReason"] == "done" and result["summary"] == "Added notes.md."
            second = bedrock.requests[-1].json()
            *specs, cache_point = second["toolConfig"]["tools"]
            assert len(specs) == 6 and cache_point == {"cachePoint": {"type": "default"}}
            tool_result = second["messages"][-1]["content"][0]["toolResult"]
            assert tool_result["toolUseId"] == "tooluse_1" and tool_result["status"] == "success"
            assert tool_result["content"][0]["text"].startswith("Created notes.md")
            apply_workspace_edit(s.apply_edits[0].edit)
    assert (root / "notes.md").read_text() == "# Notes\n"
