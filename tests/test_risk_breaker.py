"""Circuit breakers: closed -> open on errors in a row, an error rate, a ban, stale data or a
loss limit; open -> half_open after the cooldown; half_open -> closed on a success or -> open on
a failure. Driven by an injected clock, every transition returns its event; the state survives
in the real state database (SQLite and PostgreSQL) from one cycle's process to the next."""

from __future__ import annotations

import pytest
from test_risk_helpers import T0, ctx, engine, order

from botfleet.risk import BreakerConfig, CircuitBreaker, RiskInputError, RiskStore

from storage_fixtures import BACKENDS, state_url  # noqa: F401

S = 1000
M = 60 * S


class Clock:
    def __init__(self, now: int = T0):
        self.now = now

    def __call__(self) -> int:
        return self.now


def breaker(clock: Clock, **cfg) -> CircuitBreaker:
    return CircuitBreaker(BreakerConfig.from_yaml(cfg), "bot", "b1", clock=clock)


def test_n_errors_in_a_row_open_it_and_a_success_resets_the_count():
    clock = Clock()
    b = breaker(clock, max_consecutive_errors=3, cooldown="10m")
    assert b.record_error("error", "timeout") == [] and b.record_error("rejection") == []
    assert b.record_success() == [] and b.snapshot.consecutive == 0
    assert b.record_error() == [] and b.record_error("rate_limit", "429") == []
    assert b.state == "closed" and b.allows()  # N-1 in a row: still closed
    clock.now += 5
    (ev,) = b.record_error("rejection", "insufficient balance")
    assert (ev.kind, ev.bot, ev.rule, ev.state, ev.level, ev.severity, ev.ts) == (
        "circuit_breaker", "b1", "max_consecutive_errors", "open", "bot", "error", T0 + 5)
    assert ev.detail == ("open for 10m: 3 errors in a row (limit 3; error 1, rate_limit 1, "
                         "rejection 1); last: rejection: insufficient balance")
    assert b.state == "open" and not b.allows() and b.snapshot.open_until_ms == T0 + 5 + 10 * M


def test_an_error_rate_over_its_window_opens_it():
    clock = Clock()
    b = breaker(clock, max_error_rate="3/1m")
    for _ in range(2):
        assert b.record_error() == []
        assert b.record_success() == []  # successes between: not in a row, still a rate
        clock.now += 30 * S
    assert b.record_error() == []  # the first is exactly 1m old: outside the window
    clock.now += 1
    (ev,) = b.record_error()
    assert ev.rule == "max_error_rate"
    assert "3 errors within 1m (limit 3/1m" in ev.detail
    assert b.snapshot.error_times == (T0 + 30 * S, T0 + 60 * S, T0 + 60 * S + 1)


def test_a_ban_opens_at_once_for_at_least_its_retry_after():
    clock = Clock()
    b = breaker(clock, max_consecutive_errors=10, cooldown="1m")
    (ev,) = b.record_error("ban", "418 I'm a teapot", retry_after_s=120)
    assert ev.rule == "ban" and ev.detail.startswith("open for 2m: the exchange banned")
    assert b.snapshot.open_until_ms == T0 + 120 * S
    with pytest.raises(RiskInputError, match="error kind 'oops' is not one of error, rejection, "
                                             "rate_limit, ban"):
        b.record_error("oops")


def test_cooldown_then_half_open_then_closed_on_a_success():
    clock = Clock()
    b = breaker(clock, max_consecutive_errors=1, cooldown="30m")
    b.record_error()
    clock.now = T0 + 30 * M - 1
    assert b.refresh() == [] and b.state == "open"
    clock.now += 1
    assert b.state == "half_open" and b.allows()  # read before the transition is recorded
    (ev,) = b.refresh()
    assert (ev.state, ev.severity, ev.rule) == ("half_open", "warning", "max_consecutive_errors")
    assert b.refresh() == []
    (ev,) = b.record_success()
    assert (ev.state, ev.detail) == ("closed", "closed: a success after half-open")
    assert b.snapshot.consecutive == 0 and b.snapshot.trips == 1


def test_half_open_reopens_on_a_failure():
    clock = Clock()
    b = breaker(clock, max_consecutive_errors=2, cooldown="1m")
    b.record_error()
    b.record_error()
    clock.now += M
    events = b.record_error("rate_limit", "429", retry_after_s=300)
    assert [e.state for e in events] == ["half_open", "open"]
    assert events[1].detail == "open for 5m: failed while half-open (rate_limit: 429)"
    assert b.snapshot.trips == 2 and b.snapshot.open_until_ms == T0 + M + 5 * M


def test_stale_data_opens_it_and_fresh_data_closes_it_from_half_open():
    clock = Clock(T0 + 10 * M)
    b = breaker(clock, data_stale_after="2h", cooldown="5m")
    assert b.check_data(clock.now - 2 * 60 * M) == []  # exactly the limit: not stale
    (ev,) = b.check_data(clock.now - 2 * 60 * M - 1)
    assert ev.rule == "data_stale_after"
    assert ev.detail == "open for 5m: newest candle is 7200001ms old (limit 2h)"
    assert b.check_data(0) == []  # already open
    clock.now += 5 * M
    events = b.check_data(clock.now - 3 * 60 * M)  # still stale when half-open: reopens
    assert [e.state for e in events] == ["half_open", "open"]
    clock.now += 5 * M
    events = b.check_data(clock.now - M)
    assert [e.state for e in events] == ["half_open", "closed"]
    assert breaker(clock).check_data(0) == []  # no data_stale_after declared


def test_a_loss_limit_trips_it_and_a_person_can_close_it():
    clock = Clock()
    b = breaker(clock)  # no error triggers declared: errors alone never open it
    for _ in range(20):
        assert b.record_error() == []
    (ev,) = b.trip("max_daily_loss", "lost 81 USDT since 00:00 UTC, limit 80 USDT")
    assert (ev.rule, ev.state) == ("max_daily_loss", "open")
    assert ev.detail.startswith("open for 5m:")  # the default cooldown
    assert b.trip("max_drawdown", "again") == []
    (ev,) = b.reset("cli:ops")
    assert (ev.state, ev.detail) == ("closed", "closed by cli:ops")
    assert b.reset("cli:ops") == []


def test_an_open_breaker_halts_the_pre_trade_check():
    clock = Clock(T0 + 12 * 3_600_000)
    b = breaker(clock, max_consecutive_errors=1, cooldown="1m")
    b.record_error("error", "exchange down")
    d = engine().check(ctx(order("buy", 1), now=clock.now, breakers=[b.snapshot]))
    assert d.rules() == ["circuit_breaker"] and "exchange down" in d.reason
    clock.now += M
    assert engine().check(ctx(order("buy", 1), now=clock.now, breakers=[b.snapshot])).allowed


def test_the_example_profile_declares_a_breaker():
    cfg = BreakerConfig.from_yaml({"max_consecutive_errors": 5, "max_error_rate": "5/10m",
                                   "data_stale_after": "2h", "cooldown": "30m"})
    assert cfg == BreakerConfig(5, (5, 600_000), 7_200_000, 1_800_000)


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_state_survives_from_one_cycle_to_the_next(kind, state_url):  # noqa: F811
    url = state_url(kind)
    clock = Clock()
    cfg = BreakerConfig.from_yaml({"max_consecutive_errors": 3, "max_error_rate": "9/1h"})
    with RiskStore(url) as store:  # cycle 1
        assert store.load_breaker("bot", "b1") is None
        b = CircuitBreaker(cfg, "bot", "b1", clock=clock)
        b.record_error("rejection", "x")
        b.record_error("error", "y")
        store.save_breaker(b.snapshot, clock.now)
        store.save_breaker(CircuitBreaker(cfg, "exchange", "binance", clock=clock).snapshot,
                           clock.now)
    clock.now += M
    with RiskStore(url) as store:  # cycle 2, a new process would do the same
        state = store.load_breaker("bot", "b1")
        assert state.consecutive == 2 and state.counts == {"rejection": 1, "error": 1}
        b = CircuitBreaker(cfg, "bot", "b1", state=state, clock=clock)
        events = b.record_error()
        assert [e.state for e in events] == ["open"]
        store.save_breaker(b.snapshot, clock.now)
        store.add_events(events)
        again = store.load_breaker("bot", "b1")
        assert again == b.snapshot
        assert sorted((s.level, s.target) for s in store.breakers()) == [
            ("bot", "b1"), ("exchange", "binance")]
        (logged,) = store.events(target="b1", kinds=["circuit_breaker"])
        assert logged == events[0]
        assert store.events(target="b1", since_ms=clock.now + 1) == []
