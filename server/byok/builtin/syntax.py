"""Syntax-aware definition ends for Apply, on the tree-sitter grammars of `tree-sitter-language-pack`.

`Syntax.block_end(header)` is the last line of the definition (function, class, method, element) that
starts on line `header` of the file, read from a parse tree rather than from indentation. Only the lines
from the header on are parsed (dedented by the header's indentation, the window doubled while the
definition reaches its end), so the cost follows the block, not the file. When the grammar wheels are
missing, the language has no grammar, the line starts no definition or its parse has errors, the answer
is None and Apply falls back to its text rules.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from byok.builtin.apply_lines import indent_width

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

__all__ = ["Syntax", "grammar_for"]

_BY_LANGUAGE_ID = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "go": "go",
    "rust": "rust",
    "c": "c",
    "cpp": "cpp",
    "java": "java",
    "ruby": "ruby",
    "lua": "lua",
    "shellscript": "bash",
    "perl": "perl",
    "php": "php",
    "css": "css",
    "scss": "scss",
    "html": "html",
    "kotlin": "kotlin",
    "swift": "swift",
    "scala": "scala",
    "emacs-lisp": "elisp",
}
_BY_EXTENSION = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".java": "java",
    ".rb": "ruby",
    ".lua": "lua",
    ".sh": "bash",
    ".bash": "bash",
    ".pl": "perl",
    ".pm": "perl",
    ".php": "php",
    ".css": "css",
    ".scss": "scss",
    ".html": "html",
    ".htm": "html",
    ".kt": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".el": "elisp",
}

_DEFINITIONS = (
    "function",
    "method",
    "class",
    "definition",
    "declaration",
    "struct",
    "impl",
    "interface",
    "element",
    "rule_set",
    "subroutine",
)
"""Node kinds whose end the grammar is asked for (statements such as if/else chains keep the text rule, whose
block is the header's own clause)."""

_CLASS_OPENING = {
    "javascript": "class _ {",
    "typescript": "class _ {",
    "tsx": "class _ {",
    "php": "<?php class _ {",
}
"""How a class body opens, for grammars whose methods parse only inside one."""

_WINDOW = 200
"""Lines parsed first from a header; doubled while the construct reaches the window's end."""


def grammar_for(language_id: str | None, path: str | None) -> str | None:
    """The tree-sitter grammar name for an LSP language id or, failing that, a file's extension."""
    if language_id and language_id in _BY_LANGUAGE_ID:
        return _BY_LANGUAGE_ID[language_id]
    if path:
        return _BY_EXTENSION.get(os.path.splitext(path)[1].lower())
    return None


@lru_cache(maxsize=32)
def _parser(grammar: str) -> Parser | None:
    """The parser for `grammar`, or None when the grammar wheels are not installed."""
    try:
        from tree_sitter_language_pack import get_parser
    except ImportError:
        return None
    return get_parser(grammar)  # type: ignore[arg-type]


class Syntax:
    """Block ends of one file's lines by its grammar; each answer is computed once."""

    def __init__(self, lines: list[str], parser: Parser, member_of: str | None = None) -> None:
        self._lines = lines
        self._parser = parser
        self._member_of = member_of
        self._ends: dict[int, int | None] = {}

    @staticmethod
    def for_file(lines: list[str], grammar: str | None) -> Syntax | None:
        """The syntax view of `lines`, or None without a grammar (Apply then reads blocks from text)."""
        parser = _parser(grammar) if grammar else None
        return (
            None if parser is None or grammar is None else Syntax(lines, parser, _CLASS_OPENING.get(grammar))
        )

    def block_end(self, header: int) -> int | None:
        """Last line of the multi-line construct starting on line `header`; None when the parse cannot tell."""
        if header not in self._ends:
            self._ends[header] = self._block_end(header)
        return self._ends[header]

    def _block_end(self, header: int) -> int | None:
        lines = self._lines
        if not lines[header].strip():
            return None
        width = indent_width(lines[header])
        openings = [None] if self._member_of is None else [None, self._member_of]
        for opening in openings:
            size = _WINDOW
            while True:
                window = [_dedent(line, width) for line in lines[header : header + size]]
                whole = header + size >= len(lines)
                node = self._outermost(window, opening)
                if node is None:
                    break
                last = node.end_point.row - (node.end_point.column == 0) - (opening is not None)
                if last <= 0:
                    break
                if last < len(window) - 1 or whole:
                    return header + last
                size *= 2
        return None

    def _outermost(self, window: list[str], opening: str | None) -> Node | None:
        """The largest error-free node starting on the window's first line, below the root; with
        `opening`, the window is parsed as the body of a class that line opens (a method alone is no
        valid JavaScript)."""
        # the window ends with a newline: tree-sitter-perl loops forever on `__END__ # text` at the end
        source = "\n".join(window) + "\n" if opening is None else opening + "\n" + "\n".join(window) + "\n}\n"
        row = int(opening is not None)
        tree = self._parser.parse(source.encode())
        root = tree.root_node
        first = window[0]
        column = len(first.encode()) - len(first.lstrip().encode())
        node: Node | None = root.descendant_for_point_range((row, column), (row, column))
        best: Node | None = None
        while node is not None and node != root and node.start_point.row == row:
            best = node
            node = node.parent
        if best is None or best.has_error or not any(kind in best.type for kind in _DEFINITIONS):
            return None
        return best


def _dedent(line: str, width: int) -> str:
    """`line` without the first `width` columns of its indentation (tabs as 4-column stops)."""
    taken = 0
    for position, char in enumerate(line):
        if taken >= width or char not in " \t":
            return line[position:]
        taken += 4 - taken % 4 if char == "\t" else 1
    return ""
