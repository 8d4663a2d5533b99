"""The notifier's rules without I/O: event mapping, routing, templates, rate limits, quiet hours.

Time is an argument everywhere here, so a night of quiet hours or a minute of rate limit
passes in microseconds. Delivery through Apprise is in test_notify_delivery.py.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from notify_servers import make_fleet

from botfleet.bus import (
    BREAKER_CHANGED,
    KILLSWITCH_CHANGED,
    NOTIFICATIONS,
    ORDERS_PLACED,
    RISK_ALERTS,
    TRADES_CLOSED,
    TRADES_OPENED,
    Event,
)
from botfleet.config import load_fleet
from botfleet.notify import NotifyPlan, from_event
from botfleet.notify.limits import QuietHours, TokenBucket
from botfleet.notify.notice import classify, message
from botfleet.notify.outbox import Item, Outbox
from botfleet.notify.templates import render

BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, tz=BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def item(n: int = 0, severity: str = "info", etype: str = "trade_opened", bot: str = "a"):
    return Item(etype, severity, bot, f"title {n}", f"body {n}")


# -- bus events -> YAML event types ---------------------------------------------------------


@pytest.mark.parametrize(("topic", "type_", "payload", "expected"), [
    (ORDERS_PLACED, "order_placed", {"bot": "a"}, ("order_placed", "info")),
    (TRADES_OPENED, "trade_opened", {"bot": "a"}, ("trade_opened", "info")),
    (TRADES_CLOSED, "trade_closed", {"reason": "signal"}, ("trade_closed", "info")),
    (TRADES_CLOSED, "trade_closed", {"reason": "stop_loss"}, ("stop_hit", "warning")),
    (TRADES_CLOSED, "trade_closed", {"reason": "trailing_stop"}, ("stop_hit", "warning")),
    (RISK_ALERTS, "risk_refusal", {"severity": "warning"}, ("risk_refusal", "warning")),
    (RISK_ALERTS, "reconciliation_mismatch", {"severity": "critical"},
     ("reconciliation_mismatch", "critical")),
    (BREAKER_CHANGED, "breaker_open", {"state": "open", "severity": "error"},
     ("circuit_breaker", "error")),
    (BREAKER_CHANGED, "breaker_closed", {"state": "closed"}, ("circuit_breaker", "info")),
    (KILLSWITCH_CHANGED, "engaged", {"state": "engaged"}, ("kill_switch", "critical")),
    (KILLSWITCH_CHANGED, "released", {"state": "released"}, ("kill_switch", "warning")),
    (NOTIFICATIONS, "message", {"severity": "error", "title": "x"}, ("error", "error")),
    (NOTIFICATIONS, "message", {"severity": "info"}, ("message", "info")),
    (NOTIFICATIONS, "data_gap", {"severity": "warning"}, ("data_gap", "warning")),
    (NOTIFICATIONS, "message", {"event": "daily_report"}, ("daily_report", "info")),
    (NOTIFICATIONS, "message", {"severity": "shouting"}, ("message", "info")),
])
def test_bus_events_map_to_yaml_event_types(topic, type_, payload, expected):
    assert classify(Event(topic, type_, payload)) == expected


def test_a_notice_carries_the_common_fields_and_its_idempotency_key():
    ev = Event(TRADES_CLOSED, "trade_closed", {"bot": "btc", "pnl": "-3.5", "reason": "stop_loss"},
               ts_ms=1_700_000_000_000, id="1700000000000-0")
    n = from_event(ev)
    assert (n.event_type, n.bot, n.key) == ("stop_hit", "btc", (TRADES_CLOSED, "1700000000000-0"))
    assert n.fields["time"] == "2023-11-14 22:13:20 UTC" and n.fields["event"] == "stop_hit"


# -- templates --------------------------------------------------------------------------------


def test_templates_render_money_as_decimal_and_missing_fields_as_a_dash():
    n = from_event(Event(TRADES_CLOSED, "trade_closed", {
        "bot": "btc", "symbol": "BTC/USDT", "pnl": "12.346", "reason": "signal"}))
    title, body = render(n, {"trade_closed": "{bot} {symbol} pnl={pnl:.2f} fees={fees}"})
    assert title == "btc: closed BTC/USDT"
    assert body == "btc BTC/USDT pnl=12.35 fees=-"


def test_a_template_that_fails_at_send_time_falls_back_to_the_default(caplog):
    n = from_event(Event(TRADES_OPENED, "trade_opened", {"bot": "b", "symbol": "ETH/USDT",
                                                          "side": "long", "amount": "2",
                                                          "entry_price": "3000"}))
    _, body = render(n, {"trade_opened": "{symbol:.2f}"})  # a number format on text
    assert body == "b opened long 2 ETH/USDT at 3000"
    assert "template for trade_opened failed" in caplog.text


def test_a_worded_message_keeps_its_title_and_body():
    n = message("Daily report", "all fine", event_type="daily_report")
    assert render(n, {}) == ("Daily report", "all fine")
    with pytest.raises(ValueError, match="severity 'loud'"):
        message("t", "b", event_type="error", severity="loud")


NOTIFIER = """
kind: notifier
version: 1
name: ops
channels:
  chat: {url: "${env:T_CHAT_URL}"}
routes:
  - {events: [trade_closed], channels: [chat]}
templates:
  trade_closed: "{bot} made {pnll}"
  stop_hit: "{pnl:{width}}"
  error: "{0} {title.upper}"
"""


def test_a_template_naming_an_unknown_field_is_a_config_error_at_its_line(tmp_path):
    with pytest.raises(AssertionError) as err:
        make_fleet(tmp_path, NOTIFIER)
    text = str(err.value)
    assert "notifiers.d/ops.yaml:9" in text
    assert "names '{pnll}', which trade_closed events do not carry" in text
    assert "did you mean 'pnl'?" in text
    assert "nested field" in text and "positional field" in text and "reaches into" in text
    load = load_fleet(tmp_path / "fleet.yaml", display_root=tmp_path)
    assert len(load.errors) == 4


# -- routing ---------------------------------------------------------------------------------

ROUTED = """
kind: notifier
version: 1
name: ops
channels:
  chat: {url: "${env:T_CHAT_URL}"}
  mail: {url: "${env:T_MAIL_URL}"}
  pager: {url: "${env:T_PAGER_URL}"}
routes:
  - {events: [trade_opened, trade_closed, stop_hit], channels: [chat]}
  - {events: [trade_closed], bots: ["btc-*"], channels: [mail]}
  - {events: ["*"], min_severity: error, channels: [pager]}
"""


@pytest.fixture
def plan(tmp_path, monkeypatch):
    for var in ("T_CHAT_URL", "T_MAIL_URL", "T_PAGER_URL"):
        monkeypatch.setenv(var, "json://127.0.0.1:9/x")
    fleet = make_fleet(tmp_path, ROUTED, {
        "btc-trend": "", "eth-x": "", "quiet-one": "notify: {mute: true}\n",
        "picky": "notify: {events: [stop_hit], min_severity: warning}\n"})
    return NotifyPlan.from_fleet(fleet)


def route(plan, topic, type_, **payload):
    return plan.router.channels(from_event(Event(topic, type_, payload)))


def test_routes_by_event_type_severity_and_bot_glob(plan):
    assert route(plan, TRADES_OPENED, "trade_opened", bot="eth-x") == ["chat"]
    assert route(plan, TRADES_CLOSED, "trade_closed", bot="btc-trend") == ["chat", "mail"]
    assert route(plan, TRADES_CLOSED, "trade_closed", bot="eth-x") == ["chat"]
    assert route(plan, ORDERS_PLACED, "order_placed", bot="eth-x") == []
    assert route(plan, RISK_ALERTS, "risk_refusal", bot="eth-x", severity="warning") == []
    assert route(plan, RISK_ALERTS, "risk_refusal", bot="eth-x", severity="error") == ["pager"]
    # a fleet-wide event (no bot) never matches a route limited to some bots
    assert route(plan, TRADES_CLOSED, "trade_closed") == ["chat"]


def test_a_bots_own_settings_narrow_its_notifications(plan):
    assert route(plan, TRADES_OPENED, "trade_opened", bot="quiet-one") == []
    assert route(plan, KILLSWITCH_CHANGED, "engaged", bot="quiet-one",
                 state="engaged") == ["pager"]  # muted, but critical still goes out
    assert route(plan, TRADES_CLOSED, "trade_closed", bot="picky") == []
    assert route(plan, TRADES_CLOSED, "trade_closed", bot="picky", reason="stop_loss") == ["chat"]


def test_an_unknown_channel_name_lists_the_channels(plan):
    with pytest.raises(LookupError, match="no notification channel 'chatt'; channels: chat, "
                                          "mail, pager"):
        plan.channel("chatt")


# -- rate limit --------------------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_refills_continuously():
    b = TokenBucket(20, 60, now=0)
    assert sum(b.take(0) for _ in range(25)) == 20
    assert b.next_token_at(0) == pytest.approx(3.0)
    assert not b.take(2.9) and b.take(3.0)


def test_excess_messages_wait_and_go_as_one_digest_when_a_token_comes_back():
    box = Outbox(dedup_window_s=0, bucket=TokenBucket(20, 60, now=0))
    for i in range(1000):
        box.add(item(i), now=0)
    first = box.due(0)
    assert len(first) == 20
    assert sum(len(d.items) for d in first) == 1000  # nothing dropped
    assert [len(d.items) for d in first[:19]] == [1] * 19
    assert first[-1].digest and len(first[-1].items) == 981
    assert "981 notifications (rate limit)" in first[-1].title
    assert "trade_opened x981" in first[-1].body and "... and 941 more" in first[-1].body
    for i in range(5):  # the bucket is empty: these wait
        box.add(item(2000 + i), now=1)
    assert box.due(1) == []
    assert box.next_due(1) == pytest.approx(3.0)
    later = box.due(3.0)
    assert len(later) == 1 and len(later[0].items) == 5


def test_a_critical_message_is_never_held_by_the_rate_limit():
    box = Outbox(dedup_window_s=0, bucket=TokenBucket(1, 60, now=0))
    box.add(item(1), 0)
    box.add(item(2), 0)
    box.add(item(3, "critical", "kill_switch"), 0)
    out = box.due(0)
    assert [d.items[0].severity for d in out] == ["critical"]  # it used the only token
    assert box.waiting == 2


# -- batching and dedup ------------------------------------------------------------------------


def test_batch_window_collects_into_one_digest():
    box = Outbox(batch_window_s=900, dedup_window_s=0)
    for i, t in enumerate((100, 400, 999)):
        assert box.add(item(i), t) == "batched"
    assert box.due(999) == [] and box.next_due(999) == 1000
    out = box.due(1000)
    assert len(out) == 1 and [i.title for i in out[0].items] == ["title 0", "title 1",
                                                                   "title 2"]


def test_identical_messages_within_the_dedup_window_are_dropped():
    box = Outbox(dedup_window_s=300)
    assert box.add(item(1), 0) == "ready"
    assert box.add(item(1), 299) == "duplicate"
    assert box.add(item(1, etype="trade_closed"), 10) == "ready"  # another type
    assert box.add(Item("trade_opened", "info", "b", "title 1", "body 1"), 10) == "ready"
    assert box.add(item(1), 300) == "ready"  # the window is over
    assert box.duplicates == 1


# -- quiet hours -------------------------------------------------------------------------------


def test_quiet_hours_span_midnight_in_their_timezone():
    q = QuietHours.parse({"start": "23:00", "end": "07:00", "timezone": "Europe/Berlin"})
    assert q.active(at("2026-01-10T23:30")) and q.active(at("2026-01-11T06:59"))
    assert not q.active(at("2026-01-11T07:00")) and not q.active(at("2026-01-10T22:59"))
    assert not q.active(at("2026-01-10T21:30", ZoneInfo("UTC")))  # 22:30 in Berlin
    assert q.active(at("2026-01-10T22:30", ZoneInfo("UTC")))  # 23:30 in Berlin
    assert q.ends_at(at("2026-01-10T23:30")) == at("2026-01-11T07:00")
    assert q.ends_at(at("2026-01-11T03:00")) == at("2026-01-11T07:00")
    day = QuietHours.parse({"start": "12:00", "end": "13:00"})
    assert day.active(at("2026-01-10T12:30", ZoneInfo("UTC")))


def test_quiet_hours_hold_messages_but_never_critical_ones():
    q = QuietHours.parse({"start": "23:00", "end": "07:00", "timezone": "Europe/Berlin"})
    box = Outbox(dedup_window_s=0, quiet=q)
    night = at("2026-01-10T23:30")
    assert box.add(item(1), night) == "held"
    assert box.add(item(2, "error", "error"), night + 60) == "held"
    assert box.add(item(3, "critical", "kill_switch"), night + 120) == "urgent"
    out = box.due(night + 120)
    assert [d.items[0].title for d in out] == ["title 3"]
    assert box.next_due(night + 120) == at("2026-01-11T07:00")
    assert box.due(at("2026-01-11T06:59")) == []
    morning = box.due(at("2026-01-11T07:00"))
    assert len(morning) == 1 and morning[0].digest
    assert "2 notifications (held during quiet hours)" in morning[0].title
