"""No provider stream can exhaust the server: decompression, line, event, response, tool-call and
partialText caps.

Everything runs through the real server over stdio against loopback fakes. A watchdog reads the server's
RSS while each hostile stream is served and kills it past `RSS_LIMIT_KB`, so a regression fails fast
instead of taking the machine's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from byok.base.config import ProviderSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.bedrock import BedrockProvider
from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE, TEST_KEY_OPENAI
from tests.e2e.edits import open_document, settings_for
from tests.e2e.harness import Session
from tests.fakes import Drop, FakeServer, Reply, anthropic_stream, gemini_stream, openai_stream
from tests.fakes.compressed import bomb_reply, compressed
from tests.fakes.sse import SSE_HEADERS
from tests.fakes_bedrock import event
from tests.hostile.helpers import (
    BYOK_ERROR,
    answer,
    assert_no_leak,
    every_provider_at,
    hostile_env,
    hostile_session,
    server_pid,
)
from tests.hostile.test_trust_agent import agent_session, workspace

pytestmark = pytest.mark.asyncio(loop_scope="module")

MiB = 1 << 20
RSS_LIMIT_KB = 300 * 1024
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages", "google": r"/v1beta/models/.+"}
MODELS = {"openai": "oa", "anthropic": "an", "google": "ge"}
OPENAI_DELTA_HEAD = b'data: {"choices":[{"index":0,"delta":{"content":"'


def vm_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class Rig:
    def __init__(self, session: Session, fake: FakeServer) -> None:
        self.session = session
        self.fake = fake
        self.pid = server_pid(session)
        self.count = 0
        self.killed_at_kb: int | None = None

    async def chat(self, provider: str, reply: Reply, limit_s: float = 30) -> tuple[Any, str]:
        """One chat against `reply`, with the RSS watchdog on; its outcome and the text streamed for it."""
        self.fake.route("POST", PATHS[provider], reply)
        self.count += 1
        stream_id = f"{provider}-{self.count}"
        params = {
            "messages": [{"role": "user", "content": "hi"}],
            "model": MODELS[provider],
            "streamId": stream_id,
        }
        watchdog = asyncio.create_task(self._watch())
        try:
            outcome = await answer(self.session, "byok.chat", [params], limit_s=limit_s)
        finally:
            watchdog.cancel()
        assert self.killed_at_kb is None, f"the server's RSS reached {self.killed_at_kb} kB: killed"
        await asyncio.sleep(0.05)  # notifications that came with the answer
        return outcome, self.session.text_of(stream_id)

    async def _watch(self) -> None:
        while True:
            rss = vm_kb(self.pid, "VmRSS")
            if rss > RSS_LIMIT_KB:
                self.killed_at_kb = rss
                with contextlib.suppress(ProcessLookupError):  # end it before it takes the machine
                    os.kill(self.pid, signal.SIGKILL)
                return
            await asyncio.sleep(0.02)

    async def tab(self, path: Path) -> float:
        """Ask for a Tab completion; how long the answer took."""
        uri = open_document(
            self.session, path, "def save(path):\n    with open(path, enc", version=self.count
        )
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(
            self.session.client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=1, character=len("    with open(path, enc")),
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Automatic
                    ),
                )
            ),
            10,
        )
        return loop.time() - started


@pytest.fixture(scope="module")
def stream_fake() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(stream_fake: FakeServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    base = tmp_path_factory.mktemp("streams")
    settings = every_provider_at(stream_fake, timeouts={"firstByteS": 10, "connectS": 2})
    async with hostile_session(settings, hostile_env(base)) as (session, _):
        for provider, key in (
            ("openai", TEST_KEY_OPENAI),
            ("anthropic", TEST_KEY_ANTHROPIC),
            ("google", TEST_KEY_GOOGLE),
        ):
            stored = await answer(session, "byok.setKey", [{"provider": provider, "key": key}])
            assert isinstance(stored, dict), stored
        yield Rig(session, stream_fake)
        assert_no_leak(session.everything())


def provider_error(outcome: Any) -> dict[str, Any]:
    assert isinstance(outcome, JsonRpcException), f"expected a provider_error, got {outcome!r}"[:400]
    assert outcome.code == BYOK_ERROR, (outcome.code, outcome.message)
    data: dict[str, Any] = outcome.data
    assert data["code"] == "provider_error", data
    return data


@functools.cache
def gzip_bomb_line() -> Reply:
    """400 KB of gzip that inflates to one 400 MB SSE line (an OpenAI text delta that never ends)."""
    return bomb_reply(OPENAI_DELTA_HEAD, b"x", 400 * MiB)


async def test_a_gzip_bomb_is_stopped_while_inflating_and_tab_keeps_answering(
    rig: Rig, tmp_path: Path
) -> None:
    chat = asyncio.create_task(rig.chat("openai", gzip_bomb_line()))
    assert await asyncio.to_thread(rig.fake.wait_requests, len(rig.fake.requests) + 1, 10)
    tab_s = await rig.tab(tmp_path / "tab.py")
    outcome, streamed = await chat
    data = provider_error(outcome)
    assert "line over 1 MiB" in data["cause"], data
    assert not data.get("partialText") and streamed == ""
    assert tab_s < 2.0, f"Tab took {tab_s:.2f} s during the bomb"
    peak = vm_kb(rig.pid, "VmHWM")
    assert peak < RSS_LIMIT_KB, f"the server's peak RSS was {peak} kB"


async def test_a_body_over_64_mib_is_stopped(rig: Rig) -> None:
    """80 MiB of well-formed SSE (comment lines, deflate-compressed): the response cap, not the line cap."""
    comment = b": " + b"k" * 1021 + b"\n"
    reply = bomb_reply(b"", comment, 80 * MiB, encoding="deflate")
    outcome, _ = await rig.chat("openai", reply, limit_s=60)
    data = provider_error(outcome)
    assert "64 MiB" in data["cause"], data
    assert vm_kb(rig.pid, "VmHWM") < RSS_LIMIT_KB


@pytest.mark.parametrize("provider", ["openai", "google"])
async def test_an_event_over_1_mib_is_stopped(rig: Rig, provider: str) -> None:
    """Many short `data:` lines that add up to one 2 MiB event (or, for Gemini, 2 MiB of unclosed raw JSON)."""
    if provider == "openai":
        chunks = [b"data: " + b"y" * 2000 + b"\n"] * 1100 + [b"\n"]
    else:
        chunks = [b'{"error": {\n'] + [b'  "message": "' + b"y" * 2000 + b'",\n'] * 1100 + [b"}}\n"]
    outcome, _ = await rig.chat(provider, Reply(headers=SSE_HEADERS, chunks=chunks))
    data = provider_error(outcome)
    assert "event over 1 MiB" in data["cause"], data


async def test_partial_text_is_capped_at_256_kib_on_a_character_boundary(rig: Rig) -> None:
    """300 KiB of 'é' streams to the client in full; the error keeps at most 256 KiB of it, whole characters."""
    texts = ["é" * 512] * 300  # 1 KiB of UTF-8 each
    whole = compressed(openai_stream(texts))
    assert whole.chunks is not None
    reply = Reply(headers=whole.headers, chunks=[*whole.chunks[: len(texts) + 1], Drop()])
    outcome, streamed = await rig.chat("openai", reply)
    assert isinstance(outcome, JsonRpcException) and outcome.code == BYOK_ERROR, outcome
    partial = outcome.data["partialText"]
    assert streamed == "".join(texts)
    assert len(partial.encode()) == 256 * 1024 and streamed.startswith(partial)
    odd = ["a" + "é" * 511] * 300  # the 256 KiB mark falls inside an 'é'
    outcome, streamed = await rig.chat("openai", openai_stream(odd).with_drop(len(odd) + 1))
    partial = outcome.data["partialText"]
    assert len(partial.encode()) == 256 * 1024 - 1 and streamed.startswith(partial), len(partial.encode())


@pytest.mark.parametrize("key_chars_before_the_cut", [12, 16, 19, 40])
async def test_partial_text_is_redacted_before_it_is_cut(rig: Rig, key_chars_before_the_cut: int) -> None:
    """A key straddling the 256 KiB mark: cut first, the part before the mark is too short to look like a key."""
    text = "a" * (256 * 1024 - key_chars_before_the_cut) + TEST_KEY_OPENAI + "b" * 1000
    texts = [text[at : at + 1024] for at in range(0, len(text), 1024)]
    outcome, _ = await rig.chat("openai", openai_stream(texts).with_drop(len(texts) + 1))
    assert isinstance(outcome, JsonRpcException) and outcome.code == BYOK_ERROR, outcome
    partial = outcome.data["partialText"]
    assert TEST_KEY_OPENAI[:10] not in partial, partial[-40:]
    assert len(partial.encode()) <= 256 * 1024 and partial.startswith("a" * 1000)


SEPARATORS = ["a\u2028b", "\u2029c", "d\u0085e"]


@pytest.mark.parametrize(
    "provider, reply",
    [
        ("openai", openai_stream(SEPARATORS)),
        ("anthropic", anthropic_stream(SEPARATORS)),
        ("google", gemini_stream(SEPARATORS)),
    ],
    ids=["openai", "anthropic", "google"],
)
async def test_unicode_line_separators_inside_json_strings_stream_fine(
    rig: Rig, provider: str, reply: Reply
) -> None:
    assert reply.chunks is not None and "\u2028".encode() in b"".join(
        c for c in reply.chunks if isinstance(c, bytes)
    )
    outcome, streamed = await rig.chat(provider, reply)
    assert isinstance(outcome, dict), outcome
    assert outcome["text"] == "".join(SEPARATORS) == streamed


async def test_an_error_body_bomb_is_read_bounded(rig: Rig) -> None:
    reply = bomb_reply(
        b'{"error": {"message": "', b"z", 400 * MiB, status=500, content_type="application/json"
    )
    outcome, _ = await rig.chat("openai", reply)
    assert isinstance(outcome, JsonRpcException) and outcome.code == BYOK_ERROR, outcome
    assert outcome.data["code"] == "provider_error" and outcome.data["status"] == 500
    assert vm_kb(rig.pid, "VmHWM") < RSS_LIMIT_KB


async def test_the_server_still_answers_after_all_of_it(rig: Rig) -> None:
    outcome, streamed = await rig.chat("openai", openai_stream(["still ", "here"]))
    assert isinstance(outcome, dict) and outcome["text"] == "still here" == streamed
    assert rig.fake.open_connections <= 2


async def test_a_bedrock_frame_over_1_mib_is_stopped_before_it_is_whole() -> None:
    """Bedrock reads binary event-stream frames, not lines: an unfinished frame may not pass 1 MiB either."""
    frame = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "w" * (4 * MiB)}})
    fed = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal fed
        for start in range(0, len(frame), 64 * 1024):
            fed += 64 * 1024
            yield frame[start : start + 64 * 1024]

    async with httpx.AsyncClient() as client:
        adapter = BedrockProvider(
            "bedrock", ProviderSettings(endpoint_url="http://127.0.0.1:9", region="us-east-1"), None, client
        )
        with pytest.raises(ByokError) as caught:
            async for _ in adapter.decode(chunks()):
                pass
    assert caught.value.code == ErrorCode.PROVIDER_ERROR and "frame over 1 MiB" in caught.value.cause
    assert fed <= MiB + 128 * 1024


# -- tool calls -------------------------------------------------------------------------------------------


def tool_calls_reply(provider: str, count: int, arguments: str = '{"path": "a.py"}') -> Reply:
    """One turn asking for `count` read_file calls, in the provider's own streaming format."""
    if provider == "openai":
        return openai_stream([], tool_calls=[(f"c{i}", "read_file", arguments) for i in range(count)])
    if provider == "anthropic":
        return anthropic_stream([], tool_uses=[(f"t{i}", "read_file", arguments) for i in range(count)])
    return gemini_stream([], function_calls=[("read_file", json.loads(arguments)) for _ in range(count)])


@pytest.mark.parametrize("provider", ["openai", "anthropic", "google"])
async def test_a_turn_of_more_than_128_tool_calls_is_stopped(rig: Rig, provider: str) -> None:
    outcome, _ = await rig.chat(provider, tool_calls_reply(provider, 128))
    assert isinstance(outcome, dict), f"128 tool calls are allowed: {outcome!r}"[:400]
    outcome, _ = await rig.chat(provider, tool_calls_reply(provider, 129))
    data = provider_error(outcome)
    assert "more than 128 tool calls in one turn" in data["cause"], data


async def test_tool_call_arguments_are_capped_per_call_and_per_turn(rig: Rig) -> None:
    """Arguments arrive in fragments far below the 1 MiB event cap; the caps count them as they add up."""
    one_big = json.dumps({"path": "a.py", "content": "x" * (MiB + 1000)})
    outcome, _ = await rig.chat("openai", openai_stream([], tool_calls=[("c1", "create_file", one_big)]))
    assert "a tool call with more than 1 MiB of arguments" in provider_error(outcome)["cause"]
    each = json.dumps({"path": "a.py", "content": "x" * (900 * 1024)})
    calls = [(f"c{i}", "create_file", each) for i in range(5)]
    outcome, _ = await rig.chat("openai", openai_stream([], tool_calls=calls))
    assert "more than 4 MiB of tool-call arguments in one turn" in provider_error(outcome)["cause"]


def many_read_file_calls(count: int, per_event: int = 5000) -> Reply:
    """One streamed turn of `count` read_file calls, `per_event` to an event (each far below the 1 MiB cap)."""
    chunks: list[bytes] = []
    for start in range(0, count, per_event):
        calls = [
            {
                "index": i,
                "id": f"c{i}",
                "type": "function",
                "function": {"name": "read_file", "arguments": '{"path":"big.txt"}'},
            }
            for i in range(start, min(start + per_event, count))
        ]
        chunk = {"choices": [{"index": 0, "delta": {"tool_calls": calls}}]}
        chunks.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    chunks.append(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n')
    chunks.append(b"data: [DONE]\n\n")
    return Reply(headers=SSE_HEADERS, chunks=chunks)


async def test_an_agent_turn_of_40k_tool_calls_is_stopped_before_any_runs(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """40k read_file calls of a 2 MB file in ~4 MB of stream: unbounded, the server passed 1 GB of RSS."""
    root = workspace(tmp_path)
    (root / "big.txt").write_text(("x" * 99 + "\n") * 20_000)
    fake.route("POST", "/v1/chat/completions", many_read_file_calls(40_000), openai_stream(["done"]))
    async with agent_session(settings_for(fake), server_env, root, answer="Deny") as s:
        pid = server_pid(s)
        with pytest.raises(JsonRpcException) as caught:
            await asyncio.wait_for(s.command("byok.agent", {"task": "go", "model": "gpt-4o"}), 60)
        peak = vm_kb(pid, "VmHWM")
    assert caught.value.data["code"] == "provider_error", caught.value.data
    assert "more than 128 tool calls in one turn" in caught.value.data["cause"]
    assert caught.value.data["steps"] == 0 and len(fake.requests) == 1, (
        "no step ran and no second turn was asked"
    )
    assert peak < RSS_LIMIT_KB, f"the server's RSS reached {peak} kB"


# -- endpoints --------------------------------------------------------------------------------------------

MALFORMED_ENDPOINTS = {
    "bracket": ("openai-compatible", "baseUrl", "https://[evil/v1"),
    "port-range": ("openai-compatible", "baseUrl", "http://127.0.0.1:99999/v1"),
    "port-text": ("anthropic", "baseUrl", "http://127.0.0.1:x"),
    "blank-host": ("google", "baseUrl", "http://exa mple.test"),
    "idna": ("openai-compatible", "baseUrl", "http://ex\u2603ample..test/v1"),
    "control": ("openai-compatible", "baseUrl", "http://a\x00b.test/v1"),
    "azure": ("azure", "endpoint", "https://[evil"),
    "azure-deployment-url": (
        "azure",
        "endpoint",
        "https://[evil/openai/deployments/d?api-version=2024-10-21",
    ),
    "bedrock": ("bedrock", "endpointUrl", "https://[evil"),
}


async def test_a_malformed_endpoint_is_a_coded_error_naming_its_setting(tmp_path: Path) -> None:
    """Keyless providers too (no key route is checked for them): before, some of these were -32603."""
    providers: dict[str, Any] = {}
    for name, (kind, setting, url) in MALFORMED_ENDPOINTS.items():
        config: dict[str, Any] = {"kind": kind, setting: url}
        if kind == "bedrock":
            config["region"] = "us-east-1"
        if kind == "azure":
            config["deployment"] = "d"
        providers["bedrock" if kind == "bedrock" else f"p-{name}"] = config
    settings = {
        "providers": providers,
        "models": [{"id": f"m-{pid}", "provider": pid, "model": "m"} for pid in providers],
    }
    env = {
        **hostile_env(tmp_path),
        "AWS_ACCESS_KEY_ID": "AKIAFAKETESTCHAIN000",
        "AWS_SECRET_ACCESS_KEY": "FAKE",
        "AZURE_OPENAI_API_KEY": "azure-TESTKEY-0000000000000000",
    }
    setting_of = {"azure": "endpoint", "bedrock": "endpointUrl"}
    async with hostile_session(settings, env) as (session, _):
        for pid, config in providers.items():
            setting = f"byok.providers.{pid}.{setting_of.get(config['kind'], 'baseUrl')}"
            verified = await answer(session, "byok.verifyKey", [{"provider": pid}])
            chat = await answer(
                session, "byok.chat", [{"messages": [{"role": "user", "content": "hi"}], "model": f"m-{pid}"}]
            )
            assert isinstance(verified, dict) and isinstance(chat, JsonRpcException), (pid, verified, chat)
            for error in (verified["error"], chat.data):
                assert error["code"] == "insecure_endpoint" and setting in error["message"], (pid, error)


async def test_a_malformed_endpoint_given_to_bind_key_is_a_coded_error(tmp_path: Path) -> None:
    async with hostile_session({}, hostile_env(tmp_path)) as (session, _):
        await answer(session, "byok.setKey", [{"provider": "openai", "key": TEST_KEY_OPENAI}])
        bound = await answer(
            session, "byok.bindKey", [{"provider": "openai", "endpoint": "https://[evil/v1"}]
        )
    assert isinstance(bound, JsonRpcException) and bound.code == BYOK_ERROR, bound
    assert bound.data["code"] == "insecure_endpoint" and "[evil/v1" in bound.data["message"], bound.data
