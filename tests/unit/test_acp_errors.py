"""ACP handlers' errors: byok's carry cause and fix, a bug's text is redacted before the SDK sends it."""

from __future__ import annotations

import asyncio

import pytest
from acp import RequestError
from tests.conftest import TEST_KEY_OPENAI

from byok.acp.agent import BYOK_ERROR, answers_errors
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.redaction import REDACTOR


@answers_errors
async def leaks_in_a_bug(key: str) -> None:
    raise RuntimeError(f"upstream said: bad header Authorization: Bearer {key}")


@answers_errors
async def refuses(key: str) -> None:
    raise ByokError(ErrorCode.BAD_REQUEST, cause=f"the key {key} was refused", fix="Set another key")


def test_a_bug_is_an_internal_error_with_the_key_redacted() -> None:
    REDACTOR.register(TEST_KEY_OPENAI)
    with pytest.raises(RequestError) as raised:
        asyncio.run(leaks_in_a_bug(TEST_KEY_OPENAI))
    error = raised.value.to_error_obj()
    assert error["code"] == -32603
    assert "RuntimeError: upstream said" in error["data"]["details"]
    assert TEST_KEY_OPENAI not in str(error) and TEST_KEY_OPENAI[-8:] not in str(error)


def test_byok_errors_keep_their_code_cause_and_fix() -> None:
    REDACTOR.register(TEST_KEY_OPENAI)
    with pytest.raises(RequestError) as raised:
        asyncio.run(refuses(TEST_KEY_OPENAI))
    error = raised.value.to_error_obj()
    assert error["code"] == BYOK_ERROR and error["data"]["fix"] == "Set another key"
    assert TEST_KEY_OPENAI not in str(error)
