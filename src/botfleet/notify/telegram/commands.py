"""The Telegram commands: answers read through `views`, actions through the library.

Every update first passes the gate (`access`): a chat that is not allowed gets no answer and an
audit entry, and nothing else runs. Actions are audited with the actor `telegram:<user id>`:
pause and resume by `runtime.controls`, kill and release by the kill switch itself, reload
here. /kill, /release, /stop and /start ask first with buttons (`confirm`). Database and bus
calls are synchronous, so they run in a worker thread and the bot keeps answering.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from botfleet.notify.telegram.access import Gate, actor_of
from botfleet.notify.telegram.confirm import Confirmations, Pending, Refused
from botfleet.notify.telegram.views import FleetView, PeriodError, period_start
from botfleet.runtime import controls
from botfleet.storage.audit import record_audit

log = logging.getLogger("botfleet.telegram")
RELOAD = "fleet.reload"
HELP = (
    ("status", "every bot: last cycle, positions, orders, halts"),
    ("balance", "equity and balances per bot"),
    ("positions", "open positions"),
    ("orders", "working orders"),
    ("pnl", "PnL: /pnl [today|7d|30d|all]"),
    ("trades", "the last closed trades"),
    ("performance", "closed trades: count, win rate, PnL, profit factor"),
    ("pause", "/pause BOT: no new entries (exits still work)"),
    ("resume", "/resume BOT: lift a bot's pause"),
    ("stop", "pause every bot (asks first)"),
    ("start", "lift the fleet-wide pause (asks first)"),
    ("kill", "/kill [BOT]: engage the kill switch, optionally flatten (asks first)"),
    ("release", "/release [BOT]: release the kill switch (asks first)"),
    ("reload", "tell running runners to reload the fleet's files"),
    ("help", "this list"),
)
MODE_TEXT = {"freeze": "stop new orders", "cancel_orders": "stop new orders and cancel "
             "working ones", "flatten": "stop new orders, cancel working ones and close "
             "positions at market"}


def help_text() -> str:
    return "Commands:\n" + "\n".join(f"/{name} - {text}" for name, text in HELP)


class Controller:
    def __init__(self, fleet, *, gate: Gate, view: FleetView, confirmations: Confirmations,
                 killswitch, cache_url: str):
        self.fleet, self.gate, self.view = fleet, gate, view
        self.confirm, self.killswitch, self.cache_url = confirmations, killswitch, cache_url
        self.state_url = view.ledger.engine  # one engine, migrated once (by the ledger)

    # -- plumbing ---------------------------------------------------------------------------
    def install(self, app: Application) -> None:
        app.add_handler(TypeHandler(Update, self.gatekeeper), group=-1)
        reads = {"status": self.view.status, "balance": self.view.balance,
                 "positions": self.view.positions, "orders": self.view.orders,
                 "trades": self.view.trades, "performance": self.view.performance}
        for name, read in reads.items():
            app.add_handler(CommandHandler(name, self._reader(read)))
        for name, handler in (("help", self.help), ("pnl", self.pnl), ("pause", self.pause),
                              ("resume", self.resume), ("stop", self.stop),
                              ("start", self.start), ("kill", self.kill),
                              ("release", self.release), ("reload", self.reload)):
            app.add_handler(CommandHandler(name, handler))
        app.add_handler(CallbackQueryHandler(self.pressed))
        app.add_handler(MessageHandler(filters.ALL, self.unknown))

    @staticmethod
    def bot_commands() -> list[BotCommand]:
        return [BotCommand(name, text[:256]) for name, text in HELP]

    async def gatekeeper(self, update: Update, _context) -> None:
        chat = update.effective_chat
        chat_id = chat.id if chat is not None else None
        if self.gate.allows(chat_id):
            return
        user = update.effective_user
        if update.callback_query is not None:
            what = f"button {update.callback_query.data}"
        else:
            msg = update.effective_message
            what = (msg.text if msg is not None else None) or "update"
        await asyncio.to_thread(self.gate.deny, chat_id, user.id if user else None, what)
        raise ApplicationHandlerStop  # no handler runs, no answer goes out

    @staticmethod
    async def _say(update: Update, text: str, markup=None) -> None:
        await update.effective_message.reply_text(text, reply_markup=markup)

    def _reader(self, read):
        async def handler(update: Update, _context) -> None:
            try:
                text = await asyncio.to_thread(read)
            except Exception as exc:
                log.exception("telegram: /%s failed", read.__name__)
                text = f"failed: {type(exc).__name__}: {exc}"
            await self._say(update, text)
        return handler

    def _bot_arg(self, args: list[str], command: str, *, required: bool) -> str | None:
        if not args:
            if required:
                raise ValueError(f"usage: /{command} BOT (bots: "
                                 f"{', '.join(sorted(self.fleet.bots))})")
            return None
        bot = args[0]
        if bot not in self.fleet.bots:
            raise ValueError(f"no bot {bot!r} in the fleet; bots: "
                             f"{', '.join(sorted(self.fleet.bots))}")
        return bot

    @staticmethod
    def _actor(update: Update) -> str:
        return actor_of(update.effective_user.id if update.effective_user else None)

    # -- reads ------------------------------------------------------------------------------
    async def help(self, update: Update, _context) -> None:
        await self._say(update, help_text())

    async def unknown(self, update: Update, _context) -> None:
        await self._say(update, "I only understand commands. " + help_text())

    async def pnl(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        period = (context.args or ["today"])[0].lower()
        try:
            period_start(period, self.view.clock())
        except PeriodError as exc:
            await self._say(update, str(exc))
            return
        await self._say(update, await asyncio.to_thread(self.view.pnl, period))

    # -- pause / resume ---------------------------------------------------------------------
    async def pause(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            bot = self._bot_arg(context.args, "pause", required=True)
        except ValueError as exc:
            await self._say(update, str(exc))
            return
        reason = " ".join(context.args[1:]) or "paused from Telegram"
        info = await asyncio.to_thread(controls.pause, self.state_url, bot,
                                       actor=self._actor(update), reason=reason,
                                       bus=self.cache_url)
        await self._say(update, f"{info.describe()}. Exits and stops still work; "
                        f"/resume {bot} to lift it.")

    async def resume(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            bot = self._bot_arg(context.args, "resume", required=True)
        except ValueError as exc:
            await self._say(update, str(exc))
            return
        lifted = await asyncio.to_thread(controls.resume, self.state_url, bot,
                                         actor=self._actor(update), bus=self.cache_url)
        fleet_pause = (await asyncio.to_thread(controls.paused_bots, self.state_url)).get("*")
        text = (f"resumed bot {bot} (paused by {lifted.actor})" if lifted else
                f"bot {bot} was not paused")
        if fleet_pause is not None:
            text += f"; the whole fleet is still {fleet_pause.describe()} (/start lifts it)"
        await self._say(update, text)

    # -- confirmed actions ------------------------------------------------------------------
    async def _ask(self, update: Update, action: str, question: str,
                   buttons: list[tuple[str, str]], **args) -> None:
        user = update.effective_user
        pending = self.confirm.ask(update.effective_chat.id, user.id if user else 0, action,
                                   **args)
        markup = InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=(
            self.confirm.data(pending, choice)))] for label, choice in buttons])
        await self._say(update, f"{question}\n(valid {self.confirm.ttl_s:g} s)", markup)

    async def stop(self, update: Update, _context) -> None:
        paused = await asyncio.to_thread(controls.paused_bots, self.state_url)
        if "*" in paused:
            await self._say(update, f"the whole fleet is already {paused['*'].describe()}")
            return
        await self._ask(update, "stop", "Pause every bot (no new entries; exits, stops and "
                        "the kill switch still work)?",
                        [("Pause the fleet", "yes"), ("Cancel", "no")])

    async def start(self, update: Update, _context) -> None:
        paused = await asyncio.to_thread(controls.paused_bots, self.state_url)
        if "*" not in paused:
            mine = ", ".join(sorted(paused)) or "none"
            await self._say(update, f"the fleet is not paused (paused bots: {mine}). "
                            + help_text())
            return
        await self._ask(update, "start", f"Lift the fleet-wide pause ({paused['*'].describe()})?",
                        [("Resume the fleet", "yes"), ("Cancel", "no")])

    def _kill_settings(self, scope: str, target: str):
        from botfleet.risk.engine import KillSettings

        limits = self.fleet.risk if scope == "global" else self.fleet.bots[target].risk
        return KillSettings.from_yaml(limits.kill_switch)

    async def kill(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            bot = self._bot_arg(context.args, "kill", required=False)
        except ValueError as exc:
            await self._say(update, str(exc))
            return
        scope, target = ("bot", bot) if bot else ("global", "")
        mode = self._kill_settings(scope, target).on_trigger
        label = f"bot {bot}" if bot else "the whole fleet"
        buttons = [(f"Kill ({mode})", "yes")]
        if mode != "flatten":
            buttons.append(("Kill and flatten positions", "flat"))
        buttons.append(("Cancel", "no"))
        await self._ask(update, "kill", f"Engage the kill switch on {label}? {mode}: "
                        f"{MODE_TEXT[mode]}.", buttons, scope=scope, target=target, mode=mode)

    async def release(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            bot = self._bot_arg(context.args, "release", required=False)
        except ValueError as exc:
            await self._say(update, str(exc))
            return
        scope, target = ("bot", bot) if bot else ("global", "")
        await self._ask(update, "release", f"Release the kill switch on "
                        f"{f'bot {bot}' if bot else 'the whole fleet (global)'}?",
                        [("Release", "yes"), ("Cancel", "no")], scope=scope, target=target)

    async def pressed(self, update: Update, _context) -> None:
        query = update.callback_query
        try:
            pending, choice = self.confirm.take(query.data, update.effective_chat.id)
        except Refused as exc:
            await asyncio.to_thread(
                record_audit, self.state_url, actor=self._actor(update),
                action="telegram.confirm_refused", target=f"chat:{update.effective_chat.id}",
                detail={"data": (query.data or "")[:64], "reason": str(exc)}, allowed=False)
            await query.answer(str(exc), show_alert=True)
            return
        await query.answer()
        if choice == "no":
            await query.edit_message_text(f"/{pending.action}: cancelled, nothing done")
            return
        try:
            text = await asyncio.to_thread(self._carry_out, pending, choice,
                                           self._actor(update))
        except Exception as exc:
            log.exception("telegram: /%s failed", pending.action)
            text = f"/{pending.action} failed: {type(exc).__name__}: {exc}"
        await query.edit_message_text(text)

    def _carry_out(self, pending: Pending, choice: str, actor: str) -> str:
        """The confirmed action (in a worker thread)."""
        a = pending.args
        if pending.action == "stop":
            info = controls.pause(self.state_url, "*", actor=actor, reason="/stop from Telegram",
                                  bus=self.cache_url)
            return f"the whole fleet is {info.describe()}; /start lifts it"
        if pending.action == "start":
            lifted = controls.resume(self.state_url, "*", actor=actor, bus=self.cache_url)
            return ("the fleet-wide pause is lifted" if lifted else
                    "the fleet was not paused any more")
        if pending.action == "kill":
            mode = "flatten" if choice == "flat" else a["mode"]
            settings = self._kill_settings(a["scope"], a["target"])
            state = self.killswitch.engage(a["scope"], a["target"], mode,
                                           f"/kill from Telegram by {actor}", actor,
                                           settings.release)
            return f"engaged: {state.describe()}"
        if pending.action == "release":
            state = self.killswitch.release(a["scope"], a["target"],
                                            f"/release from Telegram by {actor}", actor)
            if state is None:
                label = "global" if a["scope"] == "global" else f"bot {a['target']}"
                return f"no kill switch engaged on {label}; nothing released"
            return f"released #{state.id} {state.label} ({state.mode})"
        raise ValueError(f"unknown confirmed action {pending.action!r}")

    # -- reload -----------------------------------------------------------------------------
    async def reload(self, update: Update, _context) -> None:
        reached = await asyncio.to_thread(controls.publish, self.cache_url, "reload")
        await asyncio.to_thread(record_audit, self.state_url, actor=self._actor(update),
                                action=RELOAD, target="fleet", detail={"published": reached})
        await self._say(update, "asked the running runners to reload the fleet's files" if
                        reached else "could not reach the bus; runners reload when the "
                        "files change")
