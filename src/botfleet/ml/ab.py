"""Which bot is served which model version: the A/B view of `botfleet model list`.

A bot reads a model through its strategy (`proba(m)`/`predict(m)`) and is served the promoted
version unless its YAML pins one (`model_versions: {m: 3}`). Running two paper bots on the
same strategy, one pinned to the old version and one following the promoted one, compares
two versions on the same market side by side; this module says who is on which.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelUser:
    bot: str
    model: str
    pinned: int | None  # the version of the bot's `model_versions`, None: the promoted one


def model_users(load) -> list[ModelUser]:
    """Every enabled bot reading a model, with its pin (the fleet must be valid). A pin on a
    model the strategy does not read still counts: the bot would be served it if it did."""
    from botfleet.strategy.fleet import compiled_for_bots

    out = []
    compiled = compiled_for_bots(load)
    for bot in load.fleet.bots.values():
        if not bot.enabled:
            continue
        strategy = compiled.get(bot.name)
        names = {u.name for u in getattr(strategy, "model_uses", ())} | set(bot.model_versions)
        out += [ModelUser(bot.name, m, bot.model_versions.get(m)) for m in sorted(names)]
    return out


def served_by(users: list[ModelUser], promoted: dict[str, int | None]
              ) -> dict[tuple[str, int], list[str]]:
    """(model, version) -> the bots it serves ("name (pinned)" for a pin). Bots following a
    model with no promoted version are served nothing and are left out."""
    out: dict[tuple[str, int], list[str]] = {}
    for u in users:
        version = u.pinned if u.pinned is not None else promoted.get(u.model)
        if version is None:
            continue
        out.setdefault((u.model, version), []).append(
            f"{u.bot} (pinned)" if u.pinned is not None else u.bot)
    return out


def missing_pins(users: list[ModelUser], registered: set[tuple[str, int]]) -> list[str]:
    """Pins naming a version the registry does not hold: such a bot reads NaN (no entry)."""
    return [f"bot {u.bot} pins model {u.model} version {u.pinned}, which is not registered "
            "(its model reads give no entry)"
            for u in users if u.pinned is not None and (u.model, u.pinned) not in registered]
