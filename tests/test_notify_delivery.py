"""Real deliveries: Apprise sending to a local SMTP server (aiosmtpd) and local webhooks.

Each test reads what the servers actually received (subject, body, attachments, JSON posts),
so a routing, template, rate-limit or quiet-hours mistake shows as a wrong message in a
mailbox. A channel that is down is a port where nothing listens.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from notify_servers import (
    SMTP_PASSWORD,
    Hook,
    closed_port_url,
    make_fleet,
    smtp_server,  # noqa: F401 - fixture
    webhook,  # noqa: F401 - fixture
    webhooks,  # noqa: F401 - fixture
)

from botfleet.bus import KILLSWITCH_CHANGED, TRADES_CLOSED, TRADES_OPENED, Event
from botfleet.notify import Notifier, NotifyPlan, send_message
from botfleet.obs import metrics

TWO_CHANNELS = """
kind: notifier
version: 1
name: ops
channels:
  mail: {url: "${env:T_MAIL_URL}", retries: 0}
  chat: {url: "${env:T_CHAT_URL}", retries: 0}
routes:
  - {events: [daily_report], channels: [mail, chat]}
  - {events: [trade_opened], channels: [chat]}
  - {events: [trade_closed, stop_hit, kill_switch], channels: [mail, chat]}
templates:
  trade_closed: "{bot} closed {symbol}: PnL {pnl:.2f} ({reason})"
"""


def opened(n: int, bot: str = "btc") -> Event:
    return Event(TRADES_OPENED, "trade_opened", {
        "bot": bot, "symbol": "BTC/USDT", "side": "long", "amount": "0.5",
        "entry_price": f"{60000 + n}", "trade_id": f"t{n}"}, id=f"1-{n}")


def test_send_message_delivers_subject_body_and_attachment_by_mail_and_webhook(
        tmp_path, monkeypatch, smtp_server, webhook):  # noqa: F811
    monkeypatch.setenv("T_MAIL_URL", smtp_server.url())
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    fleet = make_fleet(tmp_path, TWO_CHANNELS)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 daily report")
    report = send_message(fleet, "Daily report 2026-01-10", "Equity 10,250 USDT",
                          attachments=[pdf])
    assert report.ok and sorted(report.sent) == ["chat", "mail"]
    mail = smtp_server.wait(1)[0]
    assert mail.subject == "Daily report 2026-01-10"
    assert mail.body.strip() == "Equity 10,250 USDT"
    assert mail.attachments == {"report.pdf": b"%PDF-1.4 daily report"}
    post = webhook.wait(1)[0]
    assert (post["title"], post["message"]) == ("Daily report 2026-01-10", "Equity 10,250 USDT")
    assert Hook.attachments(post) == {"report.pdf": b"%PDF-1.4 daily report"}


def test_the_background_notifier_routes_by_type_and_renders_templates(
        tmp_path, monkeypatch, smtp_server, webhook):  # noqa: F811
    monkeypatch.setenv("T_MAIL_URL", smtp_server.url())
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    fleet = make_fleet(tmp_path, TWO_CHANNELS)
    with Notifier.from_fleet(fleet) as notifier:
        notifier.submit(opened(1))
        notifier.submit(Event(TRADES_CLOSED, "trade_closed", {
            "bot": "btc", "symbol": "BTC/USDT", "pnl": "-12.3456", "reason": "stop_loss",
            "exit_price": "59000", "entry_price": "60000"}, id="2-0"))
        posts = webhook.wait(2)
        mails = smtp_server.wait(1)
    assert [p["title"] for p in posts] == ["btc: opened BTC/USDT long", "btc: stop hit on BTC/USDT"]
    assert posts[0]["message"] == "btc opened long 0.5 BTC/USDT at 60001"
    assert posts[1]["type"] == "warning"
    # stop_hit has no template of its own: the default; trade_opened never reaches the mail
    assert [m.subject for m in mails] == ["btc: stop hit on BTC/USDT"]
    assert "PnL -12.3456, reason stop_loss" in mails[0].body
    assert notifier.stats.sent == {"chat": 2, "mail": 1}


def test_a_failing_channel_is_logged_counted_and_alerted_on_another_channel(
        tmp_path, monkeypatch, webhook, caplog):  # noqa: F811
    down = closed_port_url().replace("json://", f"json://ops:{SMTP_PASSWORD}@")
    monkeypatch.setenv("T_MAIL_URL", down)
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    fleet = make_fleet(tmp_path, TWO_CHANNELS.replace("mail: {url: \"${env:T_MAIL_URL}\", "
                                                      "retries: 0}",
                                                      "mail: {url: \"${env:T_MAIL_URL}\", "
                                                      "retries: 2}"))
    slept: list[float] = []
    before = metrics.NOTIFICATION_FAILURES.labels("mail")._value.get()
    notifier = Notifier.from_fleet(fleet, sleep=slept.append, jitter=lambda: 0.5)
    for n in range(3):
        notifier.submit(Event(TRADES_CLOSED, "trade_closed", {
            "bot": "btc", "symbol": "BTC/USDT", "pnl": f"{n}", "reason": "signal"}, id=f"5-{n}"))
    notifier.process()
    results = notifier.pump()
    assert [(k, ok) for k, _, ok in results if k == "mail"] == [("mail", False)] * 3
    assert slept == [0.5, 1.0] * 3  # two retries per message, doubling (jitter fixed at 1x)
    assert notifier.stats.failed["mail"] == 3
    assert metrics.NOTIFICATION_FAILURES.labels("mail")._value.get() - before == 3
    posts = webhook.wait(4)
    alerts = [p for p in posts if "is failing" in p["title"]]
    assert len(alerts) == 1  # once per outage, not once per message
    assert alerts[0]["title"] == "botfleet: notification channel mail is failing"
    assert "Connection error" in alerts[0]["message"]
    assert "could not deliver" in caplog.text
    for text in (caplog.text, alerts[0]["message"]):
        assert SMTP_PASSWORD not in text


def test_the_rate_limit_sends_the_excess_as_one_digest_not_dropped(
        tmp_path, monkeypatch, webhook):  # noqa: F811
    monkeypatch.setenv("T_MAIL_URL", closed_port_url())
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    fleet = make_fleet(tmp_path, TWO_CHANNELS.replace(
        "chat: {url: \"${env:T_CHAT_URL}\", retries: 0}",
        "chat: {url: \"${env:T_CHAT_URL}\", retries: 0, rate_limit: 5/1m}"))
    now = [1000.0]
    notifier = Notifier(NotifyPlan.from_fleet(fleet), clock=lambda: now[0])
    for n in range(50):
        notifier.submit(opened(n))
    notifier.process()
    notifier.pump()
    posts = webhook.wait(5)
    assert len(posts) == 5
    assert posts[4]["title"] == "botfleet: 46 notifications (rate limit)"
    assert "trade_opened x46" in posts[4]["message"]
    for n in range(50, 53):
        notifier.submit(opened(n))
    notifier.process()
    assert notifier.pump() == []  # no token left
    now[0] += 12  # 5 per minute: one token every 12 s
    notifier.pump()
    posts = webhook.wait(6)
    assert len(posts) == 6 and posts[5]["title"] == "botfleet: 3 notifications (rate limit)"


QUIET = """
kind: notifier
version: 1
name: ops
channels:
  mail: {url: "${env:T_MAIL_URL}", retries: 0}
routes:
  - {events: ["*"], channels: [mail]}
quiet_hours: {start: "23:00", end: "07:00", timezone: Europe/Berlin}
"""


def test_quiet_hours_hold_the_night_and_release_a_digest_but_critical_goes_at_once(
        tmp_path, monkeypatch, smtp_server):  # noqa: F811
    monkeypatch.setenv("T_MAIL_URL", smtp_server.url())
    fleet = make_fleet(tmp_path, QUIET)
    berlin = ZoneInfo("Europe/Berlin")
    now = [datetime(2026, 1, 10, 23, 30, tzinfo=berlin).timestamp()]
    notifier = Notifier(NotifyPlan.from_fleet(fleet), clock=lambda: now[0])
    notifier.submit(opened(1))
    notifier.submit(opened(2))
    notifier.submit(Event(KILLSWITCH_CHANGED, "engaged", {
        "scope": "fleet", "target": "*", "mode": "flatten", "actor": "cli:ops",
        "reason": "exchange outage", "state": "engaged"}, id="9-0"))
    notifier.process()
    notifier.pump()
    mails = smtp_server.wait(1)
    assert [m.subject for m in mails] == ["kill switch engaged: fleet *"]
    now[0] = datetime(2026, 1, 11, 6, 59, tzinfo=berlin).timestamp()
    assert notifier.pump() == []
    now[0] = datetime(2026, 1, 11, 7, 0, tzinfo=berlin).timestamp()
    notifier.pump()
    mails = smtp_server.wait(2)
    assert mails[1].subject == "botfleet: 2 notifications (held during quiet hours)"
    assert "btc: opened BTC/USDT long" in mails[1].body


def test_a_redelivered_event_id_is_sent_once(tmp_path, monkeypatch, webhook):  # noqa: F811
    monkeypatch.setenv("T_MAIL_URL", closed_port_url())
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    notifier = Notifier.from_fleet(make_fleet(tmp_path, TWO_CHANNELS))
    notifier.submit(opened(7))
    notifier.process()
    notifier.submit(Event(**{**opened(7).__dict__, "redelivered": True}))
    notifier.submit(opened(8))
    notifier.process()
    notifier.pump()
    assert len(webhook.wait(2)) == 2
    assert notifier.stats.repeated == 1


def test_submit_never_blocks_and_a_full_queue_drops_the_oldest_non_critical(
        tmp_path, monkeypatch, webhook):  # noqa: F811
    monkeypatch.setenv("T_MAIL_URL", closed_port_url())
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    webhook.delay_s = 0.5  # a slow chat service
    notifier = Notifier.from_fleet(make_fleet(tmp_path, TWO_CHANNELS), queue_size=3)
    kill = Event(KILLSWITCH_CHANGED, "engaged", {"state": "engaged", "reason": "r"}, id="9-1")
    notifier.submit(kill)
    for n in range(5):
        notifier.submit(opened(n))
    assert notifier.stats.dropped == 3
    assert [e.id for e in notifier._queue] == ["9-1", "1-3", "1-4"]
    notifier.start()
    t0 = time.perf_counter()
    for n in range(100, 400):
        notifier.submit(opened(n))
    assert time.perf_counter() - t0 < 0.1  # 300 submits while the chat answers in 0.5 s each
    notifier.stop(timeout_s=10)


def test_an_unset_reference_disables_its_channel_with_one_warning(
        tmp_path, monkeypatch, webhook, caplog):  # noqa: F811
    monkeypatch.delenv("T_MAIL_URL", raising=False)
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    fleet = make_fleet(tmp_path, TWO_CHANNELS.replace("T_MAIL_URL", "T_NEVER_SET_URL"))
    with caplog.at_level(logging.WARNING):
        plan = NotifyPlan.from_fleet(fleet)
        NotifyPlan.from_fleet(fleet)
    warnings = [r.getMessage() for r in caplog.records if "disabled" in r.getMessage()]
    assert warnings == [("notification channel 'mail' is disabled: environment variable "
                        "T_NEVER_SET_URL is not set (needed by '${env:T_NEVER_SET_URL}')")]
    assert not plan.channels["mail"].enabled and plan.channels["chat"].enabled
    report = send_message(fleet, "Daily", "text", plan=plan)
    assert report.sent == ["chat"] and report.failed["mail"].startswith("disabled: ")
    assert not report.ok


def test_a_url_apprise_cannot_use_disables_the_channel_without_showing_it(
        tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("T_MAIL_URL", "nosuchscheme://user:TopSecret99@host/x")
    monkeypatch.setenv("T_CHAT_URL", "json://127.0.0.1:9/x")
    plan = NotifyPlan.from_fleet(make_fleet(tmp_path, TWO_CHANNELS))
    assert plan.channels["mail"].disabled == ("${env:T_MAIL_URL} is not an Apprise URL "
                                              "botfleet can use (scheme 'nosuchscheme')")
    assert "TopSecret99" not in caplog.text and "TopSecret99" not in repr(plan)


@pytest.mark.parametrize("kind", ["json", "form"])
def test_generic_webhooks_json_and_form_receive_title_and_body(
        tmp_path, monkeypatch, webhook, kind):  # noqa: F811
    monkeypatch.setenv("T_MAIL_URL", closed_port_url())
    monkeypatch.setenv("T_CHAT_URL", webhook.url("alerts", kind))
    report = send_message(make_fleet(tmp_path, TWO_CHANNELS), "T", "B", channels=["chat"])
    assert report.sent == ["chat"]
    post = webhook.wait(1)[0]
    assert (post["title"], post["message"]) == ("T", "B") and webhook.paths == ["/alerts"]


def test_stopping_sends_what_a_batch_window_still_holds_as_one_digest(
        tmp_path, monkeypatch, webhook):  # noqa: F811
    monkeypatch.setenv("T_MAIL_URL", closed_port_url())
    monkeypatch.setenv("T_CHAT_URL", webhook.url())
    fleet = make_fleet(tmp_path, TWO_CHANNELS.replace(
        "chat: {url: \"${env:T_CHAT_URL}\", retries: 0}",
        "chat: {url: \"${env:T_CHAT_URL}\", retries: 0, batch_window: 15m}"))
    notifier = Notifier.from_fleet(fleet)
    notifier.submit(opened(1))
    notifier.submit(opened(2))
    notifier.process()
    assert notifier.pump() == []  # the window is open for 15 minutes
    notifier.stop()
    posts = webhook.wait(1)
    assert [p["title"] for p in posts] == ["botfleet: 2 notifications (sent on shutdown)"]


def test_a_channel_url_can_come_from_the_secrets_directory(
        tmp_path, monkeypatch, webhook):  # noqa: F811
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "chat_url").write_text(webhook.url("from-secret") + "\n")
    monkeypatch.setenv("BOTFLEET_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("T_MAIL_URL", closed_port_url())
    fleet = make_fleet(tmp_path / "fleet", TWO_CHANNELS.replace("${env:T_CHAT_URL}",
                                                                "${secret:chat_url}"))
    assert send_message(fleet, "T", "B", channels=["chat"]).sent == ["chat"]
    assert webhook.paths == ["/from-secret"]
