"""Every command, notification and error code the server speaks, defined once.

`protocol.md` mirrors this module; `tests/unit/test_protocol_doc.py` keeps the two in agreement.
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    """`workspace/executeCommand` command names; each takes ONE object argument with camelCase keys."""

    SET_KEY = "byok.setKey"
    BIND_KEY = "byok.bindKey"
    DELETE_KEY = "byok.deleteKey"
    LIST_KEYS = "byok.listKeys"
    VERIFY_KEY = "byok.verifyKey"
    LIST_MODELS = "byok.listModels"
    STATUS = "byok.status"
    CHAT = "byok.chat"
    APPLY = "byok.apply"
    INLINE_EDIT = "byok.inlineEdit"
    COMPOSER = "byok.composer"
    AGENT = "byok.agent"
    USAGE = "byok.usage"
    CHECKPOINTS = "byok.checkpoints"
    RESTORE_CHECKPOINT = "byok.restoreCheckpoint"
    FORGET_APPROVALS = "byok.forgetApprovals"
    MCP_STATUS = "byok.mcpStatus"


class Notification(StrEnum):
    """Custom server-to-client notifications."""

    STREAM = "byok/stream"


class ErrorCode(StrEnum):
    """The `data.code` of a byok JSON-RPC error (the JSON-RPC code itself is `BYOK_ERROR`)."""

    INVALID_KEY = "invalid_key"
    NO_MODEL_ACCESS = "no_model_access"
    MODEL_NOT_FOUND = "model_not_found"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    PROVIDER_OVERLOADED = "provider_overloaded"
    PROVIDER_ERROR = "provider_error"
    ENDPOINT_UNREACHABLE = "endpoint_unreachable"
    BAD_API_VERSION = "bad_api_version"
    TIMEOUT = "timeout"
    STREAM_INTERRUPTED = "stream_interrupted"
    KEY_MISSING = "key_missing"
    KEY_ENDPOINT_MISMATCH = "key_endpoint_mismatch"
    BIND_NOT_CONFIRMED = "bind_not_confirmed"
    KEY_REJECTED = "key_rejected"
    KEYRING_UNAVAILABLE = "keyring_unavailable"
    INSECURE_ENDPOINT = "insecure_endpoint"
    PROXY_INVALID = "proxy_invalid"
    CA_BUNDLE_UNREADABLE = "ca_bundle_unreadable"
    BAD_REQUEST = "bad_request"
    UNKNOWN_PROVIDER = "unknown_provider"
    CONTEXT_TOO_LARGE = "context_too_large"
    BUDGET_EXCEEDED = "budget_exceeded"
    BUDGET_INVALID = "budget_invalid"
    LEDGER_BUSY = "ledger_busy"
    LEDGER_UNAVAILABLE = "ledger_unavailable"
    LEDGER_CORRUPT = "ledger_corrupt"
    BUILTIN_ONLY = "builtin_only"
    CHECKPOINT_NOT_FOUND = "checkpoint_not_found"
    CHECKPOINT_UNAVAILABLE = "checkpoint_unavailable"
    APPROVALS_UNAVAILABLE = "approvals_unavailable"
    MCP_UNAVAILABLE = "mcp_unavailable"


class AcpMode(StrEnum):
    """The ACP agent's session modes (`byok acp`): what the agent may do without asking."""

    ASK = "ask"
    EDIT = "edit"
    AGENT = "agent"


class AcpConfig(StrEnum):
    """The ACP agent's session config option ids (`session/set_config_option`)."""

    MODE = "mode"
    MODEL = "model"
    REASONING = "reasoning"


class AcpPermission(StrEnum):
    """The option ids of the ACP agent's `session/request_permission` asks."""

    ALLOW_ONCE = "allow_once"
    ALLOW_ALWAYS = "allow_always"
    REJECT = "reject"


AUTO_MODEL = "auto"
"""The ACP model and reasoning options' value that leaves the choice to byok's settings."""

BYOK_ERROR = -32050
"""JSON-RPC error code of every byok failure; `data.code` says which (see `ErrorCode`)."""
