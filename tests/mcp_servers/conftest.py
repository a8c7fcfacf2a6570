"""Real MCP servers nobody here wrote, installed by `tests/mcp_servers/setup.sh` into the test cache:
`@modelcontextprotocol/server-everything` (npm; stdio, streamable HTTP and SSE) and `mcp-server-time` (PyPI).

Found through `BYOK_MCP_SERVERS_DIR` or `${BYOK_CACHE_DIR:-~/.cache/byok-ci}/mcp-servers`. Without them every
test here is skipped, saying how to install them; with `BYOK_REQUIRE_MCP_SERVERS=1` (CI) that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def servers_dir() -> Path:
    explicit = os.environ.get("BYOK_MCP_SERVERS_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("BYOK_CACHE_DIR") or Path.home() / ".cache" / "byok-ci") / "mcp-servers"


def _missing(reason: str) -> None:
    if os.environ.get("BYOK_REQUIRE_MCP_SERVERS") == "1":
        pytest.fail(f"real MCP servers required but unavailable: {reason}", pytrace=False)
    pytest.skip(f"real MCP servers unavailable: {reason}; run `bash tests/mcp_servers/setup.sh`")


@pytest.fixture(scope="session")
def everything_js() -> Path:
    """server-everything's entry point (its package.json `bin`)."""
    path = servers_dir() / "node/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
    if not path.is_file() or shutil.which("node") is None:
        _missing(f"no {path} (or no node)")
    return path


@pytest.fixture(scope="session")
def time_server() -> Path:
    path = servers_dir() / "venv/bin/mcp-server-time"
    if not path.is_file():
        _missing(f"no {path}")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_everything(everything_js: Path, mode: str, tmp_path: Path) -> Iterator[int]:
    """server-everything over HTTP on 127.0.0.1 (a preload keeps its bare-port listen on loopback)."""
    port = _free_port()
    log = (tmp_path / f"everything-{mode}.log").open("wb")
    process = subprocess.Popen(
        ["node", "-r", str(HERE / "loopback.cjs"), str(everything_js), mode],
        env={**os.environ, "PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"server-everything {mode} did not start: {(tmp_path / f'everything-{mode}.log').read_text()}"
                    )
                time.sleep(0.1)
        yield port
    finally:
        process.kill()
        process.wait(10)
        log.close()


@pytest.fixture
def everything_http(everything_js: Path, tmp_path: Path) -> Iterator[int]:
    yield from _serve_everything(everything_js, "streamableHttp", tmp_path)


@pytest.fixture
def everything_sse(everything_js: Path, tmp_path: Path) -> Iterator[int]:
    yield from _serve_everything(everything_js, "sse", tmp_path)
