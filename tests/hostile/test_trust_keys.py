"""Keys go only where the user sent them: the whole route (endpoint, proxy, CA) is bound to a key.

Issue 11, part A: routes, one loopback definition, env keys bound to their preset's origin, byok.bindKey,
and a code with cause and fix for a bad proxy or a missing CA bundle.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from byok.base.config import Settings
from byok.base.names import ErrorCode
from byok.core.keys import KeyStore
from byok.core.session import Backend
from tests.conftest import (
    SERVER_COMMAND,
    TEST_KEY_ANTHROPIC,
    TEST_KEY_AZURE,
    TEST_KEY_COMPAT,
    TEST_KEY_OPENAI,
)
from tests.e2e.harness import Session, byok_error
from tests.e2e.test_network import _certificate_authority
from tests.fakes import FakeServer, openai_models
from tests.fakes_bedrock import API_KEY, FakeBedrock
from tests.hostile.helpers import assert_no_leak, hostile_env

CANNOT_ASK = "cannot-ask"
BIND, CANCEL = "Bind", "Cancel"
DD_KEY = "dd-TESTKEY-datadog-eeeeeeeeeeeeeeee"
OTHER_SECRET = "ghp_TESTgithubTOKEN0000000000000000000000"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = hostile_env(tmp_path)
    environment.pop("HTTP_PROXY", None)
    environment.pop("ALL_PROXY", None)
    environment.pop("NO_PROXY", None)
    return environment


# -- loopback servers that record what reaches them ---------------------------------------------------


class _Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, handler: type[BaseHTTPRequestHandler]) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        super().__init__((host, 0), handler)

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    """A proxy that records every request (CONNECT included) and forwards nothing."""

    server: _Recorder

    def _record(self) -> None:
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(502)
        self.send_header("content-length", "0")
        self.end_headers()

    do_GET = do_POST = do_CONNECT = _record

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _ModelsHandler(BaseHTTPRequestHandler):
    """An OpenAI-compatible /v1/models that records the Authorization it got."""

    server: _Recorder

    def do_GET(self) -> None:
        self.server.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = json.dumps({"object": "list", "data": [{"id": "direct-model", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def proxy() -> Iterator[_Recorder]:
    yield from _serve("127.0.0.1", _ProxyHandler)


@pytest.fixture
def upstream_127_0_0_2() -> Iterator[_Recorder]:
    yield from _serve("127.0.0.2", _ModelsHandler)


def _serve(host: str, handler: type[BaseHTTPRequestHandler]) -> Iterator[_Recorder]:
    server = _Recorder(host, handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- an LSP client that can (or cannot) answer window/showMessageRequest ---------------------------------


@asynccontextmanager
async def trust_session(
    settings: dict[str, Any], env: dict[str, str], answer: str | None = CANNOT_ASK
) -> AsyncIterator[Session]:
    """The real server over stdio; `answer` is the action the user picks, or CANNOT_ASK (headless client)."""
    client = await ClientServerConfig(server_command=SERVER_COMMAND, server_env=env).start()
    assert isinstance(client, LanguageClient)
    session = Session(client, message_answer=answer)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_message_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        session.message_requests.append(params)
        return types.MessageActionItem(title=answer) if answer and answer != CANNOT_ASK else None

    client.set_configuration(settings, section="byok")
    window = types.WindowClientCapabilities(
        show_message=None
        if answer == CANNOT_ASK
        else types.ShowMessageRequestClientCapabilities(
            message_action_item=types.ClientShowMessageActionItemOptions(additional_properties_support=False)
        )
    )
    await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                workspace=types.WorkspaceClientCapabilities(configuration=True), window=window
            ),
            initialization_options={"byok": settings},
        )
    )
    try:
        yield session
    finally:
        await asyncio.wait_for(client.shutdown_session(), 10)
        await client.stop()
    assert_no_leak(session.everything())


async def refused(session: Session, name: str, argument: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wait_for(session.command(name, argument), 20)
    return byok_error(caught.value)


def auth_headers(recorder: _Recorder | FakeServer) -> list[str]:
    if isinstance(recorder, FakeServer):
        return [r.headers.get("authorization", "") for r in recorder.requests]
    return [headers.get("authorization", "") for _, _, headers in recorder.seen]


# -- one loopback definition ----------------------------------------------------------------------------


async def test_every_loopback_host_bypasses_the_proxy(
    env: dict[str, str], proxy: _Recorder, upstream_127_0_0_2: _Recorder
) -> None:
    """127.0.0.2 is loopback for require_secure (plain HTTP allowed), so it must also go direct."""
    local_url = f"{upstream_127_0_0_2.url}/v1"
    port = upstream_127_0_0_2.server_address[1]
    providers = {
        "local": {"kind": "openai-compatible", "baseUrl": local_url},
        **{
            f"n{i}": {"kind": "openai-compatible", "baseUrl": f"http://{host}:{port}/v1"}
            for i, host in enumerate(("foo.localhost", "localhost.localdomain", "ip6-localhost", "127.9.8.7"))
        },
    }
    async with trust_session({"proxy": proxy.url, "providers": providers}, env) as s:
        await s.command("byok.setKey", {"provider": "local", "key": TEST_KEY_COMPAT})
        verified = await s.command("byok.verifyKey", {"provider": "local"})
        assert verified["ok"] and verified["models"] == ["direct-model"], verified
        assert auth_headers(upstream_127_0_0_2) == [f"Bearer {TEST_KEY_COMPAT}"]
        for name in ("n0", "n1", "n2", "n3"):
            await s.command("byok.verifyKey", {"provider": name})  # may fail to resolve: never via the proxy
    assert proxy.seen == [], f"a loopback request went through the proxy: {[p for _, p, _ in proxy.seen]}"


# -- proxy and CA are part of the key's route ------------------------------------------------------------


async def test_a_proxy_added_after_the_key_was_stored_is_refused(
    env: dict[str, str], proxy: _Recorder
) -> None:
    async with trust_session({}, env) as s:
        stored = await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        assert "route" not in stored, "the preset's default route needs no notice"
    started = time.monotonic()
    async with trust_session({"proxy": proxy.url}, env) as s:
        result = await s.command("byok.verifyKey", {"provider": "openai"})
        assert not result["ok"]
        error = result["error"]
        assert error["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH
        assert f"proxy changed from none to {proxy.url}" in error["message"]
        assert "byok keys bind openai" in error["fix"] and "byok.bindKey" in error["fix"]
        chat = await refused(
            s, "byok.chat", {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}
        )
        assert chat["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH
    assert time.monotonic() - started < 15
    assert proxy.seen == [], "the key's request reached a proxy it was never bound to"


async def test_a_proxy_with_credentials_is_recorded_without_them(
    env: dict[str, str], proxy: _Recorder
) -> None:
    secret_proxy = proxy.url.replace("http://", "http://user:pr0xy-TESTPASS@")
    async with trust_session({"proxy": secret_proxy}, env) as s:
        stored = await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        assert stored["route"]["proxy"] == proxy.url
    record = await asyncio.to_thread(Path(env["BYOK_TEST_KEYRING_FILE"]).read_text)
    assert "pr0xy-TESTPASS" not in record and proxy.url in record


async def test_a_changed_ca_bundle_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca1"
    ca_dir.mkdir()
    ca, _, _ = _certificate_authority(ca_dir)
    providers = {"corp": {"kind": "openai-compatible", "baseUrl": "https://127.0.0.1:9/v1"}}
    async with trust_session({"providers": providers}, env) as s:
        await s.command("byok.setKey", {"provider": "corp", "key": TEST_KEY_COMPAT})
    async with trust_session({"providers": providers, "caBundle": str(ca)}, env, BIND) as s:
        result = await s.command("byok.verifyKey", {"provider": "corp"})
        assert result["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH, result
        assert "CA bundle changed" in result["error"]["message"]
        bound = await s.command("byok.bindKey", {"provider": "corp"})
        assert bound["route"]["caBundle"].startswith("sha256:")
        again = await s.command("byok.verifyKey", {"provider": "corp"})
        assert again["error"]["code"] == ErrorCode.ENDPOINT_UNREACHABLE, "bound: it is sent (nothing listens)"
        other = tmp_path / "ca2"
        other.mkdir()
        ca.write_bytes(_certificate_authority(other)[0].read_bytes())
        swapped = await s.command("byok.verifyKey", {"provider": "corp"})
        assert swapped["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH
        assert "CA bundle changed" in swapped["error"]["message"]


def test_an_old_v1_record_binds_the_origin_and_no_proxy(keyring_file: Path) -> None:
    import keyring

    keyring.set_password(
        "byok", "openai", json.dumps({"v": 1, "key": TEST_KEY_OPENAI, "endpoint": "https://api.openai.com"})
    )

    async def check(settings: Settings) -> str | None:
        backend = Backend(settings, KeyStore(environ={}))
        try:
            _, stored = await backend.provider("openai")
            return stored.fingerprint if stored else None
        finally:
            await backend.aclose()

    assert asyncio.run(check(Settings())) == "sk-proj-…1b2c"
    with pytest.raises(Exception) as caught:
        asyncio.run(check(Settings(proxy="http://127.0.0.1:8888")))
    assert getattr(caught.value, "code", None) == ErrorCode.KEY_ENDPOINT_MISMATCH


# -- keys from the environment are bound too ------------------------------------------------------------


async def test_an_env_key_goes_only_to_its_preset_origin_until_bound(
    env: dict[str, str], fake: FakeServer
) -> None:
    fake.route("GET", "/v1/models", openai_models(["gpt-4.1-mini"]))
    env = {**env, "OPENAI_API_KEY": TEST_KEY_OPENAI}
    settings = {"providers": {"openai": {"baseUrl": f"{fake.url}/v1"}}}
    async with trust_session(settings, env) as s:
        result = await s.command("byok.verifyKey", {"provider": "openai"})
        assert result["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH, result
        assert "OPENAI_API_KEY" in result["error"]["message"] and fake.url in result["error"]["message"]
        assert "byok keys bind openai" in result["error"]["fix"]
        headless = await refused(s, "byok.bindKey", {"provider": "openai"})
        assert headless["code"] == "bind_not_confirmed"
        assert "byok keys bind openai" in headless["fix"]
    async with trust_session(settings, env, CANCEL) as s:
        declined = await refused(s, "byok.bindKey", {"provider": "openai"})
        assert declined["code"] == "bind_not_confirmed"
        assert len(s.message_requests) == 1 and fake.url in s.message_requests[0].message
        other = await refused(s, "byok.bindKey", {"provider": "openai", "endpoint": "https://evil.example"})
        assert other["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH and len(s.message_requests) == 1
        assert not (await s.command("byok.verifyKey", {"provider": "openai"}))["ok"]
    assert fake.requests == [], "an env key went to a baseUrl from settings without a bind"
    async with trust_session(settings, env, BIND) as s:
        bound = await s.command("byok.bindKey", {"provider": "openai", "endpoint": f"{fake.url}/v1"})
        assert bound["route"]["endpoint"] == fake.url and bound["source"] == "env"
    async with trust_session(settings, env) as s:
        assert (await s.command("byok.verifyKey", {"provider": "openai"}))["ok"]
    assert auth_headers(fake) == [f"Bearer {TEST_KEY_OPENAI}"]
    record = await asyncio.to_thread(Path(env["BYOK_TEST_KEYRING_FILE"]).read_text)
    assert TEST_KEY_OPENAI not in record, "binding an env key must not store the key"


async def test_custom_providers_read_only_the_env_var_the_user_names(
    env: dict[str, str], fake: FakeServer
) -> None:
    fake.route("GET", "/v1/models", openai_models(["dd-model"]))
    env = {**env, "DATADOG_API_KEY": DD_KEY, "MY_DD_KEY": DD_KEY}
    plain = {"providers": {"datadog": {"kind": "openai-compatible", "baseUrl": f"{fake.url}/v1"}}}
    async with trust_session(plain, env) as s:
        assert (await s.command("byok.verifyKey", {"provider": "datadog"}))["ok"]
        assert await s.command("byok.listKeys") == []
    assert auth_headers(fake) == [""], "DATADOG_API_KEY was picked up by id"
    named = {"providers": {"datadog": {**plain["providers"]["datadog"], "apiKeyEnv": "MY_DD_KEY"}}}
    async with trust_session(named, env, BIND) as s:
        first = await s.command("byok.verifyKey", {"provider": "datadog"})
        assert first["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH
        await s.command("byok.bindKey", {"provider": "datadog"})
        assert (await s.command("byok.verifyKey", {"provider": "datadog"}))["ok"]
    assert auth_headers(fake) == ["", f"Bearer {DD_KEY}"]


async def test_an_azure_env_key_needs_one_bind(env: dict[str, str], fake: FakeServer) -> None:
    env = {**env, "AZURE_OPENAI_API_KEY": TEST_KEY_AZURE}
    endpoint = f"{fake.url}/openai/deployments/dep1/chat/completions?api-version=2024-10-21"
    settings = {"providers": {"azure": {"endpoint": endpoint}}}
    async with trust_session(settings, env) as s:
        result = await s.command("byok.verifyKey", {"provider": "azure"})
        assert result["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH, result
    assert fake.requests == []


async def test_bedrock_env_credentials_go_only_to_the_regions_aws_endpoint(env: dict[str, str]) -> None:
    with FakeBedrock() as bedrock:
        settings = {"providers": {"bedrock": {"region": "us-east-1", "endpointUrl": bedrock.url}}}
        bearer_env = {**env, "AWS_BEARER_TOKEN_BEDROCK": API_KEY, "AWS_EC2_METADATA_DISABLED": "true"}
        bearer_env["AWS_SHARED_CREDENTIALS_FILE"] = bearer_env["AWS_CONFIG_FILE"] = "/nonexistent"
        chain_env = {
            **bearer_env,
            "AWS_ACCESS_KEY_ID": "AKIAFAKETESTCHAIN000",
            "AWS_SECRET_ACCESS_KEY": "FAKE",
        }
        async with trust_session(settings, chain_env) as s:
            chain = await s.command("byok.verifyKey", {"provider": "bedrock"})
            assert chain["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH, chain
        async with trust_session(settings, bearer_env, BIND) as s:
            bearer = await s.command("byok.verifyKey", {"provider": "bedrock"})
            assert bearer["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH, bearer
            assert bedrock.requests == []
            await s.command("byok.bindKey", {"provider": "bedrock"})
            assert (await s.command("byok.verifyKey", {"provider": "bedrock"}))["ok"]
        assert bedrock.requests and all(r.auth == "bearer" for r in bedrock.requests)


# -- setKey names a non-default route; bad network settings get a code ---------------------------------


async def test_set_key_says_where_a_non_default_endpoint_binds(env: dict[str, str], fake: FakeServer) -> None:
    settings = {"providers": {"openai": {"baseUrl": f"{fake.url}/v1"}}}
    async with trust_session(settings, env) as s:
        stored = await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        assert stored["route"] == {"endpoint": fake.url, "proxy": None, "caBundle": None}
        assert stored["default"] == "https://api.openai.com"


@pytest.mark.parametrize(
    ("setting", "code"),
    [
        ({"proxy": "not a proxy url"}, "proxy_invalid"),
        ({"proxy": "ftp://127.0.0.1:21"}, "proxy_invalid"),
        ({"proxy": "http://proxy\u202e.example:8080"}, "proxy_invalid"),
        ({"caBundle": "/nonexistent/corporate-ca.pem"}, "ca_bundle_unreadable"),
    ],
)
async def test_bad_network_settings_get_a_code_cause_and_fix(
    env: dict[str, str], setting: dict[str, str], code: str
) -> None:
    async with trust_session({}, env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
    async with trust_session(setting, env) as s:
        started = time.monotonic()
        error = await refused(
            s, "byok.chat", {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}
        )
        assert time.monotonic() - started < 2
        assert error["code"] == code and error["cause"] and error["fix"], error
        assert ErrorCode(code)


# -- the CLI's interactive bind -------------------------------------------------------------------------


def _cli(env: dict[str, str], *args: str, tty_answer: str | None = None) -> tuple[int, str]:
    """Run `byok` with stdin either a pipe (empty) or a terminal that answers `tty_answer`."""
    command = [sys.executable, "-m", "byok.cli", *args]
    if tty_answer is None:
        done = subprocess.run(command, input="y\n", capture_output=True, text=True, env=env, timeout=60)
        return done.returncode, done.stdout + done.stderr
    main, child = pty.openpty()
    process = subprocess.Popen(command, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    output = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"[y/N]" in output:
            os.write(main, tty_answer.encode() + b"\n")
            answered = True
    os.close(main)
    return process.wait(10), output.decode(errors="replace")


def test_cli_bind_asks_on_a_terminal_and_refuses_a_pipe(
    env: dict[str, str], fake: FakeServer, tmp_path: Path
) -> None:
    fake.route("GET", "/v1/models", openai_models(["gpt-4.1-mini"]))
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"providers": {"openai": {"baseUrl": f"{fake.url}/v1"}}}))
    env = {**env, "BYOK_SETTINGS": str(path), "OPENAI_API_KEY": TEST_KEY_OPENAI}
    code, out = _cli(env, "keys", "bind", "openai")
    assert code == 1 and "terminal" in out, out
    code, out = _cli(env, "keys", "bind", "openai", tty_answer="n")
    assert code == 1 and fake.url in out, out
    code, out = _cli(env, "verify", "openai")
    assert code == 1 and "byok keys bind openai" in out, out
    assert fake.requests == []
    code, out = _cli(env, "keys", "bind", "openai", tty_answer="y")
    assert code == 0 and fake.url in out, out
    code, out = _cli(env, "verify", "openai")
    assert code == 0 and "gpt-4.1-mini" in out, out
    assert TEST_KEY_OPENAI not in out


# -- issue 11 review: what the bind question shows is where the key goes ----------------------------------

LURE = (
    "api.anthropic.com, via proxy none (direct), trusting the system CA store. "
    "Only allow a route you configured yourself." + " " * 200 + "\u202e"
)


@pytest.mark.parametrize(
    ("provider", "setting", "value"),
    [
        ("anthropic", "baseUrl", "http://{lure}@{host}"),
        ("corp", "baseUrl", "http://user:pass@{host}/v1"),
        (
            "azure",
            "endpoint",
            "http://{lure}@{host}/openai/deployments/d/chat/completions?api-version=2024-10-21",
        ),
        ("bedrock", "endpointUrl", "https://{lure}@{host}"),
    ],
)
async def test_an_endpoint_with_userinfo_is_refused_naming_the_setting(
    env: dict[str, str], fake: FakeServer, provider: str, setting: str, value: str
) -> None:
    """httpx connects to the host after the `@`: text before it could pose as the host in the bind question."""
    fake.route("GET", "/v1/models", openai_models(["m"]))
    url = value.format(lure=LURE, host=fake.url.removeprefix("http://"))
    config: dict[str, Any] = {setting: url}
    if provider == "corp":
        config["kind"] = "openai-compatible"
    if provider == "bedrock":
        config["region"] = "us-east-1"
    env = {**env, "AWS_ACCESS_KEY_ID": "AKIAFAKETESTCHAIN000", "AWS_SECRET_ACCESS_KEY": "FAKE"}
    key = {"anthropic": TEST_KEY_ANTHROPIC, "corp": TEST_KEY_COMPAT, "azure": TEST_KEY_AZURE}.get(provider)
    if key:  # stored for the default route (azure: the env key), then a setting moves the endpoint
        if provider == "azure":
            env["AZURE_OPENAI_API_KEY"] = key
        else:
            async with trust_session({"providers": {provider: {"baseUrl": f"{fake.url}/v1"}}}, env) as s:
                await s.command("byok.setKey", {"provider": provider, "key": key})
    async with trust_session({"providers": {provider: config}}, env, BIND) as s:
        bind = await refused(s, "byok.bindKey", {"provider": provider})
        assert bind["code"] == ErrorCode.INSECURE_ENDPOINT, bind
        assert f"byok.providers.{provider}.{setting}" in bind["message"], bind
        assert "\u202e" not in bind["message"] and " " * 3 not in bind["message"], bind
        assert s.message_requests == [], "the user was asked to bind a route whose host is hidden"
        if key and provider != "azure":
            stored = await refused(s, "byok.setKey", {"provider": provider, "key": key})
            assert stored["code"] == ErrorCode.INSECURE_ENDPOINT, stored
        verified = await s.command("byok.verifyKey", {"provider": provider})
        assert verified["error"]["code"] == ErrorCode.INSECURE_ENDPOINT, verified
    assert fake.requests == [], "a request went to the host hidden behind userinfo"


async def test_the_bind_question_shows_hidden_characters_escaped(env: dict[str, str]) -> None:
    """A proxy host with a run of blanks (httpx accepts it) is shown with the run counted, not as blank text."""
    settings = {
        "providers": {"corp": {"baseUrl": "https://llm.corp.example/v1"}},
        "proxy": "http://proxy" + " " * 40 + ".example:8080",
    }
    async with trust_session(settings, env, CANCEL) as s:
        await s.command("byok.setKey", {"provider": "corp", "key": TEST_KEY_COMPAT})
        declined = await refused(s, "byok.bindKey", {"provider": "corp"})
        assert declined["code"] == "bind_not_confirmed"
        question = s.message_requests[0].message
    assert " " * 3 not in question and "proxy⟨40 spaces⟩.example" in question, question


async def test_a_binding_covers_one_env_var_not_the_provider(env: dict[str, str], fake: FakeServer) -> None:
    """After binding $OPENAI_API_KEY to a gateway, a setting naming another variable needs its own bind."""
    fake.route("GET", "/v1/models", openai_models(["gpt-4.1-mini"]))
    env = {**env, "OPENAI_API_KEY": TEST_KEY_OPENAI, "GITHUB_TOKEN": OTHER_SECRET}
    settings = {"providers": {"openai": {"baseUrl": f"{fake.url}/v1"}}}
    async with trust_session(settings, env, BIND) as s:
        await s.command("byok.bindKey", {"provider": "openai"})
        assert (await s.command("byok.verifyKey", {"provider": "openai"}))["ok"]
    renamed = {"providers": {"openai": {"baseUrl": f"{fake.url}/v1", "apiKeyEnv": "GITHUB_TOKEN"}}}
    async with trust_session(renamed, env) as s:
        result = await s.command("byok.verifyKey", {"provider": "openai"})
        assert result["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH, result
        assert "$GITHUB_TOKEN" in result["error"]["message"], result
    assert auth_headers(fake) == [f"Bearer {TEST_KEY_OPENAI}"], (
        "$GITHUB_TOKEN went over $OPENAI_API_KEY's route"
    )
    async with trust_session(renamed, env, BIND) as s:
        await s.command("byok.bindKey", {"provider": "openai"})
        assert "$GITHUB_TOKEN" in s.message_requests[0].message
        assert (await s.command("byok.verifyKey", {"provider": "openai"}))["ok"]
    async with trust_session(settings, env) as s:
        again = await s.command("byok.verifyKey", {"provider": "openai"})
        assert again["error"]["code"] == ErrorCode.KEY_ENDPOINT_MISMATCH, "the binding moved to $GITHUB_TOKEN"
    assert auth_headers(fake) == [f"Bearer {TEST_KEY_OPENAI}", f"Bearer {OTHER_SECRET}"]


async def test_the_client_trusts_the_ca_bytes_the_route_was_checked_against(
    env: dict[str, str], fake: FakeServer, tmp_path: Path
) -> None:
    """The CA file is swapped to the attacker's CA, any request builds the client, then swapped back."""
    yours, theirs = tmp_path / "yours", tmp_path / "theirs"
    yours.mkdir()
    theirs.mkdir()
    your_ca = _certificate_authority(yours)[0].read_bytes()
    their_ca, cert, key = _certificate_authority(theirs)
    with _tls_recorder(cert, key) as attacker:
        ca_file = tmp_path / "corporate-ca.pem"
        ca_file.write_bytes(your_ca)
        fake.route("GET", "/v1/models", openai_models(["local-model"]))
        settings = {
            "caBundle": str(ca_file),
            "providers": {
                "corp": {
                    "kind": "openai-compatible",
                    "baseUrl": attacker.url.replace("http:", "https:") + "/v1",
                },
                "local": {"kind": "openai-compatible", "baseUrl": f"{fake.url}/v1"},
            },
        }
        async with trust_session(settings, env) as s:
            await s.command("byok.setKey", {"provider": "corp", "key": TEST_KEY_COMPAT})
        ca_file.write_bytes(their_ca.read_bytes())
        async with trust_session(settings, env) as s:
            assert (await s.command("byok.verifyKey", {"provider": "local"}))["ok"]
            ca_file.write_bytes(your_ca)
            result = await s.command("byok.verifyKey", {"provider": "corp"})
            assert result["error"]["code"] == ErrorCode.ENDPOINT_UNREACHABLE, result
        assert auth_headers(attacker) == [], "the key went over TLS the bound CA bundle does not trust"


@contextmanager
def _tls_recorder(cert: Path, key: Path) -> Iterator[_Recorder]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _Recorder("127.0.0.1", _ModelsHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
