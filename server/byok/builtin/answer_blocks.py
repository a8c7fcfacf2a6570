"""A model's answer as code blocks, each tied to the file it names, in the formats real models write.

One parser serves composer (which blocks change which files) and chat (`codeBlocks`, so a client can
offer Apply on a block and knows its file). A block names its file by, in this order:
- a `FILE: path` / `DELETE: path` line (the format composer asks for; `###`, `**` and backticks allowed);
- a header line right before the fence: `### path`, `## path`, `**path**`, `` `path` ``, `path:`, or a
  line ending in `:` that holds exactly one backticked path (`Update `src/app.py`:`);
- the fence's info string: ```` ```python path/x.py ````, ```` ```python:path/x.py ````,
  ```` ```path/x.py ````, ```` ```ts title="x.ts" ````;
- a first-line comment naming the path: `# path/x.py`, `// filepath: x.ts`, `<!-- x.html -->`;
- for unified diffs (```` ```diff ```` or a body that starts with `---`/`+++` or `diff --git`), their headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from byok.base.text import FENCE, closes_fence
from byok.builtin.apply_lines import COMMENT

BlockKind = Literal["code", "delete", "diff"]

_FILE_LINE = re.compile(r"^\s*(?:#{1,6}\s*)?(?:\*\*)?\s*(FILE|DELETE)\s*:\s*(.+?)\s*$", re.IGNORECASE)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+|\*\*|`)(?P<body>.+?)\s*$")
_TRAILING_COLON = re.compile(r"^\s*(?P<body>\S+):\s*$")
_ONE_TICKED = re.compile(r"`([^`\s]+)`")
_NAME_PREFIX = re.compile(r"^(?:file(?:name|path)?|path)\s*[:=]\s*", re.IGNORECASE)
_KEY_VALUE = re.compile(
    r"^(?:title|file(?:name|path)?|path)=(?P<q>[\"']?)(?P<path>[^\"']+)(?P=q)$", re.IGNORECASE
)
_LAST_SEGMENT = re.compile(r"^\.?[\w@+~-][\w.@+~-]*$")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9_+-]{0,11}$")
_BARE_NAMES = frozenset(
    {"makefile", "dockerfile", "gemfile", "rakefile", "procfile", "justfile", "vagrantfile", "jenkinsfile"}
)
_DIFF_LANGUAGES = frozenset({"diff", "patch", "udiff"})
_SHELL_LANGUAGES = frozenset(
    {
        "bash",
        "sh",
        "shell",
        "zsh",
        "console",
        "terminal",
        "powershell",
        "ps",
        "cmd",
        "bat",
        "text",
        "txt",
        "plaintext",
        "output",
        "log",
    }
)
_SHELL_EXTENSIONS = frozenset({"sh", "bash", "zsh", "ps1", "bat", "cmd", "txt", "log"})
MAX_PATH_CHARS = 400


@dataclass(frozen=True, slots=True)
class AnswerBlock:
    """One block of an answer: code (or a deletion, or a unified diff) and the file it names, if any."""

    kind: BlockKind
    code: str
    language: str = ""
    path: str | None = None
    """The path as the answer wrote it, cleaned of markup and a leading `./`; None when no file is named."""
    line: int = 0
    """The answer's 1-based line where the block starts (its fence or `DELETE:` line)."""


def clean_path(raw: str) -> str:
    """A path as written in markup, without backticks, quotes, bold marks and a leading `./`."""
    return raw.strip().strip("*`'\" ").removeprefix("./")


def looks_like_path(text: str) -> bool:
    """Whether `text` reads as a file path (`src/app.py`, `Makefile`, `.env`), not a word or a sentence."""
    if not text or len(text) > MAX_PATH_CHARS or "://" in text or any(c.isspace() for c in text):
        return False
    last = text.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if not _LAST_SEGMENT.match(last) or last in {".", ".."}:
        return False
    return bool(_EXTENSION.search(last)) or last.lower() in _BARE_NAMES or ("/" in text and "." not in last)


def _is_language_word(text: str) -> bool:
    """A fence info word that is a language before it is a path (`makefile`, `dockerfile`)."""
    return text.lower() in _BARE_NAMES


def fits(language: str, path: str) -> bool:
    """Whether a block in `language` can be the content of `path`: a shell or output block is not a
    Python file, even when the prose before it names one (`Run `setup.py`:`)."""
    extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return language.lower() not in _SHELL_LANGUAGES or extension in _SHELL_EXTENSIONS


def _named_path(raw: str) -> str | None:
    """The path a header or comment names (`src/x.py`, `filepath: x.py`, `x.py (new file)`), if any."""
    text = _NAME_PREFIX.sub("", clean_path(raw).rstrip(":").strip())
    text = re.sub(r"\s+\((?:new|new file|updated|modified|changed|created)\)$", "", text, flags=re.IGNORECASE)
    text = clean_path(text)
    return text if looks_like_path(text) else None


def _header_path(line: str) -> str | None:
    """The path named by a header line right before a fence, if the line is such a header."""
    for pattern in (_HEADING, _TRAILING_COLON):
        match = pattern.match(line)
        if match and (path := _named_path(match["body"])):
            return path
    if line.rstrip().endswith(":"):
        ticked = [t for t in _ONE_TICKED.findall(line) if looks_like_path(clean_path(t))]
        if len(ticked) == 1:
            return clean_path(ticked[0])
    return None


def _info_path(info: str) -> tuple[str, str | None]:
    """The language and the path a fence's info string carries (`python path/x.py`, `ts:x.ts`, `x.py`)."""
    tokens = info.split()
    if not tokens:
        return "", None
    first, rest = tokens[0], tokens[1:]
    language, _, attached = first.partition(":")
    if attached and (path := _named_path(attached)):
        return language, path
    if not rest and not attached and looks_like_path(clean_path(first)) and not _is_language_word(first):
        return "", clean_path(first)
    for token in rest:
        value = _KEY_VALUE.match(token)
        if path := _named_path(value["path"] if value else token):
            return language, path
    return language, None


def _comment_path(code: str) -> str | None:
    """The path a block's first line names in a comment (`# src/x.py`, `// filepath: x.ts`), if any."""
    first = code.split("\n", 1)[0].strip()
    match = COMMENT.match(first)
    return _named_path(match["body"]) if match and match["body"] else None


def is_diff(language: str, code: str) -> bool:
    """Whether a fenced block is a unified diff."""
    if language.lower() in _DIFF_LANGUAGES:
        return True
    head = code.lstrip("\n").split("\n", 2)
    return code.startswith("diff --git ") or (
        len(head) >= 2 and head[0].startswith("--- ") and head[1].startswith("+++ ")
    )


def _read_fence(lines: list[str], opening: int, mark: str) -> tuple[str, int]:
    """The code inside the fence opened at line `opening`, and the index of the line after its end."""
    end = next((i for i in range(opening + 1, len(lines)) if closes_fence(lines[i], mark)), len(lines))
    body = lines[opening + 1 : end]
    return ("\n".join(body) + "\n" if body else ""), end + 1


def _preceding_header(lines: list[str], fence_line: int) -> str | None:
    """The line naming a file right before the fence at `fence_line` (at most one blank line between)."""
    i = fence_line - 1
    if i >= 0 and not lines[i].strip():
        i -= 1
    return lines[i] if i >= 0 and lines[i].strip() else None


def parse_answer(answer: str) -> list[AnswerBlock]:
    """Every fenced block of an answer and every `DELETE:` line, in order, with the file each names."""
    lines = [line.removesuffix("\r") for line in answer.split("\n")]
    blocks: list[AnswerBlock] = []
    claimed: int | None = None  # the fence a `FILE:` line named, with its path
    claimed_path = ""
    i = 0
    while i < len(lines):
        file_line, fence = _FILE_LINE.match(lines[i]), FENCE.match(lines[i])
        if file_line and file_line[1].upper() == "DELETE":
            blocks.append(AnswerBlock("delete", "", path=clean_path(file_line[2]), line=i + 1))
        elif file_line:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and FENCE.match(lines[j]):
                claimed, claimed_path = j, clean_path(file_line[2])
        elif fence:
            language, path = _info_path(fence[2].strip())
            code, after = _read_fence(lines, i, fence[1])
            kind: BlockKind = "diff" if is_diff(language, code) else "code"
            if claimed == i:
                path = claimed_path
            else:
                if path is None and (header := _preceding_header(lines, i)) is not None:
                    path = _header_path(header)
                if path is None and kind == "code":
                    path = _comment_path(code)
                if path is not None and kind == "code" and not fits(language, path):
                    path = None
            blocks.append(AnswerBlock(kind, code, language, path, i + 1))
            i = after
            continue
        i += 1
    return blocks
