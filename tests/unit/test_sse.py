"""`iter_sse`: the SSE decoder shared by every streaming adapter, fed text lines directly."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from byok.providers.sse import RAW_JSON_EVENT, ServerSentEvent, iter_sse


async def decode(text: str) -> list[tuple[str, str]]:
    """Split `text` the way httpx does (`\\n`, `\\r\\n`, `\\r`) and decode it."""

    async def lines() -> AsyncIterator[str]:
        for line in text.splitlines():
            yield line

    return [(event.event, event.data) async for event in iter_sse(lines())]


async def test_data_events_default_to_message() -> None:
    assert await decode('data: {"a":1}\n\ndata: [DONE]\n\n') == [
        ("message", '{"a":1}'),
        ("message", "[DONE]"),
    ]


async def test_multi_line_data_is_joined_with_newlines() -> None:
    assert await decode("data: one\ndata: two\ndata:three\n\n") == [("message", "one\ntwo\nthree")]


async def test_only_one_leading_space_is_removed() -> None:
    assert await decode("data:  indented\n\n") == [("message", " indented")]


async def test_event_names_apply_to_one_event_only() -> None:
    text = 'event: ping\ndata: {"type":"ping"}\n\ndata: plain\n\n'
    assert await decode(text) == [("ping", '{"type":"ping"}'), ("message", "plain")]


async def test_crlf_and_cr_line_endings() -> None:
    assert await decode("event: e\r\ndata: a\r\n\r\ndata: b\r\rdata: c\n\n") == [
        ("e", "a"),
        ("message", "b"),
        ("message", "c"),
    ]


async def test_comments_and_unknown_fields_are_ignored() -> None:
    text = ": OPENROUTER PROCESSING\n\nid: 7\nretry: 100\n: keep-alive\ndata: x\n\n"
    assert await decode(text) == [("message", "x")]


async def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert await decode("\n\nevent: lonely\n\n\ndata: y\n\n") == [("message", "y")]


async def test_trailing_event_without_blank_line_is_flushed() -> None:
    assert await decode("data: first\n\ndata: last") == [("message", "first"), ("message", "last")]


async def test_raw_json_split_over_lines() -> None:
    text = '{\n  "error": {\n    "code": 503,\n    "status": "UNAVAILABLE"\n  }\n}\n'
    assert await decode(text) == [(RAW_JSON_EVENT, text.rstrip("\n"))]


async def test_raw_json_after_sse_events_and_before_more() -> None:
    text = 'data: {"n":1}\n\n[{"error": {}}]\ndata: {"n":2}\n\n'
    assert await decode(text) == [
        ("message", '{"n":1}'),
        (RAW_JSON_EVENT, '[{"error": {}}]'),
        ("message", '{"n":2}'),
    ]


async def test_unfinished_raw_json_is_flushed_at_the_end() -> None:
    assert await decode('{\n  "error": {') == [(RAW_JSON_EVENT, '{\n  "error": {')]


async def test_raw_json_with_brackets_and_escaped_quotes_inside_strings() -> None:
    first = '{"error": {"message": "unexpected { at 3"}}'
    second = '{\n  "message": "a \\"}]\\" b",\n  "code": 1\n}'
    text = f'{first}\ndata: {{"n":2}}\n\n{second}\ndata: {{"n":3}}\n\n'
    assert await decode(text) == [
        (RAW_JSON_EVENT, first),
        ("message", '{"n":2}'),
        (RAW_JSON_EVENT, second),
        ("message", '{"n":3}'),
    ]


async def test_decodes_a_real_httpx_line_stream() -> None:
    body = b'event: a\r\ndata: {"x":\r\ndata: 1}\r\n\r\n: c\r\ndata: tail'

    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client:
        response = await client.get("http://test/")
        events = [event async for event in iter_sse(response.aiter_lines())]
    assert events == [ServerSentEvent("a", '{"x":\n1}'), ServerSentEvent("message", "tail")]
