"""Writes the Apply case set: one directory per case with `original`, `snippet`, `expected`, `case.json`.

The files carry no extension (so linters leave the real-world code alone); `case.json` names the
language by its usual file extension.

Each case is authored as an original (real code: Python stdlib files on this machine, or code written in
the style of real projects), the snippet a chat model would write, and the intended change expressed as
literal replacements of the original. `expected` is produced by those replacements, never by the engine.
Cases marked unresolved expect Apply to leave the listed piece out and say so; their `expected` holds
the file with only the placeable pieces applied.

Run `python tests/apply_cases/build_cases.py` to regenerate; the directories are committed.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"


@dataclass
class Case:
    """One Apply case."""

    name: str
    ext: str
    original: str
    snippet: str
    replace: list[tuple[str, str]] = field(default_factory=list)
    unresolved: bool = False
    crlf: bool = False
    path: str | None = None
    note: str = ""

    def expected(self) -> str:
        """The original with each replacement applied exactly once (the whole snippet for a new file)."""
        if not self.original:
            return self.snippet
        text = self.original
        for old, new in self.replace:
            count = text.count(old)
            if count != 1:
                raise ValueError(f"{self.name}: {old!r} occurs {count} times")
            text = text.replace(old, new)
        return text


def stdlib(name: str) -> str:
    """A Python stdlib module's source as it ships on this machine."""
    return (STDLIB / name).read_text(encoding="utf-8")


CASES: list[Case] = []


def case(*args: object, **kwargs: object) -> None:
    """Register a case."""
    CASES.append(Case(*args, **kwargs))  # type: ignore[arg-type]


# ---------------------------------------------------------------- Python (stdlib originals)

COLORSYS = stdlib("colorsys.py")
GLOB = stdlib("glob.py")
FNMATCH = stdlib("fnmatch.py")
BISECT = stdlib("bisect.py")

case(
    "py-insert-line",
    "py",
    COLORSYS,
    """# ... existing code ...
def hls_to_rgb(h, l, s):
    if s == 0.0:
        return l, l, l
    if not 0.0 <= l <= 1.0:
        raise ValueError("lightness out of range")
    if l <= 0.5:
# ... existing code ...
""",
    [
        (
            "        return l, l, l\n    if l <= 0.5:\n",
            '        return l, l, l\n    if not 0.0 <= l <= 1.0:\n        raise ValueError("lightness out of range")\n'
            "    if l <= 0.5:\n",
        )
    ],
    note="insertion inside a function",
)

case(
    "py-delete-lines",
    "py",
    GLOB,
    """# ... existing code ...
    sys.audit("glob.glob", pathname, recursive)
    if root_dir is not None:
# ... existing code ...
""",
    [
        (
            '    sys.audit("glob.glob", pathname, recursive)\n    sys.audit("glob.glob/2", pathname, recursive, '
            "root_dir, dir_fd)\n",
            '    sys.audit("glob.glob", pathname, recursive)\n',
        )
    ],
    note="deletion",
)

case(
    "py-rename-local",
    "py",
    COLORSYS,
    """# ... existing code ...
def rgb_to_hsv(r, g, b):
    maxc = max(r, g, b)
    minc = min(r, g, b)
    spread = (maxc-minc)
    v = maxc
    if minc == maxc:
        return 0.0, 0.0, v
    s = spread / maxc
    rc = (maxc-r) / spread
    gc = (maxc-g) / spread
    bc = (maxc-b) / spread
    if r == maxc:
# ... existing code ...
""",
    [
        (
            """    rangec = (maxc-minc)
    v = maxc
    if minc == maxc:
        return 0.0, 0.0, v
    s = rangec / maxc
    rc = (maxc-r) / rangec
    gc = (maxc-g) / rangec
    bc = (maxc-b) / rangec
""",
            """    spread = (maxc-minc)
    v = maxc
    if minc == maxc:
        return 0.0, 0.0, v
    s = spread / maxc
    rc = (maxc-r) / spread
    gc = (maxc-g) / spread
    bc = (maxc-b) / spread
""",
        )
    ],
    note="rename inside a function; rgb_to_hls has identical-looking lines",
)

case(
    "py-several-markers",
    "py",
    GLOB,
    """# ... existing code ...
def _ishidden(path):
    return path[0] in ('.', b'.'[0])

def _isrecursive(pattern):
    if isinstance(pattern, bytes):
        return pattern == b'**'
    return pattern == '**'

def escape(pathname):
    \"\"\"Escape all special characters.
    \"\"\"
    # ... existing code ...
    drive, pathname = os.path.splitdrive(pathname)
    if not pathname:
        return drive
    if isinstance(pathname, bytes):
# ... existing code ...
_dir_open_flags = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | getattr(os, 'O_CLOEXEC', 0)
""",
    [
        (
            """        return pattern == b'**'
    else:
        return pattern == '**'
""",
            """        return pattern == b'**'
    return pattern == '**'
""",
        ),
        (
            """    drive, pathname = os.path.splitdrive(pathname)
    if isinstance""",
            """    drive, pathname = os.path.splitdrive(pathname)
    if not pathname:
        return drive
    if isinstance""",
        ),
        (
            """_dir_open_flags = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0)""",
            """_dir_open_flags = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | getattr(os, 'O_CLOEXEC', 0)""",
        ),
    ],
    note="three changes, markers at two indentation levels",
)

case(
    "py-whole-function",
    "py",
    COLORSYS,
    """def _v(m1, m2, hue):
    hue %= 1.0
    if hue < ONE_SIXTH:
        return m1 + (m2 - m1) * hue * 6.0
    if hue < 0.5:
        return m2
    if hue < TWO_THIRD:
        return m1 + (m2 - m1) * (TWO_THIRD - hue) * 6.0
    return m1
""",
    [
        (
            """def _v(m1, m2, hue):
    hue = hue % 1.0
    if hue < ONE_SIXTH:
        return m1 + (m2-m1)*hue*6.0
    if hue < 0.5:
        return m2
    if hue < TWO_THIRD:
        return m1 + (m2-m1)*(TWO_THIRD-hue)*6.0
    return m1
""",
            """def _v(m1, m2, hue):
    hue %= 1.0
    if hue < ONE_SIXTH:
        return m1 + (m2 - m1) * hue * 6.0
    if hue < 0.5:
        return m2
    if hue < TWO_THIRD:
        return m1 + (m2 - m1) * (TWO_THIRD - hue) * 6.0
    return m1
""",
        )
    ],
    note="complete function, no markers",
)

case(
    "py-whole-function-rewrite",
    "py",
    GLOB,
    """def has_magic(s):
    pattern = magic_check_bytes if isinstance(s, bytes) else magic_check
    return pattern.search(s) is not None
""",
    [
        (
            """def has_magic(s):
    if isinstance(s, bytes):
        match = magic_check_bytes.search(s)
    else:
        match = magic_check.search(s)
    return match is not None
""",
            """def has_magic(s):
    pattern = magic_check_bytes if isinstance(s, bytes) else magic_check
    return pattern.search(s) is not None
""",
        )
    ],
    note="complete function whose body shares no line with the old one",
)

case(
    "py-new-function-at-end",
    "py",
    FNMATCH,
    """# ... existing code ...
    res = "".join(res)
    return fr'(?s:{res})\\Z'


def matches_any(name, patterns):
    \"\"\"Return True if NAME matches any of PATTERNS.\"\"\"
    return any(fnmatchcase(name, pat) for pat in patterns)
""",
    [
        (
            """    res = "".join(res)
    return fr'(?s:{res})\\Z'
""",
            """    res = "".join(res)
    return fr'(?s:{res})\\Z'


def matches_any(name, patterns):
    \"\"\"Return True if NAME matches any of PATTERNS.\"\"\"
    return any(fnmatchcase(name, pat) for pat in patterns)
""",
        )
    ],
    note="append after the last function",
)

case(
    "py-import-at-top",
    "py",
    FNMATCH,
    """\"\"\"Filename matching with shell patterns.
# ... existing code ...
import os
import posixpath
import re
import functools
import typing

__all__ = ["filter", "fnmatch", "fnmatchcase", "translate", "matches_any"]
# ... existing code ...
""",
    [
        (
            'import functools\n\n__all__ = ["filter", "fnmatch", "fnmatchcase", "translate"]',
            'import functools\nimport typing\n\n__all__ = ["filter", "fnmatch", "fnmatchcase", "translate", '
            '"matches_any"]',
        )
    ],
)

case(
    "py-bare-ellipsis",
    "py",
    GLOB,
    """def _rlistdir(dirname, dir_fd, dironly, include_hidden=False):
    names = _listdir(dirname, dir_fd, dironly)
    for x in sorted(names):
        ...
""",
    [
        (
            "    for x in names:\n        if include_hidden or not _ishidden(x):\n            yield x\n",
            "    for x in sorted(names):\n        if include_hidden or not _ishidden(x):\n            yield x\n",
        )
    ],
    note="a bare ... elides the rest of the loop body",
)

case(
    "py-method-deindented",
    "py",
    stdlib("textwrap.py"),
    """def _fix_sentence_endings(self, chunks):
    \"\"\"_fix_sentence_endings(chunks : [string])

    Correct for sentence endings buried in 'chunks'.  Eg. when the
    original text contains "... foo.\\\\nBar ...", munge_whitespace()
    and split() will convert that to [..., "foo.", " ", "Bar", ...]
    which has one too few spaces; this method simply changes the one
    space to two.
    \"\"\"
    i = 0
    patsearch = self.sentence_end_re.search
    while i < len(chunks) - 1:
        if chunks[i+1] == " " and patsearch(chunks[i]):
            chunks[i+1] = "  "
            i += 2
        else:
            i += 1
""",
    [
        (
            """        while i < len(chunks)-1:
            if chunks[i+1] == " " and patsearch(chunks[i]):""",
            """        while i < len(chunks) - 1:
            if chunks[i+1] == " " and patsearch(chunks[i]):""",
        )
    ],
    note="a method written at column 0: re-indented into its class",
)

case(
    "py-wrap-in-try",
    "py",
    GLOB,
    """# ... existing code ...
def _lexists(pathname, dir_fd):
    # Same as os.path.lexists(), but with dir_fd
    if dir_fd is None:
        try:
            return os.path.lexists(pathname)
        except ValueError:
            return False
    try:
# ... existing code ...
""",
    [
        (
            """    if dir_fd is None:
        return os.path.lexists(pathname)
    try:
        os.lstat(""",
            """    if dir_fd is None:
        try:
            return os.path.lexists(pathname)
        except ValueError:
            return False
    try:
        os.lstat(""",
        )
    ],
    note="indentation change: lines wrapped in try; _isdir has a near-identical body",
)

case(
    "py-unwrap-dedent",
    "py",
    BISECT,
    """# ... existing code ...
def insort_right(a, x, lo=0, hi=None, *, key=None):
    \"\"\"Insert item x in list a, and keep it sorted assuming a is sorted.

    If x is already in a, insert it to the right of the rightmost x.

    Optional args lo (default 0) and hi (default len(a)) bound the
    slice of a to be searched.
    \"\"\"
    lo = bisect_right(a, x if key is None else key(x), lo, hi, key=key)
    a.insert(lo, x)
# ... existing code ...
""",
    [
        (
            """    if key is None:
        lo = bisect_right(a, x, lo, hi)
    else:
        lo = bisect_right(a, key(x), lo, hi, key=key)
    a.insert(lo, x)
""",
            """    lo = bisect_right(a, x if key is None else key(x), lo, hi, key=key)
    a.insert(lo, x)
""",
        )
    ],
    note="if/else collapsed; insort_left has the same shape",
)

case(
    "py-duplicate-disambiguated",
    "py",
    BISECT,
    """# ... existing code ...
def bisect_left(a, x, lo=0, hi=None, *, key=None):
    # ... existing code ...
    if lo < 0:
        raise ValueError(f'lo must be non-negative, got {lo}')
    if hi is None:
        hi = len(a)
# ... existing code ...
""",
    [
        (
            """    slice of a to be searched.
    \"\"\"

    if lo < 0:
        raise ValueError('lo must be non-negative')
    if hi is None:
        hi = len(a)
    # Note, the comparison uses "<" to match the
    # __lt__() logic in list.sort() and in heapq.
    if key is None:
        while lo < hi:
            mid = (lo + hi) // 2
            if a[mid] < x:""",
            """    slice of a to be searched.
    \"\"\"

    if lo < 0:
        raise ValueError(f'lo must be non-negative, got {lo}')
    if hi is None:
        hi = len(a)
    # Note, the comparison uses "<" to match the
    # __lt__() logic in list.sort() and in heapq.
    if key is None:
        while lo < hi:
            mid = (lo + hi) // 2
            if a[mid] < x:""",
        )
    ],
    note="the same three lines exist in bisect_right; the header segment places it",
)

case(
    "py-duplicate-ambiguous",
    "py",
    BISECT,
    """# ... existing code ...
    if lo < 0:
        raise ValueError('lo must be >= 0')
    if hi is None:
        hi = len(a)
# ... existing code ...
""",
    [],
    unresolved=True,
    note="identical context in bisect_right and bisect_left: must not guess",
)

CLAMPS = "".join(
    f"    if {c} {op} {v}:\n        {c} = {v}\n" for op, v in (("<", "0.0"), (">", "1.0")) for c in "rgb"
)

case(
    "py-crlf",
    "py",
    COLORSYS,
    """# ... existing code ...
    b = y - 1.1085450346420322*i + 1.7090069284064666*q

    return (_clamp(r), _clamp(g), _clamp(b))


def _clamp(x):
    return min(1.0, max(0.0, x))


# HLS: Hue, Luminance, Saturation
# ... existing code ...
""",
    [
        (
            CLAMPS + "    return (r, g, b)\n",
            "    return (_clamp(r), _clamp(g), _clamp(b))\n\n\ndef _clamp(x):\n    return min(1.0, max(0.0, x))\n",
        )
    ],
    crlf=True,
    note="CRLF original, LF snippet; twelve clamping lines become a helper",
)

case(
    "py-anchors-moved",
    "py",
    COLORSYS.replace(
        "ONE_THIRD = 1.0/3.0\n",
        "ONE_THIRD = 1.0/3.0\nEPSILON = 1e-12\n\n\ndef _close(a, b):\n    return abs(a - b) < EPSILON\n",
    ),
    """# ... existing code ...
def rgb_to_hls(r, g, b):
    maxc = max(r, g, b)
    minc = min(r, g, b)
    sumc = (maxc + minc)
    rangec = (maxc - minc)
    l = sumc/2.0
    if _close(minc, maxc):
        return 0.0, l, 0.0
# ... existing code ...
""",
    [
        (
            """    sumc = (maxc+minc)
    rangec = (maxc-minc)
    l = sumc/2.0
    if minc == maxc:
        return 0.0, l, 0.0
""",
            """    sumc = (maxc + minc)
    rangec = (maxc - minc)
    l = sumc/2.0
    if _close(minc, maxc):
        return 0.0, l, 0.0
""",
        )
    ],
    note="the file grew above the edited function since the snippet was written",
)

case(
    "py-fenced-with-path",
    "py",
    FNMATCH,
    """```python
# fnmatch.py
# ... existing code ...
def fnmatchcase(name, pat):
    \"\"\"Test whether FILENAME matches PATTERN, including case.

    This is a version of fnmatch() which doesn't case-normalize
    its arguments.
    \"\"\"
    return _compile_pattern(pat)(name) is not None
# ... existing code ...
```
""",
    [
        (
            """    match = _compile_pattern(pat)
    return match(name) is not None
""",
            """    return _compile_pattern(pat)(name) is not None
""",
        )
    ],
    path="Lib/fnmatch.py",
    note="fenced snippet whose first line names the file",
)

case(
    "py-new-file",
    "py",
    "",
    """\"\"\"Small helpers for colour conversion tests.\"\"\"

import colorsys


def round_trip_hls(r, g, b):
    return colorsys.hls_to_rgb(*colorsys.rgb_to_hls(r, g, b))
""",
)

case(
    "py-whole-file",
    "py",
    BISECT[: BISECT.index("def insort_left")],
    BISECT[: BISECT.index("def insort_left")]
    .replace("    a.insert(lo, x)\n", "    a.insert(lo, x)\n    return lo\n")
    .replace(
        "            mid = (lo + hi) // 2\n            if x < a[mid]:",
        "            mid = (lo + hi) >> 1\n            if x < a[mid]:",
    ),
    [
        ("    a.insert(lo, x)\n", "    a.insert(lo, x)\n    return lo\n"),
        (
            "            mid = (lo + hi) // 2\n            if x < a[mid]:",
            "            mid = (lo + hi) >> 1\n            if x < a[mid]:",
        ),
    ],
    note="the whole file rewritten with two small changes",
)

case(
    "py-add-decorator-and-param",
    "py",
    GLOB,
    """# ... existing code ...
@functools.cache
def _isrecursive(pattern, strict=False):
    if isinstance(pattern, bytes):
# ... existing code ...
""",
    [("def _isrecursive(pattern):\n", "@functools.cache\ndef _isrecursive(pattern, strict=False):\n")],
)

case(
    "py-non-bmp",
    "py",
    '''"""Emoji helpers."""

STATUS = {
    "ok": "\U0001f7e2 ok",
    "warn": "\U0001f7e1 warn",
    "fail": "\U0001f534 fail",
}


def badge(state):
    return STATUS[state]
''',
    """# ... existing code ...
    "fail": "\U0001f534 fail",
    "skip": "\u26aa skip",
}


def badge(state):
    return STATUS.get(state, STATUS["skip"])
""",
    [
        (
            '    "fail": "\U0001f534 fail",\n}',
            '    "fail": "\U0001f534 fail",\n    "skip": "\u26aa skip",\n}',
        ),
        ("    return STATUS[state]", '    return STATUS.get(state, STATUS["skip"])'),
    ],
    note="astral-plane characters before the edits",
)

case(
    "py-middle-no-context",
    "py",
    COLORSYS,
    """# ... existing code ...
def rgb_to_yiq(r, g, b):
    y = 0.30*r + 0.59*g + 0.11*b
# ... existing code ...
    assert 0.0 <= y <= 1.0, "luma out of range"
# ... existing code ...
""",
    [],
    unresolved=True,
    note="a middle piece with no context line: unplaceable. The first segment changes nothing.",
)

# ---------------------------------------------------------------- TypeScript

TS_STORE = """import { EventEmitter } from "events";
import type { Logger } from "./logger";
import { debounce } from "./util";

export interface StoreOptions {
  name: string;
  persist?: boolean;
}

export class Store<T> extends EventEmitter {
  private items = new Map<string, T>();
  private readonly logger: Logger;

  constructor(private readonly options: StoreOptions, logger: Logger) {
    super();
    this.logger = logger;
  }

  get(id: string): T | undefined {
    return this.items.get(id);
  }

  set(id: string, value: T): void {
    this.items.set(id, value);
    this.emit("change", id);
  }

  delete(id: string): boolean {
    const existed = this.items.delete(id);
    if (existed) {
      this.emit("change", id);
    }
    return existed;
  }

  get size(): number {
    return this.items.size;
  }
}

export function createStore<T>(name: string, logger: Logger): Store<T> {
  return new Store<T>({ name }, logger);
}
"""

case(
    "ts-add-method",
    "ts",
    TS_STORE,
    """// ... existing code ...
  delete(id: string): boolean {
    const existed = this.items.delete(id);
    if (existed) {
      this.emit("change", id);
    }
    return existed;
  }

  clear(): void {
    const ids = [...this.items.keys()];
    this.items.clear();
    ids.forEach((id) => this.emit("change", id));
  }

  // ... existing code ...
""",
    [
        (
            """    return existed;
  }
""",
            """    return existed;
  }

  clear(): void {
    const ids = [...this.items.keys()];
    this.items.clear();
    ids.forEach((id) => this.emit("change", id));
  }
""",
        )
    ],
)

case(
    "ts-replace-method",
    "ts",
    TS_STORE,
    """  set(id: string, value: T): void {
    const previous = this.items.get(id);
    this.items.set(id, value);
    if (previous !== value) {
      this.logger.debug(`store ${this.options.name}: set ${id}`);
      this.emit("change", id);
    }
  }
""",
    [
        (
            """    this.items.set(id, value);
    this.emit("change", id);
  }
""",
            """    const previous = this.items.get(id);
    this.items.set(id, value);
    if (previous !== value) {
      this.logger.debug(`store ${this.options.name}: set ${id}`);
      this.emit("change", id);
    }
  }
""",
        )
    ],
    note="complete method, no markers",
)

case(
    "ts-interface-field",
    "ts",
    TS_STORE,
    """// ... existing code ...
export interface StoreOptions {
  name: string;
  persist?: boolean;
  /** Milliseconds between persisted writes. */
  flushInterval?: number;
}
// ... rest of the file ...
""",
    [
        (
            "  persist?: boolean;\n}",
            "  persist?: boolean;\n  /** Milliseconds between persisted writes. */\n"
            "  flushInterval?: number;\n}",
        )
    ],
)

case(
    "ts-delete-import",
    "ts",
    TS_STORE,
    """import { EventEmitter } from "events";
import type { Logger } from "./logger";

export interface StoreOptions {
// ... rest of the file unchanged ...
""",
    [('import { debounce } from "./util";\n', "")],
    note="deletion of an unused import at the top",
)

case(
    "ts-two-methods-block-comment",
    "ts",
    TS_STORE,
    """export class Store<T> extends EventEmitter {
  /* ... */

  get(id: string): T | undefined {
    return this.items.get(id) ?? undefined;
  }

  /* ... */

  get size(): number {
    return this.items.size;
  }

  get ids(): string[] {
    return [...this.items.keys()];
  }
}
/* ... */
""",
    [
        ("    return this.items.get(id);\n", "    return this.items.get(id) ?? undefined;\n"),
        (
            """  get size(): number {
    return this.items.size;
  }
""",
            """  get size(): number {
    return this.items.size;
  }

  get ids(): string[] {
    return [...this.items.keys()];
  }
""",
        ),
    ],
)

TSX = """import React, { useState } from "react";
import { Button } from "./Button";

type Props = {
  title: string;
  onSave: (value: string) => void;
};

export function Editor({ title, onSave }: Props) {
  const [value, setValue] = useState("");

  return (
    <div className="editor">
      <h2>{title}</h2>
      <textarea value={value} onChange={(e) => setValue(e.target.value)} />
      <footer>
        <Button onClick={() => onSave(value)}>Save</Button>
      </footer>
    </div>
  );
}
"""

case(
    "tsx-jsx-comment-marker",
    "tsx",
    TSX,
    """export function Editor({ title, onSave }: Props) {
  const [value, setValue] = useState("");

  return (
    <div className="editor">
      {/* ... */}
      <footer>
        <Button onClick={() => setValue("")}>Clear</Button>
        <Button onClick={() => onSave(value)} disabled={!value}>Save</Button>
      </footer>
    </div>
  );
}
""",
    [
        (
            """        <Button onClick={() => onSave(value)}>Save</Button>""",
            """        <Button onClick={() => setValue("")}>Clear</Button>
        <Button onClick={() => onSave(value)} disabled={!value}>Save</Button>""",
        )
    ],
)

case(
    "ts-no-final-newline",
    "ts",
    TS_STORE.rstrip("\n"),
    """// ... existing code ...
export function createStore<T>(name: string, logger: Logger): Store<T> {
  return new Store<T>({ name }, logger);
}

export function createPersistentStore<T>(name: string, logger: Logger): Store<T> {
  return new Store<T>({ name, persist: true }, logger);
}
""",
    [
        (
            "  return new Store<T>({ name }, logger);\n}",
            "  return new Store<T>({ name }, logger);\n}\n\nexport function createPersistentStore<T>(name: string, "
            "logger: Logger): Store<T> {\n  return new Store<T>({ name, persist: true }, logger);\n}",
        )
    ],
    note="original without a final newline",
)

# ---------------------------------------------------------------- Go

GO_SERVER = """package server

import (
\t"context"
\t"errors"
\t"net/http"
\t"time"
)

// Server serves the API.
type Server struct {
\taddr    string
\thandler http.Handler
\tsrv     *http.Server
}

// New returns a Server listening on addr.
func New(addr string, handler http.Handler) *Server {
\treturn &Server{addr: addr, handler: handler}
}

// Start begins serving in the background.
func (s *Server) Start() error {
\tif s.srv != nil {
\t\treturn errors.New("server already started")
\t}
\ts.srv = &http.Server{Addr: s.addr, Handler: s.handler}
\tgo func() {
\t\t_ = s.srv.ListenAndServe()
\t}()
\treturn nil
}

// Stop shuts the server down.
func (s *Server) Stop(ctx context.Context) error {
\tif s.srv == nil {
\t\treturn nil
\t}
\treturn s.srv.Shutdown(ctx)
}

func statusText(code int) string {
\tswitch code {
\tcase http.StatusOK:
\t\treturn "ok"
\tcase http.StatusNotFound:
\t\treturn "not found"
\tdefault:
\t\treturn "error"
\t}
}
"""

case(
    "go-spaces-snippet-tabs-file",
    "go",
    GO_SERVER,
    """// ... existing code ...
func (s *Server) Start() error {
    if s.srv != nil {
        return errors.New("server already started")
    }
    s.srv = &http.Server{
        Addr:              s.addr,
        Handler:           s.handler,
        ReadHeaderTimeout: 5 * time.Second,
    }
    go func() {
// ... existing code ...
""",
    [
        (
            "\ts.srv = &http.Server{Addr: s.addr, Handler: s.handler}\n",
            "\ts.srv = &http.Server{\n\t\tAddr:              s.addr,\n\t\tHandler:           s.handler,\n"
            "\t\tReadHeaderTimeout: 5 * time.Second,\n\t}\n",
        )
    ],
    note="model wrote spaces, the file uses tabs",
)

case(
    "go-add-case",
    "go",
    GO_SERVER,
    """// ... existing code ...
\tcase http.StatusNotFound:
\t\treturn "not found"
\tcase http.StatusTooManyRequests:
\t\treturn "rate limited"
\tdefault:
// ... existing code ...
""",
    [
        (
            '\t\treturn "not found"\n',
            '\t\treturn "not found"\n\tcase http.StatusTooManyRequests:\n\t\treturn "rate limited"\n',
        )
    ],
)

case(
    "go-whole-method",
    "go",
    GO_SERVER,
    """// Stop shuts the server down, waiting at most timeout.
func (s *Server) Stop(ctx context.Context) error {
\tif s.srv == nil {
\t\treturn nil
\t}
\tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
\tdefer cancel()
\terr := s.srv.Shutdown(ctx)
\ts.srv = nil
\treturn err
}
""",
    [
        (
            """// Stop shuts the server down.
func (s *Server) Stop(ctx context.Context) error {
\tif s.srv == nil {
\t\treturn nil
\t}
\treturn s.srv.Shutdown(ctx)
}
""",
            """// Stop shuts the server down, waiting at most timeout.
func (s *Server) Stop(ctx context.Context) error {
\tif s.srv == nil {
\t\treturn nil
\t}
\tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
\tdefer cancel()
\terr := s.srv.Shutdown(ctx)
\ts.srv = nil
\treturn err
}
""",
        )
    ],
    note="complete method with its doc comment",
)

case(
    "go-struct-field-and-constructor",
    "go",
    GO_SERVER,
    """// ... existing code ...
type Server struct {
\taddr    string
\thandler http.Handler
\tsrv     *http.Server
\tlogger  *log.Logger
}

// New returns a Server listening on addr.
func New(addr string, handler http.Handler, logger *log.Logger) *Server {
\treturn &Server{addr: addr, handler: handler, logger: logger}
}
// ... existing code ...
""",
    [
        ("\tsrv     *http.Server\n}", "\tsrv     *http.Server\n\tlogger  *log.Logger\n}"),
        (
            "func New(addr string, handler http.Handler) *Server {\n\treturn &Server{addr: addr, handler: handler}",
            "func New(addr string, handler http.Handler, logger *log.Logger) *Server {\n"
            "\treturn &Server{addr: addr, handler: handler, logger: logger}",
        ),
    ],
)

case(
    "go-import-block",
    "go",
    GO_SERVER,
    """package server

import (
\t"context"
\t"errors"
\t"log"
\t"net/http"
\t"time"
)

// ... existing code ...
""",
    [('\t"errors"\n', '\t"errors"\n\t"log"\n')],
)

case(
    "go-body-ellipsis-in-func",
    "go",
    GO_SERVER,
    """func (s *Server) Start() error {
\t// ...
\tgo func() {
\t\tif err := s.srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
\t\t\tpanic(err)
\t\t}
\t}()
\treturn nil
}
""",
    [
        (
            "\t\t_ = s.srv.ListenAndServe()\n",
            "\t\tif err := s.srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {\n"
            "\t\t\tpanic(err)\n\t\t}\n",
        )
    ],
)

# ---------------------------------------------------------------- Rust

RUST = """use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Number(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
}

#[derive(Debug, Default)]
pub struct Env {
    vars: HashMap<String, f64>,
}

impl Env {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.vars.get(name).copied()
    }

    pub fn set(&mut self, name: &str, value: f64) {
        self.vars.insert(name.to_string(), value);
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Number(n) => write!(f, "{}", n),
            Token::Ident(s) => write!(f, "{}", s),
            Token::Plus => write!(f, "+"),
            Token::Minus => write!(f, "-"),
            Token::Star => write!(f, "*"),
            Token::Slash => write!(f, "/"),
        }
    }
}

pub fn apply(op: &Token, a: f64, b: f64) -> Option<f64> {
    match op {
        Token::Plus => Some(a + b),
        Token::Minus => Some(a - b),
        Token::Star => Some(a * b),
        Token::Slash => Some(a / b),
        _ => None,
    }
}
"""

case(
    "rs-add-variant-and-arms",
    "rs",
    RUST,
    """// ... existing code ...
    Star,
    Slash,
    Caret,
}
// ... existing code ...
            Token::Slash => write!(f, "/"),
            Token::Caret => write!(f, "^"),
        }
// ... existing code ...
        Token::Slash => Some(a / b),
        Token::Caret => Some(a.powf(b)),
        _ => None,
// ... existing code ...
""",
    [
        ("    Slash,\n}", "    Slash,\n    Caret,\n}"),
        (
            '            Token::Slash => write!(f, "/"),\n',
            '            Token::Slash => write!(f, "/"),\n            Token::Caret => write!(f, "^"),\n',
        ),
        (
            "        Token::Slash => Some(a / b),\n",
            "        Token::Slash => Some(a / b),\n        Token::Caret => Some(a.powf(b)),\n",
        ),
    ],
    note="three insertions, one snippet",
)

case(
    "rs-impl-add-method",
    "rs",
    RUST,
    """impl Env {
    // ... existing code ...

    pub fn remove(&mut self, name: &str) -> Option<f64> {
        self.vars.remove(name)
    }
}
""",
    [
        (
            """        self.vars.insert(name.to_string(), value);
    }
}
""",
            """        self.vars.insert(name.to_string(), value);
    }

    pub fn remove(&mut self, name: &str) -> Option<f64> {
        self.vars.remove(name)
    }
}
""",
        )
    ],
    note="new method at the end of an impl block after a marker",
)

case(
    "rs-whole-fn",
    "rs",
    RUST,
    """pub fn apply(op: &Token, a: f64, b: f64) -> Option<f64> {
    match op {
        Token::Plus => Some(a + b),
        Token::Minus => Some(a - b),
        Token::Star => Some(a * b),
        Token::Slash if b != 0.0 => Some(a / b),
        _ => None,
    }
}
""",
    [("        Token::Slash => Some(a / b),\n", "        Token::Slash if b != 0.0 => Some(a / b),\n")],
)

case(
    "rs-derive-change",
    "rs",
    RUST,
    """// ... existing code ...
#[derive(Debug, Default, Clone)]
pub struct Env {
// ... existing code ...
""",
    [("#[derive(Debug, Default)]\n", "#[derive(Debug, Default, Clone)]\n")],
)

# ---------------------------------------------------------------- Java

JAVA = """package com.example.orders;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

public class Order {
    private final String id;
    private final List<LineItem> items = new ArrayList<>();
    private Status status = Status.NEW;

    public Order(String id) {
        this.id = Objects.requireNonNull(id);
    }

    public String getId() {
        return id;
    }

    public void addItem(LineItem item) {
        items.add(item);
    }

    public void addItem(String sku, int quantity, BigDecimal price) {
        items.add(new LineItem(sku, quantity, price));
    }

    public BigDecimal total() {
        BigDecimal sum = BigDecimal.ZERO;
        for (LineItem item : items) {
            sum = sum.add(item.price().multiply(BigDecimal.valueOf(item.quantity())));
        }
        return sum;
    }

    public Status getStatus() {
        return status;
    }

    public enum Status { NEW, PAID, SHIPPED }
}
"""

case(
    "java-method-body",
    "java",
    JAVA,
    """// ... existing code ...
    public BigDecimal total() {
        return items.stream()
            .map(item -> item.price().multiply(BigDecimal.valueOf(item.quantity())))
            .reduce(BigDecimal.ZERO, BigDecimal::add);
    }
// ... existing code ...
""",
    [
        (
            """        BigDecimal sum = BigDecimal.ZERO;
        for (LineItem item : items) {
            sum = sum.add(item.price().multiply(BigDecimal.valueOf(item.quantity())));
        }
        return sum;
""",
            """        return items.stream()
            .map(item -> item.price().multiply(BigDecimal.valueOf(item.quantity())))
            .reduce(BigDecimal.ZERO, BigDecimal::add);
""",
        )
    ],
)

case(
    "java-overload-disambiguated",
    "java",
    JAVA,
    """    public void addItem(String sku, int quantity, BigDecimal price) {
        if (quantity <= 0) {
            throw new IllegalArgumentException("quantity must be positive");
        }
        items.add(new LineItem(sku, quantity, price));
    }
""",
    [
        (
            """    public void addItem(String sku, int quantity, BigDecimal price) {
        items.add""",
            """    public void addItem(String sku, int quantity, BigDecimal price) {
        if (quantity <= 0) {
            throw new IllegalArgumentException("quantity must be positive");
        }
        items.add""",
        )
    ],
    note="two overloads named addItem",
)

case(
    "java-field-and-setter",
    "java",
    JAVA,
    """public class Order {
    private final String id;
    private final List<LineItem> items = new ArrayList<>();
    private Status status = Status.NEW;
    private String note;

    // ... existing code ...

    public Status getStatus() {
        return status;
    }

    public void setNote(String note) {
        this.note = note;
    }

    public enum Status { NEW, PAID, SHIPPED }
}
""",
    [
        (
            "    private Status status = Status.NEW;\n",
            "    private Status status = Status.NEW;\n    private String note;\n",
        ),
        (
            """        return status;
    }
""",
            """        return status;
    }

    public void setNote(String note) {
        this.note = note;
    }
""",
        ),
    ],
)

case(
    "java-crlf-import",
    "java",
    JAVA,
    """package com.example.orders;

import java.math.BigDecimal;
import java.time.Instant;
import java.util.ArrayList;
// ... existing code ...
""",
    [("import java.math.BigDecimal;\n", "import java.math.BigDecimal;\nimport java.time.Instant;\n")],
    crlf=True,
)

# ---------------------------------------------------------------- HTML / CSS

HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Settings</title>
  <link rel="stylesheet" href="style.css">
</head>
<body>
  <header class="top">
    <h1>Settings</h1>
  </header>
  <main>
    <form id="settings">
      <label for="name">Name</label>
      <input id="name" name="name" type="text">
      <label for="email">Email</label>
      <input id="email" name="email" type="email">
      <button type="submit">Save</button>
    </form>
  </main>
  <footer>
    <p>&copy; Example</p>
  </footer>
</body>
</html>
"""

case(
    "html-add-field",
    "html",
    HTML,
    """<!-- ... existing markup ... -->
      <input id="email" name="email" type="email">
      <label for="theme">Theme</label>
      <select id="theme" name="theme">
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
      <button type="submit">Save</button>
<!-- ... -->
""",
    [
        (
            '      <input id="email" name="email" type="email">\n',
            '      <input id="email" name="email" type="email">\n      <label for="theme">Theme</label>\n'
            '      <select id="theme" name="theme">\n        <option value="light">Light</option>\n'
            '        <option value="dark">Dark</option>\n      </select>\n',
        )
    ],
)

case(
    "html-attributes-and-head",
    "html",
    HTML,
    """<!-- ... -->
  <title>Settings</title>
  <link rel="stylesheet" href="style.css">
  <script src="settings.js" defer></script>
</head>
<!-- ... -->
      <input id="name" name="name" type="text" required autocomplete="name">
<!-- ... -->
""",
    [
        (
            '  <link rel="stylesheet" href="style.css">\n',
            '  <link rel="stylesheet" href="style.css">\n  <script src="settings.js" defer></script>\n',
        ),
        (
            '<input id="name" name="name" type="text">',
            '<input id="name" name="name" type="text" required autocomplete="name">',
        ),
    ],
)

CSS = """:root {
  --fg: #222;
  --bg: #fff;
  --accent: #0a66c2;
}

body {
  margin: 0;
  font-family: system-ui, sans-serif;
  color: var(--fg);
  background: var(--bg);
}

.top {
  display: flex;
  align-items: center;
  padding: 0 1rem;
}

button {
  background: var(--accent);
  color: white;
  border: none;
  padding: 0.5rem 1rem;
}

footer {
  font-size: 0.8rem;
  color: #666;
}
"""

case(
    "css-rule-change",
    "css",
    CSS,
    """/* ... */
button {
  background: var(--accent);
  color: white;
  border: none;
  border-radius: 4px;
  padding: 0.5rem 1rem;
  cursor: pointer;
}

button:hover {
  filter: brightness(1.1);
}
/* ... */
""",
    [
        (
            """  border: none;
  padding: 0.5rem 1rem;
}
""",
            """  border: none;
  border-radius: 4px;
  padding: 0.5rem 1rem;
  cursor: pointer;
}

button:hover {
  filter: brightness(1.1);
}
""",
        )
    ],
)

case(
    "css-dark-theme",
    "css",
    CSS,
    """:root {
  --fg: #222;
  --bg: #fff;
  --accent: #0a66c2;
}

@media (prefers-color-scheme: dark) {
  :root {
    --fg: #eee;
    --bg: #111;
  }
}

/* ... rest of the styles ... */
""",
    [
        (
            "  --accent: #0a66c2;\n}\n",
            "  --accent: #0a66c2;\n}\n\n@media (prefers-color-scheme: dark) {\n  :root {\n"
            "    --fg: #eee;\n    --bg: #111;\n  }\n}\n",
        )
    ],
)

# ---------------------------------------------------------------- YAML

WORKFLOW = """name: CI

on:
  push:
    branches: [main]
  pull_request:

jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.11", "3.12"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python }}
      - run: pip install -e .[dev]
      - run: pytest -q
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install ruff
      - run: ruff check .
"""

case(
    "yaml-add-step",
    "yaml",
    WORKFLOW,
    """# ... existing config ...
      - run: pip install -e .[dev]
      - run: mypy
      - run: pytest -q
  lint:
# ... existing config ...
""",
    [("      - run: pytest -q\n", "      - run: mypy\n      - run: pytest -q\n")],
    note="'- run: pip install' lines exist in both jobs; the pytest line pins it",
)

case(
    "yaml-matrix-value",
    "yaml",
    WORKFLOW,
    """# ...
    strategy:
      fail-fast: false
      matrix:
        python: ["3.11", "3.12", "3.13"]
# ...
""",
    [
        (
            '    strategy:\n      matrix:\n        python: ["3.11", "3.12"]\n',
            '    strategy:\n      fail-fast: false\n      matrix:\n        python: ["3.11", "3.12", "3.13"]\n',
        )
    ],
)

case(
    "yaml-lint-job-replaced",
    "yaml",
    WORKFLOW,
    """# ... existing jobs ...
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: astral-sh/ruff-action@v3
""",
    [
        (
            "      - run: pip install ruff\n      - run: ruff check .\n",
            "      - uses: astral-sh/ruff-action@v3\n",
        )
    ],
    note="the last job rewritten completely at the end of the file",
)

case(
    "yaml-delete-trigger",
    "yaml",
    WORKFLOW,
    """name: CI

on:
  push:
    branches: [main]

jobs:
# ... existing code ...
""",
    [("    branches: [main]\n  pull_request:\n", "    branches: [main]\n")],
)


def main() -> None:
    """Rewrite every case directory."""
    for old in HERE.iterdir():
        if old.is_dir() and (old / "case.json").exists():
            shutil.rmtree(old)
    for number, item in enumerate(CASES, 1):
        folder = HERE / f"{number:02d}-{item.name}"
        folder.mkdir()
        original, expected = item.original, item.expected()
        if item.crlf:
            original, expected = original.replace("\n", "\r\n"), expected.replace("\n", "\r\n")
        for stem, text in (("original", original), ("snippet", item.snippet), ("expected", expected)):
            (folder / stem).write_bytes(text.encode("utf-8"))
        meta = {"ext": item.ext, "unresolved": item.unresolved, "path": item.path, "note": item.note}
        (folder / "case.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases")


if __name__ == "__main__":
    main()
