"""Building and running the Telegram control bot (python-telegram-bot, long polling).

    control = TelegramControl.from_fleet(fleet)     # token resolved from its reference now
    control.start(); ...; control.stop()            # in a thread of its own (tests, embedding)
    run_foreground(fleet)                           # `botfleet telegram`: until Ctrl-C

The Bot API base URL comes from `control.telegram.api_url` (default Telegram's), so a local
`telegram-bot-api` server or a test server can stand in. The token is a secret: it is resolved
only here, registered with the log masking when that is available, and every log record of
the HTTP and PTB loggers has it replaced (httpx logs each request's URL, and the URL holds
the token).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from telegram.ext import Application, ApplicationBuilder

from botfleet.notify.telegram.access import Gate
from botfleet.notify.telegram.commands import Controller
from botfleet.notify.telegram.confirm import Confirmations
from botfleet.notify.telegram.views import FleetView

log = logging.getLogger("botfleet.telegram")
DEFAULT_API = "https://api.telegram.org"
NOISY = ("httpx", "httpcore", "telegram", "apscheduler")


class TelegramConfigError(ValueError):
    """The fleet has no usable `control.telegram` block, or its token cannot be resolved."""


class TelegramStartError(RuntimeError):
    """The bot could not start or stopped on an error (the token is never in the text)."""


class _Redactor:
    """Wraps the log record factory: a record of the HTTP or PTB loggers (any child too:
    logger filters do not reach children) that contains the token has it replaced before
    any handler sees it."""

    def __init__(self, secret: str):
        self.secret = secret
        self.previous = logging.getLogRecordFactory()

    def __call__(self, *args, **kwargs) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if record.name.split(".")[0] in NOISY:
            text = record.getMessage()
            if self.secret in text:
                record.msg, record.args = text.replace(self.secret, "<telegram-token>"), None
        return record

    def remove(self) -> None:
        if logging.getLogRecordFactory() is self:
            logging.setLogRecordFactory(self.previous)


def _protect(token: str) -> _Redactor:
    try:  # the logs helper's masking, when present: every handler then redacts it too
        from botfleet.obs.masking import register_secret

        register_secret(token)
    except ImportError:
        pass
    redactor = _Redactor(token)
    logging.setLogRecordFactory(redactor)
    httpx = logging.getLogger("httpx")  # one INFO line per request, with the token's URL
    if httpx.level < logging.WARNING:
        httpx.setLevel(logging.WARNING)
    return redactor


def resolve_settings(fleet):
    settings = getattr(getattr(fleet, "control", None), "telegram", None)
    if settings is None:
        raise TelegramConfigError(
            f"{fleet.path}: no control.telegram block; add control: {{telegram: {{token: "
            "'${env:TELEGRAM_BOT_TOKEN}', allowed_chats: [<your chat id>]}}}}")
    from botfleet.config.refs import SecretMissing

    try:
        token = settings.token.reveal()
    except SecretMissing as exc:
        raise TelegramConfigError(f"control.telegram.token: {exc}") from None
    if not token.strip():
        raise TelegramConfigError(f"control.telegram.token: {settings.token.ref} is empty")
    return settings, token.strip()


class TelegramControl:
    def __init__(self, fleet, settings, token: str, *, state_url: str | None = None,
                 cache_url: str | None = None):
        from botfleet.risk.killswitch import KillSwitch

        self.fleet, self.settings = fleet, settings
        self.api = (settings.api_url or DEFAULT_API).rstrip("/")
        state_url = state_url or fleet.storage.state
        self.cache_url = cache_url or fleet.storage.cache
        self.view = FleetView(fleet, state_url)
        self.killswitch = KillSwitch(self.view.ledger.engine, self.cache_url, listen=False)
        self.controller = Controller(
            fleet, gate=Gate(settings.allowed_chats, self.view.ledger.engine), view=self.view,
            confirmations=Confirmations(settings.confirm_timeout_s),
            killswitch=self.killswitch, cache_url=self.cache_url)
        self._redactor = _protect(token)
        self.application: Application = (
            ApplicationBuilder().token(token).base_url(f"{self.api}/bot")
            .base_file_url(f"{self.api}/file/bot").post_init(self._post_init).build())
        self.controller.install(self.application)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @classmethod
    def from_fleet(cls, fleet, **kwargs) -> TelegramControl:
        settings, token = resolve_settings(fleet)
        return cls(fleet, settings, token, **kwargs)

    async def _post_init(self, app: Application) -> None:
        await app.bot.set_my_commands(self.controller.bot_commands())
        log.info("telegram control: @%s answering %d allowed chat(s) through %s",
                 app.bot.username, len(self.settings.allowed_chats), self.api)

    # -- in a thread of its own -------------------------------------------------------------
    def start(self, *, poll_timeout_s: int = 10, wait_s: float = 30.0) -> TelegramControl:
        self._thread = threading.Thread(target=self._run_thread, args=(poll_timeout_s,),
                                        daemon=True, name="telegram-control")
        self._thread.start()
        if not self._ready.wait(wait_s):
            raise TimeoutError(f"the Telegram bot did not start within {wait_s:g} s "
                               f"(Bot API at {self.api})")
        if self._error is not None:
            raise self._error
        return self

    def _run_thread(self, poll_timeout_s: int) -> None:
        asyncio.run(self._serve(poll_timeout_s))

    async def _serve(self, poll_timeout_s: int) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        app = self.application
        try:
            await app.initialize()
            await self._post_init(app)
            await app.start()
            await app.updater.start_polling(poll_interval=0.0, timeout=poll_timeout_s,
                                            drop_pending_updates=False)
        except Exception as exc:  # noqa: BLE001 - handed to start(), without the token
            self._error = self._scrubbed(exc)
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    def _scrubbed(self, exc: Exception) -> TelegramStartError:
        """PTB names the token in some errors (`InvalidToken`): never pass it on."""
        text = str(exc).replace(self._redactor.secret, "<telegram-token>")
        return TelegramStartError(f"the Telegram bot could not run against {self.api}: "
                                  f"{type(exc).__name__}: {text}")

    def stop(self, timeout_s: float = 15.0) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.close()

    def close(self) -> None:
        self.killswitch.close()
        self.view.close()
        self._redactor.remove()

    # -- in the foreground ------------------------------------------------------------------
    def run_foreground(self) -> None:
        """Until SIGINT/SIGTERM (`botfleet telegram`)."""
        try:
            self.application.run_polling(allowed_updates=["message", "callback_query"])
        except Exception as exc:  # noqa: BLE001 - re-raised without the token
            raise self._scrubbed(exc) from None
        finally:
            self.close()
