"""Loopback fake provider servers speaking each provider's wire format, with fault injection."""

from tests.fakes.anthropic import (
    anthropic_bad_key,
    anthropic_error,
    anthropic_message,
    anthropic_models,
    anthropic_stream,
)
from tests.fakes.compat import (
    OPENROUTER_PROCESSING,
    openrouter_error,
    openrouter_stream_error,
    together_models,
    vllm_error,
    vllm_unauthorized,
)
from tests.fakes.gemini import (
    gemini_bad_key,
    gemini_error,
    gemini_models,
    gemini_response,
    gemini_stream,
    thought_signature,
)
from tests.fakes.openai import (
    azure_bad_key,
    azure_deployment_not_found,
    azure_error,
    azure_models,
    azure_stream,
    openai_bad_key,
    openai_completion,
    openai_error,
    openai_models,
    openai_stream,
)
from tests.fakes.server import Drop, FakeServer, RecordedRequest, Reply, Stall, json_reply, refused_url
from tests.fakes.sse import sse_reply

__all__ = [
    "OPENROUTER_PROCESSING",
    "Drop",
    "FakeServer",
    "RecordedRequest",
    "Reply",
    "Stall",
    "anthropic_bad_key",
    "anthropic_error",
    "anthropic_message",
    "anthropic_models",
    "anthropic_stream",
    "azure_bad_key",
    "azure_deployment_not_found",
    "azure_error",
    "azure_models",
    "azure_stream",
    "gemini_bad_key",
    "gemini_error",
    "gemini_models",
    "gemini_response",
    "gemini_stream",
    "json_reply",
    "openai_bad_key",
    "openai_completion",
    "openai_error",
    "openai_models",
    "openai_stream",
    "openrouter_error",
    "openrouter_stream_error",
    "refused_url",
    "sse_reply",
    "thought_signature",
    "together_models",
    "vllm_error",
    "vllm_unauthorized",
]
