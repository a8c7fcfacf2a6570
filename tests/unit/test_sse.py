"""Reading a provider stream: the bounded body (decompression), its lines, and SSE events."""

from __future__ import annotations

import tracemalloc
import zlib
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.http import MAX_ERROR_BODY, _read_bounded, iter_body, open_stream
from byok.providers.sse import (
    MAX_LINE_BYTES,
    RAW_JSON_EVENT,
    ServerSentEvent,
    iter_lines,
    iter_sse,
    response_lines,
)


async def decode(text: str) -> list[tuple[str, str]]:
    """Split `text` the way httpx does (`\\n`, `\\r\\n`, `\\r`) and decode it."""

    async def lines() -> AsyncIterator[str]:
        for line in text.splitlines():
            yield line

    return [(event.event, event.data) async for event in iter_sse(lines(), provider="openai")]


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
        return httpx.Response(200, stream=httpx.ByteStream(body))  # unread, as from the network

    async with (
        httpx.AsyncClient(transport=httpx.MockTransport(respond)) as client,
        client.stream("GET", "http://test/") as response,
    ):
        lines = response_lines(response, provider="openai")
        events = [event async for event in iter_sse(lines, provider="openai")]
    assert events == [ServerSentEvent("a", '{"x":\n1}'), ServerSentEvent("message", "tail")]


# -- reading lines from the body: only CR, LF and CRLF end a line, and nothing grows without bound ---------


async def _chunks(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def lines_of(*chunks: bytes) -> list[str]:
    return [line async for line in iter_lines(_chunks(*chunks), provider="openai")]


async def test_only_cr_and_lf_end_a_line() -> None:
    text = 'data: {"t":"a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\x1dh\x1ei"}\n\n'
    assert await lines_of(text.encode()) == [text[:-2], ""]


async def test_crlf_split_between_chunks_is_one_line_ending() -> None:
    assert await lines_of(b"a\r", b"\nb\r", b"\r", b"\nc\r\n") == ["a", "b", "", "c"]
    assert await lines_of(b"a\r", b"", b"\nb") == ["a", "b"]
    assert await lines_of(b"a\r\n\r\n") == ["a", ""]


async def test_a_line_split_over_chunks_and_inside_a_character() -> None:
    emoji = "🙂".encode()
    assert await lines_of(b"data: x", emoji[:2], emoji[2:] + b"y\ndata", b": z") == ["data: x🙂y", "data: z"]


async def test_a_line_over_1_mib_is_a_provider_error_before_it_is_whole() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield b"x" * 1000

    with pytest.raises(ByokError) as caught:
        async for _ in iter_lines(endless(), provider="anthropic"):
            pass
    assert caught.value.code == ErrorCode.PROVIDER_ERROR and caught.value.provider == "anthropic"
    assert "1 MiB" in caught.value.cause
    assert sent * 1000 <= MAX_LINE_BYTES + 1000


async def test_a_line_of_exactly_1_mib_is_fine() -> None:
    line = b"x" * MAX_LINE_BYTES
    assert [len(x) for x in await lines_of(line[:5], line[5:] + b"\r\n")] == [MAX_LINE_BYTES]


async def _sse_of(lines: list[str]) -> list[ServerSentEvent]:
    async def source() -> AsyncIterator[str]:
        for line in lines:
            yield line

    return [event async for event in iter_sse(source(), provider="google")]


async def test_an_event_over_1_mib_is_a_provider_error() -> None:
    with pytest.raises(ByokError) as caught:
        await _sse_of(["data: " + "x" * 1000] * 1100 + [""])
    assert caught.value.code == ErrorCode.PROVIDER_ERROR and "1 MiB" in caught.value.cause
    assert caught.value.provider == "google"
    with pytest.raises(ByokError) as raw:
        await _sse_of(["{"] + ['"x": "' + "é" * 600 + '",'] * 1000)
    assert "1 MiB" in raw.value.cause


async def test_an_event_just_under_1_mib_is_fine() -> None:
    events = await _sse_of(["data: " + "x" * 1023] * 1023 + [""])
    assert len(events) == 1 and len(events[0].data) == 1024 * 1023 - 1


# -- the body: decompressed in bounded steps, capped in all ------------------------------------------------


def _response(status: int, raw: list[bytes], encoding: str | None) -> httpx.Response:
    class Raw(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in raw:
                yield chunk

    headers = {"content-encoding": encoding} if encoding else {}
    return httpx.Response(status, headers=headers, stream=Raw())


def _gzip(data: bytes, wbits: int = 16 + zlib.MAX_WBITS) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


BOMB = 64 * 1024 * 1024
"""One compressed chunk (about 64 KiB) that inflates to 64 MiB: what one socket read can carry."""


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_a_compressed_body_is_inflated_in_small_steps(encoding: str) -> None:
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "raw-deflate": -zlib.MAX_WBITS}[encoding]
    body = b"data: hi\n\n" * 1000
    response = _response(200, [_gzip(body, wbits)], encoding.removeprefix("raw-"))
    chunks = [chunk async for chunk in iter_body(response, provider="openai")]
    assert b"".join(chunks) == body and max(map(len, chunks)) <= 64 * 1024


async def test_a_body_over_64_mib_is_a_provider_error_and_never_materialised() -> None:
    response = _response(200, [_gzip(b"x" * BOMB + b"y")], "gzip")
    tracemalloc.start()
    try:
        with pytest.raises(ByokError) as caught:
            async for _ in iter_body(response, provider="openai"):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == ErrorCode.PROVIDER_ERROR and "64 MiB" in caught.value.cause
    assert peak < 4 * 1024 * 1024


async def test_a_body_of_exactly_64_mib_is_fine() -> None:
    response = _response(200, [b"x" * (1 << 20)] * 64, None)
    assert sum([len(chunk) async for chunk in iter_body(response, provider="openai")]) == BOMB


async def test_an_unsupported_content_encoding_is_a_provider_error() -> None:
    response = _response(200, [b"\x28\xb5\x2f\xfd"], "zstd")
    with pytest.raises(ByokError) as caught:
        async for _ in iter_body(response, provider="openai"):
            pass
    assert caught.value.code == ErrorCode.PROVIDER_ERROR and "zstd" in caught.value.message


async def test_an_error_body_bomb_is_cut_at_64_kib_while_inflating() -> None:
    response = _response(500, [_gzip(b'{"error": {"message": "' + b"x" * BOMB)], "gzip")
    tracemalloc.start()
    try:
        body = await _read_bounded(response, "openai")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body.startswith(b'{"error"') and len(body) == MAX_ERROR_BODY
    assert peak < 4 * 1024 * 1024


async def test_requests_ask_only_for_encodings_that_are_bounded() -> None:
    """httpx advertises br and zstd when their packages are installed; byok inflates only gzip and deflate."""
    seen: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding", ""))
        return httpx.Response(200, content=b"{}")

    transport = httpx.MockTransport(respond)
    everything = {"Accept-Encoding": "gzip, deflate, br, zstd"}
    async with (
        httpx.AsyncClient(transport=transport, headers=everything) as client,
        open_stream(client, "GET", "http://test/", provider="openai", parse_error=_unused),
    ):
        pass
    assert seen == ["gzip, deflate"]


def _unused(status: int, body: bytes, headers: Mapping[str, str]) -> ByokError:
    raise AssertionError("no error expected")
