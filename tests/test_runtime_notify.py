"""A running fleet on the in-process bus notifies by itself: the runner starts the fleet's
notifier on a thread, and what happens in the fleet (here a kill switch engaged from another
place) reaches a real local webhook through Apprise."""

from __future__ import annotations

from notify_servers import webhook  # noqa: F401
from test_runtime_helpers import bot_yaml, load, runner, write_fleet

NOTIFIER = """\
kind: notifier
version: 1
name: ops
channels:
  hook: {url: "${env:RT_HOOK_URL}"}
routes:
  - events: [kill_switch]
    channels: [hook]
"""


def _fleet(tmp_path):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    path.write_text(path.read_text().replace("bots: [bots.d/*.yaml]",
                                             "bots: [bots.d/*.yaml]\nnotifiers: [ops.yaml]"))
    (tmp_path / "ops.yaml").write_text(NOTIFIER, encoding="utf-8")
    return load(path)


def test_the_runner_notifies_a_kill_switch_on_the_webhook(tmp_path, server, webhook,  # noqa: F811
                                                          monkeypatch):
    from botfleet.bus import open_bus

    monkeypatch.setenv("RT_HOOK_URL", webhook.url("ops"))
    open_bus("memory://").purge()  # this process's bus: no earlier test's events
    run = runner(_fleet(tmp_path), server, notify=True).start()
    try:
        assert run.notifier is not None
        run.svc.killswitch.engage("bot", "a", "flatten", "runaway losses", "cli:ops")
        (post,) = webhook.wait(1, timeout_s=20)
        text = f"{post.get('title', '')} {post.get('message', '')}"
        assert "runaway losses" in text and "a" in text
    finally:
        run.shutdown(5)
    assert not run.notifier.thread.is_alive()


def test_without_notify_the_runner_starts_no_notifier(tmp_path, server, webhook,  # noqa: F811
                                                      monkeypatch):
    monkeypatch.setenv("RT_HOOK_URL", webhook.url("ops"))
    run = runner(_fleet(tmp_path), server).start()
    try:
        assert run.notifier is None
    finally:
        run.shutdown(5)


def test_an_unfillable_data_gap_is_announced_as_a_data_gap_notice(tmp_path):
    import uuid

    from botfleet.bus import NOTIFICATIONS, open_bus
    from botfleet.data.needs import Need
    from botfleet.data.store.base import Gap
    from botfleet.jobs.ingest import announce_gaps
    from botfleet.notify.notice import from_event

    fleet = _fleet(tmp_path).fleet
    symbol = f"GAP{uuid.uuid4().hex[:4].upper()}/USDT"
    need = Need("binance", symbol, "1h", 0)
    assert announce_gaps(fleet, need, [Gap(3_600_000, 10_800_000, 3)]) == 1
    bus = open_bus(fleet.storage.cache)
    mine = [e for e in bus.events.read(f"g-{uuid.uuid4().hex}", "c", count=10_000,
                                       topics=(NOTIFICATIONS,))
            if e.payload.get("symbol") == symbol]
    assert len(mine) == 1 and mine[0].payload["missing"] == 3
    notice = from_event(mine[0])
    assert (notice.event_type, notice.severity) == ("data_gap", "warning")
    assert "3 candle(s) missing from 1970-01-01 01:00" in notice.fields["body"]
