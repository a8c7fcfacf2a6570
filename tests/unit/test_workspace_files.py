"""workspace/files.read_bounded, the one disk reader: what each of its two decoders says for each refusal."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from byok.base.errors import ByokError
from byok.workspace.errors import ToolError
from byok.workspace.files import MAX_FILE_BYTES, Unreadable, read_bounded, read_disk
from byok.workspace.jail import FileJail


def _directory(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _hard_linked(path: Path) -> None:
    path.write_text("x\n")
    os.link(path, path.with_name("other-name"))


def _too_large(path: Path) -> None:
    path.write_bytes(b"a" * (MAX_FILE_BYTES + 1))


CASES: list[tuple[str, Callable[[Path], None], str, str, str]] = [
    ("is_dir", _directory, "f is a directory", "f is a directory", "uri: f is not a regular file"),
    (
        "not_regular",
        _fifo,
        "f is not a regular file",
        "f is not a regular file",
        "uri: f is not a regular file",
    ),
    ("hard_link", _hard_linked, "f has 2 hard links", "f has 2 hard links", "uri: f has 2 hard links"),
    ("too_large", _too_large, "f is larger than 2 MB", "f is larger than 2 MB", "uri: f is larger than 2 MB"),
]


@pytest.mark.parametrize(("kind", "make", "reader", "tool", "jail"), CASES, ids=[c[0] for c in CASES])
def test_each_refusal_in_both_decoders(
    tmp_path: Path, kind: str, make: Callable[[Path], None], reader: str, tool: str, jail: str
) -> None:
    path = tmp_path / "f"
    make(path)
    with pytest.raises(Unreadable) as refused:
        read_bounded(path, "f")
    assert refused.value.kind == kind and refused.value.message.startswith(reader)
    with pytest.raises(ToolError) as tool_error:
        read_disk(path)
    assert str(tool_error.value).startswith(tool)
    with pytest.raises(ByokError) as jail_error:
        FileJail([tmp_path]).read_for_edit(path.as_uri(), "uri", 10 * MAX_FILE_BYTES)
    assert jail_error.value.message.startswith(jail)


def test_a_missing_file_is_none_for_tools_and_unreadable_for_the_jail(tmp_path: Path) -> None:
    path = tmp_path / "gone.txt"
    path.write_text("x\n")
    jail = FileJail([tmp_path])
    located = jail.locate(path.as_uri(), "uri")
    path.unlink()
    assert read_disk(path) is None
    with pytest.raises(ByokError) as refused:
        jail.read(located, "uri")
    assert refused.value.message == "uri: cannot read gone.txt: No such file or directory"


def test_text_decoding_differs_only_in_the_decoders(tmp_path: Path) -> None:
    binary, latin = tmp_path / "b.bin", tmp_path / "l.txt"
    binary.write_bytes(b"a\0b")
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(ToolError, match=r"b\.bin is a binary file"):
        read_disk(binary)
    with pytest.raises(ToolError, match=r"l\.txt is not UTF-8 text"):
        read_disk(latin)
    assert FileJail([tmp_path]).read_for_edit(latin.as_uri(), "uri", 1000).text == "caf\ufffd\n"


def test_a_symlink_inside_the_workspace_is_read_where_it_leads(tmp_path: Path) -> None:
    (tmp_path / "target.txt").write_text("through the link\n")
    (tmp_path / "link.txt").symlink_to("target.txt")
    assert read_disk(tmp_path / "link.txt") == "through the link\n"
    with pytest.raises(Unreadable) as refused:
        read_bounded(
            tmp_path / "link.txt", "link.txt"
        )  # the caller resolves: a symlink is never followed here
    assert refused.value.kind == "os_error"
