"""The headless CLI: keys from stdin (never argv), verify, streamed chat, usage, --json, exit codes."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_OPENAI
from tests.e2e.harness import byok_error, lsp_session
from tests.e2e.test_keys_and_chat import settings_for
from tests.fakes import FakeServer, openai_bad_key, openai_error, openai_models, openai_stream


def byok(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "byok.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def cli_env(server_env: dict[str, str], tmp_path: Path, settings: dict[str, Any]) -> dict[str, str]:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    return {**server_env, "BYOK_SETTINGS": str(path)}


def test_cli_key_verify_chat_usage(fake: FakeServer, server_env: dict[str, str], tmp_path: Path) -> None:
    fake.route("GET", "/v1/models", openai_models(["gpt-4.1-mini"]), openai_bad_key())
    fake.route("POST", "/v1/chat/completions", openai_stream(["Hello", ", ", "world"], usage=(12, 3)))
    env = cli_env(server_env, tmp_path, settings_for(fake))
    stored = byok(env, "keys", "set", "openai", stdin=TEST_KEY_OPENAI + "\n")
    assert stored.returncode == 0, stored.stderr
    assert "sk-proj-…1b2c" in stored.stdout
    assert (
        f"bound to {fake.url}" in stored.stdout and "the default is https://api.openai.com" in stored.stdout
    )
    listed = json.loads(byok(env, "--json", "keys", "list").stdout)
    assert listed == [{"provider": "openai", "fingerprint": "sk-proj-…1b2c", "source": "keyring"}]
    ok = byok(env, "verify", "openai")
    assert ok.returncode == 0 and "OK" in ok.stdout and "gpt-4.1-mini" in ok.stdout
    bad = byok(env, "verify", "openai")
    assert bad.returncode == 1 and "cause:" in bad.stdout and "fix:" in bad.stdout
    source = tmp_path / "notes.md"
    source.write_text("remember the milk\n")
    chat = byok(env, "chat", "summarise", "--model", "gpt-4.1-mini", "--file", str(source))
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout == "Hello, world"
    assert "12 in / 3 out" in chat.stderr
    sent = fake.requests[-1].json()["messages"]
    assert any("remember the milk" in m["content"] and str(source) in m["content"] for m in sent)
    usage = byok(env, "usage")
    assert usage.returncode == 0 and "gpt-4.1-mini" in usage.stdout and "per day:" in usage.stdout
    assert "█" in usage.stdout
    usage_json = json.loads(byok(env, "--json", "usage", "--group-by", "provider").stdout)
    assert usage_json["rows"][0]["key"] == "openai" and usage_json["rows"][0]["requests"] == 1
    for result in (stored, ok, bad, chat, usage):
        assert TEST_KEY_OPENAI not in result.stdout + result.stderr


def test_cli_errors_are_clear(server_env: dict[str, str], tmp_path: Path) -> None:
    env = cli_env(server_env, tmp_path, {})
    missing = byok(env, "chat", "hi", "--model", "gpt-4o")
    assert missing.returncode == 1
    assert "byok keys set openai" in missing.stderr and "OPENAI_API_KEY" in missing.stderr
    unknown = byok(env, "--json", "verify", "nosuch")
    assert unknown.returncode == 1
    assert json.loads(unknown.stdout)["error"]["code"] == "unknown_provider"
    bad_month = byok(env, "usage", "--month", "2025-13")
    assert bad_month.returncode == 2 and "month" in bad_month.stderr


def test_cli_reasoning_flag_and_status(fake: FakeServer, server_env: dict[str, str], tmp_path: Path) -> None:
    fake.route("POST", "/v1/chat/completions", openai_stream(["ok"], usage=(5, 1)))
    settings = settings_for(fake, features={"chat": {"model": "gpt-5.1", "reasoning": {"effort": "minimal"}}})
    env = cli_env(server_env, tmp_path, settings)
    assert byok(env, "keys", "set", "openai", stdin=TEST_KEY_OPENAI + "\n").returncode == 0
    status = byok(env, "status")
    assert (
        "chat        gpt-5.1  [openai]  reasoning: low; gpt-5.1 takes none, low, medium, high; sent low"
        in (status.stdout)
    ), status.stdout
    chat = byok(env, "chat", "hi", "--reasoning", "high")
    assert chat.returncode == 0, chat.stderr
    assert fake.requests[-1].json()["reasoning_effort"] == "high"
    bad = byok(env, "chat", "hi", "--reasoning", "loud")
    assert bad.returncode == 2 and "invalid choice: 'loud'" in bad.stderr


def test_cli_rules_and_chat_with_the_workspace_rules(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    fake.route("POST", "/v1/chat/completions", openai_stream(["ok"]))
    env = cli_env(server_env, tmp_path, {**settings_for(fake), "rules": {"extraFiles": ["/etc/hostname"]}})
    ws = tmp_path / "project"
    (ws / ".cursor" / "rules").mkdir(parents=True)
    (ws / "AGENTS.md").write_text("Use tabs.\n")
    (ws / ".cursor" / "rules" / "ts.mdc").write_text("---\nglobs: '*.ts'\n---\nStrict TS.\n")
    shown = byok(env, "rules", "--workspace", str(ws))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "rules in force: 10 of 32,768 bytes sent to every request",
        "  AGENTS.md  10 bytes  [agents: always]",
        "  .cursor/rules/ts.mdc  11 bytes  [cursor: files matching *.ts]",
        "refused: /etc/hostname: rules.extraFiles may only name files inside the workspace or byok's config dir",
    ]
    as_json = json.loads(byok(env, "--json", "rules", "--workspace", str(ws)).stdout)
    assert [f["path"] for f in as_json["files"]] == ["AGENTS.md", ".cursor/rules/ts.mdc"]
    assert byok(env, "keys", "set", "openai", stdin=TEST_KEY_OPENAI + "\n").returncode == 0
    chat = byok(env, "chat", "hi", "--model", "gpt-4.1-mini", "--workspace", str(ws))
    assert chat.returncode == 0, chat.stderr
    system = fake.requests[-1].json()["messages"][0]
    assert system["role"] == "system" and "Use tabs." in system["content"]


async def test_a_key_deleted_or_replaced_in_a_terminal_is_not_used_by_a_running_server(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """The server remembers a key it read; `byok keys delete` / `keys set` in another process make it forget."""
    settings = settings_for(fake)
    env = cli_env(server_env, tmp_path, settings)
    fake.route("POST", "/v1/chat/completions", openai_stream(["hi"]))
    chat = {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4.1-mini"}
    async with lsp_session(settings, server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        assert (await s.command("byok.chat", chat))["text"] == "hi"
        deleted = await asyncio.to_thread(byok, env, "keys", "delete", "openai")
        assert deleted.returncode == 0, deleted.stderr
        with pytest.raises(JsonRpcException) as refused:
            await s.command("byok.chat", chat)
        assert byok_error(refused.value)["code"] == "key_missing"
        replacement = TEST_KEY_OPENAI.replace("1b2c", "9z9z")
        stored = await asyncio.to_thread(byok, env, "keys", "set", "openai", stdin=replacement + "\n")
        assert stored.returncode == 0, stored.stderr
        assert (await s.command("byok.chat", chat))["text"] == "hi"
        assert fake.requests[-1].headers["authorization"] == f"Bearer {replacement}"


def test_cli_output_never_shows_a_key_a_provider_echoes(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """A provider that lists the key (base64-encoded: only the registered key's forms catch it) as a model:
    `verify` prints it in its result, a failed chat in its error's `models`; the CLI shows only the fingerprint."""
    echoed = base64.b64encode(TEST_KEY_OPENAI.encode()).decode()
    fake.route("GET", "/v1/models", openai_models(["gpt-4.1-mini", echoed]))
    fake.route(
        "POST",
        "/v1/chat/completions",
        openai_error(404, "The model `gpt-9` does not exist", "invalid_request_error", "model_not_found"),
    )
    env = cli_env(server_env, tmp_path, settings_for(fake))
    assert byok(env, "keys", "set", "openai", stdin=TEST_KEY_OPENAI + "\n").returncode == 0
    for flags in (["--json"], []):
        verified = byok(env, *flags, "verify", "openai")
        failed = byok(env, *flags, "chat", "hi", "--model", "gpt-9")
        assert verified.returncode == 0 and failed.returncode == 1, verified.stderr + failed.stderr
        for shown in (verified.stdout + verified.stderr, failed.stdout + failed.stderr):
            assert TEST_KEY_OPENAI not in shown and echoed not in shown, shown
    error = json.loads(byok(env, "--json", "chat", "hi", "--model", "gpt-9").stdout)["error"]
    assert error["code"] == "model_not_found" and "gpt-4.1-mini" in error["models"]
    assert any("sk-proj-…1b2c" in model for model in error["models"])
