"""End to end over stdio: prompt caching on by default, the cache fields in results and in byok.usage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_KEY_ANTHROPIC, TEST_KEY_OPENAI
from tests.e2e.edits import settings_for
from tests.e2e.harness import lsp_session
from tests.e2e.test_cli import byok, cli_env
from tests.fakes import FakeServer, anthropic_stream, openai_stream
from tests.fakes.prompt_cache import PromptCache, anthropic_session

MESSAGES = ("POST", "/v1/messages")
CHAT = ("POST", "/v1/chat/completions")
USER = [{"role": "user", "content": "hi"}]
# claude-sonnet-4-5 in the shipped table: input $3, cache reads $0.30, cache writes $3.75, output $15 per 1M
SONNET = {"input": 3.0, "read": 0.3, "write": 3.75, "output": 15.0}


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "shop-backend"
    (root / "src").mkdir(parents=True)
    for name in ("orders", "billing", "users"):
        (root / "src" / f"{name}.py").write_text(
            f'"""The {name} module."""\n\n' + f"def {name}():\n    pass\n" * 40
        )
    return root


AGENT_TURNS: list[tuple[list[str], list[Any]]] = [
    ([], [("toolu_1", "list_files", {"path": "src"})]),
    (["Reading."], [("toolu_2", "read_file", {"path": "src/orders.py"})]),
    (
        [],
        [
            ("toolu_3", "read_file", {"path": "src/billing.py"}),
            ("toolu_4", "read_file", {"path": "src/users.py"}),
        ],
    ),
    (["The three modules define one stub each."], []),
]


def marks(body: dict[str, Any]) -> int:
    return json.dumps(body).count('"cache_control"')


async def test_an_agent_run_reads_its_prefix_from_the_cache_and_reports_what_it_saved(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    fake.route(*MESSAGES, anthropic_session(PromptCache(min_tokens=0), AGENT_TURNS))
    settings = settings_for(fake, features={"agent": "claude-sonnet-4-5"})
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        result = await s.command("byok.agent", {"task": "Summarise src/"})
        usage_report = await s.command("byok.usage", {"groupBy": "model"})
    assert result["stopReason"] == "done"
    bodies = [request.json() for request in fake.requests if request.method == "POST"]
    assert len(bodies) == len(AGENT_TURNS)
    # the system prompt and the tool list are byte-for-byte the same on every turn of the run
    assert len({json.dumps(body["system"]) for body in bodies}) == 1
    assert len({json.dumps(body["tools"]) for body in bodies}) == 1
    assert all(1 <= marks(body) <= 4 for body in bodies)

    usage = result["usage"]
    assert usage["cacheReadTokens"] > 0 and usage["cacheWriteTokens"] > 0
    assert usage["inputTokens"] >= usage["cacheReadTokens"] + usage["cacheWriteTokens"]
    uncached = usage["inputTokens"] - usage["cacheReadTokens"] - usage["cacheWriteTokens"]
    expected_cost = (
        uncached * SONNET["input"]
        + usage["cacheReadTokens"] * SONNET["read"]
        + usage["cacheWriteTokens"] * SONNET["write"]
        + usage["outputTokens"] * SONNET["output"]
    ) / 1e6
    assert usage["costUsd"] == pytest.approx(expected_cost)
    expected_saving = (
        usage["cacheReadTokens"] * (SONNET["input"] - SONNET["read"])
        - usage["cacheWriteTokens"] * (SONNET["write"] - SONNET["input"])
    ) / 1e6
    assert usage["savedUsd"] == pytest.approx(expected_saving)
    assert usage["savedUsd"] > 0  # four turns of one run: the reads outweigh the first writes

    [row] = usage_report["rows"]
    assert row["key"] == "claude-sonnet-4-5" and row["requests"] == len(AGENT_TURNS)
    assert (row["inputTokens"], row["cacheReadTokens"], row["cacheWriteTokens"]) == (
        usage["inputTokens"],
        usage["cacheReadTokens"],
        usage["cacheWriteTokens"],
    )
    assert row["savedUsd"] == pytest.approx(usage["savedUsd"], abs=1e-6)
    assert usage_report["savedUsd"] == pytest.approx(usage["savedUsd"], abs=1e-6)


@pytest.mark.parametrize(
    "switch",
    [
        {"cache": False},
        {"models": [{"id": "claude-sonnet-4-5", "provider": "anthropic", "cache": False}]},
    ],
    ids=["global", "model entry"],
)
async def test_cache_false_sends_no_breakpoint(
    fake: FakeServer, server_env: dict[str, str], switch: dict[str, Any]
) -> None:
    fake.route(*MESSAGES, anthropic_stream(["hi"]))
    settings = settings_for(fake, **switch)
    async with lsp_session(settings, server_env) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        messages = [{"role": "system", "content": "Be brief."}, *USER]
        result = await s.command("byok.chat", {"messages": messages, "model": "claude-sonnet-4-5"})
    assert result["usage"]["cacheReadTokens"] == 0 and result["usage"]["savedUsd"] == 0
    assert marks(fake.requests[-1].json()) == 0


async def test_chat_results_carry_cache_fields_and_openai_gets_a_workspace_key(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    fake.route(
        *CHAT, openai_stream(["one"], usage=(2048, 10, 1536)), openai_stream(["two"], usage=(2100, 10, 2048))
    )
    root = workspace(tmp_path)
    keys = []
    for _ in range(2):  # two server processes on the same folder
        async with lsp_session(settings_for(fake), server_env, root=root.as_uri()) as s:
            await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
            result = await s.command("byok.chat", {"messages": USER, "model": "gpt-4.1"})
            keys.append(fake.requests[-1].json()["prompt_cache_key"])
    usage = result["usage"]
    assert (usage["inputTokens"], usage["cacheReadTokens"], usage["cacheWriteTokens"]) == (2100, 2048, 0)
    # gpt-4.1: input $2, cached input $0.50 per 1M
    assert usage["costUsd"] == pytest.approx((52 * 2.0 + 2048 * 0.5 + 10 * 8.0) / 1e6)
    assert usage["savedUsd"] == pytest.approx(2048 * 1.5 / 1e6)
    assert keys[0] == keys[1]
    assert "shop" not in keys[0] and "backend" not in keys[0] and str(tmp_path) not in keys[0]
    other = tmp_path / "elsewhere"
    other.mkdir()
    async with lsp_session(settings_for(fake), server_env, root=other.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "openai", "key": TEST_KEY_OPENAI})
        await s.command("byok.chat", {"messages": USER, "model": "gpt-4.1"})
    assert fake.requests[-1].json()["prompt_cache_key"] != keys[0]


def test_the_cli_shows_cache_use_and_savings(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    fake.route(*CHAT, openai_stream(["Hello"], usage=(2048, 10, 1536)))
    env = cli_env(server_env, tmp_path, settings_for(fake))
    assert byok(env, "keys", "set", "openai", stdin=TEST_KEY_OPENAI + "\n").returncode == 0
    chat = byok(env, "chat", "hi", "--model", "gpt-4.1")
    assert chat.returncode == 0, chat.stderr
    assert "2048 in (1536 from cache) / 10 out" in chat.stderr
    usage = byok(env, "usage")
    assert usage.returncode == 0, usage.stderr
    header, row = usage.stdout.splitlines()[1:3]  # after the title: the header, the one row
    assert header.split() == [
        "requests",
        "input",
        "cache",
        "read",
        "cache",
        "write",
        "output",
        "cost",
        "saved",
    ]
    assert row.split()[:5] == ["gpt-4.1", "1", "2048", "1536", "0"]
    # gpt-4.1 reads at $0.50 instead of $2 per 1M: 1536 tokens saved $0.0023
    assert row.split()[-1] == "$0.0023" and "prompt caching saved $0.0023" in usage.stdout
    rows = json.loads(byok(env, "--json", "usage").stdout)["rows"]
    assert (rows[0]["cacheReadTokens"], rows[0]["cacheWriteTokens"]) == (1536, 0)


async def test_composer_is_one_shot_and_caches_only_its_system_prompt(
    fake: FakeServer, server_env: dict[str, str], tmp_path: Path
) -> None:
    root = workspace(tmp_path)
    fake.route(*MESSAGES, anthropic_stream(["Nothing to change."]))
    settings = settings_for(fake, features={"composer": "claude-sonnet-4-5", "chat": "claude-sonnet-4-5"})
    async with lsp_session(settings, server_env, root=root.as_uri()) as s:
        await s.command("byok.setKey", {"provider": "anthropic", "key": TEST_KEY_ANTHROPIC})
        files = [(root / "src" / "orders.py").as_uri()]
        await s.command("byok.composer", {"instruction": "Rename orders", "files": files})
        composer = fake.requests[-1].json()
        await s.command("byok.chat", {"messages": [*USER, {"role": "assistant", "content": "hello"}, *USER]})
        chat = fake.requests[-1].json()
    assert composer["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert marks(composer) == 1  # its one-off turn would be written at 1.25x and never read
    assert [turn["role"] for turn in chat["messages"] if "cache_control" in turn["content"][-1]] == [
        "user",
        "user",
    ]
