"""`botfleet live`, `botfleet paper --replay` and the refusals of the runtime commands: live
trading demands its confirmation flag and every credential from the environment, and trades
(here: against the simulator, through the exchange file's `api_url`) on the wall clock.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from test_runtime_helpers import bot_yaml, write_fleet
from typer.testing import CliRunner

from botfleet.cli import app

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args, env=None):
    return CliRunner().invoke(app, list(args), env=env)


def test_live_refuses_without_its_flag_and_names_a_missing_credential(tmp_path):
    path = write_fleet(tmp_path, {"a": bot_yaml("a", extra="mode: live\n"), "p": bot_yaml("p")})
    plain = invoke("live", "--fleet", str(path))
    assert plain.exit_code == 2
    assert "--i-understand-this-trades-real-money" in plain.output
    nokey = invoke("live", "--fleet", str(path), "--i-understand-this-trades-real-money",
                   env={"RT_KEY": None, "RT_SECRET": "x"})
    assert nokey.exit_code == 2, nokey.output
    assert "environment variable RT_KEY is not set" in nokey.output
    assert "credentials.api_key" in nokey.output
    paper_bot = invoke("paper", "a", "--fleet", str(path), "--venue", "http://127.0.0.1:9")
    assert paper_bot.exit_code == 2 and "bot a is a live bot" in paper_bot.output
    neither = invoke("paper", "--fleet", str(path))
    assert neither.exit_code == 2 and "--replay" in neither.output
    away = invoke("paper", "--fleet", str(path), "--venue", "http://127.0.0.1:9", "--once",
                  env={"RT_KEY": "k", "RT_SECRET": "s"})
    assert away.exit_code == 2
    assert "no exchange simulator answers at http://127.0.0.1:9" in away.output


def test_live_trades_through_the_exchange_files_api_url_on_the_wall_clock(tmp_path):
    from botfleet.venue import BinanceServer, Clock, synthetic_market

    now = int(time.time() * 1000)
    market = synthetic_market(5, now - 30 * 86_400_000, now + 86_400_000,
                              symbols=["BTC/USDT"], clock=Clock())  # the wall clock
    server = BinanceServer(market, order_limit=0).start()
    try:
        account = server.add_account("live", {"USDT": "5000"})
        path = write_fleet(tmp_path, {"a": bot_yaml("a", extra="mode: live\n")})
        text = path.read_text().replace("    ccxt_id: binance\n",
                                        f"    ccxt_id: binance\n    api_url: {server.base_url}\n")
        path.write_text(text)
        env = {"RT_KEY": account.api_key, "RT_SECRET": account.secret}
        got = invoke("live", "--fleet", str(path), "--i-understand-this-trades-real-money",
                     "--once", env=env)
        assert got.exit_code == 0, got.output
        assert "live: 1 bot(s) on live" in got.output and "a: ok" in got.output
        shown = invoke("status", "--fleet", str(path))
        assert shown.exit_code == 0
        row = next(line for line in shown.output.splitlines() if line.startswith("a "))
        assert " live " in row and " ok" in row
    finally:
        server.stop()


def test_paper_replay_runs_the_recorded_candles_faster_than_real_time(tmp_path):
    from shared_data import SHARED, shared_file

    shared_file("binance_ETH-USDT_1h.csv")
    for item in ("exchanges.d", "strategies.d", "notifiers.d", "risk.d"):
        shutil.copytree(ROOT / item, tmp_path / item)
    shutil.copyfile(ROOT / "fleet.yaml", tmp_path / "fleet.yaml")
    (tmp_path / "bots.d").mkdir()
    shutil.copyfile(ROOT / "bots.d" / "eth-meanrev.yaml", tmp_path / "bots.d" / "e.yaml")
    began = time.monotonic()
    got = invoke("paper", "--fleet", str(tmp_path), "--replay", "--days", "1", "--speed",
                 "14400", "--data", str(SHARED), "--reload-every", "0")
    assert got.exit_code == 0, got.output
    assert time.monotonic() - began < 60  # a simulated day in a few seconds
    assert "replaying" in got.output and "stopped after" in got.output
    cycles = int(got.output.split("stopped after ")[1].split(" ")[0])
    # one per hourly close of the day: the clock starts once the bot is up, so none is lost
    # to the start-up (at 14,400x a second of it used to cost four closes)
    assert 23 <= cycles <= 24, got.output
    assert (tmp_path / "data" / "replay" / "state.db").exists()
    assert not (tmp_path / "data" / "state.db").exists()  # never the fleet's own state
