"""Bar-by-bar replay of a strategy through a broker: signals -> orders -> executor -> fills.

The paper path must produce the backtest's trades on the same candles and fill model
(architecture principle 2), and this is the loop that shows it: at each bar open T (the clock
stepped there: the venue's `SimClock`, or `SimBroker.advance_to`) the bar that just closed is
read from the exchange, the strategy is evaluated on the closed candles only, and the decision
becomes market orders booked at T, which the exchange fills at T's open — where the backtest
fills the orders of bar t's signals, at bar t+1's open.

The decision rules are the kernel's for a long-only spot bot with one entry per position
(`sim/kernel.py`, step 3): an exit signal beats an entry; an exit sells the whole position; an
entry while flat is refused during `cooldown` bars after the last exit. Entry sizing is the
kernel's, with the same float functions (`sim.fills`): the notional of `percent_equity`
(equity at the signal close) or `fixed_quote`, or the amount of `fixed_base`, becomes an amount
at the fill bar's open (truncated to the step), is checked against the minimums, and shrinks to
what free cash can pay at the slipped price, fee included (`fills.affordable`). The bot can
compute this before sending because every input is known at T: the open is the exchange's
reference price, the slippage fraction of a bar depends only on earlier bars.

Sizing rules that depend on the fill bar itself or on state the exchange does not hold
(`risk_per_trade`, `kelly`, `volatility_target`) and the volume slippage model are not
reproduced here; docs/execution.md says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

import numpy as np

from botfleet.data.candles import from_rows, timeframe_ms
from botfleet.execution.executor import Executor
from botfleet.execution.records import FillRecord, OrderRecord
from botfleet.orders import Order, OrderType, Reason, Side
from botfleet.sim import fills as F
from botfleet.sim.fillmodel import FillModel

SIZINGS = ("percent_equity", "fixed_quote", "fixed_base")


class Feed(Protocol):
    """The replay's view of the exchange's time and candles."""

    def set_time(self, ms: int) -> None: ...
    def closed(self, symbol: str, timeframe: str, since_ms: int, now_ms: int) -> np.ndarray: ...


class VenueFeed:
    """The simulator through a ccxt client: its clock (`/sim/v1/clock`) and its klines."""

    def __init__(self, exchange):
        from botfleet.venue import SimClock

        self.exchange, self.clock = exchange, SimClock(exchange)

    def set_time(self, ms: int) -> None:
        self.clock.set(ms)

    def closed(self, symbol: str, timeframe: str, since_ms: int, now_ms: int) -> np.ndarray:
        tf = timeframe_ms(timeframe)
        rows, since = [], since_ms
        while True:
            page = self.exchange.fetch_ohlcv(symbol, timeframe, since, 1000)
            rows += [r for r in page if r[0] + tf <= now_ms]
            if len(page) < 1000:
                return from_rows(rows)
            since = int(page[-1][0]) + tf


class SimFeed:
    """A `SimBroker`'s candles and clock."""

    def __init__(self, broker):
        self.broker = broker

    def set_time(self, ms: int) -> None:
        self.broker.advance_to(ms)

    def closed(self, symbol: str, timeframe: str, since_ms: int, now_ms: int) -> np.ndarray:
        c = self.broker.bars[symbol].c
        tf = timeframe_ms(timeframe)
        keep = (c["ts"] >= since_ms) & (c["ts"] + tf <= now_ms)
        return c[keep]


def entry_amount(method: str, value: float, equity: float, cash: float, ref: float,
                 slip: float, rate: float, market) -> Decimal | None:
    """The kernel's market-entry size (`_size`, `_amount_at`, `fill_entry`): None when the
    order would be rejected (a minimum, or no cash)."""
    if method not in SIZINGS:
        raise NotImplementedError(f"sizing {method!r} is not reproduced on the exchange path "
                                  f"(one of {', '.join(SIZINGS)}); see docs/execution.md")
    step, tick = float(market.step), float(market.tick)
    min_amount, min_notional = float(market.min_amount), float(market.min_notional)

    def rejected(a: float) -> bool:
        return not a > 0.0 or a < min_amount or a * ref < min_notional

    if method == "fixed_base":
        amount = F.round_amount(value, step)
    else:
        notional = value * equity if method == "percent_equity" else value
        amount = F.round_amount(notional / ref, step)
    if rejected(amount):
        return None
    price = F.taker_price(ref, 1, slip, tick)
    if amount * price * (1.0 + rate) > cash:
        amount = F.round_amount(F.affordable(cash, price, rate), step)
        if rejected(amount):
            return None
    d = Decimal(repr(amount))
    return (d / market.step).quantize(Decimal(1)) * market.step if market.step > 0 else d


@dataclass
class ReplayResult:
    bars: int = 0
    orders: list[OrderRecord] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (bar ms, why no order)
    fills: list[FillRecord] = field(default_factory=list)


class Replay:
    """`strategy` (a compiled strategy: `signals(candles)`) traded on `symbol` through
    `executor`, one bar at a time."""

    def __init__(self, strategy, executor: Executor, feed: Feed, *, symbol: str,
                 timeframe: str, fills: FillModel):
        sizing = strategy.sizing
        if sizing.method not in SIZINGS or sizing.max_entries != 1:
            raise NotImplementedError(f"replay sizes {', '.join(SIZINGS)} with one entry per "
                                      f"position; {strategy.name} uses {sizing.method} with "
                                      f"max_entries {sizing.max_entries}")
        self.strategy, self.executor, self.feed = strategy, executor, feed
        self.symbol, self.timeframe, self.fills = symbol, timeframe, fills
        self.tf_ms = timeframe_ms(timeframe)
        v = sizing.value
        self.size_value = float(v.fraction if hasattr(v, "fraction") else v)
        self.market = executor.broker.market(symbol)
        self.rate = float(fills.fees[1])
        self.candles = from_rows([])
        self.last_exit_bar: int | None = None

    def run(self, history_ms: int, start_ms: int, end_ms: int) -> ReplayResult:
        """Read candles from `history_ms` (the warm-up), trade the bars opening in
        [start_ms, end_ms]: bar t's signals are acted on at bar t+1's open."""
        out = ReplayResult()
        first = True
        t = start_ms + self.tf_ms
        while t <= end_ms:
            self.step(t, history_ms if first else None, out, start_ms)
            first = False
            t += self.tf_ms
        out.fills = self.executor.ledger.fills(bot=self.executor.bot, symbol=self.symbol)
        return out

    def step(self, now: int, history_ms: int | None, out: ReplayResult, start_ms: int) -> None:
        self.feed.set_time(now)
        since = history_ms if history_ms is not None else int(self.candles["ts"][-1]) + \
            self.tf_ms
        fresh = self.feed.closed(self.symbol, self.timeframe, since, now)
        self.candles = np.concatenate([self.candles, fresh]) if len(self.candles) else fresh
        if not len(fresh) or int(self.candles["ts"][-1]) < start_ms:
            return  # a gap in the data, or still warming up
        ex = self.executor
        ex.sync()
        out.bars += 1
        t = len(self.candles) - 1
        bar_ms = int(self.candles["ts"][t])
        sig = self.strategy.signals(self.candles)
        el, xl = bool(sig.entry_long[-1]), bool(sig.exit_long[-1])
        el = el and not xl
        held = ex.ledger.position(ex.bot, self.symbol).amount
        if held == 0 and not el:
            return
        if held != 0 and not xl:
            return
        cycle = ex.ledger.begin_cycle(ex.bot, candle_ms=bar_ms)
        if held > 0:
            rec = ex.place(cycle, f"exit:{self.symbol}", Order(
                "", self.symbol, Side.SELL, OrderType.MARKET, held, reason=Reason.SIGNAL))
            out.orders.append(rec)
            self.last_exit_bar = t + 1
        elif held < 0:
            out.skipped.append((bar_ms, "short position: not handled by this replay"))
        elif self.last_exit_bar is not None and t < self.last_exit_bar + \
                self.strategy.cooldown:
            out.skipped.append((bar_ms, "cooldown"))
        else:
            self._enter(cycle, t, now, out)
        ex.ledger.end_cycle(cycle)

    def _enter(self, cycle, t: int, now: int, out: ReplayResult) -> None:
        ex = self.executor
        base, quote = self.market.base, self.market.quote
        held = ex.broker.balances()
        close = float(self.candles["close"][t])
        cash = float(held[quote].free) if quote in held else 0.0
        pos = float(held[base].total) if base in held else 0.0
        equity = float(held[quote].total if quote in held else 0) + pos * close
        ref = self._open_at(now)
        c = self.candles
        ext = np.concatenate([c, c[-1:]])
        slip = float(np.nan_to_num(self.fills.slip_frac(ext["high"], ext["low"],
                                                        ext["close"]))[-1])
        amount = entry_amount(self.strategy.sizing.method, self.size_value, equity, cash, ref,
                              slip, self.rate, self.market)
        if amount is None:
            out.skipped.append((int(c["ts"][t]), "rejected by sizing (minimum or cash)"))
            return
        out.orders.append(ex.place(cycle, f"entry:{self.symbol}", Order(
            "", self.symbol, Side.BUY, OrderType.MARKET, amount)))

    def _open_at(self, now: int) -> float:
        """The exchange's reference price at `now`: the open of the bar opening then."""
        ticker = getattr(self.executor.broker, "exchange", None)
        if ticker is not None:
            return float(ticker.fetch_ticker(self.symbol)["last"])
        bars = self.executor.broker.bars[self.symbol]
        return bars.ref(now)[1]
