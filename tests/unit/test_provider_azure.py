"""The Azure OpenAI adapter against the loopback fake: deployment URL, api-key, Azure's error codes."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from tests.conftest import TEST_KEY_AZURE as KEY
from tests.fakes import (
    FakeServer,
    Reply,
    azure_bad_key,
    azure_deployment_not_found,
    azure_error,
    azure_stream,
    refused_url,
)
from tests.unit.adapter_checks import expect_failure, stream_events

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR
from byok.providers.azure import AzureOpenAIProvider
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
    complete,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
CHAT = "/openai/deployments/dep1/chat/completions"
HI = ChatRequest(model="gpt-4o", messages=[Message("user", "hi")])


@pytest.fixture(autouse=True)
def _key_registered() -> None:
    REDACTOR.register(KEY)


@pytest.fixture
def adapter(fake: FakeServer, client: httpx.AsyncClient) -> AzureOpenAIProvider:
    return AzureOpenAIProvider("azure", fake.url, "dep1", "2024-10-21", KEY, client)


async def events(adapter: AzureOpenAIProvider, request: ChatRequest = HI) -> list[StreamEvent]:
    return await stream_events(adapter, request)


async def failure(adapter: AzureOpenAIProvider, request: ChatRequest = HI) -> ByokError:
    return await expect_failure(adapter, request, (KEY,))


async def test_stream_request_shape_and_filter_chunk(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_stream(["Hel", "lo"], usage=(9, 2)))
    request = ChatRequest(
        model="gpt-4o", messages=[Message("system", "Be terse."), Message("user", "hi")], max_tokens=20
    )
    assert await events(adapter, request) == [TextDelta("Hel"), TextDelta("lo"), Finish("stop"), Usage(9, 2)]
    sent = fake.requests[-1]
    assert sent.path == CHAT
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == KEY
    assert "authorization" not in sent.headers
    assert sent.json() == {
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 20,
    }


async def test_old_api_version_gets_no_stream_options(fake: FakeServer, client: httpx.AsyncClient) -> None:
    fake.route("POST", CHAT, azure_stream(["a"], usage=None))
    adapter = AzureOpenAIProvider("azure", fake.url, "dep1", "2024-06-01", KEY, client)
    assert await events(adapter) == [TextDelta("a"), Finish("stop")]
    assert "stream_options" not in fake.requests[-1].json()
    assert fake.requests[-1].query == {"api-version": "2024-06-01"}


async def test_default_api_version(fake: FakeServer, client: httpx.AsyncClient) -> None:
    fake.route("POST", CHAT, azure_stream(["a"]))
    await complete(AzureOpenAIProvider("azure", f"{fake.url}/", "dep1", None, KEY, client), HI)
    assert fake.requests[-1].query == {"api-version": "2024-10-21"}
    assert fake.requests[-1].path == CHAT


async def test_tool_calls(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_stream([], tool_calls=[("call_1", "grep", {"pattern": "TODO"})]))
    assert await events(adapter) == [
        ToolCallEvent(ToolCall("call_1", "grep", {"pattern": "TODO"}, '{"pattern": "TODO"}')),
        Finish("tool_calls"),
        Usage(10, 5),
    ]


async def test_content_filter_finish(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_stream(["partial"], finish="content_filter"))
    assert (await complete(adapter, HI)).finish_reason == "content_filter"


# -- errors -----------------------------------------------------------------------------------------------

HTTP_FAULTS = [
    (azure_bad_key(), ErrorCode.INVALID_KEY),
    (azure_deployment_not_found(), ErrorCode.MODEL_NOT_FOUND),
    (azure_error(404, "404", "Resource not found"), ErrorCode.BAD_API_VERSION),
    (azure_error(400, "BadRequest", "API version not supported"), ErrorCode.BAD_API_VERSION),
    (
        azure_error(403, "403", "Public access is disabled. Please configure private endpoint."),
        ErrorCode.NO_MODEL_ACCESS,
    ),
    (
        azure_error(
            400,
            "content_filter",
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            inner_error={"code": "ResponsibleAIPolicyViolation"},
        ),
        ErrorCode.BAD_REQUEST,
    ),
    (azure_error(500, "InternalServerError", "The server had an error"), ErrorCode.PROVIDER_ERROR),
    (
        azure_error(503, "ServiceUnavailable", "The service is temporarily unable to process"),
        ErrorCode.PROVIDER_OVERLOADED,
    ),
]


@pytest.mark.parametrize(("reply", "code"), HTTP_FAULTS)
async def test_http_errors(
    fake: FakeServer, adapter: AzureOpenAIProvider, reply: Reply, code: ErrorCode
) -> None:
    fake.route("POST", CHAT, reply)
    exc = await failure(adapter)
    assert (exc.code, exc.status, exc.provider) == (code, reply.status, "azure")


async def test_deployment_not_found_names_the_deployment(
    fake: FakeServer, adapter: AzureOpenAIProvider
) -> None:
    fake.route("POST", CHAT, azure_deployment_not_found())
    exc = await failure(adapter)
    assert "'dep1'" in exc.cause
    assert "deployment name" in exc.fix


async def test_resource_not_found_blames_the_api_version(
    fake: FakeServer, adapter: AzureOpenAIProvider
) -> None:
    fake.route("POST", CHAT, azure_error(404, "404", "Resource not found"))
    exc = await failure(adapter)
    assert "'2024-10-21'" in exc.cause
    assert "version" in exc.fix


async def test_bad_key_fix_points_at_keys_and_endpoint(
    fake: FakeServer, adapter: AzureOpenAIProvider
) -> None:
    fake.route("POST", CHAT, azure_bad_key())
    assert "Keys and Endpoint" in (await failure(adapter)).fix


@pytest.mark.parametrize(("seconds", "millis", "expected"), [(2, 1500, 1.5), (86400, None, 86400.0)])
async def test_rate_limit_retry_after(
    fake: FakeServer, adapter: AzureOpenAIProvider, seconds: int, millis: int | None, expected: float
) -> None:
    fake.route(
        "POST",
        CHAT,
        azure_error(
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
            f"exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {seconds} seconds.",
            retry_after=seconds,
            retry_after_ms=millis,
        ),
    )
    exc = await failure(adapter)
    assert exc.code == ErrorCode.RATE_LIMITED
    assert exc.to_data()["retryAfterS"] == expected


async def test_unreachable_fix_mentions_endpoint_and_version(client: httpx.AsyncClient) -> None:
    adapter = AzureOpenAIProvider("azure", refused_url(), "dep1", "2024-10-21", KEY, client)
    exc = await failure(adapter)
    assert exc.code == ErrorCode.ENDPOINT_UNREACHABLE
    assert "endpoint" in exc.fix.lower()
    assert "version" in exc.fix.lower()


async def test_stall_before_first_byte(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_stream(["a"]).delayed(2.0))
    assert (await failure(adapter)).code == ErrorCode.TIMEOUT


async def test_stall_mid_stream(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_stream(["a", "b"]).with_stall(3, 2.0))
    assert (await failure(adapter)).code == ErrorCode.TIMEOUT


async def test_drop_mid_stream(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_stream(["a", "b"]).with_drop(3, reset=True))
    assert (await failure(adapter)).code == ErrorCode.STREAM_INTERRUPTED


async def test_stream_without_done(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    reply = azure_stream(["a", "b"])
    assert reply.chunks is not None
    fake.route("POST", CHAT, replace(reply, chunks=reply.chunks[:4]))
    assert (await failure(adapter)).code == ErrorCode.STREAM_INTERRUPTED


async def test_error_event_mid_stream(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_stream(["a", "b"], error_after=1))
    exc = await failure(adapter)
    assert (exc.code, exc.to_data()["midStream"]) == (ErrorCode.PROVIDER_ERROR, True)


async def test_echoed_key_is_redacted(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_error(401, "401", f"Access denied for subscription key {KEY}."))
    assert (await failure(adapter)).code == ErrorCode.INVALID_KEY


# -- verify and cancellation -----------------------------------------------------------------------------


async def test_verify_sends_a_one_token_probe(fake: FakeServer, adapter: AzureOpenAIProvider) -> None:
    fake.route("POST", CHAT, azure_stream(["p"], finish="length", usage=(8, 1)))
    assert [m.id for m in await adapter.verify()] == ["dep1"]
    sent = fake.requests[-1]
    assert sent.json()["max_tokens"] == 1
    assert (sent.headers["api-key"], sent.query["api-version"]) == (KEY, "2024-10-21")


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (azure_deployment_not_found(), ErrorCode.MODEL_NOT_FOUND),
        (azure_error(404, "404", "Resource not found"), ErrorCode.BAD_API_VERSION),
        (azure_bad_key(), ErrorCode.INVALID_KEY),
    ],
)
async def test_verify_failures(
    fake: FakeServer, adapter: AzureOpenAIProvider, reply: Reply, code: ErrorCode
) -> None:
    fake.route("POST", CHAT, reply)
    with pytest.raises(ByokError) as info:
        await adapter.verify()
    assert info.value.code == code


async def test_aclose_mid_stream_closes_the_connection(
    fake: FakeServer, adapter: AzureOpenAIProvider
) -> None:
    fake.route("POST", CHAT, azure_stream(["a", "b"]).with_stall(3, 3.0))
    stream = adapter.stream(HI)
    assert await anext(stream) == TextDelta("a")
    await stream.aclose()
    assert await fake.await_disconnect(2.0)
