"""The agent's tools: their specs for the model, and `Tools`, which runs each call in the workspace.

Every path goes through the workspace jail (`Workspace.resolve`); edits stay in memory (`Changes`) and
leave the server only as one WorkspaceEdit; commands and run-able files need the user's consent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from byok.base.config import CommandSettings
from byok.base.display import visible
from byok.base.errors import ByokError
from byok.builtin.apply import apply_snippet
from byok.core.approvals import Approvals, workspace_scope
from byok.providers import PRESETS
from byok.providers.base import ToolCall, ToolSpec
from byok.workspace.changes import DENY, Changes, Chooser, consent, runnable_edit_question, yes_no
from byok.workspace.command_policy import Decision, Verdict, decide
from byok.workspace.edits import lsp_lines
from byok.workspace.errors import PathRefused, ToolError
from byok.workspace.ignore import git_files, walk_files
from byok.workspace.jail import is_secret_file
from byok.workspace.shell import command_env, display_command, run_command, search_texts

log = logging.getLogger(__name__)

ALLOW_ONCE = "Allow once"
MAX_TOOL_OUTPUT = 40_000
"""Characters of one tool result sent back to the model."""
MAX_LISTED = 500
MAX_MATCHES = 100
MAX_QUERY_CHARS = 1000
"""Characters of a search query; a longer one is a tool error."""
MAX_SEARCH_BYTES = 32 * 1024 * 1024
"""Text one search looks through; files beyond it are left out and the result says so."""
WriteApprover = Callable[[Path, str | None, str | None], Awaitable[bool]]
"""Asks whether one edit (path, text before, text after) may be made; a front end's own review of edits."""
CommandRunner = Callable[[str, Path, float, dict[str, str]], Awaitable[tuple[int | None, str]]]
"""Runs a shell command (command, cwd, timeout, environment) → (exit code, None on timeout; bounded output)."""
KEY_VARIABLES = frozenset(name for preset in PRESETS.values() for name in preset.env_vars)
"""The providers' key variables: never passed to a command, whoever names them."""

_PATH = {"type": "string", "description": "Path relative to the workspace root"}
TOOL_SPECS = [
    ToolSpec(
        "read_file",
        "Read a text file of the workspace (with this session's edits). Optionally only lines "
        "start_line..end_line (1-based, inclusive).",
        {
            "type": "object",
            "properties": {"path": _PATH, "start_line": {"type": "integer"}, "end_line": {"type": "integer"}},
            "required": ["path"],
        },
        read_only=True,
    ),
    ToolSpec(
        "list_files",
        "List the files below a directory of the workspace (recursively, .gitignore respected).",
        {"type": "object", "properties": {"path": {**_PATH, "description": "Directory; default the root"}}},
        read_only=True,
    ),
    ToolSpec(
        "search",
        "Search the workspace's files for text (or a Python regular expression); returns path:line: text.",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "regex": {"type": "boolean", "description": "Treat query as a regular expression"},
                "ignore_case": {"type": "boolean"},
                "path": {**_PATH, "description": "Directory or file to search; default the root"},
            },
            "required": ["query"],
        },
        read_only=True,
    ),
    ToolSpec(
        "edit_file",
        "Change an existing file. `code` holds the changed parts with enough unchanged lines around "
        "them to locate them; mark unchanged code you leave out with a comment such as "
        "`# ... existing code ...` or `// ... existing code ...`. Or give the whole new file.",
        {
            "type": "object",
            "properties": {"path": _PATH, "code": {"type": "string"}},
            "required": ["path", "code"],
        },
    ),
    ToolSpec(
        "create_file",
        "Create a new file with the given content (fails if it exists; use edit_file then).",
        {
            "type": "object",
            "properties": {"path": _PATH, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    ),
    ToolSpec(
        "run_command",
        "Run a shell command in the workspace after the user allows it. It sees the files on disk: "
        "edits made in this session are not saved yet.",
        {
            "type": "object",
            "properties": {
                "command": {"type": "string"},
                "cwd": {**_PATH, "description": "Working directory; default the root"},
            },
            "required": ["command"],
        },
    ),
]


@dataclass(slots=True)
class ToolResult:
    content: str
    is_error: bool = False


def _text_arg(arguments: dict[str, Any], name: str, default: str | None = None) -> str:
    value = arguments.get(name, default)
    if not isinstance(value, str):
        raise ToolError(
            f"argument {name!r} must be a string" if name in arguments else f"{name!r} is required"
        )
    return value


def _int_arg(arguments: dict[str, Any], name: str) -> int | None:
    value = arguments.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"argument {name!r} must be an integer")
    return int(value)


def _clip(text: str, hint: str) -> str:
    if len(text) <= MAX_TOOL_OUTPUT:
        return text
    return text[:MAX_TOOL_OUTPUT] + f"\n[... truncated at {MAX_TOOL_OUTPUT} characters; {hint} ...]"


def _quote(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_calls(calls: list[ToolCall]) -> str:
    """A status line for one step's tool calls, e.g. "reading src/app.py; editing 2 files"."""
    groups: dict[str, list[str]] = {}
    for call in calls:
        args = call.arguments
        subject = str(args.get("path") or args.get("query") or args.get("command") or "")
        groups.setdefault(call.name, []).append(subject)
    parts = []
    for name, subjects in groups.items():
        unique = list(dict.fromkeys(subjects))
        if name == "read_file":
            parts.append("reading " + (", ".join(unique) if len(unique) <= 2 else f"{len(unique)} files"))
        elif name in ("edit_file", "create_file"):
            verb = "editing" if name == "edit_file" else "creating"
            parts.append(f"{verb} " + (unique[0] if len(unique) == 1 else f"{len(unique)} files"))
        elif name == "list_files":
            parts.append("listing " + (", ".join(s or "." for s in unique)))
        elif name == "search":
            parts.append("searching for " + ", ".join(repr(_quote(s)) for s in unique))
        elif name == "run_command":
            parts.append("running " + ", ".join(f"`{_quote(visible(s))}`" for s in unique))
        else:
            parts.append(f"calling {name}")
    return "; ".join(parts)


class Tools:
    """The agent's tools over one workspace and one session's in-memory changes."""

    def __init__(
        self,
        changes: Changes,
        *,
        choose: Chooser | None,
        allow_commands: bool,
        command_timeout_s: float,
        command_env: Iterable[str] = (),
        commands: CommandSettings | None = None,
        approvals: Approvals | None = None,
        approve_write: WriteApprover | None = None,
        runner: CommandRunner | None = None,
    ) -> None:
        self.changes = changes
        self.workspace = changes.workspace
        self.choose = choose
        self.ask = yes_no(choose) if choose is not None else None
        self.allow_commands = allow_commands
        """Headless only: what a client that cannot ask the user gets (run_command, run-able files)."""
        self.command_timeout_s = command_timeout_s
        self.command_env = tuple(command_env)
        self.commands = commands or CommandSettings()
        self.approvals = approvals
        """Where "Always allow" is remembered (None: it is not offered)."""
        self.scope = workspace_scope(self.workspace.root)
        self.approve_write = approve_write
        self.runner = runner or run_command
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[ToolResult]]] = {
            "read_file": self.read_file,
            "list_files": self.list_files,
            "search": self.search,
            "edit_file": self.edit_file,
            "create_file": self.create_file,
            "run_command": self.run_command,
        }

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one tool call; every failure becomes an error result for the model."""
        if call.arguments_error is not None:
            return ToolResult(
                f"Error: the arguments of {call.name} were not usable ({call.arguments_error}). "
                "Call the tool again with a JSON object matching its schema.",
                is_error=True,
            )
        handler = self._handlers.get(call.name)
        if handler is None:
            return ToolResult(f"Error: there is no tool named {call.name!r}.", is_error=True)
        try:
            return await handler(call.arguments)
        except ToolError as exc:
            return ToolResult(f"Error: {exc}", is_error=True)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return ToolResult(f"Error: {call.name} failed: {reason}", is_error=True)

    async def read_file(self, arguments: dict[str, Any]) -> ToolResult:
        path = self.workspace.resolve(_text_arg(arguments, "path"))
        text = self.changes.read(path)
        if text is None:
            raise ToolError(f"{self.workspace.relative(path)} does not exist")
        start, end = _int_arg(arguments, "start_line"), _int_arg(arguments, "end_line")
        if start is not None or end is not None:
            lines = lsp_lines(text)
            text = "".join(lines[max((start or 1) - 1, 0) : end if end is not None else len(lines)])
        return ToolResult(_clip(text, "read the rest with start_line/end_line"))

    async def files(self, under: Path) -> list[str]:
        """Workspace-relative files below `under`: git's view (or .gitignore-filtered), with this session's changes."""
        listed = await git_files(self.workspace.root, under)
        if listed is None:
            listed = await walk_files(self.workspace.root, under)
        found = dict.fromkeys(p for p in listed if not is_secret_file(PurePosixPath(p)))
        for state in self.changes.files.values():
            relative = self.workspace.relative(state.path)
            if not state.path.is_relative_to(under):
                continue
            if state.text is None:
                found.pop(relative, None)
            else:
                found[relative] = None
        return sorted(p for p in found if self._inside(p))

    def _inside(self, relative: str) -> bool:
        try:
            path = self.workspace.resolve(relative)
        except PathRefused:
            return False
        return path in self.changes.files or path.is_file()

    async def list_files(self, arguments: dict[str, Any]) -> ToolResult:
        under = self.workspace.resolve(_text_arg(arguments, "path", "."))
        if not under.is_dir():
            raise ToolError(f"{self.workspace.relative(under)} is not a directory")
        files = await self.files(under)
        shown = files[:MAX_LISTED]
        more = f"\n[... and {len(files) - len(shown)} more]" if len(files) > len(shown) else ""
        return ToolResult("\n".join(shown) + more if files else "(no files)")

    async def search(self, arguments: dict[str, Any]) -> ToolResult:
        query = _text_arg(arguments, "query")
        if not query:
            raise ToolError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(
                f"the query is longer than {MAX_QUERY_CHARS} characters; search for a shorter one"
            )
        flags = re.IGNORECASE if arguments.get("ignore_case") else 0
        pattern = query if arguments.get("regex") else re.escape(query)
        under = self.workspace.resolve(_text_arg(arguments, "path", "."))
        files = await self.files(under) if under.is_dir() else [self.workspace.relative(under)]
        texts, left_out = await asyncio.to_thread(self._texts, files)
        found = await search_texts(pattern, flags, texts, MAX_MATCHES)
        matches = [f"{relative}:{number}: {_quote(line, 200)}" for relative, number, line in found]
        if len(matches) >= MAX_MATCHES:
            matches.append(f"[stopped at {MAX_MATCHES} matches]")
        elif left_out:
            matches.append(
                f"[{left_out} files not searched: over {MAX_SEARCH_BYTES // 2**20} MB; narrow the path]"
            )
        return ToolResult("\n".join(matches) if matches else "(no matches)")

    def _texts(self, files: list[str]) -> tuple[list[tuple[str, str]], int]:
        """The readable files' texts up to MAX_SEARCH_BYTES, and how many files that left out."""
        texts: list[tuple[str, str]] = []
        size = 0
        for index, relative in enumerate(files):
            try:
                text = self.changes.peek(self.workspace.resolve(relative))
            except ToolError:
                continue
            if text is None:
                continue
            size += len(text)
            if size > MAX_SEARCH_BYTES:
                return texts, len(files) - index
            texts.append((relative, text))
        return texts, 0

    async def _write(self, path: Path, text: str | None) -> ToolResult | None:
        """Keep an edit in memory, after the user allowed it when the file is one editors or tools run."""
        relative = self.workspace.relative(path)
        if self.workspace.is_runnable(path):
            question = runnable_edit_question("byok agent", relative, self.changes.read(path), text)
            if not await consent(self.ask, question, self.allow_commands):
                return ToolResult(
                    f"The user did not allow changing {relative}: editors or tools run commands from it.",
                    is_error=True,
                )
        elif self.approve_write is not None and not await self.approve_write(
            path, self.changes.read(path), text
        ):
            return ToolResult(f"The user rejected this change to {relative}.", is_error=True)
        self.changes.write(path, text)
        return None

    async def edit_file(self, arguments: dict[str, Any]) -> ToolResult:
        path = self.workspace.resolve(_text_arg(arguments, "path"))
        code = _text_arg(arguments, "code")
        relative = self.workspace.relative(path)
        original = self.changes.read(path)
        if original is None:
            raise ToolError(f"{relative} does not exist; use create_file")
        result = apply_snippet(original, code, path=relative)
        left_out = "; ".join(result.unresolved)
        if not result.edits:
            if result.unresolved:
                raise ToolError(
                    f"could not place the code in {relative} (left out: {left_out}); "
                    "include more unchanged lines around each change"
                )
            return ToolResult(f"{relative} is unchanged: the code matches the file")
        if refusal := await self._write(path, result.new_text):
            return refusal
        message = f"Edited {relative}: {result.hunks} hunk(s)."
        if result.unresolved:
            message += f" These parts could not be placed and were left out: {left_out}"
        return ToolResult(message)

    async def create_file(self, arguments: dict[str, Any]) -> ToolResult:
        path = self.workspace.resolve(_text_arg(arguments, "path"))
        content = _text_arg(arguments, "content")
        relative = self.workspace.relative(path)
        if path.is_dir():
            raise ToolError(f"{relative} is a directory")
        if self.changes.read(path) is not None:
            raise ToolError(f"{relative} already exists; use edit_file")
        if refusal := await self._write(path, content):
            return refusal
        return ToolResult(f"Created {relative} ({len(lsp_lines(content))} lines).")

    def _env_note(self, env: dict[str, str]) -> str:
        """What the question says about the variables `agent.commandEnv` adds, and those it withholds."""
        named = [name for name in dict.fromkeys(self.command_env) if name in os.environ]
        given = [name for name in named if name in env]
        withheld = [name for name in named if name not in env]
        note = f"\nIt also gets these variables (agent.commandEnv): {', '.join(given)}." if given else ""
        if withheld:
            note += f"\nWithheld, as they look like credentials: {', '.join(withheld)}."
        return note

    def _remembered(self, program: str) -> bool:
        return self.approvals is not None and self.approvals.approved(self.scope, f"command:{program}")

    async def _command_consent(self, question: str, decision: Decision) -> tuple[bool, str]:
        """Ask about a command: (allowed, a note for the model). "Always allow" remembers its programs."""
        if self.choose is None:
            return self.allow_commands, ""
        always = (
            "Always allow " + ", ".join(f"`{visible(p)} …`" for p in decision.rememberable) + " here"
            if decision.rememberable and self.approvals is not None
            else None
        )
        actions = [ALLOW_ONCE, *([always] if always else []), DENY]
        answer = await self.choose(question, actions)
        if answer is None:
            return self.allow_commands, ""
        if answer == always and self.approvals is not None:
            try:
                for program in decision.rememberable:
                    await asyncio.to_thread(self.approvals.remember, self.scope, f"command:{program}")
            except ByokError as exc:
                log.warning("%s", exc)
                return True, f"\n(The approval could not be remembered: {exc.message}.)"
        return answer in (ALLOW_ONCE, always), ""

    async def run_command(self, arguments: dict[str, Any]) -> ToolResult:
        command = _text_arg(arguments, "command").strip()
        if not command:
            raise ToolError("the command is empty")
        cwd = self.workspace.resolve(_text_arg(arguments, "cwd", "."))
        if not cwd.is_dir():
            raise ToolError(f"{self.workspace.relative(cwd)} is not a directory")
        decision = await asyncio.to_thread(
            decide, command, self.commands.allow, self.commands.deny, self._remembered
        )
        if decision.verdict is Verdict.DENY:
            return ToolResult(
                f"Not run: the user's settings deny it ({decision.reason}; agent.commands.deny).",
                is_error=True,
            )
        env = command_env(self.command_env, KEY_VARIABLES)
        note = ""
        if decision.verdict is Verdict.ASK:
            question = (
                f"byok agent wants to run a command in {visible(self.workspace.relative(cwd))}:\n"
                f"{display_command(command)}\nAsked because {visible(decision.reason)}.{self._env_note(env)}"
            )
            allowed, note = await self._command_consent(question, decision)
            if not allowed:
                return ToolResult("The user did not allow running this command.", is_error=True)
        code, output = await self.runner(command, cwd, self.command_timeout_s, env)
        head = (
            f"timed out after {self.command_timeout_s:g} s; the process group was killed"
            if code is None
            else f"exit code {code}"
        )
        if self.changes.pending():
            note += "\n(Edits made in this session are not on disk yet; the command did not see them.)"
        return ToolResult(
            _clip(f"$ {command}\n{head}\n{output}", "output truncated") + note, is_error=code is None
        )
