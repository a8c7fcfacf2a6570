"""Redact everything that leaves: stream deltas, results, errors, messages, logs and the edits the editor
writes to disk (`workspace/applyEdit`, text and file names), in every encoding.

Issue 11, part B. A loopback fake provider echoes the key back: split across two stream events at several
points, in the reasoning stream, URL-encoded or hex in an error body, base64 as Basic auth. Everything runs
against the real server over stdio (and the real CLI), and everything the client sees — each delta, each
stream's text joined, results, errors, logs, stderr — is searched for every form of the key
(`tests.conftest.key_forms`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import pytest_asyncio
from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcException

from byok.base.names import Command
from tests.conftest import TEST_KEY_OPENAI, key_forms
from tests.e2e.edits import settings_for as edit_settings_for
from tests.e2e.harness import Session
from tests.e2e.test_cli import byok, cli_env
from tests.e2e.test_keys_and_chat import settings_for
from tests.fakes import FakeServer, openai_error, openai_models, openai_stream
from tests.fakes_bedrock import SECRET_KEY
from tests.hostile.helpers import answer, assert_no_leak, every_provider_at, hostile_env, hostile_session
from tests.hostile.test_trust_agent import agent_session, script, workspace

IN_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
"""The async tests share the module's server (the CLI tests are plain functions)."""

CHAT_ROUTE = ("POST", "/v1/chat/completions")
HI = [{"role": "user", "content": "hi"}]
FUZZ_KEY = SECRET_KEY
"""The `fuzz` provider's key: its `/` is escaped in URLs and JSON, and differs in the two base64 alphabets."""
FUZZ_LABEL = "…TKEY"
OPENAI_LABEL = "sk-proj-…1b2c"


def _echoes(key: str) -> dict[str, str]:
    """The forms a provider echoes a key in (each is caught as a whole by the redactor)."""
    return {
        "raw": key,
        "quote": quote(key, safe=""),
        "quote_plus-lower": re.sub("%..", lambda m: m.group().lower(), quote_plus(key, safe="")),
        "hex": key.encode().hex(),
        "HEX": key.encode().hex().upper(),
        "json-slash": key.replace("/", "\\/"),
        "json-unicode": "".join(c if c.isalnum() else f"\\u{ord(c):04x}" for c in key),
        "basic-auth": base64.b64encode(f"user:{key}".encode()).decode(),
        "basic-auth-urlsafe": base64.urlsafe_b64encode(f"api:{key}".encode()).decode().rstrip("="),
    }


@dataclass
class Server:
    session: Session
    fake: FakeServer
    settings: dict[str, Any]
    seen: set[str] = field(default_factory=set)
    """Lines of `session.everything()` from earlier tests: each test scans only what it made the server show."""

    def shown_in_this_test(self) -> str:
        return "\n".join(line for line in self.session.everything().split("\n") if line not in self.seen)

    def next_test(self) -> None:
        self.seen.update(self.session.everything().split("\n"))

    async def chat(self, reply: Any) -> Any:
        self.fake.route(*CHAT_ROUTE, reply)
        return await answer(self.session, Command.CHAT.value, [{"messages": HI}])

    def stream_text(self, stream_id: str, kind: str = "text") -> str:
        deltas = self.session.deltas
        return "".join(
            d["delta"]["text"] for d in deltas if d["streamId"] == stream_id and d["delta"]["type"] == kind
        )


@pytest.fixture(scope="module")
def echo_fake() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        fake.route(*CHAT_ROUTE, openai_stream(["ok"]))
        fake.route("GET", "/v1/models", openai_models(["fuzz-upstream"]))
        yield fake


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(echo_fake: FakeServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    env = hostile_env(tmp_path_factory.mktemp("trust_redaction"))
    settings = every_provider_at(echo_fake)
    async with hostile_session(settings, env) as (session, _):
        for provider, key in (("fuzz", FUZZ_KEY), ("openai", TEST_KEY_OPENAI)):
            stored = await answer(session, Command.SET_KEY.value, [{"provider": provider, "key": key}])
            assert isinstance(stored, dict), stored
        yield Server(session, echo_fake, settings)
        assert_no_leak(session.everything())


@pytest.fixture(autouse=True)
def _fresh_scan(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").next_test()


def _assert_shown_nowhere(server: Server, key: str) -> None:
    shown_now = server.shown_in_this_test()
    shown = [form[:12] + "…" for form in key_forms(key) if form in shown_now]
    assert not shown, f"a form of the key reached the client: {shown}"


@IN_MODULE_LOOP
@pytest.mark.parametrize("form", list(_echoes(FUZZ_KEY)))
@pytest.mark.parametrize("where", ["start", "early", "middle", "late", "end"])
async def test_a_key_echoed_across_two_stream_events_is_redacted(
    server: Server, form: str, where: str
) -> None:
    echoed = _echoes(FUZZ_KEY)[form]
    split = {
        "start": 1,
        "early": 5,
        "middle": len(echoed) // 2,
        "late": len(echoed) - 5,
        "end": len(echoed) - 1,
    }
    cut = split[where]
    result = await server.chat(
        openai_stream([f"Your key is {echoed[:cut]}", f"{echoed[cut:]}, keep it safe."])
    )
    assert isinstance(result, dict), result
    _assert_shown_nowhere(server, FUZZ_KEY)
    streamed = server.stream_text(result["streamId"])
    assert streamed == result["text"], "the deltas joined are not the result's text"
    assert streamed.startswith("Your key is ") and streamed.endswith(", keep it safe.")
    assert FUZZ_LABEL in streamed


@IN_MODULE_LOOP
async def test_a_registered_sk_key_split_in_reasoning_and_text_is_redacted(server: Server) -> None:
    """Kinds interleave: reasoning and text each get their own redaction, both flushed at the end."""
    key = TEST_KEY_OPENAI
    reply = openai_stream(
        [f"text {key[:9]}", f"{key[9:]} and hex {key.encode().hex()[:31]}", key.encode().hex()[31:]],
        reasoning=[f"thinking {quote(key, safe='')[:20]}", quote(key, safe="")[20:]],
    )
    result = await server.chat(reply)
    assert isinstance(result, dict), result
    _assert_shown_nowhere(server, key)
    assert (
        server.stream_text(result["streamId"])
        == result["text"]
        == f"text {OPENAI_LABEL} and hex {OPENAI_LABEL}"
    )
    assert server.stream_text(result["streamId"], "reasoning") == f"thinking {OPENAI_LABEL}"


@IN_MODULE_LOOP
async def test_text_that_only_looks_like_a_key_start_is_shown_whole(server: Server) -> None:
    """What is held back is released at the end of the stream: nothing is lost."""
    pieces = ["use the flask", " app: ", FUZZ_KEY[:12], " (not a key) ", "sk-", "s"]
    result = await server.chat(openai_stream(pieces))
    assert isinstance(result, dict), result
    assert server.stream_text(result["streamId"]) == result["text"] == "".join(pieces)


@IN_MODULE_LOOP
@pytest.mark.parametrize("form", ["quote", "quote_plus-lower", "hex", "HEX", "json-unicode", "basic-auth"])
async def test_a_key_echoed_encoded_in_an_error_body_is_redacted(server: Server, form: str) -> None:
    echoed = _echoes(FUZZ_KEY)[form]
    outcome = await server.chat(
        openai_error(401, f"Incorrect API key provided: {echoed}.", code="invalid_api_key")
    )
    assert isinstance(outcome, JsonRpcException), outcome
    assert FUZZ_LABEL in json.dumps([outcome.message, outcome.data], ensure_ascii=False)
    _assert_shown_nowhere(server, FUZZ_KEY)


@IN_MODULE_LOOP
async def test_a_key_echoed_in_a_stream_error_event_is_redacted(server: Server) -> None:
    echoed = _echoes(FUZZ_KEY)["quote"]
    reply = openai_stream(
        [f"part {FUZZ_KEY[:10]}", "x"],
        error_after=1,
        error={
            "message": f"key {echoed} revoked; hex {FUZZ_KEY.encode().hex()}",
            "type": "server_error",
        },
    )
    outcome = await server.chat(reply)
    assert isinstance(outcome, JsonRpcException), outcome
    _assert_shown_nowhere(server, FUZZ_KEY)


@IN_MODULE_LOOP
async def test_a_key_echoed_encoded_when_verifying_is_redacted(server: Server) -> None:
    echoed = _echoes(FUZZ_KEY)
    server.fake.route("GET", "/v1/models", openai_error(401, f"bad key {echoed['quote']} ({echoed['hex']})"))
    try:
        outcome = await answer(server.session, Command.VERIFY_KEY.value, [{"provider": "fuzz"}])
    finally:
        server.fake.route("GET", "/v1/models", openai_models(["fuzz-upstream"]))
    assert isinstance(outcome, dict) and outcome["ok"] is False, outcome
    _assert_shown_nowhere(server, FUZZ_KEY)


@IN_MODULE_LOOP
async def test_a_key_named_in_invalid_settings_is_redacted_in_the_warning_shown(server: Server) -> None:
    """Settings problems name the setting's path: here a provider the user named with the key (hex)."""
    client = server.session.client
    shown_before = len(client.messages)
    named = {**server.settings, "providers": {FUZZ_KEY.encode().hex(): {"kind": "nope"}}}
    client.set_configuration(named, section="byok")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    try:
        for _ in range(200):
            if len(client.messages) > shown_before:
                break
            await asyncio.sleep(0.05)
    finally:
        client.set_configuration(server.settings, section="byok")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    warnings = [m.message for m in client.messages[shown_before:]]
    assert any("settings are invalid" in w and FUZZ_LABEL in w for w in warnings), warnings
    _assert_shown_nowhere(server, FUZZ_KEY)


# -- the CLI: the terminal sink and --json output ------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["terminal", "json"])
def test_the_cli_redacts_a_key_split_across_stream_events(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, as_json: bool
) -> None:
    key = TEST_KEY_OPENAI
    hexed = key.encode().hex()
    fake.route(
        *CHAT_ROUTE,
        openai_stream(
            [
                f"echo {key[:20]}",
                f"{key[20:]} / {hexed[:50]}",
                f"{hexed[50:]} / {quote(key)[:3]}",
                quote(key)[3:],
            ],
            reasoning=[f"mulling {key[:30]}", key[30:]],
        ),
    )
    env = cli_env(server_env, tmp_path, settings_for(fake))
    assert byok(env, "keys", "set", "openai", stdin=key + "\n").returncode == 0
    chat = byok(env, *(["--json"] if as_json else []), "chat", "hi", "--model", "gpt-4.1-mini")
    assert chat.returncode == 0, chat.stderr
    output = chat.stdout + chat.stderr
    shown = [form[:12] + "…" for form in key_forms(key) if form in output]
    assert not shown, f"a form of the key reached the terminal: {shown}"
    text = json.loads(chat.stdout)["text"] if as_json else chat.stdout
    assert text == f"echo {OPENAI_LABEL} / {OPENAI_LABEL} / {OPENAI_LABEL}"


# -- workspace/applyEdit: what the editor writes to disk -----------------------------------------------------------


def _forms_in(text: str, key: str) -> list[str]:
    return [form[:12] + "…" for form in key_forms(key) if form in text]


async def test_a_key_echoed_into_agent_edits_is_redacted_in_apply_edit(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """A provider echoes the key into a file's content and into a file's name: the editor writes neither."""
    root = workspace(tmp_path)
    script(
        fake,
        ("c1", "create_file", {"path": "notes.txt", "content": f"key={TEST_KEY_OPENAI}\n"}),
        ("c2", "create_file", {"path": f"src/{TEST_KEY_OPENAI}.txt", "content": "x\n"}),
    )
    async with agent_session(edit_settings_for(fake), server_env, root, answer="Deny") as s:
        result = await s.command("byok.agent", {"task": "go", "model": "gpt-4o"})
        sent = [get_converter().unstructure(params) for params in s.apply_edits]
    assert len(sent) == 1, sent
    assert not _forms_in(json.dumps(result["edits"]), TEST_KEY_OPENAI)
    assert not _forms_in(json.dumps(sent), TEST_KEY_OPENAI), "the editor would write the key to disk"
    changes = sent[0]["edit"]["documentChanges"]
    texts = [edit["newText"] for change in changes for edit in change.get("edits", [])]
    assert f"key={OPENAI_LABEL}\n" in texts, texts
    uris = [change.get("uri") or change["textDocument"]["uri"] for change in changes]
    assert (root / "src" / f"{OPENAI_LABEL}.txt").as_uri() in uris, uris


async def test_a_key_echoed_into_composer_output_is_redacted_in_apply_edit(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    fake.route(
        *CHAT_ROUTE, openai_stream([f"FILE: src/settings.py\n```python\nKEY = '{TEST_KEY_OPENAI}'\n```\n"])
    )
    async with agent_session(edit_settings_for(fake), server_env, root, answer="Deny") as s:
        await s.command("byok.composer", {"instruction": "go", "model": "gpt-4o", "apply": True})
        sent = json.dumps(
            [get_converter().unstructure(params) for params in s.apply_edits], ensure_ascii=False
        )
    assert len(s.apply_edits) == 1
    assert not _forms_in(sent, TEST_KEY_OPENAI), "the editor would write the key to disk"
    assert OPENAI_LABEL in sent
