"""`PaperBroker`: paper trading, on the exchange simulator or filled internally.

On the simulator (`PaperBroker.venue(...)`, the default paper path) it *is* a `CcxtBroker`: the
real `ccxt.binance` client pointed at the venue (`botfleet.venue.binance_client`) with the venue
account's keys, and the venue's shared clock as its "now" (`SimClock`, `/api/v3/time`). Nothing
in the executor or reconciliation can tell it from live trading, which is the point: the paper
path exercises the live code, timeouts and error mapping included.

Without the simulator (`PaperBroker.internal(...)`) it fills by itself against the latest prices
it is fed (`feed(symbol, candles)`, e.g. from the candle store or a live exchange's klines), with
the backtest's fill model (`PaperBook`). Its account — balances, orders, trades — lives in
**memory**; the state database holds the bot's ledger as for any broker. After a restart the
account is rebuilt from that ledger (`restore`): the baseline balances plus every recorded fill,
the open orders re-booked with what they have filled. An order marked sent whose booking died
with the process is not in the rebuilt book, so its look-up says "not found" — exactly what
happened — and the executor's rules take it from there (`settle_ms` is 0: nothing in flight).
"""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

import numpy as np

from botfleet.execution.broker import ExchangeTrade, Market
from botfleet.execution.ccxt_broker import CcxtBroker
from botfleet.execution.paper_book import BookOrder
from botfleet.execution.reconcile import expected_balances
from botfleet.execution.sim_broker import Bars, BookBroker
from botfleet.orders import OrderStatus
from botfleet.sim.fillmodel import FillModel


class InternalPaper(BookBroker):
    """Fills against fed candles under the wall clock (or `now`); market orders fill at once
    at the latest price plus slippage (`immediate`) unless told `next_open`."""

    def __init__(self, markets: dict[str, Market], fills: FillModel,
                 balances: dict[str, Decimal], *, tf_ms: int, now=None,
                 fill_timing: str = "immediate"):
        super().__init__(markets, fills, balances,
                         now=now or (lambda: int(time.time() * 1000)), tf_ms=tf_ms,
                         fill_timing=fill_timing, name="paper-internal")
        self.baseline = dict(balances)

    def feed(self, symbol: str, candles: np.ndarray) -> None:
        """The symbol's candles so far (the forming one may be last); replaces what was fed,
        keeping which bar events were already settled."""
        old = self.bars.get(symbol)
        bars = Bars(np.asarray(candles), self.tf_ms, self.fills)
        if old is not None and len(old.c):
            i, phase = old.done
            if i >= 0:
                j = int(np.searchsorted(bars.c["ts"], old.c["ts"][i]))
                bars.done = (j, phase)
        self.bars[symbol] = bars
        self.settle()

    def restore(self, ledger, bot: str) -> None:
        """Rebuild the account from the ledger after a restart (see the module's docstring)."""
        book = self.book
        fills = ledger.fills(bot=bot)
        balances = expected_balances(self.baseline, fills)
        book.free = {a: v for a, v in balances.items()}
        book.locked = {}
        for rec in ledger.orders(bot, statuses=(OrderStatus.OPEN,
                                                OrderStatus.PARTIALLY_FILLED)):
            order = rec.as_order()
            m = book.markets[rec.symbol]
            level = rec.price or rec.stop_price or Decimal(0)
            rest = rec.amount - rec.filled
            asset, need = (m.quote, rest * level * (1 + max(book.maker, book.taker))) \
                if int(rec.side) > 0 else (m.base, rest)
            need = min(need, book.free.get(asset, Decimal(0)))
            book._move(asset, -need, need)
            bo = BookOrder(order, rec.exchange_id, rec.exchange_created_ms or 0, rec.type,
                           asset, need, rec.status, rec.filled,
                           (rec.average_price or 0) * rec.filled, rec.fee,
                           rec.exchange_updated_ms or 0)
            bo.trades = [ExchangeTrade(f.trade_id, rec.exchange_id, f.symbol, f.side, f.amount,
                                       f.price, f.fee, f.fee_currency, f.liquidity, f.ts_ms,
                                       rec.client_id) for f in fills
                         if f.client_id == rec.client_id]
            book.orders[bo.exchange_id] = bo
        ids = [int(o.exchange_id) for o in ledger.orders(bot)
               if o.exchange_id and o.exchange_id.isdigit()]
        trade_ids = [int(f.trade_id) for f in fills if f.trade_id.isdigit()]
        book._ids = itertools.count(max(ids, default=0) + 1)
        book._trade_ids = itertools.count(max(trade_ids, default=0) + 1)


class PaperBroker:
    """Factories: `venue(...)` (a `CcxtBroker` on the simulator) or `internal(...)`."""

    @staticmethod
    def venue(base_url: str, api_key: str, secret: str, **ccxt_config) -> CcxtBroker:
        """The broker of the venue account with these keys (ccxt config such as `timeout`,
        `enableRateLimit`, `options` passes through)."""
        from botfleet.venue import SimClock, binance_client

        exchange = binance_client(base_url, apiKey=api_key, secret=secret, **ccxt_config)
        clock = SimClock(exchange)
        return CcxtBroker(exchange, now=clock.now_ms, name="binance (simulator)")

    @staticmethod
    def internal(markets: dict[str, Market], fills: FillModel, balances: dict[str, Decimal],
                 *, tf_ms: int, ledger=None, bot: str | None = None, now=None,
                 fill_timing: str = "immediate") -> InternalPaper:
        broker = InternalPaper(markets, fills, balances, tf_ms=tf_ms, now=now,
                               fill_timing=fill_timing)
        if ledger is not None and bot is not None:
            broker.restore(ledger, bot)
        return broker
