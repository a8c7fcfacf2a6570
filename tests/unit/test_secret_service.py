"""Keys through the real OS keychain path: gnome-keyring's Secret Service under a private D-Bus session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from tests.conftest import TEST_KEY_OPENAI

pytestmark = pytest.mark.skipif(
    not (
        shutil.which("dbus-run-session")
        and shutil.which("gnome-keyring-daemon")
        and shutil.which("secret-tool")
    ),
    reason="needs Debian's dbus, gnome-keyring and libsecret-tools (tests/run.sh installs them)",
)

SCRIPT = textwrap.dedent(
    """
    import json, subprocess, sys
    import keyring
    from byok.core.keys import KeyRoute, KeyStore
    key = sys.stdin.read()
    print("backend", type(keyring.get_keyring()).__module__)
    store = KeyStore(environ={})
    print("stored", store.store("openai", key, KeyRoute("https://api.openai.com")).fingerprint)
    lookup = subprocess.run(["secret-tool", "lookup", "service", "byok", "username", "openai"],
                            capture_output=True, text=True)
    record = json.loads(lookup.stdout)
    print("in-secret-service", record["key"] == key, record["route"]["endpoint"])
    loaded = store.load("openai", ())
    print("loaded", loaded.source, loaded.secret == key, loaded.route.endpoint)
    print("deleted", store.delete("openai"), store.load("openai", ()) is None)
    """
)


def test_set_get_delete_through_secret_service(tmp_path: os.PathLike[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "PYTHON_KEYRING"))}
    env.update(
        PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring",
        HOME=str(tmp_path),
        XDG_DATA_HOME=str(tmp_path),
        XDG_RUNTIME_DIR=str(tmp_path),
    )
    shell = (
        "printf %s unlock-pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; "
        f'exec "{sys.executable}" -c "$BYOK_SCRIPT"'
    )
    env["BYOK_SCRIPT"] = SCRIPT
    result = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", shell],
        input=TEST_KEY_OPENAI,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "backend keyring.backends.SecretService" in lines
    assert "stored sk-proj-…1b2c" in lines
    assert "in-secret-service True https://api.openai.com" in lines
    assert "loaded keyring True https://api.openai.com" in lines
    assert "deleted True True" in lines
    assert TEST_KEY_OPENAI not in result.stdout + result.stderr


def test_no_keyring_backend_gives_a_fix_and_writes_nothing(tmp_path: os.PathLike[str]) -> None:
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring", HOME=str(tmp_path))
    env.pop("BYOK_TEST_KEYRING_FILE", None)
    result = subprocess.run(
        [sys.executable, "-m", "byok.cli", "--json", "keys", "set", "openai"],
        input=TEST_KEY_OPENAI,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "keyring_unavailable" in result.stdout
    assert "PYTHON_KEYRING_BACKEND" in result.stderr
    assert TEST_KEY_OPENAI not in result.stdout + result.stderr
    assert not list(tmp_path.iterdir()) or all("keyring" not in p.name for p in tmp_path.iterdir())
