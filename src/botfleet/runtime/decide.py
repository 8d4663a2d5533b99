"""What a bot wants to do after a close: pure, so it is fast, testable and the same in every
process. The rules are the backtest kernel's (`sim.kernel._asset_signals`, docs/backtesting.md):

- an exit signal beats an entry of the same direction on the same bar; the time limit exits
  a position held that many bars (the entry bar counts);
- an entry while flat waits out the cooldown (bars after the last exit), adds to a position
  only below `max_entries`, and is never sent while an earlier entry is still working; a new
  entry the other way (or a reversal) replaces a resting limit/stop entry;
- entries are the fill model's `entry_order` (market, limit, stop, stop-limit; `entries`),
  priced from the signal bar's close and sized at their own price; an exit signal while flat
  cancels a resting entry of its direction, an exit of a position cancels a resting add
  (the kernel's `place_exit`); expiry after `expire` bars is `entries.expire_working`'s;
- a short entry needs a market that allows shorts (spot does not);
- protection of an open position is a resting stop order at the tighter of the stop-loss and
  the armed trailing stop, moved only towards the price (`protection`).

Where live cannot do what the backtest does, it says so here: take-profit steps are decided at
the close of a bar that traded through their level and sent as market orders (a spot account
cannot rest a take-profit beside the stop: each sell locks the whole position, and the
simulator, like Binance spot without order lists, has no OCO); the backtest fills them at the
level inside the bar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from botfleet.data.candles import timeframe_ms
from botfleet.execution.broker import Market
from botfleet.orders import Order, OrderType, Position, Reason, Side
from botfleet.runtime.entries import entry_price, is_entry, resting_entries
from botfleet.runtime.sizing import Size, entry_notional, size_entry
from botfleet.runtime.timing import candle_open_before

ZERO = Decimal(0)


def dec(x: float) -> Decimal:
    """A candle's float as the Decimal it prints as (never the binary expansion)."""
    return Decimal(repr(float(x)))


@dataclass(frozen=True)
class Intent:
    """One order the bot wants: `key` is its intent key within the cycle (client ids derive
    from it), `cancel` the working orders to cancel first."""

    key: str
    order: Order
    note: str = ""
    cancel: tuple[str, ...] = ()


@dataclass
class PairView:
    """One pair at the close: candles, signals, position, its open trade and working orders."""

    symbol: str
    candles: np.ndarray
    signal: dict
    position: Position
    price: Decimal  # what a market order sent now is valued at (the forming bar's open)
    rules: Market
    working: list[Order] = field(default_factory=list)
    entry_ms: int | None = None  # first fill of the open trade
    entries: int = 0  # orders that added to the open trade
    tp_taken: int = 0  # take-profit steps done in the open trade
    peak: Decimal = ZERO  # the largest |position| of the open trade
    last_exit_ms: int | None = None

    @property
    def close(self) -> Decimal:
        return dec(self.candles["close"][-1])


@dataclass
class Decisions:
    intents: list[Intent] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cancels: list[tuple[str, str]] = field(default_factory=list)  # (client id, why): entries


def _order(symbol: str, side: Side, amount: Decimal, reason: Reason, *, type=OrderType.MARKET,
           stop: Decimal | None = None, reduce_only: bool = False, ts: int = 0,
           price: Decimal | None = None) -> Order:
    return Order("", symbol, side, type, amount, price, stop, reduce_only, reason, ts)


def _protective(pair: PairView) -> list[Order]:
    """The resting stops that protect the position (a stop entry is not one of them)."""
    return [o for o in pair.working if o.reduce_only and o.type in (OrderType.STOP,
                                                                    OrderType.STOP_LIMIT)]


def _stops_of(pair: PairView, d: int = 0) -> tuple[str, ...]:
    """The protective stops, and with `d` the resting adds in the position's direction that
    an exit voids (the kernel's `place_exit`)."""
    adds = [o for o in resting_entries(pair.working) if d and o.side == Side(d)]
    return tuple(o.client_id for o in _protective(pair) + adds)


def _atr(candles: np.ndarray, period: int) -> np.ndarray:
    import talib

    return talib.ATR(candles["high"].astype(np.float64), candles["low"].astype(np.float64),
                     candles["close"].astype(np.float64), timeperiod=period)


def _signal_bar_atr(candles: np.ndarray, period: int, entry_bar_ms: int) -> float:
    """The ATR of the bar before the entry bar (the signal bar, whose close the backtest sized
    the stop at); the newest when the window no longer reaches back to it."""
    atr = _atr(candles, period)
    before = candles["ts"] < entry_bar_ms
    return float(atr[before][-1] if before.any() else atr[-1])


def _bars_held(pair: PairView, candle_ms: int, timeframe: str) -> int:
    opened = candle_open_before(pair.entry_ms, timeframe)
    return (candle_ms - opened) // timeframe_ms(timeframe) + 1


def decide(plan, pairs: list[PairView], *, candle_ms: int, equity: Decimal, cash: Decimal,
           kelly: Decimal | None = None) -> Decisions:
    """The intents of one cycle (exits first, then entries), before protection."""
    strategy, stops, sizing = plan.strategy, plan.strategy.stops, plan.sizing
    tf = plan.timeframe
    out = Decisions()
    shorts = bool(plan.fills.shorts)
    for pair in pairs:
        sig, pos = pair.signal, pair.position
        if not sig.get("ready", True):
            out.notes.append(f"{pair.symbol}: warming up ({len(pair.candles)} candles)")
            continue
        el = sig["entry_long"] and not sig["exit_long"]
        es = sig["entry_short"] and not sig["exit_short"]
        d = (pos.amount > 0) - (pos.amount < 0)
        held = abs(pos.amount)
        exiting = False
        if d != 0:
            exit_sig = sig["exit_long"] if d > 0 else sig["exit_short"]
            reason = None
            if exit_sig:
                reason = Reason.SIGNAL
            elif stops.time_limit_ms and pair.entry_ms is not None:
                limit = -(-stops.time_limit_ms // timeframe_ms(tf))
                if _bars_held(pair, candle_ms, tf) >= limit:
                    reason = Reason.TIME_LIMIT
            if reason is None:
                step = _take_profit(stops, pair, d)
                if step is not None:
                    amount, last = step
                    cancel = _stops_of(pair)
                    out.intents.append(Intent(
                        f"tp{pair.tp_taken + 1}:{pair.symbol}",
                        _order(pair.symbol, Side(-d), held if last else min(amount, held),
                               Reason.TAKE_PROFIT, reduce_only=True, ts=candle_ms),
                        f"take-profit step {pair.tp_taken + 1} reached", cancel))
                    exiting = last
            else:
                out.intents.append(Intent(f"exit:{pair.symbol}", _order(
                    pair.symbol, Side(-d), held, reason, reduce_only=True, ts=candle_ms),
                    f"{reason.label} exit", _stops_of(pair, d)))
                exiting = True
        dropped = {c for i in out.intents if i.order.symbol == pair.symbol for c in i.cancel}
        if d == 0:
            for o in resting_entries(pair.working):
                if sig["exit_long"] if o.side == Side.BUY else sig["exit_short"]:
                    why = (f"{pair.symbol}: an exit signal cancels the working "
                           f"{o.type.name.lower()} entry")
                    out.cancels.append((o.client_id, why))
                    dropped.add(o.client_id)
        reverse = (es if d > 0 else el) if d != 0 else False
        adds = (el if d > 0 else es) if d != 0 else False
        if d == 0:
            if el == es:
                continue
            direction = 1 if el else -1
        elif reverse:
            direction = -d
        elif adds and not exiting and pair.entries < sizing.max_entries:
            direction = d
        else:
            continue
        if direction < 0 and not shorts:
            out.notes.append(f"{pair.symbol}: short entry signal ignored (shorts are not "
                             "allowed on this market)")
            continue
        entries = [o for o in pair.working if is_entry(o) and o.client_id not in dropped]
        replaces = tuple(o.client_id for o in entries)
        if any(o.type == OrderType.MARKET for o in entries) or (entries and (
                d == direction or (d == 0 and any(o.side == Side(direction)
                                                  for o in entries)))):
            out.notes.append(f"{pair.symbol}: entry signal ignored: an entry is still working")
            continue
        if d == 0 and pair.last_exit_ms is not None and strategy.cooldown:
            since = candle_open_before(pair.last_exit_ms, tf)
            if candle_ms < since + strategy.cooldown * timeframe_ms(tf):
                out.notes.append(f"{pair.symbol}: entry signal in the cooldown after the exit "
                                 f"at {pair.last_exit_ms}")
                continue
        if d != 0 and direction != d and not exiting:
            out.intents.append(Intent(f"exit:{pair.symbol}", _order(
                pair.symbol, Side(-d), held, Reason.REVERSE, reduce_only=True, ts=candle_ms),
                "reverse", _stops_of(pair, d)))
        ep = entry_price(plan.fills, pair.close, pair.price, direction, pair.rules.tick)
        size = _size(plan, pair, equity, cash, kelly, ep.ref)
        if size.refused:
            out.notes.append(f"{pair.symbol}: entry not sent: {size.refused}")
            continue
        at = "" if ep.type == OrderType.MARKET else \
            f" {ep.type.name.lower()} at {ep.price if ep.stop is None else ep.stop}"
        out.intents.append(Intent(f"entry:{pair.symbol}", _order(
            pair.symbol, Side(direction), size.amount, Reason.SIGNAL, ts=candle_ms,
            type=ep.type, price=ep.price, stop=ep.stop),
            f"entry {'long' if direction > 0 else 'short'}{at}, value {size.notional:.2f}",
            replaces))
    return out


def _stop_fraction(stop_loss, pair: PairView) -> Decimal | None:
    """The stop-loss distance as a fraction of the close (risk_per_trade sizes by it)."""
    if stop_loss is None:
        return None
    if stop_loss.percent is not None:
        return stop_loss.percent
    atr = _atr(pair.candles, stop_loss.atr_period)[-1]
    if not np.isfinite(atr):
        return None
    return stop_loss.atr_multiple * dec(atr) / pair.close


def _size(plan, pair: PairView, equity: Decimal, cash: Decimal, kelly: Decimal | None,
          price: Decimal) -> Size:
    from botfleet.runtime.sizing import volatility_fraction
    from botfleet.sim.metrics import periods_per_year

    sizing = plan.sizing
    stop = vol = None
    if sizing.method == "risk_per_trade":
        stop = _stop_fraction(plan.strategy.stops.stop_loss, pair)
        if stop is None:
            return Size(ZERO, ZERO, "risk_per_trade: no stop distance yet (ATR warming up)")
    if sizing.method == "volatility_target":
        vol = volatility_fraction(sizing, pair.candles["close"], periods_per_year(plan.timeframe))
    notional, base = entry_notional(sizing, equity, stop_fraction=stop, vol_fraction=vol,
                                    kelly=kelly)
    return size_entry(notional, base, price, cash, plan.taker_fee, pair.rules)


def protection(plan, pair: PairView) -> tuple[Intent | None, tuple[str, ...]]:
    """(the stop order to place, working stops to cancel) for the pair's position now.

    The level is the tighter of the stop-loss (from the average entry) and the trailing stop
    (from the extreme since the entry bar, once armed), on the tick. A working stop is
    replaced only by a tighter one or when the position's size changed: a stop never moves
    away from the price."""
    stops = plan.strategy.stops
    working = _protective(pair)
    pos = pair.position
    if pos.amount == 0:
        return None, tuple(o.client_id for o in working)  # orphans of a closed position
    if stops.stop_loss is None and stops.trailing is None:
        return None, ()
    d = 1 if pos.amount > 0 else -1
    found = _stop_level(stops, pair, d, plan.timeframe)
    if found is None:
        return None, ()
    level, reason = found
    level = pair.rules.price(level)
    held = abs(pos.amount)
    same = [o for o in working if o.amount == held]
    if len(working) == 1 and same:
        current = same[0].stop_price
        if current is not None and d * (level - current) <= 0:
            return None, ()  # the working stop is as tight or tighter: keep it
    if level <= 0 or (d > 0 and level >= pair.price) or (d < 0 and level <= pair.price):
        # already through: a stop there would fill at once; exit at market instead
        return Intent(f"stopout:{pair.symbol}", _order(pair.symbol, Side(-d), held,
                      reason, reduce_only=True), f"price already past the stop "
                      f"{level}", tuple(o.client_id for o in working)), ()
    return Intent(f"stop:{pair.symbol}", _order(
        pair.symbol, Side(-d), held, reason, type=OrderType.STOP, stop=level,
        reduce_only=True), f"protective {reason.label} at {level}",
        tuple(o.client_id for o in working)), ()


def _stop_level(stops, pair: PairView, d: int, timeframe: str
                ) -> tuple[Decimal, Reason] | None:
    """The kernel's `set_levels` + `update_trail` + `effective_stop` over the window: the
    ATR of a stop is the signal bar's (the bar before the entry's), the trail's extreme runs
    from the entry bar on."""
    avg = pair.position.entry_price
    candles = pair.candles
    since = candle_open_before(pair.entry_ms, timeframe) if pair.entry_ms else \
        int(candles["ts"][-1])
    held_bars = candles[candles["ts"] >= since]
    levels: list[tuple[Decimal, Reason]] = []
    sl = stops.stop_loss
    if sl is not None:
        if sl.percent is not None:
            levels.append((avg * (1 - d * sl.percent), Reason.STOP_LOSS))
        else:
            value = _signal_bar_atr(candles, sl.atr_period, since)
            if np.isfinite(value):
                levels.append((avg - d * sl.atr_multiple * dec(value), Reason.STOP_LOSS))
    tr = stops.trailing
    if tr is not None and len(held_bars):
        peak = max(avg, dec(held_bars["high"].max())) if d > 0 else min(
            avg, dec(held_bars["low"].min()))
        armed = tr.activate is None or d * (peak - avg * (1 + d * tr.activate)) >= 0
        if armed:
            dist = tr.distance
            if dist.percent is not None:
                levels.append((peak * (1 - d * dist.percent), Reason.TRAILING_STOP))
            else:
                atr = _signal_bar_atr(candles, dist.atr_period, since)
                if np.isfinite(atr):
                    levels.append((peak - d * dist.atr_multiple * dec(atr),
                                   Reason.TRAILING_STOP))
    if not levels:
        return None
    # the tighter one; at a tie the stop-loss (the kernel's effective_stop)
    return max(levels, key=lambda x: (x[0] * d, x[1] == Reason.STOP_LOSS))


def _take_profit(stops, pair: PairView, d: int) -> tuple[Decimal, bool] | None:
    """(amount, is the last step) of the next take-profit step the closed bar traded
    through, or None."""
    ladder = stops.take_profit
    k = pair.tp_taken
    if not ladder or k >= len(ladder) or pair.position.entry_price <= 0:
        return None
    step = ladder[k]
    level = pair.position.entry_price * (1 + d * step.at)
    bar = pair.candles[-1]
    through = dec(bar["high"]) > level if d > 0 else dec(bar["low"]) < level
    if not through:
        return None
    closed = sum((s.close for s in ladder[: k + 1]), ZERO)
    last = k == len(ladder) - 1 or closed >= 1
    return pair.peak * step.close, last
