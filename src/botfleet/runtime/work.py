"""The body of a bot's cycle, in two halves: `decide` (read, compute, judge) and `act` (send,
protect, record).

The halves are apart so that a runner with many bots closing together can let every bot
decide before any of them spends time sending (`batch`), and so that "close -> decision" can
be measured as what it is. Within `decide` the only requests to the exchange are the candles
(shared, `feed`) and, for a bot with working orders, the executor's `sync` (a resting stop may
have filled since the last close).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from botfleet.data.candles import next_open
from botfleet.execution.positions import q12
from botfleet.obs.metrics import RISK_REFUSALS, inc
from botfleet.orders import Order, OrderStatus, OrderType, Position, Reason, Side
from botfleet.risk.book import RiskContext, base_of, quote_of
from botfleet.risk.decision import Decision, refusal_event
from botfleet.risk.kill import kill_actions
from botfleet.runtime.books import BotState, bot_book, performance
from botfleet.runtime.decide import Intent, PairView, dec, decide, protection
from botfleet.runtime.entries import expire_working, resting_entries
from botfleet.runtime.sizing import kelly_fraction
from botfleet.runtime.trades import round_trips

log = logging.getLogger("botfleet.runtime.cycle")
ZERO = Decimal(0)
DECIDING = threading.Lock()
"""One bot's decisions at a time in a process. Deciding is pure Python CPU work: threads only
time-slice it (the interpreter lock), so eight bots deciding at once all finish late, each
after ~8 times its own work. In turn, each decides in its own time and the first bots' orders
go out first; the threads still overlap everything that waits (the exchange, the database).
A bot waits at most TURN_WAIT_S for its turn, then decides anyway: a strategy that blocks (a
plugin sleeping or doing I/O) delays the others by that much, never stops them."""
TURN_WAIT_S = 0.05
UNREAD = object()  # `paused` not read by a batch: the cycle reads it itself


class Interrupted(Exception):
    """The runner asked this cycle to stop before sending (timeout or shutdown)."""


class BotCycle:
    """One cycle's work. `state`/`fills`: the bot's reads at the start, when a batch read
    them for many bots (`tick.prepare`); else read here."""

    def __init__(self, plan, svc, cycle, now_ms: int, *, agg, stop, emit, guards, result,
                 state: BotState | None = None, fills=None, paused=UNREAD):
        self.plan, self.svc, self.cycle, self.now = plan, svc, cycle, now_ms
        self.agg, self.stop, self.emit, self.guards, self.result = agg, stop, emit, guards, result
        self.bot, self.exchange = plan.name, plan.exchange.name
        self.executor = svc.executor_for(plan.name)
        self._state, self._fills, self.paused = state, fills, paused
        self.kill = None
        self.send_errors = 0
        self.allowed: list[Intent] = []
        self.cancels: list[tuple[str, str]] = []
        self.prices: dict[str, Decimal] = {}
        self.closes: dict[str, Decimal] = {}

    def read_state(self) -> BotState:
        midnight = self.now - self.now % 86_400_000
        return self.svc.reader.read([self.bot], midnight_ms=midnight,
                                    since_ms=self.now - self.plan.rate_window_ms)[self.bot]

    # -- the first half ---------------------------------------------------------------------
    def decide(self) -> None:
        if self.read():
            self.decide_now()

    def read(self) -> bool:
        """What the decisions need that may wait on I/O (the exchange's sync, candles, the
        pause); False when there is nothing to decide (no data). A batch reads for all its
        bots before any decides, so that no decision shares the interpreter with I/O."""
        plan, svc = self.plan, self.svc
        state = self._state if self._state is not None else self.read_state()
        # fills of resting orders (a stop) since the last close
        if (state.working or self._state is None) and self.executor.sync():
            state = self.read_state()
            self._fills = None
        if resting_entries(state.working) and self._expire(state):
            state = self.read_state()
            self._fills = None
        fills, reasons = self._fills if self._fills is not None else svc.reader.fills(self.bot)
        self.trades = round_trips(fills, reasons)
        self.kill = svc.killswitch.active_for(self.bot, self.exchange)
        windows = self.windows = {
            p: svc.feed.window(self.exchange, p, plan.timeframe, plan.window, self.now)
            for p in plan.config.pairs}
        for p, w in windows.items():
            if len(w.candles):
                self.closes[p] = dec(w.candles["close"][-1])
                self.prices[p] = dec(w.forming_open) if w.forming_open is not None \
                    else self.closes[p]
        if self.kill is not None:
            state = self._plan_kill(state)
        self.state = state
        newest = [w.newest_ms for w in windows.values() if w.newest_ms is not None]
        if newest:
            self.guards.check_data(next_open(min(newest), plan.timeframe))
        incomplete = [p for p, w in windows.items() if not w.complete]
        if incomplete:
            self.result.outcome = "no_data"
            self.result.notes.append(f"no closed candle of {self.result.candle_ms} yet for "
                                     f"{', '.join(incomplete)}")
            return False
        self._hold_entries([])  # reads the pause now if the batch did not: no I/O below
        return True

    def _expire(self, state: BotState) -> bool:
        """Cancel the resting entries whose `expire` bars are over, before deciding (the
        kernel expires an entry after its last bar's fill attempt, before that bar's
        signals); True if any was."""
        notes = expire_working(self.plan, self.executor, self.svc.ledger, state.working,
                               self.result.candle_ms)
        for note in notes:
            log.info("%s", note)
        self.result.notes.extend(notes)
        return bool(notes)

    def decide_now(self) -> None:
        """Signals, decisions and risk checks in this process's turn; then the refusals'
        I/O."""
        self._deferred: list = []
        turn = DECIDING.acquire(timeout=TURN_WAIT_S)
        try:
            t0 = time.perf_counter()
            decisions = self._decide(self.plan, self.state, self.trades)
            self.result.decided = time.perf_counter()
            self.result.decision_s = self.result.decided - t0
        finally:
            if turn:
                DECIDING.release()
        for intent, decision in self._deferred:  # the refusals' I/O, outside the lock
            self.emit.refused(decision, intent.order)
            self.svc.risk.add_events([refusal_event(decision, self.bot, self.now)])
        for note in decisions.notes:
            log.info("%s", note)

    def _decide(self, plan, state: BotState, trades):
        """Signals, decisions, sizing and risk checks: CPU only, from what `decide` read."""
        equity = state.equity(plan.capital, self.closes)
        perf = performance(state, equity, trades.losing_streak(), trades.last_stops())
        self.books = {"bot": bot_book(state, self.closes, perf),
                      "exchange": self.agg.exchange.get(self.exchange), "fleet": self.agg.fleet}
        self.guards.states()
        self.guards.trip(plan.engine.breaches({k: v for k, v in self.books.items() if v},
                                              self.now))
        kelly = (kelly_fraction(plan.sizing, trades.returns())
                 if plan.sizing.method == "kelly" else None)
        decisions = decide(plan, self.views(state, trades), candle_ms=self.result.candle_ms,
                           equity=equity, cash=state.cash(plan.capital), kelly=kelly)
        self.result.notes.extend(decisions.notes)
        self.cancels = decisions.cancels
        intents = decisions.intents
        if self.kill is not None and self.kill.flattens:  # the flattening closes them
            intents = [i for i in intents if not i.order.reduce_only]
        intents = self._hold_entries(intents)
        self.allowed = self.judge(intents, state, self.books)
        return decisions

    def _hold_entries(self, intents: list[Intent]) -> list[Intent]:
        """A paused bot (`runtime.controls`) sends no new entries; its exits still go."""
        if self.paused is UNREAD:
            from botfleet.runtime.controls import pause_of, paused_bots

            self.paused = pause_of(paused_bots(self.svc.ledger.engine), self.bot)
        if self.paused is None:
            return intents
        self.result.outcome = "paused"
        held = [i for i in intents if not i.order.reduce_only]
        if held:
            note = (f"{self.paused.describe()}: {len(held)} entr"
                    f"{'y' if len(held) == 1 else 'ies'} not sent")
            self.result.notes.append(note)
            log.info("%s", note)
        return [i for i in intents if i.order.reduce_only]

    def _live_models(self):
        """A strategy reading `proba(m)` is answered by the registry's promoted version
        (`ml.strategy_source.PromotedModels`), pinned on the plan's strategy on first use;
        which version serves is asked once a cycle, or taken from the close's batch
        (`runtime.model_reads`)."""
        from botfleet.runtime.model_reads import live_source

        source = live_source(self.plan, self.svc.ledger.engine)
        if hasattr(source, "begin_cycle"):
            source.begin_cycle(self.now)
        return source

    def views(self, state: BotState, trades, signals: bool = True) -> list[PairView]:
        models = self._live_models() if signals else None
        out = []
        for symbol, w in self.windows.items():
            leg = trades.open.get(symbol)
            out.append(PairView(
                symbol, w.candles, self.plan.strategy.latest(w.candles) if signals else {},
                state.positions.get(symbol) or Position(symbol, ZERO, ZERO),
                self.prices[symbol], self.svc.market_for(self.bot, symbol),
                [o for o in state.working if o.symbol == symbol],
                leg.entry_ms if leg else None, len(leg.entries) if leg else 0,
                sum(1 for r in leg.exit_reasons if r == Reason.TAKE_PROFIT) if leg else 0,
                leg.peak if leg else ZERO, trades.last_exit_ms(symbol)))
        if models is not None:
            self.result.notes.extend(dict.fromkeys(models.notes()))
        return out

    def _plan_kill(self, state: BotState) -> BotState:
        """The kill switch's cancels and flattening, sent first in `act`; the state the
        decisions see is the one they leave (cancelled orders gone)."""
        flattening = {o.symbol for o in state.working if o.reduce_only and
                      o.type == OrderType.MARKET}
        positions = [p for p in state.held() if p.symbol not in flattening]
        self.kill_plan = kill_actions(self.kill, self.bot, positions, state.working, self.now)
        gone = set(self.kill_plan.cancel)
        closing = {o.symbol for o in self.kill_plan.flatten} | flattening
        held = {s: (replace(p, amount=ZERO, entry_price=ZERO) if s in closing else p)
                for s, p in state.positions.items()}
        return replace(state, positions=held,
                       working=[o for o in state.working if o.client_id not in gone])

    # -- judging ----------------------------------------------------------------------------
    def judge(self, intents: list[Intent], state: BotState, books: dict) -> list[Intent]:
        allowed, pending, cancelled = [], [], set()
        for intent in intents:
            gone = cancelled | set(intent.cancel)
            working = [o for o in state.working if o.client_id not in gone] + pending
            ctx = RiskContext(intent.order, self.now, self.prices.get(intent.order.symbol),
                              bot_book(state, self.prices, books["bot"].performance,
                                       working=working),
                              self._free(state, working), books.get("exchange"),
                              books.get("fleet"), self.kill, self.guards.states(),
                              self.plan.taker_fee)
            decision: Decision = self.plan.engine.check(ctx)
            if decision.allowed:
                allowed.append(intent)
                pending.append(intent.order)
                cancelled |= set(intent.cancel)
                for note in decision.notes:
                    log.debug("%s %s: %s", intent.key, intent.note, note)
            else:
                self._refused(intent, decision)
        return allowed

    def _free(self, state: BotState, working: list[Order]) -> dict[str, Decimal]:
        """The bot's own balances: its capital and realised PnL less what its long positions
        cost and its working buys may spend; the base it holds less what working sells
        (stops included: the exchange locks their amount) may take."""
        free: dict[str, Decimal] = {}
        cash = self.plan.capital + state.realized
        for p in state.held():
            cash -= p.amount * p.entry_price
            free[base_of(p.symbol)] = free.get(base_of(p.symbol), ZERO) + p.amount
        for o in working:
            if o.side == Side.BUY:
                cash -= o.amount * (o.price or o.stop_price or self.prices.get(o.symbol, ZERO))
            else:
                free[base_of(o.symbol)] = free.get(base_of(o.symbol), ZERO) - o.amount
        for symbol in self.plan.config.pairs:
            free[quote_of(symbol)] = cash
        return free

    def _refused(self, intent: Intent, decision: Decision) -> None:
        self.result.refusals.append(f"{intent.key}: {decision.reason}")
        for refusal in decision.refusals[:1]:  # the first rule: the one the message leads with
            inc(RISK_REFUSALS, self.bot, refusal.rule)
        log.warning("risk refused %s (%s): %s", intent.key, intent.note, decision.reason)
        self._deferred.append((intent, decision))  # emitted and stored after the decisions

    # -- the second half --------------------------------------------------------------------
    def act(self) -> None:
        if self.kill is not None:
            self.send_kill()
        if self.result.outcome == "no_data":
            return
        for client_id, why in self.cancels:  # resting entries an exit signal cancels
            self._check_stop()
            rec = self.executor.cancel(client_id)
            log.info("%s: %s", why, rec.status.name.lower())
            self.result.notes.append(why)
        self.send(self.allowed)
        state, trades = self.state, self.trades
        if self.result.orders or self.cancels:  # what this cycle changed (fills in answers)
            state = self.read_state()
            trades = round_trips(*self.svc.reader.fills(self.bot))
        sent = len(self.result.orders)
        if self.kill is None or not self.kill.cancels_orders:  # else: its orders stay cancelled
            self.protect(state, trades)
        if len(self.result.orders) != sent:
            state = self.read_state()
        self.trade_events(self.trades, trades)
        self.final_state = state  # what the metrics report (obs: no extra query)
        self.svc.ledger.record_equity(self.bot, q12(state.equity(self.plan.capital,
                                                                 self.closes)),
                                      ts=datetime.fromtimestamp(self.now / 1000, UTC))
        if not self.send_errors:
            self.guards.success()

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted("the runner stopped this cycle (deadline or shutdown) before "
                              "its orders were sent")

    def send(self, intents: list[Intent]) -> None:
        for intent in intents:
            self._check_stop()
            for client_id in intent.cancel:
                self.executor.cancel(client_id)
            rec = self.executor.place(self.cycle, intent.key, intent.order)
            self.result.orders.append(rec)
            self.emit.order_placed(rec)
            log.info("order %s %s %s %s %s: %s", intent.key, rec.client_id,
                     rec.side.name.lower(), rec.amount, rec.symbol, rec.status.name.lower())
            self._count(rec)

    def _count(self, rec) -> None:
        """A refused or lost order is an error for the breakers (rejections, 429s, bans)."""
        if rec.status not in (OrderStatus.REJECTED, OrderStatus.UNKNOWN) or self.guards is None:
            return
        text = rec.error or ""
        kind = "rejection" if rec.status is OrderStatus.REJECTED else "error"
        if "418" in text or "banned" in text.lower():
            kind = "ban"
        elif "429" in text or "-1003" in text or "-1015" in text:
            kind = "rate_limit"
        log.warning("order %s %s: %s", rec.client_id, rec.status.name.lower(), text)
        self.guards.error(kind, f"order {rec.client_id}: {text}")
        self.send_errors += 1

    def send_kill(self) -> None:
        plan = getattr(self, "kill_plan", None)
        if plan is None:
            self._plan_kill(self.read_state())
            plan = self.kill_plan
        if plan.cancel or plan.flatten:
            log.warning("kill switch %s: cancelling %d order(s), flattening %d position(s)",
                        self.kill.label, len(plan.cancel), len(plan.flatten))
        for client_id in plan.cancel:
            self.executor.cancel(client_id)
        for order in plan.flatten:
            rec = self.executor.place(self.cycle, f"kill{self.kill.id}:{order.symbol}", order)
            self.result.orders.append(rec)
            self.emit.order_placed(rec)

    def protect(self, state: BotState, trades) -> None:
        """Place or tighten the resting stop of each held pair (after this cycle's fills);
        cancel the stops of positions that are gone."""
        intents, cancels = [], []
        for view in self.views(state, trades, signals=False):
            intent, orphans = protection(self.plan, view)
            cancels.extend(orphans)
            if intent is not None:
                intents.append(intent)
        for client_id in cancels:
            self.executor.cancel(client_id)
        if intents:
            books = {**self.books, "bot": bot_book(state, self.prices,
                                                    self.books["bot"].performance)}
            self.send(self.judge(intents, state, books))

    def trade_events(self, before, after) -> None:
        if after is before:
            return
        known = {(t.symbol, t.entry_ms) for t in before.closed}
        for t in after.closed:
            if (t.symbol, t.entry_ms) not in known:
                self.emit.trade_closed(t, f"{self.bot}:{t.symbol}:{t.entry_ms}")
        for symbol, leg in after.open.items():
            old = before.open.get(symbol)
            if old is None or old.entry_ms != leg.entry_ms:
                self.emit.trade_opened(symbol, leg.direction, leg.peak,
                                       leg.entry_cost / leg.entry_amount,
                                       f"{self.bot}:{symbol}:{leg.entry_ms}")
