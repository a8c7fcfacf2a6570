"""Inline edit (Cmd+K): rewrite the selection, or write code at the cursor, from an instruction.

The model sees the selection with surrounding code and the file's language and answers with the
replacement only. Its answer is cleaned as it streams (fences and prose around them dropped, the
selection's indentation kept), so the streamed text is exactly the final `newText`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from pydantic import Field, model_validator

from byok.base.config import CamelModel, ReasoningSettings
from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.base.text import FENCE, closes_fence, indent_of, newline_of, utf16_to_index
from byok.core.session import Backend
from byok.core.turn import Prompt, StreamSink, run_turn
from byok.features.rules import load_rules
from byok.providers.base import Message
from byok.workspace.edits import EditApplier, document_edit, lsp_lines, span_edit, workspace_edit
from byok.workspace.files import ContextFile, DocumentLookup
from byok.workspace.jail import FileJail

CONTEXT_LINES = 150
"""Lines of code shown to the model before and after the selection."""
MAX_INSTRUCTION_CHARS = 20_000
_PROSE = re.compile(r"^[A-Z][^`{};=()<>\[\]]*[:.!]$")
_LANGUAGES = {
    ".py": "python",
    ".pyi": "python",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".js": "javascript",
    ".jsx": "javascriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".sh": "shellscript",
    ".md": "markdown",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".html": "html",
    ".css": "css",
    ".sql": "sql",
}

SYSTEM_PROMPT = """You are a code editor's inline edit. You get an excerpt of a file with the selection \
marked <selection>...</selection> (or the cursor marked <cursor/>), and an instruction.
Reply with ONLY the code that replaces the selection (with only a cursor: the code to insert there). No \
explanation, no Markdown fences, no tags, no code from around the selection. Write complete, working code \
in the file's language and style, indented as it must be at that place."""


class Position(CamelModel):
    line: int = Field(ge=0, le=100_000_000)
    character: int = Field(ge=0, le=100_000_000)


class Range(CamelModel):
    start: Position
    end: Position

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if (self.end.line, self.end.character) < (self.start.line, self.start.character):
            raise ValueError("range end is before its start")
        return self


class InlineEditParams(CamelModel):
    uri: str = Field(min_length=1, max_length=8192)
    range: Range
    instruction: str = Field(min_length=1, max_length=MAX_INSTRUCTION_CHARS)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    apply: bool = False
    stream_id: str | None = Field(default=None, max_length=200)
    reasoning: ReasoningSettings | None = None
    """How hard the model should think; beats the feature's and the model entry's `reasoning`."""


class CodeExtractor:
    """Keeps the code of a model's answer, line by line as it streams.

    Drops a Markdown fence and any prose before it and everything after its closing fence, and leading
    and trailing blank lines. Prose without a fence is kept (it may be the code, e.g. in Markdown).
    """

    def __init__(self) -> None:
        self._partial = ""
        self._state = "start"
        self._fence = ""
        self._held: list[str] = []
        self._blank: list[str] = []
        self._started = False

    def feed(self, text: str) -> list[str]:
        """The code lines completed by `text`."""
        *lines, self._partial = (self._partial + text).split("\n")
        return [out for line in lines for out in self._line(line.removesuffix("\r"))]

    def finish(self) -> list[str]:
        """The remaining code lines at the end of the answer."""
        out = self._line(self._partial.removesuffix("\r")) if self._partial else []
        self._partial = ""
        if self._state == "start":
            out += self._emit(self._held)
            self._held = []
        return out

    def _line(self, line: str) -> list[str]:
        if self._state == "start":
            fence = FENCE.match(line)
            if fence:
                self._state, self._fence, self._held = "fenced", fence[1], []
                return []
            if not line.strip() or _PROSE.match(line.strip()):
                self._held.append(line)
                return []
            self._state = "plain"
            held, self._held = self._held, []
            return self._emit([*held, line])
        if self._state == "fenced":
            if closes_fence(line, self._fence):
                self._state = "done"
                return []
            return self._emit([line])
        return self._emit([line]) if self._state == "plain" else []

    def _emit(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        for line in lines:
            if not line.strip():
                if self._started:
                    self._blank.append("")
                continue
            out += self._blank
            out.append(line)
            self._blank, self._started = [], True
        return out


class Reindenter:
    """Moves the answer's lines so its first line gets `target`'s indentation, keeping relative indents."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self.source: str | None = None

    def __call__(self, line: str) -> str:
        if not line.strip():
            return ""
        if self.target is None:
            return line
        if self.source is None:
            self.source = indent_of(line)
        if line.startswith(self.source):
            return self.target + line[len(self.source) :]
        return self.target + line.lstrip(" \t")


class ReplacementSink:
    """Turns the model's streamed answer into the replacement text, streaming that instead."""

    def __init__(self, sink: StreamSink, reindent: Reindenter, newline: str, trailing_newline: bool) -> None:
        self.sink = sink
        self.extractor = CodeExtractor()
        self.reindent = reindent
        self.newline = newline
        self.trailing_newline = trailing_newline
        self.parts: list[str] = []

    def delta(self, kind: str, text: str) -> None:
        if kind != "text":
            self.sink.delta(kind, text)
            return
        self._send(self.extractor.feed(text))

    def _send(self, lines: list[str]) -> None:
        for line in lines:
            piece = (self.newline if self.parts else "") + self.reindent(line)
            self.parts.append(piece)
            self.sink.delta("text", piece)

    def finish(self) -> str:
        """Send the last lines; the whole replacement text."""
        self._send(self.extractor.finish())
        if self.trailing_newline and self.parts:
            self.parts.append(self.newline)
            self.sink.delta("text", self.newline)
        return "".join(self.parts)


@dataclass(frozen=True, slots=True)
class Selection:
    """The range the replacement goes to (LSP positions and offsets), and how to shape it to fit there."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    start: int
    end: int
    indent: str | None
    """Indentation of the replacement's first line (the rest keep theirs relative to it); None: as written."""
    trailing_newline: bool
    cursor: int | None
    """For an insertion: the cursor's offset."""


def locate(text: str, params: InlineEditParams) -> Selection:
    """Where the replacement goes in `text`, from the LSP (UTF-16) range.

    A range starting in a line's indentation takes whole lines, so the replacement is indented as the
    selection was; an empty range there inserts whole lines before the line's code.
    """
    lines = lsp_lines(text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, character: int) -> int:
        if line > len(lines):
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"Line {line} is outside the document ({len(lines)} lines)",
                cause="The range does not fit the document",
                fix="Send a range of the document as the editor has it",
            )
        if line == len(lines):
            return len(text)
        return starts[line] + utf16_to_index(lines[line].rstrip("\r\n"), character)

    first, last = params.range.start, params.range.end
    start, end = offset(first.line, first.character), offset(last.line, last.character)
    cursor = start if start == end else None
    if text[starts[min(first.line, len(lines))] : start].strip():
        return Selection(
            first.line, first.character, last.line, last.character, start, end, None, False, cursor
        )
    line_start = starts[min(first.line, len(lines))]
    body = lines[first.line].rstrip("\r\n") if first.line < len(lines) else ""
    if cursor is not None and body[start - line_start :].strip():
        return Selection(first.line, 0, first.line, 0, line_start, line_start, indent_of(body), True, cursor)
    content = next((x for x in lsp_lines(text[line_start:end]) if x.strip()), None)
    indent = indent_of(content) if content is not None else body or None
    trailing = text[start:end].endswith(("\n", "\r"))
    return Selection(first.line, 0, last.line, last.character, line_start, end, indent, trailing, cursor)


def language_of(path: str, language_id: str | None) -> str:
    return language_id or _LANGUAGES.get(PurePath(path).suffix.lower(), "plaintext")


def build_prompt(path: str, language: str, text: str, selection: Selection, instruction: str) -> str:
    """The user message: the file's name and language, an excerpt with the selection marked, the instruction."""
    lines = lsp_lines(text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    head = selection.cursor if selection.cursor is not None else selection.start
    tail = selection.cursor if selection.cursor is not None else selection.end
    first_line = len(lsp_lines(text[:head]))
    last_line = len(lsp_lines(text[:tail]))
    before = text[starts[max(0, first_line - CONTEXT_LINES - 1)] : head]
    after = text[tail : starts[min(len(lines), last_line + CONTEXT_LINES)]]
    if selection.cursor is not None:
        middle, ask = "<cursor/>", "Reply with only the code to insert at <cursor/>."
    else:
        middle = f"<selection>{text[selection.start : selection.end]}</selection>"
        ask = "Reply with only the code that replaces the <selection> (without the tags)."
    return (
        f"File: {path} (language: {language})\n\n"
        f"<file_excerpt>\n{before}{middle}{after}\n</file_excerpt>\n\n"
        f"Instruction: {instruction}\n\n{ask}"
    )


async def inline_edit(
    backend: Backend,
    params: InlineEditParams,
    sink: StreamSink,
    roots: list[Path],
    documents: DocumentLookup | None = None,
    apply_edit: EditApplier | None = None,
) -> dict[str, Any]:
    """Run one inline edit; the WorkspaceEdit is sent to the editor only when `params.apply`."""
    routes = await backend.routes("inlineEdit", params.model)
    jail = FileJail(roots, documents)
    source = jail.read_for_edit(params.uri, "uri", backend.settings.context.max_bytes)
    document = source.document
    selection = locate(source.text, params)
    language = language_of(source.path, document.language_id if document else None)
    prompt = build_prompt(source.path, language, source.text, selection, params.instruction)
    rules = await load_rules(backend, roots, [source.path], sink=sink)
    system_prompt = rules.before(SYSTEM_PROMPT)
    request = Prompt(
        messages=[Message("system", system_prompt), Message("user", prompt)],
        max_tokens=backend.settings.max_output_tokens,
        files=[ContextFile(params.uri, source.path, source.text)],
        workspace=next(iter(jail.real_roots), None),
        cache_conversation=False,
        reasoning=params.reasoning,
    )
    replacement = ReplacementSink(
        sink, Reindenter(selection.indent), newline_of(source.text), selection.trailing_newline
    )
    turn = await run_turn(backend, routes, request, replacement, feature="inlineEdit")
    new_text = replacement.finish()
    version = document.version if document else None
    edit = workspace_edit([document_edit(params.uri, version, [span_edit(selection, new_text)])])
    result: dict[str, Any] = {
        "edit": edit,
        "newText": new_text,
        "model": turn.route.model_id,
        "usage": turn.usage_dict(),
    }
    if turn.result.reasoning:
        result["reasoning"] = turn.result.reasoning
    if params.apply and apply_edit is not None:
        result["applied"] = await apply_edit(edit)
    return result
