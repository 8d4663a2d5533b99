"""Telegram control through a local server that speaks the Telegram Bot API
(`tests/telegram_api.py`): the real python-telegram-bot application polls it, answers the read
commands from a state database a real runner traded into, pauses and kills through the
library with confirmation buttons, refuses expired, replayed and forged buttons, and gives
strangers nothing but an audit entry.
"""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
from telegram_api import TelegramAPI
from test_runtime_helpers import HOUR, T0, bot_yaml, find_close, load, runner, venue, write_fleet

from botfleet.risk.killswitch import KillSwitch
from botfleet.runtime import controls
from botfleet.storage.audit import audit_entries, dispose_engines

TOKEN = "123456789:AAHtestTOKENvalue_never-in-logs-0123456789"
CHAT, USER, STRANGER = 42, 7, 666
CONTROL = """
control:
  telegram:
    token: ${{env:BF_TG_TOKEN}}
    allowed_chats: [{chat}, -100200300]
    api_url: {url}
"""


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _trade(fleet, server) -> None:
    """Bot `a` enters, exits and enters again on the simulator: a closed trade, an open
    position and its resting stop in the state database."""
    run = runner(fleet, server).start()
    try:
        up = find_close(server, "BTC/USDT", T0 + HOUR, True)
        down = find_close(server, "BTC/USDT", up + HOUR, False)
        again = find_close(server, "BTC/USDT", down + HOUR, True)
        for t in (up, down, again):
            server.set_time(t)
            (r,) = run.run_once(["a"], now_ms=t)
            assert r.outcome == "ok", r.error
    finally:
        run.shutdown()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    env = pytest.MonkeyPatch()
    env.setenv("BF_TG_TOKEN", TOKEN)
    env.setenv("RT_KEY", "k")
    env.setenv("RT_SECRET", "s")
    logs = Records()
    root_logger = logging.getLogger()
    old_level = root_logger.level
    api = TelegramAPI(TOKEN).__enter__()
    control = None
    try:
        root = tmp_path_factory.mktemp("tg")
        path = write_fleet(root, {"a": bot_yaml("a"), "b": bot_yaml("b", "ETH/USDT")})
        with path.open("a") as f:
            f.write(CONTROL.format(chat=CHAT, url=api.url))
        fleet = load(path)
        server = venue()
        try:
            _trade(fleet, server)
        finally:
            server.stop()
        from botfleet.notify.telegram.app import TelegramControl

        root_logger.addHandler(logs)  # everything the Telegram bot logs, at every level
        root_logger.setLevel(logging.DEBUG)
        control = TelegramControl.from_fleet(fleet.fleet).start(poll_timeout_s=1)
        logging.getLogger("httpx").setLevel(logging.DEBUG)  # the redaction must hold anyway
        yield SimpleNamespace(api=api, control=control, fleet=fleet.fleet, logs=logs,
                              state=fleet.fleet.storage.state)
    finally:
        if control is not None:
            control.stop()
        api.__exit__(None, None, None)
        root_logger.removeHandler(logs)
        root_logger.setLevel(old_level)
        env.undo()
        dispose_engines()


def ask(world, text: str, chat: int = CHAT, user: int = USER):
    mark = world.api.mark()
    world.api.send_text(chat, user, text)
    return world.api.wait_message(chat, after=mark)


def press(world, message, data: str, chat: int = CHAT, user: int = USER,
          method: str = "editMessageText"):
    mark = world.api.mark()
    world.api.press(chat, user, message, data)
    return world.api.wait_message(chat, after=mark, method=method) if method == \
        "editMessageText" else world.api.wait_for(
            lambda s: s.method == method and world.api.state.sent.index(s) >= mark)


def test_help_lists_every_command_and_they_are_registered_with_telegram(world):
    reply = ask(world, "/help")
    for name in ("status", "balance", "positions", "orders", "pnl", "trades", "performance",
                 "pause", "resume", "stop", "start", "kill", "release", "reload", "help"):
        assert f"/{name} - " in reply.text
    registered = [c["command"] for c in world.api.state.commands]
    assert len(registered) == 15 and "kill" in registered and "pnl" in registered
    assert "getMe" in world.api.state.calls and "getUpdates" in world.api.state.calls


def test_status_and_the_reads_answer_from_the_state_database(world):
    status = ask(world, "/status").text
    assert "Fleet rt: 2 bot(s)" in status
    assert "• a [paper]" in status and "ok; BTC/USDT" in status and "1 order(s)" in status
    assert "• b [paper] last never -; flat" in status
    positions = ask(world, "/positions").text
    assert "• a BTC/USDT long" in positions
    orders = ask(world, "/orders").text
    assert "• a BTC/USDT sell stop" in orders and "(stop_loss, " in orders
    trades = ask(world, "/trades").text
    assert "Last 1 closed trade(s)" in trades and "a BTC/USDT long" in trades
    assert "(signal)" in trades
    pnl = ask(world, "/pnl all").text
    assert pnl.startswith("PnL all") and "• a: realised" in pnl and "in 1 trade(s)" in pnl
    assert "unknown period 'forever': one of today, 7d, 30d, all" in ask(world,
                                                                          "/pnl forever").text
    assert "1 trades" in ask(world, "/performance").text
    assert "• a: equity " in ask(world, "/balance").text
    assert "I only understand commands" in ask(world, "hello").text


def test_pause_and_resume_a_bot_from_telegram(world):
    reply = ask(world, "/pause a rolling the strategy")
    assert "paused (bot a) by telegram:7" in reply.text
    info = controls.paused_bots(world.state)["a"]
    assert (info.actor, info.reason) == ("telegram:7", "rolling the strategy")
    assert "no bot 'nosuch' in the fleet; bots: a, b" in ask(world, "/pause nosuch").text
    assert "usage: /pause BOT" in ask(world, "/pause").text
    assert "resumed bot a (paused by telegram:7)" in ask(world, "/resume a").text
    assert controls.paused_bots(world.state) == {}
    actions = [(e.action, e.target) for e in audit_entries(world.state, actor="telegram:7",
                                                           limit=2)]
    assert actions == [("bot.resume", "bot:a"), ("bot.pause", "bot:a")]


def test_kill_with_confirmation_engages_the_kill_switch_and_a_replayed_button_does_not(world):
    ask_kill = ask(world, "/kill a")
    assert "Engage the kill switch on bot a? cancel_orders" in ask_kill.text
    labels = [label for label, _ in ask_kill.buttons]
    assert labels == ["Kill (cancel_orders)", "Kill and flatten positions", "Cancel"]
    with KillSwitch(world.state, listen=False) as ks:
        assert ks.active_for("a", "binance") is None  # nothing before the button
    flat = ask_kill.buttons[1][1]
    done = press(world, ask_kill, flat)
    assert done.text.startswith("engaged: kill switch bot a (flatten) by telegram:7")
    with KillSwitch(world.state, listen=False) as ks:
        state = ks.active_for("a", "binance")
        assert (state.mode, state.actor, state.scope) == ("flatten", "telegram:7", "bot")
        first_id = state.id
    answer = press(world, ask_kill, flat, method="answerCallbackQuery")  # the same button
    assert "unknown or already used" in answer.params["text"]
    with KillSwitch(world.state, listen=False) as ks:
        assert [s.id for s in ks.active()] == [first_id]  # no second engagement
    rel = ask(world, "/release a")
    assert "Release the kill switch on bot a?" in rel.text
    released = press(world, rel, rel.buttons[0][1])
    assert released.text == f"released #{first_id} bot a (flatten)"
    with KillSwitch(world.state, listen=False) as ks:
        assert ks.active() == ()
    log = [(e.actor, e.action, e.target) for e in audit_entries(world.state, limit=10)]
    assert ("telegram:7", "kill.engage", "bot:a") in log
    assert ("telegram:7", "kill.release", "bot:a") in log


def test_stop_and_start_pause_the_whole_fleet_after_confirmation(world):
    asked = ask(world, "/stop")
    cancelled = press(world, asked, asked.buttons[1][1])
    assert cancelled.text == "/stop: cancelled, nothing done"
    assert controls.paused_bots(world.state) == {}
    asked = ask(world, "/stop")
    done = press(world, asked, asked.buttons[0][1])
    assert "the whole fleet is paused (the whole fleet) by telegram:7" in done.text
    assert set(controls.paused_bots(world.state)) == {"*"}
    assert "already paused" in ask(world, "/stop").text
    asked = ask(world, "/start")
    press(world, asked, asked.buttons[0][1])
    assert controls.paused_bots(world.state) == {}


def test_expired_and_forged_confirmations_are_refused_and_audited(world):
    confirm = world.control.controller.confirm
    confirm.ttl_s = 0.3
    try:
        asked = ask(world, "/kill")
        assert "Engage the kill switch on the whole fleet?" in asked.text
        time.sleep(0.5)
        late = press(world, asked, asked.buttons[0][1], method="answerCallbackQuery")
        assert "this confirmation expired (valid 0.3 s); send /kill again" in late.params["text"]
    finally:
        confirm.ttl_s = 60.0
    forged = press(world, asked, "c:AAAAAAAAAAAAAAAA:yes", method="answerCallbackQuery")
    assert "unknown or already used" in forged.params["text"]
    junk = press(world, asked, "kill everything", method="answerCallbackQuery")
    assert "not one of mine" in junk.params["text"]
    with KillSwitch(world.state, listen=False) as ks:
        assert ks.active() == ()
    refused = audit_entries(world.state, action="telegram.confirm_refused", limit=3)
    assert [e.allowed for e in refused] == [False, False, False]
    assert "expired" in refused[2].detail["reason"]


def test_a_stranger_gets_nothing_and_is_audited(world):
    mark = world.api.mark()
    world.api.send_text(STRANGER, 999, "/status")
    world.api.send_text(STRANGER, 999, "/kill")
    asked = ask(world, "/kill b")  # the same bot's updates are handled in order: a barrier
    world.api.press(STRANGER, 999, asked, asked.buttons[0][1])  # a stranger's button press
    ask(world, "/help")
    assert [s for s in world.api.state.sent[mark:] if s.chat_id == STRANGER] == []
    with KillSwitch(world.state, listen=False) as ks:
        assert ks.active_for("b", "binance") is None
    denied = audit_entries(world.state, action="telegram.denied", limit=10)
    assert [(e.actor, e.target, e.detail["text"], e.allowed) for e in reversed(denied)][-3:] \
        == [("telegram:999", "chat:666", "/status", False),
            ("telegram:999", "chat:666", "/kill", False),
            ("telegram:999", "chat:666", f"button {asked.buttons[0][1]}", False)]


def test_reload_publishes_on_the_bus_and_is_audited(world):
    from botfleet.bus import CONTROL_CHANNEL, open_bus

    bus = open_bus("memory://")
    heard = []
    sub = bus.pubsub.subscribe(CONTROL_CHANNEL, lambda m: heard.append(m.data))
    try:
        assert "asked the running runners to reload" in ask(world, "/reload").text
    finally:
        sub.close()
    assert heard == [{"cmd": "reload", "bot": "*"}]
    (entry,) = audit_entries(world.state, action="fleet.reload", limit=1)
    assert entry.actor == "telegram:7" and entry.detail == {"published": True}


def test_the_token_never_reaches_a_log_line(world):
    ask(world, "/help")
    assert world.logs.lines, "nothing was logged at all: the check below would prove nothing"
    assert any("getUpdates" in line or "HTTP Request" in line for line in world.logs.lines)
    assert not [line for line in world.logs.lines if TOKEN in line]
    assert not [line for line in world.logs.lines if TOKEN.split(":")[1] in line]
