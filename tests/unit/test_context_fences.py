"""Files put in a prompt are fenced so that their own backticks cannot close the fence early."""

from __future__ import annotations

from byok.workspace.files import ContextFile, fenced, format_files

README = "Run it:\n\n```sh\nmake\n```\n\nThen read the ````md```` notes.\n"


def test_a_file_holding_fences_gets_a_longer_fence() -> None:
    block = fenced(README)
    assert block == "`````\n" + README + "`````"


def test_format_files_fences_each_file_once() -> None:
    files = [ContextFile("file:///w/README.md", "/w/README.md", README), ContextFile("u", "/w/a.py", "x = 1")]
    assert (
        format_files(files) == f"File: /w/README.md\n`````\n{README}`````\n\nFile: /w/a.py\n```\nx = 1\n```"
    )
