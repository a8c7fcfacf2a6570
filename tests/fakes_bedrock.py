"""A loopback AWS Bedrock for adapter tests.

It checks every request's SigV4 signature by recomputing it with botocore from the known test credentials
(or checks the Bedrock API key), answers ConverseStream with event-stream frames encoded here by hand (and
each checked with botocore's decoder), answers ListFoundationModels / ListInferenceProfiles, injects
faults, records requests, and notices a client that hangs up mid-stream. Credentials are never printed.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer

from tests.fakes.prompt_cache import CacheUsage, PromptCache, TooManyBreakpoints

ACCESS_KEY = "AKIAIOSFODNN7BYOKTEST"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYBYOKTESTKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEBYOKTESTSESSIONTOKEN//////////wEaCXVzLWVhc3QtMSJH"
API_KEY = "ABSKQmVkcm9ja0FQSUtleS1ieW9rLXRlc3Qta2V5LTEyMzQ1Njc4OTA="
REGION = "us-east-1"
MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
ON_DEMAND_ONLY_VIA_PROFILE = "anthropic.claude-sonnet-4-20250514-v1:0"
ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
STREAM_PATH = re.compile(r"/model/(?P<model>[^/]+)/converse-stream")
MAX_SKEW_S = 300


# -- event-stream encoding ----------------------------------------------------------------------------


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message (string headers only), checked by botocore's decoder before it is returned."""
    encoded_headers = b"".join(
        struct.pack(">B", len(name))
        + name.encode()
        + struct.pack(">BH", 7, len(value.encode()))
        + value.encode()
        for name, value in headers.items()
    )
    total = 12 + len(encoded_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded_headers))
    body = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded_headers + payload
    frame = body + struct.pack(">I", binascii.crc32(body))
    buffer = EventStreamBuffer()
    buffer.add_data(frame)
    decoded: Any = next(buffer)  # the botocore stubs mistype `headers`
    if decoded.headers != headers or decoded.payload != payload or list(buffer):
        raise AssertionError("botocore decodes the frame differently")
    return frame


def event(name: str, payload: dict[str, Any], pad: int = 0) -> bytes:
    """An `event` message; `pad` adds Bedrock's random-length `p` padding field."""
    if pad:
        payload = {**payload, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[:pad]}
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload).encode())


def exception(name: str, message: str) -> bytes:
    """An in-stream `exception` message, e.g. `throttlingException`."""
    headers = {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps({"message": message}).encode())


def corrupt(frame: bytes) -> bytes:
    """The frame with one payload byte flipped, so its message CRC no longer matches."""
    return frame[:-6] + bytes([frame[-6] ^ 0xFF]) + frame[-5:]


def text_events(
    *texts: str, stop: str = "end_turn", input_tokens: int = 11, output_tokens: int = 7
) -> list[bytes]:
    """A complete text answer: messageStart, deltas, contentBlockStop, messageStop, metadata (last)."""
    return [
        event("messageStart", {"role": "assistant"}, pad=13),
        *(
            event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}}, pad=len(t) + 3)
            for t in texts
        ),
        event("contentBlockStop", {"contentBlockIndex": 0}, pad=5),
        event("messageStop", {"stopReason": stop}, pad=2),
        metadata(input_tokens, output_tokens),
    ]


def metadata(input_tokens: int, output_tokens: int, **extra: int) -> bytes:
    usage = {
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + output_tokens,
    }
    return event("metadata", {"usage": {**usage, **extra}, "metrics": {"latencyMs": 412}}, pad=9)


# -- scripted replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Wait `seconds` mid-stream, watching for the client to hang up."""

    seconds: float


@dataclass(frozen=True)
class Cut:
    """Close the connection abruptly, without ending the chunked body."""


@dataclass
class StreamReply:
    """A 200 event-stream answer: frames (or any bytes) written one by one, each split into `split`-byte chunks."""

    items: Sequence[bytes | Pause | Cut]
    split: int = 0


@dataclass
class ErrorReply:
    """A REST-JSON error: `x-amzn-ErrorType` header plus a body `{"message": ...}` (or `Message`)."""

    status: int
    error_type: str
    message: str
    message_key: str = "message"


Reply = StreamReply | ErrorReply
CachedReply = Callable[[CacheUsage], Reply]
"""A reply made with the usage the fake's prompt cache worked out for the request."""
NO_PROMPT_CACHING = frozenset({"anthropic.claude-3-haiku-20240307-v1:0", "meta.llama3-1-70b-instruct-v1:0"})
"""Models of the fake that reject `cachePoint` blocks, as Bedrock does for models without prompt caching."""


@dataclass
class Received:
    """One request as received; `raw_path` is exactly the bytes of the request line's path."""

    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes
    auth: str
    """One of sigv4, bearer, none."""

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def signed_headers(self) -> list[str]:
        match = re.search(r"SignedHeaders=([^,\s]+)", self.headers.get("authorization", ""))
        return match.group(1).split(";") if match else []

    def __repr__(self) -> str:  # headers carry credentials
        return f"Received({self.method} {self.raw_path}, auth={self.auth})"


@dataclass
class FakeBedrock:
    """The fake's state: which credentials it accepts, what it answers, what it saw."""

    region: str = REGION
    session_token: str | None = field(default=None, repr=False)
    """When set, SigV4 requests must carry this X-Amz-Security-Token."""
    token_expired: bool = False
    api_key: str = field(default=API_KEY, repr=False)
    models: list[dict[str, Any]] = field(
        default_factory=lambda: [
            _summary("anthropic.claude-sonnet-4-20250514-v1:0", "Anthropic", ["INFERENCE_PROFILE"]),
            _summary("anthropic.claude-3-haiku-20240307-v1:0", "Anthropic"),
            _summary("meta.llama3-1-70b-instruct-v1:0", "Meta"),
            _summary("amazon.titan-embed-text-v2:0", "Amazon", output=["EMBEDDING"]),
        ]
    )
    profiles: list[str] | None = field(
        default_factory=lambda: [MODEL, "eu.anthropic.claude-3-haiku-20240307-v1:0"]
    )
    """Inference profile ids; None answers ListInferenceProfiles with 403."""
    replies: list[Reply | CachedReply] = field(default_factory=list)
    """ConverseStream answers, in order; the last one repeats (default: a short text answer). A
    `CachedReply` needs `prompt_cache`."""
    prompt_cache: PromptCache | None = None
    """When set, `cachePoint` blocks are honoured: cached prefixes are read back, new ones written."""
    requests: list[Received] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        assert self._httpd is not None, "not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> FakeBedrock:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> FakeBedrock:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def next_reply(self) -> Reply | CachedReply:
        if not self.replies:
            return StreamReply(text_events("Hello", " world"))
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    # -- request checks ---------------------------------------------------------------------------

    def authenticate(self, request: Received) -> ErrorReply | None:
        """None if the request is properly authenticated, else the error AWS would send."""
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            request.auth = "bearer"
            if authorization.removeprefix("Bearer ") != self.api_key:
                return ErrorReply(
                    403, "UnrecognizedClientException", "Invalid API Key format: Must be a valid key"
                )
            return None
        if not authorization.startswith("AWS4-HMAC-SHA256 "):
            return ErrorReply(
                403, "MissingAuthenticationTokenException", "Missing Authentication Token", "Message"
            )
        request.auth = "sigv4"
        return self._check_sigv4(request, authorization)

    def _check_sigv4(self, request: Received, authorization: str) -> ErrorReply | None:
        fields = dict(
            part.strip().split("=", 1) for part in authorization.removeprefix("AWS4-HMAC-SHA256 ").split(",")
        )
        access_key, date, region, service, terminator = fields["Credential"].split("/")
        token = request.headers.get("x-amz-security-token")
        if access_key != ACCESS_KEY or token != self.session_token:
            return ErrorReply(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if self.token_expired:
            return ErrorReply(
                403, "ExpiredTokenException", "The security token included in the request is expired"
            )
        if region != self.region:
            return ErrorReply(
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region, not '{region}'.",
            )
        if service != "bedrock" or terminator != "aws4_request":
            return ErrorReply(
                403, "InvalidSignatureException", "Credential should be scoped to correct service."
            )
        signed = request.signed_headers
        amz_date = request.headers.get("x-amz-date", "")
        if "host" not in signed or "x-amz-date" not in signed or not amz_date.startswith(date):
            return ErrorReply(403, "InvalidSignatureException", "The request signature is incomplete.")
        if token is not None and "x-amz-security-token" not in signed:
            return ErrorReply(403, "InvalidSignatureException", "The security token must be signed.")
        stamp = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if abs(time.time() - stamp.timestamp()) > MAX_SKEW_S:
            return ErrorReply(
                403, "InvalidSignatureException", "Signature expired: the request time is too skewed"
            )
        claimed_hash = request.headers.get("x-amz-content-sha256")
        if claimed_hash is not None and claimed_hash != hashlib.sha256(request.body).hexdigest():
            return ErrorReply(400, "XAmzContentSHA256Mismatch", "The provided body hash does not match")
        if fields.get("Signature") != self.expected_signature(request, signed, amz_date):
            return ErrorReply(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method.",
            )
        return None

    def expected_signature(self, request: Received, signed: list[str], amz_date: str) -> str:
        """The SigV4 signature botocore computes for the request as received (its raw path, its signed headers)."""
        aws_request = AWSRequest(
            method=request.method,
            url=f"http://{request.headers['host']}{request.raw_path}",
            data=request.body,
            headers={name: request.headers.get(name, "") for name in signed},
        )
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, self.session_token), "bedrock", self.region)
        canonical = signer.canonical_request(aws_request)
        return str(signer.signature(signer.string_to_sign(aws_request, canonical), aws_request))

    def route(self, request: Received) -> Reply | dict[str, Any]:
        """The answer to an authenticated request: a JSON object for control-plane calls, else a Reply."""
        path = urlsplit(request.raw_path).path
        if request.method == "GET" and path == "/foundation-models":
            return {"modelSummaries": self.models}
        if request.method == "GET" and path == "/inference-profiles":
            if self.profiles is None:
                return ErrorReply(
                    403,
                    "AccessDeniedException",
                    "User is not authorized to perform: bedrock:ListInferenceProfiles",
                )
            summaries = [
                {"inferenceProfileId": p, "status": "ACTIVE", "type": "SYSTEM_DEFINED"} for p in self.profiles
            ]
            return {"inferenceProfileSummaries": summaries}
        match = STREAM_PATH.fullmatch(path)
        if request.method != "POST" or match is None:
            return ErrorReply(404, "UnknownOperationException", "No such operation", "Message")
        model = unquote(match["model"])
        known = {m["modelId"] for m in self.models} | set(self.profiles or []) | {MODEL}
        if model not in known and not model.startswith("arn:aws:bedrock:"):
            return ErrorReply(400, "ValidationException", "The provided model identifier is invalid.")
        if model == ON_DEMAND_ONLY_VIA_PROFILE:
            return ErrorReply(
                400,
                "ValidationException",
                f"Invocation of model ID {model} with on-demand throughput isn't supported. Retry your request "
                "with the ID or ARN of an inference profile that contains this model.",
            )
        body = request.json()
        if model.endswith(tuple(NO_PROMPT_CACHING)) and b'"cachePoint"' in request.body:
            return ErrorReply(
                400,
                "ValidationException",
                "You invoked an unsupported model or your request did not allow prompt caching.",
            )
        usage = CacheUsage(0, 0, 0)
        if self.prompt_cache is not None:
            try:
                usage = self.prompt_cache.bedrock(body)
            except TooManyBreakpoints as exc:
                return ErrorReply(400, "ValidationException", str(exc))
        reply = self.next_reply()
        return reply if isinstance(reply, StreamReply | ErrorReply) else reply(usage)


def _summary(
    model_id: str, provider: str, inference: Iterable[str] = ("ON_DEMAND",), output: Iterable[str] = ("TEXT",)
) -> dict[str, Any]:
    return {
        "modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}",
        "modelId": model_id,
        "modelName": model_id.split(".")[1],
        "providerName": provider,
        "inputModalities": ["TEXT"],
        "outputModalities": list(output),
        "responseStreamingSupported": True,
        "inferenceTypesSupported": list(inference),
        "modelLifecycle": {"status": "ACTIVE"},
    }


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeBedrock

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: requests carry credentials."""

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        request = Received(
            self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, auth="none"
        )
        self.fake.requests.append(request)
        answer = self.fake.authenticate(request) or self.fake.route(request)
        try:
            if isinstance(answer, dict):
                self._send(200, {"content-type": "application/json"}, json.dumps(answer).encode())
            elif isinstance(answer, ErrorReply):
                self._send_error(answer)
            else:
                self._send_stream(answer)
        except (_ClientGone, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            if not self.fake._stopping.is_set():
                self.fake.disconnected.set()

    do_GET = do_POST = _handle

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in {
            **headers,
            "x-amzn-RequestId": "00000000-byok-fake",
            "Content-Length": str(len(body)),
        }.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_error(self, error: ErrorReply) -> None:
        headers = {
            "content-type": "application/json",
            "x-amzn-ErrorType": f"{error.error_type}:{ERROR_NAMESPACE}",
        }
        self._send(error.status, headers, json.dumps({error.message_key: error.message}).encode())

    def _send_stream(self, reply: StreamReply) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/vnd.amazon.eventstream")
        self.send_header("x-amzn-RequestId", "00000000-byok-fake")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for item in reply.items:
            if isinstance(item, Pause):
                self._pause(item.seconds)
            elif isinstance(item, Cut):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            else:
                size = reply.split or len(item) or 1
                for start in range(0, len(item), size):
                    piece = item[start : start + size]
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                    self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _pause(self, seconds: float) -> None:
        """Sleep, raising _ClientGone as soon as the client closes its end."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0 and not self.fake._stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], min(remaining, 0.05))
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                raise _ClientGone
