"""The cycle's correlation id on every log line it causes.

The id lives in a `contextvars.ContextVar` set for the duration of the cycle (`cycle_context`)
and a logging filter stamps every record with it (see `botfleet.obs.logs`, where the context
variables, the filter, the formatters and the one logging setup live, so that `obs/` stays the
ground floor). This module is the runtime's side: entering a cycle or a bot's work. The names
it used to define are re-exported for existing callers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botfleet.obs.logs import (
    BOT,
    CORRELATION_ID,
    ORDER_ID,
    ConsoleFormatter,
    ContextFilter,
    JsonFormatter,
    current_correlation_id,
    install_logging,
    order_context,
)

TextFormatter = ConsoleFormatter

__all__ = ["BOT", "CORRELATION_ID", "ORDER_ID", "ConsoleFormatter", "ContextFilter",
           "JsonFormatter", "TextFormatter", "bot_context", "current_correlation_id",
           "cycle_context", "install", "install_logging", "order_context"]


@contextmanager
def cycle_context(bot: str, correlation_id: str | None) -> Iterator[None]:
    """Within the block, every log record carries `bot` and `correlation_id`."""
    tok_bot = BOT.set(bot)
    tok_cid = CORRELATION_ID.set(correlation_id)
    try:
        yield
    finally:
        CORRELATION_ID.reset(tok_cid)
        BOT.reset(tok_bot)


@contextmanager
def bot_context(bot: str) -> Iterator[None]:
    """A bot's work outside a cycle (reconciliation, kill actions): its name, no id."""
    token = BOT.set(bot)
    try:
        yield
    finally:
        BOT.reset(token)


def install(level: str = "info", fmt: str = "text", stream=None):
    """The former setup (`fmt` text or json): now `install_logging` with masking; returns the
    stream handler."""
    if fmt not in ("text", "console", "json"):
        raise ValueError(f"log format {fmt!r}: text or json")
    return install_logging(json=fmt == "json", level=level, stream=stream)[0]
