"""Helpers for the adapter tests: collect a stream, and expect a failure that leaks no key."""

from __future__ import annotations

import json

import pytest

from byok.base.errors import ByokError
from byok.providers.base import ChatRequest, Provider, StreamEvent, complete


async def stream_events(adapter: Provider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in adapter.stream(request)]


async def expect_failure(adapter: Provider, request: ChatRequest, secrets: tuple[str, ...]) -> ByokError:
    """The ByokError the request fails with; none of `secrets` may appear in its message or data."""
    with pytest.raises(ByokError) as info:
        await complete(adapter, request)
    exc = info.value
    for secret in secrets:
        assert secret not in str(exc)
        assert secret not in json.dumps(exc.to_data())
    return exc
