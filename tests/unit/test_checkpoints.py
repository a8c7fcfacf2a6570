"""The checkpoint store: round trip, newest first, bounds, damaged files, an unwritable store, kill -9."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from byok.base.config import CheckpointSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.workspace.checkpoints import (
    Checkpoint,
    CheckpointStore,
    FileSnapshot,
    content_hash,
    new_checkpoint_id,
    workspace_key,
)

WORKER = Path(__file__).with_name("checkpoint_worker.py")


def checkpoint(summary: str, text: str | None = "old\n", created_at: float | None = None) -> Checkpoint:
    files = (
        FileSnapshot("src/app.py", text, content_hash("new\n")),
        FileSnapshot("src/created.py", None, content_hash("made\n")),
    )
    return Checkpoint(new_checkpoint_id(), created_at or time.time(), "agent", summary, files)


def store(tmp_path: Path, **settings: float) -> CheckpointStore:
    return CheckpointStore.for_workspace(
        tmp_path / "ws", CheckpointSettings(**settings), base=tmp_path / "data"
    )


def test_round_trip_newest_first_and_per_workspace(tmp_path: Path) -> None:
    checkpoints = store(tmp_path)
    first, second = checkpoint("first", "héllo 😀\r\n"), checkpoint("second")
    checkpoints.save(first)
    checkpoints.save(second)
    listed = checkpoints.list()
    assert [c["summary"] for c in listed] == ["second", "first"]
    assert listed[1] == {
        "id": first.id,
        "createdAt": listed[1]["createdAt"],
        "feature": "agent",
        "summary": "first",
        "files": ["src/app.py", "src/created.py"],
    }
    assert listed[1]["createdAt"].endswith("+00:00")
    assert checkpoints.load(first.id) == first
    assert (
        checkpoints.directory.name == workspace_key(tmp_path / "ws")
        and "ws" not in checkpoints.directory.name
    )
    assert store(tmp_path).load(second.id) == second
    other = CheckpointStore.for_workspace(tmp_path / "other", CheckpointSettings(), base=tmp_path / "data")
    assert other.list() == []
    with pytest.raises(ByokError) as error:
        other.load(first.id)
    assert error.value.code == ErrorCode.CHECKPOINT_NOT_FOUND
    assert oct(os.stat(checkpoints.directory / f"{first.id}.checkpoint").st_mode & 0o777) == "0o600"


def test_saving_again_under_the_same_id_replaces_it(tmp_path: Path) -> None:
    checkpoints = store(tmp_path)
    original = checkpoint("run")
    checkpoints.save(original)
    extended = Checkpoint(
        original.id, original.created_at, "agent", "run", (*original.files, FileSnapshot("b", "B", None))
    )
    checkpoints.save(extended)
    assert [c["files"] for c in checkpoints.list()] == [["src/app.py", "src/created.py", "b"]]
    assert checkpoints.load(original.id) == extended


def test_the_oldest_are_dropped_beyond_max(tmp_path: Path) -> None:
    checkpoints = store(tmp_path, max_count=3)
    saved = [checkpoint(f"c{i}") for i in range(5)]
    for item in saved:
        checkpoints.save(item)
    assert [c["summary"] for c in checkpoints.list()] == ["c4", "c3", "c2"]
    with pytest.raises(ByokError) as error:
        checkpoints.load(saved[0].id)
    assert (
        error.value.code == ErrorCode.CHECKPOINT_NOT_FOUND and "dropped as the oldest" in error.value.message
    )


def test_the_oldest_are_dropped_beyond_max_mb_but_never_the_newest(tmp_path: Path) -> None:
    checkpoints = store(tmp_path, max_mb=0.01)  # 10,485 bytes
    for i in range(4):
        checkpoints.save(checkpoint(f"small{i}", "x" * 3000))
    assert [c["summary"] for c in checkpoints.list()] == ["small3", "small2", "small1"]
    huge = checkpoint("huge", "y" * 20_000)
    checkpoints.save(huge)
    assert [c["summary"] for c in checkpoints.list()] == ["huge"]
    assert checkpoints.load(huge.id).files[0].before == "y" * 20_000


def test_damaged_files_are_skipped_and_stale_temporaries_removed(tmp_path: Path) -> None:
    checkpoints = store(tmp_path)
    good = checkpoint("good")
    checkpoints.save(good)
    damaged = new_checkpoint_id()
    (checkpoints.directory / f"{damaged}.checkpoint").write_text('{"format": 1, "id": "')
    stale = checkpoints.directory / ".x.1.tmp"
    fresh = checkpoints.directory / ".y.2.tmp"
    stale.write_text("partial")
    fresh.write_text("partial")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert [c["id"] for c in checkpoints.list()] == [good.id]
    with pytest.raises(ByokError) as error:
        checkpoints.load(damaged)
    assert error.value.code == ErrorCode.CHECKPOINT_NOT_FOUND and "damaged" in error.value.message
    for bad_id in ("../../etc/passwd", "1", ""):
        with pytest.raises(ByokError) as error:
            checkpoints.load(bad_id)
        assert error.value.code == ErrorCode.CHECKPOINT_NOT_FOUND
    checkpoints.save(checkpoint("next"))
    assert not stale.exists() and fresh.exists(), "a writer that may still run keeps its temporary file"


def test_an_unwritable_store_is_checkpoint_unavailable(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the directory belongs")
    with pytest.raises(ByokError) as error:
        store(tmp_path).save(checkpoint("x"))
    assert error.value.code == ErrorCode.CHECKPOINT_UNAVAILABLE
    assert str(tmp_path / "data") in error.value.cause


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_kill_9_during_writes_leaves_the_store_readable(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    size = 4 * 1024 * 1024
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    rng = random.Random(1234)
    temporaries_left = 0
    for round_number in range(6):
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), str(directory), str(size)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert worker.stdout is not None
        for _ in range(2 + round_number % 3):
            assert worker.stdout.readline().startswith("saving")
        if round_number % 2:  # at a random moment
            time.sleep(rng.uniform(0, 0.03))
        else:  # as soon as a temporary file shows: mid-write
            deadline = time.monotonic() + 30
            while not any(name.endswith(".tmp") for name in os.listdir(directory)):
                assert time.monotonic() < deadline, "the worker never wrote"
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert worker.returncode == -signal.SIGKILL
        temporaries_left += len(list(directory.glob(".*.tmp")))
        checkpoints = CheckpointStore(directory, CheckpointSettings(max_count=100, max_mb=10_000))
        listed = checkpoints.list()
        assert listed, "the checkpoints written before the kill are there"
        for info in listed:
            loaded = checkpoints.load(info["id"])
            text = loaded.files[0].before
            assert text is not None and len(text) == size and text == text[0] * size, "never a torn file"
            assert loaded.files[1].before is None
    assert temporaries_left >= 1, "some kill landed mid-write (a temporary file was left behind)"
