"""`ByokAgent`: the ACP agent (Agent Client Protocol v1) over byok's backend and agent loop.

The SDK (`agent-client-protocol`) speaks the protocol and validates every request; this class answers
it: sessions with modes and config options, prompts run by `features.agent` with their updates streamed,
cancel, and byok's errors as JSON-RPC errors carrying byok's error data (cause and fix), redacted.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from byok import __version__
from byok.acp.editor import ClientFiles, ClientTerminal, Permissions
from byok.acp.mcp import session_servers
from byok.acp.options import model_values, parse_mode, parse_reasoning, session_modes, session_options
from byok.acp.prompt import PromptRun
from byok.acp.sessions import SessionStore, StoredSession
from byok.base.config import ReasoningSettings
from byok.base.errors import ByokError
from byok.base.names import AUTO_MODEL, BYOK_ERROR, AcpConfig, AcpMode, ErrorCode
from byok.base.redaction import redact, redact_data
from byok.core.mcp.servers import McpServers
from byok.core.session import Backend
from byok.features.agent import AgentOutcome, AgentParams, AgentStop, FrontEnd, agent
from byok.providers.base import Message
from byok.workspace.files import fenced
from byok.workspace.jail import Workspace

if TYPE_CHECKING:
    from acp import InitializeResponse, PromptResponse
    from acp.interfaces import Client
    from acp.schema import (
        AuthMethodAgent,
        ClientCapabilities,
        EnvVarAuthMethod,
        Implementation,
        LoadSessionResponse,
        NewSessionResponse,
        SetSessionConfigOptionResponse,
        SetSessionModeResponse,
        StopReason,
        TerminalAuthMethod,
    )

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

PROTOCOL_VERSION = 1
"""ACP v1: the v2 draft drops fs, terminals and modes, so a client asking for more is answered 1."""
AUTH_METHOD = "byok-keys"
STOP_REASONS: dict[AgentStop, StopReason] = {
    "done": "end_turn",
    "max_steps": "max_turn_requests",
    "length": "max_tokens",
    "cancelled": "cancelled",
    "context_window": "end_turn",
}
"""byok's agent stop reasons → ACP's; a spending-limit stop ("budget") is answered with byok's error."""


def answers_errors(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """byok's errors leave as JSON-RPC errors (`BYOK_ERROR`, `data` = byok's error data), redacted.

    Anything else is a bug of ours: logged with its traceback and answered as an internal error whose
    details are redacted (the SDK would send `str(exc)` as it is, and an exception's text may hold a key).
    """

    @functools.wraps(handler)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        from acp import RequestError

        try:
            return await handler(*args, **kwargs)
        except ByokError as exc:
            log.info("%s failed: %s", handler.__name__, exc)
            raise RequestError(BYOK_ERROR, redact(str(exc)), redact_data(exc.to_data())) from None
        except RequestError:
            raise
        except Exception as exc:
            details = redact(f"{type(exc).__name__}: {exc}")[:500]
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("%s failed with a bug: %s\n%s", handler.__name__, details, frames)
            raise RequestError.internal_error({"details": details}) from None

    return run


class LiveSession:
    """A session this process serves: its stored state, its workspace and the prompt running in it."""

    def __init__(
        self, stored: StoredSession, workspace: Workspace, files: ClientFiles, mcp: McpServers | None
    ) -> None:
        self.stored = stored
        self.workspace = workspace
        self.files = files
        self.mcp = mcp
        self.task: asyncio.Task[AgentOutcome] | None = None
        self.run: PromptRun | None = None
        self.permissions: Permissions | None = None

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.mcp is not None:
            await self.mcp.aclose()


class ByokAgent:
    """The ACP Agent: one per connection."""

    def __init__(self, backend: Backend, store: SessionStore | None = None) -> None:
        self.backend = backend
        self.store = store or SessionStore()
        self.client: Client | None = None
        self.capabilities: ClientCapabilities | None = None
        self.sessions: dict[str, LiveSession] = {}
        backend.on_warning(self._warn)

    def _warn(self, message: str) -> None:
        """A warning (a spending limit near, a cost not recorded) goes to the prompts running now."""
        log.warning("%s", message)
        for live in self.sessions.values():
            if live.run is not None:
                live.run.message(f"\n\n⚠ {message}\n\n")

    def on_connect(self, conn: Client) -> None:
        self.client = conn

    # -- initialize and auth --------------------------------------------------------------------------

    @answers_errors
    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: ClientCapabilities | None = None,
        client_info: Implementation | None = None,
        **kwargs: Any,
    ) -> InitializeResponse:
        from acp import InitializeResponse
        from acp.schema import AgentCapabilities, AuthMethodAgent, Implementation, McpCapabilities
        from acp.schema import PromptCapabilities as Prompts

        self.capabilities = client_capabilities
        missing = await self._missing_credentials()
        methods: list[EnvVarAuthMethod | TerminalAuthMethod | AuthMethodAgent] = []
        if missing is not None:
            methods.append(
                AuthMethodAgent(
                    id=AUTH_METHOD,
                    name="Store an API key with byok",
                    description=f"{missing.message}. {missing.fix}. Keys stay in your OS keychain and "
                    "never travel over ACP; then start the session again.",
                )
            )
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=Prompts(image=False, audio=False, embedded_context=True),
                mcp_capabilities=McpCapabilities(http=True, sse=False),
            ),
            auth_methods=methods,
            agent_info=Implementation(name="byok", title="byok", version=__version__),
        )

    async def _missing_credentials(self) -> ByokError | None:
        """Why no prompt could run now (no key, no keyless local server), or None when one could."""
        try:
            routes = await self.backend.routes("agent", None)
            resolved = self.backend.resolve(routes[0].provider_id)
        except ByokError as exc:
            return exc
        if not resolved.preset.key_required or resolved.kind == "bedrock":
            return None
        if await self.backend.stored_key(resolved.provider_id) is not None:
            return None
        return ByokError(
            ErrorCode.KEY_MISSING,
            f"No API key is set for {resolved.provider_id}",
            provider=resolved.provider_id,
            fix=f"Run `byok keys set {resolved.provider_id}` in a terminal",
        )

    @answers_errors
    async def authenticate(self, method_id: str, **kwargs: Any) -> None:
        missing = await self._missing_credentials()
        if missing is not None:
            raise missing

    # -- sessions -------------------------------------------------------------------------------------

    async def _live(self, stored: StoredSession, mcp_servers: list[Any] | None) -> LiveSession:
        from acp import RequestError

        if self.client is None:
            raise RequestError.internal_error({"details": "no client connection"})
        root = Path(stored.cwd)
        if not root.is_absolute() or not await asyncio.to_thread(root.is_dir):
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"cwd: {stored.cwd[:200]!r} is not an absolute path of a folder",
                cause="The session's working directory is the workspace the agent works in",
                fix="Pass the absolute path of the project folder as cwd",
            )
        files = ClientFiles(self.client, stored.session_id, self.capabilities)
        live = LiveSession(
            stored, Workspace(root, files.lookup), files, session_servers(self.backend, mcp_servers)
        )
        replaced = self.sessions.pop(stored.session_id, None)
        if replaced is not None:
            await replaced.aclose()
        self.sessions[stored.session_id] = live
        return live

    async def aclose(self) -> None:
        """Stop every session's work and its MCP servers (the connection is closing)."""
        for live in self.sessions.values():
            await live.aclose()

    def _session(self, session_id: str) -> LiveSession:
        live = self.sessions.get(session_id)
        if live is None:
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"sessionId: no session {session_id[:40]!r} in this connection",
                cause="Sessions are made with session/new or session/load first",
                fix="Create or load the session, then use its id",
            )
        return live

    @answers_errors
    async def new_session(
        self,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[Any] | None = None,
        **kwargs: Any,
    ) -> NewSessionResponse:
        from acp.schema import NewSessionResponse

        stored = self.store.create(cwd)
        await self._live(stored, mcp_servers)
        await asyncio.to_thread(self.store.save, stored)
        return NewSessionResponse(
            session_id=stored.session_id,
            modes=session_modes(stored),
            config_options=await session_options(self.backend, stored),
        )

    @answers_errors
    async def load_session(
        self,
        cwd: str,
        session_id: str,
        mcp_servers: list[Any] | None = None,
        additional_directories: list[str] | None = None,
        **kwargs: Any,
    ) -> LoadSessionResponse:
        from acp.schema import LoadSessionResponse, SessionNotification

        stored = await asyncio.to_thread(self.store.load, session_id)
        stored.cwd = cwd
        live = await self._live(stored, mcp_servers)
        assert self.client is not None
        for update in list(live.stored.updates):
            notification = SessionNotification.model_validate({"sessionId": session_id, "update": update})
            await self.client.session_update(session_id=session_id, update=notification.update)
        return LoadSessionResponse(
            modes=session_modes(stored), config_options=await session_options(self.backend, stored)
        )

    @answers_errors
    async def set_session_mode(self, mode_id: str, session_id: str, **kwargs: Any) -> SetSessionModeResponse:
        from acp.schema import ConfigOptionUpdate, SetSessionModeResponse

        live = self._session(session_id)
        live.stored.mode = parse_mode(mode_id, "modeId")
        await asyncio.to_thread(self.store.save, live.stored)
        assert self.client is not None  # the mode option shown beside the modes follows
        update = ConfigOptionUpdate(
            session_update="config_option_update",
            config_options=await session_options(self.backend, live.stored),
        )
        await self.client.session_update(session_id=session_id, update=update)
        return SetSessionModeResponse()

    @answers_errors
    async def set_config_option(
        self, config_id: str, session_id: str, value: str | bool, **kwargs: Any
    ) -> SetSessionConfigOptionResponse:
        from acp.helpers import update_current_mode
        from acp.schema import SetSessionConfigOptionResponse

        live = self._session(session_id)
        if config_id == AcpConfig.MODE:
            live.stored.mode = parse_mode(value, "value")
            assert self.client is not None  # the modes shown beside the option follow
            await self.client.session_update(
                session_id=session_id, update=update_current_mode(live.stored.mode.value)
            )
        elif config_id == AcpConfig.MODEL:
            models = await model_values(self.backend)
            if not isinstance(value, str) or value not in models:
                raise ByokError(
                    ErrorCode.BAD_REQUEST,
                    f"value: {str(value)[:100]!r} is not one of byok's models",
                    fix=f"Choose one of: {', '.join(models[:20])}",
                )
            live.stored.model = value
        elif config_id == AcpConfig.REASONING:
            live.stored.reasoning = parse_reasoning(value)
        else:
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"configId: {config_id[:100]!r} is not a config option",
                fix=f"Use one of: {', '.join(c.value for c in AcpConfig)}",
            )
        await asyncio.to_thread(self.store.save, live.stored)
        return SetSessionConfigOptionResponse(config_options=await session_options(self.backend, live.stored))

    # -- prompts --------------------------------------------------------------------------------------

    @answers_errors
    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> PromptResponse:
        from acp import PromptResponse, RequestError, update_user_message_text

        live = self._session(session_id)
        if live.task is not None and not live.task.done():
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                "sessionId: a prompt is already running in this session",
                fix="Wait for it to finish, or cancel it with session/cancel",
            )
        task = _prompt_text(prompt)
        assert self.client is not None
        live.files.forget()
        permissions = live.permissions = live.permissions or Permissions(self.client, session_id)
        run = live.run = PromptRun(self.client, live.stored, live.workspace, live.files, permissions)
        terminal = ClientTerminal(self.client, session_id, run.on_terminal)
        stored = live.stored
        front_end = FrontEnd(
            history=[Message(turn.role, turn.text) for turn in stored.history],
            read_only=stored.mode == AcpMode.ASK,
            observer=run,
            approve_write=run.approve_write,
            runner=terminal.run if self.capabilities and self.capabilities.terminal else None,
            mcp_servers=live.mcp,
        )
        run.send(update_user_message_text(task))
        params = AgentParams(
            task=task,
            model=None if stored.model == AUTO_MODEL else stored.model,
            reasoning=ReasoningSettings(effort=stored.reasoning) if stored.reasoning else None,
        )
        live.task = asyncio.get_running_loop().create_task(
            agent(self.backend, params, run, live.workspace, choose=run.choose, front_end=front_end)
        )
        outcome: AgentOutcome | None = None
        try:
            try:
                outcome = await live.task
            except asyncio.CancelledError:
                if _this_task_cancelling():  # the connection is closing, not a session/cancel
                    raise
            stop: AgentStop = (
                outcome.stop_reason if outcome else "cancelled"
            )  # None: cancelled before the loop
            summary = outcome.summary if outcome else ""
            if stop in ("context_window", "max_steps") and summary:
                run.message(f"\n\n{summary}")
        except BaseException:
            await run.close() if not _this_task_cancelling() else run.abort()
            raise
        finally:
            live.run = None
        await run.close()
        stored.remember("user", task)
        if summary:
            stored.remember("assistant", summary)
        await asyncio.to_thread(self.store.save, stored)
        if outcome is not None and outcome.budget_error is not None:
            error = outcome.budget_error
            raise RequestError(BYOK_ERROR, redact(error.message), redact_data(error.to_data()))
        return PromptResponse(stop_reason=STOP_REASONS.get(stop, "end_turn"))

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        live = self.sessions.get(session_id)
        if live is not None and live.task is not None and not live.task.done():
            live.task.cancel()


def _this_task_cancelling() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


def _prompt_text(blocks: list[Any]) -> str:
    """The task: the prompt's text, with embedded files as context and linked files named."""
    parts: list[str] = []
    for block in blocks:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            if text is not None:
                parts.append(f"File {resource.uri}:\n{fenced(text)}")
        elif kind == "resource_link":
            parts.append(f"(See {block.uri}.)")
    text = "\n\n".join(part for part in parts if part)
    if not text.strip():
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            "prompt: no text in the prompt",
            cause="byok reads text and embedded files; images and audio are not read",
            fix="Type a request",
        )
    return text
