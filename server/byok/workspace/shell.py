"""Running processes for the agent: the command environment, bounded output, commands, isolated workers."""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
import re
import signal
import sys
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from byok.base.display import visible
from byok.base.redaction import redact
from byok.workspace.errors import ToolError

MAX_COMMAND_OUTPUT = 16_000
"""Bytes of a command's output kept: the first quarter and the last three quarters."""
SEARCH_TIME_LIMIT_S = 2.0
"""A search (its regular expression) running longer is stopped and answered with a tool error."""
COMMAND_ENV_NAMES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "TMPDIR"}
)
"""Variables a command inherits from the server (plus `LC_*` and what `agent.commandEnv` names); nothing else."""


class _BoundedOutput:
    """Keeps the head and the tail of a stream of bytes, and counts what it drops."""

    def __init__(self, limit: int) -> None:
        self.head_limit, self.tail_limit = limit // 4, limit - limit // 4
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.head_limit - len(self.head)
        self.head += data[:room]
        self.tail += data[max(room, 0) :]
        if len(self.tail) > self.tail_limit:
            self.dropped += len(self.tail) - self.tail_limit
            del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> str:
        gap = f"\n[... {self.dropped} bytes of output omitted ...]\n" if self.dropped else ""
        return self.head.decode("utf-8", "replace") + gap + self.tail.decode("utf-8", "replace")


_CREDENTIAL_WORDS = (
    "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "API_KEY", "APIKEY", "ACCESS_KEY",
    "AUTH_SOCK", "ASKPASS", "COOKIE",
)  # fmt: skip
"""Name parts of variables that hold or hand out credentials (agent sockets, askpass helpers included)."""


def is_credential_variable(name: str, value: str, key_variables: Collection[str] = ()) -> bool:
    """Whether a variable looks like it holds a key: one of `key_variables` (the providers' key variables), a
    credential-like name (`*_KEY`, TOKEN, SECRET, PASSWORD, CREDENTIAL: AWS's too; SSH_AUTH_SOCK, *ASKPASS), or a
    value that is a key we know."""
    upper = name.upper()
    return (
        upper in key_variables
        or upper.endswith("_KEY")
        or any(word in upper for word in _CREDENTIAL_WORDS)
        or redact(value) != value
    )


def command_env(names: Iterable[str] = (), key_variables: Collection[str] = ()) -> dict[str, str]:
    """The allow-listed part of the server's environment, plus the variables the user `names`; never a
    variable that looks like a credential (`key_variables` included), whoever names it (`agent.commandEnv`
    can come from a workspace)."""
    allowed = COMMAND_ENV_NAMES | set(names)
    return {
        name: value
        for name, value in os.environ.items()
        if (name in allowed or name.startswith("LC_"))
        and not is_credential_variable(name, value, key_variables)
    }


_OPERATORS = (
    ("newline", re.compile(r"[\n\r]")),
    (";", re.compile(";")),
    ("&&", re.compile("&&")),
    ("||", re.compile(r"\|\|")),
    ("|", re.compile(r"(?<!\|)\|(?!\|)")),
    ("&", re.compile("(?<!&)&(?!&)")),
    ("`", re.compile("`")),
    ("$(", re.compile(r"\$\(")),
    (">", re.compile(">")),
    ("<", re.compile("<")),
)


def display_command(command: str) -> str:
    """A command as a person must see it before allowing it: all of it, visibly, with a warning for operators."""
    shown = visible(command)
    operators = [name for name, pattern in _OPERATORS if pattern.search(command)]
    if operators:
        shown += (
            "\n⚠ This runs more than one command, pipes, redirects or substitutes output "
            f"(found: {' '.join(operators)})."
        )
    return shown


_SEARCH_WORKER = """
import marshal, re, sys
pattern, flags, limit, files = marshal.load(sys.stdin.buffer)
try:
    compiled = re.compile(pattern, flags)
except (re.error, OverflowError) as exc:
    marshal.dump(("invalid", str(exc)), sys.stdout.buffer)
    sys.exit()
except RecursionError:
    marshal.dump(("invalid", "it is nested too deeply"), sys.stdout.buffer)
    sys.exit()
found = []
for relative, text in files:
    for number, line in enumerate(text.splitlines(), 1):
        if compiled.search(line):
            found.append((relative, number, line.strip()[:1000]))
            if len(found) >= limit:
                break
    if len(found) >= limit:
        break
marshal.dump(("found", found), sys.stdout.buffer)
"""


async def run_worker(
    source: str, payload: Any, time_limit_s: float, *, what: str, overtime: str, packages: bool = False
) -> Any:
    """What the Python `source` writes (marshal) for `payload` (marshal, on its stdin), run in an isolated
    worker process killed after `time_limit_s` (ToolError `overtime`) or on cancel; it failing is `what` failed. `packages`: the
    worker may import installed packages (a slower start)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *(("-I",) if packages else ("-I", "-S")),
        "-c",
        source,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={},
    )
    try:
        async with asyncio.timeout(time_limit_s):
            output, _ = await process.communicate(marshal.dumps(payload))
    except TimeoutError:
        raise ToolError(overtime) from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise ToolError(f"{what} failed")
    return marshal.loads(output)


async def search_texts(
    pattern: str, flags: int, files: list[tuple[str, str]], limit: int
) -> list[tuple[str, int, str]]:
    """Lines matching `pattern`, found by a worker process that compiles it and is killed after
    SEARCH_TIME_LIMIT_S or on cancel; an invalid pattern is a ToolError."""
    outcome, answer = await run_worker(
        _SEARCH_WORKER,
        (pattern, int(flags), limit, files),
        SEARCH_TIME_LIMIT_S,
        what="the search",
        overtime=f"the search took longer than {SEARCH_TIME_LIMIT_S:g} s and was stopped (a regular "
        "expression that backtracks, such as (a+)+$?); simplify the pattern or search a smaller path",
    )
    if outcome == "invalid":
        raise ToolError(f"invalid regular expression: {answer}")
    found: list[tuple[str, int, str]] = answer
    return found


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in the group (children that outlived the process that led it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def run_command(
    command: str, cwd: Path, timeout_s: float, env: dict[str, str] | None = None
) -> tuple[int | None, str]:
    """Run `command` with /bin/sh in its own process group; (exit code or None on timeout, bounded output)."""
    process = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        command,
        cwd=cwd,
        env=command_env() if env is None else env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    output = _BoundedOutput(MAX_COMMAND_OUTPUT)
    timed_out = False
    try:
        async with asyncio.timeout(timeout_s):
            assert process.stdout is not None
            while chunk := await process.stdout.read(65536):
                output.add(chunk)
            await process.wait()
    except TimeoutError:
        timed_out = True
    finally:
        kill_group(process.pid)  # on timeout, cancellation, and stragglers left in the background
        await process.wait()
    return (None if timed_out else process.returncode), redact(output.text())
