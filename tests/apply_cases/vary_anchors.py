"""Writes tests/apply_cases/real_anchors/: real-code cases whose context lines read a little differently.

Chat models copy the unchanged lines around an edit loosely: they drop a trailing comment, or space an
argument list or an assignment their own way. Each case here is one of the generated cases (real, real_tune2,
real_held2) with one such context line of its snippet changed that way; the case keeps its source, licence
and split (the split was fixed by the source before any result was seen, so a held case stays held).

The snippet is the code the model wants, so the file after Apply holds that line as the snippet writes it:
`expected` is the case's expected file with that one line replaced. A line is only changed when its reading
is certain: it appears once in the original and once in the expected file, verbatim as the snippet shows it,
it is no marker, it keeps at least 12 characters of code, and its changed form matches no other line. Re-running
writes the same cases (a random generator seeded by each case's name):

    python tests/apply_cases/vary_anchors.py
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = ("real", "real_tune2", "real_tune3", "real_tune4", "real_tune5", "real_tune6", "real_tune7", "real_held2")
OUT = HERE / "real_anchors"
SHARE = 2
"""One case in SHARE gets a variant (the cases already exercise verbatim anchors)."""

COMMENT_OF = {"py": "#", "sh": "#", "pm": "#", "yaml": "#", "lua": "--", "el": ";;"}
"""Line-comment tokens by extension; C-like languages use `//` (CSS and HTML have none after code)."""
NO_LINE_COMMENT = {"css", "html"}
LOOKS_LIKE_MARKER = re.compile(r"\.\.\.|…|existing|unchanged|rest of", re.IGNORECASE)


def comment_token(ext: str) -> str | None:
    return None if ext in NO_LINE_COMMENT else COMMENT_OF.get(ext, "//")


def vary(line: str, ext: str, rng: random.Random) -> tuple[str, str] | None:
    """A loosely copied form of `line` and what changed, or None when the line offers no such change."""
    token = comment_token(ext)
    options: list[tuple[str, str]] = []
    if token is not None:
        found = re.search(rf"\s+{re.escape(token)}(?:\s|$)[^\"'`]*$", line)
        if found and len(line[: found.start()].strip()) >= 12:
            options.append((line[: found.start()], "trailing comment dropped"))
    for pattern, replacement, what in SPACING:
        found = pattern.search(line)
        if found and found.start() > len(line) - len(line.lstrip()) and outside_quotes(line, found.start()):
            if what != "space before ( added" or ext not in NO_LINE_COMMENT:  # `url (` is no CSS
                options.append((line[: found.start()] + found.expand(replacement) + line[found.end() :], what))
    if not options:
        return None
    rare = [option for option in options if option[1] != "space before ( added"]
    return options[0] if options[0][1] == "trailing comment dropped" else rng.choice(rare or options)


SPACING = [
    (re.compile(r", "), ",", "space after a comma dropped"),
    (re.compile(r"(\w),(\w)"), r"\1, \2", "space after a comma added"),
    (re.compile(r" = "), "=", "spaces around = dropped"),
    (re.compile(r"(\w)\("), r"\1 (", "space before ( added"),
]
"""Spacing a model changes when it copies a line: pattern, replacement, what changed."""


def outside_quotes(line: str, position: int) -> bool:
    """Whether `position` is outside string literals (an even count of each quote before it)."""
    head = line[:position]
    return all(head.count(quote) % 2 == 0 for quote in "\"'`")


def variant(folder: Path, rng: random.Random) -> tuple[str, bytes, bytes, str] | None:
    """(new snippet, new expected bytes, original bytes, note) for one case, or None."""
    meta = json.loads((folder / "case.json").read_text(encoding="utf-8"))
    original = (folder / "original").read_bytes().decode("utf-8")
    expected = (folder / "expected").read_bytes().decode("utf-8")
    snippet = (folder / "snippet").read_bytes().decode("utf-8")
    newline = "\r\n" if meta["crlf"] else "\n"
    olines, elines, slines = original.split(newline), expected.split(newline), snippet.split("\n")
    keys = {" ".join(line.split()) for line in olines} | {" ".join(line.split()) for line in elines}
    eligible = [
        i
        for i, line in enumerate(slines)
        if len(line.strip()) >= 12
        and not LOOKS_LIKE_MARKER.search(line)
        and olines.count(line) == 1
        and elines.count(line) == 1
    ]
    if not eligible:
        return None
    filled = [i for i, line in enumerate(slines) if line.strip() and not LOOKS_LIKE_MARKER.search(line)]
    edges = [i for i in eligible if filled and i in (filled[0], filled[-1])]
    i = rng.choice(edges) if edges and rng.random() < 0.5 else rng.choice(eligible)
    changed = vary(slines[i], meta["ext"], rng)
    if changed is None or " ".join(changed[0].split()) in keys or changed[0].rstrip() != changed[0]:
        return None
    new_line, what = changed
    at = elines.index(slines[i])
    slines[i] = new_line
    elines[at] = new_line
    note = f"{meta['note']}; snippet line {i + 1} ({what})"
    return "\n".join(slines), newline.join(elines).encode(), original.encode(), note


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    counts: dict[str, int] = {}
    for source in SOURCES:
        for folder in sorted(p for p in (HERE / source).glob("*") if (p / "case.json").exists()):
            rng = random.Random(f"{source}/{folder.name}")
            if rng.randrange(SHARE):
                continue
            made = variant(folder, rng)
            if made is None:
                continue
            snippet, expected, original, note = made
            target = OUT / f"{source}-{folder.name}"
            target.mkdir(parents=True)
            meta = json.loads((folder / "case.json").read_text(encoding="utf-8"))
            meta.update(note=note, anchor=True, derived_from=f"{source}/{folder.name}")
            (target / "original").write_bytes(original)
            (target / "expected").write_bytes(expected)
            (target / "snippet").write_bytes(snippet.encode())
            (target / "case.json").write_text(json.dumps(meta, indent=2) + "\n")
            counts[meta["split"]] = counts.get(meta["split"], 0) + 1
    print(f"{sum(counts.values())} cases: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
