"""The strategy library (`strategies.d/*.yaml`) on real Binance candles.

Every file found by the glob is covered, so a new strategy is tested as soon as it is added:
it compiles for a 1h bot; on BTC/USDT and ETH/USDT 1h history it trades (long entries and
exits after its warm-up, short ones where it declares shorts) and is silent during warm-up;
its signals on a bar are the same when the candles after that bar do not exist (no look-ahead
on real data); and the live path (`latest` on the `window()` it asks for) agrees with the
full-history run.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import yaml

from botfleet.strategy.declarative import CompiledStrategy, Signals, load_strategy

from conftest import ROOT
from shared_data import load

LIBRARY = ROOT / "strategies.d"
FILES = sorted(LIBRARY.glob("*.yaml"))
IDS = [p.stem for p in FILES]
BASE_TF = "1h"
PAIRS = ("binance_BTC-USDT_1h.csv", "binance_ETH-USDT_1h.csv")
RULES = ("entry_long", "exit_long", "entry_short", "exit_short")
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/strategy.schema.json"


@functools.cache
def candles(name: str) -> np.ndarray:
    return load(name)


@functools.cache
def compiled(path: Path) -> CompiledStrategy:
    return load_strategy(path, BASE_TF, display_root=ROOT)


@functools.cache
def full_signals(path: Path, pair: str) -> Signals:
    return compiled(path).signals(candles(pair))


def test_the_library_has_at_least_15_strategies_each_named_after_its_file():
    assert len(FILES) >= 15, [p.name for p in FILES]
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        assert text.splitlines()[0] == SCHEMA_LINE, path.name
        data = yaml.safe_load(text)
        assert data["kind"] == "strategy" and data["version"] == 1, path.name
        assert data["name"] == path.stem, path.name
        assert len(data.get("description") or "") >= 40, f"{path.name}: describe the idea"
        for name, spec in (data.get("parameters") or {}).items():
            assert "default" in spec, f"{path.name}: {name}"
            assert "range" in spec or "choices" in spec, f"{path.name}: {name} needs a range"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_compiles_for_a_1h_bot(path):
    strategy = compiled(path)
    assert strategy.name == path.stem
    assert strategy.base_tf == BASE_TF
    assert strategy.warmup > 0
    assert strategy.window()[BASE_TF] == strategy.warmup + 1


@pytest.mark.parametrize("pair", PAIRS, ids=["BTC", "ETH"])
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_trades_on_real_data_and_never_reads_the_future(path, pair):
    strategy, data = compiled(path), candles(pair)
    sig = full_signals(path, pair)
    warm = strategy.warmup
    assert warm < len(data) // 2, f"warm-up {warm} bars leaves too little history"
    for rule in RULES:
        assert not getattr(sig, rule)[:warm].any(), f"{rule} fires during the warm-up"
    declared = RULES if strategy.shorts else RULES[:2]
    counts = {rule: int(getattr(sig, rule)[warm:].sum()) for rule in RULES}
    missing = [rule for rule in declared if counts[rule] == 0]
    assert not missing, f"no {missing} after warm-up on {pair}: {counts}"
    if not strategy.shorts:
        assert counts["entry_short"] == counts["exit_short"] == 0

    # No look-ahead: the run on candles[:t+1] equals the full run up to t, for the bars of the
    # last entries (long and short) and the last exit: the bars where a leak would show.
    picks = set(np.flatnonzero(sig.entry_long)[-5:])
    picks |= set(np.flatnonzero(sig.exit_long)[-1:])
    if strategy.shorts:
        picks |= set(np.flatnonzero(sig.entry_short)[-3:])
    for t in sorted(picks):
        prefix = strategy.signals(data[: t + 1])
        for rule in RULES:
            got, want = getattr(prefix, rule), getattr(sig, rule)[: t + 1]
            bad = np.flatnonzero(got != want)
            assert not len(bad), (f"{rule} on candles[:{t + 1}] differs from the full run at "
                                  f"bars {bad[-5:].tolist()}: the strategy reads the future")


@pytest.mark.parametrize("pair", PAIRS, ids=["BTC", "ETH"])
@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_latest_on_its_window_agrees_with_the_full_history(path, pair):
    """The live path sees only `window()` candles; at the newest bar, and at the bars of the
    last entries and exits (windows ending there), it must decide as the full history does."""
    strategy, data = compiled(path), candles(pair)
    sig = full_signals(path, pair)
    size = strategy.window()[BASE_TF]
    ends = {len(data) - 1}
    for rule in RULES:
        ends |= set(np.flatnonzero(getattr(sig, rule))[-2:])
    for t in sorted(e for e in ends if e + 1 >= size):
        live = strategy.latest(data[t + 1 - size: t + 1])
        assert live["ready"] and live["ts"] == int(sig.ts[t])
        want = {rule: bool(getattr(sig, rule)[t]) for rule in RULES}
        got = {rule: live[rule] for rule in RULES}
        assert got == want, f"bar {t} ({pair}): latest on {size} candles {got}, full {want}"
