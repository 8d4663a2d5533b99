"""`botfleet config explain BOT`: every effective setting of a bot and where it came from."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from botfleet.config.loader import FleetLoad
from botfleet.config.merge import effective_bot
from botfleet.config.problems import did_you_mean, format_path


class UnknownBot(KeyError):
    def __init__(self, name: str, hint: str | None):
        super().__init__(name)
        self.name, self.hint = name, hint


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if value is None:
        return "null"
    return str(value)


def explain_rows(load: FleetLoad, bot_name: str) -> list[tuple[str, str, str]]:
    """(setting, value, source) for every leaf of the bot's effective settings."""
    bots = load.by_name("bot")
    if bot_name not in bots:
        raise UnknownBot(bot_name, did_you_mean(bot_name, bots))
    eff = effective_bot(load, bots[bot_name])
    rows = []

    def walk(value: Any, path: tuple) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, path + (k,))
            return
        if path[:1] in (("kind",), ("version",)):
            return
        src = eff.source(path)
        rows.append((format_path(path), _text(value), str(src) if src else "?"))

    walk(eff.data, ())
    return sorted(rows)
