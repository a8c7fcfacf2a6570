"""Cold start: importing the server (all `initialize` needs) loads no feature, provider, engine, MCP or ACP module."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from byok.base.names import Command
from byok.lsp.server import create_server

HEAVY = ("httpx", "pydantic", "mcp", "acp", "tree_sitter", "tree_sitter_language_pack", "rapidfuzz")
HEAVY_PACKAGES = ("byok.features", "byok.providers", "byok.builtin", "byok.core", "byok.lsp.handlers")

PROBE = """
import json, sys
import byok.lsp.server
from byok.lsp.server import create_server
create_server()
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
        timeout=60,
    )
    return set(json.loads(out.stdout))


def test_importing_and_creating_the_server_loads_nothing_heavy() -> None:
    loaded = _modules_after(PROBE)
    heavy = {m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY_PACKAGES)}
    assert heavy == set()
    assert "byok.lsp.server" in loaded  # the probe really imported the server


def test_loading_the_handlers_gives_every_declared_command_its_handler() -> None:
    async def load() -> set[Command]:
        server = create_server()
        server.load_handlers()  # on the loop, as the server does (it starts model discovery)
        await server.close_backend()
        return set(server._handlers)

    assert asyncio.run(load()) == set(Command)
