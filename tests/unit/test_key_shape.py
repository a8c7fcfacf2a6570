"""Pasted keys are checked before they are stored: a key that could never go in an HTTP header is refused."""

from __future__ import annotations

import pytest

from byok.base.errors import ByokError
from byok.core.keys import check_key_shape


@pytest.mark.parametrize(
    "pasted",
    [
        "sk-TESTFAKE\u00e9key0123456789",
        "\u201csk-TESTFAKEkey0123456789\u201d",
        "sk-TESTFAKE key",
        "sk-TEST\x00FAKE",
        "",
    ],
)
def test_keys_that_cannot_be_sent_are_refused_without_echoing_them(pasted: str) -> None:
    with pytest.raises(ByokError) as caught:
        check_key_shape("openai", pasted, ("sk-",))
    assert caught.value.code == "key_rejected"
    if pasted:
        assert pasted.strip() not in str(caught.value.to_data())


def test_a_plain_key_is_kept_and_trimmed() -> None:
    assert check_key_shape("openai", "  sk-TESTFAKEkey0123456789\n", ("sk-",)) == "sk-TESTFAKEkey0123456789"
