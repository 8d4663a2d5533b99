"""The daily/weekly trading report on a real state database (SQLite and PostgreSQL) filled through
the ledger's API with fills at real BTC/USDT and ETH/USDT prices, a real candle store holding the
recorded candles with a hole cut in them, and real risk events and a kill switch from the risk
store: the page shows the ledger's own figures, the gaps, the risk events; the PDF is printed by
Chromium; the report reaches a real SMTP server with the PDF attached.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from notify_servers import smtp_server  # noqa: F401 - the fixture

from botfleet.orders import OrderStatus, OrderType, Reason, Side
from botfleet.reports import fmt

from prefect_fixtures import prefect_server  # noqa: F401 - the fixture
from shared_data import shared_file
from storage_fixtures import BACKENDS, state_url  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[1]
H, D = 3_600_000, 86_400_000
END = 1_757_894_400_000  # 2025-09-15 00:00 UTC: the weekly report's end
START = END - 7 * D
GAP = (START + 2 * D + 3 * H, START + 2 * D + 8 * H)  # five BTC/USDT candles cut out
FEE = Decimal("0.001")
AMOUNT = {"BTC/USDT": Decimal("0.01"), "ETH/USDT": Decimal("0.5")}


def _fleet(tmp_path, state: str | None, notifier: str | None = None):
    """The example fleet (without sol-breakout) copied to tmp_path; its state database at
    `state` (None: the YAML's own, tmp_path/data/state.db) and its candles in tmp_path."""
    from botfleet.config.model import Storage
    from botfleet.jobs.common import load_checked

    for item in ("fleet.yaml", "exchanges.d", "bots.d", "strategies.d", "notifiers.d",
                 "risk.d"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copyfile)(src, tmp_path / item)
    (tmp_path / "bots.d" / "sol-breakout.yaml").unlink()
    if notifier is not None:
        (tmp_path / "notifiers.d" / "ops.yaml").write_text(notifier, encoding="utf-8")
    fleet = load_checked(tmp_path / "fleet.yaml").fleet
    if state is None:
        return fleet
    return replace(fleet, data_dir=tmp_path / "data", storage=Storage(
        state, f"sqlite:///{tmp_path / 'candles.db'}", "memory://"))


def _candles(fleet) -> dict[str, object]:
    """The recorded hourly candles around the period into the fleet's candle store, with the
    GAP cut out of BTC/USDT; returns them by symbol."""
    from botfleet.data.store.base import SeriesKey, open_store
    from botfleet.venue.market import read_candle_file

    out = {}
    with open_store(fleet.storage.candles) as store:
        for symbol in AMOUNT:
            c = read_candle_file(shared_file(f"binance_{symbol.replace('/', '-')}_1h.csv"))
            c = c[(c["ts"] >= START - 6 * D) & (c["ts"] < END + D)]
            key = SeriesKey("binance", symbol, "1h")
            store.write(key, c, now=END + 2 * D)
            if symbol == "BTC/USDT":
                assert store.delete(key, *GAP) == 5
            out[symbol] = c
    return out


class _Clock:
    t = START - 10 * D

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.t / 1000, UTC)


def _price(candles, ts: int) -> Decimal:
    row = candles[candles["ts"] == ts]
    return Decimal(repr(float(row["open"][0])))


def _fill(ledger, clock, candles, bot, key, symbol, side, ts, reason=Reason.SIGNAL):
    """One market order through the ledger's send sequence, filled at the candle's open."""
    clock.t = ts
    amount = AMOUNT[symbol]
    price = _price(candles[symbol], ts)
    fee = (amount * price * FEE).quantize(Decimal("0.00000001"))
    cycle = ledger.begin_cycle(bot, candle_ms=ts, key=key)
    rec = ledger.record_intent(cycle, "order", symbol=symbol, side=side, type=OrderType.MARKET,
                               amount=amount, reason=reason)
    ledger.mark_submitted(rec.client_id)
    ledger.mark_acknowledged(rec.client_id, f"x-{bot}-{key}", OrderStatus.OPEN)
    ledger.record_fill(rec.client_id, f"t-{bot}-{key}", amount, price, ts, fee=fee,
                       fee_currency="USDT")
    ledger.end_cycle(cycle, "ok")
    return price, fee


def _realised(ledger, bot) -> Decimal:
    return sum((p.realized_pnl for p in ledger.positions(bot)), Decimal(0))


def _populate(fleet, candles) -> dict:
    """Trades, equity, cycles and risk events around the period; returns the ledger's figures
    the report must show."""
    from botfleet.execution.ledger import Ledger
    from botfleet.risk.decision import RiskEvent
    from botfleet.risk.store import RiskStore

    clock = _Clock()
    want: dict = {}
    with Ledger(fleet.storage.state, clock=clock) as ledger:
        for bot in ("btc-trend", "eth-meanrev"):
            ledger.register_bot(bot, "binance", "paper")
        # before the period: an ETH round trip, and the entry of a BTC trade that exits in it
        _fill(ledger, clock, candles, "eth-meanrev", "e0", "ETH/USDT", Side.BUY, START - 3 * D)
        _fill(ledger, clock, candles, "eth-meanrev", "e1", "ETH/USDT", Side.SELL, START - 2 * D)
        _fill(ledger, clock, candles, "btc-trend", "b0", "BTC/USDT", Side.BUY, START - D)
        before = {b: _realised(ledger, b) for b in ("btc-trend", "eth-meanrev")}
        trades = []  # (bot, entry price, exit price, direction, fees)
        for bot, sym, a, b, direction, reason in (
                ("btc-trend", "BTC/USDT", START - D, START + 6 * H, 1, Reason.SIGNAL),
                ("btc-trend", "BTC/USDT", START + D, START + 2 * D, 1, Reason.STOP_LOSS),
                ("btc-trend", "BTC/USDT", START + 3 * D, START + 3 * D + 5 * H, -1,
                 Reason.SIGNAL),
                ("eth-meanrev", "ETH/USDT", START + 2 * D, START + 4 * D, 1, Reason.SIGNAL)):
            entry_side, exit_side = (Side.BUY, Side.SELL) if direction > 0 else (Side.SELL,
                                                                                 Side.BUY)
            if a >= START:
                p_in, f_in = _fill(ledger, clock, candles, bot, f"{a}", sym, entry_side, a)
            else:
                p_in = _price(candles[sym], a)
                f_in = (AMOUNT[sym] * p_in * FEE).quantize(Decimal("0.00000001"))
            p_out, f_out = _fill(ledger, clock, candles, bot, f"{b}", sym, exit_side, b, reason)
            pnl = (p_out - p_in) * AMOUNT[sym] * direction - f_in - f_out
            trades.append((bot, b, pnl))
        entry, _ = _fill(ledger, clock, candles, "btc-trend", "open", "BTC/USDT", Side.BUY,
                         START + 5 * D)
        clock.t = START + 6 * D
        failed = ledger.begin_cycle("btc-trend", candle_ms=START + 6 * D)
        ledger.end_cycle(failed, "error", "ConnectionError: https://user:hunter2@api.example.org "
                                          "timed out")
        for bot, base in (("btc-trend", Decimal(5000)), ("eth-meanrev", Decimal(3000))):
            for i, t in enumerate((START - H, START + D, START + 3 * D, END - H)):
                ledger.record_equity(bot, base + Decimal(25 * i * (1 if i % 2 else -1)),
                                     datetime.fromtimestamp(t / 1000, UTC))
        want["realised"] = {b: _realised(ledger, b) - before[b] for b in before}
        last_close = Decimal(repr(float(candles["BTC/USDT"]["close"][
            candles["BTC/USDT"]["ts"] == END - H][0])))
        pos = ledger.position("btc-trend", "BTC/USDT")
        assert pos.entry_price == entry
        want["unrealised"] = pos.amount * (last_close - pos.entry_price)
        want["trades"] = trades
        want["orders"] = {b: sum(1 for o in ledger.orders(b) if START <= o.created_at.timestamp()
                                 * 1000 < END) for b in before}
    with RiskStore(fleet.storage.state) as risk:
        risk.add_events([
            RiskEvent("risk_refusal", "btc-trend", "min_notional", "too small", START - 5 * H),
            RiskEvent("risk_refusal", "btc-trend", "max_position", "over 0.02", START + H),
            RiskEvent("risk_refusal", "btc-trend", "max_position", "over 0.02", START + 2 * H),
            RiskEvent("risk_refusal", "eth-meanrev", "price_band", "far", START + 3 * H),
            RiskEvent("circuit_breaker", "btc-trend", "consecutive_errors", "3 errors in a row",
                      START + 4 * H, "bot", "open", "critical")])
        risk.engage("bot", "btc-trend", "freeze", "operator test freeze", "alice", "manual",
                    START + 6 * D, None)
    return want


def _section(page: str, sid: str) -> str:
    return re.search(rf'<section class="[^"]*" id="{sid}">(.*?)</section>', page, re.DOTALL).group(1)


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_weekly_report_shows_the_ledgers_figures(kind, state_url, tmp_path):  # noqa: F811
    from botfleet.reports.periodic import (
        NOTHING,
        gather,
        period_summary,
        period_window,
        render_period_html,
    )

    fleet = _fleet(tmp_path, state_url(kind))
    candles = _candles(fleet)
    want = _populate(fleet, candles)
    window = period_window("weekly", datetime.fromtimestamp(END / 1000, UTC))
    assert (window.start_ms, window.end_ms) == (START, END)
    report = gather(fleet, window)
    page = render_period_html(report)

    summary = _section(page, "summary")
    for bot, realised in want["realised"].items():  # the table says "Money in USDT" once
        assert f">{fmt.money(realised, '', True)}<" in summary, bot
    total = sum(want["realised"].values())
    assert f">{fmt.money(total, '', True)}<" in summary and ">Fleet<" in summary
    assert f">{fmt.money(want['unrealised'], '', True)}<" in summary
    assert "Money in USDT" in summary
    assert fmt.money(want["unrealised"], "USDT", True) in _section(page, "positions")
    # equity: btc 5000, 5025, 4950, 5075 (+1.50%, drawdown 75/5025 = 1.49%); fleet 8000 ->
    # 8150 (+1.88%)
    assert "+1.50%" in summary and "1.49%" in summary and "+1.88%" in summary
    trades = _section(page, "trades")
    assert trades.count("<tr>") - 1 == len(want["trades"]) == 4
    for _bot, exit_ms, pnl in want["trades"]:
        assert fmt.ts_text(exit_ms) in trades and fmt.money(pnl, "USDT", True) in trades
    assert fmt.ts_text(START - 2 * D) not in trades  # the ETH trade closed before the period
    assert "stop loss" in trades.lower() or "stop_loss" in trades
    wins = sum(1 for b, _, p in want["trades"] if b == "btc-trend" and p > 0)
    assert f"<td class=\"num\">{fmt.pct(wins / 3)}</td>" in summary
    orders = _section(page, "orders")
    assert f">{want['orders']['btc-trend']}<" in orders

    gaps = _section(page, "gaps")
    assert "5 candle(s) missing in 1 series" in gaps
    assert f"{fmt.ts_text(GAP[0])} → {fmt.ts_text(GAP[1] - H)} (5)" in gaps
    assert report.gaps[0].expected == 7 * 24

    risk = _section(page, "risk")
    assert "max_position</td><td class=\"num\">2<" in risk and "price_band" in risk
    assert "min_notional" not in risk  # before the period
    assert "consecutive_errors" in risk and "1 trip(s)" in risk
    assert "operator test freeze" in risk and "still engaged" in risk
    cycles = _section(page, "cycles")
    assert "Failed cycles" in cycles and "ConnectionError" in cycles
    try:
        import botfleet.obs.masking  # noqa: F401
    except ImportError:
        pass
    else:
        assert "hunter2" not in page

    text = period_summary(report)
    assert fmt.money(total, "USDT", True) in text and "4 closed" in text
    assert "3 refusal(s), 1 breaker trip(s), 1 kill switch(es)" in text
    assert NOTHING not in page


def test_an_empty_period_says_so(state_url, tmp_path):  # noqa: F811
    from botfleet.reports.periodic import (
        NOTHING,
        gather,
        period_summary,
        period_window,
        render_period_html,
    )

    fleet = _fleet(tmp_path, state_url("sqlite"))
    _populate(fleet, _candles(fleet))
    quiet = period_window("daily", datetime.fromtimestamp((START - 4 * D) / 1000, UTC))
    report = gather(fleet, quiet)
    assert report.empty
    page = render_period_html(report)
    assert NOTHING in page and "No trade was closed in this period." in page
    assert "No candle is missing in this period." in page
    assert period_summary(report).endswith(NOTHING)
    with pytest.raises(ValueError, match="daily, weekly"):
        period_window("monthly")


def _chromium_or_skip() -> None:
    from botfleet.reports.pdf import ChromiumNotFound, find_chromium

    try:
        find_chromium()
    except ChromiumNotFound as exc:
        pytest.skip(str(exc))


def test_the_report_job_writes_html_and_pdf(state_url, tmp_path):  # noqa: F811
    from botfleet.jobs.report import report_period

    _chromium_or_skip()
    fleet = _fleet(tmp_path, state_url("sqlite"))
    want = _populate(fleet, _candles(fleet))
    row = report_period(fleet, "weekly", now=datetime.fromtimestamp(END / 1000, UTC),
                        send=False)
    html, pdf = Path(row["path"]), Path(row["pdf"])
    assert html.parent == fleet.data_dir / "reports" and html.name == "weekly-2025-09-15-0000.html"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 20_000
    assert row["trades"] == 4 and Decimal(row["realised"]) == sum(want["realised"].values())
    assert row["delivery"] == "not sent (send=False)" and row["sent"] == []


NOTIFIER = """kind: notifier
version: 1
name: ops
channels:
  email:
    url: ${env:BOTFLEET_TEST_REPORT_SMTP}
routes:
  - events: [daily_report]
    channels: [email]
"""


def test_the_report_is_mailed_with_its_pdf(state_url, tmp_path, smtp_server,  # noqa: F811
                                           monkeypatch):
    notify = pytest.importorskip("botfleet.notify", reason="botfleet.notify is not built yet")
    if not hasattr(notify, "send_message"):
        pytest.skip("botfleet.notify.send_message is not built yet")
    from botfleet.jobs.report import report_period

    _chromium_or_skip()
    monkeypatch.setenv("BOTFLEET_TEST_REPORT_SMTP", smtp_server.url())
    fleet = _fleet(tmp_path, state_url("sqlite"), NOTIFIER)
    want = _populate(fleet, _candles(fleet))
    row = report_period(fleet, "weekly", now=datetime.fromtimestamp(END / 1000, UTC))
    assert row["sent"] == ["email"] and row["failed"] == {}, row
    mail = smtp_server.wait(1)[0]
    assert "weekly report" in mail.subject
    assert fmt.money(sum(want["realised"].values()), "USDT", True) in mail.body
    pdf = mail.attachments[Path(row["pdf"]).name]
    assert pdf.startswith(b"%PDF") and pdf == Path(row["pdf"]).read_bytes()
    assert Path(row["path"]).name in mail.attachments


def test_botfleet_report_renders_a_past_week_on_demand(tmp_path):
    from typer.testing import CliRunner

    from botfleet.cli import app

    fleet = _fleet(tmp_path, None)  # the YAML's own state database, as the command reads it
    want = _populate(fleet, _candles(fleet))
    path = str(tmp_path / "fleet.yaml")
    got = CliRunner().invoke(app, ["report", "--fleet", path, "--period", "weekly", "--end",
                                   "2025-09-15", "--no-send", "--no-pdf"])
    assert got.exit_code == 0, got.output
    total = fmt.money(sum(want["realised"].values()), "USDT", True)
    assert f"PnL: realised {total}" in got.output and "4 closed" in got.output
    page = fleet.data_dir / "reports" / "weekly-2025-09-15-0000.html"
    assert f"html: {page}" in got.output and page.is_file()
    assert "pdf: PDF not asked for" in got.output
    assert "delivery: not sent (send=False)" in got.output
    bad = CliRunner().invoke(app, ["report", "--fleet", path, "--period", "monthly"])
    assert bad.exit_code == 2 and "choose daily or weekly" in bad.output
    bad = CliRunner().invoke(app, ["report", "--fleet", path, "--end", "15/09/2025"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


UNREACHABLE = """kind: notifier
version: 1
name: ops
channels:
  hook:
    url: ${env:BOTFLEET_TEST_REPORT_HOOK}
    retries: 0
  email:
    url: ${env:BOTFLEET_TEST_REPORT_UNSET}
routes:
  - events: [daily_report]
    channels: [hook, email]
"""


def test_a_report_no_channel_takes_fails_and_a_disabled_channel_is_named(
        state_url, tmp_path, monkeypatch):  # noqa: F811
    notify = pytest.importorskip("botfleet.notify", reason="botfleet.notify is not built yet")
    if not hasattr(notify, "send_message"):
        pytest.skip("botfleet.notify.send_message is not built yet")
    from notify_servers import closed_port_url

    from botfleet.jobs.report import ReportNotDelivered, report_period

    monkeypatch.setenv("BOTFLEET_TEST_REPORT_HOOK", closed_port_url())
    monkeypatch.delenv("BOTFLEET_TEST_REPORT_UNSET", raising=False)
    fleet = _fleet(tmp_path, state_url("sqlite"), UNREACHABLE)
    now = datetime.fromtimestamp(END / 1000, UTC)
    with pytest.raises(ReportNotDelivered, match="reached no channel") as err:
        report_period(fleet, "daily", now=now, pdf=False)
    assert "hook" in str(err.value) and "email" in str(err.value)
    monkeypatch.setenv("BOTFLEET_TEST_REPORT_HOOK", "")  # now both are disabled: not retried
    (tmp_path / "again").mkdir()
    fleet = _fleet(tmp_path / "again", state_url("sqlite"), UNREACHABLE)
    row = report_period(fleet, "daily", now=now, pdf=False)
    assert row["sent"] == [] and set(row["failed"]) == {"hook", "email"}
    assert all(why.startswith("disabled:") for why in row["failed"].values())
    assert row["delivery"].startswith("not delivered: hook: disabled:")


@pytest.mark.slow  # the session's Prefect server starts (~35 s) unless another test started it
def test_the_report_flow_renders_both_pages_and_takes_the_deployments_period(
        prefect_server, tmp_path):  # noqa: F811
    from botfleet.orchestration import load_flows

    flow = load_flows()["report"]
    fleet = _fleet(tmp_path, None)
    _populate(fleet, _candles(fleet))
    path = str(tmp_path / "fleet.yaml")
    # what a deployment of a weekly `schedules.report` passes: period_hours=168
    state = flow(fleet=path, period_hours=168.0, send=False, return_state=True)
    assert state.is_completed(), state.message
    out = state.result()
    runs, trading = out["rows"]
    assert runs["runs"] == 0 and "no run stored in the 168 h" in runs["detail"]
    assert trading["period"] == "weekly" and trading["end_ms"] - trading["start_ms"] == 7 * D
    page = Path(trading["path"])
    assert page.parent == fleet.data_dir / "reports" and page.is_file()
    assert f"weekly trading report: {page}" in out["summary"]
    assert "not sent (send=False)" in out["summary"]
    bad = flow(fleet=path, period="monthly", send=False, return_state=True)
    assert bad.is_failed() and "daily or weekly" in bad.message
