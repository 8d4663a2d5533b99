"""`botfleet notify test|channels|run` through the real command line (typer's CliRunner).

A test message goes through Apprise to a local webhook; a dead channel answers with its
masked error and exit 1; a channel the fleet does not define is a usage error listing those
it does.
"""

from __future__ import annotations

import threading

from notify_servers import SMTP_PASSWORD, closed_port_url, make_fleet, webhook  # noqa: F401
from test_bus import REDIS_URL, make_bus
from typer.testing import CliRunner

from botfleet.bus import TRADES_OPENED, Event
from botfleet.cli import app

NOTIFIER = """
kind: notifier
version: 1
name: ops
channels:
  chat: {url: "${env:T_CHAT_URL}"}
  down: {url: "${env:T_DOWN_URL}"}
  unset: {url: "${env:T_UNSET_URL}"}
routes:
  - {events: [trade_opened], channels: [chat]}
"""
runner = CliRunner()


def fleet_dir(tmp_path, monkeypatch, hook) -> str:
    monkeypatch.setenv("T_CHAT_URL", hook.url())
    monkeypatch.setenv("T_DOWN_URL", closed_port_url().replace("json://",
                                                               f"json://u:{SMTP_PASSWORD}@"))
    monkeypatch.delenv("T_UNSET_URL", raising=False)
    make_fleet(tmp_path, NOTIFIER)
    return str(tmp_path)


def test_notify_test_delivers_and_exits_zero(tmp_path, monkeypatch, webhook):  # noqa: F811
    path = fleet_dir(tmp_path, monkeypatch, webhook)
    result = runner.invoke(app, ["notify", "test", "chat", "--fleet", path, "-m", "hello ops"])
    assert result.exit_code == 0, result.output
    assert "channel chat: delivered" in result.output
    post = webhook.wait(1)[0]
    assert (post["title"], post["message"]) == ("botfleet test", "hello ops")


def test_notify_test_on_a_dead_channel_exits_one_with_the_masked_reason(
        tmp_path, monkeypatch, webhook):  # noqa: F811
    path = fleet_dir(tmp_path, monkeypatch, webhook)
    result = runner.invoke(app, ["notify", "test", "down", "--fleet", path])
    assert result.exit_code == 1
    assert "channel down: not delivered: A Connection error occurred" in result.output
    assert SMTP_PASSWORD not in result.output
    result = runner.invoke(app, ["notify", "test", "unset", "--fleet", path])
    assert result.exit_code == 1
    assert "channel unset: not delivered: disabled: environment variable T_UNSET_URL is not " \
           "set" in result.output


def test_notify_test_on_an_unknown_channel_lists_the_channels(
        tmp_path, monkeypatch, webhook):  # noqa: F811
    path = fleet_dir(tmp_path, monkeypatch, webhook)
    result = runner.invoke(app, ["notify", "test", "chatt", "--fleet", path])
    assert result.exit_code == 2
    assert "no notification channel 'chatt'; channels: chat, down, unset" in result.output


def test_notify_channels_lists_state_without_urls(tmp_path, monkeypatch, webhook):  # noqa: F811
    path = fleet_dir(tmp_path, monkeypatch, webhook)
    result = runner.invoke(app, ["notify", "channels", "--fleet", path])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert lines["chat"].endswith("enabled") and "${env:T_CHAT_URL}" in lines["chat"]
    assert "disabled: environment variable T_UNSET_URL" in lines["unset"]
    assert "127.0.0.1" not in result.output


def test_notify_run_reads_the_bus_until_told_to_stop(tmp_path, monkeypatch, webhook):  # noqa: F811
    path = fleet_dir(tmp_path, monkeypatch, webhook)
    bus = make_bus("redis")
    try:
        bus.events.append(Event(TRADES_OPENED, "trade_opened", {"bot": "a", "symbol": "X/Y",
                                                                "side": "long"}))
        out: list = []
        t = threading.Thread(target=lambda: out.append(runner.invoke(app, [
            "notify", "run", "--fleet", path, "--cache", REDIS_URL, "--prefix", bus.prefix,
            "--seconds", "3"])))
        t.start()
        assert webhook.wait(1)[0]["title"] == "a: opened X/Y long"
        t.join(15)
    finally:
        bus.purge()
        bus.close()
    assert out and out[0].exit_code == 0, out and out[0].output
    assert "notifier stopped: 1 routed, 1 sent, 0 failed" in out[0].output
