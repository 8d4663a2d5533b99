"""Paper/backtest parity (architecture principle 2): a strategy replayed bar by bar through
PaperBroker on the exchange simulator — the real ccxt client, the executor, the ledger — makes
the same trades, at the same prices, with the same fees, as `sim.engine.backtest` on the same
real BTC/USDT hours and fill model (0.1% fees, 5 bps fixed slippage, Binance's tick and lot).

The simulator's clock is manual and stepped to each bar's open (`fill_timing="next_open"`): the
signals of bar t's close become market orders booked at bar t+1's open, which fill there, as the
backtest's do. Assumptions (docs/execution.md): long-only, one entry per position, sizing by
percent of equity / fixed quote / fixed base, no volume cap, equal maker and taker fees, the
backtest not closing the last position at the end (an exchange has no such fill).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from botfleet.execution.broker import Market
from botfleet.execution.executor import Executor
from botfleet.execution.ledger import Ledger
from botfleet.execution.paper_broker import PaperBroker
from botfleet.execution.reconcile import ReconcilePolicy
from botfleet.execution.replay import Replay, SimFeed, VenueFeed, entry_amount
from botfleet.execution.sim_broker import SimBroker
from botfleet.sim.engine import PairData, backtest
from botfleet.sim.fillmodel import FillModel, MarketRules
from botfleet.strategy.declarative import load_strategy
from botfleet.venue import BinanceServer, Clock, MarketData

from shared_data import load

SYM = "BTC/USDT"
H = 3_600_000
D = Decimal
RULES = MarketRules(0.01, 0.00001, 0.00001, 5.0)
MARKET = Market(SYM, "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), D("5"))
FILLS = FillModel.from_yaml({"fees": {"maker": "0.1%", "taker": "0.1%"},
                             "slippage": {"model": "fixed", "bps": 5}, "close_at_end": False})
STRATEGY = """\
kind: strategy
version: 1
name: sma_cross_plain
description: Two SMAs and a crossing, nothing else (bench/bench_backtest.py's strategy).
parameters:
  fast: {default: 10, range: [5, 60], step: 1}
  slow: {default: 30, range: [20, 200], step: 5}
indicators:
  fast_ma: sma(close, fast)
  slow_ma: sma(close, slow)
entry: crosses_above(fast_ma, slow_ma)
exit: crosses_below(fast_ma, slow_ma)
cooldown: COOLDOWN
sizing: SIZING
"""
FIRST, WARMUP = 30_000, 200  # bar index of the first traded bar (2024-04), warm-up before it


@pytest.fixture(scope="module")
def candles():
    return load("binance_BTC-USDT_1h.csv")


def strategy(tmp_path: Path, sizing: str = "{method: percent_equity, value: 100%}",
             cooldown: int = 0):
    path = tmp_path / "sma_cross_plain.yaml"
    path.write_text(STRATEGY.replace("SIZING", sizing).replace("COOLDOWN", str(cooldown)))
    return load_strategy(path, "1h")


def window(candles, bars: int):
    hist, start, end = (int(candles["ts"][FIRST - WARMUP]), int(candles["ts"][FIRST]),
                        int(candles["ts"][FIRST + bars]))
    return hist, start, end, candles[FIRST - WARMUP:FIRST + bars + 1]


def assert_same_trades(result, fills, rate: Decimal = D("0.001")) -> None:
    """Fill by fill: bar, side, amount and price exactly; the fee as the exchange charges it
    (rate x notional, half-up to 8 places), which is the backtest's float fee to 1e-8."""
    assert len(fills) == len(result.fills) > 10
    for bt, paper in zip(result.fills, fills, strict=True):
        when = int(result.ts[bt["bar"]])
        amount = D(repr(float(bt["amount"]))).quantize(D("0.00001"))
        price = D(repr(float(bt["price"]))).quantize(D("0.01"))
        assert (paper.ts_ms, int(paper.side), paper.amount, paper.price) == (
            when, int(bt["side"]), amount, price)
        assert paper.fee == (amount * price * rate).quantize(D("1e-8"), ROUND_HALF_UP)
        assert abs(float(paper.fee) - float(bt["fee"])) < 1e-8
    # round trips: entry and exit bars
    entries = [f.ts_ms for f in fills if int(f.side) > 0]
    exits = [f.ts_ms for f in fills if int(f.side) < 0]
    closed = [t for t in result.trades if t["exit_bar"] >= 0]
    assert [int(result.ts[t["entry_bar"]]) for t in closed] == entries[:len(closed)]
    assert [int(result.ts[t["exit_bar"]]) for t in closed] == exits[:len(closed)]


def test_paper_on_the_simulator_trades_as_the_backtest(tmp_path, candles):
    strat = strategy(tmp_path)
    hist, start, end, span = window(candles, 700)
    result = backtest(strat, [PairData(SYM, span, RULES)], "1h", D(10_000), FILLS,
                      start_ms=start, end_ms=end)
    market = MarketData.from_arrays({SYM: {"1h": candles}}, clock=Clock(start))
    with BinanceServer(market, fills=FILLS, weight_limit=10**9, order_limit=0) as venue:
        acct = venue.add_account("paper", {"USDT": "10000"})
        broker = PaperBroker.venue(venue.base_url, acct.api_key, acct.secret,
                                   enableRateLimit=False)
        ledger = Ledger(f"sqlite:///{tmp_path / 'state.db'}")
        ledger.register_bot("paper", "binance")
        ex = Executor(ledger, broker, "paper")
        assert ex.start(ReconcilePolicy(symbols=(SYM,))).passed
        run = Replay(strat, ex, VenueFeed(broker.exchange), symbol=SYM, timeframe="1h",
                     fills=FILLS).run(hist, start, end)
        assert run.skipped == []
        assert_same_trades(result, run.fills)
        assert [t.id for t in venue.exchange.trades(acct)] == [int(f.trade_id)
                                                              for f in run.fills]
        assert ex.reconcile(ReconcilePolicy(symbols=(SYM,))).passed  # books agree exactly
        ledger.close()


@pytest.mark.parametrize("sizing,cooldown", [
    ("{method: percent_equity, value: 40%}", 5),
    ("{method: fixed_quote, value: 2500}", 0),
    ("{method: fixed_base, value: 0.05}", 2),
])
def test_the_same_replay_on_the_simulated_clock_trades_as_the_backtest(tmp_path, candles,
                                                                       sizing, cooldown):
    strat = strategy(tmp_path, sizing, cooldown)
    hist, start, end, span = window(candles, 1000)
    result = backtest(strat, [PairData(SYM, span, RULES)], "1h", D(10_000), FILLS,
                      start_ms=start, end_ms=end)
    sim = SimBroker({SYM: span}, {SYM: MARKET}, FILLS, {"USDT": D("10000")}, tf_ms=H,
                    start_ms=start)
    ledger = Ledger(f"sqlite:///{tmp_path / 'sim.db'}")
    ledger.register_bot("sim", "sim")
    ex = Executor(ledger, sim, "sim")
    assert ex.start(ReconcilePolicy(symbols=(SYM,))).passed
    run = Replay(strat, ex, SimFeed(sim), symbol=SYM, timeframe="1h", fills=FILLS).run(
        hist, start, end)
    assert_same_trades(result, run.fills)
    ledger.close()


def test_sizing_rules_the_exchange_path_cannot_reproduce_are_refused(tmp_path):
    with pytest.raises(NotImplementedError, match="risk_per_trade"):
        entry_amount("risk_per_trade", 0.01, 1e4, 1e4, 1e4, 0.0, 0.001, MARKET)
    strat = strategy(tmp_path, "{method: kelly, value: 10%, fraction: 50%, lookback: 20, cap: 25%}")
    with pytest.raises(NotImplementedError, match="kelly"):
        Replay(strat, None, None, symbol=SYM, timeframe="1h", fills=FILLS)
