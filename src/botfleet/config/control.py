"""The fleet's `control:` block: operator controls from outside the shell (Telegram).

Kept apart from `model.py` because it is read only by the Telegram bot and its CLI; the
token stays a `Secret` (its reference) until the bot starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from botfleet.config.refs import Secret
from botfleet.config.units import duration_seconds

DEFAULT_CONFIRM_S = 60.0


@dataclass(frozen=True)
class TelegramSettings:
    token: Secret
    allowed_chats: tuple[int, ...]
    api_url: str | None = None  # None: https://api.telegram.org
    confirm_timeout_s: float = DEFAULT_CONFIRM_S


@dataclass(frozen=True)
class ControlSettings:
    telegram: TelegramSettings | None = None


def control_settings(data: dict | None) -> ControlSettings:
    """From a validated `control:` mapping (the schema has checked every key)."""
    tg = (data or {}).get("telegram")
    if not tg:
        return ControlSettings()
    timeout = tg.get("confirm_timeout")
    return ControlSettings(TelegramSettings(
        Secret(tg["token"]), tuple(int(c) for c in tg["allowed_chats"]),
        tg.get("api_url"),
        float(duration_seconds(timeout)) if timeout is not None else DEFAULT_CONFIRM_S))
