"""`SimBroker`: the broker interface over a candle series and a simulated clock.

It exists to show — and test — that the executor, the ledger and reconciliation run unchanged
in the backtest's clock: the same `Broker` calls, answered by a `PaperBook` that fills with the
backtest's rules as the clock crosses each bar's open and close. (Research keeps the compiled
kernel, `sim.engine.backtest`, which is orders of magnitude faster; this is the bar-by-bar path.)

`BookBroker` is the part shared with the internal `PaperBroker`: the book, per-symbol bars and
the settling of bar events up to "now". Market orders fill at the open of the first bar opening
at or after they were booked (`next_open`, the backtest's timing; one booked exactly at an open
fills at that open, in its answer) or, with `immediate`, at the latest price when booked.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np

from botfleet.execution.broker import ExchangeOrder, ExchangeTrade, Market, NotFound
from botfleet.execution.paper_book import INSIDE, OPEN_PHASE, PaperBook
from botfleet.execution.records import Balance
from botfleet.orders import Order
from botfleet.sim.fillmodel import FillModel

FILL_TIMINGS = ("next_open", "immediate")


class Bars:
    """One symbol's bars with the fill model's per-bar slippage (causal, as the kernel's)."""

    def __init__(self, candles: np.ndarray, tf_ms: int, fills: FillModel):
        self.tf_ms = tf_ms
        self.c = candles
        self.slip = np.nan_to_num(fills.slip_frac(candles["high"], candles["low"],
                                                   candles["close"])) if len(candles) \
            else np.zeros(0)
        self.done = (-1, INSIDE)  # (bar, phase) settled so far

    def ref(self, now: int) -> tuple[int, float] | None:
        """(bar, price): the open of the bar forming at `now`, or the last close."""
        i = int(np.searchsorted(self.c["ts"], now, side="right")) - 1
        if i < 0:
            return None
        if now < int(self.c["ts"][i]) + self.tf_ms:
            return i, float(self.c["open"][i])
        return i, float(self.c["close"][i])


class BookBroker:
    """A `Broker` answered by a `PaperBook` over bars of each symbol. `settle_ms` is 0: a
    request is booked (or not) in the call itself."""

    settle_ms = 0

    def __init__(self, markets: dict[str, Market], fills: FillModel,
                 balances: dict[str, Decimal], *, now: Callable[[], int], tf_ms: int,
                 fill_timing: str = "next_open", name: str = "book"):
        if fill_timing not in FILL_TIMINGS:
            raise ValueError(f"fill_timing must be one of {FILL_TIMINGS}")
        self.book = PaperBook(markets, fills, balances)
        self.bars: dict[str, Bars] = {}
        self.fills, self.tf_ms, self.fill_timing, self.name = fills, tf_ms, fill_timing, name
        self._now = now

    def now_ms(self) -> int:
        return int(self._now())

    # -- bar events --------------------------------------------------------------------------
    def settle(self, now: int | None = None) -> None:
        """Offer every bar event up to `now` to the working orders, in time order."""
        now = self.now_ms() if now is None else now
        events = []
        for symbol, bars in self.bars.items():
            ts = bars.c["ts"]
            i, phase = bars.done
            while True:
                i, phase = (i, INSIDE) if phase == OPEN_PHASE else (i + 1, OPEN_PHASE)
                if i >= len(ts):
                    break
                t = int(ts[i]) if phase == OPEN_PHASE else int(ts[i]) + self.tf_ms
                if t > now:
                    break
                events.append((t, phase == OPEN_PHASE, symbol, i, phase))
        for t, _, symbol, i, phase in sorted(events):
            self._offer(symbol, i, phase)

    def _offer(self, symbol: str, i: int, phase: int, only=None) -> None:
        bars = self.bars[symbol]
        c = bars.c[i]
        self.book.bar(symbol, int(c["ts"]), int(c["ts"]) + self.tf_ms, float(c["open"]),
                      float(c["high"]), float(c["low"]), float(c["volume"]),
                      float(bars.slip[i]), phase, only)
        if only is None:
            bars.done = (i, phase)

    # -- the Broker interface ----------------------------------------------------------------
    def market(self, symbol: str) -> Market:
        return self.book.markets[symbol]

    def amount_to_precision(self, symbol: str, amount: Decimal) -> Decimal:
        return self.market(symbol).amount(amount)

    def price_to_precision(self, symbol: str, price: Decimal) -> Decimal:
        return self.market(symbol).price(price)

    def submit(self, order: Order) -> ExchangeOrder:
        now = self.now_ms()
        self.settle(now)
        bars = self.bars.get(order.symbol)
        ref = bars.ref(now) if bars is not None else None
        price = Decimal(repr(ref[1])) if ref else None
        bo = self.book.submit(order, now, price)
        if bars is not None and ref is not None:
            i = ref[0]
            if self.fill_timing == "immediate" and bo.kind.name == "MARKET":
                self.book._fill(bo, ref[1], True, float(bars.c["volume"][i]),
                                float(bars.slip[i]), now)
            elif int(bars.c["ts"][i]) == now:  # booked at an open: it fills at that open
                self._offer(order.symbol, i, OPEN_PHASE, only=bo)
        return bo.view()

    def cancel(self, symbol: str, client_id: str) -> ExchangeOrder:
        self.settle()
        return self.book.cancel(client_id, self.now_ms()).view()

    def lookup(self, symbol: str, client_id: str | None = None, *,
               exchange_id: str | None = None) -> ExchangeOrder | None:
        self.settle()
        bo = self.book.find(client_id, exchange_id)
        return None if bo is None or bo.order.symbol != symbol else bo.view()

    def order_trades(self, order: ExchangeOrder) -> list[ExchangeTrade]:
        bo = self.book.find(exchange_id=order.exchange_id)
        if bo is None:
            raise NotFound(f"no order {order.exchange_id}")
        return list(bo.trades)

    def open_orders(self, symbol: str) -> list[ExchangeOrder]:
        self.settle()
        return [bo.view() for bo in self.book.working(symbol)]

    def trades(self, symbol: str, since_ms: int | None = None) -> list[ExchangeTrade]:
        self.settle()
        return [t for t in self.book.trades
                if t.symbol == symbol and (since_ms is None or t.ts_ms >= since_ms)]

    def balances(self) -> dict[str, Balance]:
        self.settle()
        return self.book.balances()


class SimBroker(BookBroker):
    """Bar by bar over `candles` (symbol -> CANDLE_DTYPE array) under a manual clock that
    starts at `start_ms` and moves only by `advance_to`."""

    def __init__(self, candles: dict[str, np.ndarray], markets: dict[str, Market],
                 fills: FillModel, balances: dict[str, Decimal], *, tf_ms: int,
                 start_ms: int, fill_timing: str = "next_open"):
        self.clock_ms = int(start_ms)
        super().__init__(markets, fills, balances, now=lambda: self.clock_ms, tf_ms=tf_ms,
                         fill_timing=fill_timing, name="sim")
        for symbol, c in candles.items():
            self.bars[symbol] = Bars(c, tf_ms, fills)

    def advance_to(self, ms: int) -> None:
        if ms < self.clock_ms:
            raise ValueError(f"the simulated clock only moves forward ({ms} < {self.clock_ms})")
        self.clock_ms = int(ms)
        self.settle(self.clock_ms)
