"""The per-workspace prompt-cache key: stable, distinct per folder, and telling nothing about the folder."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from byok.core.cache_key import KEY_PREFIX, SECRET_FILE, CacheKeys, load_secret


async def test_one_stable_key_per_workspace_that_names_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    project = tmp_path / "acme-payments"
    other = tmp_path / "other"
    project.mkdir()
    other.mkdir()
    keys = CacheKeys(data)
    key = await keys.key_for(project)
    assert key is not None and key.startswith(KEY_PREFIX) and len(key) <= 64
    assert "acme" not in key and "payments" not in key and str(tmp_path) not in key
    assert await keys.key_for(project) == key
    assert await keys.key_for(project / "sub" / "..") == key  # the same folder, however it is spelled
    assert await CacheKeys(data).key_for(project) == key  # a new process, the same install: the same key
    assert await keys.key_for(other) != key
    assert await keys.key_for(None) not in (None, key)  # requests without a folder share one key
    # another install (another secret) gives the same folder another key: no guessable hash of a path
    assert await CacheKeys(tmp_path / "elsewhere").key_for(project) != key
    assert stat.S_IMODE((data / SECRET_FILE).stat().st_mode) == 0o600


async def test_an_unusable_data_dir_means_no_key_not_a_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert await CacheKeys(blocker / "data").key_for(tmp_path) is None


def test_a_damaged_secret_is_reported(tmp_path: Path) -> None:
    (tmp_path / SECRET_FILE).write_text("zz")
    with pytest.raises(OSError, match="damaged"):
        load_secret(tmp_path)


def test_processes_creating_the_secret_at_once_agree(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from byok.core.cache_key import load_secret; "
        "print(load_secret(Path(sys.argv[1])).hex())"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    secrets = {worker.communicate(timeout=60)[0].strip() for worker in workers}
    assert len(secrets) == 1 and len(secrets.pop()) == 64
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary file left behind


async def test_concurrent_requests_in_one_process_share_the_key(tmp_path: Path) -> None:
    keys = CacheKeys(tmp_path)
    found = await asyncio.gather(*(keys.key_for(tmp_path) for _ in range(10)))
    assert len(set(found)) == 1
