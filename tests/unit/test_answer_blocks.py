"""Model answers as file blocks (composer, chat codeBlocks) and unified diffs applied by their context."""

from __future__ import annotations

from pathlib import Path

import pytest

from byok.builtin.answer_blocks import AnswerBlock, looks_like_path, parse_answer
from byok.builtin.patch import apply_patch, parse_unified_diff
from byok.features.composer import merge_blocks
from byok.workspace.jail import Workspace


def named(answer: str) -> list[tuple[str, str | None, str]]:
    return [(b.kind, b.path, b.code) for b in parse_answer(answer)]


def test_the_asked_format_and_its_variants() -> None:
    answer = """Plan: change two files.

```python
# an example, not a file
```

### FILE: `src/app.py`
```python
def main():
    # ... existing code ...
    helper()
```

**FILE: ./src/util.py**

````markdown
```sh
echo hi
```
````
DELETE: old.py
```ts:web/a.ts
export const a = 1;
```
FILE: missing-code.py
just prose, no fence
"""
    assert named(answer) == [
        ("code", None, "# an example, not a file\n"),
        ("code", "src/app.py", "def main():\n    # ... existing code ...\n    helper()\n"),
        ("code", "src/util.py", "```sh\necho hi\n```\n"),
        ("delete", "old.py", ""),
        ("code", "web/a.ts", "export const a = 1;\n"),
    ]


def test_crlf_unclosed_and_empty_fences() -> None:
    assert named("FILE: a.py\r\n```\r\nx = 1\r\n```\r\n") == [("code", "a.py", "x = 1\n")]
    assert named("FILE: b.py\n```\nlast = True") == [("code", "b.py", "last = True\n")]
    assert named("FILE: empty.py\n```\n```") == [("code", "empty.py", "")]
    assert named("No files here.") == []


@pytest.mark.parametrize(
    "header",
    [
        "### src/app.py",
        "## src/app.py",
        "# `src/app.py`",
        "**src/app.py**",
        "**`src/app.py`**",
        "`src/app.py`",
        "`src/app.py`:",
        "src/app.py:",
        "### src/app.py (new file)",
        "Update `src/app.py`:",
        "### File: src/app.py",
    ],
)
def test_a_header_line_right_before_the_fence_names_the_file(header: str) -> None:
    for gap in ("\n", "\n\n"):
        answer = f"Here is the change.\n\n{header}{gap}```python\nx = 2\n```\n"
        assert named(answer) == [("code", "src/app.py", "x = 2\n")], (header, gap)


@pytest.mark.parametrize(
    ("info", "language"),
    [
        ("python src/app.py", "python"),
        ("python:src/app.py", "python"),
        ("src/app.py", ""),
        ('python title="src/app.py"', "python"),
        ("python filename=src/app.py", "python"),
    ],
)
def test_the_fence_info_string_names_the_file(info: str, language: str) -> None:
    [block] = parse_answer(f"```{info}\nx = 2\n```")
    assert (block.language, block.path, block.code) == (language, "src/app.py", "x = 2\n")


@pytest.mark.parametrize(
    ("first_line", "language", "path"),
    [
        ("# src/app.py", "python", "src/app.py"),
        ("# filepath: src/app.py", "python", "src/app.py"),
        ("// web/a.ts", "ts", "web/a.ts"),
        ("// File: web/a.ts", "typescript", "web/a.ts"),
        ("<!-- site/index.html -->", "html", "site/index.html"),
        ("/* styles/main.css */", "css", "styles/main.css"),
        ("-- db/schema.sql", "sql", "db/schema.sql"),
    ],
)
def test_a_first_line_comment_names_the_file(first_line: str, language: str, path: str) -> None:
    [block] = parse_answer(f"Sure:\n\n```{language}\n{first_line}\nbody()\n```")
    assert block.path == path
    assert block.code == f"{first_line}\nbody()\n"  # the line stays: Apply drops it when the file lacks it


@pytest.mark.parametrize(
    "answer",
    [
        "Note the change below.\n\n```python\nx = 1\n```",
        "## Explanation\n\n```python\nx = 1\n```",
        "```python\n# Compute the total price\ntotal = 1\n```",
        "```python\n# e.g. something\nx = 1\n```",
        "Here is how to call `setup.py`:\n\n```bash\npython setup.py install\n```",
        "```bash\n# scripts/run.py\npython scripts/run.py\n```",
        "See https://example.com/a.py:\n```python\nx = 1\n```",
    ],
)
def test_prose_comments_and_commands_name_no_file(answer: str) -> None:
    assert [b.path for b in parse_answer(answer)] == [None]


def test_a_file_line_beats_every_weaker_name() -> None:
    answer = "FILE: real.py\n```python other.py\n# third.py\nx = 1\n```"
    assert named(answer) == [("code", "real.py", "# third.py\nx = 1\n")]


def test_unified_diffs_are_diff_blocks_with_their_own_headers() -> None:
    answer = "```diff\n--- a/src/app.py\n+++ b/src/app.py\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n```\n"
    [block] = parse_answer(answer)
    assert block.kind == "diff" and block.path is None
    [patch] = parse_unified_diff(block.code)
    assert (patch.old_path, patch.new_path, patch.hunks[0].old, patch.hunks[0].new) == (
        "src/app.py",
        "src/app.py",
        ["a", "b"],
        ["a", "c"],
    )
    bare = parse_answer("```\n--- x.py\n+++ x.py\n@@ @@\n-a\n+b\n```")
    assert bare[0].kind == "diff"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("src/app.py", True),
        ("Makefile", True),
        (".env", True),
        ("a/b/c", True),
        ("hello", False),
        ("e.g.", False),
        ("1.5", False),
        ("two words.py", False),
        ("https://x.org/a.py", False),
        ("", False),
    ],
)
def test_looks_like_path(text: str, expected: bool) -> None:
    assert looks_like_path(text) is expected


def test_blocks_know_their_line() -> None:
    blocks = parse_answer("intro\n\n```py\nx\n```\nDELETE: y.py\n")
    assert [(b.kind, b.line) for b in blocks] == [("code", 3), ("delete", 6)]
    assert isinstance(blocks[0], AnswerBlock)


# -- patches ----------------------------------------------------------------------------------------------

SOURCE = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"


def patched(diff: str, text: str = SOURCE) -> tuple[str, list[str]]:
    [patch] = parse_unified_diff(diff, "x.py")
    return apply_patch(text, patch)


def test_a_hunk_is_placed_by_its_context_whatever_its_numbers_say() -> None:
    diff = "@@ -40,2 +40,2 @@\n def b():\n-    return 2\n+    return 3\n"
    assert patched(diff) == (SOURCE.replace("return 2", "return 3"), [])
    no_numbers = "@@ @@\n def b():\n-    return 2\n+    return 3\n"
    assert patched(no_numbers)[0] == SOURCE.replace("return 2", "return 3")


def test_blank_context_lines_without_their_space_and_several_hunks() -> None:
    diff = "@@ -1,4 +1,4 @@\n def a():\n-    return 1\n+    return 10\n\n\n@@ -5,2 +5,3 @@\n def b():\n     return 2\n+# end\n"
    assert patched(diff) == (
        "def a():\n    return 10\n\n\ndef b():\n    return 2\n# end\n",
        [],
    )


def test_ambiguous_or_missing_context_is_reported_never_guessed() -> None:
    twice = "x = 1\ny = 2\nx = 1\n"
    diff = "@@ @@\n-x = 1\n+x = 5\n"
    assert patched(diff, twice) == (twice, ["hunk 1: not applied, its context appears 2 times"])
    assert patched("@@ -3,1 +3,1 @@\n-x = 1\n+x = 5\n", twice)[0] == "x = 1\ny = 2\nx = 5\n"
    missing = "@@ @@\n-nothing here\n+z\n"
    assert patched(missing) == (
        SOURCE,
        ["hunk 1: not applied, its context and removed lines are not in the file"],
    )


def test_crlf_files_keep_their_line_ends_and_indentation_slips_are_forgiven() -> None:
    crlf = SOURCE.replace("\n", "\r\n")
    diff = "@@ @@\n def b():\n-    return 2\n+    return 3\n"
    assert patched(diff, crlf)[0] == crlf.replace("return 2", "return 3")
    shifted = "@@ @@\n  def b():\n-     return 2\n+     return 3\n"
    assert patched(shifted)[0] == SOURCE.replace("return 2", "return 3")


def test_creating_and_deleting_files() -> None:
    [created] = parse_unified_diff("--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+a\n+b\n")
    assert (created.old_path, created.new_path) == (None, "new.py")
    assert apply_patch("", created) == ("a\nb\n", [])
    [deleted] = parse_unified_diff("--- a/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n")
    assert (deleted.path, deleted.new_path) == ("old.py", None)


def test_overlapping_hunks_are_reported() -> None:
    diff = "@@ @@\n def a():\n-    return 1\n+    return 10\n@@ @@\n-    return 1\n+    return 11\n"
    assert patched(diff)[1] == ["hunk 2: not applied, it overlaps an earlier hunk"]


def test_a_multi_file_git_diff() -> None:
    diff = (
        "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
        "diff --git a/y.py b/y.py\n--- a/y.py\n+++ b/y.py\n@@ -1 +1 @@\n-c\n+d\n"
    )
    assert [(p.path, len(p.hunks)) for p in parse_unified_diff(diff)] == [("x.py", 1), ("y.py", 1)]


# -- composer's tying of blocks to files ------------------------------------------------------------------


def test_bare_names_and_a_lone_unnamed_block_are_tied_to_the_files_in_context(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def f():\n    return 1\n")
    (tmp_path / "README.md").write_text("# Title\n\ntop\n")
    workspace = Workspace(tmp_path)
    context = ["src/app.py"]
    bare = merge_blocks(
        workspace, parse_answer("### app.py\n```python\ndef f():\n    return 2\n```"), context
    )
    assert [f.path for f in bare.changes.summary()] == ["src/app.py"]
    at_root = merge_blocks(
        workspace, parse_answer("### README.md\n```md\n# Title\n\nnew\n```"), ["docs/README.md"]
    )
    assert [f.path for f in at_root.changes.summary()] == ["README.md"]
    lone = merge_blocks(workspace, parse_answer("Here:\n```python\ndef f():\n    return 3\n```"), context)
    assert [f.path for f in lone.changes.summary()] == ["src/app.py"] and not lone.untied
    two = merge_blocks(workspace, parse_answer("```python\nx = 3\n```\n```python\nx = 4\n```"), context)
    assert not two.changes.summary() and len(two.untied) == 2
    command = merge_blocks(workspace, parse_answer("```bash\npytest\n```"), context)
    assert not command.changes.summary() and command.untied[0]["language"] == "bash"
