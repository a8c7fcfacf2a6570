"""HTTP plumbing shared by every adapter: the client, endpoint checks, status-to-error mapping, and the caps
on what one response may make the server hold (bytes, tool calls, tool-call arguments).

Every transport failure leaves here as a `ByokError`; nothing here ever sees LSP.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from byok.base.config import Settings
from byok.base.errors import ByokError, error_for_status
from byok.base.names import ErrorCode
from byok.providers.base import ToolCall, parse_tool_arguments
from byok.providers.retry_after import parse_retry_after
from byok.providers.urls import (
    CaBundle,
    ca_bundle_error,
    is_loopback,
    origin,
    proxy_error,
    proxy_origin,
    read_ca_bundle,
)

MAX_ERROR_BODY = 64 * 1024
KEEP_IDLE_CONNECTIONS = 8
"""Idle connections kept for the next requests (a stream's connection is reused: no new TCP/TLS handshake).
Not more: httpcore checks every idle connection (two syscalls) whenever a request starts or ends, which
cost 2-3 ms of CPU per chat in bursts of 50 chats with 20 kept."""
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The most decompressed bytes one response may carry; more is a provider_error."""
INFLATE_STEP = 64 * 1024
"""The most bytes one decompression step may produce: a zip bomb is never inflated whole."""
ACCEPT_ENCODING = "gzip, deflate"
"""Only the encodings `_Inflater` bounds (httpx would also advertise br/zstd when they are installed)."""
_YIELD_EVERY = 1024 * 1024
MAX_TOOL_CALLS = 128
"""The most tool calls one turn may ask for; more is a provider_error."""
MAX_CALL_ARGUMENT_BYTES = 1024 * 1024
"""The most bytes of arguments (UTF-8 JSON) one tool call may carry."""
MAX_TURN_ARGUMENT_BYTES = 4 * 1024 * 1024
"""The most bytes of tool-call arguments one turn may carry in all."""
_MALFORMED = (AttributeError, KeyError, IndexError, TypeError, ValueError)

ErrorParser = Callable[[int, bytes, Mapping[str, str]], ByokError]


class _LoopbackDirectClient(httpx.AsyncClient):
    """A client whose loopback requests always go direct: no proxy (settings' or environment's) sees them."""

    def _transport_for_url(self, url: httpx.URL) -> httpx.AsyncBaseTransport:
        return self._transport if is_loopback(url.host) else super()._transport_for_url(url)


def build_client(settings: Settings, ca: CaBundle | None = None) -> httpx.AsyncClient:
    """One pooled client for all providers: proxies from settings or the environment, never for loopback.

    It trusts exactly the bytes of `ca` when given (the caller fingerprinted them for a key's route), else
    the settings' CA bundle read now. A malformed proxy URL is `proxy_invalid` and an unusable CA bundle
    `ca_bundle_unreadable`.
    """
    timeouts = settings.timeouts
    proxy = settings.proxy
    if proxy:
        proxy_origin(proxy)  # raises proxy_invalid with a cause and fix
        try:
            httpx.URL(proxy)
        except httpx.InvalidURL as exc:  # e.g. a host that is not a valid IDNA name
            raise proxy_error(proxy, str(exc)) from None
    verify: ssl.SSLContext | bool = True
    if settings.ca_bundle:
        verify = _ca_context(ca or read_ca_bundle(settings.ca_bundle))
    return _LoopbackDirectClient(
        timeout=httpx.Timeout(connect=timeouts.connect_s, read=timeouts.first_byte_s, write=30.0, pool=30.0),
        proxy=proxy,
        verify=verify,
        trust_env=True,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=KEEP_IDLE_CONNECTIONS),
        follow_redirects=False,
    )


def _ca_context(ca: CaBundle) -> ssl.SSLContext:
    """A context trusting the PEM certificates in `ca` alone (text around them is skipped)."""
    try:
        context = ssl.create_default_context(cadata=ca.pem.decode("ascii", "ignore"))
    except ssl.SSLError as exc:
        raise ca_bundle_error(ca.path, str(exc)) from None
    if not context.get_ca_certs():
        raise ca_bundle_error(ca.path, "it holds no PEM certificate")
    return context


def status_error(
    status: int,
    provider: str,
    message: str,
    headers: Mapping[str, str],
    *,
    retry_after_s: float | None = None,
) -> ByokError:
    """The generic status mapping, with the provider's retry hints (`retry-after*`, `x-should-retry`)."""
    if retry_after_s is None:
        retry_after_s = parse_retry_after(headers, status=status)
    error = error_for_status(status, provider, message, retry_after_s=retry_after_s)
    if str(headers.get("x-should-retry", "")).lower() == "false":
        error.should_retry = False
    return error


class HttpProvider:
    """What every HTTP adapter holds: its provider id, base URL, key and the shared client."""

    def __init__(self, provider_id: str, base_url: str, key: str | None, client: httpx.AsyncClient) -> None:
        self.provider_id = provider_id
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.client = client

    @property
    def key_endpoint(self) -> str:
        return origin(self.base_url)

    def parse_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> ByokError:
        raise NotImplementedError

    async def get_json(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        unreachable_fix: str | None = None,
        body: Any = None,
    ) -> Any:
        """GET a JSON document (model lists; POST when `body` is given); a body that is not a JSON object or
        array is a provider error."""
        async with open_stream(
            self.client,
            "GET" if body is None else "POST",
            url,
            provider=self.provider_id,
            parse_error=self.parse_error,
            headers=headers,
            params=params,
            body=body,
            unreachable_fix=unreachable_fix,
        ) as response:
            payload = json_body(await read_body(response, provider=self.provider_id))
        if not isinstance(payload, dict | list):
            raise self.unexpected_shape()
        return payload

    def unexpected_shape(self) -> ByokError:
        return ByokError(
            ErrorCode.PROVIDER_ERROR, "The model list had an unexpected shape", provider=self.provider_id
        )


def error_object(body: bytes) -> dict[str, Any]:
    """The `error` object of an error body (`{"error": {...}}` or `{"error": "text"}`), else the raw text."""
    payload = json_body(body)
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, str):
        return {"message": error}
    if isinstance(error, dict):
        return error
    return {"message": body[:300].decode(errors="replace").strip()}


def json_text(text: str | bytes) -> Any:
    """Parsed JSON, or None when `text` is not JSON (orjson: the stream hot path parses every chunk)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


json_body = json_text


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    parse_error: ErrorParser,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    content: bytes | None = None,
    params: Mapping[str, str] | None = None,
    unreachable_fix: str | None = None,
) -> AsyncIterator[httpx.Response]:
    """Send a request and yield the response once its status is a success; map every failure.

    The response is closed when the context exits, which closes the connection of an unfinished stream.
    """
    headers = {**(headers or {}), "Accept-Encoding": ACCEPT_ENCODING}
    request = client.build_request(method, url, headers=headers, json=body, content=content, params=params)
    try:
        response = await client.send(request, stream=True)
    except httpx.ConnectTimeout as exc:
        raise unreachable(provider, url, "the connection timed out", unreachable_fix) from exc
    except httpx.TimeoutException as exc:
        raise ByokError(
            ErrorCode.TIMEOUT,
            f"No answer from {origin(url)} within {client.timeout.read:g} s",
            provider=provider,
            limitS=client.timeout.read,
        ) from exc
    except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
        raise unreachable(provider, url, _reason(exc), unreachable_fix) from exc
    except httpx.TransportError as exc:
        raise ByokError(
            ErrorCode.STREAM_INTERRUPTED,
            f"The connection to {origin(url)} failed: {_reason(exc)}",
            provider=provider,
        ) from exc
    try:
        if response.is_redirect:
            raise ByokError(
                ErrorCode.ENDPOINT_UNREACHABLE,
                f"{origin(url)} redirected to {response.headers.get('location', 'another URL')}",
                provider=provider,
                status=response.status_code,
                cause="The endpoint answered with a redirect, which is not followed (the key stays put)",
                fix=unreachable_fix or "Set baseUrl to the API's final URL (scheme, host and path)",
            )
        if response.status_code >= 400:
            error_body = await _read_bounded(response, provider)
            with decoding(provider):
                error = parse_error(response.status_code, error_body, response.headers)
            raise error
        yield response
    except httpx.TimeoutException as exc:
        raise silent(provider) from exc
    except httpx.TransportError as exc:
        raise interrupted(provider, _reason(exc)) from exc
    finally:
        await response.aclose()


class decoding:
    """Around decoding one piece of a provider's JSON: JSON of the wrong shape (a list where an object
    belongs, a number for text, ...) raises one of a few builtin errors, which become a provider_error.

    Only the decoding goes inside, so a bug anywhere else still surfaces as an internal error. A class, not
    a generator: it wraps every stream event, and this costs a tenth as much.
    """

    __slots__ = ("provider",)

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> None:
        if isinstance(error, _MALFORMED):
            raise malformed_chunk(self.provider, type(error).__name__) from error


def malformed_chunk(provider: str, detail: str | None = None) -> ByokError:
    return ByokError(
        ErrorCode.PROVIDER_ERROR,
        f"The provider sent a malformed stream chunk ({detail})"
        if detail
        else "The provider sent a malformed stream chunk",
        provider=provider,
        cause="Malformed stream chunk",
    )


def as_text(value: Any) -> str:
    """A stream event's text field; anything but a string is a malformed chunk (`decoding` maps it)."""
    if not isinstance(value, str):
        raise TypeError(f"a text field holds {type(value).__name__}")
    return value


def silent(provider: str) -> ByokError:
    return ByokError(
        ErrorCode.TIMEOUT, "The stream went silent", provider=provider, cause="The provider stopped sending"
    )


def interrupted(provider: str, reason: str) -> ByokError:
    return ByokError(ErrorCode.STREAM_INTERRUPTED, f"The stream broke off: {reason}", provider=provider)


def unreachable(provider: str, url: str, reason: str, fix: str | None = None) -> ByokError:
    return ByokError(
        ErrorCode.ENDPOINT_UNREACHABLE,
        f"Cannot connect to {origin(url)}: {reason}",
        provider=provider,
        fix=fix,
    )


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


async def iter_body(
    response: httpx.Response, *, provider: str, limit: int = MAX_RESPONSE_BYTES
) -> AsyncGenerator[bytes, None]:
    """The body, decompressed in steps of at most `INFLATE_STEP` bytes; past `limit` bytes a provider_error.

    Reads the raw bytes and inflates them here (not httpx's decoders, which inflate a whole network read
    at once: 64 KiB of gzip can hold 64 MiB). Lets other requests run after every MiB it produces.
    """
    inflater = _Inflater.for_response(response, provider)
    size = since_yield = 0
    async for raw in response.aiter_raw():
        for chunk in inflater.feed(raw):
            size += len(chunk)
            if size > limit:
                raise stream_capped(provider, f"a response of more than {_mib(limit)}")
            yield chunk
            since_yield += len(chunk)
            if since_yield >= _YIELD_EVERY:
                since_yield = 0
                await asyncio.sleep(0)
    for chunk in inflater.finish():
        size += len(chunk)
        if size > limit:
            raise stream_capped(provider, f"a response of more than {_mib(limit)}")
        yield chunk


async def read_body(response: httpx.Response, *, provider: str, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The whole body (model lists and other JSON documents), within the same caps as a stream."""
    return b"".join([chunk async for chunk in iter_body(response, provider=provider, limit=limit)])


def stream_capped(provider: str, what: str, fix: str | None = None) -> ByokError:
    """The error for a response that crossed one of the caps that keep the server's memory bounded."""
    return ByokError(
        ErrorCode.PROVIDER_ERROR,
        f"The provider sent {what}; the stream was stopped",
        provider=provider,
        cause=f"The provider sent {what}, past byok's cap",
        fix=fix
        or "Try again; if it persists, the provider (or a proxy in between) is sending malformed data",
    )


def utf8_size(text: str) -> int:
    """The UTF-8 size of `text`, without encoding it when it is ASCII (the common case)."""
    return len(text) if text.isascii() else len(text.encode(errors="surrogatepass"))


@dataclass(slots=True)
class _PendingCall:
    id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)
    size: int = 0


class ToolCalls:
    """One turn's tool calls, put together from their streamed fragments within byok's caps.

    A turn may ask for at most `MAX_TOOL_CALLS` calls, with at most `MAX_CALL_ARGUMENT_BYTES` of arguments
    each and `MAX_TURN_ARGUMENT_BYTES` in all; past a cap the stream stops with a provider_error naming it.
    Calls are keyed by the provider's index; one without an id gets `call_<index>`.
    """

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.count = 0
        """Calls started this turn (finished or not)."""
        self.argument_bytes = 0
        self._pending: dict[int, _PendingCall] = {}

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def start(self, index: int, call_id: str = "", name: str = "") -> None:
        """A new call at `index` (an unfinished one there is dropped)."""
        self._count_call()
        self._pending[index] = _PendingCall(call_id, name)

    def add(self, index: int, *, call_id: str = "", name: str = "", arguments: str = "") -> None:
        """A fragment of the call at `index`; the first one at an index starts a call."""
        call = self._pending.get(index)
        if call is None:
            self._count_call()
            call = self._pending[index] = _PendingCall()
        call.id = call_id or call.id
        call.name = name or call.name
        if arguments:
            size = utf8_size(as_text(arguments))
            call.size += size
            self._count_arguments(size, call.size)
            call.fragments.append(arguments)

    def has_arguments(self, index: int) -> bool:
        """Whether the unfinished call at `index` has had any argument fragment."""
        call = self._pending.get(index)
        return call is not None and bool(call.fragments)

    def whole(self, arguments: Any) -> None:
        """Count a call that arrived whole, its arguments already parsed (Gemini)."""
        self._count_call()
        size = len(orjson.dumps(arguments))
        self._count_arguments(size, size)

    def finish(self, index: int) -> ToolCall | None:
        """The call at `index`, complete; None when none was started there."""
        call = self._pending.pop(index, None)
        return None if call is None else _tool_call(index, call)

    def finish_all(self) -> list[ToolCall]:
        """Every unfinished call, complete, in index order."""
        calls = [_tool_call(index, call) for index, call in sorted(self._pending.items())]
        self._pending.clear()
        return calls

    def _count_call(self) -> None:
        self.count += 1
        if self.count > MAX_TOOL_CALLS:
            raise stream_capped(
                self.provider,
                f"more than {MAX_TOOL_CALLS} tool calls in one turn",
                fix="Try again, or ask for the work in smaller steps",
            )

    def _count_arguments(self, added: int, call_size: int) -> None:
        self.argument_bytes += added
        if call_size > MAX_CALL_ARGUMENT_BYTES:
            raise stream_capped(
                self.provider, f"a tool call with more than {_mib(MAX_CALL_ARGUMENT_BYTES)} of arguments"
            )
        if self.argument_bytes > MAX_TURN_ARGUMENT_BYTES:
            raise stream_capped(
                self.provider, f"more than {_mib(MAX_TURN_ARGUMENT_BYTES)} of tool-call arguments in one turn"
            )


def _tool_call(index: int, call: _PendingCall) -> ToolCall:
    raw = "".join(call.fragments)
    return ToolCall(
        id=call.id or f"call_{index}", name=call.name, arguments=parse_tool_arguments(raw), raw_arguments=raw
    )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


class _Inflater:
    """Content-Encoding `gzip`/`deflate` (or none) undone in bounded steps; corrupt data is a provider_error."""

    def __init__(self, provider: str, wbits: int | None) -> None:
        self.provider = provider
        self._may_be_raw_deflate = wbits == zlib.MAX_WBITS
        self._decompressor = zlib.decompressobj(wbits) if wbits is not None else None

    @classmethod
    def for_response(cls, response: httpx.Response, provider: str) -> _Inflater:
        codings = [
            c.strip().lower() for c in response.headers.get("content-encoding", "").split(",") if c.strip()
        ]
        codings = [c for c in codings if c != "identity"]
        if not codings:
            return cls(provider, None)
        if codings in (["gzip"], ["x-gzip"]):
            return cls(provider, 16 + zlib.MAX_WBITS)
        if codings == ["deflate"]:
            return cls(provider, zlib.MAX_WBITS)
        raise ByokError(
            ErrorCode.PROVIDER_ERROR,
            f"The provider answered with an unsupported Content-Encoding: {', '.join(codings)[:100]}",
            provider=provider,
            cause="The response is compressed in a way byok did not ask for",
            fix="Check proxies between you and the provider; byok accepts gzip and deflate",
        )

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decompressed bytes of `data`, at most `INFLATE_STEP` at a time."""
        decompressor = self._decompressor
        if decompressor is None:
            if data:
                yield data
            return
        if self._may_be_raw_deflate and data:  # "deflate" is zlib-wrapped by the RFC, raw from some servers
            self._may_be_raw_deflate = False
            try:
                zlib.decompressobj().decompress(data[:2])
            except zlib.error:
                decompressor = self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = decompressor.decompress(data, INFLATE_STEP)
            while True:
                if out:
                    yield out
                if not decompressor.unconsumed_tail and len(out) < INFLATE_STEP:
                    return
                out = decompressor.decompress(decompressor.unconsumed_tail, INFLATE_STEP)
        except zlib.error as exc:
            raise ByokError(
                ErrorCode.PROVIDER_ERROR,
                "The provider sent a corrupt compressed body",
                provider=self.provider,
                cause=f"The body does not inflate ({exc})",
            ) from exc

    def finish(self) -> Iterator[bytes]:
        """Whatever the decompressor still holds once the raw body has ended."""
        return self.feed(b"")


async def _read_bounded(response: httpx.Response, provider: str) -> bytes:
    """At most `MAX_ERROR_BODY` bytes of an error body, inflated no further; on a failure, what arrived."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with aclosing(iter_body(response, provider=provider)) as body:
            async for chunk in body:
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_ERROR_BODY:
                    break
    except (httpx.TransportError, ByokError):  # a broken or undecodable error body: its status still maps
        pass
    return b"".join(chunks)[:MAX_ERROR_BODY]
