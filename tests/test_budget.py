"""The weight budget keeps us under our share of the exchange's per-minute weight."""

from __future__ import annotations

import pytest

from botfleet.data.budget import WeightBudget, budget_for


class FakeClock:
    """A clock the budget can wait on without the test waiting."""

    def __init__(self, t: float = 1_000_020.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_waits_for_the_next_minute_once_the_share_is_used():
    clock = FakeClock()
    budget = WeightBudget(100, 0.8, clock=clock, sleep=clock.sleep)
    for _ in range(40):
        budget.acquire(2)  # 80 = 80% of 100
    assert budget.waited == 0 and budget.used == 80
    start_minute = int(clock.t // 60)
    budget.acquire(2)
    assert int(clock.t // 60) == start_minute + 1 and budget.used == 2
    assert 0 < budget.waited <= 61


def test_the_exchanges_own_count_wins_when_higher():
    clock = FakeClock()
    budget = WeightBudget(6000, 0.8, clock=clock, sleep=clock.sleep)
    budget.acquire(2)
    budget.observe({"X-MBX-USED-WEIGHT-1M": "4790"})  # another tool used the key too
    assert budget.used == 4790
    budget.acquire(10)  # 4800 fits exactly
    before = clock.t
    budget.acquire(2)
    assert clock.t > before  # waited for the next minute
    budget.observe({"other": "1"})
    budget.observe({"x-mbx-used-weight-1m": "n/a"})


def test_budgets_are_shared_per_exchange_and_validated():
    assert budget_for("binance") is budget_for("binance")
    assert budget_for("binance").limit == 6000
    assert budget_for("kraken", rate_limit_ms=3000).limit == 20
    with pytest.raises(ValueError):
        WeightBudget(0)
