"""`byok-server` plus one debugging hook: on SIGUSR1 it writes its asyncio task count to a file.

Only the hostile suite starts the server this way (`python -m tests.hostile.instrumented_server`), to
count leaked tasks after hundreds of provider faults. The stats file is `$BYOK_HOSTILE_STATS`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from types import FrameType

from byok.lsp.server import main


def _dump_stats(signum: int, frame: FrameType | None) -> None:
    path = os.environ.get("BYOK_HOSTILE_STATS")
    if not path:
        return
    try:
        tasks = asyncio.all_tasks(asyncio.get_running_loop())
    except RuntimeError:  # the signal arrived outside the running loop
        return
    stats = {
        "tasks": len(tasks),
        "taskNames": sorted(t.get_coro().__qualname__ for t in tasks if t.get_coro() is not None),
        "threads": threading.active_count(),
    }
    with open(path + ".tmp", "w", encoding="utf-8") as out:
        json.dump(stats, out)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _dump_stats)
    main()
