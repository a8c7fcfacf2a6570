"""`byok acp` driven by the official ACP TypeScript SDK (`@agentclientprotocol/sdk` 1.x and 2.x, from npm).

tests/e2e/acp_clients/client.mjs runs one scenario as an editor would: initialize, new session, edit mode,
model choice, a prompt whose edit is allowed and written through fs/write_text_file and whose command runs
in the client's terminal, a prompt whose new file is rejected, a prompt cancelled mid-stream, a bad
request, ask mode, and a load replaying the session. Everything exchanged is scanned for the test keys.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LEAK_NEEDLES, REPO
from tests.e2e.acp_harness import acp_env, store_key
from tests.e2e.edits import settings_for
from tests.fakes import FakeServer, openai_stream

HERE = Path(__file__).resolve().parent / "acp_clients"
CHAT = ("POST", "/v1/chat/completions")
APP = 'def greet(name):\n    return "hello " + name\n'
SNIPPET = 'def greet(name):\n    return "hello, " + name.title()\n'
COMMAND = "echo answer=$((6*7)) token=${BYOK_TEST_CLIENT_TOKEN:-none}; grep -c title src/app.py"


@pytest.fixture(scope="module")
def sdk_cache() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for the ACP TypeScript SDK test (tests/run.sh installs them)")
    done = subprocess.run(["bash", str(HERE / "setup.sh")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])


def script(fake: FakeServer) -> None:
    fake.route(
        *CHAT,
        openai_stream(["Reading."], tool_calls=[("c1", "read_file", {"path": "src/app.py"})]),
        openai_stream([], tool_calls=[("c2", "edit_file", {"path": "src/app.py", "code": SNIPPET})]),
        openai_stream([], tool_calls=[("c3", "run_command", {"command": COMMAND})]),
        openai_stream(["Done: the greeting is title-cased."]),
        openai_stream([], tool_calls=[("c4", "create_file", {"path": "src/new.py", "content": "X = 1\n"})]),
        openai_stream(["Left it alone."]),
        openai_stream([f"word{i} " for i in range(300)], delay_between=0.05),
    )


def updates_of(report: dict[str, Any], kind: str, start: int = 0, end: int | None = None) -> list[Any]:
    return [u for u in report["updates"][start:end] if u["sessionUpdate"] == kind]


@pytest.mark.parametrize("major", ["1", "2"])
def test_typescript_sdk_client(
    major: str, sdk_cache: Path, fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    app = root / "src" / "app.py"
    app.write_text(APP)
    script(fake)
    env = acp_env(server_env, tmp_path, settings_for(fake, models=[{"id": "gpt-4o", "provider": "openai"}]))
    store_key(env)
    env["BYOK_TEST_CLIENT_TOKEN"] = "in-the-editor-only"  # the client's terminal must not pass it on
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "server"), str(REPO), env.get("PYTHONPATH", "")])
    transcript = tmp_path / "transcript.txt"
    client = [
        "node",
        str(HERE / "client.mjs"),
        str(sdk_cache / f"acp-sdk-{major}"),
        str(root),
        str(transcript),
    ]
    ran = subprocess.run(
        [*client, sys.executable, "-m", "byok.cli", "acp"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert ran.returncode == 0, ran.stderr[-4000:]
    report = json.loads(ran.stdout)
    assert report["sdk"] == ("ClientSideConnection" if major == "1" else "client()")
    results, errors = report["results"], report["errors"]
    assert results["initialize"]["protocolVersion"] == 1
    assert results["initialize"]["agentCapabilities"]["loadSession"] is True
    assert results["newSession"]["modes"]["currentModeId"] == "agent"
    options = {o["id"]: o for o in results["setModel"]["configOptions"]}
    assert options["model"]["currentValue"] == "gpt-4o" and options["mode"]["currentValue"] == "edit"
    assert "setMode" in results
    config_updates = updates_of(report, "config_option_update")
    assert {o["id"]: o for o in config_updates[0]["configOptions"]}["mode"]["currentValue"] == "edit"
    assert updates_of(report, "current_mode_update")[0]["currentModeId"] == "ask", "after the mode option"

    # prompt 1: read through the client, the edit asked (allowed) and written by it, the command asked
    # (allowed) and run in the client's terminal, with byok's scrubbed environment
    assert results["prompt1"]["stopReason"] == "end_turn"
    assert report["reads"][0] == str(app)
    assert [a["toolCall"]["kind"] for a in report["asks"]] == ["edit", "execute", "edit"]
    assert report["asks"][0]["toolCall"]["content"][0]["type"] == "diff"
    assert report["writes"] == [{"path": str(app), "content": SNIPPET}]
    assert report["terminals"][0]["command"] == "env" and report["terminals"][0]["args"][0] == "-i"
    tool_results = {
        m["tool_call_id"]: m["content"] for m in fake.requests[3].json()["messages"] if m["role"] == "tool"
    }
    assert "answer=42 token=none" in tool_results["c3"] and "\n1" in tool_results["c3"]
    first = report["marks"]["afterPrompt1"]
    started = updates_of(report, "tool_call", 0, first)
    assert [c["kind"] for c in started] == ["read", "edit", "execute"]
    assert started[1]["locations"] == [{"path": str(app)}]
    finished = [u for u in updates_of(report, "tool_call_update", 0, first) if u.get("status")]
    assert [u["status"] for u in finished] == ["completed", "completed", "completed"]
    assert finished[1]["content"][0] == {"type": "diff", "path": str(app), "oldText": APP, "newText": SNIPPET}
    assert {"type": "terminal", "terminalId": "term-1"} in finished[2]["content"]
    assert fake.requests[0].json()["model"] == "gpt-4o", "the model chosen in the session"

    # prompt 2: the new file is rejected, nothing written; prompt 3: cancelled mid-stream
    assert results["prompt2"]["stopReason"] == "end_turn" and not (root / "src" / "new.py").exists()
    assert len(report["writes"]) == 1
    assert results["prompt3"]["stopReason"] == "cancelled"
    assert fake.wait_disconnect(10), "the cancelled prompt closed its provider stream"

    # a bad request is answered with byok's error data; the agent stays up and answers the next ones
    assert errors["badPrompt"]["code"] == -32050 and errors["badPrompt"]["data"]["code"] == "bad_request"
    assert "sessionId" in errors["badPrompt"]["message"]
    assert {o["id"]: o for o in results["askMode"]["configOptions"]}["mode"]["currentValue"] == "ask"
    replayed = report["updates"][report["marks"]["beforeLoad"] : report["marks"]["afterLoad"]]
    assert replayed[0] == {
        "sessionUpdate": "user_message_chunk",
        "content": {"type": "text", "text": "Title-case it"},
    }
    assert any(u["sessionUpdate"] == "tool_call" and u["kind"] == "edit" for u in replayed)
    assert results["load"]["modes"]["currentModeId"] == "ask"
    assert report["exitCode"] == 0, "the agent exits when stdin closes"

    exchanged = transcript.read_text() + ran.stderr + ran.stdout
    assert not [n[:12] for n in LEAK_NEEDLES if n in exchanged], "a test key in the ACP traffic or logs"
