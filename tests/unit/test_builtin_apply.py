"""The built-in Apply model: the real-world case set, edit shape, line endings and UTF-16 positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byok.base.text import apply_edits
from byok.builtin.apply import ApplyResult, apply_snippet
from byok.builtin.apply_lines import is_marker

CASES = Path(__file__).resolve().parent.parent / "apply_cases"


def load(folder: Path) -> tuple[str, str, str, dict[str, object]]:
    """original, snippet, expected and metadata of one case directory."""

    def read(name: str) -> str:
        return (folder / name).read_bytes().decode("utf-8")

    return read("original"), read("snippet"), read("expected"), json.loads(read("case.json"))


CASE_DIRS = sorted(path for path in CASES.iterdir() if (path / "case.json").exists())


def check_consistent(original: str, result: ApplyResult) -> None:
    """The edits, applied as an editor would, give `new_text`; one edit per hunk."""
    assert apply_edits(original, result.edits) == result.new_text
    assert result.hunks == len(result.edits)


def test_case_set_is_large_and_varied() -> None:
    assert len(CASE_DIRS) >= 40
    extensions = {load(folder)[3]["ext"] for folder in CASE_DIRS}
    assert {"py", "ts", "go", "rs", "java", "html", "css", "yaml"} <= extensions


@pytest.mark.parametrize("folder", CASE_DIRS, ids=[d.name for d in CASE_DIRS])
def test_case(folder: Path) -> None:
    original, snippet, expected, meta = load(folder)
    path = meta.get("path")
    result = apply_snippet(original, snippet, path=path if isinstance(path, str) else None)
    check_consistent(original, result)
    assert result.new_text == expected
    assert bool(result.unresolved) == meta["unresolved"]


PY = "".join(f"def f{i}(x):\n    y = x + {i}\n    return y\n\n\n" for i in range(100))


def test_three_changed_lines_give_small_edits_not_a_file_rewrite() -> None:
    snippet = "# ... existing code ...\ndef f50(x):\n    y = x * 50\n    return y\n# ... existing code ...\n"
    result = apply_snippet(PY, snippet)
    check_consistent(PY, result)
    assert result.hunks == 1
    edit = result.edits[0]
    assert (edit.start_line, edit.end_line, edit.new_text) == (251, 252, "    y = x * 50\n")


def test_crlf_is_preserved_everywhere() -> None:
    original = PY.replace("\n", "\r\n")
    snippet = "# ...\ndef f3(x):\n    y = x + 3\n    z = y\n    return z\n# ...\n"
    result = apply_snippet(original, snippet)
    check_consistent(original, result)
    assert result.new_text.count("\n") == result.new_text.count("\r\n")
    assert "    z = y\r\n    return z\r\n" in result.new_text


def test_character_positions_count_utf16_code_units() -> None:
    original = 'icon = "\U0001f600"'  # no final newline: the edit must end at the line's end in UTF-16 units
    result = apply_snippet(original, 'icon = "\U0001f600"\nlabel = "smile"\n')
    check_consistent(original, result)
    assert result.new_text == 'icon = "\U0001f600"\nlabel = "smile"'
    edit = result.edits[0]
    assert (edit.start_line, edit.start_character) == (0, 11)  # 8 + a surrogate pair + the closing quote


def test_new_file_and_fence() -> None:
    result = apply_snippet("", "```ts\nexport const x = 1;\n```\n")
    assert result.new_text == "export const x = 1;\n"
    assert [(e.start_line, e.end_line) for e in result.edits] == [(0, 0)]


def test_markers_only_change_nothing() -> None:
    result = apply_snippet(PY, "# ... existing code ...\n")
    assert (result.edits, result.unresolved, result.new_text) == ([], [], PY)


@pytest.mark.parametrize(
    "line",
    [
        "# ... existing code ...",
        "    // ... rest of the file ...",
        "/* ... */",
        "<!-- ... existing markup ... -->",
        "...",
        "  {/* ... */}",
        "# ...existing code...",
        "-- ... other columns ...",
        "// existing methods …",
    ],
)
def test_marker_syntax(line: str) -> None:
    assert is_marker(line)


@pytest.mark.parametrize(
    "line",
    ['print("...")', "x = ...", "# TODO: call f(x) ... = later", "// see docs", "...rest = args", "pass"],
)
def test_not_markers(line: str) -> None:
    assert not is_marker(line)


def test_ambiguous_context_is_reported_not_guessed() -> None:
    original = "def a():\n    x = 1\n    return x\n\n\ndef b():\n    x = 1\n    return x\n"
    result = apply_snippet(original, "# ...\n    x = 2\n    return x\n# ...\n")
    assert result.new_text == original
    assert len(result.unresolved) == 1 and "x = 2" in result.unresolved[0]


LOOKALIKE_ORIGINAL = """def parse_header(value: str) -> str:
    cleaned = value.strip().lower()
    if not cleaned:
        raise ValueError("empty header")
    return cleaned


def parse_footer(value: str) -> str:
    trimmed = value.rstrip()
    return trimmed
"""


def test_lookalike_definition_with_placeable_context_is_inserted() -> None:
    snippet = """# ... existing code ...
    trimmed = value.rstrip()
    return trimmed


def parse_header_strict(value: str) -> str:
    cleaned = value.strip().lower()
    if not cleaned:
        raise ValueError("empty header")
    return cleaned
"""
    result = apply_snippet(LOOKALIKE_ORIGINAL, snippet)
    assert not result.unresolved
    assert result.new_text == LOOKALIKE_ORIGINAL + snippet.split("return trimmed\n", 1)[1]
    check_consistent(LOOKALIKE_ORIGINAL, result)


def test_lookalike_definition_with_vague_context_is_unresolved_not_overwriting() -> None:
    snippet = """# ... existing code ...
    return cleaned


def parse_header_strict(value: str) -> str:
    cleaned = value.strip().lower()
    if not cleaned:
        raise ValueError("empty header")
    return cleaned
# ... existing code ...
"""
    original = LOOKALIKE_ORIGINAL.replace("return trimmed", "return cleaned")
    result = apply_snippet(original, snippet)
    assert result.unresolved
    assert "def parse_header(value" in result.new_text and "def parse_footer(" in result.new_text
