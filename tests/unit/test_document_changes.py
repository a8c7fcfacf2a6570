"""Tab's lane applies `didChange` changes by slicing (lsp/tab_lane.py `apply_change`): the text must be the
one pygls' own incremental change gives, for every range, and the kept head and tail must be true."""

from __future__ import annotations

import copy
import random

from lsprotocol import types
from pygls.workspace import TextDocument

from byok.lsp.tab_lane import apply_change

PIECES = ["x = 1", "", "    return y", "\r", "é😋", "\u2028", "\x0c", "if a:\t", "😋😋"]


def _document(text: str) -> TextDocument:
    return TextDocument("file:///d.py", text, version=1, sync_kind=types.TextDocumentSyncKind.Incremental)


def _change(rng: random.Random, lines: int) -> types.TextDocumentContentChangePartial:
    def position() -> types.Position:
        return types.Position(line=rng.randrange(lines + 2), character=rng.choice([0, 1, 2, 5, 9, 40]))

    start, end = position(), position()
    if rng.random() < 0.8 and (start.line, start.character) > (end.line, end.character):
        start, end = end, start
    text = "".join(rng.choice([*PIECES, "\n", "\r\n", "a"]) for _ in range(rng.choice([0, 1, 3])))
    return types.TextDocumentContentChangePartial(range=types.Range(start=start, end=end), text=text)


def test_the_text_is_pygls_own_and_the_kept_ends_are_true() -> None:
    rng = random.Random(11)
    for _ in range(40):
        text = "".join(rng.choice(PIECES) + rng.choice(["\n", "\r\n", ""]) for _ in range(rng.randrange(12)))
        ours, theirs = _document(text), _document(text)
        for _ in range(25):
            change = _change(rng, len(theirs.lines))
            before = ours.source
            head, tail = apply_change(ours, copy.deepcopy(change))  # pygls clamps positions in place
            theirs.apply_change(change)
            assert ours.source == theirs.source
            after = ours.source
            assert head + tail <= len(after)
            assert after[:head] == before[:head]
            assert after[len(after) - tail :] == before[len(before) - tail :]


def test_a_whole_document_change_replaces_the_text_and_keeps_nothing_known() -> None:
    document = _document("a\nb\n")
    kept = apply_change(document, types.TextDocumentContentChangeWholeDocument(text="c\n"))
    assert (document.source, kept) == ("c\n", (0, 0))
