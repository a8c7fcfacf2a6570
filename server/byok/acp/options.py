"""The ACP sessions' modes (ask, edit, agent) and config options (mode, model, reasoning), as clients show them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from byok.acp.sessions import StoredSession
from byok.base.config import REASONING_EFFORTS, ReasoningEffort
from byok.base.errors import ByokError
from byok.base.names import AUTO_MODEL, AcpConfig, AcpMode, ErrorCode
from byok.core.session import Backend
from byok.providers import PRESETS

if TYPE_CHECKING:
    from acp.schema import SessionConfigOptionBoolean, SessionConfigOptionSelect, SessionModeState

REASONING_VALUES = (AUTO_MODEL, *REASONING_EFFORTS)
MODES = {
    AcpMode.ASK: ("Ask", "Reads the workspace and answers; changes nothing and runs nothing"),
    AcpMode.EDIT: ("Edit", "Asks before every edit and every command"),
    AcpMode.AGENT: ("Agent", "Edits without asking (you review them in the editor); asks before commands"),
}


async def model_values(backend: Backend) -> list[str]:
    """`auto`, byok.models, the models verified keys can see, and each keyed provider's default model."""
    models = [m["id"] for m in await backend.model_list() if not m["builtin"]]
    for key in await backend.list_keys():
        preset = PRESETS.get(key["provider"])
        if preset is not None and preset.default_model:
            models.append(preset.default_model)
    return list(dict.fromkeys([AUTO_MODEL, *models]))


async def session_options(
    backend: Backend, stored: StoredSession
) -> list[SessionConfigOptionSelect | SessionConfigOptionBoolean]:
    """The session's config options: its mode, its model and its reasoning effort."""
    from acp.schema import SessionConfigOptionSelect, SessionConfigSelectOption

    models = await model_values(backend)
    if stored.model not in models:
        models.append(stored.model)  # a model chosen earlier stays selectable
    return [
        SessionConfigOptionSelect(
            id=AcpConfig.MODE.value,
            name="Mode",
            category="mode",
            type="select",
            current_value=stored.mode.value,
            options=[
                SessionConfigSelectOption(value=mode.value, name=name, description=description)
                for mode, (name, description) in MODES.items()
            ],
        ),
        SessionConfigOptionSelect(
            id=AcpConfig.MODEL.value,
            name="Model",
            category="model",
            type="select",
            current_value=stored.model,
            options=[
                SessionConfigSelectOption(
                    value=model,
                    name="byok's choice" if model == AUTO_MODEL else model,
                    description="features.agent in byok's settings, else chat's model"
                    if model == AUTO_MODEL
                    else None,
                )
                for model in models
            ],
        ),
        SessionConfigOptionSelect(
            id=AcpConfig.REASONING.value,
            name="Reasoning",
            category="thought_level",
            type="select",
            current_value=stored.reasoning or AUTO_MODEL,
            options=[
                SessionConfigSelectOption(
                    value=value,
                    name="byok's settings" if value == AUTO_MODEL else value,
                    description="the model's reasoning effort as byok's settings say"
                    if value == AUTO_MODEL
                    else None,
                )
                for value in REASONING_VALUES
            ],
        ),
    ]


def parse_mode(value: object, field: str) -> AcpMode:
    """The mode a client named (`field` names where), or a bad_request error listing the modes."""
    try:
        return AcpMode(str(value))
    except ValueError:
        raise ByokError(
            ErrorCode.BAD_REQUEST,
            f"{field}: {str(value)[:100]!r} is not a mode",
            fix=f"Use one of: {', '.join(m.value for m in AcpMode)}",
        ) from None


def session_modes(stored: StoredSession) -> SessionModeState:
    """The session's modes as ACP's `modes` (what most clients show today)."""
    from acp.schema import SessionMode, SessionModeState

    return SessionModeState(
        current_mode_id=stored.mode.value,
        available_modes=[
            SessionMode(id=mode.value, name=name, description=description)
            for mode, (name, description) in MODES.items()
        ],
    )


def parse_reasoning(value: object) -> ReasoningEffort | None:
    """The effort a client chose (None for `auto`), or a bad_request error listing the choices."""
    for effort in REASONING_EFFORTS:
        if value == effort:
            return effort
    if value == AUTO_MODEL:
        return None
    raise ByokError(
        ErrorCode.BAD_REQUEST,
        f"value: {str(value)[:100]!r} is not a reasoning effort",
        fix=f"Choose one of: {', '.join(REASONING_VALUES)}",
    )
