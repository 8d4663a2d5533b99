"""The simulated exchange's trading core: accounts, the order book and the matching loop under
the shared clock.

Matching is driven by time, not by requests: an order acts on the bars that open at or after it
was booked, each bar in two events (its open, then its close once its range is known), in time
order across all orders and symbols (at one instant a bar's close before the next bar's open;
then symbol, sells before buys as the backtest runs exits before entries, stops before limits,
order id). Events are settled lazily: every request, and every clock move made through the
venue, first settles all events up to the clock's now. A fill's timestamp is its bar event's
time, never the moment it was computed, so lazy settlement cannot change what a client sees.

Fill timing (`fill_timing`):
- "next_open" (default, the backtest's convention): a market order fills at the open of the
  first bar opening at or after it was booked (one booked exactly at a bar's open fills at that
  open, in the response); this is what the parity replay needs.
- "immediate": a market order fills when booked, at the reference price (the forming bar's open)
  plus the fill model's slippage — live-like demos on a replay clock without waiting for a bar.

Balances follow Binance: a buy locks price x quantity x (1 + the higher fee rate) of the quote
(a market buy at the reference price, a stop-market at its stop price), a sell its quantity of
base; fees are charged in the quote asset (as the backtest does). A buy whose fill costs more
than it locked takes the rest from free quote, and shrinks to what the account can pay (as the
backtest shrinks an entry); what it cannot fill then EXPIRES.

In process, `on_fill` callbacks see every trade as it is booked (a harness can watch fills
without polling), and `balances()`, `orders()`, `trades()` read the books.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from decimal import ROUND_UP, Decimal

from botfleet.data.candles import timeframe_ms
from botfleet.orders import OrderStatus, OrderType, Side
from botfleet.sim.fillmodel import DEFAULT_FEE, FillModel
from botfleet.venue import binance_format as fmt
from botfleet.venue import ledger
from botfleet.venue import matching as M
from botfleet.venue.accounts import Account, Accounts, BalanceError
from botfleet.venue.book import (
    BINANCE_TYPES,
    CLOSE_PHASE,
    OPEN_PHASE,
    OrderBook,
    VenueOrder,
    VenueTrade,
)
from botfleet.venue.faults import FaultPlan
from botfleet.venue.filters import Filters, filter_failure
from botfleet.venue.market import MarketData
from botfleet.venue.order_request import OrderRequest
from botfleet.venue.tape import Tape

FILL_TIMINGS = ("next_open", "immediate")
NEVER = 2**62
INSUFFICIENT = "Account has insufficient balance for requested action."


def market_closed() -> fmt.BinanceError:
    return fmt.BinanceError(-1013, "Market is closed.")


class SimExchange:
    def __init__(self, market: MarketData, *, accounts: Accounts | None = None,
                 fills: FillModel | None = None, timeframe: str = "1h",
                 fill_timing: str = "next_open", faults: FaultPlan | None = None):
        if fill_timing not in FILL_TIMINGS:
            raise ValueError(f"fill_timing must be one of {FILL_TIMINGS}, got {fill_timing!r}")
        timeframe_ms(timeframe)  # a TimeframeError (ValueError) names a bad one
        self.market = market
        self.clock = market.clock
        self.accounts = accounts or Accounts()
        self.fills = fills or FillModel()
        self.timeframe = timeframe
        self.fill_timing = fill_timing
        self.faults = faults or FaultPlan()
        self.book = OrderBook()
        maker, taker = self.fills.maker_fee, self.fills.taker_fee
        self.maker_rate = maker if maker is not None else DEFAULT_FEE
        self.taker_rate = taker if taker is not None else DEFAULT_FEE
        self.lock = threading.RLock()
        self._tapes: dict[str, Tape | None] = {}
        self._filters: dict[str, Filters] = {}
        self._wake: list[tuple[int, int, int, int]] = []  # (venue ms, order id, version, seq)
        self._seq = 0
        self.on_fill: list[Callable[[VenueTrade], None]] = []

    # --- markets ---------------------------------------------------------------------------

    def filters(self, symbol: str) -> Filters:
        f = self._filters.get(symbol)
        if f is None:
            f = self._filters[symbol] = Filters.of(self.market.rules(symbol))
        return f

    def tape(self, symbol: str) -> Tape | None:
        """The symbol's matching bars (None when the market holds no such timeframe)."""
        if symbol not in self._tapes:
            with self.lock:
                if symbol not in self._tapes:
                    try:
                        candles = self.market.candles(symbol, self.timeframe)
                    except KeyError:
                        self._tapes[symbol] = None
                    else:
                        self._tapes[symbol] = Tape(symbol, candles, self.timeframe, self.fills)
        return self._tapes[symbol]

    def tradable(self, symbol: str) -> bool:
        return self.timeframe in self.market.timeframes(symbol)

    def ref_price(self, symbol: str, now: int | None = None) -> float | None:
        tape = self.tape(symbol)
        if tape is None:
            return None
        ref = tape.ref(self.clock.now_ms() if now is None else now)
        return None if ref is None else ref[1]

    # --- orders ----------------------------------------------------------------------------

    def submit(self, account: Account, req: OrderRequest) -> VenueOrder:
        """Book a validated request (or raise the BinanceError the exchange would answer)."""
        with self.lock:
            now = self.clock.now_ms()
            self.settle(now)
            tape = self.tape(req.symbol)
            ref = tape.ref(now) if tape is not None else None
            if ref is None:
                raise market_closed()
            filters = self.filters(req.symbol)
            ref_price = Decimal(repr(ref[1]))
            if req.type == "MARKET":
                notional = req.quote_qty if req.quote_qty is not None else \
                    req.quantity * ref_price
                filters.check_notional(notional, market=True)
            elif req.type in ("STOP_LOSS", "TAKE_PROFIT"):
                filters.check_notional(req.quantity * req.stop_price, market=True)
            if req.type == "LIMIT_MAKER" and float(req.price) * int(req.side) >= \
                    ref[1] * int(req.side):
                raise fmt.BinanceError(-2010, "Order would immediately match and take.")
            if req.client_id and self.book.open_with_client_id(account, req.client_id):
                raise fmt.BinanceError(-2010, "Duplicate order sent.")
            n_open, n_algo = self.book.open_counts(account, req.symbol)
            if n_open >= fmt.MAX_NUM_ORDERS:
                raise filter_failure("MAX_NUM_ORDERS")
            if req.stop_price is not None and n_algo >= fmt.MAX_NUM_ALGO_ORDERS:
                raise filter_failure("MAX_NUM_ALGO_ORDERS")
            fault = self.faults.take_order()
            if fault is not None and fault.kind == "reject":
                raise fmt.BinanceError(fault.code, fault.msg)
            base, quote = req.symbol.split("/")
            asset, amount = self._lock_for(req, ref_price, base, quote, filters)
            try:
                account.lock(asset, amount)
            except BalanceError:
                raise fmt.BinanceError(-2010, INSUFFICIENT) from None
            oid = self.book.new_order_id()
            order = VenueOrder(
                id=oid, account=account, symbol=req.symbol, side=req.side, type=req.type,
                quantity=req.quantity, price=req.price, stop_price=req.stop_price,
                time_in_force=req.time_in_force, quote_qty=req.quote_qty,
                client_id=req.client_id or f"sim-{oid}", time=now, update_time=now,
                working_time=-1 if req.type in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                                                 "TAKE_PROFIT_LIMIT") else now,
                locked_asset=asset, locked=amount, kind=BINANCE_TYPES[req.type][0])
            if fault is not None and fault.kind == "partial":
                order.fill_fraction = fault.fraction
            order.bar = tape.first_at_or_after(now)
            if req.time_in_force in ("IOC", "FOK") and order.trigger is None:
                order.first_bar = order.bar  # a conditional one: from its trigger
            self.book.add(order)
            if self.fill_timing == "immediate" and req.type == "MARKET":
                self._fill_now(order, tape, ref[0], now)
            if order.is_open:
                self._schedule(order, tape)
            self.settle(now)
            return order

    def cancel(self, account: Account, symbol: str, *, order_id: int | None = None,
               client_id: str | None = None) -> VenueOrder:
        with self.lock:
            now = self.clock.now_ms()
            self.settle(now)
            order = self.book.find(account, symbol, order_id=order_id, client_id=client_id)
            if order is None or not order.is_open:
                raise fmt.BinanceError(-2011, "Unknown order sent.")
            self._finish(order, OrderStatus.CANCELED, now)
            return order

    def query(self, account: Account, symbol: str, *, order_id: int | None = None,
              client_id: str | None = None) -> VenueOrder:
        with self.lock:
            self.settle(self.clock.now_ms())
            order = self.book.find(account, symbol, order_id=order_id, client_id=client_id)
            if order is None:
                raise fmt.BinanceError(-2013, "Order does not exist.")
            return order

    def _lock_for(self, req: OrderRequest, ref: Decimal, base: str, quote: str,
                  filters: Filters) -> tuple[str, Decimal]:
        """What the order reserves: base for a sell, quote x (1 + the higher fee) for a buy."""
        if req.side == Side.SELL:
            if req.quantity is not None:
                return base, req.quantity
            est = req.quote_qty / ref  # quoteOrderQty sell: its estimated quantity, up a step
            step = filters.step if filters.step > 0 else filters.quote_unit
            return base, (est / step).to_integral_value(rounding=ROUND_UP) * step
        rate = max(self.maker_rate, self.taker_rate)
        if req.quote_qty is not None:
            notional = req.quote_qty
        else:
            level = req.price if req.price is not None else (
                req.stop_price if req.stop_price is not None else ref)
            notional = req.quantity * level
        amount = (notional * (1 + rate)).quantize(filters.quote_unit, rounding=ROUND_UP)
        return quote, amount

    # --- matching --------------------------------------------------------------------------

    def settle(self, now: int | None = None) -> None:
        """Apply every bar event up to `now` (default: the clock) to the working orders."""
        with self.lock:
            now = self.clock.now_ms() if now is None else now
            events: list[tuple] = []
            while self._wake and self._wake[0][0] <= now:
                _, oid, version, _ = heapq.heappop(self._wake)
                order = self.book.working.get(oid)
                if order is not None and order.version == version:
                    self._plan(order, now, events)
            while events:
                _, phase, _, _, _, oid, version, i = heapq.heappop(events)
                order = self.book.working.get(oid)
                if order is None or order.version != version:
                    continue
                self._event(order, i, phase)
                if order.is_open:
                    self._plan(order, now, events)

    def _plan(self, order: VenueOrder, now: int, events: list) -> None:
        """Push the order's next event up to `now` onto `events`, or its wake-up time."""
        tape = self.tape(order.symbol)
        event = self._next_event(order, tape, now)
        order.version += 1
        if event is None:
            self._schedule(order, tape, bump=False)
            return
        t, phase, i = event
        side_rank = 0 if order.side == Side.SELL else 1
        kind_rank = 0 if order.kind in (OrderType.STOP, OrderType.STOP_LIMIT) else 1
        heapq.heappush(events, (t, phase, order.symbol, side_rank, kind_rank, order.id,
                                order.version, i))

    def _next_event(self, order: VenueOrder, tape: Tape, now: int):
        """(time, phase, bar) of the order's next event at or before `now`, or None (its
        `bar`/`phase` then say where to look next time)."""
        n = len(tape)
        while order.bar < n:
            i = order.bar
            t_open = int(tape.ts[i])
            if t_open > now:
                return None
            if order.kind == OrderType.MARKET:
                return (t_open, OPEN_PHASE, i)
            if order.first_bar >= 0:  # IOC/FOK: both events of their one bar, then expiry
                if order.phase == OPEN_PHASE and M.act(order, tape, i, OPEN_PHASE) \
                        is not M.NOTHING:
                    return (t_open, OPEN_PHASE, i)
                order.phase = CLOSE_PHASE
            elif order.phase == OPEN_PHASE:
                limit = tape.opened_by(now)
                j = tape.first_hit(i, limit, M.range_test(order))
                if j >= limit:
                    order.bar = limit
                    continue
                order.bar = i = j
                if M.act(order, tape, i, OPEN_PHASE) is not M.NOTHING:
                    return (int(tape.ts[i]), OPEN_PHASE, i)
                order.phase = CLOSE_PHASE
            t_close = tape.close_time(i)
            return (t_close, CLOSE_PHASE, i) if t_close <= now else None
        return None

    def _schedule(self, order: VenueOrder, tape: Tape, *, bump: bool = True) -> None:
        """Remember when the order next needs looking at (the open of its next bar, or the
        close of a bar it waits on)."""
        if bump:
            order.version += 1
        if order.bar >= len(tape):
            wake = NEVER
        elif order.phase == CLOSE_PHASE:
            wake = tape.close_time(order.bar)
        else:
            wake = int(tape.ts[order.bar])
        self._seq += 1
        heapq.heappush(self._wake, (wake, order.id, order.version, self._seq))

    def _event(self, order: VenueOrder, i: int, phase: int) -> None:
        tape = self.tape(order.symbol)
        action = M.act(order, tape, i, phase)
        ts = M.fill_time(tape, i, phase)
        if action.triggered:
            order.triggered = True
            order.working_time = ts
            order.update_time = ts
            if action.becomes is not None:
                order.kind = action.becomes
            if order.time_in_force in ("IOC", "FOK"):
                order.first_bar = i
        if action.fill:
            self._fill(order, tape, i, action, ts)
        if order.is_open:
            order.bar, order.phase = i + 1, OPEN_PHASE
            if order.first_bar >= 0 and order.bar > order.first_bar:
                self._finish(order, OrderStatus.EXPIRED, ts)

    def _fill_now(self, order: VenueOrder, tape: Tape, i: int, now: int) -> None:
        """Immediate fill timing: a market order at the reference price, when booked."""
        ref = tape.ref(now)[1]
        self._fill(order, tape, i, M.Action(fill=True, ref=ref, slips=True), now)
        if order.is_open:
            order.bar = max(order.bar, i + 1)

    def _fill(self, order: VenueOrder, tape: Tape, i: int, action: M.Action, ts: int) -> None:
        rate = self.maker_rate if action.maker else self.taker_rate
        trade = ledger.book_fill(self.book, order, tape, i, action, ts, rate,
                                 self.filters(order.symbol))
        if trade is not None:
            for hook in self.on_fill:
                hook(trade)

    def _finish(self, order: VenueOrder, status: OrderStatus, ts: int) -> None:
        ledger.finish(self.book, order, status, ts)

    # --- the in-process API ----------------------------------------------------------------

    def advance(self, ms: int) -> int:
        """Move the (manual or replay) clock forward and settle; returns the new time."""
        with self.lock:
            now = self.clock.advance(ms)
            self.settle(now)
            return now

    def set_time(self, ms: int) -> int:
        with self.lock:
            self.clock.set(ms)
            now = self.clock.now_ms()
            self.settle(now)
            return now

    def balances(self, account: Account | str) -> dict[str, tuple[Decimal, Decimal]]:
        with self.lock:
            self.settle()
            return self._account(account).snapshot()

    def trades(self, account: Account | str, symbol: str | None = None) -> list[VenueTrade]:
        with self.lock:
            self.settle()
            return [t for t in self.book.all_trades(self._account(account))
                    if symbol is None or t.symbol == symbol]

    def orders(self, account: Account | str, symbol: str | None = None) -> list[VenueOrder]:
        with self.lock:
            self.settle()
            acct = self._account(account)
            return [o for o in self.book.orders.values()
                    if o.account is acct and (symbol is None or o.symbol == symbol)]

    def _account(self, account: Account | str) -> Account:
        return account if isinstance(account, Account) else self.accounts.by_name(account)
