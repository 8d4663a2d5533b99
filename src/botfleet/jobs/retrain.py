"""The retrain job: retraining of the models the bots use.

No bot can declare a model yet (the schema has no `model:` key; the ML issue adds it, with the
training itself). Until then this job says so for each bot instead of pretending to train: the
flow and its schedule exist so that the ML work only fills in `retrain_bot`.
"""

from __future__ import annotations

from typing import Any


def declared_model(bot) -> Any:
    """The bot's `model:` setting, or None (always None until the schema has the key)."""
    data = getattr(bot.effective, "data", None) or {}
    return data.get("model")


def retrain_bot(bot) -> dict[str, Any]:
    model = declared_model(bot)
    if model is None:
        return {"bot": bot.name, "outcome": "no model",
                "detail": "the bot declares no model; nothing to retrain"}
    raise NotImplementedError(f"{bot.name}: model retraining arrives with the ML issue")
