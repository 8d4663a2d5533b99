"""Reconciliation against the exchange simulator: unknown orders by policy, fills the ledger
missed, orders and balances that do not add up (halt, persisted across a restart, alert on the
bus), and the periodic mode."""

from __future__ import annotations

import pytest

from botfleet.bus.factory import open_bus
from botfleet.bus.topics import RISK_ALERTS
from botfleet.execution import halts
from botfleet.execution.executor import Executor, GateClosed, market_order
from botfleet.execution.ledger import Ledger
from botfleet.execution.paper_broker import PaperBroker
from botfleet.execution.reconcile import ReconcilePolicy, Reconciler, reconcile
from botfleet.orders import Order, OrderStatus, OrderType, Side

from storage_fixtures import state_url  # noqa: F401 - fixture
from venue_fixtures import FILLS, SYM, T0, D, H  # noqa: F401 - not every module uses all

S = OrderStatus
POLICY = ReconcilePolicy(symbols=(SYM,))


@pytest.fixture
def bot(venue, state_url):  # noqa: F811
    """bot(kind) -> (executor, ledger, venue account), reconciled once (baseline recorded)."""
    made = []

    def make(kind: str = "sqlite"):
        acct = venue.add_account(f"bot{len(made)}", {"USDT": "10000"})
        broker = PaperBroker.venue(venue.base_url, acct.api_key, acct.secret,
                                   enableRateLimit=False)
        ledger = Ledger(state_url(kind))
        ledger.register_bot("bot", "binance")
        ex = Executor(ledger, broker, "bot")
        report = ex.start(POLICY)
        assert report.passed and "recorded the balance baseline" in report.notes
        made.append(ledger)
        return ex, ledger, acct

    yield make
    for ledger in made:
        ledger.close()


def by_hand(ex, cid: str):
    """An order placed on the bot's account outside botfleet (client id `cid`)."""
    return ex.broker.exchange.create_order(SYM, "limit", "buy", "0.01", "30000",
                                           {"clientOrderId": cid})


def test_an_unknown_order_is_flagged_halts_the_bot_across_restarts_and_alerts(bot, venue):
    ex, ledger, _ = bot()
    bus = open_bus("memory://", prefix="t-reconcile:")
    bus.events.create_group("ops", topics=[RISK_ALERTS])
    by_hand(ex, "manual-1")
    report = reconcile("bot", ledger, ex.broker, POLICY, bus=bus)
    assert not report.passed and report.halted
    assert "unknown BTC/USDT buy 0.01 order" in report.mismatches[0]
    assert "not botfleet's" in report.mismatches[0]
    assert report.alert.kind == "reconciliation_mismatch" and report.alert.bot == "bot"
    [event] = bus.events.read("ops", "c1", topics=[RISK_ALERTS])
    assert event.type == "reconciliation_mismatch" and event.payload["bot"] == "bot"
    assert event.payload["severity"] == "critical"
    # a restarted process: the halt is in the state database, not in memory
    restarted = Executor(Ledger(ledger.engine), ex.broker, "bot")
    assert not restarted.start(POLICY).passed
    with pytest.raises(GateClosed, match="halted"):
        restarted.place(ledger.begin_cycle("bot", candle_ms=T0), "e",
                        market_order(SYM, Side.BUY, D("0.01")))
    halts.resume(ledger, "bot", "ops@example", "adopting the manual order")
    adopted = restarted.reconcile(ReconcilePolicy(symbols=(SYM,), unknown_orders="adopt"))
    assert adopted.passed and adopted.adopted == ["manual-1"]
    rec = ledger.get("manual-1")
    assert (rec.status, rec.cycle_key, rec.exchange_id) == (S.OPEN, "adopted", "1")
    assert restarted.ready


def test_the_cancel_policy_cancels_unknown_orders(bot, venue):
    ex, _, acct = bot()
    by_hand(ex, "manual-2")
    report = ex.reconcile(ReconcilePolicy(symbols=(SYM,), unknown_orders="cancel"))
    assert report.passed and report.cancelled == ["manual-2"]
    assert [o.status for o in venue.exchange.orders(acct)] == [S.CANCELED]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_fills_made_while_the_bot_was_away_are_recorded_and_the_books_agree(bot, venue, kind):
    ex, ledger, _ = bot(kind)
    cycle = ledger.begin_cycle("bot", candle_ms=T0)
    near = ex.place(cycle, "near", Order("", SYM, Side.BUY, OrderType.LIMIT, D("0.01"),
                                         D("42250")))
    venue.faults.partial_fill_next(0.5)
    sold = ex.place(cycle, "m", market_order(SYM, Side.BUY, D("0.004")))
    assert (near.status, sold.status) == (S.OPEN, S.PARTIALLY_FILLED)
    venue.advance(6 * H)  # the limit trades through, the market order completes: unseen
    report = ex.reconcile(POLICY)
    assert report.passed, report.mismatches
    assert report.fills_recorded == 2
    assert {c for c, _, _ in report.resolved} == {near.client_id, sold.client_id}
    assert ledger.position("bot", SYM).amount == D("0.014")
    assert ledger.get(near.client_id).status is S.FILLED


def test_a_balance_that_does_not_add_up_halts_the_bot(bot, venue):
    ex, ledger, acct = bot()
    ex.place(ledger.begin_cycle("bot", candle_ms=T0), "e",
             market_order(SYM, Side.BUY, D("0.01")))
    acct.credit("USDT", D("0.00000001"))  # money the ledger cannot explain
    report = ex.reconcile(POLICY)
    assert report.halted and not ex.ready
    assert report.mismatches == [report.mismatches[0]]
    assert report.mismatches[0].startswith("balance USDT") and "difference 1E-8" in \
        report.mismatches[0]
    assert halts.halted(ledger, "bot").reasons == tuple(report.mismatches)


def test_a_ledger_order_the_exchange_does_not_know_is_a_mismatch(bot, venue):
    ex, ledger, _ = bot()
    cycle = ledger.begin_cycle("bot", candle_ms=T0)
    ghost = ledger.record_intent(cycle, "ghost", symbol=SYM, side=Side.BUY,
                                 type=OrderType.LIMIT, amount=D("0.01"), price=D("30000"))
    ledger.mark_submitted(ghost.client_id)
    ledger.mark_acknowledged(ghost.client_id, "999")
    report = ex.reconcile(POLICY)
    assert report.halted
    assert f"order {ghost.client_id}" in report.mismatches[0]
    assert "unknown to the exchange" in report.mismatches[0]


def test_the_reconciler_runs_when_due():
    now = [0.0]

    class Recorder:
        calls = 0

        def reconcile(self, policy):
            Recorder.calls += 1
            return "report"

    r = Reconciler(Recorder(), every_s=30, clock=lambda: now[0])
    assert r.maybe_run() == "report" and Recorder.calls == 1
    now[0] = 29.9
    assert r.maybe_run() is None and Recorder.calls == 1
    now[0] = 30.0
    assert r.due() and r.maybe_run() == "report" and Recorder.calls == 2


def test_a_fill_landing_while_reconciling_is_caught_up_not_a_mismatch(bot, venue):
    """The exchange keeps matching while reconciliation reads it: here the resting order fills
    between the trade scan and the balance read (the venue's clock moves in between), which
    once halted a bot in the full crash benchmark."""
    ex, ledger, _ = bot()
    cycle = ledger.begin_cycle("bot", candle_ms=T0)
    near = ex.place(cycle, "near", Order("", SYM, Side.BUY, OrderType.LIMIT, D("0.01"),
                                         D("42250")))
    real = ex.broker.balances
    moved = []

    def balances_after_a_fill():
        if not moved:
            moved.append(venue.advance(6 * H))  # the limit trades through now
        return real()

    ex.broker.balances = balances_after_a_fill
    report = ex.reconcile(POLICY)
    assert moved and report.passed, report.mismatches
    assert ledger.get(near.client_id).filled == D("0.01")
    assert ledger.position("bot", SYM).amount == D("0.01")
