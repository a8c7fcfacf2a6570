"""The MCP client's parts that need no server: settings, tool names, start approval keys, secret references,
result conversion, and the Gemini schema reduction MCP tools go through."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import keyring
import pytest
from mcp_types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
    TextResourceContents,
    Tool,
    ToolAnnotations,
)

from byok.base.config import load_settings
from byok.base.errors import ByokError
from byok.base.redaction import redact
from byok.core.approvals import Approvals
from byok.core.mcp.connection import McpConnection
from byok.core.mcp.launch import KEYRING_SERVICE, Launch, approval_key, command_line, resolve_launch
from byok.core.mcp.results import tool_result_text
from byok.core.mcp.servers import MAX_TOOL_NAME, McpServers, tool_name
from byok.providers.google import GEMINI_SCHEMA_KEYWORDS, gemini_schema

PROVIDER_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_servers_load_one_by_one_and_bad_ones_are_reported() -> None:
    settings, problems = load_settings(
        {
            "mcp": {
                "startOnLaunch": True,
                "servers": {
                    "git": {"command": "uvx", "args": ["mcp-server-git"], "autoApprove": ["git_status"]},
                    "remote": {
                        "url": "https://mcp.example.test/mcp",
                        "headers": {"Authorization": "${env:T}"},
                    },
                    "both": {"command": "x", "url": "https://x.test"},
                    "neither": {"enabled": False},
                    "bad name!": {"command": "x"},
                    "typo": {"command": "x", "argz": []},
                    "badref": {"command": "x", "env": {"A": "${keyring:}"}},
                },
            },
            "maxOutputTokens": 100,
        }
    )
    assert set(settings.mcp.servers) == {"git", "remote"}
    assert settings.mcp.start_on_launch is True and settings.max_output_tokens == 100
    git = settings.mcp.servers["git"]
    assert git.transport == "stdio" and git.timeout_s == 60 and git.auto_approves("git_status")
    assert not git.auto_approves("git_commit")
    assert settings.mcp.servers["remote"].transport == "http"
    joined = "\n".join(problems)
    for name in ("both", "neither", "bad name!", "typo", "badref"):
        assert f"byok.mcp.servers.{name}" in joined
    assert all("ignored" in problem for problem in problems)


def test_tool_names_fit_every_provider_and_stay_unique() -> None:
    taken: set[str] = set()
    names = [
        tool_name("everything", "echo", taken),
        tool_name("my server", "get.time/now", taken),
        tool_name("s" * 40, "t" * 40, taken),
        tool_name("s" * 40, "t" * 40 + "x", taken),
    ]
    for name in names:
        taken.add(name)
    assert names[0] == "mcp__everything__echo"
    assert names[1] == "mcp__my_server__get_time_now"
    assert all(PROVIDER_NAME.match(name) and len(name) <= MAX_TOOL_NAME for name in names)
    assert len(set(names)) == len(names)
    clash = tool_name("a.b", "c", {"mcp__a_b__c"})
    assert clash != "mcp__a_b__c" and PROVIDER_NAME.match(clash)


def test_the_start_approval_covers_env_names_not_values() -> None:
    settings, _ = load_settings({"mcp": {"servers": {"s": {"command": "node", "env": {"TOKEN": "a"}}}}})
    same_names, _ = load_settings({"mcp": {"servers": {"s": {"command": "node", "env": {"TOKEN": "b"}}}}})
    other_args, _ = load_settings({"mcp": {"servers": {"s": {"command": "node", "args": ["x"]}}}})
    key = approval_key(settings.mcp.servers["s"], None)
    assert key.startswith("mcp-start:") and key == approval_key(same_names.mcp.servers["s"], None)
    assert key != approval_key(other_args.mcp.servers["s"], None)
    shown = command_line(settings.mcp.servers["s"], None)
    assert "TOKEN" in shown and "(env:" in shown


def test_references_resolve_and_are_registered_with_the_redactor(keyring_file: Path) -> None:
    keyring.set_password(KEYRING_SERVICE, "gh", "FAKE-keyring-token-7f3e9a")
    settings, _ = load_settings(
        {
            "mcp": {
                "servers": {
                    "s": {"command": "x", "env": {"A": "pre-${env:MCP_TEST_SECRET}", "B": "${keyring:gh}"}},
                    "h": {"url": "https://h.test/mcp", "headers": {"Authorization": "Bearer ${keyring:gh}"}},
                }
            }
        }
    )
    launch = resolve_launch(
        "s", settings.mcp.servers["s"], Path("/ws"), {"MCP_TEST_SECRET": "FAKE-env-secret-1234"}
    )
    assert launch.env == {"A": "pre-FAKE-env-secret-1234", "B": "FAKE-keyring-token-7f3e9a"}
    headers = resolve_launch("h", settings.mcp.servers["h"], None, {}).headers
    assert headers == {"Authorization": "Bearer FAKE-keyring-token-7f3e9a"}
    assert "FAKE-env-secret-1234" not in redact("value FAKE-env-secret-1234 here")
    assert "FAKE-keyring-token-7f3e9a" not in redact("value FAKE-keyring-token-7f3e9a here")
    with pytest.raises(ByokError) as missing:
        resolve_launch("s", settings.mcp.servers["s"], None, {})
    assert missing.value.code == "mcp_unavailable"
    assert "byok.mcp.servers.s.env.A" in missing.value.message and "MCP_TEST_SECRET" in missing.value.message


def test_results_are_bounded_and_binary_summarised() -> None:
    image = base64.b64encode(b"\x89PNG" + b"\0" * 96).decode()
    result = CallToolResult(
        content=[
            TextContent(text="héllo " * 20),
            ImageContent(data=image, mime_type="image/png"),
            EmbeddedResource(resource=TextResourceContents(uri="demo://x", text="embedded text")),
        ]
    )
    whole = tool_result_text(result, 64 * 1024)
    assert "[image: image/png, 100 bytes; not shown]" in whole and "embedded text" in whole
    cut = tool_result_text(result, 50)
    assert cut.startswith("héllo") and "truncated" in cut and len(cut.split("\n")[0].encode()) <= 50
    structured = CallToolResult(content=[], structured_content={"sum": 3})
    assert tool_result_text(structured, 1000) == '{"sum": 3}'


def test_gemini_gets_only_the_schema_keywords_it_accepts() -> None:
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "mode": {"const": "fast", "default": "fast"},
            "tags": {"type": "array", "items": {"type": ["string", "null"], "pattern": "^a"}},
            "flag": {"enum": [True, False]},
            "properties": {"type": "string", "minLength": 1, "examples": ["x"]},
        },
        "required": ["mode"],
    }
    reduced = gemini_schema(schema)

    def keywords(node: object) -> set[str]:
        if not isinstance(node, dict):
            return set()
        found = set(node)
        for key, value in node.items():
            if key == "properties":
                for sub in value.values():
                    found |= keywords(sub)
            elif isinstance(value, dict):
                found |= keywords(value)
        return found

    assert keywords(reduced) <= GEMINI_SCHEMA_KEYWORDS
    assert reduced["properties"]["mode"] == {"enum": ["fast"]}
    assert reduced["properties"]["tags"]["items"] == {"type": "string"}
    assert reduced["properties"]["flag"] == {}
    assert reduced["properties"]["properties"] == {"type": "string"}
    assert reduced["required"] == ["mode"] and reduced["additionalProperties"] is False


def test_running_servers_offer_their_tools_named_rooted_and_flagged(tmp_path: Path) -> None:
    settings, _ = load_settings({"mcp": {"servers": {"my.srv": {"command": "x"}, "idle": {"command": "y"}}}})
    servers = McpServers(settings.mcp, lambda: Approvals(tmp_path))
    running = McpConnection("my.srv", settings.mcp.servers["my.srv"], Launch({}, {}, None))
    running.state = "running"
    running.tools = [
        Tool(name="look", input_schema={"type": "object"}, annotations=ToolAnnotations(read_only_hint=True)),
        Tool(name="write", description="Writes", input_schema={"properties": {"a": {"type": "string"}}}),
    ]
    idle = McpConnection("idle", settings.mcp.servers["idle"], Launch({}, {}, None))
    idle.tools = [Tool(name="never", input_schema={"type": "object"})]
    servers._connections.update({"my.srv": running, "idle": idle})
    offered = {tool.name: tool for tool in servers.tools()}
    assert set(offered) == {"mcp__my_srv__look", "mcp__my_srv__write"}, "only running servers' tools"
    look, write = offered["mcp__my_srv__look"], offered["mcp__my_srv__write"]
    assert look.read_only and not write.read_only
    assert look.parameters == {"type": "object", "properties": {}}
    assert write.parameters["type"] == "object" and write.description == "[MCP server my.srv] Writes"
    assert (look.server, look.tool) == ("my.srv", "look")


def test_a_server_failure_is_told_apart_from_a_bug_of_ours() -> None:
    from mcp.shared.exceptions import MCPError

    from byok.core.mcp.connection import _expected

    assert _expected(FileNotFoundError(2, "no such file", "mcp-server-x"))
    assert _expected(ExceptionGroup("sdk", [MCPError(-32000, "Connection closed"), OSError("pipe")]))
    assert not _expected(TypeError("our bug"))
    assert not _expected(ExceptionGroup("sdk", [OSError("pipe"), AttributeError("our bug")]))


def test_the_start_approval_covers_the_folder_it_starts_in(tmp_path: Path) -> None:
    """`node server.js` in one workspace is not `node server.js` in a cloned one: another file runs."""
    settings, _ = load_settings(
        {"mcp": {"servers": {"s": {"command": "node", "args": ["server.js"], "cwd": "."}}}}
    )
    server = settings.mcp.servers["s"]
    trusted, cloned = tmp_path / "trusted", tmp_path / "cloned"
    assert approval_key(server, trusted) != approval_key(server, cloned)
    assert f"(in {trusted})" in command_line(server, trusted)
    absolute, _ = load_settings({"mcp": {"servers": {"s": {"command": "node", "cwd": str(tmp_path)}}}})
    fixed = absolute.mcp.servers["s"]
    assert approval_key(fixed, trusted) == approval_key(fixed, cloned)
