"""A closed cycle's metrics: its duration and outcome, decision time, the bot's book (equity,
drawdown, PnL, positions), its declared loss limits and its breakers.

Everything comes from what the cycle already holds (the state it read and, when it sent
orders, re-read; the closes of its candles): no query is added to the hot path. Called once
from `CycleRun.close`; never raises (a metric is not worth a trade).
"""

from __future__ import annotations

import time
from decimal import Decimal

from botfleet.data.candles import timeframe_ms
from botfleet.obs import metrics as m
from botfleet.obs.instrument import breaker_state

ZERO = Decimal(0)


def cycle_closed(run) -> None:
    try:
        _record(run)
    except Exception as exc:  # noqa: BLE001 - metrics never stop trading
        m.metric_failed(m.CYCLES, exc)


def _record(run) -> None:
    bot, result = run.plan.name, run.result
    m.observe(m.CYCLE_SECONDS, max(0.0, result.finished - result.started), bot)
    m.inc(m.CYCLES, bot, result.outcome)
    m.set_gauge(m.LAST_CYCLE, time.time(), bot)
    tf = run.plan.timeframe
    m.set_gauge(m.CYCLE_INTERVAL, (31 * 86_400_000 if tf.endswith("M") else timeframe_ms(tf))
                / 1000, bot)
    if result.decision_s > 0:
        m.observe(m.DECISION_SECONDS, result.decision_s, bot)
    if run.guards is not None:
        for b in run.guards.items.values():
            s = b.snapshot
            breaker_state(s.level, s.target, s.state)
    for lv in run.plan.engine.levels:
        if lv.level != "bot":
            continue
        if lv.max_drawdown is not None:
            m.set_gauge(m.RISK_LIMIT, float(lv.max_drawdown), bot, "max_drawdown")
        if lv.max_daily_loss is not None and run.plan.capital > 0:
            m.set_gauge(m.RISK_LIMIT, float(lv.max_daily_loss.amount / run.plan.capital), bot,
                        "max_daily_loss")
    work = run.work
    state = getattr(work, "final_state", None) or getattr(work, "state", None)
    if state is None or not work.closes:
        return
    _book(bot, state, work.closes, run.plan.capital)


def _book(bot: str, state, closes, capital: Decimal) -> None:
    equity = state.equity(capital, closes)
    realized = state.realized
    peak = max(state.peak_equity, equity) if state.peak_equity is not None else equity
    start = state.day_start_equity if state.day_start_equity is not None else equity
    daily = equity - start
    m.set_gauge(m.EQUITY, float(equity), bot)
    m.set_gauge(m.PEAK_EQUITY, float(peak), bot)
    m.set_gauge(m.DRAWDOWN, float((peak - equity) / peak) if peak > 0 else 0.0, bot)
    m.set_gauge(m.REALIZED_PNL, float(realized), bot)
    m.set_gauge(m.UNREALIZED_PNL, float(equity - capital - realized), bot)
    m.set_gauge(m.DAILY_PNL, float(daily), bot)
    m.set_gauge(m.DAILY_LOSS, float(-daily / capital) if daily < 0 and capital > 0 else 0.0,
                bot)
    m.set_gauge(m.OPEN_POSITIONS, len(state.held()), bot)
    m.set_gauge(m.WORKING_ORDERS, len(state.working), bot)
