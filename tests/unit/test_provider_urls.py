"""Endpoint checks: a URL that does not parse is a coded error wherever a URL is split."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.urls import origin, require_secure


def test_origin_of_a_url() -> None:
    assert origin("HTTPS://API.Example.com:8443/v1?x=1") == "https://api.example.com:8443"


@pytest.mark.parametrize("check", [origin, lambda url: require_secure(url, "corp")], ids=["origin", "secure"])
def test_a_url_that_does_not_parse_is_insecure_endpoint(check: Callable[[str], object]) -> None:
    with pytest.raises(ByokError) as caught:
        check("https://user:secret@[evil/v1")
    assert caught.value.code == ErrorCode.INSECURE_ENDPOINT
    assert "[evil/v1" in caught.value.message and "secret" not in caught.value.message
