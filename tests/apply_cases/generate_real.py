"""Writes tests/apply_cases/real/: Apply cases cut from real code found on this machine.

Each case takes one real source file under a permissive licence (packages installed in the project's venv,
vscode-client/node_modules, Debian's /usr/include, /usr/share/perl, Neovim's and Emacs' runtimes, ...), finds
its definitions with tree-sitter, and makes the kind of edit a chat model proposes — a changed line, added
or deleted lines, a new function between two others, a change in one of two lookalike blocks — written as a
snippet the way models write them: the whole definition, or only its changed part between lazy markers in
the language's comment style, with the marker wordings models use. `expected` is built by slicing the
original at the edited definition's offsets, never by the engine. Some cases use CRLF line ends.

A case's split (`tune` or `held`) is decided by a hash of its source path before any result is seen; the
engine is tuned on `tune` only. Re-running writes the same cases (fixed seed, sorted inputs):

    python tests/apply_cases/generate_real.py

A fresh set (another seed, none of the source files the committed cases use) goes to a directory of its
own, every case in the split `--split` names: the held-out `held2` (never looked at), and `tune` cases from
yet other sources, that grow the split the engine is tuned on:

    python tests/apply_cases/generate_real.py --fresh --seed 7 --out tests/apply_cases/real_held2
    python tests/apply_cases/generate_real.py --fresh --seed 11 --split tune --out tests/apply_cases/real_tune2

Once the usual roots' sources are taken, `--more-roots` also searches other installed packages and
toolchains, and `--per-file` cuts several edits from one file (real_tune4):

    python tests/apply_cases/generate_real.py --fresh --seed 17 --split tune --more-roots --per-file 3 \
        --crlf-rate 0.25 --out tests/apply_cases/real_tune4

The third and fourth held-out sets leave Python's standard library out, as issue 15 measures without it:

    python tests/apply_cases/generate_real.py --fresh --seed 43 --split held3 --more-roots --no-stdlib \
        --per-file 3 --per-language 40 --out tests/apply_cases/real_held3
    python tests/apply_cases/generate_real.py --fresh --seed 53 --split held4 --more-roots --no-stdlib \
        --per-file 2 --per-language 60 --out tests/apply_cases/real_held4
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "real"
REPO = HERE.parent.parent
SITE = Path(sysconfig.get_paths()["purelib"])
PER_LANGUAGE = 30
SEED = 20261204


@dataclass(frozen=True)
class Language:
    name: str
    grammar: str
    ext: str
    roots: tuple[Path, ...]
    pattern: str
    comment: tuple[str, str]
    licence: str


LANGUAGES = [
    Language(
        "python", "python", "py", (SITE,), "*.py", ("#", ""), "the package's licence (PyPI: MIT/BSD/Apache)"
    ),
    Language(
        "javascript",
        "javascript",
        "js",
        (REPO / "vscode-client" / "node_modules",),
        "*.js",
        ("//", ""),
        "npm: MIT",
    ),
    Language(
        "typescript",
        "typescript",
        "ts",
        (REPO / "vscode-client" / "node_modules",),
        "*.ts",
        ("//", ""),
        "npm: MIT",
    ),
    Language(
        "c", "c", "c", (Path("/usr/share"), Path("/usr/lib")), "*.c", ("//", ""), "Debian package sources"
    ),
    Language("cpp", "cpp", "cpp", (Path("/usr/share"), Path("/usr/include")), "*.cpp", ("//", ""), "Debian"),
    Language(
        "lua",
        "lua",
        "lua",
        (Path("/usr/share/nvim"), Path("/usr/share")),
        "*.lua",
        ("--", ""),
        "Neovim: Apache-2.0",
    ),
    Language("bash", "bash", "sh", (Path("/usr/share"), Path("/usr/lib")), "*.sh", ("#", ""), "Debian"),
    Language(
        "perl",
        "perl",
        "pm",
        (Path("/usr/share/perl"), Path("/usr/share/perl5")),
        "*.pm",
        ("#", ""),
        "Artistic/GPL",
    ),
    Language(
        "css",
        "css",
        "css",
        (REPO / "vscode-client" / "node_modules", Path("/usr/share")),
        "*.css",
        ("/*", "*/"),
        "MIT",
    ),
    Language("php", "php", "php", (Path("/usr/share"),), "*.php", ("//", ""), "Debian"),
    Language("go", "go", "go", (Path("/usr/share"), Path("/usr/lib")), "*.go", ("//", ""), "BSD"),
    Language("elisp", "elisp", "el", (Path("/usr/share/emacs"),), "*.el", (";;", ""), "GPL (Emacs)"),
    Language(
        "html",
        "html",
        "html",
        (Path("/usr/share/doc"),),
        "*.html",
        ("<!--", "-->"),
        "the package's docs licence",
    ),
    Language(
        "yaml", "yaml", "yaml", (SITE, Path("/usr/share")), "*.yaml", ("#", ""), "the package's licence"
    ),
]

MORE_ROOTS = {
    "python": (
        Path("/usr/lib/google-cloud-sdk"),
        Path("/usr/lib/python3/dist-packages"),
        Path("/root/.pyenv/versions/3.12.1/lib/python3.12"),
    ),
    "javascript": (Path("/root/.cache/byok-ci/node_modules"),),
    "typescript": (Path("/root/.cache/byok-ci/node_modules"),),
    "c": (Path("/root/.pyenv/versions/3.11.7"), Path("/root/.cache/byok-ci/venv-realservers")),
    "cpp": (Path("/root/.cache/byok-ci/node_modules"),),
    "bash": (Path("/usr/lib/google-cloud-sdk"), Path("/root/.cache/byok-ci/node_modules")),
    "css": (
        Path("/root/.cache/byok-ci/node_modules"),
        Path("/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc"),
        Path("/root/.pyenv/versions/3.11.7"),
        Path("/usr/lib/google-cloud-sdk"),
    ),
    "php": (Path("/usr/lib/google-cloud-sdk"),),
}
"""Further places per language (`--more-roots`): other installed packages and toolchains on this machine,
for fresh sets once the usual roots' sources are taken."""

DEFINITION = re.compile(
    r"function|method|class|rule_set|subroutine|sub_|defun|special_form|impl_item|^element$|^block_mapping_pair$"
)
MARKER_WORDS = [
    "... existing code ...",
    "...",
    "…",
    "rest of the code unchanged",
    "existing code",
    "(unchanged)",
    "... keep existing code ...",
    "...rest of function...",
]
NUMBER = re.compile(r"(?<![\w.#])(\d+)(?:(?=px|em|rem|%|ms\b)|(?![\w.]))")
STRING = re.compile(r"([\"'])([A-Za-z][A-Za-z _-]{2,30})\1")


def files_of(language: Language, more_roots: bool = False) -> list[Path]:
    """Real source files of moderate size, sorted; minified or generated ones left out."""
    found: set[Path] = set()
    for root in language.roots + (MORE_ROOTS.get(language.grammar, ()) if more_roots else ()):
        if root.exists():
            found.update(p for p in root.rglob(language.pattern) if p.is_file())
    good = []
    for path in sorted(found):
        try:
            if not 1_500 < path.stat().st_size < 40_000:
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        lines = text.split("\n")
        if "\r" in text or len(lines) < 40 or max(len(line) for line in lines) > 200 or "\t" in text[:0]:
            continue
        good.append(path)
    return good


def definitions(grammar: str, text: str) -> list[tuple[int, int, str | None]]:
    """(first line, last line, name) of the definitions in `text` that start a line and span 4-60 lines."""
    from tree_sitter_language_pack import get_parser

    tree = get_parser(grammar).parse(text.encode("utf-8"))
    lines = text.split("\n")
    out: list[tuple[int, int, str | None]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if not DEFINITION.search(node.type) or node.has_error:
            continue
        first, last = node.start_point[0], node.end_point[0]
        if not 3 <= last - first <= 60 or lines[first][: node.start_point[1]].strip():
            continue
        if node.end_point[1] < len(lines[last].rstrip()):
            continue  # something follows on its last line
        name = node.child_by_field_name("name")
        label = name.text.decode("utf-8") if name is not None and name.text else None
        out.append((first, last, label if label and name.start_point[0] == first else None))
    return sorted(set(out))


def header_length(body: list[str]) -> int:
    """How many lines the definition's header takes (C puts the return type on a line of its own)."""
    for number, line in enumerate(body[:3]):
        if any(ch in line for ch in "({:=") or number == 2:
            return number + 1
    return 1


def restyle(line: str, text: str) -> str:
    """`line` indented the way `text` indents (tabs or spaces), as a model matching the file would."""
    tabs = sum(1 for x in text.split("\n") if x.startswith("\t"))
    spaces = sum(1 for x in text.split("\n") if x.startswith("  "))
    lead = indent_of(line)
    if tabs > spaces and " " in lead:
        widths = sorted({len(indent_of(x)) for x in text.split("\n") if x.startswith(" ")} - {0})
        unit = widths[0] if widths else 4
        return "\t" * (len(lead.expandtabs(4)) // max(unit, 1)) + line.lstrip()
    if spaces >= tabs and "\t" in lead:
        return lead.expandtabs(4) + line.lstrip()
    return line


def marker(language: Language, rng: random.Random, indent: str) -> str:
    start, end = language.comment
    words = rng.choice(MARKER_WORDS)
    return f"{indent}{start} {words}" + (f" {end}" if end else "")


def indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def mutate(lines: list[str], rng: random.Random) -> tuple[int, list[str]] | None:
    """A changed body line (a number or a word in a string changed): (index, replacement lines)."""
    candidates = [i for i in range(1, len(lines) - 1) if NUMBER.search(lines[i]) or STRING.search(lines[i])]
    if not candidates:
        return None
    i = rng.choice(candidates)
    line = lines[i]
    if NUMBER.search(line):
        new = NUMBER.sub(lambda m: str(int(m[1]) + 7), line, count=1)
    else:
        new = STRING.sub(lambda m: f"{m[1]}{m[2]} updated{m[1]}", line, count=1)
    return i, [new]


@dataclass
class Made:
    kind: str
    snippet: str
    expected: str
    note: str


KINDS = ["whole", "lazy", "insert", "insert", "insert-lookalike", "delete", "delete-lazy", "lookalike"]
"""The edits cut, drawn with these weights."""


def make_case(
    language: Language, text: str, rng: random.Random, donor: list[str] | None, kinds: list[str] = KINDS
) -> Made | None:
    """One edit of `text`; `donor` is a definition from another file of the language (new code to add)."""
    lines = text.split("\n")
    defs = definitions(language.grammar, text)
    if len(defs) < 3:
        return None
    kind = rng.choice(kinds)
    first, last, _ = rng.choice(defs)
    body = lines[first : last + 1]
    before, after = lines[:first], lines[last + 1 :]
    indent = indent_of(body[0])
    top, bottom = marker(language, rng, indent), marker(language, rng, indent)

    def join(parts: list[str]) -> str:
        return "\n".join(parts)

    if kind in ("whole", "lazy", "lookalike"):
        if kind == "lookalike":
            twins = [
                (a, b)
                for a, b, _ in defs
                if (a, b) != (first, last) and len(lines[a : b + 1]) > 4 and lines[a + 1 : b + 1] == body[1:]
            ]
            if not twins:
                return None
        changed = mutate(body, rng)
        if changed is None:
            return None
        i, replacement = changed
        new_body = body[:i] + replacement + body[i + 1 :]
        expected = join(before + new_body + after)
        if kind == "whole":
            snippet = join([top, *new_body, bottom])
        else:
            head = header_length(body)
            if i < head:
                return None
            lo, hi = max(head, i - 2), min(len(body) - 1, i + 3)
            inner = indent_of(body[i]) or indent + "    "
            shown = body[:head]
            if lo > head:
                shown.append(marker(language, rng, inner))
            shown += new_body[lo:hi]
            if hi < len(body) - 1:
                shown.append(marker(language, rng, inner))
            shown.append(body[-1])
            snippet = join([top, *shown, bottom])
        return Made(
            kind, snippet, expected, f"line {first + i + 1} changed in the definition at line {first + 1}"
        )
    if kind == "insert":
        if donor is None or sum(line.strip() in text for line in donor if len(line.strip()) > 12) > 1:
            return None  # no donor, or its code is in this file already (a vendored copy)
        donor_indent = indent_of(donor[0])
        new = [
            indent + restyle(line.removeprefix(donor_indent), text) if line.strip() else "" for line in donor
        ]
    if kind == "insert-lookalike":
        others = [
            (a, b, n) for a, b, n in defs if (a, b) != (first, last) and n and indent_of(lines[a]) == indent
        ]
        if not others:
            return None
        a, b, name = rng.choice(others)
        source = lines[a : b + 1]
        changed = mutate(source, rng)
        if name is None or changed is None or not re.search(rf"\b{re.escape(name)}\b", source[0]):
            return None
        i, replacement = changed
        source = source[:i] + replacement + source[i + 1 :]
        new = [re.sub(rf"\b{re.escape(name)}\b", name + "_variant", source[0], count=1), *source[1:]]
    if kind.startswith("insert"):
        expected = join([*before, *body, "", *new, *after])
        style = rng.choice(["tail", "whole-before", "head-after"])
        if style == "tail":
            size = unique_tail(lines, first, first + len(body) - 1)
            if size is None:
                return None  # the definition before recurs whole: no context tells the place
            shown = [*body[-size:], "", *new]
        elif style == "whole-before":
            shown = [*body, "", *new]
        else:
            following = next((k for k, line in enumerate(after) if line.strip()), None)
            if following is None or following == 0:
                return None
            anchor = next(
                (
                    after[following : following + size]
                    for size in range(1, 5)
                    if text.count("\n".join(after[following : following + size])) == 1
                ),
                None,
            )
            if anchor is None:
                return None  # nothing after it tells the place: the snippet would be ambiguous
            shown = [*new, *after[:following], *anchor]
            # the snippet says nothing of what comes before the new definition: the original's
            # separation (the blank lines before the anchor) is kept there too
            expected = join([*before, *body, *after[:following], *new, *after])
        snippet = join([top, *shown, bottom])
        return Made(kind, snippet, expected, f"a new definition after the one at line {first + 1} ({style})")
    # deletions
    interior = len(body) - 2
    if interior < 4:
        return None
    head = header_length(body)
    count = rng.randint(1, min(3, interior - 2))
    if interior - count < head:
        return None
    start = rng.randint(head, interior - count)
    if not any(line.strip() for line in body[start : start + count]):
        return None
    new_body = body[:start] + body[start + count :]
    expected = join(before + new_body + after)
    if kind == "delete":
        snippet = join([top, *new_body, bottom])
    else:
        lo, hi = max(head, start - 2), min(len(new_body) - 1, start + 2)
        inner = indent_of(body[start]) or indent + "    "
        shown = new_body[:head]
        if lo > head:
            shown.append(marker(language, rng, inner))
        shown += new_body[lo:hi]
        if hi < len(new_body) - 1:
            shown.append(marker(language, rng, inner))
        shown.append(new_body[-1])
        snippet = join([top, *shown, bottom])
    return Made(kind, snippet, expected, f"{count} line(s) deleted at line {first + start + 1}")


def occurrences(lines: list[str], block: list[str]) -> int:
    """How often `block` occurs in `lines` as consecutive whole lines."""
    size = len(block)
    return sum(lines[k : k + size] == block for k in range(len(lines) - size + 1))


def unique_tail(lines: list[str], first: int, last: int) -> int | None:
    """How many of the last lines of the definition at `first`..`last` a snippet shows before a new one:
    3, or more while those recur elsewhere in the file (a model that shows the end of the previous
    function must show enough of it to tell which one), at most the whole definition; None when even that
    recurs."""
    size = 3
    while occurrences(lines, lines[last + 1 - size : last + 1]) > 1:
        if size >= last + 1 - first:
            return None
        size += 1
    return size


def widen_tails() -> None:
    """Apply `unique_tail` to the committed "tail" insertions (their sources changed since, so they
    cannot be re-generated): a snippet whose 3 context lines recur shows more of them; a case whose
    whole definition recurs is removed. `expected` never changes."""
    for meta_path in sorted(HERE.glob("real_*/*/case.json")) + sorted(HERE.glob("real/*/case.json")):
        meta = json.loads(meta_path.read_text())
        if meta["kind"] not in ("insert", "insert-lookalike") or not meta["note"].endswith("(tail)"):
            continue
        folder = meta_path.parent
        newline = "\r\n" if meta["crlf"] else "\n"
        olines = (folder / "original").read_bytes().decode().split(newline)
        elines = (folder / "expected").read_bytes().decode().split(newline)
        slines = (folder / "snippet").read_bytes().decode().split("\n")
        top, inner, bottom = slines[0], slines[1:-2], slines[-2]
        at = next(k for k in range(len(elines)) if elines[k : k + len(inner)] == inner)
        first = int(re.search(r"at line (\d+)", meta["note"])[1]) - 1  # type: ignore[index]
        size = unique_tail(olines, first, at + 2)
        if size is None:
            shutil.rmtree(folder)
            print(f"removed {folder.parent.name}/{folder.name}", file=sys.stderr)
        elif size > 3:
            shown = [top, *olines[at + 3 - size : at + 3], *inner[3:], bottom]
            (folder / "snippet").write_bytes(("\n".join(shown) + "\n").encode())
            print(f"widened {folder.parent.name}/{folder.name} to {size} lines", file=sys.stderr)


def in_stdlib(path: Path) -> bool:
    """Whether `path` is in a Python's standard library (under lib/pythonX.Y, outside site-packages)."""
    parts = path.parts
    return any(re.fullmatch(r"python3\.\d+", part) for part in parts) and not (
        {"site-packages", "dist-packages"} & set(parts)
    )


def split_of(source: Path) -> str:
    return "held" if hashlib.sha1(str(source).encode()).digest()[0] % 3 == 0 else "tune"


def same_source(path: str) -> str:
    """A source's name for skipping it: below node_modules, where a worktree's own copy sits, the package path."""
    return path.rsplit("/node_modules/", 1)[-1]


def cases(
    seed: int,
    skip: set[str],
    per_file: int = 1,
    crlf_rate: float = 0.12,
    more_roots: bool = False,
    kinds: list[str] = KINDS,
    per_language: int = PER_LANGUAGE,
    only: list[str] | None = None,
    no_stdlib: bool = False,
) -> Iterator[tuple[str, Language, Path, str, Made, bool]]:
    """Up to `per_language` cases per language (of `only`, when given), up to `per_file` (distinct) edits of
    one source file."""
    rng = random.Random(seed)
    for language in LANGUAGES:
        if only and language.ext not in only:
            continue
        files = [
            path
            for path in files_of(language, more_roots)
            if same_source(str(path)) not in skip and not (no_stdlib and in_stdlib(path))
        ]
        rng.shuffle(files)
        made = 0
        donor: list[str] | None = None
        for path in files:
            if made >= per_language:
                break
            text = path.read_text(encoding="utf-8")
            seen: set[str] = set()
            following = donor
            for _ in range(per_file):
                try:
                    case = make_case(language, text, rng, donor, kinds)
                    found = definitions(language.grammar, text)
                except (ValueError, IndexError, LookupError):
                    break
                if found:
                    a, b, _ = rng.choice(found)
                    following = text.split("\n")[a : b + 1]  # new code for the next file
                if case is None or case.expected == text or case.expected in seen or made >= per_language:
                    continue
                seen.add(case.expected)
                made += 1
                crlf = rng.random() < crlf_rate
                yield f"{language.ext}-{made:02d}-{case.kind}", language, path, text, case, crlf
            donor = following


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--fresh", action="store_true", help="skip the sources the committed cases use; split `--split`"
    )
    parser.add_argument("--split", default="held2", choices=["held2", "held3", "held4", "tune"], help="with --fresh")
    parser.add_argument("--per-file", type=int, default=1, help="up to this many edits of one source file")
    parser.add_argument("--crlf-rate", type=float, default=0.12, help="share of cases with CRLF line ends")
    parser.add_argument(
        "--kinds", nargs="+", choices=sorted(set(KINDS)), help="only these edits (one draw each)"
    )
    parser.add_argument("--per-language", type=int, default=PER_LANGUAGE, help="most cases per language")
    parser.add_argument("--languages", nargs="+", help="only these (by extension: py, js, ...)")
    parser.add_argument("--more-roots", action="store_true", help="also search MORE_ROOTS")
    parser.add_argument(
        "--no-stdlib",
        action="store_true",
        help="leave out Python's standard library (held-out sets measure without it)",
    )
    parser.add_argument("--widen-tails", action="store_true", help="only re-check the committed cases")
    args = parser.parse_args()
    if args.widen_tails:
        widen_tails()
        return
    committed = [
        meta
        for folder in HERE.glob("real*")
        if folder.resolve() != args.out.resolve()
        for meta in folder.glob("*/case.json")
    ]
    skip = (
        {same_source(json.loads(meta.read_text())["source"]) for meta in committed} if args.fresh else set()
    )
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    counts: dict[str, int] = {}
    for name, language, path, text, case, crlf in cases(
        args.seed,
        skip,
        args.per_file,
        args.crlf_rate,
        args.more_roots,
        args.kinds or KINDS,
        args.per_language,
        args.languages,
        args.no_stdlib,
    ):
        folder = out / name
        folder.mkdir(parents=True)
        original, expected = text, case.expected
        if crlf:
            original, expected = original.replace("\n", "\r\n"), expected.replace("\n", "\r\n")
        (folder / "original").write_bytes(original.encode())
        (folder / "expected").write_bytes(expected.encode())
        (folder / "snippet").write_bytes((case.snippet + "\n").encode())
        meta = {
            "ext": language.ext,
            "unresolved": False,
            "path": None,
            "kind": case.kind,
            "crlf": crlf,
            "split": args.split if args.fresh else split_of(path),
            "source": str(path),
            "licence": language.licence,
            "note": case.note,
        }
        (folder / "case.json").write_text(json.dumps(meta, indent=2) + "\n")
        counts[language.ext] = counts.get(language.ext, 0) + 1
    print(
        f"{sum(counts.values())} cases: " + ", ".join(f"{k} {v}" for k, v in counts.items()), file=sys.stderr
    )


if __name__ == "__main__":
    main()
