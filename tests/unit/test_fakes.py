"""Self-tests of the loopback fake provider servers, driven with plain httpx."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.fakes import (
    OPENROUTER_PROCESSING,
    Drop,
    FakeServer,
    Reply,
    Stall,
    anthropic_bad_key,
    anthropic_error,
    anthropic_models,
    anthropic_stream,
    azure_bad_key,
    azure_error,
    azure_stream,
    gemini_bad_key,
    gemini_error,
    gemini_models,
    gemini_response,
    gemini_stream,
    json_reply,
    openai_bad_key,
    openai_completion,
    openai_error,
    openai_models,
    openai_stream,
    openrouter_error,
    openrouter_stream_error,
    refused_url,
    sse_reply,
    thought_signature,
    together_models,
    vllm_error,
    vllm_unauthorized,
)

HTTP = httpx.Client(timeout=5)
"""One client for the plain request/response tests (creating a client per request costs ~50 ms)."""


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    HTTP.close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def parse_sse(text: str) -> list[tuple[str | None, str]]:
    """Spec-style SSE parse: (event name, joined data) per dispatched event; comments skipped."""
    events: list[tuple[str | None, str]] = []
    name: str | None = None
    data: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line:
            if data:
                events.append((name, "\n".join(data)))
            name, data = None, []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    return events


def post(server: FakeServer, path: str, body: Any = None) -> httpx.Response:
    return HTTP.post(server.url + path, json=body or {})


def stream_datas(server: FakeServer, path: str) -> list[Any]:
    """POST, parse the SSE body, return the JSON of each data event ("[DONE]" kept as a string)."""
    text = post(server, path).text
    return [data if data == "[DONE]" else json.loads(data) for _, data in parse_sse(text)]


# --- server mechanics ---------------------------------------------------------------------------------


def test_routes_pop_in_order_then_last_repeats(server: FakeServer) -> None:
    server.route("POST", "/v1/chat/completions", json_reply(500, {"n": 1}), json_reply(200, {"n": 2}))
    statuses = [post(server, "/v1/chat/completions").status_code for _ in range(4)]
    assert statuses == [500, 200, 200, 200]


def test_regex_routes_latest_wins_and_default(server: FakeServer) -> None:
    server.route("POST", r"/v1beta/models/.+:streamGenerateContent", json_reply(200, {"which": "regex"}))
    assert post(server, "/v1beta/models/gemini-2.5-flash:streamGenerateContent").json() == {"which": "regex"}
    server.route(
        "*", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", json_reply(200, {"which": "x"})
    )
    assert post(server, "/v1beta/models/gemini-2.5-flash:streamGenerateContent").json() == {"which": "x"}
    assert HTTP.get(server.url + "/v1beta/models/gemini-2.5-flash:streamGenerateContent").status_code == 200
    assert post(server, "/elsewhere").status_code == 404
    server.default(json_reply(418, {}))
    assert post(server, "/elsewhere").status_code == 418


def test_records_requests_fully(server: FakeServer) -> None:
    HTTP.post(
        server.url + "/v1/messages?alt=sse&key=",
        json={"model": "m"},
        headers={"X-Api-Key": "sk-fake", "Anthropic-Version": "2023-06-01"},
    )

    def chunked_body() -> Iterator[bytes]:
        yield b'{"part":'
        yield b" 1}"

    HTTP.post(server.url + "/upload", content=chunked_body())
    first, second = server.requests
    assert (first.method, first.path, first.query) == ("POST", "/v1/messages", {"alt": "sse", "key": ""})
    assert first.headers["x-api-key"] == "sk-fake"
    assert first.headers["anthropic-version"] == "2023-06-01"
    assert first.json() == {"model": "m"}
    assert "sk-fake" not in repr(first)
    assert second.json() == {"part": 1}


def test_streaming_is_incremental(server: FakeServer) -> None:
    server.route("GET", "/s", Reply(chunks=[b"first", Stall(1.0), b"last"]))
    started = time.monotonic()
    with httpx.stream("GET", server.url + "/s") as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"first"
        assert time.monotonic() - started < 0.6
        assert b"".join(chunks) == b"last"
    assert time.monotonic() - started >= 1.0


def test_delay_between_and_close_framing(server: FakeServer) -> None:
    server.route("GET", "/s", Reply(chunks=[b"a", b"b", b"c"], delay_between=0.1, framing="close"))
    started = time.monotonic()
    response = HTTP.get(server.url + "/s")
    assert response.content == b"abc"
    assert response.headers["connection"] == "close"
    assert "transfer-encoding" not in response.headers
    assert time.monotonic() - started >= 0.2


def test_drop_mid_stream_is_a_protocol_error(server: FakeServer) -> None:
    server.route("POST", "/v1/chat/completions", openai_stream(["Hel", "lo"]).with_drop(after=2))
    with pytest.raises(httpx.RemoteProtocolError):
        post(server, "/v1/chat/completions")
    assert server.disconnects == 0


def test_drop_with_reset_is_a_transport_error(server: FakeServer) -> None:
    server.route("GET", "/s", Reply(chunks=[b"partial", Drop(reset=True)]))
    with pytest.raises(httpx.TransportError):
        HTTP.get(server.url + "/s")


def test_drop_before_headers(server: FakeServer) -> None:
    server.route("GET", "/s", Reply(chunks=[Drop()], stall_before_headers=True))
    with pytest.raises(httpx.RemoteProtocolError):
        HTTP.get(server.url + "/s")


def test_client_closing_mid_stream_counts_as_disconnect(server: FakeServer) -> None:
    server.route("GET", "/s", Reply(chunks=[b"first", Stall(5.0), b"never"]))
    started = time.monotonic()
    with httpx.Client() as client, client.stream("GET", server.url + "/s") as response:
        assert next(response.iter_raw()) == b"first"
    assert server.wait_disconnect(timeout=2.0)
    assert server.disconnects == 1
    assert time.monotonic() - started < 2.0


def test_stall_before_headers_times_out_and_counts(server: FakeServer) -> None:
    server.route("GET", "/h", Reply(chunks=[Stall(5.0), b"late"], stall_before_headers=True))
    server.route("GET", "/j", json_reply(200, {"ok": True}).delayed(0.2))
    with pytest.raises(httpx.ReadTimeout):
        HTTP.get(server.url + "/h", timeout=httpx.Timeout(5.0, read=0.3))
    assert server.wait_disconnect(timeout=2.0)
    started = time.monotonic()
    assert HTTP.get(server.url + "/j").json() == {"ok": True}
    assert time.monotonic() - started >= 0.2


def test_completed_response_is_not_a_disconnect(server: FakeServer) -> None:
    server.route("POST", "/v1/messages", anthropic_stream(["a", "b"]))
    with httpx.Client() as client:
        client.post(server.url + "/v1/messages")
        assert server.open_connections == 1
    assert not server.wait_disconnect(timeout=0.2)
    deadline = time.monotonic() + 2
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.open_connections == 0


async def test_async_cancel_closes_upstream(server: FakeServer) -> None:
    server.route("POST", "/v1/chat/completions", openai_stream(["a", "b", "c"]).with_stall(3, 5.0))
    streaming = asyncio.Event()

    async def consume() -> None:
        async with (
            httpx.AsyncClient() as client,
            client.stream("POST", server.url + "/v1/chat/completions") as r,
        ):
            async for _ in r.aiter_raw():
                streaming.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(streaming.wait(), 2.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await server.await_disconnect(2.0)
    assert len(server.requests) == 1


def test_refused_url_refuses() -> None:
    with pytest.raises(httpx.ConnectError):
        HTTP.get(refused_url() + "/v1/models", timeout=2)


def test_stop_interrupts_a_stalled_response() -> None:
    fake = FakeServer().start()
    fake.route("GET", "/s", Reply(chunks=[b"x", Stall(30.0)]))
    with httpx.Client() as client, client.stream("GET", fake.url + "/s") as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"x"
        started = time.monotonic()
        fake.stop()
        assert time.monotonic() - started < 2.0
        with pytest.raises(httpx.RemoteProtocolError):
            next(chunks)
    assert fake.disconnects == 0


# --- OpenAI / Azure -------------------------------------------------------------------------------------


def test_openai_text_stream(server: FakeServer) -> None:
    server.route("POST", "/v1/chat/completions", openai_stream(["Hel", "lo"], usage=(19, 10)))
    response = post(server, "/v1/chat/completions")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert all(name is None for name, _ in parse_sse(response.text))
    *chunks, usage_chunk, done = [
        data if data == "[DONE]" else json.loads(data) for _, data in parse_sse(response.text)
    ]
    assert done == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "gpt-4.1-mini" for c in chunks)
    assert all(c["usage"] is None for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Hello"
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["prompt_tokens"] == 19
    assert usage_chunk["usage"]["completion_tokens"] == 10
    assert usage_chunk["usage"]["total_tokens"] == 29


def test_openai_stream_without_usage_or_role(server: FakeServer) -> None:
    server.route("POST", "/c", openai_stream(["x"], usage=None, role_chunk=False, reasoning=["think"]))
    datas = stream_datas(server, "/c")
    assert datas[-1] == "[DONE]"
    assert datas[0]["choices"][0]["delta"] == {"reasoning_content": "think"}
    assert all("usage" not in d and d["choices"] for d in datas[:-1])


def test_openai_parallel_tool_calls(server: FakeServer) -> None:
    calls = [("call_1", "get_weather", '{"city": "Paris"}'), ("call_2", "get_time", {"tz": "CET"})]
    server.route("POST", "/c", openai_stream([], tool_calls=calls))
    datas = stream_datas(server, "/c")
    deltas = [d["choices"][0]["delta"] for d in datas[:-2]]
    assert deltas[0]["role"] == "assistant"
    opening = deltas[0]["tool_calls"][0]
    assert opening == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    arguments: dict[int, str] = {}
    names: dict[int, str] = {}
    for delta in deltas:
        for call in delta.get("tool_calls", []):
            arguments[call["index"]] = arguments.get(call["index"], "") + call["function"]["arguments"]
            names.setdefault(call["index"], call["function"].get("name", ""))
    assert names == {0: "get_weather", 1: "get_time"}
    assert json.loads(arguments[0]) == {"city": "Paris"}
    assert json.loads(arguments[1]) == {"tz": "CET"}
    assert sum(1 for d in deltas if "tool_calls" in d and "id" not in d["tool_calls"][0]) >= 4
    assert datas[-3]["choices"][0]["finish_reason"] == "tool_calls"


def test_openai_error_inside_200(server: FakeServer) -> None:
    server.route("POST", "/c", openai_stream(["a", "b", "c"], error_after=1))
    datas = stream_datas(server, "/c")
    assert "[DONE]" not in datas
    assert datas[-1]["error"]["type"] == "server_error"
    assert [d["choices"][0]["delta"].get("content") for d in datas[:-1]] == ["", "a"]


def test_openai_json_bodies(server: FakeServer) -> None:
    server.route("GET", "/v1/models", openai_models(["gpt-4.1", "gpt-4.1-mini"]))
    server.route("POST", "/v1/chat/completions", openai_completion("Hi!", (19, 10)))
    models = HTTP.get(server.url + "/v1/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["gpt-4.1", "gpt-4.1-mini"]
    completion = post(server, "/v1/chat/completions").json()
    assert completion["choices"][0]["message"]["content"] == "Hi!"
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"]["total_tokens"] == 29


def test_openai_errors(server: FakeServer) -> None:
    server.route(
        "POST",
        "/c",
        openai_bad_key(),
        openai_error(429, "Rate limit reached", "requests", "rate_limit_exceeded", retry_after=1.5),
    )
    bad = post(server, "/c")
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "invalid_api_key"
    assert bad.json()["error"]["param"] is None
    limited = post(server, "/c")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "1.5"
    assert limited.json()["error"]["type"] == "requests"


def test_azure_stream_starts_with_prompt_filter_chunk(server: FakeServer) -> None:
    server.route("POST", r"/openai/deployments/[^/]+/chat/completions", azure_stream(["Hi"]))
    datas = stream_datas(server, "/openai/deployments/gpt4o/chat/completions")
    first = datas[0]
    assert first["choices"] == [] and first["id"] == "" and first["model"] == "" and first["created"] == 0
    assert first["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"] is False
    text_chunk = next(d for d in datas[1:] if d["choices"] and d["choices"][0]["delta"].get("content"))
    assert text_chunk["choices"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    assert datas[-1] == "[DONE]"


def test_azure_errors(server: FakeServer) -> None:
    server.route(
        "POST",
        "/c",
        azure_bad_key(),
        azure_error(
            429, "429", "Please retry after 86400 seconds.", retry_after=86400, retry_after_ms=86400000
        ),
    )
    bad = post(server, "/c")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "401"
    limited = post(server, "/c")
    assert limited.headers["retry-after"] == "86400"
    assert limited.headers["retry-after-ms"] == "86400000"


def test_hand_made_sse(server: FakeServer) -> None:
    server.route(
        "POST",
        "/c",
        sse_reply(
            [
                ": OPENROUTER PROCESSING",
                'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\r\n\r\n',
                "data: {not json",
                "data: [DONE]",
            ]
        ),
    )
    events = parse_sse(post(server, "/c").text)
    assert [data for _, data in events] == [
        '{"choices":[{"index":0,"delta":{"content":"a"}}]}',
        "data: {not json"[6:],
        "[DONE]",
    ]


# --- Anthropic ------------------------------------------------------------------------------------------


def test_anthropic_text_stream(server: FakeServer) -> None:
    server.route("POST", "/v1/messages", anthropic_stream(["Hel", "lo"], usage=(377, 65)))
    events = parse_sse(post(server, "/v1/messages").text)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(data) for _, data in events]
    assert all(p["type"] == n for n, p in zip(names, payloads, strict=True))
    assert payloads[0]["message"]["usage"]["input_tokens"] == 377
    assert "".join(p["delta"]["text"] for p in payloads if p["type"] == "content_block_delta") == "Hello"
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"
    assert payloads[-2]["usage"] == {"output_tokens": 65}


def test_anthropic_tool_use_stream(server: FakeServer) -> None:
    uses = [("toolu_1", "get_weather", {"location": "Paris"})]
    server.route("POST", "/v1/messages", anthropic_stream(["Checking."], tool_uses=uses, ping=False))
    payloads = [json.loads(data) for _, data in parse_sse(post(server, "/v1/messages").text)]
    start = next(p for p in payloads if p["type"] == "content_block_start" and p["index"] == 1)
    assert start["content_block"] == {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}
    partial = [
        p["delta"]["partial_json"] for p in payloads if p["type"] == "content_block_delta" and p["index"] == 1
    ]
    assert partial[0] == "" and len(partial) >= 3
    assert json.loads("".join(partial)) == {"location": "Paris"}
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"
    assert "ping" not in [p["type"] for p in payloads]


def test_anthropic_error_event_after_200(server: FakeServer) -> None:
    server.route("POST", "/v1/messages", anthropic_stream(["a", "b", "c"], error_after=2))
    response = post(server, "/v1/messages")
    assert response.status_code == 200
    events = parse_sse(response.text)
    assert [name for name, _ in events][-3:] == ["content_block_delta", "content_block_delta", "error"]
    assert json.loads(events[-1][1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_anthropic_json_bodies_and_errors(server: FakeServer) -> None:
    server.route("GET", "/v1/models", anthropic_bad_key(), anthropic_models(["claude-sonnet-4-5"]))
    server.route(
        "POST", "/v1/messages", anthropic_error(529, "overloaded_error", "Overloaded", retry_after=2)
    )
    bad = HTTP.get(server.url + "/v1/models")
    assert bad.status_code == 401
    assert bad.json()["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    models = HTTP.get(server.url + "/v1/models").json()
    assert models["data"][0]["id"] == "claude-sonnet-4-5" and models["has_more"] is False
    overloaded = post(server, "/v1/messages")
    assert overloaded.status_code == 529
    assert overloaded.headers["x-should-retry"] == "true"
    assert overloaded.headers["retry-after"] == "2"
    assert overloaded.json()["type"] == "error"


# --- Gemini ---------------------------------------------------------------------------------------------

GEMINI_STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"


def test_gemini_text_stream(server: FakeServer) -> None:
    server.route(
        "POST", r"/v1beta/models/.+:streamGenerateContent", gemini_stream(["Hel", "lo"], usage=(15, 6))
    )
    response = post(server, GEMINI_STREAM + "?alt=sse")
    assert server.requests[0].query == {"alt": "sse"}
    assert "[DONE]" not in response.text
    events = parse_sse(response.text)
    assert all(name is None for name, _ in events)
    chunks = [json.loads(data) for _, data in events]
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == "Hello"
    assert all(c["candidates"][0]["content"]["role"] == "model" for c in chunks)
    assert "finishReason" not in chunks[0]["candidates"][0]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    counts = [c["usageMetadata"]["candidatesTokenCount"] for c in chunks]
    assert counts == sorted(counts) and counts[-1] == 6
    assert chunks[-1]["usageMetadata"] == {
        "promptTokenCount": 15,
        "candidatesTokenCount": 6,
        "totalTokenCount": 21,
    }


def test_gemini_function_calls_arrive_whole(server: FakeServer) -> None:
    calls = [("get_weather", {"city": "Paris"}, "call-1"), ("get_time", {"tz": "CET"})]
    server.route("POST", GEMINI_STREAM, gemini_stream(["Checking."], function_calls=calls))
    chunks = [json.loads(data) for _, data in parse_sse(post(server, GEMINI_STREAM).text)]
    parts = chunks[-1]["candidates"][0]["content"]["parts"]
    assert parts[0]["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}, "id": "call-1"}
    assert parts[1]["functionCall"] == {"name": "get_time", "args": {"tz": "CET"}}
    assert parts[1]["thoughtSignature"] == thought_signature("get_time", 1)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_raw_json_error_mid_stream(server: FakeServer) -> None:
    server.route("POST", GEMINI_STREAM, gemini_stream(["a", "b"], error_after=1))
    text = post(server, GEMINI_STREAM).text
    events = parse_sse(text)
    assert len(events) == 1
    raw = text[text.index("\n\n") + 2 :]
    assert not raw.startswith("data:")
    assert json.loads(raw)["error"]["status"] == "UNAVAILABLE"


def test_gemini_json_bodies_and_errors(server: FakeServer) -> None:
    server.route(
        "GET",
        "/v1beta/models",
        gemini_bad_key(),
        gemini_models(["gemini-2.5-flash", ("embed", ["embedContent"])]),
    )
    server.route(
        "POST",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        gemini_response("Hi!", (15, 6)),
        gemini_error(
            429,
            "You exceeded your current quota",
            "RESOURCE_EXHAUSTED",
            quota_id="GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            retry_delay="38s",
        ),
    )
    bad = HTTP.get(server.url + "/v1beta/models")
    assert bad.status_code == 400
    assert bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert bad.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    models = HTTP.get(server.url + "/v1beta/models").json()["models"]
    assert models[0]["name"] == "models/gemini-2.5-flash"
    assert "generateContent" in models[0]["supportedGenerationMethods"]
    assert models[1]["supportedGenerationMethods"] == ["embedContent"]
    assert (
        post(server, "/v1beta/models/gemini-2.5-flash:generateContent").json()["usageMetadata"][
            "totalTokenCount"
        ]
        == 21
    )
    limited = post(server, "/v1beta/models/gemini-2.5-flash:generateContent").json()["error"]
    assert limited["code"] == 429
    assert {d["@type"].rsplit(".", 1)[1] for d in limited["details"]} == {"QuotaFailure", "RetryInfo"}


# --- OpenAI-compatible quirks ---------------------------------------------------------------------------


def test_openrouter_comments_and_error_in_200(server: FakeServer) -> None:
    stream = openai_stream(["a"], usage=None).with_inserted(0, OPENROUTER_PROCESSING, OPENROUTER_PROCESSING)
    server.route("POST", "/ok", stream)
    server.route(
        "POST", "/err", openai_stream(["a"]).with_inserted(2, openrouter_stream_error(502, "Upstream down"))
    )
    raw = post(server, "/ok").text
    assert raw.startswith(": OPENROUTER PROCESSING\n\n")
    assert parse_sse(raw)[-1][1] == "[DONE]"
    failing = [json.loads(data) for _, data in parse_sse(post(server, "/err").text) if data != "[DONE]"]
    assert failing[2]["error"] == {"code": 502, "message": "Upstream down"}
    assert failing[2]["choices"][0]["finish_reason"] == "error"


def test_whole_tool_calls_like_ollama(server: FakeServer) -> None:
    server.route(
        "POST", "/c", openai_stream([], tool_calls=[("call_0", "f", {"a": 1})], whole_tool_calls=True)
    )
    datas = stream_datas(server, "/c")
    assert datas[0]["choices"][0]["delta"]["tool_calls"][0]["function"] == {
        "name": "f",
        "arguments": '{"a": 1}',
    }
    assert datas[1]["choices"][0]["finish_reason"] == "tool_calls"


def test_compat_error_and_model_shapes(server: FakeServer) -> None:
    server.route(
        "GET",
        "/v1/models",
        vllm_unauthorized(),
        vllm_error(400, "bad"),
        openrouter_error(402, "Insufficient credits"),
        together_models(["meta-llama/Llama-3.3-70B-Instruct-Turbo"]),
    )
    assert HTTP.get(server.url + "/v1/models").json() == {"error": "Unauthorized"}
    assert HTTP.get(server.url + "/v1/models").json()["error"]["code"] == 400
    credits = HTTP.get(server.url + "/v1/models")
    assert credits.status_code == 402 and credits.json()["error"]["code"] == 402
    assert HTTP.get(server.url + "/v1/models").json()[0]["id"] == "meta-llama/Llama-3.3-70B-Instruct-Turbo"
