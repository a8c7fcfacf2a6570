"""byok's one error type and the table that turns provider failures into a message, a cause and a fix."""

from __future__ import annotations

import re
from typing import Any, Generic, Self, TypeVar, overload

from byok.base.names import ErrorCode
from byok.base.redaction import redact

_DEFAULTS: dict[ErrorCode, tuple[str, str]] = {
    ErrorCode.INVALID_KEY: (
        "Invalid or expired API key",
        "Regenerate the key at the provider, then set it again",
    ),
    ErrorCode.NO_MODEL_ACCESS: ("Key lacks model access", "Enable model access for this key at the provider"),
    ErrorCode.MODEL_NOT_FOUND: ("Model not found", "Pick one of the models the key can see"),
    ErrorCode.RATE_LIMITED: ("Too many requests", "Wait, or upgrade the provider plan"),
    ErrorCode.QUOTA_EXHAUSTED: (
        "The account has no credit or quota left",
        "Add credit or raise the quota at the provider",
    ),
    ErrorCode.PROVIDER_OVERLOADED: (
        "The provider is overloaded",
        "Try again in a moment, or pick another model",
    ),
    ErrorCode.PROVIDER_ERROR: (
        "The provider failed",
        "Try again; if it persists, check the provider's status page",
    ),
    ErrorCode.ENDPOINT_UNREACHABLE: (
        "Cannot connect to the endpoint",
        "Check the base URL, your network and proxy",
    ),
    ErrorCode.BAD_API_VERSION: (
        "The API version is not supported",
        "Set a supported apiVersion (e.g. 2024-10-21)",
    ),
    ErrorCode.TIMEOUT: ("The provider did not answer in time", "Try again, or raise byok.timeouts"),
    ErrorCode.STREAM_INTERRUPTED: (
        "The answer was cut off mid-stream",
        "Try again; the partial answer is in data.partialText",
    ),
    ErrorCode.KEY_MISSING: (
        "No API key is set for this provider",
        "Run `byok keys set PROVIDER` or set the env var",
    ),
    ErrorCode.KEY_ENDPOINT_MISMATCH: (
        "The key is bound to another route (endpoint, proxy or CA bundle)",
        "If the new route is right, run `byok keys bind PROVIDER` (or byok.bindKey); otherwise fix the settings",
    ),
    ErrorCode.BIND_NOT_CONFIRMED: (
        "The user did not confirm the new route for the key",
        "Run `byok keys bind PROVIDER` in a terminal and confirm the route it shows",
    ),
    ErrorCode.KEY_REJECTED: ("The key was refused before storing", "Paste the key meant for this provider"),
    ErrorCode.KEYRING_UNAVAILABLE: (
        "No usable OS keychain",
        "Unlock a Secret Service (gnome-keyring/KWallet), set PYTHON_KEYRING_BACKEND, or use the env var",
    ),
    ErrorCode.INSECURE_ENDPOINT: (
        "Keys are only sent over HTTPS (or to this machine)",
        "Use an https:// URL, or a loopback host for a local server",
    ),
    ErrorCode.PROXY_INVALID: (
        "The proxy setting is not a usable proxy URL",
        "Set byok.proxy to http://host:port (or https://), or remove it",
    ),
    ErrorCode.CA_BUNDLE_UNREADABLE: (
        "The CA bundle file cannot be read as PEM certificates",
        "Set byok.caBundle to the path of a readable PEM file (or directory), or remove it",
    ),
    ErrorCode.BAD_REQUEST: (
        "The provider rejected the request",
        "Read the provider's message and adjust the request",
    ),
    ErrorCode.UNKNOWN_PROVIDER: (
        "Unknown provider",
        "Use a known provider id or add it under byok.providers",
    ),
    ErrorCode.CONTEXT_TOO_LARGE: (
        "The request is larger than the model's context window",
        "Send fewer files",
    ),
    ErrorCode.BUDGET_EXCEEDED: (
        "The spending limit would be crossed",
        "Raise the limit or wait until the 1st",
    ),
    ErrorCode.BUDGET_INVALID: (
        "A spending limit setting is invalid, so paid requests it would limit are refused",
        "Fix the byok.budget setting (a number of US dollars, 0 or more) or remove it",
    ),
    ErrorCode.LEDGER_BUSY: (
        "Another process holds the usage ledger's write lock",
        "Try again; if it persists, close other programs that have the ledger open",
    ),
    ErrorCode.LEDGER_UNAVAILABLE: (
        "The usage ledger cannot be created or written",
        "Make byok's data directory writable, on a disk with free space",
    ),
    ErrorCode.LEDGER_CORRUPT: (
        "The usage ledger was damaged; it was moved aside and a new one started",
        "Send the request again; earlier spending no longer counts against this month's limits",
    ),
    ErrorCode.BUILTIN_ONLY: ("This feature always runs on the built-in model", "Do not pass a model"),
    ErrorCode.CHECKPOINT_NOT_FOUND: (
        "No such checkpoint for this workspace",
        "Pick a checkpoint from byok.checkpoints",
    ),
    ErrorCode.CHECKPOINT_UNAVAILABLE: (
        "The checkpoint store cannot be created or written",
        "Make byok's data directory writable, on a disk with free space",
    ),
    ErrorCode.APPROVALS_UNAVAILABLE: (
        "The remembered approvals in byok's data directory cannot be written",
        "Make byok's data directory writable, on a disk with free space",
    ),
    ErrorCode.MCP_UNAVAILABLE: (
        "The MCP server is not configured, not running or did not answer",
        "Check byok.mcpStatus and the server's entry in byok.mcp.servers",
    ),
}


MAX_TEXT = 2000
"""Longest message/cause/fix: a bad input (a 10 MB path) is never echoed whole into errors and logs."""


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_TEXT else f"{text[: MAX_TEXT - 40]}… ({len(text)} characters in all)"


T = TypeVar("T")


class _WireField(Generic[T]):
    """A typed `ByokError` attribute kept in `extra` under its wire name, so `data` lists the values in the
    order they were first set; None removes it."""

    def __init__(self, wire_name: str) -> None:
        self.wire_name = wire_name

    @overload
    def __get__(self, error: None, owner: type) -> Self: ...
    @overload
    def __get__(self, error: ByokError, owner: type) -> T | None: ...
    def __get__(self, error: ByokError | None, owner: type) -> Self | T | None:
        if error is None:
            return self
        value: T | None = error.extra.get(self.wire_name)
        return value

    def __set__(self, error: ByokError, value: T | None) -> None:
        if value is None:
            error.extra.pop(self.wire_name, None)
        else:
            error.extra[self.wire_name] = value


class ByokError(Exception):
    """A failure the user can act on; becomes a JSON-RPC error whose `data` is `to_data()`.

    Messages are shown, logged and returned, so message, cause and fix are redacted on the way in
    (provider error bodies sometimes echo the key). What code decides on is a typed field; other
    details go in `extra` as keyword arguments named as on the wire (`limitS=...`).
    """

    retry_after_s = _WireField[float]("retryAfterS")
    """The wait the provider asked for before a retry (`retry-after`)."""
    should_retry = _WireField[bool]("shouldRetry")
    """False when the provider said not to retry (`x-should-retry: false`)."""
    mid_stream = _WireField[bool]("midStream")
    """True when the provider failed after its stream had started."""
    partial_text = _WireField[str]("partialText")
    """What streamed before the failure: the turn is not retried on another model."""
    models = _WireField[list[str]]("models")
    """The models the key can see, for `model_not_found`."""
    model = _WireField[str]("model")
    """The model id the failed turn was routed to."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        provider: str | None = None,
        status: int | None = None,
        cause: str | None = None,
        fix: str | None = None,
        retry_after_s: float | None = None,
        should_retry: bool | None = None,
        mid_stream: bool | None = None,
        models: list[str] | None = None,
        **extra: Any,
    ) -> None:
        default_cause, default_fix = _DEFAULTS[code]
        self.code = code
        self.provider = provider
        self.status = status
        self.cause = _bounded(redact(cause or default_cause))
        self.fix = _bounded(redact(fix or default_fix))
        self.message = _bounded(redact(message)) if message else self.cause
        self.extra: dict[str, Any] = {}
        """Everything `data` holds after the fixed fields, by wire name, in the order it was set."""
        self.retry_after_s = retry_after_s
        self.should_retry = should_retry
        self.mid_stream = mid_stream
        self.models = models
        self.extra.update((name, value) for name, value in extra.items() if value is not None)
        super().__init__(self.message)

    def to_data(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "provider": self.provider,
            "status": self.status,
            "message": self.message,
            "cause": self.cause,
            "fix": self.fix,
            **self.extra,
        }

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        return f"{where}{self.message} ({self.code.value}). {self.fix}"


_CONTEXT_OVERFLOW = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens|"
    r"input token count .* exceeds|exceeds the maximum number of tokens|input is too long",
    re.IGNORECASE,
)

_REASONING_PARAMETER = re.compile(
    r"reasoning[_.]effort|reasoning\.summary|output_config\.effort|\beffort\b|budget_tokens|thinking[_.]?(?:level|budget|config)|"
    r"thinkingLevel|thinkingBudget|\bthinking\b",
    re.IGNORECASE,
)
_EFFORT_WORDS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_SUPPORTED_LIST = re.compile(
    r"\b(?:supported(?: values?| levels?| efforts?)?(?: are)?|should be|must be|one of|expected)\b:?(.*?)(?:\.\s|\.?$)",
    re.IGNORECASE | re.DOTALL,
)
_EFFORT_WORD = re.compile(r"\b(none|minimal|low|medium|high|xhigh|max)\b", re.IGNORECASE)


def reasoning_rejected(provider: str, message: str, status: int = 400) -> ByokError:
    """`bad_request` for a reasoning value the model refused; the fix lists the values the provider said
    it takes (when its message says), else every effort."""
    lists = (_EFFORT_WORD.findall(listed.group(1)) for listed in _SUPPORTED_LIST.finditer(message))
    supported = [word.lower() for word in next((words for words in lists if words), [])]
    values = (
        f"one this model takes: {', '.join(dict.fromkeys(supported))}"
        if supported
        else f"one the model takes (not every model takes each of {', '.join(_EFFORT_WORDS)})"
    )
    return ByokError(
        ErrorCode.BAD_REQUEST,
        message,
        provider=provider,
        status=status,
        cause="The model does not accept the reasoning setting sent",
        fix=f"Set reasoning.effort to {values}, or record the model's values in byok.reasoningModels so "
        "byok fits them",
        supportedEfforts=list(dict.fromkeys(supported)) or None,
    )


def error_for_status(
    status: int,
    provider: str,
    provider_message: str,
    *,
    retry_after_s: float | None = None,
) -> ByokError:
    """The generic HTTP status mapping; providers refine it for their own quirks before calling this."""
    message = provider_message or f"HTTP {status}"
    if status in (400, 413) and _CONTEXT_OVERFLOW.search(message):
        return ByokError(
            ErrorCode.CONTEXT_TOO_LARGE,
            message,
            provider=provider,
            status=status,
            cause="The request is larger than the model's context window",
            fix="Send fewer or smaller files (@Files, not @Codebase, when you know the location)",
        )
    if status == 400 and _REASONING_PARAMETER.search(message):
        return reasoning_rejected(provider, message, status)
    if status == 401:
        return ByokError(ErrorCode.INVALID_KEY, message, provider=provider, status=status)
    if status == 403:
        return ByokError(ErrorCode.NO_MODEL_ACCESS, message, provider=provider, status=status)
    if status == 404:
        return ByokError(ErrorCode.MODEL_NOT_FOUND, message, provider=provider, status=status)
    if status == 402:
        return ByokError(ErrorCode.QUOTA_EXHAUSTED, message, provider=provider, status=status)
    if status == 429:
        return ByokError(
            ErrorCode.RATE_LIMITED, message, provider=provider, status=status, retry_after_s=retry_after_s
        )
    if status in (529, 503):
        return ByokError(
            ErrorCode.PROVIDER_OVERLOADED,
            message,
            provider=provider,
            status=status,
            retry_after_s=retry_after_s,
        )
    if status in (408, 504):
        return ByokError(ErrorCode.TIMEOUT, message, provider=provider, status=status)
    if status >= 500:
        return ByokError(ErrorCode.PROVIDER_ERROR, message, provider=provider, status=status)
    return ByokError(ErrorCode.BAD_REQUEST, message, provider=provider, status=status, cause=message)
