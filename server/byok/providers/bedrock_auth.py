"""Bedrock credentials: a stored Bedrock API key or IAM key pair, botocore's chain, and SigV4 signing.

botocore is imported only inside functions, so importing this module costs almost nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from byok.base.errors import ByokError
from byok.base.names import ErrorCode
from byok.providers.http import json_body

SERVICE = "bedrock"
BEARER_ENV = "AWS_BEARER_TOKEN_BEDROCK"


@dataclass(frozen=True, slots=True)
class Bearer:
    """A Bedrock API key, sent as `Authorization: Bearer`."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class StaticCredentials:
    """A stored access key pair; quacks like botocore's credentials for `SigV4Auth`."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    def get_frozen_credentials(self) -> StaticCredentials:
        return self


@dataclass(frozen=True, slots=True)
class Signer:
    """Credentials for SigV4: a stored pair, or botocore's (maybe refreshable) ones from the chain."""

    credentials: Any = field(repr=False)


Auth = Bearer | Signer


def auth_from_key(key: str, provider: str) -> Auth:
    """A stored secret: JSON IAM credentials (camelCase, or the AWS CLI's PascalCase), else a Bedrock API key."""
    if not key.lstrip().startswith("{"):
        return Bearer(key.strip())
    data = json_body(key.encode())
    if isinstance(data, dict) and isinstance(data.get("Credentials"), dict):
        data = data["Credentials"]  # `aws sts assume-role` / `get-session-token` output
    fields = {name.lower(): value for name, value in data.items()} if isinstance(data, dict) else {}
    access_key, secret_key = fields.get("accesskeyid"), fields.get("secretaccesskey")
    token = fields.get("sessiontoken")
    if not (isinstance(access_key, str) and access_key and isinstance(secret_key, str) and secret_key):
        raise ByokError(
            ErrorCode.INVALID_KEY,
            "The stored Bedrock credentials are not usable",
            provider=provider,
            cause="The JSON key needs string fields accessKeyId and secretAccessKey (sessionToken optional)",
            fix='Run `byok keys set bedrock` with {"accessKeyId": "...", "secretAccessKey": "..."} or an API key',
        )
    return Signer(
        StaticCredentials(access_key, secret_key, token if isinstance(token, str) and token else None)
    )


def chain_may_have_credentials(profile: str | None) -> bool:
    """Whether the AWS credential chain has something to find, judged cheaply (environment variables and
    shared files; no botocore, no instance metadata): for showing whether Bedrock is usable, never for auth."""
    if profile or any(os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", BEARER_ENV)):
        return True
    files = [os.environ.get("AWS_SHARED_CREDENTIALS_FILE"), os.environ.get("AWS_CONFIG_FILE")]
    files += [os.path.expanduser("~/.aws/credentials"), os.path.expanduser("~/.aws/config")]
    return any(path and os.path.isfile(path) for path in files)


def auth_from_chain(profile: str | None, provider: str) -> Auth:
    """botocore's credential chain (env, shared files, SSO, ...), then AWS_BEARER_TOKEN_BEDROCK. Blocking."""
    import botocore.exceptions
    import botocore.session

    from byok.base.redaction import REDACTOR

    try:
        credentials = botocore.session.Session(profile=profile).get_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        raise ByokError(
            ErrorCode.KEY_MISSING,
            f"AWS profile {profile!r} was not found",
            provider=provider,
            cause=str(exc),
            fix="Fix byok.providers.bedrock.profile, or add the profile with `aws configure --profile NAME`",
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise chain_error(exc, provider) from None
    if credentials is not None:
        return Signer(credentials)
    if token := os.environ.get(BEARER_ENV, "").strip():
        REDACTOR.register(token)
        return Bearer(token)
    raise ByokError(
        ErrorCode.KEY_MISSING,
        "No AWS credentials found",
        provider=provider,
        cause="No stored key, and the AWS credential chain found nothing",
        fix=(
            'Run `byok keys set bedrock` with JSON credentials {"accessKeyId", "secretAccessKey", '
            '"sessionToken"?} or a Bedrock API key; or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or '
            f"{BEARER_ENV}, "
            "or run `aws configure` (or `aws sso login`)"
        ),
    )


def chain_error(exc: Exception, provider: str) -> ByokError:
    return ByokError(
        ErrorCode.INVALID_KEY,
        f"The AWS credential chain failed: {type(exc).__name__}",
        provider=provider,
        cause=str(exc),
        fix="Refresh your AWS credentials (aws sso login, or `aws configure`), or store a key with `byok keys set bedrock`",
    )


def sign(
    credentials: Any, provider: str, region: str, method: str, url: str, body: bytes, headers: dict[str, str]
) -> dict[str, str]:
    """SigV4 headers for exactly this request (the URL is signed, and must be sent, byte for byte). Blocking.

    Refreshable chain credentials are frozen first; their secrets are registered for redaction.
    """
    import botocore.exceptions
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from byok.base.redaction import REDACTOR

    try:
        frozen = credentials.get_frozen_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        raise chain_error(exc, provider) from None
    for secret in (frozen.secret_key, frozen.token):
        if secret:
            REDACTOR.register(secret)
    aws_request = AWSRequest(method=method, url=url, data=body, headers=headers)
    SigV4Auth(frozen, SERVICE, region).add_auth(aws_request)
    return dict(aws_request.headers.items())
