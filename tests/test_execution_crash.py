"""The crash test (CI's bounded form; `bench/bench_crash.py` runs 100+ kills): a bot trading on
the exchange simulator is SIGKILLed at chosen and random moments — before a send, with a send in
flight, booked but unanswered, in the middle of a partial fill, during a cancel — and restarted
each time. After every restart its startup reconciliation must pass and its books must equal
the simulator's exactly: no lost order, no duplicate, every status, fill and balance the same
(`crash_harness.CrashHarness.check`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from botfleet.execution import crash_harness as ch

from shared_data import shared_file
from storage_fixtures import state_url  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return shared_file("binance_BTC-USDT_1h.csv").parent


@pytest.fixture(scope="module")
def server():
    """One fork server for the module's bots (it pays the imports once)."""
    srv = ch.ForkServer()
    yield srv
    srv.close()


def covered(records, mode: str, state: str) -> bool:
    return any(r.mode == mode and r.at_kill.get(state, 0) > 0 for r in records)


def test_twenty_kills_on_sqlite_lose_and_duplicate_nothing(tmp_path, data_dir, server):
    records = ch.run(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", data_dir, 20, seed=11,
                     server=server)
    print("\n" + ch.table(records))
    assert len(records) == 21
    assert [r.problems for r in records if not r.ok] == []
    # each kill point was really hit: the books at the kill show its state
    assert covered(records, "before_send", "new")
    assert covered(records, "in_flight", "sent")
    assert covered(records, "booked_no_answer", "sent")
    assert covered(records, "partial_fill", "part") and covered(records, "partial_fill",
                                                                "unrec")
    assert covered(records, "cancel", "canc")
    assert any("subm>" in r.outcomes for r in records)  # a send resolved by look-up
    assert sum(r.fills for r in records) > 0  # fills missed at the kill, recorded at restart


def test_kills_with_the_state_in_postgresql(tmp_path, data_dir, state_url, server):  # noqa: F811
    url = state_url("postgresql")
    modes = ("booked_no_answer", "partial_fill", "cancel")
    records = ch.run(tmp_path, url, data_dir, 3, seed=5, modes=modes, server=server)
    print("\n" + ch.table(records))
    assert [r.problems for r in records if not r.ok] == []
