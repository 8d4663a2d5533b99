"""Recording helpers called at the points where things happen (executor, broker, feed, budget,
reconciliation, kill switch).

They take plain values or duck-typed records (an order record's `symbol`, `side`, `status`),
so `obs/` stays on the ground floor and imports nothing of the layers that call it. Each helper
is a few dictionary look-ups and a lock (prometheus-client's cost); none raises: a failure is
logged once by `obs.metrics` and trading goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from contextlib import contextmanager

from botfleet.obs import metrics as m


def _word(value) -> str:
    """An enum's lower-case name (`Side.BUY` -> "buy"), a string as it is."""
    name = getattr(value, "name", None)
    return (name if isinstance(name, str) else str(value)).lower()


@contextmanager
def timed_request(exchange: str, method: str):
    """Time one exchange request; an exception counts as an error of its class, and is
    re-raised untouched."""
    t0 = time.perf_counter()
    try:
        yield
    except BaseException as exc:
        m.inc(m.REQUEST_ERRORS, exchange, type(exc).__name__)
        raise
    finally:
        m.observe(m.REQUEST_SECONDS, time.perf_counter() - t0, exchange, method)


def order_status(bot: str, exchange: str, rec, status=None) -> None:
    """Count an order reaching `status` (default: the record's own)."""
    m.inc(m.ORDERS, bot, exchange, getattr(rec, "symbol", "?"), _word(getattr(rec, "side", "?")),
          _word(status if status is not None else getattr(rec, "status", "?")))


def fill_recorded(bot: str, exchange: str, fill) -> None:
    """A new fill in the ledger: count it, its notional and its fee."""
    side = _word(fill.side)
    m.inc(m.FILLS, bot, exchange, fill.symbol, side)
    try:
        notional = float(fill.amount * fill.price)
        fee = float(fill.fee or 0)
    except (TypeError, ValueError, ArithmeticError) as exc:
        m.metric_failed(m.FILLED_NOTIONAL, exc)
        return
    m.inc(m.FILLED_NOTIONAL, bot, exchange, fill.symbol, side, amount=notional)
    if fee > 0:  # a counter only grows; rebates (negative fees) are not fees paid
        m.inc(m.FEES, bot, exchange, fill.symbol, fill.fee_currency or "?", amount=fee)


def budget_used(exchange: str, used: int, allowed: int) -> None:
    m.set_gauge(m.RATE_BUDGET_USED, used / allowed if allowed > 0 else 0.0, exchange)


def data_lag(exchange: str, pair: str, timeframe: str, lag_s: float) -> None:
    m.set_gauge(m.DATA_LAG, max(0.0, lag_s), exchange, pair, timeframe)


MISMATCH_TYPES = (("position", "position"), ("balance", "balance"), ("order", "order"),
                  ("unknown", "unknown_order"))


def mismatch_type(text: str) -> str:
    """Reconciliation's mismatch messages start with what disagreed ("order bf…: …",
    "position BTC/USDT: …", "balance USDT: …", "unknown order …", "3 trade(s) on …")."""
    head = text.lstrip().lower()
    for prefix, kind in MISMATCH_TYPES:
        if head.startswith(prefix):
            return kind
    return "trade" if "trade" in head.split(":", 1)[0] else "other"


def reconciled(report) -> None:
    """A reconciliation's mismatches by type, and whether the bot is halted by one."""
    for text in report.mismatches:
        m.inc(m.RECONCILE_MISMATCHES, report.bot, mismatch_type(text))
    m.set_gauge(m.RECONCILE_HALTED, 1.0 if report.halted else 0.0, report.bot)


_kill_seen: set[tuple[str, str, str]] = set()
_kill_lock = threading.Lock()


def kill_switches(states: Iterable, now_ms: int) -> None:
    """The kill switches in force now: 1 for each; switches no longer in force drop to 0 (kept,
    so an alert resolves instead of its series vanishing)."""
    try:
        live = {(s.scope, s.target or "*", s.mode) for s in states if s.in_force(now_ms)}
    except Exception as exc:  # noqa: BLE001 - metrics never stop trading
        m.metric_failed(m.KILL_SWITCH_STATE, exc)
        return
    with _kill_lock:
        for labels in _kill_seen - live:
            m.set_gauge(m.KILL_SWITCH_STATE, 0.0, *labels)
        for labels in live:
            m.set_gauge(m.KILL_SWITCH_STATE, 1.0, *labels)
        _kill_seen.clear()
        _kill_seen.update(live)


BREAKER_VALUES = {"closed": 0.0, "half_open": 0.5, "open": 1.0}


def breaker_state(level: str, target: str, state: str) -> None:
    m.set_gauge(m.BREAKER_STATE, BREAKER_VALUES.get(state, 1.0), level, target or "*")
