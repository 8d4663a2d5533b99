"""The `control.telegram` block: checked by the schema (a literal token, a chat id that is not
a number), resolved at start (a missing token names its variable, never a value), and a token
the Bot API refuses stops the start with the reason."""

from __future__ import annotations

import pytest
from telegram_api import TelegramAPI
from test_runtime_helpers import bot_yaml, load, write_fleet

from botfleet.config import load_fleet
from botfleet.notify.telegram.app import (
    TelegramConfigError,
    TelegramControl,
    TelegramStartError,
)
from botfleet.storage.audit import dispose_engines

TOKEN = "42:secret-token-value"


def _fleet(tmp_path, block: str):
    path = write_fleet(tmp_path, {"a": bot_yaml("a")})
    with path.open("a") as f:
        f.write(block)
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("RT_KEY", "k")
    monkeypatch.setenv("RT_SECRET", "s")
    yield
    dispose_engines()


def test_the_schema_refuses_a_literal_token_and_bad_chat_ids(tmp_path):
    path = _fleet(tmp_path, "control:\n  telegram:\n    token: 42:abcdef\n"
                            "    allowed_chats: [ops]\n    colour: blue\n")
    got = load_fleet(path)
    text = "\n".join(str(p) for p in got.errors)
    assert not got.ok
    assert "control.telegram.token" in text and "${env:NAME}" in text
    assert "control.telegram.allowed_chats" in text
    assert "colour" in text
    assert "fleet.yaml:" in text  # file:line:col


def test_a_fleet_without_the_block_or_without_the_token_says_what_is_missing(tmp_path,
                                                                            monkeypatch):
    bare = load(write_fleet(tmp_path / "bare", {"a": bot_yaml("a")}))
    with pytest.raises(TelegramConfigError, match="no control.telegram block"):
        TelegramControl.from_fleet(bare.fleet)
    fleet = load(_fleet(tmp_path / "tg", "control:\n  telegram:\n    token: "
                                         "${env:BF_TG_MISSING}\n    allowed_chats: [1]\n"))
    assert fleet.fleet.control.telegram.allowed_chats == (1,)
    assert fleet.fleet.control.telegram.confirm_timeout_s == 60.0
    monkeypatch.delenv("BF_TG_MISSING", raising=False)
    with pytest.raises(TelegramConfigError, match="environment variable BF_TG_MISSING is not set"):
        TelegramControl.from_fleet(fleet.fleet)


def test_a_token_the_bot_api_refuses_stops_the_start(tmp_path, monkeypatch):
    with TelegramAPI(TOKEN) as api:
        fleet = load(_fleet(tmp_path, f"control:\n  telegram:\n    token: ${{env:BF_TG}}\n"
                                      f"    allowed_chats: [1]\n    api_url: {api.url}\n"
                                      "    confirm_timeout: 30s\n"))
        assert fleet.fleet.control.telegram.confirm_timeout_s == 30.0
        monkeypatch.setenv("BF_TG", "42:not-the-right-one")
        control = TelegramControl.from_fleet(fleet.fleet)
        try:
            with pytest.raises(TelegramStartError, match="InvalidToken: The token "
                               "`<telegram-token>` was rejected by the server") as err:
                control.start(wait_s=10)
            assert "not-the-right-one" not in str(err.value)
        finally:
            control.close()
        assert api.state.calls == [] and api.state.sent == []  # refused at getMe


def test_botfleet_telegram_runs_in_the_foreground_until_interrupted(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    token = "4242:cli-token-never-printed"
    with TelegramAPI(token) as api:
        path = _fleet(tmp_path, f"control:\n  telegram:\n    token: ${{env:BF_TG}}\n"
                                f"    allowed_chats: [5]\n    api_url: {api.url}\n")
        env = {**os.environ, "BF_TG": token, "RT_KEY": "k", "RT_SECRET": "s"}
        exe = str(Path(sys.executable).with_name("botfleet"))
        proc = subprocess.Popen([exe, "telegram", "--fleet", str(path)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while "getUpdates" not in api.state.calls and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stdout.read()
                time.sleep(0.05)
            api.send_text(5, 9, "/help")
            assert "/kill - " in api.wait_message(5, timeout_s=30).text
        finally:
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "Telegram control for fleet rt" in out and token not in out
        assert "cli-token" not in out
