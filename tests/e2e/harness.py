"""Drive the real byok server process over stdio with pytest-lsp."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import SERVER_COMMAND


@dataclass
class Session:
    client: LanguageClient
    deltas: list[dict[str, Any]] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    """Every result, error and notification seen, as JSON, for leak scans."""
    apply_edits: list[types.ApplyWorkspaceEditParams] = field(default_factory=list)
    message_requests: list[types.ShowMessageRequestParams] = field(default_factory=list)
    cancelled_asks: list[str] = field(default_factory=list)
    """Questions the server gave up on (its `$/cancelRequest` reached the client's handler)."""
    message_answer: str | None = None
    answer: Callable[[types.ShowMessageRequestParams], str | None] | None = None
    """Picks the answer per question when set (else `message_answer` answers every one)."""

    async def command(self, name: str, argument: Any = None, *, raw_args: list[Any] | None = None) -> Any:
        args = raw_args if raw_args is not None else [argument if argument is not None else {}]
        try:
            result = await self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=name, arguments=args)
            )
        except JsonRpcException as exc:
            self.transcript.append(
                json.dumps({"error": exc.message, "data": exc.data}, default=str, ensure_ascii=False)
            )
            raise
        self.transcript.append(json.dumps(result, default=str, ensure_ascii=False))
        return result

    def text_of(self, stream_id: str | None = None) -> str:
        return "".join(
            d["delta"]["text"]
            for d in self.deltas
            if d["delta"]["type"] == "text" and (stream_id is None or d["streamId"] == stream_id)
        )

    def everything(self) -> str:
        """Every result, error, log, message and progress report, each delta, and each stream's text
        joined per kind.

        Joined, because a key split across two deltas is whole on the client's screen.
        """
        logs = [m.message for m in self.client.log_messages] + [m.message for m in self.client.messages]
        logs += [m.message for m in self.message_requests]
        logs += [str(report) for reports in self.client.progress_reports.values() for report in reports]
        joined: dict[tuple[str, str], list[str]] = {}
        for d in self.deltas:
            joined.setdefault((d["streamId"], d["delta"]["type"]), []).append(d["delta"]["text"])
        return "\n".join(
            [
                *self.transcript,
                *logs,
                *(json.dumps(d, ensure_ascii=False) for d in self.deltas),
                *("".join(texts) for texts in joined.values()),
            ]
        )


def byok_error(exc: JsonRpcException) -> dict[str, Any]:
    assert exc.code == -32050, (exc.code, exc.message)
    assert isinstance(exc.data, dict)
    return exc.data


@asynccontextmanager
async def lsp_session(
    settings: dict[str, Any] | None,
    env: dict[str, str],
    *,
    root: str | None = None,
    configuration: bool = True,
) -> AsyncIterator[Session]:
    client = await ClientServerConfig(server_command=SERVER_COMMAND, server_env=env).start()
    assert isinstance(client, LanguageClient)
    session = Session(client)

    @client.feature("byok/stream")
    def on_stream(params: Any) -> None:
        payload = {
            "streamId": params.streamId,
            "delta": {"type": params.delta.type, "text": params.delta.text},
        }
        session.deltas.append(payload)

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        session.apply_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_message_request(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        session.message_requests.append(params)
        title = session.answer(params) if session.answer else session.message_answer
        return types.MessageActionItem(title=title) if title else None

    if settings is not None:
        client.set_configuration(settings, section="byok")
    capabilities = types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(configuration=configuration, apply_edit=True),
        window=types.WindowClientCapabilities(
            work_done_progress=True, show_message=types.ShowMessageRequestClientCapabilities()
        ),
    )
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            initialization_options={"byok": settings or {}},
            root_uri=root,
        )
    )
    try:
        yield session
    finally:
        await asyncio.wait_for(client.shutdown_session(), 10)
        await client.stop()
