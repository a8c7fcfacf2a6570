"""Line classification for the built-in Apply model: lazy markers, match keys, indentation widths, blocks."""

from __future__ import annotations

import re
from collections.abc import Container
from difflib import SequenceMatcher

from byok.base.text import indent_of

COMMENT = re.compile(r"^(?:#+|//+|--|;+|%+|/\*+|<!--|\{/\*+)\s*(?P<body>.*?)\s*(?:\*+/\}?|-->)?$")
_COMMENT_STARTS = frozenset("#/-;%<{")
"""First characters of the lines `COMMENT` can match."""
_DOTS = re.compile(r"\.\.\.|…")
_ELISION = re.compile(
    r"\b(?:existing|unchanged|rest of|remaining|as before|same as before|omitted|elided|previous code|"
    r"other (?:code|methods|functions)|no changes?)\b",
    re.IGNORECASE,
)
_WORDS = re.compile(r"^[\w\s,.'\u2019()/&:+-]*$")
_DEFINITION = re.compile(
    r"\b(?:def|class|function|func|fn|sub|struct|enum|trait|interface|impl|type|module)\s+(?:\([^)]*\)\s*)?"
    r"([A-Za-z_$][\w$]*(?:[.:][A-Za-z_$][\w$]*)*)"
)
_METHOD = re.compile(
    r"^\s*(?!(?:for|if|elif|while|switch|return|new|else|catch|await|yield|throw|case|with|assert|print)\b)"
    r"(?:[\w<>\[\],.?]+\s+)+([A-Za-z_$][\w$]*)\s*\([^;=]*$"
)
_BARE_METHOD = re.compile(
    r"^\s*(?:(?:static|async|get|set|public|private|protected|override|readonly)\s+)*\*?\s*"
    r"(?!(?:for|if|elif|while|switch|catch|with|function|return|else|do|try)\b)([A-Za-z_$][\w$]*)\s*(?:<[^()]*>)?\((?:[^()'\"`;]|\([^()'\"`;]*\))*\)\s*(?::\s*[^=]+)?\{\s*$"
)
"""A JavaScript/TypeScript class method without a keyword (`  persist () {`, `async load(id): Promise<T> {`,
`get<T>(id): T {`)."""
_SHELL_FUNCTION = re.compile(r"^\s*([A-Za-z_][\w:.-]*)\s*\(\s*\)\s*\{?\s*$")
_CLOSER = re.compile(r"^(?:[}\])]|</|end\b)")
_HEADER_GOES_ON = re.compile(r"^\).*(?:\{|:)$")
"""A line closing a multi-line parameter list and opening the body (`): Promise<T> {`, `) -> int:`)."""
_TWO_ALNUM = re.compile(r"[^\W_].*?[^\W_]")


def is_marker(line: str) -> bool:
    """Whether `line` is a lazy "unchanged code elided here" marker."""
    stripped = line.strip()
    if stripped in ("...", "…"):
        return True
    if stripped[:1] not in _COMMENT_STARTS or not (_DOTS.search(stripped) or _ELISION.search(stripped)):
        return False  # not a comment, or one without an elision in it
    match = COMMENT.match(stripped)
    if match is None:
        return False
    body = match["body"]
    if len(body) > 80 or not _WORDS.match(_DOTS.sub(" ", body)):
        return False
    return bool(_DOTS.search(body)) or (len(body) <= 50 and bool(_ELISION.search(body)))


def has_dots(line: str) -> bool:
    """Whether the line has an ellipsis (`...`, `…`) in it: a marker by its dots, not its words alone."""
    return bool(_DOTS.search(line))


def line_key(line: str) -> str:
    """The line as matched against others: stripped, with runs of spaces and tabs collapsed."""
    key = line.strip()
    return " ".join(key.split()) if "  " in key or "\t" in key else key


def indent_width(line: str) -> int:
    """Width of the line's indentation, tabs expanded to 4-column stops."""
    return len(indent_of(line).expandtabs(4))


def is_trivial(key: str) -> bool:
    """Whether a key is too plain to place anything by (fewer than two letters or digits)."""
    return _TWO_ALNUM.search(key) is None


def is_closer(line: str) -> bool:
    """Whether the line closes a block (`}`, `]`, `)`, `</…`, `end`)."""
    return bool(_CLOSER.match(line.lstrip()))


def continues_header(line: str) -> bool:
    """Whether the line closes a multi-line parameter list and opens the body (`): Promise<T> {`)."""
    return bool(_HEADER_GOES_ON.match(line.strip()))


_INTERLOPER = re.compile(r"^(?:#|//|/\*|[A-Za-z_]\w*:\s*$|[A-Z][A-Z0-9_]*;?\s*$)")
"""A line code puts at the left edge inside a braced block: a preprocessor directive, a comment (often
code commented out), a label, a heredoc's end (`EOM`)."""


_DIRECTIVE = re.compile(r"^\s*#\s*(?:if|ifdef|ifndef|elif|else|endif|define|undef|pragma|include|error)\b")


def is_directive(line: str) -> bool:
    """Whether the line is a C preprocessor directive (`#ifdef X`), which stands at the left edge wherever
    it is: its indentation says nothing of the block it is in."""
    return bool(_DIRECTIVE.match(line))


def _opens_braces(lines: list[str], header: int) -> bool:
    """Whether the code line `lines[header]` opens a `{` block: it ends with `{`, or its parameter list
    goes on below and the line closing it does (a comment, `#XXX if (x) {`, opens none)."""
    line = lines[header].rstrip()
    if line.lstrip().startswith(("#", "//", "/*", "*")):
        return False
    if line.endswith("{"):
        return True
    depth = line.count("(") - line.count(")")
    for below in lines[header + 1 : header + 3]:
        if depth <= 0:
            return False
        depth += below.count("(") - below.count(")")
        if depth <= 0 and below.rstrip().endswith("{"):
            return True
    return False


def block_end(lines: list[str], header: int) -> int | None:
    """Last line of the block `lines[header]` opens (deeper lines, then a closer at its width), or None.
    In a braced block, a directive, comment or label at the left edge (`#ifdef`, `fail:`) does not end it."""
    if not lines[header].strip():
        return None
    width = indent_width(lines[header])
    braced = _opens_braces(lines, header)
    if (
        header + 1 < len(lines)
        and lines[header + 1].strip() == "{"
        and indent_width(lines[header + 1]) == width
    ):
        header += 1  # the brace on a line of its own (GNU and Allman styles) opens the block
        braced = True
    last = header
    k = header + 1
    while True:
        opened = last
        while k < len(lines):
            if lines[k].strip():
                if indent_width(lines[k]) <= width and not (braced and _INTERLOPER.match(lines[k])):
                    break
                last = k
            k += 1
        if last == opened:
            return None if last == header else last
        if k < len(lines) and indent_width(lines[k]) == width and is_closer(lines[k]):
            last = k
            if continues_header(lines[k]):
                k += 1
                continue  # `) {` after a parameter list on lines of their own: the body follows
        return last


_HEAD = re.compile(r"\s*([^\s=:(\[{<]+|<\w+)")
_TRAILING = ".,:;>{}()[] "


def is_similar(new: str, old: str) -> bool:
    """Whether `new` reads as an edited version of `old`: same indentation and definition or leading
    token, and one a prefix of the other (trailing punctuation aside) or mostly the same characters."""
    if not new.strip() or not old.strip() or indent_width(new) != indent_width(old):
        return False
    name = definition_name(new)
    if name is not None:
        return name == definition_name(old)
    head_new, head_old = _HEAD.match(new), _HEAD.match(old)
    if head_new is None or head_old is None or head_new[1] != head_old[1]:
        return False
    a, b = line_key(new), line_key(old)
    if "".join(a.split()) == "".join(b.split()):
        return True  # spaced otherwise (`DIV ='/' ;`)
    short, long = sorted((a, b), key=len)
    stem = short.rstrip(_TRAILING)
    if len(stem) >= 10 and long.startswith(stem):
        return True
    return max(len(a), len(b)) >= 12 and SequenceMatcher(None, a, b).ratio() >= 0.75


_CHAIN_GOES_ON = re.compile(r"^(?:\}|(?:else|elsif|elif|catch|finally|except|rescue|ensure)\b)")
"""A line that goes on with a statement opened above it at its width (`} else {`, `else {`, `}, () => {`)."""


def goes_on(line: str) -> bool:
    """Whether the line goes on with a statement opened above it at its width rather than opening one."""
    return bool(_CHAIN_GOES_ON.match(line.lstrip()))


def block_owner(lines: list[str], closer: int) -> int | None:
    """The line opening the block that `lines[closer]` closes: the nearest earlier line no deeper."""
    width = indent_width(lines[closer])
    for number in range(closer - 1, max(-1, closer - 2000), -1):
        if lines[number].strip() and indent_width(lines[number]) <= width:
            return number
    return None


def statement_start(lines: list[str], number: int) -> int:
    """The line a statement starts on when `lines[number]` goes on with it (`} else {` after `if (x) {`):
    the nearest earlier line at its width that does not go on itself; `number` for other lines."""
    while goes_on(lines[number]) and (owner := block_owner(lines, number)) is not None:
        if indent_width(lines[owner]) != indent_width(lines[number]):
            break
        number = owner
    return number


def definition_name(line: str) -> str | None:
    """The name a function, class or method header on this line defines, or None."""
    match = (
        _DEFINITION.search(line)
        or _METHOD.match(line)
        or _SHELL_FUNCTION.match(line)
        or _BARE_METHOD.match(line)
    )
    return match[1] if match else None


_STUB_HEADER = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s")
"""The header of a definition (`def`, `class`): a bare `...` as its whole body is a stub's."""


def new_stub_body(lines: list[str], number: int, index: Container[str]) -> bool:
    """Whether the bare `...` at `lines[number]` is the whole body of a definition whose header (ending with
    `:`, perhaps closing a parameter list over several lines) the original does not have: the body of a
    new stub (`def f(): ...`), which cannot stand for code the original has."""
    if lines[number].strip() != "...":
        return False
    width = indent_width(lines[number])
    opener = next((k for k in range(number - 1, -1, -1) if lines[k].strip()), None)
    after = next((line for line in lines[number + 1 :] if line.strip()), None)
    if opener is None or (after is not None and indent_width(after) >= width):
        return False
    top = indent_width(lines[opener])
    if top >= width or not lines[opener].rstrip().endswith(":"):
        return False
    header = opener
    if lines[opener].lstrip().startswith((")", "]")):
        above = (k for k in range(opener - 1, -1, -1) if lines[k].strip() and indent_width(lines[k]) <= top)
        header = next(above, opener)
    return bool(_STUB_HEADER.match(lines[header])) and line_key(lines[header]) not in index


_STRING_OPENS = re.compile(r"^[rRbBuUfF]{0,2}(\"\"\"|''')\s*\w")
"""A line opening a triple-quoted string with text after it (a docstring's first line); a closing one is
alone or goes on with punctuation (`)`, `.strip()`)."""


def new_string_lines(lines: list[str], index: Container[str]) -> set[int]:
    """The numbers of the lines inside triple-quoted strings that open and close in the snippet on lines
    the original does not have: text of a new string (a doctest's `...`), not markers."""
    inside: set[int] = set()
    number = 0
    while number < len(lines):
        opens = _STRING_OPENS.match(lines[number].strip())
        if opens is None or opens[1] in lines[number].strip()[len(opens[0]) :]:
            number += 1
            continue
        close = next((k for k in range(number + 1, len(lines)) if opens[1] in lines[k]), None)
        if close is None:
            break
        if line_key(lines[number]) not in index:
            inside.update(range(number + 1, close))
        number = close + 1
    return inside
