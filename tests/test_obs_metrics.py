"""Metrics from a real cycle: a bot trades on the simulator through the real ccxt client, then
`/metrics` is scraped over HTTP and parsed with prometheus-client's parser; the orders, fills,
fees, cycle, latency and book series carry the right labels and agree with the ledger.

The registry is the process's one registry, so each test uses a bot name of its own.
"""

from __future__ import annotations

import logging
import urllib.request
import uuid
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from test_runtime_helpers import HOUR, T0, bot_yaml, find_close, load, runner, write_fleet

from botfleet.obs import metrics as m
from botfleet.obs.instrument import mismatch_type, timed_request
from botfleet.orders import OrderStatus, Side


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of `/metrics`: (name, labels) -> value."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def http():
    srv = m.serve_http(0)
    yield srv
    srv.stop()


def test_a_cycle_shows_on_metrics_as_the_ledger_has_it(tmp_path, server, http):
    bot = f"m{uuid.uuid4().hex[:6]}"
    fleet = load(write_fleet(tmp_path, {bot: bot_yaml(bot)}))
    up = find_close(server, "BTC/USDT", T0 + HOUR, True)
    run = runner(fleet, server).start()
    try:
        server.set_time(up)
        (res,) = run.run_once(now_ms=up)
        assert res.outcome == "ok", res.error
        assert [(r.side, r.status) for r in res.orders] == [
            (Side.BUY, OrderStatus.FILLED), (Side.SELL, OrderStatus.OPEN)]
        ledger = run.svc.ledger
        buy, _stop = res.orders
        fills = ledger.fills(buy.client_id)
        equity = ledger.equity(bot)[-1][1]
    finally:
        run.shutdown()
    got = scrape(http.url)
    key = {"bot": bot, "exchange": "binance", "pair": "BTC/USDT"}
    # orders: each sent order counted as placed, then by what the exchange said
    assert value(got, "botfleet_orders_total", **key, side="buy", status="placed") == 1
    assert value(got, "botfleet_orders_total", **key, side="buy", status="filled") == 1
    assert value(got, "botfleet_orders_total", **key, side="sell", status="placed") == 1
    assert value(got, "botfleet_orders_total", **key, side="sell", status="open") == 1
    # fills, notional and fees: exactly the ledger's
    assert fills and value(got, "botfleet_fills_total", **key, side="buy") == len(fills)
    assert value(got, "botfleet_filled_notional_total", **key, side="buy") == pytest.approx(
        float(sum(f.amount * f.price for f in fills)))
    fee = sum((f.fee for f in fills), Decimal(0))
    if fee > 0:
        assert value(got, "botfleet_fees_total", **key,
                     currency=fills[0].fee_currency) == pytest.approx(float(fee))
    # the cycle: one ok, its duration and decision time observed
    assert value(got, "botfleet_cycles_total", bot=bot, outcome="ok") == 1
    assert value(got, "botfleet_cycle_seconds_count", bot=bot) == 1
    assert 0 < value(got, "botfleet_cycle_seconds_sum", bot=bot) < 60
    assert value(got, "botfleet_decision_seconds_count", bot=bot) == 1
    assert value(got, "botfleet_cycle_interval_seconds", bot=bot) == 3600
    # the book at the cycle's end: the equity point the cycle recorded
    assert value(got, "botfleet_equity", bot=bot) == pytest.approx(float(equity))
    assert value(got, "botfleet_open_positions", bot=bot) == 1
    assert value(got, "botfleet_working_orders", bot=bot) == 1  # the resting stop
    assert value(got, "botfleet_drawdown_ratio", bot=bot) >= 0
    assert value(got, "botfleet_reconciliation_halted", bot=bot) == 0
    # the exchange: requests timed by ccxt call, the budget, the data on time
    assert value(got, "botfleet_exchange_request_seconds_count", exchange="binance",
                 method="submit") >= 2
    assert value(got, "botfleet_exchange_request_seconds_count", exchange="binance",
                 method="fetch_ohlcv") >= 1
    assert 0 < value(got, "botfleet_rate_limit_used_ratio", exchange="binance") <= 1
    assert value(got, "botfleet_data_lag_seconds", exchange="binance", pair="BTC/USDT",
                 timeframe="1h") == 0
    # no label carries an order id or a correlation id
    for name, labels in got:
        for k, v in labels:
            assert res.correlation_id not in v and buy.client_id not in v, (name, k)


def test_a_kill_switch_and_a_breaker_show_as_gauges(tmp_path):
    from botfleet.risk.killswitch import KillSwitch

    target = f"k{uuid.uuid4().hex[:6]}"
    with KillSwitch(f"sqlite:///{tmp_path / 's.db'}", listen=False) as ks:
        ks.engage("bot", target, "freeze", reason="test")
        labels = ("bot", target, "freeze")
        assert m.KILL_SWITCH_STATE.labels(*labels)._value.get() == 1
        ks.release("bot", target, reason="done")
        assert m.KILL_SWITCH_STATE.labels(*labels)._value.get() == 0


def test_a_metric_error_never_raises_and_is_logged_once(caplog):
    before = m.METRIC_ERRORS.labels("botfleet_fills")._value.get()
    with caplog.at_level(logging.WARNING, logger="botfleet.obs.metrics"):
        for _ in range(3):
            m.inc(m.FILLS, "only-one-label")  # wrong label count: a programming error
    assert m.METRIC_ERRORS.labels("botfleet_fills")._value.get() == before + 3
    warned = [r for r in caplog.records if "botfleet_fills" in r.getMessage()]
    assert len(warned) <= 1  # once per metric per process (an earlier test may have warned)


def test_a_failed_request_is_counted_by_type_and_re_raised():
    import ccxt

    ex = f"x{uuid.uuid4().hex[:6]}"
    with pytest.raises(ccxt.RateLimitExceeded), timed_request(ex, "submit"):
        raise ccxt.RateLimitExceeded("429")
    assert m.REQUEST_ERRORS.labels(ex, "RateLimitExceeded")._value.get() == 1
    assert m.REQUEST_SECONDS.labels(ex, "submit")._sum.get() >= 0


@pytest.mark.parametrize("text, kind", [
    ("order bf1234: the exchange says filled 1", "order"),
    ("position BTC/USDT: 1 in the ledger, its fills 2", "position"),
    ("balance USDT: the exchange holds 5", "balance"),
    ("unknown order 42 on the exchange", "unknown_order"),
    ("3 trade(s) on BTC/USDT of an order 9 the exchange cannot show", "trade"),
    ("something else", "other")])
def test_reconciliation_mismatches_are_typed_by_what_disagreed(text, kind):
    assert mismatch_type(text) == kind


def test_the_endpoint_answers_health_and_404():
    from botfleet.obs.health import FAIL, Check, HealthReport

    srv = m.serve_http(0, health=lambda: HealthReport((Check("db", FAIL, "down", "start it"),)))
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(srv.url + "/health", timeout=5)
        assert err.value.code == 503
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(srv.url + "/nothing", timeout=5)
        assert err.value.code == 404
    finally:
        srv.stop()


def test_a_port_in_use_is_a_clear_error(http):
    with pytest.raises(OSError, match="cannot serve metrics on 127.0.0.1"):
        m.serve_http(http.port)


def test_a_cycle_whose_metrics_cannot_be_read_still_closes():
    from types import SimpleNamespace

    from botfleet.runtime.cycle_metrics import cycle_closed

    bot = f"e{uuid.uuid4().hex[:6]}"
    before = m.METRIC_ERRORS.labels("botfleet_cycles")._value.get()
    broken = SimpleNamespace(plan=SimpleNamespace(name=bot, timeframe="1h"),
                             result=SimpleNamespace(started=0.0, finished=0.5, outcome="error",
                                                    decision_s=0.0), guards=None)
    cycle_closed(broken)  # no engine, no work: counted as far as it goes, never raised
    assert m.CYCLES.labels(bot, "error")._value.get() == 1
    assert m.CYCLE_SECONDS.labels(bot)._sum.get() == 0.5
    assert m.METRIC_ERRORS.labels("botfleet_cycles")._value.get() == before + 1
