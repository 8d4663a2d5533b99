"""The cycle's correlation id on every log line it causes.

A bot's cycle touches the strategy, the risk engine, the executor, the ledger and ccxt, each
with its own logger; none of them should have to pass an id around to be traceable. So the id
lives in a `contextvars.ContextVar` set for the duration of the cycle (`cycle_context`), and a
logging filter installed on the handlers stamps every record with it: a line from the ledger
or from ccxt written during bot A's cycle carries A's id, even with fifty bots cycling in
fifty threads at once (each thread, and each asyncio task, has its own context).

`JsonFormatter` writes one JSON object per line (time, level, logger, message, bot,
correlation_id, exception) for log shippers; `install()` sets both up for the CLI.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

CORRELATION_ID: ContextVar[str | None] = ContextVar("botfleet_correlation_id", default=None)
BOT: ContextVar[str | None] = ContextVar("botfleet_bot", default=None)


def current_correlation_id() -> str | None:
    return CORRELATION_ID.get()


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


class ContextFilter(logging.Filter):
    """Adds `correlation_id` and `bot` to every record (None outside a cycle); never drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = CORRELATION_ID.get()
        if not hasattr(record, "bot"):
            record.bot = BOT.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; keys with no value are left out."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                   timespec="milliseconds").replace("+00:00", "Z"),
               "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage(),
               "bot": getattr(record, "bot", None),
               "correlation_id": getattr(record, "correlation_id", None)}
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps({k: v for k, v in out.items() if v is not None}, default=str)


class TextFormatter(logging.Formatter):
    """`time level [bot cid] logger: message`: the id in short (8 characters) for humans."""

    def format(self, record: logging.LogRecord) -> str:
        bot = getattr(record, "bot", None)
        cid = getattr(record, "correlation_id", None)
        tag = f" [{bot or '-'} {cid[:8] if cid else '-'}]" if bot or cid else ""
        when = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        line = f"{when} {record.levelname.lower():<7}{tag} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def install(level: str = "info", fmt: str = "text", stream=None) -> logging.Handler:
    """One handler on the root logger with the context filter; `fmt` is text or json."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r}: text or json")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.botfleet = True
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "botfleet", False)]:
        root.removeHandler(old)  # installed again (a second command in one process)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
