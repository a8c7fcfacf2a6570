"""A key must appear nowhere but the request header to its provider.

Runs the key flows with recognisable keys (including provider errors that echo the key back, and a
crash of a stream) and searches every result, error, notification, log message and stderr line —
plus the files the server writes — for the keys and their base64.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE, TEST_KEY_OPENAI
from tests.e2e.harness import lsp_session
from tests.e2e.test_keys_and_chat import USER, settings_for
from tests.fakes import (
    FakeServer,
    anthropic_error,
    gemini_stream,
    json_reply,
    openai_models,
    openai_stream,
)

KEYS = (TEST_KEY_OPENAI, TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE)


def _written_files(root: Path) -> str:
    return "\n".join(
        p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.name != "keyring.json"
    )


def _needles() -> list[str]:
    return [*KEYS, *(base64.b64encode(k.encode()).decode() for k in KEYS)]


async def test_key_flows_leak_nothing(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    echo_401 = json_reply(
        401,
        {
            "error": {
                "message": f"Incorrect API key provided: {TEST_KEY_OPENAI}. Check your key.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
        },
    )
    fake.route("GET", "/v1/models", openai_models(["gpt-4o"]), echo_401)
    fake.route("POST", "/v1/chat/completions", openai_stream([f"echo {TEST_KEY_OPENAI[:10]}", " done"]))
    fake.route(
        "POST",
        "/v1/messages",
        anthropic_error(401, "authentication_error", f"invalid x-api-key {TEST_KEY_ANTHROPIC}"),
    )
    fake.route("POST", r"/v1beta/models/.+", gemini_stream(["partial"]).with_drop(2))
    async with lsp_session(settings_for(fake), server_env, root=tmp_path.as_uri()) as s:
        for provider, key in (
            ("openai", TEST_KEY_OPENAI),
            ("anthropic", TEST_KEY_ANTHROPIC),
            ("google", TEST_KEY_GOOGLE),
        ):
            await s.command("byok.setKey", {"provider": provider, "key": key})
        await s.command("byok.listKeys")
        await s.command("byok.status")
        assert (await s.command("byok.verifyKey", {"provider": "openai"}))["ok"]
        failed = await s.command("byok.verifyKey", {"provider": "openai"})
        assert failed["error"]["code"] == "invalid_key"
        await s.command("byok.chat", {"messages": USER, "model": "gpt-4o"})
        for model in ("claude-sonnet-4-5", "gemini-2.5-flash"):
            with pytest.raises(JsonRpcException):
                await s.command("byok.chat", {"messages": USER, "model": model})
        with pytest.raises(JsonRpcException):
            await s.command("byok.setKey", {"provider": "google", "key": TEST_KEY_OPENAI})
        transcript = s.everything()
    out, err = capfd.readouterr()
    written = await asyncio.to_thread(_written_files, tmp_path)
    for needle in _needles():
        assert needle not in transcript, "key in a result, error, notification or log message"
        assert needle not in out + err, "key on the server's stdout/stderr"
        assert needle not in written, "key written to a file other than the test keyring"
    assert "sk-proj-…1b2c" in transcript  # the fingerprint is what users see instead
