"""Scrubbing keys from text: every secret this process has seen, in its common encodings, and well-known
key shapes.

Used by errors (every message), logging (every record), the LSP layer (every result, user-facing message
and stream delta) and the CLI, so a key can only ever appear as its fingerprint (`sk-…a1b2`). A registered
key is also caught percent-encoded (either hex case, `quote` or `quote_plus`), hex-encoded (either case),
JSON-escaped (`\\/`, `\\uXXXX`), and base64-encoded (standard or URL-safe alphabet, with or without padding,
after any prefix, as in Basic auth `user:key`). Everything is one compiled regex, so a redaction costs one
scan of the text. `StreamRedactor` applies the same regex to text that arrives in pieces.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import sys
import threading
from dataclasses import dataclass
from typing import Any

_PREFIXES = ("sk-ant-", "sk-or-", "sk-proj-", "sk-svcacct-", "sk-admin-", "AIza", "AKIA", "ASIA", "sk-")
MAX_KEY_SHAPE_LEN = 256
"""The longest text one well-known key shape redacts (a longer run is redacted up to this length)."""
_SK_BODY_MAX = MAX_KEY_SHAPE_LEN - len("sk-svcacct-")
# Shapes of well-known keys, redacted from any text even when this process never loaded them.
# A shape starts a word (`task-manager-list` holds no key) and an `sk-` body holds a digit, as every real
# key does (`sk-learn-compatible-estimator` is prose).
_KEY_SHAPES = (
    r"(?<![A-Za-z0-9])(?:"
    rf"sk-(?:ant-|or-|proj-|svcacct-|admin-)?(?=[A-Za-z_\-]*[0-9])[A-Za-z0-9_\-]{{16,{_SK_BODY_MAX}}}"
    rf"|AIza[0-9A-Za-z_\-]{{30,{MAX_KEY_SHAPE_LEN - 4}}}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16})"
)
# Any non-empty start of a key shape (a superset: the body's length is bounded by the hold-back window).
_KEY_SHAPE_STARTS = (
    r"s(?:k(?:-[A-Za-z0-9_\-]*)?)?|A(?:I(?:z(?:a[0-9A-Za-z_\-]*)?)?)?|A(?:[KS](?:I(?:A[0-9A-Z]*)?)?)?"
)
_EXACT_START_TOKENS = 16
"""How many tokens of a form the hold-back test checks exactly; after them, any of the form's characters."""

Atom = frozenset[str]
"""One character position of an encoded form: the characters allowed there (a letter's cases, say)."""
Token = tuple[tuple[Atom, ...], ...]
"""One character (or byte) of a secret: every way it is written, each a sequence of atoms."""


def fingerprint(secret: str) -> str:
    """A recognisable, non-secret label: the key's family prefix and its last four characters."""
    secret = secret.strip()
    if secret.startswith("{"):
        try:
            access_key = str(json.loads(secret).get("accessKeyId", ""))
        except (ValueError, AttributeError):
            access_key = ""
        if access_key:
            return fingerprint(access_key)
    prefix = next((p for p in _PREFIXES if secret.startswith(p) and len(secret) > len(p) + 8), "")
    if len(secret) < 12:
        return f"{prefix}…"
    return f"{prefix}…{secret[-4:]}"


def _atoms(text: str) -> tuple[Atom, ...]:
    """`text` as atoms, letters in either case (for hex digits: `%2f` and `%2F`)."""
    return tuple(frozenset({c.lower(), c.upper()}) for c in text)


def _char_token(*chars: str) -> Token:
    """Every way one of `chars` is written: as itself, percent-escaped, JSON-escaped."""
    ways: list[tuple[Atom, ...]] = []
    for char in chars:
        ways.append((frozenset(char),))
        if char.isascii() and char.isalnum():
            continue
        ways.append((frozenset("%"), *_atoms("".join(f"{b:02X}" for b in char.encode()))))
        if ord(char) < 0x10000:
            ways.append((frozenset("\\"), frozenset("u"), *_atoms(f"{ord(char):04X}")))
        if char == "/":
            ways.append((frozenset("\\"), frozenset("/")))
        if char == " ":
            ways.append((frozenset("+"),))
    return tuple(ways)


def _atom_regex(atom: Atom) -> str:
    return (
        re.escape(next(iter(atom))) if len(atom) == 1 else "[" + "".join(map(re.escape, sorted(atom))) + "]"
    )


def _way_regex(way: tuple[Atom, ...]) -> str:
    return "".join(map(_atom_regex, way))


def _token_regex(token: Token) -> str:
    return _way_regex(token[0]) if len(token) == 1 else "(?:" + "|".join(map(_way_regex, token)) + ")"


def _nested_starts(parts: list[str]) -> str:
    """`p0(?:p1(?:p2)?)?`: any non-empty start of the concatenation of `parts`."""
    regex = ""
    for part in reversed(parts):
        regex = part + (f"(?:{regex})?" if regex else "")
    return regex


def _partial_token_regex(token: Token) -> str:
    """A proper, non-empty start of one way of writing the token (`%2` of `%2F`), or '' if none can be."""
    starts = [_nested_starts([_atom_regex(a) for a in way[:-1]]) for way in token if len(way) > 1]
    return "|".join(starts)


def _shared_starts(sequences: list[tuple[str, ...]]) -> str:
    """One alternation of token sequences (in order) with common starts factored out.

    sre tries a position against the alternatives one by one; factored, a position that starts no form
    costs one test per distinct first token, not one per form. An alternative that is a start of a longer
    one comes after it.
    """
    groups: dict[str, list[tuple[str, ...]]] = {}
    for sequence in sequences:
        groups.setdefault(sequence[0] if sequence else "", []).append(sequence[1:])
    branches = []
    for first, rests in groups.items():
        if not first:
            continue
        shared = 0
        while all(len(rest) > shared and rest[shared] == rests[0][shared] for rest in rests):
            shared += 1
        head = first + "".join(rests[0][:shared])
        tails = [rest[shared:] for rest in rests]
        branches.append(head if tails == [()] else head + f"(?:{_shared_starts(tails)})")
    return "|".join(branches + ([""] if "" in groups else []))


@dataclass(frozen=True, slots=True)
class _Form:
    """One encoding of one secret: a sequence of tokens, and the label that replaces it."""

    tokens: tuple[Token, ...]
    label: str

    @property
    def token_regexes(self) -> tuple[str, ...]:
        return tuple(map(_token_regex, self.tokens))

    @property
    def regex(self) -> str:
        return "".join(self.token_regexes)

    @property
    def max_len(self) -> int:
        return sum(max(len(way) for way in token) for token in self.tokens)

    def start_regex(self) -> str:
        """Matches any non-empty start of this form (a superset after the first tokens)."""
        exact, rest = self.tokens[:_EXACT_START_TOKENS], self.tokens[_EXACT_START_TOKENS:]
        tail = ""
        if rest:
            chars = {c for token in rest for way in token for atom in way for c in atom}
            tail = _atom_regex(frozenset(chars)) + "*"
        regex = tail
        for token in reversed(exact):
            partial = _partial_token_regex(token)
            whole = _token_regex(token) + (f"(?:{regex})?" if regex else "")
            regex = f"{whole}|{partial}" if partial else whole
            regex = f"(?:{regex})"
        return regex


def _forms_of(secret: str) -> list[_Form]:
    """The secret as written raw or escaped, as hex, and as base64 at each of the three byte alignments."""
    label = fingerprint(secret)
    raw = secret.encode()
    forms = [
        _Form(tuple(_char_token(c) for c in secret), label),
        _Form(tuple((_atoms(f"{byte:02x}"),) for byte in raw), label),
    ]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        # Only the characters made of the secret's bits alone: the same whatever bytes come before or after.
        stable = encoded[(8 * offset + 5) // 6 : 8 * (offset + len(raw)) // 6]
        url_safe = stable.translate(str.maketrans("+/", "-_"))
        either_alphabet = (_char_token(*dict.fromkeys(pair)) for pair in zip(stable, url_safe, strict=True))
        forms.append(_Form(tuple(either_alphabet), label))
    return forms


def _secret_parts(secret: str) -> list[str]:
    """The secret, or for a JSON credential (AWS) each of its string values."""
    if secret.strip().startswith("{"):
        with contextlib.suppress(ValueError, AttributeError):
            return [v for v in json.loads(secret).values() if isinstance(v, str)]
    return [secret]


@dataclass(frozen=True, slots=True)
class _Compiled:
    pattern: re.Pattern[str]
    """Every form of every secret, longest first, then the key shapes."""
    starts: re.Pattern[str]
    """A non-empty start of any form or key shape that runs to the end of the text."""
    labels: list[tuple[re.Pattern[str], str]]
    hold_limit: int


class _Redactor:
    """Every secret this process has seen, and the means to scrub them from text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: dict[str, list[_Form]] = {}
        self._compiled: _Compiled | None = None

    def register(self, secret: str) -> None:
        with self._lock:
            for part in _secret_parts(secret):
                part = part.strip()
                if len(part) >= 8 and part not in self._forms:
                    self._forms[part] = _forms_of(part)
                    self._compiled = None

    def current(self) -> _Compiled:
        """The compiled patterns for the secrets registered so far."""
        compiled = self._compiled  # one reference read: no lock on the hot path
        if compiled is not None:
            return compiled
        with self._lock:
            if self._compiled is None:
                forms = sorted((f for fs in self._forms.values() for f in fs), key=lambda f: -f.max_len)
                registered = [_shared_starts([f.token_regexes for f in forms])] if forms else []
                self._compiled = _Compiled(
                    pattern=re.compile("|".join([*registered, _KEY_SHAPES])),
                    starts=re.compile(
                        "(?:" + "|".join([*(f.start_regex() for f in forms), _KEY_SHAPE_STARTS]) + r")\Z"
                    ),
                    labels=[(re.compile(f.regex), f.label) for f in forms],
                    hold_limit=max([MAX_KEY_SHAPE_LEN, *(f.max_len for f in forms)]),
                )
            return self._compiled

    @property
    def hold_limit(self) -> int:
        """The longest text any form or key shape matches: the most a `StreamRedactor` holds back."""
        return self.current().hold_limit

    def redact(self, text: str) -> str:
        compiled = self.current()
        return compiled.pattern.sub(lambda m: _label(compiled, m.group()), text)


def _label(compiled: _Compiled, found: str) -> str:
    """The fingerprint of the secret `found` is a form of; a key shape is its own fingerprint."""
    for regex, label in compiled.labels:
        if regex.fullmatch(found):
            return label
    return fingerprint(found)


REDACTOR = _Redactor()
redact = REDACTOR.redact


class StreamRedactor:
    """Redacts text that arrives in pieces, so the output is exactly `redact` of the whole text.

    `feed` returns what is safe to show now and holds back only a trailing start of a possible key form
    (at most `REDACTOR.hold_limit` characters); text that cannot start a key flows through at once.
    `finish` returns the rest.
    """

    def __init__(self) -> None:
        self.held = ""
        self._before = ""
        """The last character already let through: a key shape must start a word, so it decides."""

    def feed(self, text: str) -> str:
        return self._release(text, final=False)

    def finish(self) -> str:
        return self._release("", final=True)

    def _release(self, text: str, *, final: bool) -> str:
        compiled = REDACTOR.current()
        buffer = self._before + self.held + text
        out: list[str] = []
        position = len(self._before)
        while True:
            # Before `hold_from` no match can be changed by later text; a match starting there might be.
            start = (
                None
                if final
                else compiled.starts.search(buffer, max(position, len(buffer) - compiled.hold_limit))
            )
            hold_from = start.start() if start else len(buffer)
            found = compiled.pattern.search(buffer, position)
            if found is None or found.start() >= hold_from:
                break
            out += (buffer[position : found.start()], _label(compiled, found.group()))
            position = found.end()
        out.append(buffer[position:hold_from])
        self.held = buffer[hold_from:]
        if hold_from > 0:
            self._before = buffer[hold_from - 1]
        return "".join(out)


def redact_data(data: Any) -> Any:
    """A JSON value with every string in it redacted (results and error data leaving a front end)."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {k: redact_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [redact_data(v) for v in data]
    return data


class DeltaRedactor:
    """Redacts a stream's deltas: one `StreamRedactor` per kind, as kinds (reasoning, text) interleave.

    Status lines are whole messages byok writes, redacted one by one and never held back.
    """

    def __init__(self) -> None:
        self._streams: dict[str, StreamRedactor] = {}

    def feed(self, kind: str, text: str) -> str:
        if kind == "status":
            return redact(text)
        stream = self._streams.get(kind)
        if stream is None:
            stream = self._streams[kind] = StreamRedactor()
        return stream.feed(text)

    def finish(self) -> list[tuple[str, str]]:
        """The text still held back, per kind, at the end of the stream."""
        return [(kind, rest) for kind, stream in self._streams.items() if (rest := stream.finish())]


class RedactingFormatter(logging.Formatter):
    """Formats a record (traceback included), then scrubs every known key from the result."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_to_stderr(byok_level: int = logging.INFO) -> None:
    """Send every log record to stderr only (stdout is the protocol channel or the CLI's output), redacted:
    byok's from `byok_level`, other libraries' (httpx logs whole URLs at INFO) from WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("byok").setLevel(byok_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
