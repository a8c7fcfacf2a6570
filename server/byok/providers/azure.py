"""Azure OpenAI: the OpenAI adapter with a deployment URL, the `api-key` header and Azure's error codes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any

import httpx

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.base import ChatRequest, Message, ModelInfo, Provider, StreamEvent, complete
from byok.providers.openai import OpenAIProvider

DEFAULT_API_VERSION = "2024-10-21"
_REJECTS_CACHE_KEY: set[tuple[str, str]] = set()
"""(endpoint, deployment) pairs that answered `prompt_cache_key` with a 400 in this process."""


class AzureOpenAIProvider(OpenAIProvider):
    def __init__(
        self,
        provider_id: str,
        endpoint: str,
        deployment: str,
        api_version: str | None,
        key: str | None,
        client: httpx.AsyncClient,
    ) -> None:
        super().__init__(provider_id, endpoint, key, client)
        self.deployment = deployment
        self.api_version = api_version or DEFAULT_API_VERSION

    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self.key} if self.key else {}

    def chat_url(self) -> str:
        return f"{self.base_url}/openai/deployments/{self.deployment}/chat/completions"

    def chat_params(self) -> dict[str, str]:
        return {"api-version": self.api_version}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        body = super().request_body(request)
        body.pop("model", None)
        if self.api_version < "2024-09-01":
            body.pop("stream_options", None)
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """The OpenAI stream; a deployment that rejects `prompt_cache_key` (older API versions, some Foundry
        models) is asked again without it, and is not sent one again by this process."""
        deployment = (self.base_url, self.deployment)
        if deployment in _REJECTS_CACHE_KEY:
            request = replace(request, cache_key=None)
        events = super().stream(request)
        try:
            try:
                first = await anext(events, None)
            except ByokError as exc:
                if not (request.cache and request.cache_key and _rejects_cache_key(exc)):
                    raise
                _REJECTS_CACHE_KEY.add(deployment)
                events = super().stream(replace(request, cache_key=None))
                first = await anext(events, None)
            if first is None:
                return
            yield first
            async for event in events:
                yield event
        finally:
            await _close(events)

    def unreachable_fix(self) -> str:
        return "Verify endpoint URL and version (https://<resource>.openai.azure.com)"

    def error_from(self, status: int, error: Mapping[str, Any], headers: Mapping[str, str]) -> ByokError:
        code = str(error.get("code") or "")
        message = str(error.get("message") or f"HTTP {status}")
        if code == "DeploymentNotFound":
            return ByokError(
                ErrorCode.MODEL_NOT_FOUND,
                message,
                provider=self.provider_id,
                status=status,
                cause=f"No deployment named {self.deployment!r} on this resource",
                fix="Copy the deployment name from the Azure portal (Deployments) into byok.providers.azure",
            )
        mentions_version = "api version" in message.lower() or "api-version" in message.lower()
        if status == 404 or (status == 400 and mentions_version):
            return ByokError(
                ErrorCode.BAD_API_VERSION,
                message,
                provider=self.provider_id,
                status=status,
                cause=f"The resource does not answer apiVersion {self.api_version!r} on this path",
                fix="Verify endpoint URL and version: set apiVersion to a supported one (e.g. 2024-10-21)",
            )
        if status == 401:
            return ByokError(
                ErrorCode.INVALID_KEY,
                message,
                provider=self.provider_id,
                status=status,
                fix="Use key 1 or 2 from the resource's 'Keys and Endpoint' page, with that resource's endpoint",
            )
        return super().error_from(status, error, headers)

    def responses_url(self) -> str:
        """Azure's v1 route: the deployment goes in the body as `model`, and it takes no api-version."""
        return f"{self.base_url}/openai/v1/responses"

    def responses_model(self, request: ChatRequest) -> str:
        return self.deployment

    def responses_error_from(
        self, status: int, error: Mapping[str, Any], headers: Mapping[str, str]
    ) -> ByokError:
        if status == 404 and str(error.get("code") or "") != "DeploymentNotFound":
            return ByokError(
                ErrorCode.BAD_API_VERSION,
                str(error.get("message") or f"HTTP {status}"),
                provider=self.provider_id,
                status=status,
                cause="The resource does not answer Azure's v1 Responses route (/openai/v1/responses)",
                fix='Check the endpoint (https://<resource>.openai.azure.com), or set "api": "chat" on the '
                "model entry if its deployment serves chat completions",
            )
        return self.error_from(status, error, headers)

    async def verify(self, via: Provider | None = None) -> list[ModelInfo]:
        """A 1-token request (through `via`, the adapter of the API the deployment speaks) checks key,
        deployment and route together."""
        probe = ChatRequest(model=self.deployment, messages=[Message("user", "ping")], max_tokens=1)
        await complete(via or self, probe)
        return [ModelInfo(self.deployment)]


def _rejects_cache_key(error: ByokError) -> bool:
    """Azure's 400 "Unrecognized request argument supplied: prompt_cache_key"."""
    return error.status == 400 and not error.mid_stream and "prompt_cache_key" in error.message


async def _close(events: AsyncIterator[StreamEvent]) -> None:
    """Close the inner stream (and so its connection) however the consumer stopped."""
    closer = getattr(events, "aclose", None)
    if closer is not None:
        await closer()
