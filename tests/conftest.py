"""Shared fixtures: an isolated keyring file, environment for server subprocesses, and fake providers."""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

# Chosen before keyring is first used, for this process and every subprocess it starts.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
# No test probes whatever happens to listen on this machine's Ollama/LM Studio/llama.cpp/vLLM ports: the
# discovery tests point BYOK_LOCAL_SERVERS at their own fakes.
os.environ["BYOK_LOCAL_SERVERS"] = ""

from tests.fakes import FakeServer

REPO = Path(__file__).resolve().parent.parent
TEST_KEY_OPENAI = "sk-proj-TESTKEY0openai0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1b2c"
TEST_KEY_ANTHROPIC = "sk-ant-api03-TESTKEY0anthropic0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb9z8y"
TEST_KEY_GOOGLE = "AIzaTESTKEY0google0cccccccccccccccccc"
TEST_KEY_AZURE = "0123456789abcdef0123456789abTEST"
TEST_KEY_COMPAT = "local-TESTKEY-compat-dddddddddddddddd"
ALL_TEST_KEYS = (TEST_KEY_OPENAI, TEST_KEY_ANTHROPIC, TEST_KEY_GOOGLE, TEST_KEY_AZURE, TEST_KEY_COMPAT)


@pytest.fixture
def keyring_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Selects the shared-file test keyring for this process and every subprocess."""
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
    monkeypatch.setenv("BYOK_TEST_KEYRING_FILE", str(path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    for name in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "AZURE_OPENAI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def server_env(keyring_file: Path, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return env


SERVER_COMMAND = [sys.executable, "-m", "byok"]


def _json_escaped(text: str) -> set[str]:
    """`text` in a JSON string: `/` as `\\/`, or every non-alphanumeric as `\\uXXXX` (either hex case)."""
    forms = {json.dumps(text)[1:-1].replace("/", "\\/")}
    for hex_case in ("04x", "04X"):
        forms.add("".join(c if c.isalnum() else f"\\u{ord(c):{hex_case}}" for c in text))
    return forms


def key_forms(key: str) -> set[str]:
    """`key` as a leak would show it: raw, percent-encoded, hex, JSON-escaped, base64 (either alphabet).

    For base64 the needle is the run made of the key's bits alone at each of the three byte alignments,
    so base64 of `user:key` (Basic auth), with or without padding, is found too.
    """
    raw = key.encode()
    forms = {key, raw.hex(), raw.hex().upper(), *_json_escaped(key)}
    for quoted in (quote(key, safe=""), quote(key), quote_plus(key, safe="")):
        forms |= {quoted, re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quoted)}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        run = encoded[(8 * offset + 5) // 6 : 8 * (offset + len(raw)) // 6]
        for alphabet in (run, run.translate(str.maketrans("+/", "-_"))):
            forms |= {alphabet, quote(alphabet, safe=""), *_json_escaped(alphabet)}
    return forms


def _leak_needles() -> list[str]:
    from tests.fakes_bedrock import API_KEY, SECRET_KEY, SESSION_TOKEN

    keys = [*ALL_TEST_KEYS, SECRET_KEY, SESSION_TOKEN, API_KEY]
    return sorted({form for key in keys for form in key_forms(key)})


LEAK_NEEDLES = _leak_needles()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """The suite-wide leak scan: no test key (in any of its `key_forms`) in any captured output or log."""
    outcome = yield
    report = outcome.get_result()
    captured = "\n".join(content for _, content in report.sections)
    leaked = [needle[:12] + "…" for needle in LEAK_NEEDLES if needle in captured]
    if leaked and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = f"API key leaked into captured output/logs during {report.when}: {leaked}"
