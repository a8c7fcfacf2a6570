"""Model lists and metadata endpoints of local and routing servers, as each documents them.

OpenRouter `/api/v1/models` (`context_length`, `top_provider`), vLLM `/v1/models` (`max_model_len`),
LM Studio `/v1/models` (`owned_by: organization_owner`), `/api/v1/models` (0.4+) and `/api/v0/models`,
llama.cpp's server `/v1/models` (`owned_by: llamacpp`, `meta`) and `/props`, Ollama `/api/ps` and
`/api/show`. Shapes from each project's docs and source (llama.cpp `tools/server/server-context.cpp`).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

from tests.fakes.server import FakeServer, Reply, json_reply

CREATED = 1741569952


def model_list(ids: list[str], owned_by: str, **extra: Any) -> Reply:
    """An OpenAI-shaped `/v1/models` list whose entries carry `owned_by` and `extra` fields."""
    return json_reply(
        200,
        {
            "object": "list",
            "data": [
                {"id": i, "object": "model", "created": CREATED, "owned_by": owned_by, **extra} for i in ids
            ],
        },
    )


def openrouter_models(entries: dict[str, tuple[int, int | None]]) -> Reply:
    """OpenRouter's list: `{id: (context_length, top_provider.max_completion_tokens)}`."""
    return json_reply(
        200,
        {
            "data": [
                {
                    "id": model_id,
                    "name": model_id,
                    "created": CREATED,
                    "context_length": window,
                    "architecture": {"modality": "text->text", "tokenizer": "Other"},
                    "pricing": {"prompt": "0.000003", "completion": "0.000015"},
                    "top_provider": {
                        "context_length": window,
                        "max_completion_tokens": max_output,
                        "is_moderated": False,
                    },
                }
                for model_id, (window, max_output) in entries.items()
            ]
        },
    )


def vllm_models(model_id: str, max_model_len: int) -> Reply:
    return model_list(
        [model_id], "vllm", root=model_id, parent=None, max_model_len=max_model_len, permission=[]
    )


def llamacpp_models(model_id: str, n_ctx_train: int, n_ctx: int | None = None) -> Reply:
    """llama.cpp's `/v1/models`; servers before late 2025 had no `meta.n_ctx`."""
    meta: dict[str, Any] = {"vocab_type": 2, "n_vocab": 49152, "n_ctx_train": n_ctx_train, "n_embd": 576}
    if n_ctx is not None:
        meta["n_ctx"] = n_ctx
    return model_list([model_id], "llamacpp", meta=meta)


def llamacpp_props(n_ctx: int, total_slots: int = 1) -> Reply:
    """llama.cpp's `/props`: `default_generation_settings.n_ctx` is one slot's context."""
    return json_reply(
        200,
        {
            "default_generation_settings": {"n_ctx": n_ctx, "params": {"n_predict": -1, "temperature": 0.8}},
            "total_slots": total_slots,
            "model_path": "/models/fake.gguf",
            "chat_template": "{{ messages }}",
            "build_info": "b0000-fake",
        },
    )


def lmstudio_v1_models(models: dict[str, tuple[int, int | None]]) -> Reply:
    """LM Studio 0.4's `/api/v1/models`: `{key: (max_context_length, loaded context_length or None)}`."""
    return json_reply(
        200,
        {
            "models": [
                {
                    "type": "llm",
                    "publisher": "lmstudio-community",
                    "key": key,
                    "display_name": key,
                    "architecture": "qwen2",
                    "quantization": {"name": "Q4_K_M", "bits_per_weight": 4},
                    "size_bytes": 4_000_000_000,
                    "params_string": "7B",
                    "loaded_instances": []
                    if loaded is None
                    else [{"id": key, "config": {"context_length": loaded}}],
                    "max_context_length": maximum,
                    "format": "gguf",
                }
                for key, (maximum, loaded) in models.items()
            ]
        },
    )


def lmstudio_v0_models(models: dict[str, int]) -> Reply:
    """LM Studio 0.3's `/api/v0/models`: `{id: max_context_length}`."""
    return json_reply(
        200,
        {
            "object": "list",
            "data": [
                {
                    "id": model_id,
                    "object": "model",
                    "type": "llm",
                    "publisher": "lmstudio-community",
                    "arch": "qwen2",
                    "compatibility_type": "gguf",
                    "quantization": "Q4_K_M",
                    "state": "not-loaded",
                    "max_context_length": window,
                }
                for model_id, window in models.items()
            ],
        },
    )


def ollama_ps(loaded: dict[str, int]) -> Reply:
    """Ollama's `/api/ps`: the loaded models with the `context_length` each runs with."""
    return json_reply(
        200,
        {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "size": 5_000_000_000,
                    "digest": "0" * 64,
                    "details": {"format": "gguf", "family": "llama", "parameter_size": "8B"},
                    "expires_at": "2026-12-04T18:00:00Z",
                    "size_vram": 5_000_000_000,
                    "context_length": window,
                }
                for name, window in loaded.items()
            ]
        },
    )


def ollama_show(*, num_ctx: int | None = None, architecture: str = "llama", trained: int = 131072) -> Reply:
    """Ollama's `/api/show`: `parameters` (a Modelfile fragment) and `model_info` (GGUF metadata)."""
    parameters = 'stop "<|eot_id|>"\ntemperature 0.6'
    if num_ctx is not None:
        parameters += f"\nnum_ctx {num_ctx}"
    return json_reply(
        200,
        {
            "modelfile": "FROM /models/fake",
            "parameters": parameters,
            "template": "{{ .Prompt }}",
            "details": {"format": "gguf", "family": architecture, "parameter_size": "8B"},
            "model_info": {
                "general.architecture": architecture,
                "general.parameter_count": 8_000_000_000,
                f"{architecture}.context_length": trained,
                f"{architecture}.embedding_length": 4096,
            },
            "capabilities": ["completion", "tools"],
        },
    )


def fake_ollama(fake: FakeServer, loaded: dict[str, int], shown: dict[str, Reply]) -> None:
    """Routes of an Ollama server: its `/v1/models` (owned_by `library`), `/api/ps`, and `/api/show` answering
    for the models not loaded in id order (byok asks for them one at a time, in that order)."""
    ids = sorted([*loaded, *shown])
    fake.route("GET", "/v1/models", model_list(ids, "library"))
    fake.route("GET", "/api/ps", ollama_ps(loaded))
    fake.route("POST", "/api/show", *(shown[name] for name in sorted(shown)))


class BlackHole:
    """A loopback listener that accepts connections and never answers; it notes when each client hangs up."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.05)
        self.accepted = 0
        self.hung_up = 0
        self.first_accept: float | None = None
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def wait_hung_up(self, count: int = 1, timeout: float = 10.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self.hung_up >= count, timeout)

    def _serve(self) -> None:
        open_connections: list[socket.socket] = []
        while not self._stopping.is_set():
            try:
                connection, _ = self._sock.accept()
                with self._lock:
                    self.accepted += 1
                    self.first_accept = self.first_accept or time.monotonic()
                open_connections.append(connection)
            except TimeoutError:
                pass
            for connection in list(open_connections):
                readable, _, _ = select.select([connection], [], [], 0)
                if not readable:
                    continue
                try:
                    data = connection.recv(65536)  # the request: read and never answered
                except OSError:
                    data = b""
                if not data:
                    open_connections.remove(connection)
                    connection.close()
                    with self._lock:
                        self.hung_up += 1
                        self._lock.notify_all()
        for connection in open_connections:
            connection.close()
