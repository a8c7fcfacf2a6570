"""A key read from the keychain is remembered for the process, and forgotten as soon as any byok process
stores, binds or deletes a key (or after `REMEMBER_S`): the request path skips a keychain call, never a change.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import keyring
import pytest
from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_OPENAI

from byok.core import keys as keys_module
from byok.core.keys import SERVICE, KeyRoute, KeyStore

ROUTE = KeyRoute("https://api.openai.com")
OTHER_ROUTE = KeyRoute("https://proxy.example")
ENV = ("OPENAI_API_KEY",)


@pytest.fixture
def changes(tmp_path: Path, keyring_file: Path) -> Path:
    return tmp_path / "data" / "byok" / "keys-changed"


def _store(changes: Path, environ: dict[str, str] | None = None) -> KeyStore:
    return KeyStore(environ={} if environ is None else environ, changes=changes)


def _secret(found: keys_module.Remembered | None) -> str | None:
    assert found is not None, "nothing remembered"
    return found.key.secret if found.key else None


def test_a_loaded_key_is_remembered_without_another_keychain_read(changes: Path) -> None:
    store = _store(changes)
    assert store.recall("openai", ENV) is None
    store.store("openai", TEST_KEY_OPENAI, ROUTE)
    assert store.load("openai", ENV) is not None
    keyring.set_password(SERVICE, "openai", "edited by another tool")  # not a byok change: not seen yet
    assert _secret(store.recall("openai", ENV)) == TEST_KEY_OPENAI
    assert store.recall("openai", ("OTHER_VAR",)) is None  # remembered per provider and env vars


def test_storing_deleting_or_binding_forgets_what_was_remembered(changes: Path) -> None:
    store = _store(changes, {"OPENAI_API_KEY": TEST_KEY_ANTHROPIC})
    store.store("openai", TEST_KEY_OPENAI, ROUTE)
    store.load("openai", ENV)
    store.store("openai", TEST_KEY_OPENAI + "x", OTHER_ROUTE)
    assert store.recall("openai", ENV) is None
    stored = store.load("openai", ENV)
    assert stored is not None and stored.route == OTHER_ROUTE

    store.delete("openai")
    assert store.recall("openai", ENV) is None
    from_env = store.load("openai", ENV)
    assert from_env is not None and from_env.source == "env" and from_env.route is None

    store.bind("openai", ROUTE, "OPENAI_API_KEY")
    assert store.recall("openai", ENV) is None
    bound = store.load("openai", ENV)
    assert bound is not None and bound.route == ROUTE
    assert store.recall("openai", ENV) is not None


def test_a_change_by_another_byok_process_is_seen_at_the_next_request(changes: Path) -> None:
    """The server remembers the key; `byok keys delete` in a terminal (another process) deletes it."""
    server = _store(changes)
    server.store("openai", TEST_KEY_OPENAI, ROUTE)
    assert server.load("openai", ENV) is not None
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from byok.core.keys import KeyStore
        KeyStore(environ={{}}, changes=Path({str(changes)!r})).delete("openai")
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert server.recall("openai", ENV) is None
    assert server.load("openai", ENV) is None
    assert server.recall("openai", ENV) is not None  # the absence is remembered too


def test_what_is_remembered_is_read_again_after_remember_s(
    changes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(changes)
    store.store("openai", TEST_KEY_OPENAI, ROUTE)
    store.load("openai", ENV)
    monkeypatch.setattr(keys_module, "REMEMBER_S", -1.0)
    assert store.recall("openai", ENV) is None


def test_a_read_overtaken_by_a_change_is_not_remembered(
    changes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load that read the old key while this process stored a new one must not leave the old one behind,
    even when the marker file cannot be rewritten."""
    changes.mkdir(parents=True)  # a folder where the marker file belongs: it stats, but cannot be written
    store = _store(changes)
    store.store("openai", TEST_KEY_OPENAI, ROUTE)
    store.load("openai", ENV)
    store.store("openai", TEST_KEY_OPENAI + "2", ROUTE)
    assert store.recall("openai", ENV) is None
    real_read = store._read

    def read_then_change(provider: str, env_vars: tuple[str, ...]) -> keys_module.StoredKey | None:
        found = real_read(provider, env_vars)
        store.store("openai", TEST_KEY_OPENAI + "new", ROUTE)  # lands while the read is in flight
        return found

    monkeypatch.setattr(store, "_read", read_then_change)
    store.load("openai", ENV)
    assert store.recall("openai", ENV) is None
