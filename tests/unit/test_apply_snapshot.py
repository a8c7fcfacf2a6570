"""Apply reads an open document's text and version at one moment: the Tab lane's thread may apply a
didChange at any time, and an edit computed on one version must not be labelled with the next."""

from __future__ import annotations

import asyncio
from pathlib import Path

from byok.features.apply import ApplyParams, apply_code
from byok.workspace.files import OpenDocument


class TypingUser:
    """A document lookup whose document moves on by one keystroke after every look."""

    def __init__(self, text: str) -> None:
        self.text, self.version = text, 1

    def __call__(self, uri: str) -> OpenDocument:
        seen = OpenDocument(self.text, self.version, "python")
        self.text, self.version = "# typed\n" + self.text, self.version + 1
        return seen


def test_apply_labels_its_edit_with_the_version_of_the_text_it_read(tmp_path: Path) -> None:
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    return a + b\n")
    documents = TypingUser(source.read_text())
    code = "def add(a, b):\n    return a + b + 0\n"

    answer = asyncio.run(apply_code(ApplyParams(uri=source.as_uri(), code=code), [tmp_path], documents))

    (change,) = answer["edit"]["documentChanges"]
    (edit,) = change["edits"]
    assert change["textDocument"]["version"] == 1
    assert edit["range"]["start"]["line"] == 1  # on version 1's text: version 2 has a line more on top
