"""Structured logs: one setup for every command, context on every line, secrets on none.

A bot's cycle touches the strategy, the risk engine, the executor, the ledger and ccxt, each
with its own logger; none of them should pass ids around to be traceable. So the ids live in
`ContextVar`s (the bot, the cycle's correlation id, the order's client id while the executor
works on it) and `ContextFilter` stamps them on every record: a line from ccxt written during
bot A's cycle carries A's id, even with fifty bots cycling in fifty threads at once.

`install_logging` is the one place handlers are made. Every handler gets the context filter
and `masking.MaskingFilter`, so no handler can write a secret; output is JSON (one object per
line, for log shippers) when stderr is not a terminal or when asked, readable text otherwise;
levels per module and a size-rotated file come from the fleet's `logging:` block.
"""

from __future__ import annotations

import json as jsonlib
import logging
import logging.handlers
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botfleet.obs.masking import STANDARD_ATTRS, MaskingFilter, install_record_masking, mask

CORRELATION_ID: ContextVar[str | None] = ContextVar("botfleet_correlation_id", default=None)
BOT: ContextVar[str | None] = ContextVar("botfleet_bot", default=None)
ORDER_ID: ContextVar[str | None] = ContextVar("botfleet_order_id", default=None)

LEVELS = ("debug", "info", "warning", "error", "critical")
FORMATS = ("json", "console")
# chatty libraries: warnings only, unless the YAML's `levels:` says otherwise
QUIET = {"alembic": "warning", "urllib3": "warning", "ccxt": "warning", "httpx": "warning",
         "httpcore": "warning", "asyncio": "warning", "apprise": "warning"}


def current_correlation_id() -> str | None:
    return CORRELATION_ID.get()


@contextmanager
def order_context(client_id: str | None) -> Iterator[None]:
    """Within the block, every log record carries `order_id` (the order's client id)."""
    token = ORDER_ID.set(client_id)
    try:
        yield
    finally:
        ORDER_ID.reset(token)


class ContextFilter(logging.Filter):
    """Adds `correlation_id`, `bot` and `order_id` (None outside their context); never drops."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "correlation_id"):
            record.correlation_id = CORRELATION_ID.get()
        if not hasattr(record, "bot"):
            record.bot = BOT.get()
        if not hasattr(record, "order_id"):
            record.order_id = ORDER_ID.get()
        return True


def _when(record: logging.LogRecord) -> datetime:
    return datetime.fromtimestamp(record.created, UTC)


def _exception(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The traceback: the masked text the masking filter left, else formatted now."""
    if record.exc_text:
        return record.exc_text
    if record.exc_info and record.exc_info[0] is not None:
        return mask(formatter.formatException(record.exc_info))
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, bot, correlation_id, order_id,
    exception, and any `extra=` fields; keys with no value are left out."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _when(record).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
            "bot": getattr(record, "bot", None),
            "correlation_id": getattr(record, "correlation_id", None),
            "order_id": getattr(record, "order_id", None)}
        for key, value in record.__dict__.items():
            if key not in STANDARD_ATTRS and key not in out and not key.startswith("_"):
                out[key] = value
        out["exception"] = _exception(self, record)
        if record.stack_info:
            out["stack"] = record.stack_info
        return jsonlib.dumps({k: v for k, v in out.items() if v is not None}, default=str)


class ConsoleFormatter(logging.Formatter):
    """`time level [bot cid order] logger: message`, ids shortened (8 characters) for humans."""

    def format(self, record: logging.LogRecord) -> str:
        bot = getattr(record, "bot", None)
        cid = getattr(record, "correlation_id", None)
        oid = getattr(record, "order_id", None)
        tag = ""
        if bot or cid or oid:
            tag = f" [{bot or '-'} {cid[:8] if cid else '-'}" + (f" {oid}" if oid else "") + "]"
        when = _when(record).strftime("%H:%M:%S.%f")[:-3]
        line = f"{when} {record.levelname.lower():<7}{tag} {record.name}: {record.getMessage()}"
        exc = _exception(self, record)
        if exc:
            line += "\n" + exc
        if record.stack_info:
            line += "\n" + record.stack_info
        return line


@dataclass(frozen=True)
class LogSettings:
    """The fleet's `logging:` block (every key optional)."""

    level: str | None = None
    levels: Mapping[str, str] = field(default_factory=dict)
    format: str | None = None          # json | console; None: json unless stderr is a terminal
    file: Path | None = None           # also write JSON lines here, rotated by size
    rotate_mb: float = 50.0
    keep: int = 5

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None, base: Path | None = None) -> LogSettings:
        d = dict(data or {})
        file = d.get("file")
        path = None
        if file:
            path = Path(file)
            if not path.is_absolute() and base is not None:
                path = base / path
        return cls(level=d.get("level"), levels=dict(d.get("levels") or {}),
                   format=d.get("format"), file=path,
                   rotate_mb=float(d.get("rotate_mb", 50)), keep=int(d.get("keep", 5)))


def _check_level(level: str, where: str) -> str:
    if str(level).lower() not in LEVELS:
        raise ValueError(f"{where}: log level {level!r}: one of {', '.join(LEVELS)}")
    return str(level).upper()


def _choose_format(json: bool | None, settings: LogSettings, stream) -> str:
    if json is not None:
        return "json" if json else "console"
    env = os.environ.get("BOTFLEET_LOG_FORMAT", "").strip().lower()
    if env:
        if env == "text":
            env = "console"
        if env not in FORMATS:
            raise ValueError(f"BOTFLEET_LOG_FORMAT={env!r}: json or console")
        return env
    if settings.format:
        return "console" if settings.format == "text" else settings.format
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the moment of writing, not at install time: a
    test runner or a CLI harness that swaps stderr (and closes its copy) never leaves the
    handler writing to a closed stream."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _ours(handler: logging.Handler) -> bool:
    return getattr(handler, "botfleet", False)


def _own(handler: logging.Handler) -> logging.Handler:
    handler.addFilter(ContextFilter())
    handler.addFilter(MaskingFilter())
    handler.botfleet = True
    return handler


def stream_handler(stream=None, *, json: bool = True) -> logging.Handler:
    """A handler like `install_logging`'s (context, masking, JSON or console) on `stream`
    (None: the current stderr), for a second output or a capture."""
    handler = _own(logging.StreamHandler(stream) if stream is not None else StderrHandler())
    handler.setFormatter(JsonFormatter() if json else ConsoleFormatter())
    return handler


def mask_foreign_handlers() -> int:
    """Put the masking filter on handlers botfleet did not make (Prefect's API log handler,
    a test's capture...), so a library's own logging setup cannot bypass it."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    added = 0
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())
                added += 1
    return added


def _masked_excepthook(exc_type, exc, tb) -> None:
    """Uncaught exceptions: the traceback is printed masked (a driver's message can quote a
    URL with its password)."""
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(mask(text))


def _masked_thread_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(mask(f"Exception in thread {name}:\n{text}"))


_CLI: dict[str, Any] = {"json": None, "level": None}
_LEVELLED: set[str] = set(QUIET)  # the loggers install_logging has given a level


def snapshot_logging() -> Callable[[], None]:
    """What `install_logging` changes, saved: botfleet's handlers on the root, the root's
    level, the levels of the loggers it sets, the exception hooks and the command line's
    overrides. Calling the returned function puts them back, closing botfleet's handlers made
    since (a test, or an embedding application, that sets logging up for a while and must not
    leave JSON lines on stderr for the rest of the process). Other handlers are their owners'
    business (a test runner's capture comes and goes by itself)."""
    root = logging.getLogger()
    known = logging.Logger.manager.loggerDict
    handlers, level = list(root.handlers), root.level
    levels = {n: lg.level for n, lg in known.items() if isinstance(lg, logging.Logger)}
    hooks, cli = (sys.excepthook, threading.excepthook), dict(_CLI)

    def restore() -> None:
        for handler in [h for h in root.handlers if h not in handlers and _ours(h)]:
            root.removeHandler(handler)
            handler.close()
        for handler in [h for h in handlers if h not in root.handlers and _ours(h)]:
            root.addHandler(handler)
        root.setLevel(level)
        for name in _LEVELLED:
            if name in levels or name in known:
                logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))
        sys.excepthook, threading.excepthook = hooks
        _CLI.update(cli)

    return restore


def set_cli_overrides(*, json: bool | None = None, level: str | None = None) -> None:
    """The command line's `--log-json` / `--log-level`, given before the command's fleet is
    loaded: every later `install_logging` of this process keeps them over the YAML."""
    _CLI["json"], _CLI["level"] = json, level


def install_logging(fleet: Any = None, *, json: bool | None = None, level: str | None = None,
                    stream=None, settings: LogSettings | None = None) -> list[logging.Handler]:
    """Set up the root logger for a command: a stream handler (JSON or console), a rotating
    JSON file if the fleet asks for one, per-module levels, masking on every handler.

    Precedence: the arguments (`--log-json`, `--log-level`), then the environment
    (`BOTFLEET_LOG_FORMAT`, `BOTFLEET_LOG_LEVEL`), then the fleet's `logging:` block.
    Calling it again (a second command in one process) replaces the handlers it made."""
    if settings is None:
        settings = getattr(fleet, "logging", None) or LogSettings()
    json = _CLI["json"] if json is None else json
    level = level or _CLI["level"]
    fmt = _choose_format(json, settings, stream or sys.stderr)
    env_level = os.environ.get("BOTFLEET_LOG_LEVEL")
    where = ("--log-level" if level else "BOTFLEET_LOG_LEVEL" if env_level else
             "logging.level")
    root_level = _check_level(level or env_level or settings.level or "info", where)
    handlers: list[logging.Handler] = [stream_handler(stream, json=fmt == "json")]
    if settings.file is not None:
        settings.file.parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            settings.file, maxBytes=int(settings.rotate_mb * 1024 * 1024),
            backupCount=settings.keep, encoding="utf-8")
        rotating.setFormatter(JsonFormatter())
        handlers.append(_own(rotating))
    root = logging.getLogger()
    for old in [h for h in root.handlers if _ours(h)]:
        root.removeHandler(old)
        old.close()
    for new in handlers:
        root.addHandler(new)
    root.setLevel(root_level)
    for name, lvl in {**QUIET, **settings.levels}.items():
        logging.getLogger(name).setLevel(_check_level(lvl, f"logging.levels.{name}"))
        _LEVELLED.add(name)
    mask_foreign_handlers()
    install_record_masking()
    sys.excepthook = _masked_excepthook
    threading.excepthook = _masked_thread_hook
    return handlers
