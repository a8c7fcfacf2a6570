"""Real editor clients (Neovim's built-in LSP client, Emacs eglot) driving byok-server end to end.

Both tests run the same scenario against one loopback fake provider: set a key, verify it, a streamed
chat, the editor's own chat command, and an inline edit whose WorkspaceEdit the editor applies to a buffer.
The editor scripts write what they saw to a JSON file that the test reads and asserts on.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SERVER_COMMAND, TEST_KEY_COMPAT
from tests.fakes import FakeServer, openai_models, openai_stream

EDITORS = Path(__file__).resolve().parent
PROVIDER = "local"
MODEL = "m"
KEY = TEST_KEY_COMPAT

SOURCE = 'def greet(name):\n    return "hi 👋 " + name\n\n\nprint(greet("you"))\n'
INLINE_RANGE = {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}
"""The whole second line, so the edit also checks that the replacement keeps its newline."""
NEW_LINE = '    return f"hi 👋 {name}"\n'
EDITED = SOURCE.replace('    return "hi 👋 " + name\n', NEW_LINE)

CHAT_DELTAS = ["Hel", "lo ", "from ", "byok 👋"]
CHAT_TEXT = "".join(CHAT_DELTAS)
CHAT_COMMAND_DELTAS = ["Second ", "answer, ", "streamed"]
CHAT_COMMAND_TEXT = "".join(CHAT_COMMAND_DELTAS)
# The model answers in a fence split mid-token and mid-character-run; the server keeps only the code.
EDIT_DELTAS = ["```py", 'thon\n    return f"hi ', '👋 {name}"\n``', "`\n"]

INLINE_EDIT_MISSING = "byok.inlineEdit is not registered by this server (not in executeCommandProvider)"


def settings(fake: FakeServer) -> dict[str, Any]:
    return {
        "providers": {PROVIDER: {"kind": "openai-compatible", "baseUrl": f"{fake.url}/v1"}},
        "models": [{"id": MODEL, "provider": PROVIDER}],
        "features": {"chat": MODEL, "inlineEdit": MODEL},
    }


def script_config(fake: FakeServer, workdir: Path, **extra: Any) -> dict[str, Any]:
    """What the editor script needs; the key goes in this file only, never into its results."""
    source = workdir / "greet.py"
    source.write_text(SOURCE, encoding="utf-8")
    return {
        "cmd": SERVER_COMMAND,
        "settings": settings(fake),
        "provider": PROVIDER,
        "key": KEY,
        "file": str(source),
        "out": str(workdir / "results.json"),
        "timeoutMs": 10_000,
        "watchdogMs": 40_000,
        "chatBufferExpect": CHAT_COMMAND_TEXT,
        "inlineEditRange": INLINE_RANGE,
        **extra,
    }


def route_provider(fake: FakeServer) -> None:
    fake.route("GET", "/v1/models", openai_models([MODEL, "m-large"]))
    fake.route(
        "POST",
        "/v1/chat/completions",
        openai_stream(CHAT_DELTAS, model=MODEL, usage=(12, 5)),
        openai_stream(CHAT_COMMAND_DELTAS, model=MODEL, usage=(14, 4)),
        openai_stream(EDIT_DELTAS, model=MODEL, usage=(120, 9)),
    )


@dataclass
class EditorRun:
    results: dict[str, Any]
    stdout: str
    stderr: str
    seconds: float


def run_editor(
    argv: list[str], env: dict[str, str], workdir: Path, config: dict[str, Any], timeout: float = 60
) -> EditorRun:
    """Run an editor script to completion; fail with its output on a non-zero exit or a hang."""
    config_path = workdir / "e2e-config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    env = {**env, "BYOK_E2E_CONFIG": str(config_path)}
    started = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{argv[0]} hung for {timeout} s\nstdout:\n{exc.stdout!r}\nstderr:\n{exc.stderr!r}")
    seconds = time.monotonic() - started
    out = Path(config["out"])
    results = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    if done.returncode != 0 or "error" in results or not results:
        pytest.fail(
            f"{argv[0]} exited {done.returncode}\nerror: {results.get('error')}\n"
            f"stdout:\n{done.stdout[-4000:]}\nstderr:\n{done.stderr[-4000:]}"
        )
    return EditorRun(results, done.stdout, done.stderr, seconds)


def assert_scenario(run: EditorRun, fake: FakeServer) -> None:
    """The checks both editors share; skips at the end when the server has no byok.inlineEdit."""
    r = run.results
    everything = json.dumps(r, ensure_ascii=False) + run.stdout + run.stderr
    assert KEY not in everything, "the API key leaked into the editor's output"

    assert {"byok.setKey", "byok.verifyKey", "byok.chat"} <= set(r["commands"]), r["commands"]

    assert r["setKey"]["provider"] == PROVIDER and r["setKey"]["source"] == "keyring"
    assert r["setKey"]["fingerprint"].endswith(KEY[-4:]) and len(r["setKey"]["fingerprint"]) < 20

    verified = r["verifyKey"]
    assert verified["ok"] is True, verified
    assert verified["provider"] == PROVIDER and verified["models"] == sorted([MODEL, "m-large"])
    assert f"{PROVIDER} key {verified['fingerprint']} works (2 models" in r["verifyCommandMessage"]
    models_request = next(q for q in fake.requests if q.method == "GET" and q.path == "/v1/models")
    assert models_request.headers["authorization"] == f"Bearer {KEY}"

    chat = r["chat"]
    assert chat["text"] == CHAT_TEXT and chat["model"] == MODEL and chat["provider"] == PROVIDER
    assert chat["finishReason"] == "stop"
    assert chat["usage"]["inputTokens"] == 12 and chat["usage"]["outputTokens"] == 5
    assert r["chatStreamed"] == CHAT_TEXT, "byok/stream deltas did not add up to the answer"
    posts = [q for q in fake.requests if q.method == "POST"]
    assert posts[0].json()["messages"][-1] == {"role": "user", "content": "Say hi"}
    assert posts[0].json()["stream"] is True
    assert posts[0].headers["authorization"] == f"Bearer {KEY}"

    assert CHAT_COMMAND_TEXT in r["chatBuffer"] and "Say hi again" in r["chatBuffer"]
    assert posts[1].json()["messages"][-1] == {"role": "user", "content": "Say hi again"}

    if not r["inlineEditRegistered"]:
        pytest.skip(INLINE_EDIT_MISSING)
    edit = r["inlineEdit"]
    assert edit["newText"] == NEW_LINE and edit["model"] == MODEL
    assert edit["usage"]["outputTokens"] == 9
    assert r["inlineEditStreamed"] == NEW_LINE
    assert r["bufferAfterEdit"] == EDITED
    prompt = posts[2].json()["messages"][-1]["content"]
    assert "Use an f-string" in prompt and '<selection>    return "hi 👋 " + name\n</selection>' in prompt
