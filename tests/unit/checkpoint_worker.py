"""A separate process that writes checkpoints in a loop until it is killed, for test_checkpoints.py.

checkpoint_worker.py DIRECTORY BYTES   prints "saving N" before writing checkpoint N (BYTES of text in one
                                       file, all the same letter, so a torn write would show)
"""

from __future__ import annotations

import string
import sys
import time
from itertools import count
from pathlib import Path

from byok.base.config import CheckpointSettings
from byok.workspace.checkpoints import (
    Checkpoint,
    CheckpointStore,
    FileSnapshot,
    content_hash,
    new_checkpoint_id,
)


def main(directory: Path, size: int) -> None:
    store = CheckpointStore(directory, CheckpointSettings(max_count=4, max_mb=10_000))
    for number in count():
        letter = string.ascii_letters[number % len(string.ascii_letters)]
        text = letter * size
        files = (FileSnapshot("big.txt", text, content_hash(text)), FileSnapshot("new.txt", None, None))
        print(f"saving {number}", flush=True)
        store.save(Checkpoint(new_checkpoint_id(), time.time(), "agent", f"run {number}", files))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
