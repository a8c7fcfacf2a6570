"""End to end over stdio: byok.chat and byok.agent on OpenAI's Responses API (codex and pro models), on OpenAI
and on Azure's v1 route, against the loopback fake of the Responses event stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from tests.conftest import TEST_KEY_AZURE, TEST_KEY_OPENAI
from tests.e2e.edits import settings_for
from tests.e2e.harness import byok_error, lsp_session
from tests.e2e.test_agent import APP, workspace
from tests.fakes import FakeServer
from tests.fakes.openai_responses import Call, Reasoning, Text, responses_stream

USER = [{"role": "user", "content": "Say hi"}]
RESPONSES = ("POST", "/v1/responses")
AZURE_RESPONSES = ("POST", "/openai/v1/responses")


def azure_settings(fake: FakeServer) -> dict[str, Any]:
    return settings_for(
        fake,
        providers={
            "openai": {"baseUrl": f"{fake.url}/v1"},
            "azure": {"endpoint": fake.url, "deployment": "codex-prod", "apiVersion": "2024-10-21"},
        },
        models=[{"id": "work-codex", "provider": "azure"}],
    )


@pytest.mark.parametrize("provider", ["openai", "azure"])
async def test_chat_on_the_responses_api(fake: FakeServer, server_env: dict[str, str], provider: str) -> None:
    thought = Reasoning("rs_1", ["The user greets me."], "gAAAAAB-FAKE-blob-1")
    reply = responses_stream(
        ["Hel", "lo!"], reasoning=[thought], usage=(40, 12), cached=16, reasoning_tokens=6
    )
    if provider == "openai":
        fake.route(*RESPONSES, reply)
        settings, model, key = settings_for(fake), "gpt-5.3-codex", TEST_KEY_OPENAI
    else:
        fake.route(*AZURE_RESPONSES, reply)
        settings, model, key = azure_settings(fake), "work-codex", TEST_KEY_AZURE
    async with lsp_session(settings, server_env) as s:
        await s.command("byok.setKey", {"provider": provider, "key": key})
        result = await s.command("byok.chat", {"messages": USER, "model": model, "streamId": "r"})
        assert result["text"] == "Hello!" and result["finishReason"] == "stop"
        assert result["provider"] == provider and result["model"] == model
        assert result["usage"]["inputTokens"] == 40 and result["usage"]["outputTokens"] == 12
        assert s.text_of("r") == "Hello!"
        reasoning = [d["delta"]["text"] for d in s.deltas if d["delta"]["type"] == "reasoning"]
        assert "".join(reasoning) == "The user greets me."
        assert key not in s.everything()
    (sent,) = fake.requests
    body = sent.json()
    assert body["store"] is False and body["stream"] is True and "previous_response_id" not in body
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["input"][-1] == {"role": "user", "content": "Say hi"}
    if provider == "azure":
        assert sent.query == {} and sent.headers["api-key"] == TEST_KEY_AZURE
        assert body["model"] == "codex-prod"
    else:
        assert sent.headers["authorization"] == f"Bearer {TEST_KEY_OPENAI}"
        assert body["model"] == "gpt-5.3-codex"


async def test_azure_verify_probes_the_responses_route(fake: FakeServer, server_env: dict[str, str]) -> None:
    fake.route(*AZURE_RESPONSES, responses_stream(["pong"]))
    async with lsp_session(azure_settings(fake), server_env) as s:
        await s.command("byok.setKey", {"provider": "azure", "key": TEST_KEY_AZURE})
        verified = await s.command("byok.verifyKey", {"provider": "azure"})
        assert verified["ok"] is True and verified["models"] == ["codex-prod"], verified
    assert [r.path for r in fake.requests] == ["/openai/v1/responses"]


async def test_a_failed_response_keeps_the_partial_text(fake: FakeServer, server_env: dict[str, str]) -> None:
    failed = {
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached for gpt-5.4-pro on tokens per min.",
    }
    fake.route(*RESPONSES, responses_stream(["Half of ", "an answer"], failed=failed))
    async with lsp_session(settings_for(fake, retry={"maxAttempts": 1}), server_env) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        with pytest.raises(JsonRpcException) as info:
            await s.command("byok.chat", {"messages": USER, "model": "gpt-5.4-pro", "streamId": "f"})
        error = byok_error(info.value)
        assert error["code"] == "rate_limited" and error["partialText"] == "Half of an answer"
        assert s.text_of("f") == "Half of an answer"


async def test_agent_on_the_responses_api(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Tool calls come back as function_call_output items; every reasoning item goes back unchanged, in order."""
    root = workspace(tmp_path)
    first = [
        Reasoning("rs_a", ["I should look at the code."], "gAAAAAB-FAKE-blob-a"),
        Call("call_1", "list_files", {}, parts=1),
        Call("call_2", "read_file", {"path": "src/app.py"}, parts=6),
    ]
    second = [Reasoning("rs_b", [], "gAAAAAB-FAKE-blob-b"), Text(["It greets ", "the world."])]
    fake.route(*RESPONSES, responses_stream(output=first), responses_stream(output=second))
    async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        result = await s.command("byok.agent", {"task": "What does app.py do?", "model": "gpt-5.3-codex"})
        assert result["stopReason"] == "done" and result["summary"] == "It greets the world."
        assert len(result["steps"]) == 2 and result["model"] == "gpt-5.3-codex"
    bodies = [r.json() for r in fake.requests]
    assert all(r.path == "/v1/responses" for r in fake.requests)
    assert [b["store"] for b in bodies] == [False, False]
    assert not any("previous_response_id" in b for b in bodies)
    assert bodies[0]["instructions"] == bodies[1]["instructions"], "the system prompt stays byte-stable"
    assert bodies[0]["tools"] == bodies[1]["tools"]
    assert {t["type"] for t in bodies[0]["tools"]} == {"function"}
    assert "read_file" in [t["name"] for t in bodies[0]["tools"]]
    turn = bodies[1]["input"][len(bodies[0]["input"]) :]
    assert turn[:3] == [
        {
            "id": "rs_a",
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "I should look at the code."}],
            "encrypted_content": "gAAAAAB-FAKE-blob-a",
        },
        {"type": "function_call", "call_id": "call_1", "name": "list_files", "arguments": "{}"},
        {
            "type": "function_call",
            "call_id": "call_2",
            "name": "read_file",
            "arguments": '{"path": "src/app.py"}',
        },
    ]
    outputs = {item["call_id"]: item["output"] for item in turn[3:]}
    assert [item["type"] for item in turn[3:]] == ["function_call_output", "function_call_output"]
    assert outputs["call_1"].splitlines() == [".gitignore", "README.md", "src/app.py"]
    assert outputs["call_2"] == APP
    assert "TOKEN=never-sent" not in json.dumps(bodies)
