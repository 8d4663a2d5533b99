"""What a daily or weekly trading report says, gathered from the state database and the candle
store: per bot and for the fleet, PnL, equity and drawdown, closed trades, orders, fees, cycles;
the risk events; the candles missing from the bots' pairs.

Everything is read through the modules that write it (the ledger's queries, the risk store, the
candle store), and computed with their formulas: realised PnL is the ledger's position
arithmetic (`execution.positions.apply_fill`) replayed over the bot's fills up to each end of
the period, so the report's figure is the ledger's; trades are `runtime.trades.round_trips`, the
definition the risk limits use. Money stays `Decimal`; only ratios are floats.

Rendering lives in `periodic.py` (HTML, PDF, the message summary); the flow in `jobs.report`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import sqlalchemy as sa

from botfleet.execution.positions import ZERO, apply_fill, fee_in_quote, quote_currency
from botfleet.execution.records import utc
from botfleet.orders import Position, Trade

PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
TROUBLE = ("error", "timeout", "interrupted")  # cycle outcomes listed one by one
MAX_ERRORS = 20  # cycle errors listed per bot; the counts cover all of them
MAX_EVENTS = 100_000


def ms(dt: datetime) -> int:
    return round(utc(dt).timestamp() * 1000)


@dataclass(frozen=True)
class Window:
    """The period a report covers: [start_ms, end_ms), UTC."""

    period: str  # daily | weekly | custom
    start_ms: int
    end_ms: int

    @property
    def label(self) -> str:
        fmt = "%Y-%m-%d %H:%M"
        a = datetime.fromtimestamp(self.start_ms / 1000, UTC).strftime(fmt)
        b = datetime.fromtimestamp(self.end_ms / 1000, UTC).strftime(fmt)
        return f"{a} → {b} UTC"

    def contains(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms


def period_window(period: str, now: datetime | None = None) -> Window:
    """The `period` (daily: 24 h, weekly: 7 days) that ends at `now` (default: this minute)."""
    if period not in PERIODS:
        raise ValueError(f"report period must be one of {', '.join(PERIODS)}, not {period!r}")
    now = utc(now or datetime.now(UTC)).replace(second=0, microsecond=0)
    return Window(period, ms(now - PERIODS[period]), ms(now))


@dataclass
class OpenPosition:
    symbol: str
    amount: Decimal  # signed
    entry_price: Decimal
    price: Decimal | None  # the last close before the period's end, if the store has it
    unrealised: Decimal | None


@dataclass
class BotPeriod:
    name: str
    exchange: str
    mode: str
    quote: str
    realised: Decimal = ZERO  # net of quote fees, earned within the period
    open_positions: list[OpenPosition] = field(default_factory=list)
    equity: list[tuple[int, Decimal]] = field(default_factory=list)  # baseline + in period
    trades: list[Trade] = field(default_factory=list)  # closed within the period
    orders: Counter = field(default_factory=Counter)  # status -> orders created in period
    fills: int = 0
    fees: dict[str, Decimal] = field(default_factory=dict)  # currency ('' = quote) -> fees
    cycles: Counter = field(default_factory=Counter)  # outcome -> count
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (ms, outcome, error)

    @property
    def unrealised(self) -> Decimal | None:
        values = [p.unrealised for p in self.open_positions]
        return None if any(v is None for v in values) else sum(values, ZERO)

    @property
    def wins(self) -> int:
        return sum(1 for t in self.trades if t.pnl > 0)

    @property
    def fees_quote(self) -> Decimal:
        return self.fees.get("", ZERO)

    @property
    def active(self) -> bool:
        return bool(self.trades or self.orders or self.fills or self.cycles
                    or self.open_positions or len(self.equity) > 1)


@dataclass
class PairGaps:
    exchange: str
    symbol: str
    timeframe: str
    expected: int  # closed candles the period should hold
    missing: int
    ranges: list[tuple[int, int, int]] = field(default_factory=list)  # first, last, count
    note: str = ""


@dataclass
class RiskSummary:
    refusals: Counter = field(default_factory=Counter)  # (target, rule) -> count
    breaker_trips: list = field(default_factory=list)  # RiskEvent, state open
    breaker_other: list = field(default_factory=list)  # half_open / closed transitions
    kill_switches: list = field(default_factory=list)  # KillState engaged or released in it

    @property
    def empty(self) -> bool:
        return not (self.refusals or self.breaker_trips or self.breaker_other
                    or self.kill_switches)


@dataclass
class PeriodReport:
    fleet: str
    window: Window
    currency: str
    bots: list[BotPeriod]
    risk: RiskSummary
    gaps: list[PairGaps]
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return (not any(b.active for b in self.bots) and self.risk.empty
                and not any(g.missing for g in self.gaps))


def _realised(fills, end_ms: int) -> dict[str, Position]:
    """Each symbol's position after the fills before `end_ms`, by the ledger's formula."""
    pos: dict[str, Position] = {}
    for f in fills:
        if f.ts_ms >= end_ms:
            break
        p = pos.get(f.symbol) or Position(f.symbol, ZERO, ZERO)
        pos[f.symbol] = apply_fill(p, f.side, f.amount, f.price,
                                   fee_in_quote(f.symbol, f.fee, f.fee_currency))
    return pos


def _last_close(store, exchange: str, symbol: str, timeframe: str, end_ms: int):
    from botfleet.data.candles import timeframe_ms
    from botfleet.data.store.base import SeriesKey

    if store is None:
        return None
    step = timeframe_ms(timeframe)
    rows = store.read(SeriesKey(exchange, symbol, timeframe), end_ms - 50 * step, end_ms)
    rows = rows[rows["ts"] + step <= end_ms]
    return Decimal(repr(float(rows["close"][-1]))) if len(rows) else None


def _bot_period(ledger, reader, name: str, exchange: str, mode: str, window: Window,
                store, timeframe: str | None) -> BotPeriod:
    from botfleet.runtime.trades import round_trips

    fills, reasons = reader.fills(name)
    symbols = sorted({f.symbol for f in fills})
    quotes = {quote_currency(s) for s in symbols} - {None}
    bot = BotPeriod(name, exchange, mode, quotes.pop() if len(quotes) == 1 else "")
    before = _realised(fills, window.start_ms)
    after = _realised(fills, window.end_ms)
    bot.realised = (sum((p.realized_pnl for p in after.values()), ZERO)
                    - sum((p.realized_pnl for p in before.values()), ZERO))
    for p in after.values():
        if p.amount == 0:
            continue
        price = (_last_close(store, exchange, p.symbol, timeframe, window.end_ms)
                 if timeframe else None)
        bot.open_positions.append(OpenPosition(
            p.symbol, p.amount, p.entry_price, price,
            None if price is None else p.amount * (price - p.entry_price)))
    book = round_trips([f for f in fills if f.ts_ms < window.end_ms], reasons)
    bot.trades = sorted((t for t in book.closed if window.contains(t.exit_ms)),
                        key=lambda t: t.exit_ms)
    for f in fills:
        if window.contains(f.ts_ms):
            bot.fills += 1
            cur = "" if fee_in_quote(f.symbol, f.fee, f.fee_currency) == f.fee else \
                f.fee_currency
            bot.fees[cur] = bot.fees.get(cur, ZERO) + f.fee
    for o in ledger.orders(name):
        if window.contains(ms(o.created_at)):
            bot.orders[o.status.name.lower()] += 1
    bot.equity = _equity(ledger, name, window)
    return bot


def _equity(ledger, name: str, window: Window) -> list[tuple[int, Decimal]]:
    """The last point at or before the start (the period's opening equity), then the points
    within the period."""
    from botfleet.storage.trading import EquityPoint

    eq = EquityPoint.__table__
    start = datetime.fromtimestamp(window.start_ms / 1000, UTC)
    with ledger._read() as conn:
        bot_id = ledger._bot_id(conn, name)
        base = conn.execute(sa.select(eq.c.ts, eq.c.equity).where(
            eq.c.bot_id == bot_id, eq.c.ts <= start).order_by(eq.c.ts.desc()).limit(1)).first()
    points = [(ms(ts), v) for ts, v in ledger.equity(name, since=start)
              if ms(ts) < window.end_ms]
    if base is not None and (not points or points[0][0] != ms(base.ts)):
        points.insert(0, (ms(base.ts), Decimal(base.equity)))
    return points


def _cycles(engine, bots: dict[str, BotPeriod], window: Window) -> None:
    from botfleet.storage.db import transaction
    from botfleet.storage.trading import Bot, Cycle

    c, b = Cycle.__table__, Bot.__table__
    lo = datetime.fromtimestamp(window.start_ms / 1000, UTC)
    hi = datetime.fromtimestamp(window.end_ms / 1000, UTC)
    inside = (c.c.started_at >= lo) & (c.c.started_at < hi)
    with transaction(engine) as conn:
        counts = conn.execute(sa.select(b.c.name, c.c.outcome, sa.func.count()).join(b).where(
            inside).group_by(b.c.name, c.c.outcome)).all()
        trouble = conn.execute(sa.select(b.c.name, c.c.started_at, c.c.outcome, c.c.error)
                               .join(b).where(inside, c.c.outcome.in_(TROUBLE))
                               .order_by(c.c.started_at.desc())).all()
    for name, outcome, n in counts:
        if name in bots:
            bots[name].cycles[outcome or "unfinished"] += n
    for name, started, outcome, error in trouble:
        if name in bots and len(bots[name].errors) < MAX_ERRORS:
            bots[name].errors.append((ms(started), outcome, error or ""))


def _risk(engine, window: Window) -> RiskSummary:
    from botfleet.risk.store import RiskStore

    out = RiskSummary()
    store = RiskStore(engine, migrate=False)
    for e in reversed(store.events(since_ms=window.start_ms, limit=MAX_EVENTS)):
        if not window.contains(e.ts):
            continue
        if e.kind == "risk_refusal":
            out.refusals[(e.bot, e.rule or "?")] += 1
        elif e.kind == "circuit_breaker":
            (out.breaker_trips if e.state == "open" else out.breaker_other).append(e)
    for k in reversed(store.kill_history(limit=1000)):
        if window.contains(k.engaged_at_ms) or (k.released_at_ms is not None
                                                 and window.contains(k.released_at_ms)):
            out.kill_switches.append(k)
        elif k.engaged_at_ms < window.start_ms and (k.released_at_ms is None
                                                     or k.released_at_ms >= window.end_ms):
            out.kill_switches.append(k)  # held through the whole period
    return out


def pair_gaps(store, exchange: str, symbol: str, timeframe: str, window: Window) -> PairGaps:
    """The closed candles of the period absent from the store, as runs of missing opens."""
    from botfleet.data.candles import timeframe_ms
    from botfleet.data.store.base import SeriesKey

    out = PairGaps(exchange, symbol, timeframe, 0, 0)
    if timeframe.endswith("M"):
        out.note = "monthly candles are not checked for gaps"
        return out
    step = timeframe_ms(timeframe)
    first = -(-window.start_ms // step) * step
    last = (window.end_ms // step) * step - step  # the last candle closed by the end
    if last < first:
        out.note = "the period is shorter than one candle"
        return out
    expected = np.arange(first, last + 1, step, dtype=np.int64)
    out.expected = len(expected)
    have = store.read(SeriesKey(exchange, symbol, timeframe), first, last + 1)["ts"]
    missing = np.setdiff1d(expected, have.astype(np.int64), assume_unique=True)
    out.missing = len(missing)
    if len(missing):
        breaks = np.nonzero(np.diff(missing) != step)[0]
        starts = np.concatenate([[0], breaks + 1])
        ends = np.concatenate([breaks, [len(missing) - 1]])
        out.ranges = [(int(missing[a]), int(missing[b]), int(b - a + 1))
                      for a, b in zip(starts, ends, strict=True)]
        if not len(have):
            out.note = "no candle stored in the period"
    return out


def _open_candles(url: str, notes: list[str]):
    from botfleet.data.store.base import open_store

    try:
        return open_store(url)
    except Exception as exc:  # noqa: BLE001 - the report still shows the trading state
        notes.append(f"the candle store could not be opened ({type(exc).__name__}: {exc}); "
                     "data gaps and open positions' prices are not shown")
        return None


def gather(fleet, window: Window) -> PeriodReport:
    """The report's figures for `window` from the fleet's state database and candle store."""
    from botfleet.execution.ledger import Ledger
    from botfleet.runtime.books import StateReader
    from botfleet.storage.trading import Bot

    notes: list[str] = []
    store = _open_candles(fleet.storage.candles, notes)
    try:
        with Ledger(fleet.storage.state) as ledger:
            reader = StateReader(ledger.engine)
            with ledger._read() as conn:
                stored = {r.name: r for r in conn.execute(sa.select(Bot.__table__))}
            names = sorted(set(stored) | {b.name for b in fleet.enabled_bots()})
            bots: dict[str, BotPeriod] = {}
            for name in names:
                cfg = fleet.bots.get(name)
                row = stored.get(name)
                if row is None:  # configured, never ran: nothing stored to read
                    bots[name] = BotPeriod(name, cfg.exchange, cfg.mode, "")
                    continue
                bots[name] = _bot_period(ledger, reader, name, row.exchange, row.mode, window,
                                         store, cfg.timeframe if cfg else None)
            _cycles(ledger.engine, bots, window)
            risk = _risk(ledger.engine, window)
        gaps = []
        if store is not None:
            series = sorted({(b.exchange, p, b.timeframe) for b in fleet.enabled_bots()
                             for p in b.pairs})
            gaps = [pair_gaps(store, *key, window) for key in series]
    finally:
        if store is not None:
            store.close()
    currency = fleet.capital_currency or next((b.quote for b in bots.values() if b.quote), "")
    return PeriodReport(fleet.name, window, currency, list(bots.values()), risk, gaps, notes)
