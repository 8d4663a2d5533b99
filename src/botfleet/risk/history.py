"""The limits over time read history, not the order: turn equity points and closed trades into
the few numbers (`book.Performance`) the pre-trade check compares with the limits.

Done once per cycle by the runtime, so a check never walks a trade list. Equity includes open
positions at their last price, so the daily loss is realised plus unrealised. Days are UTC
days; the day's starting equity is the last point at or before 00:00 UTC (or, for a bot that
started today, its first point of the day).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from botfleet.orders import Reason, Trade
from botfleet.risk.book import Performance
from botfleet.risk.decision import RiskInputError

DAY_MS = 86_400_000
# exits that count as a stop-out for `cooldown_after_stop`
STOP_REASONS = frozenset({Reason.STOP_LOSS, Reason.TRAILING_STOP, Reason.LIQUIDATION})


def day_start_ms(now_ms: int) -> int:
    return now_ms - now_ms % DAY_MS


def performance(equity: Sequence[tuple[int, Decimal]], trades: Iterable[Trade],
                now_ms: int) -> Performance:
    """`equity`: (ms, equity in quote currency) points in time order, the last one now;
    `trades`: closed round trips (any order)."""
    prev_ts = None
    peak = None
    start = None
    midnight = day_start_ms(now_ms)
    for i, (ts, value) in enumerate(equity):
        if prev_ts is not None and ts < prev_ts:
            raise RiskInputError(f"equity point {i} (ts {ts}) is older than the one before it "
                                 f"({prev_ts}); points must be in time order")
        if not isinstance(value, Decimal):
            raise RiskInputError(f"equity point {i} (ts {ts}): value must be a Decimal, got "
                                 f"{type(value).__name__}")
        prev_ts = ts
        peak = value if peak is None or value > peak else peak
        if ts <= midnight or start is None:
            start = value
    now = equity[-1][1] if len(equity) else None
    streak = 0
    last_stop: dict[str, int] = {}
    for t in sorted(trades, key=lambda t: t.exit_ms):
        streak = streak + 1 if t.pnl < 0 else 0
        if t.exit_reason in STOP_REASONS:
            last_stop[t.symbol] = max(t.exit_ms, last_stop.get(t.symbol, t.exit_ms))
    return Performance(now, start, peak, streak, last_stop)


def combined_performance(curves: Sequence[Sequence[tuple[int, Decimal]]],
                         trades: Iterable[Trade], now_ms: int) -> Performance:
    """An exchange's or the fleet's performance from its bots' equity curves and trades.

    The day's start is the sum of each bot's own day start, so a bot that joins at noon adds
    its capital to both ends of the day rather than showing as a gain; gains of one bot offset
    losses of another (the loss limit is on the aggregate). The peak is that of the summed
    curve (`combined_equity`), not the sum of peaks reached at different times."""
    parts = [performance(c, (), now_ms) for c in curves if len(c)]
    mine = performance(combined_equity(curves), trades, now_ms)
    if not parts:
        return mine
    return Performance(sum((p.equity for p in parts), Decimal(0)),
                       sum((p.day_start_equity for p in parts), Decimal(0)), mine.peak_equity,
                       mine.losing_streak, mine.last_stop_ms)


def combined_equity(curves: Iterable[Sequence[tuple[int, Decimal]]]
                    ) -> list[tuple[int, Decimal]]:
    """The bots' curves added at every time any of them has a point, each bot at its latest
    point so far (a bot enters the sum at its first)."""
    events: list[tuple[int, int, Decimal]] = []
    for k, curve in enumerate(curves):
        events.extend((ts, k, value) for ts, value in curve)
    events.sort(key=lambda e: (e[0], e[1]))
    latest: dict[int, Decimal] = {}
    out: list[tuple[int, Decimal]] = []
    for ts, k, value in events:
        latest[k] = value
        total = sum(latest.values(), Decimal(0))
        if out and out[-1][0] == ts:
            out[-1] = (ts, total)
        else:
            out.append((ts, total))
    return out
