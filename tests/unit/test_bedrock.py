"""The Bedrock adapter against a loopback Bedrock that really checks SigV4 and speaks event-stream frames."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tests.fakes.prompt_cache import CacheUsage, PromptCache
from tests.fakes_bedrock import (
    ACCESS_KEY,
    API_KEY,
    MODEL,
    ON_DEMAND_ONLY_VIA_PROFILE,
    REGION,
    SECRET_KEY,
    SESSION_TOKEN,
    Cut,
    ErrorReply,
    FakeBedrock,
    Pause,
    StreamReply,
    corrupt,
    event,
    exception,
    metadata,
    text_events,
)

from byok.base.config import ProviderSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
    complete,
)
from byok.providers.bedrock import BedrockProvider
from byok.providers.cache_points import converse_cache_fields

IAM_KEY = json.dumps({"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY})
TEMP_KEY = json.dumps(
    {"accessKeyId": ACCESS_KEY, "secretAccessKey": SECRET_KEY, "sessionToken": SESSION_TOKEN}
)
SECRETS = (SECRET_KEY, SESSION_TOKEN, API_KEY)
TLS = ssl.create_default_context()
"""One TLS context for every client: loading the CA bundle per test would dominate the run time."""
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


@pytest.fixture(autouse=True)
def isolated_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS configuration, credentials or instance metadata leak into a test."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), verify=TLS) as http:
        yield http


def provider(
    fake: FakeBedrock, client: httpx.AsyncClient, key: str | None = IAM_KEY, **settings: Any
) -> BedrockProvider:
    config = ProviderSettings(endpoint_url=fake.url, region=fake.region, **settings)
    return BedrockProvider("bedrock", config, key, client)


def chat(text: str = "Say hi", model: str = MODEL, **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model=model, messages=[Message("system", "Be terse."), Message("user", text)], **kwargs
    )


async def collect(adapter: BedrockProvider, request: ChatRequest) -> list[StreamEvent]:
    return [e async for e in adapter.stream(request)]


async def failure(
    adapter: BedrockProvider, request: ChatRequest | None = None
) -> tuple[ByokError, list[StreamEvent]]:
    """The error a stream ends with, and the events before it."""
    seen: list[StreamEvent] = []
    with pytest.raises(ByokError) as caught:
        async for item in adapter.stream(request or chat()):
            seen.append(item)
    assert_no_secrets(caught.value)
    return caught.value, seen


def assert_no_secrets(error: ByokError) -> None:
    shown = f"{error}\n{error!r}\n{json.dumps(error.to_data())}"
    for secret in SECRETS:
        assert secret not in shown


# -- streaming ------------------------------------------------------------------------------------


async def test_text_stream_with_usage_reassembles_split_frames(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    fake.replies = [StreamReply(text_events("Hel", "lo", input_tokens=12, output_tokens=3), split=5)]
    events = await collect(provider(fake, client), chat(temperature=1.7, max_tokens=64, cache=False))
    assert events == [TextDelta("Hel"), TextDelta("lo"), Usage(12, 3), Finish("stop")]
    [sent] = fake.requests
    assert sent.auth == "sigv4"
    assert sent.headers["accept"] == "application/vnd.amazon.eventstream"
    assert "x-amz-security-token" not in sent.headers
    assert sent.json() == {
        "messages": [{"role": "user", "content": [{"text": "Say hi"}]}],
        "system": [{"text": "Be terse."}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 1.0},
    }


async def test_metadata_comes_last_and_cached_tokens_count_as_input(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    fake.replies = [
        StreamReply(
            [
                event("messageStart", {"role": "assistant"}),
                event(
                    "contentBlockDelta",
                    {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hmm"}}},
                ),
                event(
                    "contentBlockDelta",
                    {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "s"}}},
                ),
                event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Answer"}}),
                event("messageStop", {"stopReason": "max_tokens"}),
                metadata(5, 9, cacheReadInputTokens=100, cacheWriteInputTokens=20),
            ]
        )
    ]
    result = await complete(provider(fake, client), chat())
    assert (result.reasoning, result.text, result.finish_reason) == ("hmm", "Answer", "length")
    assert result.usage == Usage(
        input_tokens=125, output_tokens=9, cache_read_tokens=100, cache_write_tokens=20
    )


async def test_tool_use_input_split_across_deltas(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    fake.replies = [
        StreamReply(
            [
                event("messageStart", {"role": "assistant"}, pad=7),
                event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking."}}),
                event("contentBlockStop", {"contentBlockIndex": 0}),
                event(
                    "contentBlockStart",
                    {
                        "contentBlockIndex": 1,
                        "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}},
                    },
                ),
                event(
                    "contentBlockDelta",
                    {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city": "Pa'}}},
                ),
                event(
                    "contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": 'ris"}'}}}
                ),
                event("contentBlockStop", {"contentBlockIndex": 1}),
                event("messageStop", {"stopReason": "tool_use"}),
                metadata(100, 7),
            ],
            split=3,
        )
    ]
    tool = ToolSpec(
        "get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}}
    )
    events = await collect(provider(fake, client), chat(tools=[tool], cache=False))
    call = ToolCall("tooluse_1", "get_weather", {"city": "Paris"}, '{"city": "Paris"}')
    assert events == [TextDelta("Checking."), ToolCallEvent(call), Usage(100, 7), Finish("tool_calls")]
    assert fake.requests[0].json()["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {"json": tool.parameters},
                }
            }
        ]
    }


def tool_use_events(count: int, arguments: str, piece: int = 256 * 1024) -> list[bytes]:
    """`count` toolUse blocks, each with `arguments` as its input in deltas of `piece` characters."""
    events: list[bytes] = []
    for index in range(count):
        start = {"toolUse": {"toolUseId": f"t{index}", "name": "read"}}
        events.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        for at in range(0, len(arguments), piece):
            delta = {"toolUse": {"input": arguments[at : at + piece]}}
            events.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        events.append(event("contentBlockStop", {"contentBlockIndex": index}))
    return [*events, event("messageStop", {"stopReason": "tool_use"}), metadata(10, 5)]


@pytest.mark.parametrize(
    "count, arguments, cap",
    [
        (129, "{}", "more than 128 tool calls in one turn"),
        (1, json.dumps({"a": "x" * (1024 * 1024)}), "a tool call with more than 1 MiB of arguments"),
        (5, json.dumps({"a": "x" * (900 * 1024)}), "more than 4 MiB of tool-call arguments in one turn"),
    ],
    ids=["calls", "call-arguments", "turn-arguments"],
)
async def test_tool_calls_past_a_cap_stop_the_stream(
    fake: FakeBedrock, client: httpx.AsyncClient, count: int, arguments: str, cap: str
) -> None:
    fake.replies = [StreamReply(tool_use_events(count, arguments))]
    with pytest.raises(ByokError) as caught:
        await collect(provider(fake, client), chat())
    assert caught.value.code == ErrorCode.PROVIDER_ERROR and cap in caught.value.cause


async def test_128_tool_calls_are_allowed(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    fake.replies = [StreamReply(tool_use_events(128, "{}"))]
    events = await collect(provider(fake, client), chat())
    assert sum(isinstance(e, ToolCallEvent) for e in events) == 128 and events[-1] == Finish("tool_calls")


async def test_tool_history_becomes_tool_use_and_result_blocks(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    calls = [ToolCall("t1", "read", {"path": "a"}), ToolCall("t2", "read", {"path": "b"})]
    request = ChatRequest(
        model=MODEL,
        messages=[
            Message("user", "Read a and b"),
            Message("assistant", "", tool_calls=calls),
            Message("tool", "A", tool_call_id="t1", name="read"),
            Message("tool", "no such file", tool_call_id="t2", name="read", is_error=True),
        ],
        cache=False,
    )
    await collect(provider(fake, client), request)
    body = fake.requests[0].json()
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Read a and b"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "t1", "name": "read", "input": {"path": "a"}}},
                {"toolUse": {"toolUseId": "t2", "name": "read", "input": {"path": "b"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "t1", "content": [{"text": "A"}], "status": "success"}},
                {"toolResult": {"toolUseId": "t2", "content": [{"text": "no such file"}], "status": "error"}},
            ],
        },
    ]
    assert [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]] == ["read"]


# -- credentials ------------------------------------------------------------------------------------


async def test_bearer_api_key_is_sent_without_sigv4(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    events = await collect(provider(fake, client, key=API_KEY), chat())
    assert events[-1] == Finish("stop")
    [sent] = fake.requests
    assert sent.auth == "bearer"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-amz-date" not in sent.headers


async def test_session_token_is_sent_and_signed(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    fake.session_token = SESSION_TOKEN
    await collect(provider(fake, client, key=TEMP_KEY), chat())
    [sent] = fake.requests
    assert sent.headers["x-amz-security-token"] == SESSION_TOKEN
    assert "x-amz-security-token" in sent.signed_headers


async def test_aws_cli_credentials_output_is_accepted(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    fake.session_token = SESSION_TOKEN
    cli_output = {
        "Credentials": {
            "AccessKeyId": ACCESS_KEY,
            "SecretAccessKey": SECRET_KEY,
            "SessionToken": SESSION_TOKEN,
        }
    }
    assert (await collect(provider(fake, client, key=json.dumps(cli_output)), chat()))[-1] == Finish("stop")


async def test_credential_chain_from_env_vars(
    fake: FakeBedrock, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", API_KEY)  # IAM credentials win over the bearer env var
    assert await provider(fake, client, key=None).verify()
    assert fake.requests[0].auth == "sigv4"


async def test_credential_chain_from_shared_files_and_profile(
    fake: FakeBedrock, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake.session_token = SESSION_TOKEN
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = AKIAFAKEWRONGDEFAULT\naws_secret_access_key = nope\n\n"
        f"[byok-test]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        f"aws_session_token = {SESSION_TOKEN}\n"
    )
    config = tmp_path / "config"
    config.write_text("[profile byok-test]\nregion = eu-west-3\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    events = await collect(provider(fake, client, key=None, profile="byok-test"), chat())
    assert events[-1] == Finish("stop")
    assert fake.requests[0].headers["x-amz-security-token"] == SESSION_TOKEN


async def test_credential_chain_falls_back_to_bearer_env(
    fake: FakeBedrock, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", API_KEY)
    await collect(provider(fake, client, key=None), chat())
    assert fake.requests[0].auth == "bearer"


async def test_no_credentials_anywhere(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    error, _ = await failure(provider(fake, client, key=None))
    assert error.code == ErrorCode.KEY_MISSING
    assert "byok keys set bedrock" in error.fix and "aws configure" in error.fix
    assert fake.requests == []


async def test_unknown_profile(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    error, _ = await failure(provider(fake, client, key=None, profile="nope"))
    assert error.code == ErrorCode.KEY_MISSING
    assert "nope" in error.message


def test_incomplete_json_credentials_are_refused_up_front(fake: FakeBedrock) -> None:
    key = json.dumps({"accessKeyId": ACCESS_KEY, "secret": SECRET_KEY})
    with pytest.raises(ByokError) as caught:
        provider(fake, httpx.AsyncClient(verify=TLS), key=key)
    assert caught.value.code == ErrorCode.INVALID_KEY
    assert "secretAccessKey" in caught.value.cause
    assert_no_secrets(caught.value)


# -- URLs and signing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "raw_segment"),
    [
        (MODEL, "us.anthropic.claude-sonnet-4-20250514-v1%3A0"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.meta.llama3-1-70b-instruct-v1:0",
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.meta.llama3-1-70b-instruct-v1%3A0",
        ),
    ],
)
async def test_model_id_is_encoded_once_and_signature_holds(
    fake: FakeBedrock, client: httpx.AsyncClient, model: str, raw_segment: str
) -> None:
    events = await collect(provider(fake, client), chat(model=model))
    assert events[-1] == Finish("stop")  # the fake verified the signature against the raw path it got
    assert fake.requests[0].raw_path == f"/model/{raw_segment}/converse-stream"


@pytest.mark.parametrize(
    ("sent_path", "sent_body"),
    [(f"/model/{MODEL}/converse-stream", b"{}"), (f"/model/{quote(MODEL, safe='')}/converse-stream", b"{ }")],
    ids=["path-encoded-differently", "body-changed"],
)
async def test_the_fake_rejects_requests_that_differ_from_what_was_signed(
    fake: FakeBedrock, client: httpx.AsyncClient, sent_path: str, sent_body: bytes
) -> None:
    signed_url = f"{fake.url}/model/{quote(MODEL, safe='')}/converse-stream"
    headers = await provider(fake, client).signed_headers("POST", signed_url, b"{}", {"Accept": "*/*"})
    answer = await client.post(f"{fake.url}{sent_path}", headers=headers, content=sent_body)
    assert answer.status_code == 403
    assert answer.headers["x-amzn-errortype"].startswith("InvalidSignatureException")


async def test_chain_secrets_are_registered_for_redaction_before_botocore_logs_them(
    fake: FakeBedrock,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = f"FwoGZXIvYXdz{uuid.uuid4().hex}{uuid.uuid4().hex}"  # new to the process-wide redactor
    fake.session_token = token
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    assert REDACTOR.redact(token) == token
    with caplog.at_level(logging.DEBUG, logger="botocore.auth"):
        await collect(provider(fake, client, key=None), chat())
    assert token in caplog.text  # botocore logs the canonical request, token included
    assert token not in REDACTOR.redact(caplog.text)


def test_endpoints_region_and_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    http = httpx.AsyncClient(verify=TLS)
    default = BedrockProvider("bedrock", ProviderSettings(), IAM_KEY, http)
    assert (default.region, default.key_endpoint) == (
        "us-east-1",
        "https://bedrock-runtime.us-east-1.amazonaws.com",
    )
    assert default.control_url == "https://bedrock.us-east-1.amazonaws.com"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert BedrockProvider("bedrock", ProviderSettings(), None, http).region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    from_env = BedrockProvider("bedrock", ProviderSettings(), None, http)
    assert from_env.key_endpoint == "https://bedrock-runtime.us-west-2.amazonaws.com"
    assert "us-west-2" in from_env.unreachable_fix()
    assert (
        BedrockProvider("bedrock", ProviderSettings(region="ap-south-1"), None, http).region == "ap-south-1"
    )
    assert SECRET_KEY not in repr(default) and SECRET_KEY not in repr(default.__dict__)


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        (ProviderSettings(endpoint_url="http://bedrock.example.com"), ErrorCode.INSECURE_ENDPOINT),
        (ProviderSettings(region="evil.example.com/"), ErrorCode.BAD_REQUEST),
    ],
)
def test_unsafe_settings_are_refused(settings: ProviderSettings, code: ErrorCode) -> None:
    with pytest.raises(ByokError) as caught:
        BedrockProvider("bedrock", settings, IAM_KEY, httpx.AsyncClient(verify=TLS))
    assert caught.value.code == code


def test_importing_the_module_does_not_load_botocore() -> None:
    probe = "import sys, byok.providers.bedrock; print('botocore' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# -- faults -----------------------------------------------------------------------------------------

HELLO = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}})
START = event("messageStart", {"role": "assistant"})


@pytest.mark.parametrize(
    ("items", "code"),
    [
        (
            [START, HELLO, exception("throttlingException", "Too many tokens, please wait.")],
            ErrorCode.RATE_LIMITED,
        ),
        ([START, HELLO, exception("validationException", "Bad input")], ErrorCode.BAD_REQUEST),
        (
            [START, HELLO, exception("accessDeniedException", "You don't have access")],
            ErrorCode.NO_MODEL_ACCESS,
        ),
        ([START, HELLO, exception("modelStreamErrorException", "Model failed")], ErrorCode.PROVIDER_ERROR),
        ([START, HELLO, exception("internalServerException", "Oops")], ErrorCode.PROVIDER_ERROR),
        ([START, HELLO, exception("serviceUnavailableException", "Busy")], ErrorCode.PROVIDER_OVERLOADED),
    ],
)
async def test_exception_frames_mid_stream(
    fake: FakeBedrock, client: httpx.AsyncClient, items: list[bytes], code: ErrorCode
) -> None:
    fake.replies = [StreamReply(list(items))]
    error, seen = await failure(provider(fake, client))
    assert (error.code, error.extra.get("midStream")) == (code, True)
    assert seen == [TextDelta("Hel")]


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([START, HELLO, HELLO[:20], Cut()], "broke off"),
        ([START, HELLO, HELLO[:20]], "mid-frame"),
        ([START, HELLO, corrupt(HELLO)], "corrupt"),
        ([START, HELLO, Cut()], "broke off"),
        ([START, HELLO], "before messageStop"),
    ],
    ids=["truncated-then-cut", "truncated-body", "bad-crc", "connection-cut", "no-message-stop"],
)
async def test_broken_streams_are_interrupted(
    fake: FakeBedrock, client: httpx.AsyncClient, items: list[Any], reason: str
) -> None:
    fake.replies = [StreamReply(items)]
    error, seen = await failure(provider(fake, client))
    assert error.code == ErrorCode.STREAM_INTERRUPTED
    assert reason in error.message
    assert seen == [TextDelta("Hel")]


async def test_message_stop_without_metadata_still_finishes(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    fake.replies = [StreamReply([START, HELLO, event("messageStop", {"stopReason": "guardrail_intervened"})])]
    assert await collect(provider(fake, client), chat()) == [TextDelta("Hel"), Finish("content_filter")]


@pytest.mark.parametrize(
    ("reply", "code", "fix_part"),
    [
        (
            ErrorReply(
                403,
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            ),
            ErrorCode.NO_MODEL_ACCESS,
            "Bedrock console for region us-east-1",
        ),
        (
            ErrorReply(
                403,
                "AccessDeniedException",
                "User: arn:aws:iam::1:user/x is not authorized to perform: bedrock:InvokeModelWithResponseStream",
            ),
            ErrorCode.NO_MODEL_ACCESS,
            "IAM",
        ),
        (
            ErrorReply(429, "ThrottlingException", "Too many requests, please wait before trying again."),
            ErrorCode.RATE_LIMITED,
            None,
        ),
        (
            ErrorReply(
                503, "ServiceUnavailableException", "Bedrock is unable to process your request.", "Message"
            ),
            ErrorCode.PROVIDER_OVERLOADED,
            None,
        ),
        (
            ErrorReply(404, "ResourceNotFoundException", "Model not found"),
            ErrorCode.MODEL_NOT_FOUND,
            "us-east-1",
        ),
        (
            ErrorReply(400, "ValidationException", "Input is too long for requested model."),
            ErrorCode.CONTEXT_TOO_LARGE,
            None,
        ),
        (
            ErrorReply(400, "ServiceQuotaExceededException", "Too many tokens per day"),
            ErrorCode.QUOTA_EXHAUSTED,
            "Service Quotas",
        ),
        (ErrorReply(424, "ModelErrorException", "The model failed"), ErrorCode.PROVIDER_ERROR, None),
    ],
)
async def test_http_errors(
    fake: FakeBedrock, client: httpx.AsyncClient, reply: ErrorReply, code: ErrorCode, fix_part: str | None
) -> None:
    fake.replies = [reply]
    error, _ = await failure(provider(fake, client))
    assert (error.code, error.status, error.message) == (code, reply.status, reply.message)
    assert fix_part is None or fix_part in error.fix


async def test_bare_model_id_that_needs_an_inference_profile(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    error, _ = await failure(provider(fake, client), chat(model=ON_DEMAND_ONLY_VIA_PROFILE))
    assert error.code == ErrorCode.MODEL_NOT_FOUND
    assert error.fix == f"Use the inference profile id, e.g. us.{ON_DEMAND_ONLY_VIA_PROFILE}"


async def test_unknown_model_id(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    error, _ = await failure(provider(fake, client), chat(model="anthropic.claude-nope"))
    assert error.code == ErrorCode.MODEL_NOT_FOUND


@pytest.mark.parametrize(
    ("key", "setup", "code", "text"),
    [
        (
            json.dumps({"accessKeyId": ACCESS_KEY, "secretAccessKey": "wrong" + SECRET_KEY}),
            {},
            ErrorCode.INVALID_KEY,
            "secret access key",
        ),
        (
            json.dumps({"accessKeyId": "AKIAFAKEUNKNOWN00000", "secretAccessKey": SECRET_KEY}),
            {},
            ErrorCode.INVALID_KEY,
            "access key id",
        ),
        (
            TEMP_KEY,
            {"session_token": SESSION_TOKEN, "token_expired": True},
            ErrorCode.INVALID_KEY,
            "aws sso login",
        ),
        (IAM_KEY, {"region": "eu-west-1"}, ErrorCode.INVALID_KEY, "region"),
        ("ABSK-wrong-key-0123456789", {}, ErrorCode.INVALID_KEY, "Bedrock API key"),
    ],
    ids=["wrong-secret", "unknown-access-key", "expired-token", "wrong-region", "bad-api-key"],
)
async def test_bad_credentials(
    fake: FakeBedrock, client: httpx.AsyncClient, key: str, setup: dict[str, Any], code: ErrorCode, text: str
) -> None:
    adapter = provider(fake, client, key=key)
    for name, value in setup.items():
        setattr(fake, name, value)
    error, _ = await failure(adapter)
    assert error.code == code
    assert text in error.fix
    if setup.get("token_expired"):
        assert error.cause == "the session token has expired"


async def test_unreachable_endpoint(client: httpx.AsyncClient) -> None:
    with FakeBedrock() as gone:
        url = gone.url
    adapter = BedrockProvider("bedrock", ProviderSettings(endpoint_url=url), IAM_KEY, client)
    with pytest.raises(ByokError) as caught:
        await adapter.verify()
    assert caught.value.code == ErrorCode.ENDPOINT_UNREACHABLE
    assert "endpointUrl" in (caught.value.fix or "")


async def test_cancelling_the_stream_closes_the_connection(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    fake.replies = [StreamReply([START, HELLO, Pause(10), *text_events("never")])]
    stream = provider(fake, client).stream(chat())
    assert await anext(stream) == TextDelta("Hel")
    await stream.aclose()  # type: ignore[attr-defined]
    assert await asyncio.to_thread(fake.disconnected.wait, 5.0)


# -- verify -----------------------------------------------------------------------------------------


async def test_verify_lists_text_models_and_inference_profiles(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    assert [m.id for m in await provider(fake, client).verify()] == [
        "anthropic.claude-3-haiku-20240307-v1:0",
        "anthropic.claude-sonnet-4-20250514-v1:0",
        "eu.anthropic.claude-3-haiku-20240307-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        MODEL,
    ]
    assert [r.raw_path for r in fake.requests] == [
        "/foundation-models",
        "/inference-profiles?maxResults=1000",
    ]
    assert all(r.method == "GET" and r.auth == "sigv4" for r in fake.requests)


async def test_verify_of_a_model_list_of_the_wrong_shape_is_a_provider_error(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    fake.models = [{"modelId": "m", "outputModalities": 5}]
    with pytest.raises(ByokError) as caught:
        await provider(fake, client).verify()
    assert caught.value.code == ErrorCode.PROVIDER_ERROR


async def test_verify_survives_a_forbidden_profile_list(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    fake.profiles = None
    models = [m.id for m in await provider(fake, client, key=API_KEY).verify()]
    assert MODEL not in models and "meta.llama3-1-70b-instruct-v1:0" in models


async def test_verify_with_bad_credentials(fake: FakeBedrock, client: httpx.AsyncClient) -> None:
    adapter = provider(fake, client, key=json.dumps({"accessKeyId": ACCESS_KEY, "secretAccessKey": "x" * 40}))
    with pytest.raises(ByokError) as caught:
        await adapter.verify()
    assert caught.value.code == ErrorCode.INVALID_KEY
    assert_no_secrets(caught.value)


# -- prompt caching -------------------------------------------------------------------------------------


def cached_text(usage: CacheUsage) -> StreamReply:
    """A short answer whose metadata carries what the fake's prompt cache read and wrote."""
    events = text_events("ok", input_tokens=usage.uncached, output_tokens=3)
    events[-1] = metadata(
        usage.uncached, 3, cacheReadInputTokens=usage.read, cacheWriteInputTokens=usage.written
    )
    return StreamReply(events)


def history(steps: int) -> list[Message]:
    messages = [Message("system", "You are a coding agent. " * 40), Message("user", "Task: tidy src/")]
    for step in range(steps):
        call = ToolCall(f"t{step}", "read", {"path": f"f{step}"})
        messages += [
            Message("assistant", "", tool_calls=[call]),
            Message("tool", f"contents {step} " * 40, tool_call_id=call.id, name="read"),
        ]
    return messages


READ_TOOL = ToolSpec(
    "read", "Read a file " * 20, {"type": "object", "properties": {"path": {"type": "string"}}}
)


async def test_claude_gets_cache_points_and_reads_back_each_previous_turn(
    fake: FakeBedrock, client: httpx.AsyncClient
) -> None:
    fake.prompt_cache = PromptCache(min_tokens=0)
    fake.replies = [cached_text]
    adapter = provider(fake, client)
    usages = []
    for steps in range(3):
        result = await complete(adapter, ChatRequest(MODEL, history(steps), tools=[READ_TOOL]))
        usages.append(result.usage)
    body = fake.requests[-1].json()
    point = {"cachePoint": {"type": "default"}}
    assert body["system"][-1] == point and body["toolConfig"]["tools"][-1] == point
    user_turns = [turn for turn in body["messages"] if turn["role"] == "user"]
    assert [turn["content"][-1] == point for turn in user_turns] == [False, True, True]
    assert json.dumps(body).count('"cachePoint"') == 4
    first, second, third = usages
    assert first is not None and second is not None and third is not None
    assert first.cache_read_tokens == 0 and first.cache_write_tokens == first.input_tokens
    # Bedrock's inputTokens leaves out cache reads and writes; byok's counts them all
    assert second.cache_read_tokens == first.input_tokens
    assert third.cache_read_tokens == second.input_tokens
    assert third.input_tokens == third.cache_read_tokens + third.cache_write_tokens


@pytest.mark.parametrize(
    "model", ["anthropic.claude-3-haiku-20240307-v1:0", "meta.llama3-1-70b-instruct-v1:0"]
)
async def test_models_without_prompt_caching_get_no_cache_point(
    fake: FakeBedrock, client: httpx.AsyncClient, model: str
) -> None:
    result = await complete(provider(fake, client), ChatRequest(model, history(1), tools=[READ_TOOL]))
    assert result.text == "Hello world"  # the fake refuses a cachePoint for these, as Bedrock does
    assert '"cachePoint"' not in fake.requests[-1].body.decode()


def test_cache_points_by_model_family_and_setting() -> None:
    adapter = BedrockProvider("bedrock", ProviderSettings(region=REGION), IAM_KEY, httpx.AsyncClient())
    point = {"cachePoint": {"type": "default"}}
    nova = adapter.request_body(ChatRequest("us.amazon.nova-pro-v1:0", history(1), tools=[READ_TOOL]))
    assert nova["system"][-1] == point and nova["messages"][-1]["content"][-1] == point
    assert point not in nova["toolConfig"]["tools"]  # Nova caches the system prompt and messages only
    off = adapter.request_body(ChatRequest(MODEL, history(1), tools=[READ_TOOL], cache=False))
    assert '"cachePoint"' not in json.dumps(off)
    # a one-shot request caches its system prompt and tools, not its turn (the write would never be read)
    one_shot = adapter.request_body(
        ChatRequest(MODEL, history(1), tools=[READ_TOOL], cache_conversation=False)
    )
    assert one_shot["system"][-1] == point and one_shot["toolConfig"]["tools"][-1] == point
    assert not [turn for turn in one_shot["messages"] if point in turn["content"]]
    for model, fields in {
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0": {"system", "tools", "messages"},
        "global.anthropic.claude-opus-4-6-v1": {"system", "tools", "messages"},
        "anthropic.claude-3-7-sonnet-20250219-v1:0": {"system", "tools", "messages"},
        "eu.anthropic.claude-3-5-haiku-20241022-v1:0": {"system", "tools", "messages"},
        "anthropic.claude-3-5-sonnet-20240620-v1:0": set(),
        "amazon.nova-lite-v1:0": {"system", "messages"},
        "mistral.mistral-large-2402-v1:0": set(),
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc": set(),
    }.items():
        assert converse_cache_fields(model) == fields, model
