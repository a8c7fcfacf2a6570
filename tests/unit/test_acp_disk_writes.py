"""Files the ACP agent writes to disk itself (a client without fs/*): a new file gets the mode any program
would give it under the user's umask, an existing one keeps its own."""

from __future__ import annotations

import os
from pathlib import Path

from byok.acp.editor import _write_disk


def test_a_new_file_gets_the_umask_mode_and_an_old_one_keeps_its_mode(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    created = tmp_path / "src" / "new.py"
    _write_disk(created, "x = 1\n")
    assert created.stat().st_mode & 0o777 == 0o666 & ~mask
    assert created.read_text() == "x = 1\n"

    script = tmp_path / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o750)
    _write_disk(script, "echo new\n")
    assert script.stat().st_mode & 0o777 == 0o750 and script.read_text() == "echo new\n"
