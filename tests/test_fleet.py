"""Loading whole fleets: defaults merging with sources, the typed model, cross-file rules."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from botfleet.config import ConfigError, load_fleet
from botfleet.config.explain import UnknownBot, explain_rows
from botfleet.config.refs import Secret
from botfleet.config.units import Percent

from conftest import ROOT


def test_the_repository_example_fleet_is_valid_and_typed():
    load = load_fleet(ROOT / "fleet.yaml", display_root=ROOT)
    assert load.ok, "\n".join(map(str, load.problems))
    fleet = load.fleet
    assert set(fleet.bots) == {"btc-trend", "eth-meanrev", "sol-breakout"}
    assert {p for b in fleet.bots.values() for p in b.pairs} == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    assert all(b.mode == "paper" for b in fleet.bots.values())
    eth = fleet.bots["eth-meanrev"]
    assert eth.allocation == Decimal(3000)  # 30% of capital.total 10000
    assert eth.parameters == {"period": 14, "oversold": 28, "overbought": 65}
    assert eth.sizing == {"method": "fixed_quote", "value": 500}
    sol = fleet.bots["sol-breakout"]
    assert sol.timeframe == "4h" and sol.risk.max_daily_loss == Decimal(100)
    assert sol.risk.max_drawdown == Percent(Decimal("0.10"))  # from the conservative profile
    assert sol.sizing == {"method": "risk_per_trade", "value": "1%"}  # the strategy's sizing
    binance = fleet.exchanges["binance"]
    assert binance.credentials["api_key"] == Secret("${env:BINANCE_API_KEY}")
    assert binance.max_weight_share == Percent(Decimal("0.8"))
    assert fleet.notifiers["ops"].channels["telegram"].url == Secret("${env:BOTFLEET_TELEGRAM_URL}")
    assert fleet.schedules["report"].timezone == "Europe/Berlin"
    assert fleet.storage.cache == "memory://"


def test_explain_names_the_file_and_layer_of_every_value():
    load = load_fleet(ROOT / "fleet.yaml", display_root=ROOT)
    rows = {setting: (value, source) for setting, value, source in
            explain_rows(load, "sol-breakout")}
    assert rows["timeframe"] == ("4h", "bots.d/sol-breakout.yaml:7:12 (bot)")
    assert rows["exchange"][1].startswith("fleet.yaml:") and "fleet defaults" in rows["exchange"][1]
    assert rows["risk.max_drawdown"][1].startswith("risk.d/conservative.yaml:")
    assert rows["sizing.method"][1].startswith("strategies.d/donchian_breakout.yaml:")
    assert rows["schedule.cycle"] == ("on_candle_close", "botfleet (built-in default)")
    assert rows["parameters.entry_window"][1].endswith("(strategy donchian_breakout default)")
    with pytest.raises(UnknownBot) as err:
        explain_rows(load, "sol-breakot")
    assert err.value.hint == "did you mean 'sol-breakout'?"


def test_layers_override_in_order(fleet, write):
    write("fleet.yaml", """
        kind: fleet
        version: 1
        name: t
        defaults: {exchange: kr, timeframe: 1h, mode: backtest, risk: {max_drawdown: 20%}}
        exchanges:
          - {name: kr, ccxt_id: kraken, defaults: {timeframe: 4h, risk: {max_drawdown: 15%}}}
        strategies:
          - {name: s, entry: close > open, exit: close < open}
        bots: [bots.d/*.yaml]
        """)
    write("bots.d/a.yaml", """
        kind: bot
        version: 1
        name: a
        pairs: [BTC/USD]
        strategy: s
        risk: {max_drawdown: 10%}
        """)
    write("bots.d/b.yaml", """
        kind: bot
        version: 1
        name: b
        pairs: [ETH/USD]
        strategy: s
        mode: paper
        """)
    load = fleet()
    assert load.ok, load.problems
    a, b = load.fleet.bots["a"], load.fleet.bots["b"]
    assert (a.timeframe, a.mode, a.risk.max_drawdown) == ("4h", "backtest", Percent(Decimal("0.1")))
    assert (b.mode, b.risk.max_drawdown) == ("paper", Percent(Decimal("0.15")))


def test_valid_fleet_raises_nothing_and_invalid_raises_all_problems(fleet, write):
    load = fleet()
    load.raise_for_errors()
    write("bots.d/b.yaml", "kind: bot\nversion: 1\nname: b\npairs: [BTCUSDT]\nstrategy: t\n")
    load = fleet()
    with pytest.raises(ConfigError) as err:
        load.raise_for_errors()
    text = str(err.value)
    assert "bots.d/b.yaml:4:9: pairs[0]: 'BTCUSDT' is not a spot pair" in text
    assert "bots.d/b.yaml:5:11: strategy: unknown strategy 't'" in text


def test_a_glob_that_matches_nothing_is_a_warning(fleet, write):
    write("fleet.yaml", (ROOT / "tests" / "conftest.py").read_text().split('MINIMAL_FLEET = """')[1]
          .split('"""')[0].replace("bots: [bots.d/*.yaml]", "bots: [bots.d/*.yaml, more.d/*.yaml]"))
    load = fleet()
    assert load.ok
    assert [str(w) for w in load.warnings] == [
        "fleet.yaml:13:23: bots[1]: 'more.d/*.yaml' matches no files [warning]"]


def test_a_file_matched_twice_is_loaded_once(fleet, write):
    text = (ROOT / "tests" / "conftest.py").read_text().split('MINIMAL_FLEET = """')[1]
    write("fleet.yaml", text.split('"""')[0].replace("bots: [bots.d/*.yaml]",
                                                      "bots: [bots.d/*.yaml, bots.d/a.yaml]"))
    load = fleet()
    assert load.ok, load.problems
    assert list(load.fleet.bots) == ["a"]


def test_a_disabled_bot_does_not_count_against_capital(fleet, write):
    write("bots.d/a.yaml", "kind: bot\nversion: 1\nname: a\npairs: [BTC/USDT]\nstrategy: s\n"
          "capital: {allocation: 800}\n")
    write("bots.d/b.yaml", "kind: bot\nversion: 1\nname: b\npairs: [ETH/USDT]\nstrategy: s\n"
          "capital: {allocation: 400}\nenabled: false\n")
    load = fleet()
    assert load.ok, load.problems
    assert [b.name for b in load.fleet.enabled_bots()] == ["a"]
    write("bots.d/b.yaml", "kind: bot\nversion: 1\nname: b\npairs: [ETH/USDT]\nstrategy: s\n"
          "capital: {allocation: 40%}\n")
    load = fleet()
    assert [str(e) for e in load.errors] == [(
        "bots.d/b.yaml:6:23: capital.allocation: allocations add up to 1200 USDT, above the "
        "fleet's capital.total (1000) at bot 'b' (lower the allocations of enabled bots or raise "
        "capital.total)")]


def test_a_single_file_of_any_kind_validates_on_its_own(tmp_path: Path):
    path = tmp_path / "s.yaml"
    path.write_text("kind: strategy\nversion: 1\nname: s\nentry: x\nexit: y\nstops: {stop: 3%}\n")
    load = load_fleet(path, display_root=tmp_path)
    assert [str(e) for e in load.errors] == [
        "s.yaml:6:9: stops.stop: unknown key 'stop' (did you mean 'stop_loss'?)"]


def test_inline_objects_report_positions_inside_the_fleet_file(fleet, write):
    text = (ROOT / "tests" / "conftest.py").read_text().split('MINIMAL_FLEET = """')[1]
    write("fleet.yaml", text.split('"""')[0].replace(
        "bots: [bots.d/*.yaml]", "bots:\n  - {name: x, pairs: [BTC/USDT], strategy: s, mode: livee}"))
    load = fleet()
    assert [str(e) for e in load.errors] == [(
        "fleet.yaml:14:53: bots[0].mode: 'livee' is not allowed here (did you mean 'live'? "
        "allowed: backtest, paper, live)")]


def test_problems_never_echo_a_literal_secret(fleet, write):
    key, password, token = "Qx7" + "a1B2c3D4" * 5, "Tr4d1ng-P4ss-2024", "123456789:AAHfake0token"
    write("fleet.yaml", (ROOT / "tests" / "conftest.py").read_text()
          .split('MINIMAL_FLEET = """')[1].split('"""')[0]
          .replace("  - {name: binance, ccxt_id: binance}",
                   f"  - {{name: binance, ccxt_id: binance, credentials: {{api_key: {key}, "
                   f"secret: {key[::-1]}, password: {password}}}}}")
          .replace("bots: [bots.d/*.yaml]", "bots: [bots.d/*.yaml]\nnotifiers:\n"
                   f"  - {{name: ops, channels: {{tg: {{url: 'tgram://{token}/42'}}}}}}\n"
                   f"storage: {{state: 'postgresql://bot:{password}@db/x'}}\n"))
    load = fleet()
    text = "\n".join(str(p) for p in load.problems)
    assert len(load.errors) == 5, text
    for secret in (key, key[::-1], password, token, key[:20], token[:12]):
        assert secret not in text
    assert "literal secret in YAML under 'api_key'" in text
    assert "literal Apprise URL (URLs hold tokens) in YAML under 'url'" in text
    assert "literal password in a URL" in text


def test_fleet_and_exchange_risk_profiles_apply_with_overrides(write, tmp_path):
    """A `profile:` at fleet or exchange level brings its limits; keys beside it win (a bot's
    risk already merged this way; the two upper levels used to drop the profile silently)."""
    write("fleet.yaml", """
        kind: fleet
        version: 1
        name: t
        capital: {currency: USDT, total: 1000}
        risk: {profile: tight, max_daily_loss: 5%}
        defaults: {exchange: binance, timeframe: 1h}
        exchanges:
          - {name: binance, ccxt_id: binance, risk: {profile: tight, max_open_positions: 7}}
        strategies:
          - {name: s, entry: close > open, exit: close < open}
        risk_profiles: [risk.d/*.yaml]
        bots: []
        """)
    write("risk.d/tight.yaml", """
        kind: risk
        version: 1
        name: tight
        limits: {max_order_size: 25%, max_daily_loss: 2%, max_open_positions: 2}
        """)
    load = load_fleet(tmp_path / "fleet.yaml", display_root=tmp_path)
    assert load.ok, "\n".join(map(str, load.problems))
    f = load.fleet
    assert f.risk.max_order_size == Percent(Decimal("0.25"))
    assert f.risk.max_daily_loss == Percent(Decimal("0.05"))
    ex = f.exchanges["binance"].risk
    assert ex.max_order_size == Percent(Decimal("0.25")) and ex.max_open_positions == 7
    assert ex.max_daily_loss == Percent(Decimal("0.02"))
