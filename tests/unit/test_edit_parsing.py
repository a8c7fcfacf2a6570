"""Parsing model answers: inline edit code extraction and reindenting, ranges."""

from __future__ import annotations

import pytest

from byok.features.inline_edit import (
    CodeExtractor,
    InlineEditParams,
    Reindenter,
    ReplacementSink,
    locate,
)

# -- inline edit: code extraction --------------------------------------------------------------------------


def extract_code(answer: str) -> str:
    """The code of a whole answer (what `CodeExtractor` streams), lines joined with `\\n`."""
    extractor = CodeExtractor()
    return "\n".join([*extractor.feed(answer), *extractor.finish()])


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("x = 1\ny = 2\n", "x = 1\ny = 2"),
        ("```python\nx = 1\n```", "x = 1"),
        (
            "Sure! Here is the updated code:\n\n```py\nx = 1\n\ny = 2\n```\n\nThis renames it.",
            "x = 1\n\ny = 2",
        ),
        ("~~~\nx\n~~~\n", "x"),
        ("````md\n```js\na()\n```\n````\nafter", "```js\na()\n```"),
        ("```\nunclosed = True\n", "unclosed = True"),
        ("\n\n  indented()\n\n\n", "  indented()"),
        (
            "Note: this line is the Markdown text.\nMore text.",
            "Note: this line is the Markdown text.\nMore text.",
        ),
        ("x = 1\r\ny = 2\r\n", "x = 1\ny = 2"),
        ("", ""),
    ],
)
def test_extract_code(answer: str, code: str) -> None:
    assert extract_code(answer) == code


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_streamed_extraction_matches_the_whole(size: int) -> None:
    answer = "Here you go:\n```python\ndef f():\n    return 1\n\n```\nDone."
    extractor = CodeExtractor()
    lines: list[str] = []
    for i in range(0, len(answer), size):
        lines += extractor.feed(answer[i : i + size])
    lines += extractor.finish()
    assert "\n".join(lines) == extract_code(answer) == "def f():\n    return 1"


def test_reindent_moves_the_block_keeping_relative_indents() -> None:
    reindent = Reindenter("        ")
    assert [reindent(x) for x in ["if x:", "    y()", "  ", "z()"]] == [
        "        if x:",
        "            y()",
        "",
        "        z()",
    ]
    deeper = Reindenter("")
    assert [deeper(x) for x in ["    a", "        b", "c"]] == ["a", "    b", "c"]
    assert Reindenter(None)("   keep") == "   keep"


class Collect:
    def __init__(self) -> None:
        self.deltas: list[tuple[str, str]] = []

    def delta(self, kind: str, text: str) -> None:
        self.deltas.append((kind, text))


def test_replacement_sink_streams_exactly_the_new_text() -> None:
    out = Collect()
    sink = ReplacementSink(out, Reindenter("    "), "\r\n", trailing_newline=True)
    for piece in ["```py\nif a:\n", "    b()\n", "```\nbye"]:
        sink.delta("text", piece)
    sink.delta("status", "still here")
    new_text = sink.finish()
    assert new_text == "    if a:\r\n        b()\r\n"
    assert "".join(t for k, t in out.deltas if k == "text") == new_text
    assert ("status", "still here") in out.deltas


# -- inline edit: ranges ----------------------------------------------------------------------------------------


def params(start: tuple[int, int], end: tuple[int, int]) -> InlineEditParams:
    return InlineEditParams.model_validate(
        {
            "uri": "file:///x.py",
            "range": {
                "start": {"line": start[0], "character": start[1]},
                "end": {"line": end[0], "character": end[1]},
            },
            "instruction": "x",
        }
    )


TEXT = "def f():\n    s = '😀é' + x\n    return s\n"


def test_locate_counts_utf16_units() -> None:
    line = TEXT.splitlines()[1]
    column = len(line[: line.index("x")].encode("utf-16-le")) // 2
    selection = locate(TEXT, params((1, column), (1, column + 1)))
    assert TEXT[selection.start : selection.end] == "x"
    assert selection.indent is None and selection.start_character == column


def test_locate_whole_lines_and_insertions() -> None:
    whole = locate(TEXT, params((1, 2), (3, 0)))
    assert (whole.start_line, whole.start_character, whole.indent, whole.trailing_newline) == (
        1,
        0,
        "    ",
        True,
    )
    assert TEXT[whole.start : whole.end] == "    s = '😀é' + x\n    return s\n"
    before_code = locate(TEXT, params((2, 4), (2, 4)))
    assert (before_code.start, before_code.end) == (TEXT.index("    return"),) * 2
    assert before_code.trailing_newline and before_code.cursor == TEXT.index("return")
    at_end = locate(TEXT, params((3, 0), (3, 0)))
    assert at_end.start == len(TEXT) and at_end.indent is None and not at_end.trailing_newline


def test_range_order_is_validated() -> None:
    with pytest.raises(ValueError, match="before its start"):
        params((2, 0), (1, 0))
