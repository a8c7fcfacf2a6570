"""Finding a local model server: the order, the bound on a port that accepts and never answers, what counts
as a server, and which hosts may be probed at all."""

from __future__ import annotations

import httpx
import pytest
from tests.fakes import FakeServer, json_reply, openai_models, refused_url
from tests.fakes.local_servers import BlackHole

from byok.core.discovery import (
    DEFAULT_CANDIDATES,
    LOCAL_SERVERS_ENV,
    Candidate,
    LocalServer,
    candidates,
    discover,
)

module_loop = pytest.mark.asyncio(loop_scope="module")


@module_loop
async def test_the_first_in_order_wins_not_the_fastest(client: httpx.AsyncClient) -> None:
    with FakeServer() as lmstudio, FakeServer() as llamacpp:
        lmstudio.route("GET", "/v1/models", openai_models(["qwen2.5-7b"]).delayed(0.2))
        llamacpp.route("GET", "/v1/models", openai_models(["smollm2"]))
        found = await discover(
            client,
            [
                Candidate("ollama", f"{refused_url()}/v1"),
                Candidate("lmstudio", f"{lmstudio.url}/v1"),
                Candidate("llamacpp", f"{llamacpp.url}/v1"),
            ],
            budget_s=10.0,  # ample: this test is about the order (a slower earlier server still wins)
        )
        assert found == LocalServer("lmstudio", f"{lmstudio.url}/v1", ("qwen2.5-7b",))
        assert lmstudio.requests[0].headers.get("authorization") is None  # probes carry no key


@module_loop
async def test_a_port_that_never_answers_is_given_up(client: httpx.AsyncClient) -> None:
    with BlackHole() as hole, FakeServer() as vllm:
        vllm.route("GET", "/v1/models", openai_models(["Qwen/Qwen2.5-Coder-7B"]))
        found = await discover(
            client, [Candidate("ollama", f"{hole.url}/v1"), Candidate("vllm", f"{vllm.url}/v1")]
        )
        assert found is not None and found.provider_id == "vllm"
        assert hole.accepted == 1
        assert hole.wait_hung_up()  # the probe was abandoned, not left waiting


@module_loop
async def test_nothing_found_when_only_black_holes_and_refusals(client: httpx.AsyncClient) -> None:
    with BlackHole() as hole:
        found = await discover(
            client, [Candidate("ollama", f"{hole.url}/v1"), Candidate("vllm", refused_url())]
        )
        assert found is None
        assert hole.wait_hung_up()


@module_loop
async def test_servers_that_list_no_model_are_not_model_servers(client: httpx.AsyncClient) -> None:
    with FakeServer() as web, FakeServer() as empty, FakeServer() as broken:
        web.route("GET", "/v1/models", json_reply(200, {"status": "ok"}))
        empty.route("GET", "/v1/models", openai_models([]))
        broken.route("GET", "/v1/models", json_reply(404, {"error": "not found"}))
        found = await discover(
            client,
            [
                Candidate("llamacpp", f"{web.url}/v1"),
                Candidate("ollama", f"{empty.url}/v1"),
                Candidate("vllm", f"{broken.url}/v1"),
            ],
        )
    assert found is None


def test_the_default_order_and_ports() -> None:
    assert [(c.provider_id, c.base_url) for c in candidates({})] == [
        ("ollama", "http://127.0.0.1:11434/v1"),
        ("lmstudio", "http://127.0.0.1:1234/v1"),
        ("llamacpp", "http://127.0.0.1:8080/v1"),
        ("vllm", "http://127.0.0.1:8000/v1"),
    ]
    assert candidates({LOCAL_SERVERS_ENV: DEFAULT_CANDIDATES}) == candidates({})


def test_only_loopback_is_ever_probed() -> None:
    chosen = candidates(
        {
            LOCAL_SERVERS_ENV: "ollama=http://10.0.0.5:11434/v1, vllm=http://[::1]:9000/v1,x=https://example.com,junk"
        }
    )
    assert chosen == [Candidate("vllm", "http://[::1]:9000/v1")]
    assert candidates({LOCAL_SERVERS_ENV: ""}) == []


def test_the_chat_model_is_not_an_embedding_model() -> None:
    server = LocalServer(
        "ollama", "http://127.0.0.1:11434/v1", ("nomic-embed-text:latest", "llama3.2:latest")
    )
    assert server.chat_model == "llama3.2:latest"
    assert server.summary == "using Ollama at 127.0.0.1:11434 (no key needed)"
