"""Listing a workspace's files as git would: `git ls-files` in a clean environment, or a .gitignore walk."""

from __future__ import annotations

import asyncio
from pathlib import Path

from byok.workspace.shell import command_env, run_worker

MAX_WALKED = 50_000
GIT_TIMEOUT_S = 10.0
WALK_TIME_LIMIT_S = 10.0
"""A listing outside git (pathspec's .gitignore matching) running longer is stopped: a tool error."""
MAX_GITIGNORE_BYTES = 1024 * 1024
"""Bytes of one .gitignore read; the rest is not used."""


_WALK_WORKER = """
import marshal, os, sys
from pathspec import GitIgnoreSpec

root, under, limit, max_ignore_bytes = marshal.load(sys.stdin.buffer)
found = []


def relative_of(path):
    return os.path.relpath(path, root).replace(os.sep, "/")


def rules_for(directory, inherited):
    ignore = os.path.join(directory, ".gitignore")
    if not os.path.isfile(ignore):
        return inherited
    with open(ignore, "rb") as handle:
        text = handle.read(max_ignore_bytes).decode("utf-8", "replace")
    base = relative_of(directory)
    return [*inherited, ("" if base == "." else base, GitIgnoreSpec.from_lines(text.splitlines()))]


def is_ignored(rules, relative, is_dir):
    ignored, candidate = False, relative + "/" if is_dir else relative
    for base, spec in rules:
        if base and not candidate.startswith(base + "/"):
            continue
        verdict = spec.check_file(candidate[len(base) + 1 :] if base else candidate).include
        if verdict is not None:
            ignored = verdict
    return ignored


def visit(directory, inherited):
    rules = rules_for(directory, inherited)
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if len(found) >= limit:
            return
        if entry.name == ".git":
            continue
        relative, is_dir = relative_of(entry.path), entry.is_dir(follow_symlinks=False)
        if is_ignored(rules, relative, is_dir):
            continue
        if is_dir:
            visit(entry.path, rules)
        else:
            found.append(relative)


rules, parts = [], [p for p in relative_of(under).split("/") if p != "."]
for depth in range(len(parts)):
    rules = rules_for(os.path.join(root, *parts[:depth]), rules)
visit(under, rules)
marshal.dump(found, sys.stdout.buffer)
"""
"""Lists files below `under` as git would, per .gitignore (the last matching pattern wins, deeper files last).
pathspec's patterns are regular expressions that can backtrack for minutes, so this runs in a worker."""


async def walk_files(root: Path, under: Path) -> list[str]:
    """Files below `under` (workspace-relative paths), skipping `.git` and what the .gitignore files ignore.

    Runs in a worker process killed after WALK_TIME_LIMIT_S: a hostile .gitignore cannot freeze the server.
    """
    found: list[str] = await run_worker(
        _WALK_WORKER,
        (str(root), str(under), MAX_WALKED, MAX_GITIGNORE_BYTES),
        WALK_TIME_LIMIT_S,
        what="listing the files",
        overtime=f"listing the files took longer than {WALK_TIME_LIMIT_S:g} s and was stopped "
        "(a .gitignore pattern that backtracks?); list a smaller path",
        packages=True,
    )
    return found


_GIT_OVERRIDES = (
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.untrackedCache=false",
)
"""Command-line config wins over the repository's own (and its `include.path`): nothing it names is run."""


def git_env() -> dict[str, str]:
    """An environment in which git reads no system or global config and takes no GIT_* from outside."""
    return {
        **command_env(),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_TERMINAL_PROMPT": "0",
    }


async def git_files(root: Path, under: Path) -> list[str] | None:
    """`git ls-files` (tracked and untracked, not ignored) below `under`; None when not a git work tree.

    A workspace's .git/config is untrusted: git runs with fsmonitor and hooks off and a clean environment.
    """
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            *_GIT_OVERRIDES,
            "-C",
            str(root),
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            under.relative_to(root).as_posix(),
            env=git_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        async with asyncio.timeout(GIT_TIMEOUT_S):
            output, _ = await process.communicate()
    except TimeoutError:
        return None
    finally:  # timed out, or the listing was cancelled: git must not outlive it
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        return None
    return sorted(dict.fromkeys(p for p in output.decode("utf-8", "replace").split("\0") if p))
