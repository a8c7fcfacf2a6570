"""Provider faults at every point of a stream, through the real server over stdio, then 500 in a row.

For OpenAI, Anthropic and Gemini streams of "héllo 🙂!" the fake provider breaks the connection before
the status line, right after the headers, between every two events, inside every event, inside the
4-byte UTF-8 of the emoji and after the answer was complete; or stalls. Each request must answer a mapped
byok error (or, once the answer was complete, the result), keep what streamed in `data.partialText`
(exactly the text of the events that arrived whole, never a U+FFFD from half a character), and never hang.
Then 500 faults against the same process must leave no sockets, tasks or memory behind.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE, TEST_KEY_OPENAI
from tests.e2e.harness import Session
from tests.fakes import Drop, FakeServer, Reply, anthropic_stream, gemini_stream, openai_stream
from tests.hostile.helpers import (
    BYOK_ERROR,
    answer,
    assert_no_leak,
    every_provider_at,
    hostile_env,
    hostile_session,
    open_fds,
    open_sockets,
    rss_kb,
    server_pid,
    task_stats,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEXTS = ["hé", "llo ", "🙂", "!"]
FULL = "".join(TEXTS)
READ_TIMEOUT_S = 0.5
BROKEN = {"stream_interrupted", "provider_error", "endpoint_unreachable"}
"""What a connection broken by the provider may map to (before headers it is not yet a stream)."""


@dataclass(frozen=True)
class Provider:
    name: str
    model: str
    path: str
    stream: Callable[[list[str]], Reply]
    complete_after: int
    """How many chunks carry the whole answer and its finish; a cut after them may answer normally."""

    def chunks(self) -> list[bytes]:
        items = self.stream(TEXTS).chunks
        assert items is not None and all(isinstance(c, bytes) for c in items)
        return [c for c in items if isinstance(c, bytes)]

    def text_before(self, index: int) -> str:
        """The answer text carried by the first `index` chunks."""
        texts, out = list(TEXTS), []
        for chunk in self.chunks()[:index]:
            if texts and ('"' + texts[0] + '"').encode() in chunk:
                out.append(texts.pop(0))
        return "".join(out)


PROVIDERS = [
    Provider("openai", "oa", "/v1/chat/completions", openai_stream, complete_after=6),
    Provider("anthropic", "an", "/v1/messages", anthropic_stream, complete_after=10),
    Provider("google", "ge", r"/v1beta/models/.+", gemini_stream, complete_after=4),
]


@dataclass(frozen=True)
class Fault:
    name: str
    reply: Reply
    partial: str
    """The text that arrived whole before the fault."""
    codes: frozenset[str]
    may_succeed: bool = False
    prefix_only: bool = False
    """A TCP reset may discard bytes the kernel had received but we had not read: any prefix is kept."""


def faults_for(provider: Provider) -> list[Fault]:
    base = provider.stream(TEXTS)
    chunks = provider.chunks()
    out = [
        Fault(
            "before-headers",
            Reply(headers=base.headers, chunks=[Drop()], stall_before_headers=True),
            "",
            frozenset(BROKEN),
        ),
        Fault("after-headers", base.with_drop(0), "", frozenset({"stream_interrupted"})),
        Fault("stall-before-headers", base.delayed(3), "", frozenset({"timeout"})),
        Fault("stall-mid-stream", base.with_stall(3, 3), provider.text_before(3), frozenset({"timeout"})),
        Fault(
            "reset-mid-stream",
            base.with_drop(2, reset=True),
            provider.text_before(2),
            frozenset(BROKEN),
            prefix_only=True,
        ),
    ]
    for index in range(1, len(chunks) + 1):
        complete = index >= provider.complete_after
        out.append(
            Fault(
                f"between-events-{index}",
                base.with_drop(index),
                provider.text_before(index),
                frozenset({"stream_interrupted"}),
                may_succeed=complete,
            )
        )
    for index, chunk in enumerate(chunks):
        cut = len(chunk) // 2
        emoji = chunk.find("🙂".encode())
        if emoji >= 0:  # inside the 4-byte UTF-8 sequence instead
            out.append(
                Fault(
                    "inside-utf8",
                    Reply(headers=base.headers, chunks=[*chunks[:index], chunk[: emoji + 2], Drop()]),
                    provider.text_before(index),
                    frozenset({"stream_interrupted"}),
                )
            )
        out.append(
            Fault(
                f"inside-event-{index}",
                Reply(headers=base.headers, chunks=[*chunks[:index], chunk[:cut], Drop()]),
                provider.text_before(index),
                frozenset({"stream_interrupted"}),
                may_succeed=index >= provider.complete_after,
            )
        )
    return out


class Rig:
    def __init__(self, session: Session, fake: FakeServer, stats_file: str) -> None:
        self.session = session
        self.fake = fake
        self.stats_file = stats_file
        self.ids = itertools.count()

    async def chat_through(self, provider: Provider, fault: Fault) -> tuple[Any, str]:
        """Run one chat against `fault`; its outcome and the text streamed for it."""
        self.fake.route("POST", provider.path, fault.reply)
        stream_id = f"{provider.name}-{fault.name}-{next(self.ids)}"
        params = {
            "messages": [{"role": "user", "content": "hi"}],
            "model": provider.model,
            "streamId": stream_id,
        }
        outcome = await answer(self.session, "byok.chat", [params], limit_s=15)
        await asyncio.sleep(0)  # let notifications that arrived with the answer be handled
        return outcome, self.session.text_of(stream_id)


def check(provider: Provider, fault: Fault, outcome: Any, streamed: str) -> None:
    where = f"{provider.name} {fault.name}"
    if not isinstance(outcome, JsonRpcException):
        assert fault.may_succeed, f"{where}: answered {outcome!r} despite the fault"
        assert outcome["text"] == FULL, where
        return
    assert outcome.code == BYOK_ERROR, (where, outcome.code, outcome.message)
    data = outcome.data
    assert data["code"] in fault.codes or (fault.may_succeed and data["code"] == "stream_interrupted"), (
        where,
        data,
    )
    expected = fault.partial
    if fault.prefix_only:
        assert expected.startswith(data.get("partialText") or ""), (where, data.get("partialText"), expected)
    elif expected:
        assert data.get("partialText") == expected, (where, data.get("partialText"), expected)
        assert "\ufffd" not in data["partialText"], where
    else:
        assert not data.get("partialText"), (where, data)
    assert streamed == (data.get("partialText") or ""), (where, streamed, data.get("partialText"))


@pytest.fixture(scope="module")
def fault_fake() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(fault_fake: FakeServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    base = tmp_path_factory.mktemp("faults")
    env = hostile_env(base)
    settings = every_provider_at(fault_fake, timeouts={"firstByteS": READ_TIMEOUT_S, "connectS": 2})
    async with hostile_session(settings, env) as (session, _):
        for provider, key in (
            ("openai", TEST_KEY_OPENAI),
            ("anthropic", TEST_KEY_ANTHROPIC),
            ("google", TEST_KEY_GOOGLE),
        ):
            stored = await answer(session, "byok.setKey", [{"provider": provider, "key": key}])
            assert isinstance(stored, dict), stored
        yield Rig(session, fault_fake, env["BYOK_HOSTILE_STATS"])
        assert_no_leak(session.everything())


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
async def test_a_fault_at_every_point_of_the_stream(rig: Rig, provider: Provider) -> None:
    whole = await rig.chat_through(provider, Fault("none", provider.stream(TEXTS), FULL, frozenset(), True))
    assert isinstance(whole[0], dict) and whole[0]["text"] == FULL, whole
    failures = []
    for fault in faults_for(provider):
        outcome, streamed = await rig.chat_through(provider, fault)
        try:
            check(provider, fault, outcome, streamed)
        except AssertionError as exc:
            failures.append(str(exc)[:400])
    assert not failures, "\n".join(failures)


FAULTS_IN_A_ROW = 500


async def test_500_faults_leak_no_socket_task_or_memory(rig: Rig) -> None:
    cycle = [
        (provider, fault)
        for provider in PROVIDERS
        for fault in faults_for(provider)
        if not fault.name.startswith("stall") and not fault.may_succeed
    ]
    pid = server_pid(rig.session)

    async def run(count: int, start: int) -> None:
        for index in range(start, start + count):
            provider, fault = cycle[index % len(cycle)]
            outcome, _ = await rig.chat_through(provider, fault)
            assert isinstance(outcome, JsonRpcException) and outcome.code == BYOK_ERROR, (fault.name, outcome)

    warmup = 25
    await run(warmup, 0)
    await asyncio.sleep(0.3)
    before = {
        "sockets": open_sockets(pid),
        "fds": open_fds(pid),
        "tasks": (await task_stats(pid, rig.stats_file))["tasks"],
        "rss_kb": rss_kb(pid),
    }
    await run(FAULTS_IN_A_ROW - warmup, warmup)
    await asyncio.sleep(0.3)
    stats = await task_stats(pid, rig.stats_file)
    after = {
        "sockets": open_sockets(pid),
        "fds": open_fds(pid),
        "tasks": stats["tasks"],
        "rss_kb": rss_kb(pid),
    }
    report = (
        f"after {warmup} faults: {before}; after {FAULTS_IN_A_ROW}: {after}; tasks now: {stats['taskNames']}"
    )
    print(report)
    assert after["sockets"] <= before["sockets"] + 2, report
    assert after["fds"] <= before["fds"] + 2, report
    assert after["tasks"] <= before["tasks"] + 2, report
    assert after["rss_kb"] - before["rss_kb"] < 30 * 1024, report
    assert rig.fake.open_connections <= 2, f"the fake still has {rig.fake.open_connections} connections open"
    status = await answer(rig.session, "byok.status", [{}])
    assert isinstance(status, dict)


def sse(*events: str) -> Reply:
    return Reply(
        headers={"content-type": "text/event-stream"},
        chunks=[(e if e.endswith("\n") else e + "\n\n").encode() for e in events],
    )


OPENAI_OK = 'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}'
MALFORMED: dict[str, list[tuple[str, Reply]]] = {
    "openai": [
        ("choices-not-objects", sse(OPENAI_OK, 'data: {"choices":[1, "x", null]}', "data: [DONE]")),
        ("delta-a-string", sse(OPENAI_OK, 'data: {"choices":[{"delta":"x"}]}', "data: [DONE]")),
        ("content-a-number", sse('data: {"choices":[{"delta":{"content":5}}]}', "data: [DONE]")),
        ("usage-a-number", sse(OPENAI_OK, 'data: {"choices":[],"usage":7}', "data: [DONE]")),
        (
            "tool-index-text",
            sse('data: {"choices":[{"delta":{"tool_calls":[{"index":"a"}]}}]}', "data: [DONE]"),
        ),
        ("tool-call-a-string", sse('data: {"choices":[{"delta":{"tool_calls":["x"]}}]}', "data: [DONE]")),
        ("choices-an-object", sse('data: {"choices":{"a":1}}', "data: [DONE]")),
        ("error-a-list", sse(OPENAI_OK, 'data: {"error":[1]}')),
        ("not-json", sse(OPENAI_OK, "data: {oops", "data: [DONE]")),
        ("json-array", sse(OPENAI_OK, "data: [1,2]", "data: [DONE]")),
    ],
    "anthropic": [
        (
            "delta-a-string",
            sse('event: content_block_delta\ndata: {"type":"content_block_delta","delta":"x"}'),
        ),
        (
            "text-a-number",
            sse(
                'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":5}}'
            ),
        ),
        ("message-a-list", sse('event: message_start\ndata: {"type":"message_start","message":[1]}')),
        (
            "usage-a-string",
            sse('event: message_delta\ndata: {"type":"message_delta","delta":{},"usage":"x"}'),
        ),
        ("type-missing", sse("event: content_block_delta\ndata: {}")),
        ("error-a-string", sse('event: error\ndata: {"type":"error","error":"boom"}')),
        ("not-json", sse("event: content_block_delta\ndata: {oops")),
        (
            "index-a-string",
            sse(
                'event: content_block_start\ndata: {"type":"content_block_start","index":"a","content_block":{"type":"tool_use","id":"t","name":"n"}}'
            ),
        ),
    ],
    "google": [
        ("candidates-not-objects", sse('data: {"candidates":[1]}')),
        ("content-a-string", sse('data: {"candidates":[{"content":"x"}]}')),
        ("parts-an-object", sse('data: {"candidates":[{"content":{"parts":{"a":1}}}]}')),
        (
            "text-a-number",
            sse('data: {"candidates":[{"content":{"parts":[{"text":5}]},"finishReason":"STOP"}]}'),
        ),
        ("usage-a-list", sse('data: {"candidates":[],"usageMetadata":[1]}')),
        ("error-a-number", sse('data: {"error":5}')),
        ("raw-json-garbage", sse("[1,2,3]\n")),
        ("not-json", sse("data: {oops")),
    ],
}


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
async def test_malformed_events_are_mapped_errors(rig: Rig, provider: Provider) -> None:
    """Valid SSE carrying JSON of the wrong shape: a provider_error (or a result), never an internal error."""
    failures = []
    for name, reply in MALFORMED[provider.name]:
        outcome, _ = await rig.chat_through(provider, Fault(name, reply, "", frozenset()))
        if isinstance(outcome, JsonRpcException) and outcome.code != BYOK_ERROR:
            failures.append(f"{provider.name} {name}: {outcome.code} {outcome.message}")
    assert not failures, "\n".join(failures)
