"""What prompt caching saves: one multi-turn agent session on the loopback fakes, with caching on and off.

    python bench/caching.py            # the session's cost both ways, turn by turn
    python bench/run.py --only caching # the same figures as a row of the benchmark table

The byok server runs as a process over stdio, against a fake Anthropic API whose prompt cache honours
`cache_control` as the API does (tests/fakes/prompt_cache.py: a breakpoint's prefix is written, and read
back by a later request; 1024 tokens at least, as for Claude Sonnet). The agent works on a workspace made
of byok's own source files; the model's turns are scripted, so both runs send the same conversation.
Costs are byok's own figures (`byok.agent`'s usage) at the shipped claude-sonnet-4-5 prices.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from tests.fakes import FakeServer  # noqa: E402
from tests.fakes.prompt_cache import PromptCache, anthropic_session  # noqa: E402

from bench._common import Row  # noqa: E402
from bench._lsp import SERVER_COMMAND, LspClient, server_env  # noqa: E402

MODEL = "claude-sonnet-4-5"
FAKE_KEY = "sk-ant-api03-FAKE-bench-caching-0000000000000000000000000000000000000000"
SOURCES = (
    "base/config.py",
    "core/prices.py",
    "core/budget.py",
    "providers/anthropic.py",
    "features/agent.py",
)
"""Files of byok itself that the scripted agent reads (copied into a temporary workspace)."""


def turns() -> list[tuple[list[str], list[Any]]]:
    """List the files, read each one (two at once at the end), search, then answer: 7 model turns."""
    paths = [f"src/{Path(source).name}" for source in SOURCES]
    script: list[tuple[list[str], list[Any]]] = [
        (["Looking around."], [("t0", "list_files", {"path": "src"})])
    ]
    script += [([], [(f"t{n}", "read_file", {"path": path})]) for n, path in enumerate(paths[:-2], start=1)]
    script.append(([], [("t8", "read_file", {"path": paths[-2]}), ("t9", "read_file", {"path": paths[-1]})]))
    script.append((["Checking callers."], [("t10", "search", {"query": "cache_write"})]))
    script.append((["Prices are per 1M tokens; cache writes cost 1.25x input on Anthropic."], []))
    return script


@dataclass
class Session:
    """One agent run's figures, from `byok.agent`'s result and the ledger (`byok.usage`)."""

    usage: dict[str, Any]
    ledger: dict[str, Any]
    requests: int


async def agent_session(caching: bool) -> Session:
    with tempfile.TemporaryDirectory(prefix="byok-bench-cache-") as home, FakeServer() as fake:
        workspace = Path(home) / "workspace"
        (workspace / "src").mkdir(parents=True)
        for source in SOURCES:
            shutil.copy(ROOT / "server" / "byok" / source, workspace / "src" / Path(source).name)
        fake.route("POST", "/v1/messages", anthropic_session(PromptCache(min_tokens=1024), turns()))
        env = server_env(str(Path(home) / "data"))
        env.update(
            PYTHON_KEYRING_BACKEND="tests.keyring_backend.FileKeyring",
            BYOK_TEST_KEYRING_FILE=str(Path(home) / "keyring.json"),
            PYTHONPATH=os.pathsep.join([str(ROOT / "server"), str(ROOT), env.get("PYTHONPATH", "")]),
        )
        process = await asyncio.create_subprocess_exec(
            *SERVER_COMMAND,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            limit=1 << 24,
        )
        client = LspClient(process)
        client.start()
        settings = {
            "providers": {"anthropic": {"baseUrl": fake.url}},
            "features": {"agent": MODEL},
            "cache": caching,
        }
        client.settings = settings
        try:
            await client.request(
                "initialize",
                {
                    "processId": os.getpid(),
                    "rootUri": workspace.as_uri(),
                    "capabilities": {"workspace": {"configuration": False}},
                    "initializationOptions": {"byok": settings},
                },
            )
            client.notify("initialized", {})
            await command(client, "byok.setKey", {"provider": "anthropic", "key": FAKE_KEY})
            result = await command(client, "byok.agent", {"task": "How does byok price prompt caching?"}, 120)
            ledger = await command(client, "byok.usage", {"groupBy": "model"})
        finally:
            await client.close()
        if result["stopReason"] != "done":
            raise RuntimeError(f"the scripted session stopped early: {result['stopReason']}")
        return Session(result["usage"], ledger, len([r for r in fake.requests if r.method == "POST"]))


async def command(client: LspClient, name: str, argument: dict[str, Any], limit_s: float = 30.0) -> Any:
    return await client.request(
        "workspace/executeCommand", {"command": name, "arguments": [argument]}, limit_s
    )


def usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


async def run(quick: bool = False) -> list[Row]:
    """The benchmark-table row: the session's cost with caching on, beside the same session with it off."""
    on, off = await agent_session(True), await agent_session(False)
    cost_on, cost_off = on.usage["costUsd"], off.usage["costUsd"]
    return [
        Row(
            f"agent session cost, {on.requests} turns ({MODEL} prices)",
            f"{usd(cost_on)} cached",
            f"{usd(cost_off)} uncached",
            f"{cost_on / cost_off:.2f}x (saved {usd(on.usage['savedUsd'])})",
            "",
            None,
        )
    ]


def report(name: str, session: Session) -> str:
    usage = session.usage
    uncached = usage["inputTokens"] - usage["cacheReadTokens"] - usage["cacheWriteTokens"]
    return (
        f"{name:<12} {session.requests:>5} {usage['inputTokens']:>8} {uncached:>9} {usage['cacheReadTokens']:>10} "
        f"{usage['cacheWriteTokens']:>11} {usage['outputTokens']:>7} {usd(usage['costUsd']):>9} "
        f"{usd(usage['savedUsd']):>9}   ledger {usd(session.ledger['totalUsd'])}"
    )


async def main() -> None:
    on, off = await agent_session(True), await agent_session(False)
    print(
        f"One agent session on the fakes, {MODEL} prices (USD per 1M: input 3, cache read 0.30, write 3.75)"
    )
    print(
        f"{'':<12} {'turns':>5} {'input':>8} {'uncached':>9} {'cache read':>10} {'cache write':>11} "
        f"{'output':>7} {'cost':>9} {'saved':>9}"
    )
    print(report("caching on", on))
    print(report("caching off", off))
    print(f"caching on costs {on.usage['costUsd'] / off.usage['costUsd']:.2f}x the uncached session")


if __name__ == "__main__":
    asyncio.run(main())
