"""Bedrock end to end over stdio: JSON credentials, verify, streamed chat, cancellation, no secret leaks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.harness import byok_error, lsp_session
from tests.fakes_bedrock import (
    ACCESS_KEY,
    MODEL,
    SECRET_KEY,
    SESSION_TOKEN,
    ErrorReply,
    FakeBedrock,
    Pause,
    StreamReply,
    event,
    metadata,
)

USER = [{"role": "user", "content": "Say hi"}]
CREDENTIALS = json.dumps(
    {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY, "sessionToken": SESSION_TOKEN}
)


@pytest.fixture
def bedrock() -> Iterator[FakeBedrock]:
    with FakeBedrock(session_token=SESSION_TOKEN) as fake:
        yield fake


def settings(fake: FakeBedrock) -> dict[str, object]:
    return {"providers": {"bedrock": {"region": "us-east-1", "endpointUrl": fake.url}}}


async def test_bedrock_credentials_verify_chat_cancel(
    bedrock: FakeBedrock, server_env: dict[str, str]
) -> None:
    server_env = {k: v for k, v in server_env.items() if not k.startswith("AWS_")}
    async with lsp_session(settings(bedrock), server_env) as s:
        stored = await s.command("byok.setKey", {"provider": "bedrock", "key": CREDENTIALS})
        assert stored["fingerprint"] == f"AKIA…{ACCESS_KEY[-4:]}"
        verified = await s.command("byok.verifyKey", {"provider": "bedrock"})
        assert verified["ok"], verified
        assert "anthropic.claude-3-haiku-20240307-v1:0" in verified["models"] and MODEL in verified["models"]
        assert all(r.auth == "sigv4" for r in bedrock.requests)

        result = await s.command("byok.chat", {"messages": USER, "model": MODEL, "streamId": "b"})
        assert result["text"] == "Hello world" and result["provider"] == "bedrock"
        assert s.text_of("b") == "Hello world"
        assert bedrock.requests[-1].headers["x-amz-security-token"] == SESSION_TOKEN

        def delta(text: str) -> bytes:
            return event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})

        slow = [event("messageStart", {"role": "assistant"}), delta("first")]
        slow += [item for _ in range(40) for item in (Pause(0.2), delta(" more"))]
        bedrock.replies = [
            StreamReply([*slow, event("messageStop", {"stopReason": "end_turn"}), metadata(3, 41)])
        ]
        params = types.ExecuteCommandParams(
            command="byok.chat", arguments=[{"messages": USER, "model": MODEL, "streamId": "c"}]
        )
        task = asyncio.ensure_future(
            s.client.protocol.send_request_async(
                types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="bedrock-chat"
            )
        )
        for _ in range(100):
            if s.text_of("c"):
                break
            await asyncio.sleep(0.05)
        s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="bedrock-chat"))
        with pytest.raises(JsonRpcException) as caught:
            await task
        assert caught.value.code == -32800
        assert await asyncio.to_thread(bedrock.disconnected.wait, 5.0)

        bedrock.replies = [
            ErrorReply(
                403,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            )
        ]
        with pytest.raises(JsonRpcException) as denied:
            await s.command("byok.chat", {"messages": USER, "model": MODEL})
        assert byok_error(denied.value)["code"] == "no_model_access"

        everything = s.everything()
        for secret in (SECRET_KEY, SESSION_TOKEN):
            assert secret not in everything
