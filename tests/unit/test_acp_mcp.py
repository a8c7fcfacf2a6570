"""MCP servers an ACP client hands over: converted to byok's settings, launched with their values as given."""

from __future__ import annotations

from pathlib import Path

from acp.schema import EnvVariable, HttpHeader, HttpMcpServer, McpServerStdio, SseMcpServer

from byok.acp.mcp import handed_over_settings
from byok.base.redaction import redact
from byok.core.mcp.launch import literal_launch


def test_each_transport_converts_and_a_bad_one_is_left_out() -> None:
    stdio = handed_over_settings(
        McpServerStdio(name="a", command="srv", args=["-v"], env=[EnvVariable(name="MODE", value="fast")])
    )
    assert stdio is not None and (stdio.command, stdio.args, stdio.env) == ("srv", ["-v"], {"MODE": "fast"})
    http = handed_over_settings(
        HttpMcpServer(
            type="http", name="b", url="https://x.test/mcp", headers=[HttpHeader(name="H", value="v")]
        )
    )
    assert http is not None and http.url == "https://x.test/mcp" and http.headers == {"H": "v"}
    sse = handed_over_settings(SseMcpServer(type="sse", name="c", url="http://127.0.0.1:1/sse", headers=[]))
    assert sse is not None and sse.transport == "http"
    assert handed_over_settings(HttpMcpServer(type="http", name="d", url="ftp://x", headers=[])) is None
    bad_env = McpServerStdio(name="e", command="srv", args=[], env=[EnvVariable(name="1-bad", value="x")])
    assert handed_over_settings(bad_env) is None


def test_values_are_literal_and_credentials_are_redacted(tmp_path: Path) -> None:
    settings = handed_over_settings(
        McpServerStdio(
            name="a",
            command="srv",
            args=[],
            env=[
                EnvVariable(name="NOTE", value="${keyring:openai} ${env:HOME}"),
                EnvVariable(name="SERVICE_TOKEN", value="FAKE-handed-over-token-31d9"),
            ],
        )
    )
    assert settings is not None
    launch = literal_launch(settings, tmp_path)
    assert launch.env["NOTE"] == "${keyring:openai} ${env:HOME}", "no secret reference is looked up"
    assert launch.cwd == tmp_path
    assert "FAKE-handed-over-token-31d9" not in redact("token FAKE-handed-over-token-31d9 in a log line")


def test_a_relative_cwd_is_inside_the_session_root(tmp_path: Path) -> None:
    settings = handed_over_settings(McpServerStdio(name="a", command="srv", args=[], env=[]))
    assert settings is not None
    launch = literal_launch(settings.model_copy(update={"cwd": "tools/mcp"}), tmp_path)
    assert launch.cwd == tmp_path / "tools" / "mcp"
