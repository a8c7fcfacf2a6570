"""Loopback fake provider servers speaking each provider's wire format, with fault injection."""

from tests.fakes.anthropic import (
    anthropic_bad_key,
    anthropic_error,
    anthropic_message,
    anthropic_models,
    anthropic_stream,
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
    "json_reply",
    "openai_bad_key",
    "openai_completion",
    "openai_error",
    "openai_models",
    "openai_stream",
    "refused_url",
    "sse_reply",
]
