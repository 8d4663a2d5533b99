"""Limits over time: daily loss since 00:00 UTC, drawdown from the equity peak, losing streaks,
cooldown after a stop-out. The state comes from equity points and closed trades
(`risk.history.performance`); the limits block new entries, never exits, with a refusal naming
the rule, and allow the limit at its edge."""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_risk_helpers import HOUR, T0, book, ctx, engine, order

from botfleet.orders import Reason, Trade
from botfleet.risk import (
    Book,
    RiskInputError,
    combined_equity,
    combined_performance,
    performance,
)

D = Decimal
DAY = 24 * HOUR
NOW = T0 + DAY + 10 * HOUR  # 2026-01-02 10:00 UTC


def trade(exit_ms: int, pnl, reason: Reason = Reason.SIGNAL, symbol: str = "BTC/USDT") -> Trade:
    return Trade(symbol, 1, exit_ms - HOUR, exit_ms, D(1), D(100), D(100), D(str(pnl)), D(0),
                 D(0), Reason.SIGNAL, reason)


def curve(*points) -> list[tuple[int, Decimal]]:
    return [(ts, D(str(v))) for ts, v in points]


def held(perf, symbol: str = "BTC/USDT") -> Book:
    return book({symbol: 1}, perf=perf)


def only(decision, rule: str, level: str = "bot"):
    assert not decision.allowed and decision.rules() == [rule], decision.reason
    assert decision.refusals[0].level == level
    return decision.refusals[0]


def test_performance_reads_the_days_start_the_peak_and_the_streak():
    eq = curve((T0, 1000), (T0 + DAY - HOUR, 1100), (T0 + DAY, 1050), (T0 + DAY + HOUR, 990),
               (NOW, 1000))
    trades = [trade(T0 + HOUR, -5), trade(T0 + 2 * HOUR, 8), trade(T0 + 3 * HOUR, -1),
              trade(T0 + 4 * HOUR, -2, Reason.STOP_LOSS),
              trade(T0 + 5 * HOUR, "-0.5", Reason.TAKE_PROFIT, "ETH/USDT")]
    p = performance(eq, reversed(trades), NOW)
    assert (p.day_start_equity, p.equity, p.peak_equity) == (D(1050), D(1000), D(1100))
    assert p.daily_loss == D(50) and p.drawdown == D(100) / D(1100)
    assert p.losing_streak == 3  # the win at 02:00 reset it
    assert dict(p.last_stop_ms) == {"BTC/USDT": T0 + 4 * HOUR}  # a take-profit is no stop


def test_a_bot_that_started_today_counts_from_its_first_point():
    p = performance(curve((T0 + DAY + HOUR, 500), (NOW, 450)), [], NOW)
    assert p.day_start_equity == D(500) and p.daily_loss == D(50)
    assert performance([], [], NOW).daily_loss == 0 and performance([], [], NOW).drawdown == 0
    gain = performance(curve((T0, 100), (NOW, 150)), [], NOW)
    assert gain.daily_loss == 0 and gain.drawdown == 0


def test_performance_refuses_bad_history():
    with pytest.raises(RiskInputError, match=r"equity point 1 \(ts 1\) is older than the one "
                                             r"before it \(5\)"):
        performance([(5, D(1)), (1, D(1))], [], NOW)
    with pytest.raises(RiskInputError, match=r"equity point 0 \(ts 5\): value must be a "
                                             r"Decimal, got float"):
        performance([(5, 1.0)], [], NOW)


def test_max_daily_loss_edge_blocks_entries_not_exits():
    e = engine(bot={"max_daily_loss": "2%"}, allocation=D(4000))  # 80 USDT
    at_edge = performance(curve((T0 + DAY, 4000), (NOW, 3920)), [], NOW)
    assert e.check(ctx(order("buy", 1), held(at_edge), now=NOW)).allowed
    over = performance(curve((T0 + DAY, 4000), (NOW, "3919.99")), [], NOW)
    r = only(e.check(ctx(order("buy", 1), held(over), now=NOW)), "max_daily_loss")
    assert (r.limit, r.value) == (D(80), D("80.01"))
    assert r.message == ("max_daily_loss (bot b1): lost 80.01 USDT since 00:00 UTC (realised and "
                         "unrealised), limit 80 USDT (2% of 4,000); no new entries until "
                         "00:00 UTC")
    exit_ = e.check(ctx(order("sell", 1), held(over), now=NOW))
    assert exit_.allowed and "time limits do not apply" in exit_.notes[0]


def test_yesterdays_loss_does_not_count_today():
    e = engine(bot={"max_daily_loss": 50})
    p = performance(curve((T0, 1000), (T0 + DAY, 800), (NOW, 800)), [], NOW)
    assert e.check(ctx(order("buy", 1), held(p), now=NOW)).allowed


def test_max_drawdown_edge():
    e = engine(bot={"max_drawdown": "10%"})
    ok = performance(curve((T0, 1000), (T0 + HOUR, 2000), (NOW, 1800)), [], NOW)
    assert e.check(ctx(order("buy", 1), held(ok), now=NOW)).allowed
    bad = performance(curve((T0, 1000), (T0 + HOUR, 2000), (NOW, "1799.98")), [], NOW)
    r = only(e.check(ctx(order("buy", 1), held(bad), now=NOW)), "max_drawdown")
    assert r.limit == D("0.1") and r.value == D("0.00001") + D("0.1")
    assert r.message == ("max_drawdown (bot b1): equity 1,799.98 is 10% below its peak 2,000, "
                         "limit 10%")
    assert e.check(ctx(order("sell", 1), held(bad), now=NOW)).allowed


def test_max_consecutive_losses_pauses_after_that_many():
    e = engine(bot={"max_consecutive_losses": 3})
    two = performance([], [trade(T0, -1), trade(T0 + 1, -1)], NOW)
    assert e.check(ctx(order("buy", 1), held(two), now=NOW)).allowed
    three = performance([], [trade(T0, -1), trade(T0 + 1, -1), trade(T0 + 2, "-0.01")], NOW)
    r = only(e.check(ctx(order("buy", 1), held(three), now=NOW)), "max_consecutive_losses")
    assert (r.limit, r.value) == (3, 3)
    assert r.message == ("max_consecutive_losses (bot b1): 3 losing trades in a row, pause after "
                         "3")
    reset = performance([], [trade(T0, -1), trade(T0 + 1, -1), trade(T0 + 2, -1),
                             trade(T0 + 3, 0)], NOW)
    assert e.check(ctx(order("buy", 1), held(reset), now=NOW)).allowed
    assert e.check(ctx(order("sell", 1), held(three), now=NOW)).allowed


def test_cooldown_after_stop_per_pair_edge():
    e = engine(bot={"cooldown_after_stop": "1h"})
    stopped = T0 + DAY
    p = performance([], [trade(stopped, -3, Reason.TRAILING_STOP)], NOW)
    r = only(e.check(ctx(order("buy", 1), held(p), now=stopped + HOUR - 1)),
             "cooldown_after_stop")
    assert (r.limit, r.value) == (HOUR, HOUR - 1)
    assert r.message == ("cooldown_after_stop (bot b1): BTC/USDT was stopped out at 2026-01-02 "
                         "00:00:00 UTC; no new entry before 2026-01-02 01:00:00 UTC (1h cooldown)")
    assert e.check(ctx(order("buy", 1), held(p), now=stopped + HOUR)).allowed
    other = e.check(ctx(order("buy", 1, symbol="ETH/USDT"), held(p), now=stopped + 1))
    assert other.allowed  # another pair is not cooling down
    assert e.check(ctx(order("sell", 1), held(p), now=stopped + 1)).allowed  # an exit


def test_fleet_limits_read_the_bots_combined_equity():
    a = curve((T0 + DAY, 1000), (T0 + DAY + HOUR, 950), (NOW, 940))
    b = curve((T0 + DAY + 30 * 60_000, 2000), (NOW, 1990))
    total = combined_equity([a, b])
    assert total == curve((T0 + DAY, 1000), (T0 + DAY + 30 * 60_000, 3000),
                          (T0 + DAY + HOUR, 2950), (NOW, 2930))
    assert performance(total, [], NOW).daily_loss == 0  # b's arrival would hide the loss
    fleet_perf = combined_performance([a, b], [trade(NOW - 1, -1), trade(NOW, -2)], NOW)
    assert fleet_perf.daily_loss == D(70)  # a lost 60, b 10 since it joined at 00:30
    assert (fleet_perf.peak_equity, fleet_perf.losing_streak) == (D(3000), 2)
    e = engine(fleet={"max_daily_loss": 60})
    mine = held(performance(a, [], NOW))
    r = only(e.check(ctx(order("buy", 1), mine, fleet=Book.combine([mine], fleet_perf),
                         now=NOW)), "max_daily_loss", "fleet")
    assert r.target == "main"


def test_a_timed_limit_without_performance_is_an_error():
    e = engine(bot={"max_drawdown": "5%"})
    with pytest.raises(RiskInputError, match=r"limits over time are declared at bot b1 but its "
                                             r"book has no performance"):
        e.check(ctx(order("buy", 1), book()))


def test_breaches_name_the_loss_limits_for_the_breaker_to_trip():
    from botfleet.risk import BreakerConfig, CircuitBreaker

    e = engine(bot={"max_daily_loss": 50, "cooldown_after_stop": "1h"},
               fleet={"max_drawdown": "10%"})
    bot = held(performance(curve((T0 + DAY, 1000), (NOW, 950)),
                           [trade(NOW - 1, -1, Reason.STOP_LOSS)], NOW))
    fleet = held(performance(curve((T0, 1000), (NOW, 900)), [], NOW))
    assert e.breaches({"bot": bot, "fleet": fleet}, NOW) == []  # both exactly at their edge
    bot = held(performance(curve((T0 + DAY, 1000), (NOW, "949.99")), [], NOW))
    fleet = held(performance(curve((T0, 1000), (NOW, "899.99")), [], NOW))
    found = e.breaches({"bot": bot, "fleet": fleet}, NOW)
    assert [(r.rule, r.level) for r in found] == [("max_daily_loss", "bot"),
                                                  ("max_drawdown", "fleet")]
    breaker = CircuitBreaker(BreakerConfig(), "bot", "b1", clock=lambda: NOW)
    (ev,) = breaker.trip(found[0].rule, found[0].message)
    assert (ev.kind, ev.rule, ev.state) == ("circuit_breaker", "max_daily_loss", "open")
    assert "lost 50.01 USDT since 00:00 UTC" in ev.detail
