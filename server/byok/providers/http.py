"""HTTP plumbing shared by every adapter: the client, endpoint checks, and status-to-error mapping.

Every transport failure leaves here as a `ByokError`; nothing here ever sees LSP.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson

from byok.config import Settings
from byok.errors import ByokError, error_for_status
from byok.protocol import ErrorCode
from byok.providers.urls import origin
from byok.retry import parse_retry_after

MAX_ERROR_BODY = 64 * 1024

ErrorParser = Callable[[int, bytes, Mapping[str, str]], ByokError]


def build_client(settings: Settings) -> httpx.AsyncClient:
    """One pooled client for all providers: proxies from settings or the environment, never for loopback."""
    timeouts = settings.timeouts
    direct = httpx.AsyncHTTPTransport(verify=settings.ca_bundle or True)
    loopback = {f"all://{host}": direct for host in ("127.0.0.1", "localhost", "[::1]")}
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=timeouts.connect_s, read=timeouts.first_byte_s, write=30.0, pool=30.0),
        proxy=settings.proxy,
        verify=settings.ca_bundle or True,
        mounts=loopback,
        trust_env=True,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=20),
        follow_redirects=False,
    )


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
        error.extra["shouldRetry"] = False
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
    ) -> Any:
        """GET a JSON document (model lists); a body that is not a JSON object or array is a provider error."""
        async with open_stream(
            self.client,
            "GET",
            url,
            provider=self.provider_id,
            parse_error=self.parse_error,
            headers=headers,
            params=params,
            unreachable_fix=unreachable_fix,
        ) as response:
            payload = json_body(await response.aread())
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
            error_body = await _read_bounded(response)
            raise parse_error(response.status_code, error_body, response.headers)
        yield response
    except httpx.TimeoutException as exc:
        raise silent(provider) from exc
    except httpx.TransportError as exc:
        raise interrupted(provider, _reason(exc)) from exc
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        # Decoding JSON of the wrong shape (a list where an object belongs, a number for text, ...).
        raise ByokError(
            ErrorCode.PROVIDER_ERROR,
            f"The provider sent a malformed stream chunk ({type(exc).__name__})",
            provider=provider,
            cause="Malformed stream chunk",
        ) from exc
    finally:
        await response.aclose()


def as_text(value: Any) -> str:
    """A stream event's text field; anything but a string is a malformed chunk (open_stream maps it)."""
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


async def _read_bounded(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_ERROR_BODY:
                break
    except httpx.TransportError:
        pass
    return b"".join(chunks)[:MAX_ERROR_BODY]
