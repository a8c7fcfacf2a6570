"""Command params: validation at the boundary into a pydantic model, and the key/status/usage commands' models."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError
from pygls.exceptions import JsonRpcInvalidParams

from byok.base.config import CamelModel
from byok.base.names import Command

P = TypeVar("P", bound=BaseModel)

MAX_PARAMS_DEPTH = 64
"""Params nested deeper are refused (no command's params nest more than a few levels)."""


def validate_params(name: Command, model: type[P], args: tuple[Any, ...]) -> P:
    if len(args) > 1:
        raise _invalid_params(name, [_problem("(params)", f"takes one object argument, got {len(args)}")])
    unreadable: list[dict[str, str]] = []
    try:
        raw = _plain(args[0], unreadable) if args else {}
    except _TooDeep as exc:
        raise _invalid_params(
            name, [_problem(exc.field, f"is nested more than {MAX_PARAMS_DEPTH} levels deep")]
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _invalid_params(
            name, [_problem("(params)", f"takes one object argument, got {type(raw).__name__}")]
        )
    try:
        params = model.model_validate(raw)
    except ValidationError as exc:
        problems = [
            _problem(".".join(str(p) for p in error["loc"]) or "(params)", error["msg"])
            for error in exc.errors(include_input=False, include_url=False)
        ]
        named = {p["field"] for p in problems}
        raise _invalid_params(name, problems + [u for u in unreadable if u["field"] not in named]) from None
    if unreadable:
        raise _invalid_params(name, unreadable)
    return params


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _invalid_params(name: Command, problems: list[dict[str, str]]) -> JsonRpcInvalidParams:
    first = problems[0]
    if first["field"] == "(params)":
        text = f"{name.value} {first['message']}"
    else:
        text = f"{name.value}: invalid {first['field']}: {first['message']}"
    return JsonRpcInvalidParams(text, data={"fields": problems[:20]})


class _TooDeep(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _field(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "(params)"


def _plain(value: Any, unreadable: list[dict[str, str]], path: tuple[Any, ...] = ()) -> Any:
    """Namedtuples and attrs objects from pygls' converter back into JSON-like data.

    Also notes, in `unreadable`, strings that are not valid Unicode (lone surrogates from `\\ud800`
    escapes; pydantic lets them through inside lists), and refuses nesting deeper than MAX_PARAMS_DEPTH.
    """
    if len(path) > MAX_PARAMS_DEPTH:
        raise _TooDeep(_field(path[:MAX_PARAMS_DEPTH]))
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                unreadable.append(_problem(_field(path), "is not valid Unicode text (a lone surrogate)"))
        return value
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {
            _plain(key, unreadable, (*path, "(key)")): _plain(item, unreadable, (*path, key))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(item, unreadable, (*path, index)) for index, item in enumerate(value)]
    return value


class ProviderParams(CamelModel):
    provider: str = Field(min_length=1, max_length=40)


class SetKeyParams(ProviderParams):
    key: str = Field(min_length=1, max_length=8192)

    def __repr__(self) -> str:
        return f"SetKeyParams(provider={self.provider!r}, key=<redacted>)"


class BindKeyParams(ProviderParams):
    endpoint: str | None = Field(default=None, min_length=1, max_length=2048)


class EmptyParams(CamelModel):
    pass


class UsageParams(CamelModel):
    month: str | None = Field(default=None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    group_by: Literal["model", "provider", "feature", "day"] = "model"


class ForgetApprovalsParams(CamelModel):
    all: bool = False
    """Forget the approvals of every workspace, not only the current one's and the global ones."""
