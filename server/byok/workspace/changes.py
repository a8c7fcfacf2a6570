"""A session's edits kept in memory until they leave as one WorkspaceEdit, and consent for run-able files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from byok.base.display import visible
from byok.workspace.edits import document_changes, for_review, text_edits, workspace_edit
from byok.workspace.errors import ToolError
from byok.workspace.files import link_refusal, read_disk
from byok.workspace.jail import Workspace

MAX_CONSENT_CHARS = 4000
"""Characters of a run-able file's new text shown when asking to change it."""
PermissionAsker = Callable[[str], Awaitable[bool | None]]
"""Asks the user the question: True allows, False denies, None means the client cannot ask (headless)."""
Chooser = Callable[[str, Sequence[str]], Awaitable[str | None]]
"""Asks the user the question with these actions, the last one the refusal: the action chosen (the refusal
for anything else: another title, no answer in time, an error), or None when the client cannot ask."""
ALLOW, DENY = "Allow", "Deny"

FileAction = Literal["create", "modify", "delete"]


@dataclass(slots=True)
class FileSummary:
    """One file a composer or agent run changed, as its result lists it."""

    uri: str
    path: str
    action: FileAction
    hunks: int
    unresolved: list[str] | None = None
    """Parts of the answer for this file that could not be placed (composer)."""

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "uri": self.uri,
            "path": self.path,
            "action": self.action,
            "hunks": self.hunks,
        }
        if self.unresolved is not None:
            wire["unresolved"] = self.unresolved
        return wire


def yes_no(choose: Chooser) -> PermissionAsker:
    """The Allow/Deny question on top of a `Chooser`."""

    async def ask(question: str) -> bool | None:
        answer = await choose(question, (ALLOW, DENY))
        return None if answer is None else answer == ALLOW

    return ask


@dataclass(slots=True)
class FileState:
    """One file the session touched: as it was, as the editor has it now, and as the session made it."""

    path: Path
    uri: str
    original: str | None
    version: int | None
    base: str | None
    text: str | None
    applied: bool = False
    """Some of this session's changes were already applied, so the open document's version is unknown."""


class Changes:
    """Edits kept in memory until they are sent as one WorkspaceEdit; reads see them."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.files: dict[Path, FileState] = {}

    def state(self, path: Path) -> FileState:
        state = self.files.get(path)
        if state is None:
            document = self.workspace.open_document(path)
            text, version = (document.text, document.version) if document else (read_disk(path), None)
            state = self.files[path] = FileState(path, path.as_uri(), text, version, text, text)
        return state

    def read(self, path: Path) -> str | None:
        """The file's current text in this session; None when it does not exist."""
        return self.state(path).text

    def peek(self, path: Path) -> str | None:
        """Like `read`, without remembering the file (for searches over many files)."""
        state = self.files.get(path)
        if state is not None:
            return state.text
        document = self.workspace.open_document(path)
        return document.text if document else read_disk(path)

    def write(self, path: Path, text: str | None) -> None:
        """Set the file's new text (None deletes it); never of a file with several hard links, even if open."""
        if reason := link_refusal(path):
            raise ToolError(reason)
        self.state(path).text = text

    def pending(self) -> bool:
        return any(s.text != s.base for s in self.files.values())

    def edit(self, *, since_start: bool = False, review_by: str | None = None) -> dict[str, Any]:
        """The WorkspaceEdit of the changes not applied yet (or of all changes, `since_start`); with
        `review_by` (who made them, e.g. "byok agent") annotated for a review before it is applied."""
        changes: list[dict[str, Any]] = []
        for state in sorted(self.files.values(), key=lambda s: s.path):
            if since_start:
                changes += document_changes(state.uri, state.original, state.text, state.version)
            else:
                version = None if state.applied else state.version
                changes += document_changes(state.uri, state.base, state.text, version)
        if review_by is None:
            return workspace_edit(changes)
        shown = {state.uri: self.workspace.relative(state.path) for state in self.files.values()}
        return for_review(workspace_edit(changes), review_by, shown.__getitem__)

    def mark_applied(self) -> None:
        for state in self.files.values():
            if state.text != state.base:
                state.base, state.applied = state.text, True

    def summary(self) -> list[FileSummary]:
        """Per changed file since the start: its URI, path, action and number of hunks."""
        out: list[FileSummary] = []
        for state in sorted(self.files.values(), key=lambda s: s.path):
            if state.original == state.text:
                continue
            action: FileAction
            if state.text is None:
                action, hunks = "delete", 0
            else:
                action = "create" if state.original is None else "modify"
                hunks = len(text_edits(state.original or "", state.text))
            out.append(FileSummary(state.uri, self.workspace.relative(state.path), action, hunks))
        return out


def _shown_change(before: str | None, after: str | None) -> str:
    if after is None:
        return "(the file is deleted)"
    added = "".join(edit["newText"] for edit in text_edits(before or "", after))
    lines = "\n".join(visible(line) for line in added.splitlines())
    if len(lines) > MAX_CONSENT_CHARS:
        lines = lines[:MAX_CONSENT_CHARS] + f"\n[... {len(lines) - MAX_CONSENT_CHARS} more characters]"
    return lines


def runnable_edit_question(who: str, relative: str, before: str | None, after: str | None) -> str:
    return (
        f"{who} wants to change {visible(relative)}, a file your editor or tools run commands from. "
        f"New or changed lines:\n{_shown_change(before, after)}"
    )


async def confirm_runnable_edits(
    changes: Changes, ask: PermissionAsker | None, *, allow_headless: bool, who: str
) -> list[dict[str, str]]:
    """Ask before each pending change to a run-able file; refused changes are undone and returned."""
    refused: list[dict[str, str]] = []
    for state in list(changes.files.values()):
        if state.text == state.base or not changes.workspace.is_runnable(state.path):
            continue
        relative = changes.workspace.relative(state.path)
        if not await consent(
            ask, runnable_edit_question(who, relative, state.base, state.text), allow_headless
        ):
            state.text = state.base
            refused.append(
                {"path": relative, "reason": "the user did not allow changing a file that runs commands"}
            )
    return refused


async def consent(ask: PermissionAsker | None, question: str, allow_headless: bool) -> bool:
    """The user's answer; only a client that cannot ask falls back to `allow_headless` (agent.allowCommands)."""
    answer = await ask(question) if ask is not None else None
    return allow_headless if answer is None else answer
