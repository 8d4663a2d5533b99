"""Bias checks (sim.bias, cli_bias): the shipped strategies are clean on real candles, and
strategies built to read the future or to depend on where their history starts are caught,
with the signal or indicator and the bar where each first goes wrong.

The biased ones are the classic mistakes: the next bar's close (shift(-1)), a centred rolling
window, a normalisation by the whole series' maximum, a higher timeframe read before its
candle closed, and an EMA whose warm-up states only its lookback."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from botfleet.cli_bias import check_bias
from botfleet.data.fileio import write_candles
from botfleet.indicators import REGISTRY, Registry
from botfleet.sim.bias import choose_cuts, gaps_in, lookahead, recursive
from botfleet.strategy.code import CodeStrategy, CodeStrategyRunner, fn, random_walk
from botfleet.strategy.declarative import load_strategy
from botfleet.strategy.plugins import discover

from conftest import ROOT
from shared_data import load, shared_file

STRATEGIES = sorted((ROOT / "strategies.d").glob("*.yaml"))
FIXTURES = Path(__file__).with_name("bias_fixtures")

app = typer.Typer()
app.command("check-bias")(check_bias)
app.command("noop")(lambda: None)  # two commands, so `check-bias` is a sub-command as in cli


def cli(*args: str):
    return CliRunner().invoke(app, ["check-bias", *map(str, args)], catch_exceptions=False)


@pytest.fixture(scope="module")
def btc():
    return load("binance_BTC-USDT_1h.csv")


@pytest.fixture(scope="module")
def shipped_plugins():
    return discover([ROOT / "plugins"], use_entry_points=False)


@pytest.fixture(scope="module")
def fixture_registry():
    """The fixture indicators in a registry of their own: the process-wide one stays clean."""
    reg = Registry()
    found = discover([FIXTURES], registry=reg, use_entry_points=False)
    assert not found.errors and {"ema_nowarm", "centred_mean", "of_max"} <= set(reg.names())
    return reg


def yaml_strategy(tmp_path: Path, body: str, registry=REGISTRY, tf: str = "1h"):
    path = tmp_path / "strategies.d" / "probe.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("kind: strategy\nversion: 1\nname: probe\n" + textwrap.dedent(body))
    return load_strategy(path, tf, registry=registry), path


def differs_on_rerun(strategy, candles, v) -> bool:
    """Independent confirmation of a look-ahead violation: rerun the reported cut."""
    full, part = strategy.signals(candles), strategy.signals(candles[: v.at + 1])
    if v.kind == "signal":
        a, b = bool(getattr(full, v.name)[v.bar]), bool(getattr(part, v.name)[v.bar])
    else:
        a, b = full.series[v.name][v.bar], part.series[v.name][v.bar]
    return (a, b) == (v.full, v.other) or (a == v.full and np.isnan(b) and v.other != v.other)


# ------------------------------------------------------------------ the shipped strategies


GAP_FINDING = ("`sma(close, trend_days) @ 1d` counts its warm-up in hours as if no hour were "
               "missing; a hole in the hourly candles drops that day's bucket, so a window "
               "holding one has no daily SMA yet where the backtest has one")


@pytest.mark.parametrize("path", STRATEGIES, ids=[p.stem for p in STRATEGIES])
def test_shipped_strategies_have_no_lookahead(path, btc, shipped_plugins):
    s = load_strategy(path, "1h")
    ahead = lookahead(s, btc, max_cuts=250)
    assert ahead.ok, "\n".join(ahead.lines())
    assert len(ahead.runs) == 250 and ahead.runs[-1] == len(btc) - 1


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=GAP_FINDING))
    if p.stem == "volatility_breakout" else p for p in STRATEGIES],
    ids=[p.stem for p in STRATEGIES])
def test_shipped_strategies_have_no_recursive_bias(path, btc, shipped_plugins):
    s = load_strategy(path, "1h")
    behind = recursive(s, btc)
    assert behind.ok, "\n".join(behind.lines())
    # every named series and all four signals were compared, not skipped
    names = {d.name for d in behind.drift}
    assert names == set(s.signals(btc[:50]).series) | {"entry_long", "exit_long",
                                                      "entry_short", "exit_short"}
    assert all(d.needed is not None and d.needed <= d.warmup for d in behind.drift
               if d.kind == "indicator"), "a warm-up shorter than the data needed"


def test_a_hole_in_the_candles_inside_the_warmup_delays_a_daily_value(btc):
    """The finding behind the xfail above, located: BTC/USDT 1h misses 2020-11-30 06:00
    (bar 1709); started 334 bars before it, the 20-day SMA of daily closes is still NaN when
    the 503-bar warm-up ends, because that day's bucket is incomplete and dropped."""
    s = load_strategy(ROOT / "strategies.d" / "volatility_breakout.yaml", "1h")
    assert 1710 in gaps_in(btc, "1h").tolist()
    report = recursive(s, btc, starts=[1375])
    v = next(v for v in report.violations if v.name == "daily_trend")
    assert (v.at, v.bar) == (1375, 1375 + 503) and np.isnan(v.other) and v.full > 0
    assert v.needed is not None and v.needed > 503
    assert "miss bars before bar 1710 (2020-11-30 07:00)" in v.note
    enough = recursive(s, btc, starts=[1375], warmup=v.needed)
    assert not next(d for d in enough.drift if d.name == "daily_trend").exceeds
    assert recursive(s, btc, starts=[1710 + 5]).ok  # the same warm-up after the hole is clean


def test_the_shipped_code_strategy_has_no_lookahead(btc, shipped_plugins):
    s = CodeStrategyRunner(shipped_plugins.strategies["rsi_trend"], "1h")
    assert lookahead(s, btc, max_cuts=200).ok


@pytest.mark.xfail(strict=True, reason="a code strategy's warm-up counts only its indicator() "
                   "calls: rsi_trend's fn.shift(hma, 1) on daily bars adds a day (575 bars "
                   "measured, 599 needed)")
def test_the_shipped_code_strategy_has_no_recursive_bias(btc, shipped_plugins):
    s = CodeStrategyRunner(shipped_plugins.strategies["rsi_trend"], "1h")
    report = recursive(s, btc, starts=[1, 2])
    assert report.ok, "\n".join(report.lines())


def test_given_higher_candles_are_truncated_at_the_cut(btc):
    """Stored 4h candles instead of resampled ones: a truncated run keeps exactly those
    closed by the cut bar's close. Dropping the one closing with the cut bar would make a
    clean strategy's `@ 4h` trend differ there; keeping later ones hides a peek (the
    stored-1d case below)."""
    h4 = load("binance_BTC-USDT_4h.csv")
    base = btc[-3000:]
    h4 = h4[(h4["ts"] >= base["ts"][0]) & (h4["ts"] <= base["ts"][-1])]
    s = load_strategy(ROOT / "strategies.d" / "sma_cross.yaml", "1h")
    report = lookahead(s, base, higher={"4h": h4}, max_cuts=200)
    assert report.ok, "\n".join(report.lines())
    assert np.isfinite(s.signals(base, {"4h": h4}).series["trend"]).any()


def test_cuts_cover_every_bar_when_short_and_the_signal_switches_when_long(btc):
    s = load_strategy(ROOT / "strategies.d" / "dca_weekly.yaml", "1h")
    assert choose_cuts(s.signals(btc[:300]), 300, 1000) == list(range(300))
    full = s.signals(btc)
    cuts = set(choose_cuts(full, len(btc), 2000))
    assert len(cuts) == 2000 and {full.warmup - 1, full.warmup, len(btc) - 1} <= cuts
    for flags in (full.entry_long, full.exit_long):  # ~200 weekly buys, 9 exits: all cut
        switches = np.flatnonzero(flags[1:] != flags[:-1]) + 1
        assert 9 <= len(switches) and set(switches.tolist()) <= cuts


# ------------------------------------------------------------------------- look-ahead bias

NEXT_CLOSE = '''
import numpy as np
from botfleet.strategy.code import CodeStrategy


class NextClose(CodeStrategy):
    name = "next_close"

    def signals(self, bars, p):
        rsi = bars.indicator("rsi", bars.close, timeperiod=14)
        nxt = np.append(bars.close[1:], np.nan)  # shift(-1): the next bar's close
        return {"entry": (nxt > bars.close) & (rsi < 50), "exit": rsi > 70}
'''


def test_a_negative_shift_is_located_at_each_entry_it_fakes(tmp_path):
    (tmp_path / "next_close.py").write_text(NEXT_CLOSE)
    cls = discover([tmp_path], use_entry_points=False).strategies["next_close"]
    s = CodeStrategyRunner(cls, "1h")
    candles = random_walk(1000, "1h")
    full = s.signals(candles)
    report = lookahead(s, candles)
    assert report.runs == list(range(1000)) and not report.ok
    assert [v.name for v in report.violations] == ["entry_long"]  # the exit is honest
    v = report.violations[0]
    entries = np.flatnonzero(full.entry_long)
    # each entry is true only because it read the next close: cut there, it is gone
    assert (v.bar, v.at, v.full, v.other) == (entries[0], entries[0], True, False)
    assert v.ts == candles["ts"][entries[0]] and v.runs == len(entries) > 10
    assert "entry_long" in report.lines()[1] and "reads later candles" in report.lines()[1]


class Centred(CodeStrategy):
    name = "centred"

    def signals(self, bars, p):
        padded = np.pad(bars.close, 2, mode="edge")
        mid = np.convolve(padded, np.ones(5) / 5, mode="valid")  # bars t-2 .. t+2
        return {"entry": fn.crosses_above(bars.close, mid), "exit": bars.close < mid}


class ToMax(CodeStrategy):
    name = "to_max"

    def signals(self, bars, p):
        norm = bars.close / bars.close.max()  # the whole series' maximum: the future's
        return {"entry": norm > 0.97, "exit": norm < 0.9}


def first_difference(strategy, candles) -> int:
    """Brute force over every cut: the first bar any truncated run disagrees on."""
    full, first = strategy.signals(candles), len(candles)
    for c in range(len(candles)):
        part = strategy.signals(candles[: c + 1])
        for name in ("entry_long", "exit_long"):
            bad = np.flatnonzero(getattr(full, name)[: c + 1] != getattr(part, name))
            first = min(first, *bad[:1].tolist(), first)
    return first


def test_a_centred_window_is_located_within_its_half_width_of_the_cut():
    s, candles = CodeStrategyRunner(Centred, "1h"), random_walk(300, "1h", seed=3)
    report = lookahead(s, candles)
    assert {v.name for v in report.violations} == {"entry_long", "exit_long"}
    for v in report.violations:
        assert 0 <= v.at - v.bar <= 1, v  # bars c-1 and c read bars past the cut
        assert differs_on_rerun(s, candles, v)
    assert min(v.bar for v in report.violations) == first_difference(s, candles)


def test_a_whole_series_normalisation_is_caught_before_the_maximum():
    candles = random_walk(500, "1h", seed=6)
    peak = int(np.argmax(candles["close"]))
    assert 100 < peak < 450  # the data has a maximum late enough to matter
    s = CodeStrategyRunner(ToMax, "1h")
    report = lookahead(s, candles)
    assert report.violations
    for v in report.violations:
        assert v.at < peak, v  # once the data holds the maximum, nothing changes
        assert differs_on_rerun(s, candles, v)
    assert min(v.bar for v in report.violations) == first_difference(s, candles)


def test_future_reading_indicators_are_located_in_a_yaml_strategy(tmp_path, btc,
                                                                 fixture_registry):
    s, _ = yaml_strategy(tmp_path, """
        indicators:
          mid: centred_mean(close, 5)
          level: of_max(close)
          fair: mean(close, 5)
        entry: crosses_above(close, mid) and level < 0.8
        exit: close < fair
        """, fixture_registry)
    candles = btc[-2000:]
    report = lookahead(s, candles, max_cuts=300)
    found = {v.name: v for v in report.violations}
    assert {"mid", "level"} <= set(found) and "fair" not in found and "exit_long" not in found
    mid, level = found["mid"], found["level"]
    # the centred mean is NaN on the last two bars of a truncated run, a value on the full data
    assert mid.at - mid.bar == 1 and np.isnan(mid.other) and np.isfinite(mid.full)
    assert mid.bar == 2 and mid.runs == len(report.runs) - 3  # every cut from bar 3 on
    # the normalisation differs at every bar before the maximum, starting with the first
    peak = int(np.argmax(candles["close"]))
    assert level.bar == 0 and level.at < peak
    assert level.full == pytest.approx(candles["close"][0] / candles["close"].max())
    assert level.other == pytest.approx(candles["close"][0] / candles["close"][: level.at + 1]
                                        .max())
    assert differs_on_rerun(s, candles, mid) and differs_on_rerun(s, candles, level)
    assert json.loads(json.dumps(report.as_dict()))["violations"][0]["check"] == "lookahead"


class DayPeek(CodeStrategy):
    """Maps each hour to its own day's daily candle, which has not closed yet: the classic
    multi-timeframe look-ahead (join() would wait for the close)."""

    name = "day_peek"
    timeframes = ("1d",)

    def signals(self, bars, p):
        daily = bars.at("1d")
        day = np.searchsorted(daily.ts, bars.ts, side="right") - 1
        ok = (day >= 0) & (day < len(daily))
        close = np.where(ok, daily.close[np.clip(day, 0, max(len(daily) - 1, 0))]
                         if len(daily) else np.nan, np.nan)
        return {"entry": close > bars.close * 1.01, "exit": close < bars.close * 0.99}


@pytest.mark.parametrize("stored", [False, True], ids=["resampled", "stored-1d"])
def test_a_higher_timeframe_read_before_its_close_is_caught(btc, stored):
    candles = btc[-1500:]
    higher = None
    if stored:
        d1 = load("binance_BTC-USDT_1d.csv")
        higher = {"1d": d1[(d1["ts"] >= candles["ts"][0]) & (d1["ts"] <= candles["ts"][-1])]}
    s = CodeStrategyRunner(DayPeek, "1h")
    report = lookahead(s, candles, higher=higher, max_cuts=300)
    assert report.violations
    for v in report.violations:
        assert 0 <= v.at - v.bar < 24  # within the day whose close it read
        assert (candles["ts"][v.bar] // 86_400_000) == (candles["ts"][v.at] // 86_400_000)


# -------------------------------------------------------------------------- recursive bias


def test_an_ema_warmup_declared_too_short_is_caught_with_the_bars_it_needs(
        tmp_path, btc, fixture_registry):
    s, _ = yaml_strategy(tmp_path, """
        indicators:
          slow: ema_nowarm(close, 200)
          fast: mean(close, 10)
        entry: crosses_above(fast, slow)
        exit: crosses_below(fast, slow)
        """, fixture_registry)
    # the lookback (+1 for the crossing), nothing for the EMA's seed to fade
    assert s.indicators["slow"].warmup == 199 and s.warmup == 200
    report = recursive(s, btc)
    slow = next(d for d in report.drift if d.name == "slow")
    fast = next(d for d in report.drift if d.name == "fast")
    assert slow.exceeds and not fast.exceeds and slow.warmup == 200
    assert 200 < slow.needed <= REGISTRY.get("ema").warmup({"timeperiod": 200})
    v = next(v for v in report.violations if v.name == "slow")
    assert v.needed == slow.needed and v.max_rel == slow.max_rel > 1e-6
    assert v.bar >= v.at + 200 and abs(v.full - v.other) > 1e-6 * abs(v.full)
    assert f"needs {slow.needed} bars" in "\n".join(report.lines())
    # the advice is exact: with that many bars of history every start agrees, one fewer not
    again = recursive(s, btc, starts=report.runs, warmup=slow.needed)
    assert not next(d for d in again.drift if d.name == "slow").exceeds
    short = recursive(s, btc, starts=report.runs, warmup=slow.needed - 1)
    assert next(d for d in short.drift if d.name == "slow").exceeds


def test_a_start_dependent_talib_function_is_named_with_its_reason(tmp_path, btc):
    s, _ = yaml_strategy(tmp_path, """
        indicators:
          stop_line: sar()
          flow: obv()
        entry: crosses_above(close, stop_line)
        exit: crosses_below(close, stop_line)
        """)
    report = recursive(s, btc)
    by = {d.name: d for d in report.drift}
    assert by["stop_line"].exceeds and "reversal" in by["stop_line"].note
    assert by["flow"].exceeds and by["flow"].needed is None  # a running total never settles
    assert "no warm-up is enough" in by["flow"].note and "running total" in by["flow"].note
    assert {v.name for v in report.violations} >= {"stop_line", "flow", "entry_long"}


# ------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def walk_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("candles") / "walk_1h.csv"
    write_candles(random_walk(1000, "1h"), path)
    return path


def test_cli_clean_strategy_exits_0_with_json(btc):
    data = shared_file("binance_BTC-USDT_1h.csv")
    out = cli(ROOT / "strategies.d" / "rsi_reversion.yaml", "--data", data, "--start",
              "2024-01-01", "--max-cuts", "150", "--format", "json")
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["ok"] and doc["lookahead"]["ok"] and doc["recursive"]["ok"]
    assert doc["strategy"] == "rsi_reversion" and len(doc["lookahead"]["runs"]) == 150
    assert doc["lookahead"]["first"] == "2024-01-01 00:00"


def test_cli_peeking_plugin_exits_1_and_locates_the_bar(tmp_path, walk_file):
    plugin = tmp_path / "next_close.py"
    plugin.write_text(NEXT_CLOSE)
    out = cli(plugin, "--data", walk_file, "--format", "json")
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    (v,) = doc["lookahead"]["violations"]
    full = CodeStrategyRunner(discover([tmp_path], use_entry_points=False)
                              .strategies["next_close"], "1h").signals(random_walk(1000, "1h"))
    assert (v["name"], v["bar"], v["full"], v["other"]) == (
        "entry_long", int(np.flatnonzero(full.entry_long)[0]), True, False)
    assert not doc["ok"] and doc["recursive"]["ok"]
    text = cli(plugin, "--data", walk_file)
    assert text.exit_code == 1 and "signal entry_long: bar " in text.stdout


def test_cli_recursive_bias_exits_1(tmp_path, btc):
    _, path = yaml_strategy(tmp_path, """
        indicators:
          flow: obv()
        entry: crosses_above(flow, 0)
        exit: crosses_below(flow, 0)
        """)
    data = shared_file("binance_BTC-USDT_1h.csv")
    out = cli(path, "--data", data, "--start", "2025-01-01", "--max-cuts", "50",
              "--format", "json")
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    assert doc["lookahead"]["ok"] and not doc["recursive"]["ok"]
    assert [v["name"] for v in doc["recursive"]["violations"] if v["kind"] == "indicator"] \
        == ["flow"]


def test_cli_checks_a_bot_as_configured(btc):
    data = shared_file("binance_BTC-USDT_1h.csv")
    out = cli("btc-trend", "--fleet", ROOT, "--data", data, "--start", "2023-06-01",
              "--max-cuts", "100")
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("sma_cross on BTC/USDT 1h")
    assert "look-ahead check: sma_cross" in out.stdout and "recursive check: sma_cross" in \
        out.stdout


def test_cli_usage_errors_exit_2(tmp_path, walk_file):
    sma = ROOT / "strategies.d" / "sma_cross.yaml"
    cases = [
        ([tmp_path / "missing.yaml", "--data", walk_file], "no such file"),
        ([sma, "--data", walk_file, "--format", "xml"], "--format"),
        ([sma], "--pair"),
        (["no-such-bot", "--fleet", ROOT], "neither a strategy file nor a bot"),
        ([sma, "--data", tmp_path / "none.csv"], "none.csv"),
        ([sma, "--pair", "NOPE/USDT"], "no candles"),
        ([sma, "--data", walk_file, "--start", "yesterday"], "--start"),
        # 1,000 bars cannot show sma_cross's 11,859-bar warm-up
        ([sma, "--data", walk_file, "--max-cuts", "20"], "recursive check: not run"),
    ]
    for args, message in cases:
        out = cli(*args)
        assert out.exit_code == 2, (args, out.output)
        assert message in out.output, (args, out.output)


def test_cli_defaults_match_the_library():
    from botfleet import cli_bias
    from botfleet.sim import bias

    assert (cli_bias.MAX_CUTS, cli_bias.TOLERANCE) == (bias.MAX_CUTS, bias.TOLERANCE)
