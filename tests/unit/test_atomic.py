"""`write_atomic`: the new content replaces the old whole, with the mode asked for, and leaves no temporary file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from byok.base.atomic import write_atomic


def test_replaces_the_file_and_keeps_text_as_utf8_with_its_newlines(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("old\n")
    write_atomic(target, "naïve\r\nline\n")
    assert target.read_bytes() == "naïve\r\nline\n".encode()
    write_atomic(target, b"\x00bytes", durable=False)
    assert target.read_bytes() == b"\x00bytes"
    assert os.listdir(tmp_path) == ["notes.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_new_file_is_private_unless_a_mode_is_given(tmp_path: Path) -> None:
    private, shared = tmp_path / "private", tmp_path / "shared"
    write_atomic(private, "x")
    write_atomic(shared, "x", mode=0o644)
    assert private.stat().st_mode & 0o777 == 0o600
    assert shared.stat().st_mode & 0o777 == 0o644


def test_a_failed_replace_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert (target / "inside").read_text() == "kept"
    assert sorted(os.listdir(tmp_path)) == ["occupied"]
