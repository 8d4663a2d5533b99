"""The fleet's Prometheus metrics: every series botfleet exports, on one registry.

One module holds every metric so the names, help texts and label sets are reviewed in one
place, Grafana dashboards and alert rules can be checked against it (tests do), and no two
modules register the same name twice. Labels are bounded sets (bot, exchange, pair, side,
status, type, ...): never an order id or a correlation id, which would grow the series without
limit. Money is exported as floats for charts and alerts only; nothing reads a metric back into
trading.

Recording goes through the small helpers below (`inc`, `observe`, `set_gauge`), which never
raise: a metric error is logged once per metric and otherwise ignored, since a dashboard must
never stop a trade. The HTTP endpoint lives in `obs.http`.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

log = logging.getLogger(__name__)
# `*_created` samples (one per labelled counter and histogram) would add a third to every
# scrape and nothing the dashboards or alerts read
disable_created_metrics()

REGISTRY = CollectorRegistry(auto_describe=True)

# Cycle durations run from milliseconds (a quiet close) to the runner's timeout (60 s).
_CYCLE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# --- orders, fills, fees --------------------------------------------------------------------
ORDERS = Counter("botfleet_orders_total",
                 "Orders by what happened to them (status: placed, filled, canceled, rejected, "
                 "expired, unknown)", ["bot", "exchange", "pair", "side", "status"],
                 registry=REGISTRY)
FILLS = Counter("botfleet_fills_total", "Fills (executions) recorded in the ledger",
                ["bot", "exchange", "pair", "side"], registry=REGISTRY)
FILLED_NOTIONAL = Counter("botfleet_filled_notional_total",
                          "Quote value of the fills (price x amount)",
                          ["bot", "exchange", "pair", "side"], registry=REGISTRY)
FEES = Counter("botfleet_fees_total", "Fees paid, in the fee's currency",
               ["bot", "exchange", "pair", "currency"], registry=REGISTRY)

# --- per-bot book, set at the end of each cycle from what the cycle knows ---------------------
EQUITY = Gauge("botfleet_equity", "The bot's equity at its last cycle (quote currency)",
               ["bot"], registry=REGISTRY)
PEAK_EQUITY = Gauge("botfleet_equity_peak", "The bot's highest equity so far", ["bot"],
                    registry=REGISTRY)
DRAWDOWN = Gauge("botfleet_drawdown_ratio",
                 "The bot's drawdown from its peak equity (0.1 = 10 %)", ["bot"],
                 registry=REGISTRY)
REALIZED_PNL = Gauge("botfleet_realized_pnl", "The bot's realised PnL since it started",
                     ["bot"], registry=REGISTRY)
UNREALIZED_PNL = Gauge("botfleet_unrealized_pnl",
                       "The bot's open positions valued at the last close less their cost",
                       ["bot"], registry=REGISTRY)
DAILY_PNL = Gauge("botfleet_daily_pnl",
                  "The bot's PnL since the start of the UTC day (realised + unrealised)",
                  ["bot"], registry=REGISTRY)
DAILY_LOSS = Gauge("botfleet_daily_loss_ratio",
                   "The bot's loss today as a fraction of its capital (0 when up)", ["bot"],
                   registry=REGISTRY)
RISK_LIMIT = Gauge("botfleet_risk_limit_ratio",
                   "The bot's declared limits as fractions (limit: max_drawdown, max_daily_loss)",
                   ["bot", "limit"], registry=REGISTRY)
OPEN_POSITIONS = Gauge("botfleet_open_positions", "Pairs in which the bot holds a position",
                       ["bot"], registry=REGISTRY)
WORKING_ORDERS = Gauge("botfleet_working_orders", "The bot's orders resting on the exchange",
                       ["bot"], registry=REGISTRY)

# --- cycles and decisions ---------------------------------------------------------------------
CYCLE_SECONDS = Histogram("botfleet_cycle_seconds", "Wall time of a bot's cycle", ["bot"],
                          buckets=_CYCLE_BUCKETS, registry=REGISTRY)
CYCLES = Counter("botfleet_cycles_total",
                 "Cycles by outcome (ok, no_data, error, timeout, interrupted, skipped, paused)",
                 ["bot", "outcome"], registry=REGISTRY)
LAST_CYCLE = Gauge("botfleet_last_cycle_timestamp_seconds",
                   "Unix time a bot's last cycle ended (any outcome)", ["bot"],
                   registry=REGISTRY)
CYCLE_INTERVAL = Gauge("botfleet_cycle_interval_seconds",
                       "How often the bot's cycle is due (its timeframe): what 'bot down' "
                       "alerts measure the last cycle's age against", ["bot"],
                       registry=REGISTRY)
DECISION_SECONDS = Histogram("botfleet_decision_seconds",
                             "Time from the candles being in hand to the bot's orders decided "
                             "(signals, decisions, sizing, risk)", ["bot"],
                             buckets=_FAST_BUCKETS, registry=REGISTRY)

# --- exchange requests ------------------------------------------------------------------------
REQUEST_SECONDS = Histogram("botfleet_exchange_request_seconds",
                            "Latency of requests to an exchange (method: the ccxt call)",
                            ["exchange", "method"], buckets=_REQUEST_BUCKETS, registry=REGISTRY)
REQUEST_ERRORS = Counter("botfleet_exchange_errors_total",
                         "Failed exchange requests by error type (the ccxt exception class)",
                         ["exchange", "type"], registry=REGISTRY)
RATE_BUDGET_USED = Gauge("botfleet_rate_limit_used_ratio",
                         "Share of the exchange's request-weight budget used in the current "
                         "window (1 = exhausted)", ["exchange"], registry=REGISTRY)

# --- risk -------------------------------------------------------------------------------------
BREAKER_STATE = Gauge("botfleet_circuit_breaker_open",
                      "Circuit breaker state: 0 closed, 0.5 half open, 1 open",
                      ["level", "target"], registry=REGISTRY)
KILL_SWITCH_STATE = Gauge("botfleet_kill_switch_engaged",
                          "1 while a kill switch is in force for the scope and target",
                          ["scope", "target", "mode"], registry=REGISTRY)
RISK_REFUSALS = Counter("botfleet_risk_refusals_total", "Order intents the risk engine refused",
                        ["bot", "type"], registry=REGISTRY)

# --- data, reconciliation, notifications --------------------------------------------------------
DATA_LAG = Gauge("botfleet_data_lag_seconds",
                 "How far the newest closed candle read lags the one that should have closed "
                 "by the exchange's clock (0 = on time; one timeframe per missing candle)",
                 ["exchange", "pair", "timeframe"], registry=REGISTRY)
RECONCILE_MISMATCHES = Counter("botfleet_reconciliation_mismatches_total",
                               "Differences reconciliation found between ledger and exchange",
                               ["bot", "type"], registry=REGISTRY)
RECONCILE_HALTED = Gauge("botfleet_reconciliation_halted",
                         "1 while the bot is halted by a reconciliation mismatch", ["bot"],
                         registry=REGISTRY)
NOTIFICATIONS_SENT = Counter("botfleet_notifications_sent_total",
                             "Notifications delivered, by channel", ["channel"],
                             registry=REGISTRY)
NOTIFICATION_FAILURES = Counter("botfleet_notification_failures_total",
                                "Notifications a channel failed to deliver", ["channel"],
                                registry=REGISTRY)
METRIC_ERRORS = Counter("botfleet_metric_errors_total",
                        "Metric updates that failed (logged once per metric); trading went on",
                        ["metric"], registry=REGISTRY)

_warned: set[str] = set()
_warn_lock = threading.Lock()


def metric_failed(metric, exc: BaseException) -> None:
    name = getattr(metric, "_name", repr(metric))
    with contextlib.suppress(Exception):  # never raise from the error path either
        METRIC_ERRORS.labels(name).inc()
    with _warn_lock:
        first = name not in _warned
        _warned.add(name)
    if first:
        log.warning("metric %s not recorded (%s: %s); further errors of it are counted in "
                    "botfleet_metric_errors_total only", name, type(exc).__name__, exc)


_children: dict[tuple, object] = {}


def _child(metric, labels: tuple):
    """`metric.labels(*labels)`, remembered: prometheus-client's own look-up validates and
    locks on every call (~5 us); label sets are bounded, so the memo is too. A race only makes
    the same child twice (prometheus-client returns the one it holds)."""
    key = (metric, labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def inc(metric, *labels: str, amount: float = 1.0) -> None:
    """Add to a counter; never raises."""
    try:
        _child(metric, labels).inc(amount)
    except Exception as exc:  # noqa: BLE001 - metrics never stop trading
        metric_failed(metric, exc)


def observe(metric, value: float, *labels: str) -> None:
    """Record a histogram observation; never raises."""
    try:
        _child(metric, labels).observe(value)
    except Exception as exc:  # noqa: BLE001
        metric_failed(metric, exc)


def set_gauge(metric, value: float, *labels: str) -> None:
    """Set a gauge; never raises."""
    try:
        _child(metric, labels).set(value)
    except Exception as exc:  # noqa: BLE001
        metric_failed(metric, exc)


def metric_names() -> set[str]:
    """Every sample name the registry can export (with _total, _bucket, ... suffixes)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "counter":
            names.update({family.name + "_total", family.name + "_created"})
        elif family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count", "_created"))
    return names


def serve_http(port: int, host: str = "127.0.0.1", health=None):
    """Serve `/metrics` and `/health` (see `obs.http.MetricsServer`); returns the server."""
    from botfleet.obs.http import start_server
    return start_server(port, host=host, health=health)
