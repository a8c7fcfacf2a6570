"""Shared pieces of the hostile suite: environments, settings, bounded requests, process accounting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from byok.base.names import ErrorCode
from tests.conftest import LEAK_NEEDLES, REPO
from tests.e2e.harness import Session
from tests.fakes import FakeServer

INSTRUMENTED_COMMAND = [sys.executable, "-m", "tests.hostile.instrumented_server"]
REQUEST_TIMEOUT_S = 20.0
"""No request may take longer than this: a hung request fails the test instead of hanging the suite."""
INVALID_PARAMS = -32602
BYOK_ERROR_CODES = frozenset(code.value for code in ErrorCode)
BYOK_ERROR = -32050
INTERNAL_ERROR = -32603


def hostile_env(base: Path) -> dict[str, str]:
    """Environment for a server subprocess: its own keyring file, data and config dirs, no real keys."""
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = "tests.keyring_backend.FileKeyring"
    env["BYOK_TEST_KEYRING_FILE"] = str(base / "keyring.json")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["XDG_DATA_HOME"] = str(base / "data")
    env["XDG_CONFIG_HOME"] = str(base / "config")
    env["BYOK_HOSTILE_STATS"] = str(base / "stats.json")
    for name in list(env):
        if name.endswith("_API_KEY") or name.startswith(("AWS_", "AZURE_OPENAI")) or name == "HTTPS_PROXY":
            del env[name]
    return env


def every_provider_at(fake: FakeServer, **extra: Any) -> dict[str, Any]:
    """Settings that point every preset (and a custom `fuzz` provider) at the loopback fake.

    Nothing a fuzzed request triggers may reach the internet.
    """
    url = fake.url
    return {
        "providers": {
            "openai": {"baseUrl": f"{url}/v1"},
            "anthropic": {"baseUrl": url},
            "google": {"baseUrl": url},
            "azure": {"endpoint": f"{url}/openai/deployments/dep1/chat/completions?api-version=2024-10-21"},
            "bedrock": {"endpointUrl": url, "region": "us-east-1"},
            "ollama": {"baseUrl": f"{url}/v1"},
            "lmstudio": {"baseUrl": f"{url}/v1"},
            "vllm": {"baseUrl": f"{url}/v1"},
            "together": {"baseUrl": f"{url}/v1"},
            "openrouter": {"baseUrl": f"{url}/v1"},
            "fuzz": {"kind": "openai-compatible", "baseUrl": f"{url}/v1"},
        },
        "models": [
            {"id": "fuzz-model", "provider": "fuzz", "model": "fuzz-upstream"},
            {"id": "oa", "provider": "openai", "model": "gpt-4.1-mini"},
            {"id": "an", "provider": "anthropic", "model": "claude-sonnet-4-5"},
            {"id": "ge", "provider": "google", "model": "gemini-2.5-flash"},
        ],
        "features": {
            "chat": "fuzz-model",
            "inlineEdit": "fuzz-model",
            "composer": "fuzz-model",
            "agent": "fuzz-model",
        },
        "retry": {"maxAttempts": 1},
        **extra,
    }


@asynccontextmanager
async def hostile_session(
    settings: dict[str, Any],
    env: dict[str, str],
    *,
    root: Path | None = None,
    command: list[str] | None = None,
) -> AsyncIterator[tuple[Session, types.InitializeResult]]:
    """A pytest-lsp session like `tests.e2e.harness.lsp_session`, also yielding the initialize result."""
    client = await ClientServerConfig(server_command=command or INSTRUMENTED_COMMAND, server_env=env).start()
    assert isinstance(client, LanguageClient)
    session = Session(client)
    drain = StderrDrain.replace_forwarder(client)

    @client.feature("byok/stream")
    def on_stream(params: Any) -> None:
        session.deltas.append(
            {"streamId": params.streamId, "delta": {"type": params.delta.type, "text": params.delta.text}}
        )

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        session.apply_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=False, failure_reason="hostile suite")

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_message_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        session.message_requests.append(params)
        return None  # never allow an agent to run a command

    client.set_configuration(settings, section="byok")
    capabilities = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(configuration=True, apply_edit=True),
        window=types.WindowClientCapabilities(work_done_progress=True),
    )
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            initialization_options={"byok": settings},
            root_uri=root.as_uri() if root else None,
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="hostile")] if root else None,
        )
    )
    try:
        yield session, result
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), 10)
        finally:
            await client.stop()
            await drain.finish()
    assert not drain.leaked, f"API key leaked into the server's stderr: {drain.leaked}"


class StderrDrain:
    """Forwards the server's stderr to ours, robust to very long lines, and scans all of it for keys.

    pytest-lsp's own forwarder uses `readline()`, which raises on a line over 64 KiB and stops reading:
    the server then blocks on a full stderr pipe. Hostile inputs make such lines (errors echo input).
    Forwarded lines are cut at `MAX_LINE` characters; the leak scan sees everything.
    """

    MAX_LINE = 4000

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream
        self.leaked: set[str] = set()
        self._line_length = 0
        self._task = asyncio.create_task(self._run())

    @classmethod
    def replace_forwarder(cls, client: LanguageClient) -> StderrDrain:
        forwarder = client._stderr_forwarder
        if forwarder is not None:
            forwarder.cancel()
        process = client._server
        assert process is not None and process.stderr is not None
        return cls(process.stderr)

    async def _run(self) -> None:
        tail = ""
        while chunk := await self.stream.read(1 << 16):
            text = chunk.decode("utf-8", errors="replace")
            window = tail + text
            self.leaked |= {needle[:12] + "…" for needle in LEAK_NEEDLES if needle in window}
            tail = window[-512:]
            sys.stderr.write(self._cut(text))

    def _cut(self, text: str) -> str:
        out: list[str] = []
        for piece in re.split(r"(\n)", text):
            if piece == "\n":
                out.append(piece)
                self._line_length = 0
                continue
            room = self.MAX_LINE - self._line_length
            if room > 0:
                out.append(piece[:room])
                if len(piece) > room:
                    out.append(" …[cut by the hostile suite]")
            self._line_length += len(piece)
        return "".join(out)

    async def finish(self) -> None:
        try:
            await asyncio.wait_for(self._task, 5)
        except TimeoutError:
            self._task.cancel()


def server_pid(session: Session) -> int:
    process = session.client._server
    assert process is not None, "the server process is not running"
    return process.pid


def registered_commands(result: types.InitializeResult) -> list[str]:
    provider = result.capabilities.execute_command_provider
    assert provider is not None, "the server advertises no executeCommandProvider"
    return sorted(provider.commands)


async def answer(session: Session, name: str, raw_args: list[Any], limit_s: float = REQUEST_TIMEOUT_S) -> Any:
    """Run a command, bounded by `limit_s`; returns its result or the JsonRpcException it answered with."""
    try:
        return await asyncio.wait_for(session.command(name, raw_args=raw_args), limit_s)
    except JsonRpcException as exc:
        return exc
    except TimeoutError:
        raise AssertionError(f"{name} hung: no answer within {limit_s} s") from None


def check_error_shape(name: str, outcome: Any) -> None:
    """A JSON-RPC error is InvalidParams naming fields or a byok error with a known code; never internal."""
    if not isinstance(outcome, JsonRpcException):
        return
    assert outcome.code in (INVALID_PARAMS, BYOK_ERROR), (
        f"{name}: unexpected JSON-RPC error {outcome.code}: {outcome.message!r} data={_short(outcome.data)}"
    )
    assert outcome.message, f"{name}: error without a message"
    assert isinstance(outcome.data, dict), f"{name}: error {outcome.code} without data: {outcome.message!r}"
    if outcome.code == INVALID_PARAMS:
        fields = outcome.data.get("fields")
        assert isinstance(fields, list) and fields, (
            f"{name}: InvalidParams without data.fields: {outcome.message!r}"
        )
        for field in fields:
            assert isinstance(field, dict) and field.get("field") and field.get("message"), (name, field)
    else:
        assert outcome.data.get("code") in BYOK_ERROR_CODES, (name, outcome.data)
        assert "traceback" not in outcome.data


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value, default=str, ensure_ascii=True)
    return text if len(text) <= limit else text[:limit] + "…"


def assert_no_leak(text: str) -> None:
    leaked = [needle[:12] + "…" for needle in LEAK_NEEDLES if needle in text]
    assert not leaked, f"API key leaked into the session transcript: {leaked}"


# -- the server process, from the outside ------------------------------------------------------------------


def open_sockets(pid: int) -> int:
    """How many of the process' file descriptors are sockets (the stdio pipes are not)."""
    count = 0
    fd_dir = Path(f"/proc/{pid}/fd")
    for entry in fd_dir.iterdir():
        try:
            if os.readlink(entry).startswith("socket:"):
                count += 1
        except OSError:  # closed meanwhile
            continue
    return count


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc status")


def _read_stats(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as stats:
            return dict(json.load(stats))
    except FileNotFoundError:
        return None


async def task_stats(pid: int, stats_file: str) -> dict[str, Any]:
    """Ask the instrumented server (SIGUSR1) for its asyncio task count."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(stats_file)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if (stats := _read_stats(stats_file)) is not None:
            return stats
        await asyncio.sleep(0.02)
    raise AssertionError("the instrumented server did not report its tasks")


# -- a raw stdio client, for framing the way no LSP client library would ------------------------------------


class RawServer:
    """`byok-server` on pipes, driven byte by byte: stdout parsed into messages, stderr kept (and drained)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "byok"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stdin_broken = False
        self._stderr = bytearray()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        while True:
            length = None
            while (line := stdout.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if not line or length is None:
                return
            self.messages.put(json.loads(stdout.read(length)))

    def _read_stderr(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None
        while chunk := stderr.read1(1 << 16):
            self._stderr += chunk

    @property
    def stderr(self) -> str:
        return self._stderr.decode("utf-8", errors="replace")

    def send(self, data: bytes) -> None:
        """Write to the server's stdin; a server that stopped reading is noted in `stdin_broken`."""
        stdin = self.process.stdin
        assert stdin is not None
        try:
            stdin.write(data)
            stdin.flush()
        except (BrokenPipeError, ValueError):  # ValueError: stdin already closed here
            self.stdin_broken = True

    def send_message(self, message: dict[str, Any]) -> None:
        self.send(frame(message))

    def wait_for(self, msg_id: int | str, limit_s: float = 5.0) -> dict[str, Any] | None:
        """The response to request `msg_id`, or None when none came within `limit_s`."""
        deadline = time.monotonic() + limit_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                message = self.messages.get(timeout=remaining)
            except queue.Empty:
                return None
            if message.get("id") == msg_id and "method" not in message:
                return message
        return None

    def request(self, msg_id: int, method: str, params: Any, limit_s: float = 5.0) -> dict[str, Any] | None:
        self.send_message({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.wait_for(msg_id, limit_s)

    def initialize(self) -> None:
        answer = self.request(0, "initialize", {"processId": None, "rootUri": None, "capabilities": {}}, 60)
        assert answer is not None and "result" in answer, answer
        self.send_message({"jsonrpc": "2.0", "method": "initialized", "params": {}})

    def status(self, msg_id: int, limit_s: float = 5.0) -> dict[str, Any] | None:
        """The answer to a `byok.status` request (None when it did not come)."""
        params = {"command": "byok.status", "arguments": [{}]}
        return self.request(msg_id, "workspace/executeCommand", params, limit_s)

    def close_stdin(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError):
            stdin.close()

    def wait_exit(self, limit_s: float = 10.0) -> int | None:
        try:
            return self.process.wait(limit_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        for reader in self._readers:
            reader.join(5)


def frame(message: dict[str, Any] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
