"""The agent's terminal policy: a shell command split into the simple commands it runs, matched against patterns.

`parse_command` reads a command as /bin/sh would, quote-aware: it splits at `;`, `&&`, `||`, `|`, `&` and
newlines, follows `$(…)` and backticks (in double quotes too) and the string of `sh -c` / `bash -c` / `eval`
into the commands they run, and notes what a pattern can never allow: a redirection to a file, a
here-document, a subshell, `for`/`case`/functions, quotes that do not close. Each part's argv comes from
`shlex` (POSIX rules). `decide` then says: deny (a deny pattern matches some part), allow (nothing a pattern
cannot allow, and every part allowed by a pattern or a remembered program), or ask.

Patterns match a part's argv joined by single spaces; `*` matches any characters, `/` and spaces included,
everything else is literal and case-sensitive: `pytest*` matches `pytest -q tests/` (and `pytest-watch`;
write `pytest` and `pytest *` for the program alone). Deny patterns are also matched past leading variable
assignments, shell keywords and wrappers (`env`, `sudo`, `xargs`, `timeout` ...), at every later word, so
`X=1 sudo -u root rm -rf /` is denied by `rm*`.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"})
"""Shell words that only introduce or close the command after them."""
_CONSTRUCTS = frozenset({"for", "case", "select", "function", "esac"})
"""Shell constructs whose words are not a command line: always asked about."""
_WRAPPERS = frozenset(
    {
        "env", "command", "exec", "builtin", "nohup", "nice", "ionice", "time", "timeout", "sudo", "doas",
        "su", "xargs", "stdbuf", "setsid", "chroot", "unshare", "flock", "watch", "strace", "ltrace",
        "busybox", "parallel", "find",
    }
)  # fmt: skip
"""Programs that run another program named in their arguments (`find -exec` too)."""
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_DESCRIPTOR = re.compile(r"[0-9]+|-")
"""The target of `>&` / `<&` that names a descriptor (or closes one); after `>` it would be a file."""
_PLAIN_PROGRAM = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_.+@%:/-]*")


@dataclass(frozen=True, slots=True)
class Part:
    """One simple command: its argv (shell keywords in front dropped)."""

    argv: tuple[str, ...]

    @property
    def text(self) -> str:
        """What patterns match: the argv joined by single spaces."""
        return " ".join(self.argv)

    @property
    def program(self) -> str:
        return self.argv[0]

    def deny_texts(self) -> list[str]:
        """The part as a deny pattern sees it: whole, past leading assignments, and from each word after a wrapper."""
        texts = [self.text]
        words = list(self.argv)
        while words and _ASSIGNMENT.match(words[0]):
            words.pop(0)
        if words and words[0].rsplit("/", 1)[-1] in _WRAPPERS:
            texts += [" ".join(words[i:]) for i in range(1, len(words))]
        elif words:
            texts.append(" ".join(words))
        return texts


@dataclass(slots=True)
class ParsedCommand:
    """Every simple command a shell command line runs, and why a pattern may not allow it (`hazards`)."""

    parts: list[Part] = field(default_factory=list)
    hazards: list[str] = field(default_factory=list)

    def hazard(self, reason: str) -> None:
        if reason not in self.hazards:
            self.hazards.append(reason)


class _Scanner:
    """A quote-aware pass over one command line, splitting it into simple commands (recursive for `$(…)`)."""

    def __init__(self, text: str, parsed: ParsedCommand, depth: int) -> None:
        self.text, self.parsed, self.depth, self.i = text, parsed, depth, 0
        self.current: list[str] = []
        """The current simple command's source text, operators and redirections left out."""

    def run(self, closing: str | None = None) -> None:
        """Scan to the end, or to an unquoted `closing` character (the `)` of `$(`)."""
        text, paren_depth = self.text, 0
        while self.i < len(text):
            char = text[self.i]
            if char == "\\":
                self.current.append(text[self.i : self.i + 2])
                self.i += 2
            elif char == "'" and self.current and self.current[-1] == "$":
                self._ansi_c_quoted()
            elif char == "'":
                end = text.find("'", self.i + 1)
                if end < 0:
                    self.parsed.hazard("quotes that do not close")
                    end = len(text) - 1
                self.current.append(text[self.i : end + 1])
                self.i = end + 1
            elif char == '"':
                self._double_quoted()
            elif char == "`" or text.startswith("$(", self.i):
                self._substitution()
                self.current.append("$(…)")
            elif char == "#" and self._at_word_start():
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            elif char in ";&|\n":
                self._end_part()
                self.i += 1
            elif char in "<>":
                self._redirection()
            elif char == "(":
                self.parsed.hazard("a subshell")
                paren_depth += 1
                self._end_part()
                self.i += 1
            elif char == ")":
                self.i += 1
                if paren_depth:
                    paren_depth -= 1
                    self._end_part()
                elif closing == ")":
                    break
                else:
                    self.parsed.hazard("a `)` that closes nothing")
                    self._end_part()
            else:
                self.current.append(char)
                self.i += 1
        else:
            if closing is not None:
                self.parsed.hazard("a substitution that does not close")
        self._end_part()

    def _at_word_start(self) -> bool:
        """Whether a `#` here starts a comment: at the start of a token, never inside a word being built
        (`$(…)#x` is one word to the shell)."""
        if self.i == 0:
            return True
        previous = self.text[self.i - 1]
        return previous in " \t\n;&|(<>" or (previous == ")" and not self.current)

    def _ansi_c_quoted(self) -> None:
        """`$'…'` (bash, and /bin/sh where it is bash): backslash escapes inside, `\\'` among them. Scanned by
        those rules, and always asked about: dash reads the same text differently."""
        self.parsed.hazard("ANSI-C quoting ($'…')")
        text, end = self.text, self.i + 1
        while end < len(text) and text[end] != "'":
            end += 2 if text[end] == "\\" else 1
        if end >= len(text):
            self.parsed.hazard("quotes that do not close")
        self.current.append(text[self.i : end + 1])
        self.i = end + 1

    def _double_quoted(self) -> None:
        text, start = self.text, self.i
        self.i += 1
        while self.i < len(text) and text[self.i] != '"':
            if text[self.i] == "\\":
                self.i += 2
            elif text[self.i] == "`" or text.startswith("$(", self.i):
                self.current.append(text[start : self.i] + "$(…)")
                self._substitution()
                start = self.i
            else:
                self.i += 1
        if self.i >= len(text):
            self.parsed.hazard("quotes that do not close")
        self.current.append(text[start : self.i + 1])
        self.i += 1

    def _substitution(self) -> None:
        """Skip `$(…)` or a backtick pair, adding the commands inside as parts (the caller writes `$(…)`)."""
        if self.text[self.i] == "`":
            end = self.i + 1
            while end < len(self.text) and self.text[end] != "`":
                end += 2 if self.text[end] == "\\" else 1
            if end >= len(self.text):
                self.parsed.hazard("a substitution that does not close")
            inner = self.text[self.i + 1 : end]
            self.i = end + 1
            _parse_into(inner.replace("\\`", "`"), self.parsed, self.depth + 1)
        elif self.depth >= MAX_DEPTH:
            self.parsed.hazard("commands nested too deeply")
            self.i = len(self.text)  # nothing after it is followed: the command is asked about
        else:
            inner_scanner = _Scanner(self.text, self.parsed, self.depth + 1)
            inner_scanner.i = self.i + 2
            inner_scanner.run(closing=")")
            self.i = inner_scanner.i

    def _redirection(self) -> None:
        text = self.text
        while self.current and self.current[-1].isdigit():  # the fd number of `2>`
            self.current.pop()
        found = re.match(r"<<<|<<-?|<>|<&|>&|>>|>\||<|>", text[self.i :])
        assert found is not None
        operator = found.group()
        self.i += len(operator)
        while self.i < len(text) and text[self.i] in " \t":
            self.i += 1
        target: list[str] = []
        while self.i < len(text) and text[self.i] not in " \t\n;&|()<>":
            if text[self.i] == "`" or text.startswith("$(", self.i):
                self._substitution()
                target.append("$(…)")
            else:
                target.append(text[self.i])
                self.i += 1
        if operator in ("<<", "<<-"):
            self.parsed.hazard("a here-document")
        elif operator != "<<<" and not _safe_redirection(operator, "".join(target)):
            self.parsed.hazard("a redirection to a file")
        self.current.append(" ")

    def _end_part(self) -> None:
        source, self.current = "".join(self.current), []
        if source.strip():
            _add_part(source, self.parsed, self.depth)


def _safe_redirection(operator: str, target: str) -> bool:
    """Whether a redirection writes no file: to /dev/null, or a descriptor duplicated or closed (`2>&1`)."""
    return target == "/dev/null" or (operator in (">&", "<&") and bool(_DESCRIPTOR.fullmatch(target)))


MAX_DEPTH = 8
"""Substitutions and `sh -c` strings nested deeper are not followed (asked about)."""


def _add_part(source: str, parsed: ParsedCommand, depth: int) -> None:
    try:
        words = shlex.split(source, comments=False, posix=True)
    except ValueError:
        parsed.hazard("quotes that do not close")
        words = source.split()
    while words and words[0] in _KEYWORDS:
        words.pop(0)
    if not words:
        return
    if words[0] in _CONSTRUCTS or (len(words) > 1 and words[1] == "()"):
        parsed.hazard(f"a shell `{words[0]}` construct")
    part = Part(tuple(words))
    parsed.parts.append(part)
    inner = _unwrapped(words)
    program = inner[0].rsplit("/", 1)[-1] if inner else ""
    if program == "eval":
        _parse_into(" ".join(inner[1:]), parsed, depth + 1)
    elif program in _SHELLS and (script := _shell_script(inner)) is not None:
        _parse_into(script, parsed, depth + 1)


def _unwrapped(words: list[str]) -> list[str]:
    """The command a line runs past leading assignments and wrappers (`env X=1 sudo -u root sh -c …` → `sh -c …`),
    each wrapper's options and plain numbers (`timeout 5`, `nice -n 10`) dropped."""
    words = list(words)
    while words:
        if _ASSIGNMENT.match(words[0]):
            words.pop(0)
        elif words[0].rsplit("/", 1)[-1] in _WRAPPERS:
            words.pop(0)
            while words and (words[0].startswith("-") or words[0].isdigit() or _ASSIGNMENT.match(words[0])):
                words.pop(0)
        else:
            break
    return words


_COMMAND_FLAG = re.compile(r"-[A-Za-z]*c[A-Za-z]*")


def _shell_script(words: list[str]) -> str | None:
    """The script string of `sh -c …` (also `bash -ec`, `sh -xc`, `bash -c -e …`): the first operand after a
    short-option word holding `c`; None when the shell runs no `-c` string."""
    flag = next((i for i, word in enumerate(words[1:], 1) if _COMMAND_FLAG.fullmatch(word)), None)
    if flag is None:
        return None
    return next((word for word in words[flag + 1 :] if not word.startswith(("-", "+"))), "")


def _parse_into(text: str, parsed: ParsedCommand, depth: int) -> None:
    if depth > MAX_DEPTH:
        parsed.hazard("commands nested too deeply")
        return
    _Scanner(text, parsed, depth).run()


def parse_command(command: str) -> ParsedCommand:
    """The simple commands `command` runs (substitutions and `sh -c` strings included) and its hazards."""
    parsed = ParsedCommand()
    _parse_into(command, parsed, 0)
    return parsed


def pattern_matches(pattern: str, text: str) -> bool:
    """Whether `pattern` (`*` = any characters, `/` and spaces included; the rest literal) matches all of `text`.

    Each literal piece between stars is found leftmost in turn (correct for `*`-only patterns, and linear:
    no pattern backtracks)."""
    if "*" not in pattern:
        return text == pattern
    head, *middle, tail = pattern.split("*")
    if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
        return False
    position, end = len(head), len(text) - len(tail)
    for piece in middle:
        found = text.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


class Verdict(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str
    rememberable: tuple[str, ...] = ()
    """For ASK: the programs an "Always allow" would remember (empty: it is not offered)."""


def _first_match(patterns: Iterable[str], texts: Sequence[str]) -> str | None:
    return next((p for p in patterns if any(pattern_matches(p, t) for t in texts)), None)


def decide(
    command: str,
    allow: Sequence[str],
    deny: Sequence[str],
    remembered: Callable[[str], bool] = lambda program: False,
) -> Decision:
    """Deny when a deny pattern matches any part; allow when every part is allowed (by `allow` or a program the
    user chose to always allow, `remembered`) and nothing in it needs a person; else ask."""
    parsed = parse_command(command)
    for part in parsed.parts:
        if pattern := _first_match(deny, part.deny_texts()):
            return Decision(Verdict.DENY, f"`{part.text}` matches the deny pattern `{pattern}`")
    if not parsed.parts:
        return Decision(Verdict.ASK, "it runs no command byok can recognise")
    if parsed.hazards:
        return Decision(Verdict.ASK, "it has " + ", ".join(parsed.hazards))
    unallowed = [
        part
        for part in parsed.parts
        if _first_match(allow, [part.text]) is None and not remembered(part.program)
    ]
    if not unallowed:
        return Decision(Verdict.ALLOW, "every part is allowed")
    programs = tuple(dict.fromkeys(part.program for part in unallowed))
    rememberable = all(
        _PLAIN_PROGRAM.fullmatch(program) and program.rsplit("/", 1)[-1] not in _WRAPPERS | _SHELLS | {"eval"}
        for program in programs
    )
    return Decision(
        Verdict.ASK,
        "no allow pattern matches " + ", ".join(f"`{part.text}`" for part in unallowed),
        programs if rememberable else (),
    )
