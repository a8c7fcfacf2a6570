"""AWS Bedrock: ConverseStream over httpx, signed with botocore's SigV4 or sent with a Bedrock API key.

botocore is imported only inside functions, so importing this module costs almost nothing; users who
never pick Bedrock never load it. botocore does the signing, the credential chain and the event-stream
decoding; httpx sends the bytes, so cancellation and timeouts behave as for every other provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from byok.base.config import ProviderSettings
from byok.base.errors import ByokError, error_for_status
from byok.base.names import ErrorCode
from byok.providers.anthropic import thinking_fields
from byok.providers.base import (
    ChatRequest,
    Finish,
    Message,
    ModelInfo,
    ReasoningDelta,
    ReasoningItem,
    ReasoningItemEvent,
    StreamEvent,
    TextDelta,
    ToolCallEvent,
    Usage,
    merged_turns,
    sent_arguments,
)
from byok.providers.bedrock_auth import Auth, Bearer, auth_from_chain, auth_from_key, sign
from byok.providers.cache_points import mark_converse_request
from byok.providers.http import (
    ToolCalls,
    decoding,
    interrupted,
    iter_body,
    json_body,
    open_stream,
    read_body,
    stream_capped,
)
from byok.providers.urls import origin, require_secure

"""The SigV4 signing name of both the runtime and the control plane."""
FAMILY = "bedrock"
DEFAULT_REGION = "us-east-1"
EVENT_STREAM = "application/vnd.amazon.eventstream"
REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")
GEO_PREFIXES = ("us.", "eu.", "apac.", "us-gov.", "ca.", "jp.", "au.", "global.")
MAX_PROFILE_PAGES = 5
MAX_FRAME_BYTES = 1024 * 1024

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
STREAM_EXCEPTION_STATUS = {
    "validationexception": 400,
    "accessdeniedexception": 403,
    "throttlingexception": 429,
    "modelstreamerrorexception": 424,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
    "modeltimeoutexception": 408,
    "servicequotaexceededexception": 400,
}
"""HTTP status of each in-stream exception's REST twin, so one mapping serves both."""
BAD_CREDENTIALS = frozenset(
    {
        "unrecognizedclientexception",
        "invalidsignatureexception",
        "incompletesignatureexception",
        "missingauthenticationtokenexception",
        "invalidclienttokenid",
        "signaturedoesnotmatch",
    }
)
CONTEXT_LIMIT = ("too many input tokens", "input is too long", "prompt is too long", "context window")


class BedrockProvider:
    """ConverseStream chat and ListFoundationModels verification for one region (or endpoint override)."""

    def __init__(
        self, provider_id: str, settings: ProviderSettings, key: str | None, client: httpx.AsyncClient
    ) -> None:
        self.provider_id = provider_id
        self.region = (
            settings.region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or DEFAULT_REGION
        ).strip()
        if not REGION.fullmatch(self.region):
            raise ByokError(
                ErrorCode.BAD_REQUEST,
                f"{self.region!r} is not an AWS region name",
                provider=provider_id,
                cause="The Bedrock region setting is malformed",
                fix="Set byok.providers.bedrock.region to a region such as us-east-1",
            )
        override = settings.endpoint_url.rstrip("/") if settings.endpoint_url else None
        self.default_runtime_url = f"https://bedrock-runtime.{self.region}.amazonaws.com"
        """The region's own AWS endpoint: the only place credentials from the environment go unbound."""
        self.runtime_url = override or self.default_runtime_url
        self.control_url = override or f"https://bedrock.{self.region}.amazonaws.com"
        require_secure(self.runtime_url, provider_id)
        self.profile = settings.profile
        self.client = client
        self._auth: Auth | None = auth_from_key(key, provider_id) if key else None

    def __repr__(self) -> str:
        return (
            f"BedrockProvider({self.provider_id!r}, region={self.region!r}, endpoint={self.key_endpoint!r})"
        )

    @property
    def key_endpoint(self) -> str:
        return origin(self.runtime_url)

    # -- credentials and signing ------------------------------------------------------------------

    async def auth(self) -> Auth:
        """The stored key if there is one, else the AWS credential chain (resolved once, off the loop)."""
        if self._auth is None:
            self._auth = await asyncio.to_thread(auth_from_chain, self.profile, self.provider_id)
        return self._auth

    async def signed_headers(
        self, method: str, url: str, body: bytes, headers: dict[str, str]
    ) -> dict[str, str]:
        """`headers` plus authentication for exactly this method, URL and body."""
        auth = await self.auth()
        if isinstance(auth, Bearer):
            return {**headers, "Authorization": f"Bearer {auth.token}"}
        # In a worker: refreshing chain credentials may do I/O, and botocore.auth takes ~0.2 s to import.
        return await asyncio.to_thread(
            sign, auth.credentials, self.provider_id, self.region, method, url, body, headers
        )

    # -- chat ---------------------------------------------------------------------------------------

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The Converse request body (the model id travels in the URL)."""
        body: dict[str, Any] = {"messages": _wire_messages(request.conversation)}
        if request.system:
            body["system"] = [{"text": request.system}]
        config: dict[str, Any] = {"maxTokens": request.max_tokens}
        thinking = thinking_fields(request.reasoning) if _is_anthropic(request.model) else {}
        if thinking:
            body["additionalModelRequestFields"] = thinking
        if request.temperature is not None and "thinking" not in thinking:
            config["temperature"] = min(max(request.temperature, 0.0), 1.0)
        body["inferenceConfig"] = config
        tools = [
            {
                "toolSpec": {
                    "name": t.name,
                    "description": t.description,
                    "inputSchema": {"json": t.parameters},
                }
            }
            for t in request.tools
        ]
        if not tools:
            # Bedrock rejects toolUse/toolResult blocks without a toolConfig: declare the tools the history used.
            used = dict.fromkeys(c.name for m in request.conversation for c in m.tool_calls)
            tools = [
                {"toolSpec": {"name": name, "description": name, "inputSchema": {"json": {"type": "object"}}}}
                for name in used
            ]
        if tools:
            body["toolConfig"] = {"tools": tools}
        if request.cache:
            mark_converse_request(body, request.model, conversation=request.cache_conversation)
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        url = f"{self.runtime_url}/model/{quote(request.model, safe='')}/converse-stream"
        body = json.dumps(self.request_body(request), separators=(",", ":")).encode()
        headers = await self.signed_headers(
            "POST", url, body, {"Content-Type": "application/json", "Accept": EVENT_STREAM}
        )
        async with open_stream(
            self.client,
            "POST",
            url,
            provider=self.provider_id,
            parse_error=lambda status, data, hdrs: self.parse_error(status, data, hdrs, request.model),
            headers=headers,
            content=body,
            unreachable_fix=self.unreachable_fix(),
        ) as response:
            async for event in self.decode(iter_body(response, provider=self.provider_id)):
                yield event

    async def decode(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[StreamEvent]:
        """Turn event-stream bytes into events; Usage and Finish come once both messageStop and metadata did."""
        from botocore.eventstream import EventStreamBuffer, ParserError

        buffer = EventStreamBuffer()
        state = _StreamState(self)
        received = consumed = 0
        async for chunk in chunks:
            buffer.add_data(chunk)
            received += len(chunk)
            while True:
                try:
                    message: Any = next(buffer)  # the botocore stubs mistype its prelude and headers
                except StopIteration:
                    break
                except ParserError as exc:
                    raise interrupted(self.provider_id, f"a corrupt event-stream frame ({exc})") from exc
                consumed += message.prelude.total_length
                with decoding(self.provider_id):
                    events = list(state.feed(message.headers, message.payload))
                for event in events:
                    yield event
                if state.stop is not None and state.usage is not None:
                    yield state.usage
                    yield Finish(state.stop)
                    return
            if received - consumed > MAX_FRAME_BYTES:  # the unfinished frame
                raise stream_capped(self.provider_id, "an event-stream frame over 1 MiB")
        if state.stop is not None:
            if state.usage is not None:
                yield state.usage
            yield Finish(state.stop)
            return
        where = "mid-frame" if received > consumed else "before messageStop"
        raise interrupted(self.provider_id, f"the stream ended {where}")

    # -- errors -------------------------------------------------------------------------------------

    def unreachable_fix(self) -> str:
        if self.runtime_url.endswith(".amazonaws.com"):
            return (
                f"Check the region ({self.region}): Bedrock runs only in some regions (e.g. us-east-1, us-west-2, "
                "eu-central-1); also check your network and proxy"
            )
        return "Check byok.providers.bedrock.endpointUrl, your network and proxy"

    def parse_error(
        self, status: int, body: bytes, headers: Mapping[str, str], model: str | None = None
    ) -> ByokError:
        """A REST-JSON error: type from `x-amzn-ErrorType` (or `__type`), text from `message`/`Message`."""
        payload = json_body(body)
        if not isinstance(payload, dict):
            payload = {"message": body[:300].decode(errors="replace").strip()}
        message = str(payload.get("message") or payload.get("Message") or f"HTTP {status}")
        raw_type = str(headers.get("x-amzn-errortype") or payload.get("__type") or payload.get("code") or "")
        error_type = raw_type.split(":")[0].rsplit("#", 1)[-1]
        return self.error_from(status, error_type, message, model)

    def stream_error(self, exception_type: str, payload: bytes) -> ByokError:
        """An in-stream exception frame, mapped like its REST twin and marked mid-stream."""
        data = json_body(payload)
        message = (
            str(data.get("message") or data.get("Message") or exception_type)
            if isinstance(data, dict)
            else ""
        )
        status = STREAM_EXCEPTION_STATUS.get(exception_type.lower(), 500)
        error = self.error_from(status, exception_type, message or exception_type, None)
        error.mid_stream = True
        return error

    def error_from(self, status: int, error_type: str, message: str, model: str | None) -> ByokError:
        pid, kind, lowered = self.provider_id, error_type.lower(), message.lower()
        if kind == "expiredtokenexception" or "token included in the request is expired" in lowered:
            return ByokError(
                ErrorCode.INVALID_KEY,
                message,
                provider=pid,
                status=status,
                cause="the session token has expired",
                fix="Refresh your temporary credentials (aws sso login / a new STS token), then set them again",
            )
        if kind in BAD_CREDENTIALS or status == 401:
            return ByokError(
                ErrorCode.INVALID_KEY,
                message,
                provider=pid,
                status=status,
                fix=self._credentials_fix(lowered),
            )
        if kind == "accessdeniedexception" or status == 403:
            if "not authorized to perform" in lowered:
                fix = "Allow bedrock:InvokeModelWithResponseStream and bedrock:ListFoundationModels in IAM"
            else:
                fix = f"Request model access in the Bedrock console for region {self.region}"
            return ByokError(ErrorCode.NO_MODEL_ACCESS, message, provider=pid, status=status, fix=fix)
        if "on-demand throughput" in lowered:
            example = model if model and model.startswith(GEO_PREFIXES) else f"us.{model or '<modelId>'}"
            return ByokError(
                ErrorCode.MODEL_NOT_FOUND,
                message,
                provider=pid,
                status=status,
                cause="This model is only served through a cross-region inference profile",
                fix=f"Use the inference profile id, e.g. {example}",
            )
        if kind == "resourcenotfoundexception" or "model identifier is invalid" in lowered:
            return ByokError(
                ErrorCode.MODEL_NOT_FOUND,
                message,
                provider=pid,
                status=status,
                fix=f"Pick a model id offered in {self.region}; byok.verifyKey lists them",
            )
        if kind == "servicequotaexceededexception":
            return ByokError(
                ErrorCode.QUOTA_EXHAUSTED,
                message,
                provider=pid,
                status=status,
                fix="Wait for the quota to reset, or request a higher Bedrock quota in Service Quotas",
            )
        if kind == "validationexception" and any(phrase in lowered for phrase in CONTEXT_LIMIT):
            return ByokError(ErrorCode.CONTEXT_TOO_LARGE, message, provider=pid, status=status)
        if kind == "modelnotreadyexception":
            return ByokError(ErrorCode.PROVIDER_OVERLOADED, message, provider=pid, status=status)
        if kind in ("modelerrorexception", "modelstreamerrorexception") or status == 424:
            return ByokError(ErrorCode.PROVIDER_ERROR, message, provider=pid, status=status)
        return error_for_status(status, pid, message)

    def _credentials_fix(self, lowered_message: str) -> str:
        if "signature expired" in lowered_message or "signature not yet current" in lowered_message:
            return "Sync this machine's clock: AWS rejects signatures more than 5 minutes off"
        if "scoped to a valid region" in lowered_message or "scoped to correct region" in lowered_message:
            return f"Check the region setting ({self.region})"
        if isinstance(self._auth, Bearer):
            return (
                "Generate a new Bedrock API key and set it with `byok keys set bedrock` (short-term keys last "
                f"at most 12 h and work only in the region they were made for; this is {self.region})"
            )
        return (
            "Check the access key id and secret access key, then set them again with `byok keys set bedrock`"
        )

    async def verify(self) -> list[ModelInfo]:
        """ListFoundationModels (text models), plus the inference profile ids when that call is allowed."""
        payload = await self._get_json(f"{self.control_url}/foundation-models")
        summaries = payload.get("modelSummaries")
        if not isinstance(summaries, list):
            raise ByokError(
                ErrorCode.PROVIDER_ERROR, "The model list had an unexpected shape", provider=self.provider_id
            )
        with decoding(self.provider_id):
            models = {
                str(m["modelId"])
                for m in summaries
                if isinstance(m, dict)
                and "modelId" in m
                and "TEXT" in (m.get("outputModalities") or ["TEXT"])
            }
        with contextlib.suppress(ByokError):  # many IAM policies allow only ListFoundationModels
            models |= await self._inference_profiles()
        return [ModelInfo(model_id) for model_id in sorted(models)]

    async def _inference_profiles(self) -> set[str]:
        profiles: set[str] = set()
        query = "maxResults=1000"
        for _ in range(MAX_PROFILE_PAGES):
            payload = await self._get_json(f"{self.control_url}/inference-profiles?{query}")
            with decoding(self.provider_id):
                profiles |= {
                    str(p["inferenceProfileId"])
                    for p in payload.get("inferenceProfileSummaries") or []
                    if isinstance(p, dict)
                    and "inferenceProfileId" in p
                    and p.get("status", "ACTIVE") == "ACTIVE"
                }
            token = payload.get("nextToken")
            if not token:
                break
            query = f"maxResults=1000&nextToken={quote(str(token), safe='-_.~')}"
        return profiles

    async def _get_json(self, url: str) -> dict[str, Any]:
        headers = await self.signed_headers("GET", url, b"", {"Accept": "application/json"})
        async with open_stream(
            self.client,
            "GET",
            url,
            provider=self.provider_id,
            parse_error=self.parse_error,
            headers=headers,
            unreachable_fix=self.unreachable_fix(),
        ) as response:
            payload = json_body(await read_body(response, provider=self.provider_id))
        if not isinstance(payload, dict):
            raise ByokError(
                ErrorCode.PROVIDER_ERROR, "Bedrock sent a non-JSON answer", provider=self.provider_id
            )
        return payload


class _StreamState:
    """Folds ConverseStream events; tool-use input fragments are joined per contentBlockIndex."""

    def __init__(self, provider: BedrockProvider) -> None:
        self.provider = provider
        self.tool_calls = ToolCalls(provider.provider_id)
        self.reasoning: dict[int, dict[str, list[str]]] = {}
        """Reasoning blocks being streamed: text, signature and redacted parts by contentBlockIndex."""
        self.stop: str | None = None
        self.usage: Usage | None = None

    def feed(self, headers: Mapping[str, Any], payload: bytes) -> Iterator[StreamEvent]:
        message_type = headers.get(":message-type")
        if message_type == "exception":
            raise self.provider.stream_error(str(headers.get(":exception-type", "")), payload)
        if message_type == "error":
            raise ByokError(
                ErrorCode.PROVIDER_ERROR,
                str(headers.get(":error-message") or headers.get(":error-code") or "stream error"),
                provider=self.provider.provider_id,
                mid_stream=True,
            )
        data = json_body(payload)
        if not isinstance(data, dict):
            raise ByokError(
                ErrorCode.PROVIDER_ERROR,
                "The provider sent a malformed stream event",
                provider=self.provider.provider_id,
                cause="Malformed stream event",
                mid_stream=True,
            )
        event_type = headers.get(":event-type")
        index = int(data.get("contentBlockIndex") or 0)
        if event_type == "contentBlockStart":
            start = (data.get("start") or {}).get("toolUse")
            if isinstance(start, dict):
                self.tool_calls.start(index, str(start.get("toolUseId", "")), str(start.get("name", "")))
        elif event_type == "contentBlockDelta":
            delta = data.get("delta") or {}
            if text := delta.get("text"):
                yield TextDelta(str(text))
            elif isinstance(tool_use := delta.get("toolUse"), dict):
                self.tool_calls.add(index, arguments=str(tool_use.get("input", "")))
            elif isinstance(reasoning := delta.get("reasoningContent"), dict):
                parts = self.reasoning.setdefault(index, {"text": [], "signature": [], "redactedContent": []})
                for field, value in reasoning.items():
                    if field in parts and isinstance(value, str):
                        parts[field].append(value)
                if reasoning.get("text"):
                    yield ReasoningDelta(str(reasoning["text"]))
        elif event_type == "contentBlockStop":
            if (call := self.tool_calls.finish(index)) is not None:
                yield ToolCallEvent(call)
            elif index in self.reasoning:
                yield ReasoningItemEvent(_reasoning_item(self.reasoning.pop(index)))
        elif event_type == "messageStop":
            reason = str(data.get("stopReason") or "end_turn")
            self.stop = STOP_REASONS.get(reason, reason)
        elif event_type == "metadata":
            self.usage = _usage(data.get("usage") or {})


def _usage(wire: Mapping[str, Any]) -> Usage:
    """Bedrock's inputTokens excludes cache reads and writes; byok counts all input."""
    return Usage.with_cache(
        wire.get("inputTokens"),
        wire.get("outputTokens"),
        wire.get("cacheReadInputTokens"),
        wire.get("cacheWriteInputTokens"),
    )


def _is_anthropic(model: str) -> bool:
    """A Claude model id or inference profile (`anthropic.claude-...`, `us.anthropic.claude-...`), or an ARN."""
    return "anthropic." in model or "claude" in model


def _reasoning_item(parts: Mapping[str, list[str]]) -> ReasoningItem:
    """A streamed reasoning block as the Converse API wants it back: its text with its signature, or the
    redacted content (base64, as it arrived)."""
    if parts["redactedContent"]:
        return ReasoningItem(FAMILY, {"redactedContent": "".join(parts["redactedContent"])})
    text_block: dict[str, Any] = {"text": "".join(parts["text"])}
    if parts["signature"]:
        text_block["signature"] = "".join(parts["signature"])
    return ReasoningItem(FAMILY, {"reasoningText": text_block})


def _wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    return merged_turns(messages, _blocks)


def _blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"reasoningContent": item.data} for item in message.reasoning_items if item.family == FAMILY
    ]
    if message.role == "tool":
        status = "error" if message.is_error else "success"
        content = [{"text": message.content or "(no output)"}]
        blocks.append(
            {"toolResult": {"toolUseId": message.tool_call_id, "content": content, "status": status}}
        )
    elif message.content:
        blocks.append({"text": message.content})
    blocks += [
        {"toolUse": {"toolUseId": c.id, "name": c.name, "input": sent_arguments(c)}}
        for c in message.tool_calls
    ]
    return blocks
