"""`Backend.model_list`: whether each entry's provider has a key (stored, in the environment, the AWS chain's
files) or needs none."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import TEST_KEY_ANTHROPIC

from byok.base.config import load_settings
from byok.core.keys import KeyRoute
from byok.core.session import Backend

SETTINGS = {
    "providers": {
        "work": {
            "kind": "openai-compatible",
            "baseUrl": "https://llm.corp.example/v1",
            "apiKeyEnv": "WORK_KEY",
        }
    },
    "models": [
        {"id": "gpt-4.1", "provider": "openai"},
        {"id": "claude-sonnet-4-5", "provider": "anthropic"},
        {"id": "llama3.2", "provider": "ollama"},
        {
            "id": "claude-on-aws",
            "provider": "bedrock",
            "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        },
        {"id": "gateway", "provider": "work"},
        {"id": "ghost", "provider": "no-such-provider"},
    ],
}


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_PROFILE",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONFIG_FILE",
        "WORK_KEY",
    ):
        monkeypatch.delenv(name, raising=False)


async def has_key(backend: Backend) -> dict[str, bool]:
    try:
        return {entry["id"]: entry["hasKey"] for entry in await backend.model_list()}
    finally:
        await backend.aclose()


async def test_has_key_per_provider(
    keyring_file: Path, no_aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = Backend(load_settings(SETTINGS)[0])
    backend.keys.store("anthropic", TEST_KEY_ANTHROPIC, KeyRoute("https://api.anthropic.com"))
    assert await has_key(backend) == {
        "builtin-tab": True,
        "builtin-apply": True,
        "gpt-4.1": False,
        "claude-sonnet-4-5": True,  # stored
        "llama3.2": True,  # a local server needs none
        "claude-on-aws": False,  # no AWS credentials anywhere
        "gateway": False,
        "ghost": False,
    }
    monkeypatch.setenv("WORK_KEY", "work-TESTKEY-FAKE-0000")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    found = await has_key(Backend(load_settings(SETTINGS)[0]))
    assert found["gateway"] and found["claude-on-aws"]


async def test_aws_shared_files_count_for_bedrock(keyring_file: Path, no_aws: None, tmp_path: Path) -> None:
    aws = tmp_path / "home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "credentials").write_text("[default]\n")
    assert (await has_key(Backend(load_settings(SETTINGS)[0])))["claude-on-aws"] is True
