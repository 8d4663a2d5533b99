"""Backtest speed: one SMA-crossover backtest, the kernel loop alone, a 100-combination grid,
a 5-pair portfolio, and the peak memory of a 1,000-combination grid.

Targets (2-core machine), each measured in one run beside its peer:
  1. `engine.backtest` (indicators, signals, simulation, metrics) of a two-SMA crossover over
     5 years of hourly BTC/USDT, fee 0.1%, no slippage: >= 100x faster than backtesting.py's
     classic SmaCross (`crossover`, commission 0.001) and >= 3x faster than vectorbt's
     `Portfolio.from_signals` on the same signals (+ final value and total return).
  2. `kernel.simulate` on prepared arrays >= 20,000,000 bars/s on one core (5y hourly and
     ~1M bars: the 1y 5-minute file chained 10 times).
  3. A 100-combination grid (fast 5..14 x slow 20..65 step 5) on 1 year of 5-minute candles
     under 1 s wall (signals, simulation, metrics) and >= 3x faster than vectorbt's one-call
     grid (`MA.run` x2, `ma_crossed_above/below`, one `from_signals` over 100 columns).
  4. 5 pairs x 5 years hourly in one `engine.backtest` sharing cash: under 1 s.
  5. Peak RSS of a 1,000-combination grid (fresh subprocess) under 2 GB.

    .venv/bin/python bench/bench_backtest.py [--runs 7] [--peer-runs 3]
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar

DATA = Path(os.environ.get("BOTFLEET_SHARED_DATA", "/work/shared/data"))
SYMBOLS = ("BTC", "ETH", "BNB", "SOL", "XRP")
FAST, SLOW = 10, 30
FEE = 0.001
CAPITAL = 10_000

STRATEGY = """\
kind: strategy
version: 1
name: sma_cross_plain
description: Two SMAs and a crossing, nothing else (the benchmark's strategy).
parameters:
  fast: {default: 10, range: [5, 60], step: 1}
  slow: {default: 30, range: [20, 200], step: 5}
indicators:
  fast_ma: sma(close, fast)
  slow_ma: sma(close, slow)
entry: crosses_above(fast_ma, slow_ma)
exit: crosses_below(fast_ma, slow_ma)
sizing: {method: percent_equity, value: 100%}
"""
DECLARED = {"fast": {"default": 10, "range": [5, 60], "step": 1},
            "slow": {"default": 30, "range": [20, 200], "step": 5}}
GRID_100 = {"fast": {"range": [5, 14], "step": 1}, "slow": {"range": [20, 65], "step": 5}}
GRID_1000 = {"fast": {"range": [5, 54], "step": 1}, "slow": {"range": [20, 115], "step": 5}}


# ----------------------------------------------------------------------------- helpers

def timed(fn, runs: int) -> tuple[list[float], object]:
    out, times = None, []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def med(times):
    return statistics.median(times)


def strategy_path() -> Path:
    d = Path(tempfile.mkdtemp(prefix="bench_backtest_"))
    atexit.register(shutil.rmtree, d, True)
    p = d / "sma_cross_plain.yaml"
    p.write_text(STRATEGY)
    return p


def fill_model():
    from botfleet.sim.fillmodel import FillModel

    return FillModel.from_yaml({"fees": {"maker": "0.1%", "taker": "0.1%"},
                                "slippage": {"model": "none"}, "precision": "none"})


def candles(sym: str, tf: str = "1h"):
    from botfleet.data.fileio import read_candles

    name = f"binance_{sym}-USDT_{tf}.csv" + (".gz" if tf == "5m" else "")
    return read_candles(DATA / name)


def chained(c: np.ndarray, times: int) -> np.ndarray:
    """`c` repeated `times` times on one continuous timeline, each copy rescaled so that its
    first open continues the previous copy's last close (no jump at the seams)."""
    tf = int(c["ts"][1] - c["ts"][0])
    parts, scale = [], 1.0
    for k in range(times):
        p = c.copy()
        for f in ("open", "high", "low", "close"):
            p[f] *= scale
        p["ts"] = c["ts"][0] + (np.arange(len(c)) + k * len(c)) * tf
        scale = float(p["close"][-1]) / float(c["open"][0])
        parts.append(p)
    return np.concatenate(parts)


def make_target(path: Path, cs: np.ndarray, tf: str):
    from botfleet.cli_research import Target
    from botfleet.sim.engine import PairData
    from botfleet.strategy.declarative import load_strategy

    base = load_strategy(path, tf)

    def factory(params):
        return load_strategy(path, tf, {**base.params, **params})

    return Target("bench-sma", base, [PairData("BTC/USDT", cs)], tf, fill_model(),
                  Decimal(CAPITAL), base.sizing, factory=factory, declared=DECLARED)


def run_grid(target, overrides: dict, jobs: int = 2):
    from botfleet.sim.optimize import Settings, grid
    from botfleet.sim.space import build_space

    space = build_space(DECLARED, overrides=overrides)
    return grid(target, space, Settings(jobs=jobs))


# ----------------------------------------------------------------------------- 1

def bench_single(path: Path, runs: int, peer_runs: int) -> dict:
    import pandas as pd

    from botfleet.sim import engine
    from botfleet.strategy.declarative import load_strategy

    cs = candles("BTC")
    fills = fill_model()
    pairs = [engine.PairData("BTC/USDT", cs)]

    strat = load_strategy(path, "1h")  # compiled once; the timed call is engine.backtest

    def ours():
        return engine.backtest(strat, pairs, "1h", Decimal(CAPITAL), fills)

    def ours_compile():
        return engine.backtest(load_strategy(path, "1h"), pairs, "1h", Decimal(CAPITAL), fills)

    ours()  # warm: JIT, registry
    t_ours, res = timed(ours, runs)
    t_compile, _ = timed(ours_compile, runs)
    sig = load_strategy(path, "1h").signals(cs)

    # --- vectorbt: the same signals; orders at the next bar's open as ours (signals shifted
    # one bar, price = open): timed = from_signals + final_value + total_return
    import vectorbt as vbt

    idx = pd.to_datetime(cs["ts"], unit="ms")
    close = pd.Series(cs["close"], index=idx)
    open_ = pd.Series(cs["open"], index=idx)
    ent = pd.Series(np.r_[False, sig.entry_long[:-1]], index=idx)
    ext = pd.Series(np.r_[False, sig.exit_long[:-1]], index=idx)

    def vbt_run():
        pf = vbt.Portfolio.from_signals(close, ent, ext, price=open_, fees=FEE,
                                        init_cash=CAPITAL, freq="1h")
        return float(pf.final_value()), float(pf.total_return())

    vbt_run()  # warm numba
    t_vbt, (_vbt_final, vbt_ret) = timed(vbt_run, runs)

    # --- backtesting.py: classic SmaCross; Backtest() + run() timed (the frame built before)
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    class SmaCross(Strategy):
        n1, n2 = FAST, SLOW

        def init(self):
            self.sma1 = self.I(SMA, self.data.Close, self.n1)
            self.sma2 = self.I(SMA, self.data.Close, self.n2)

        def next(self):
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy()
            elif crossover(self.sma2, self.sma1):
                self.position.close()

    df = pd.DataFrame({"Open": cs["open"], "High": cs["high"], "Low": cs["low"],
                       "Close": cs["close"], "Volume": cs["volume"]}, index=idx)

    def bt_run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # cash large enough that whole-unit sizing of BTC stays close to all-in
            bt = Backtest(df, SmaCross, cash=100_000_000, commission=FEE,
                          finalize_trades=True)
            return bt.run()

    t_bt, stats = timed(bt_run, peer_runs)
    m = res.metrics
    return {"ours": t_ours, "vbt": t_vbt, "bt": t_bt, "bars": len(cs), "compile": t_compile,
            "ours_trades": int(m["n_trades"]), "ours_return": float(m["total_return"]),
            "vbt_return": vbt_ret, "bt_trades": int(stats["# Trades"]),
            "bt_return": float(stats["Return [%]"]) / 100}


# ----------------------------------------------------------------------------- 2

def bench_kernel(path: Path, runs: int) -> dict:
    from botfleet.sim import engine, kernel, kernel_pack
    from botfleet.strategy.declarative import load_strategy

    fills = fill_model()
    out = {}
    for label, cs, tf in (("5y 1h BTC", candles("BTC"), "1h"),
                          ("1y 5m BTC x10", chained(candles("BTC", "5m"), 10), "5m")):
        s = load_strategy(path, tf)
        prep = engine.prepare(s, [engine.PairData("BTC/USDT", cs)], tf, fills)

        def loop(prep=prep):
            return kernel.simulate(prep.market, prep.signals, prep.params, float(CAPITAL),
                                   close_at_end=fills.close_at_end)

        loop()  # warm
        t, k = timed(loop, runs)
        sig = np.stack([prep.signals.entry_long, prep.signals.exit_long,
                        prep.signals.entry_short, prep.signals.exit_short])
        t_ctx, _ = timed(lambda prep=prep, sig=sig: kernel_pack.make_ctx(prep.market, sig,
                                                                         prep.params, None),
                         runs)
        n = prep.market.shape[0] * prep.market.shape[1]
        out[label] = {"times": t, "bars": n, "trades": len(k.trades), "ctx": t_ctx}
    return out


# ----------------------------------------------------------------------------- 3

def bench_grid(path: Path, runs: int, peer_runs: int) -> dict:
    import pandas as pd
    import vectorbt as vbt

    cs = candles("BTC", "5m")
    target = make_target(path, cs, "5m")
    run_grid(target, GRID_100)  # warm (JIT of the grid kernel)
    t_ours, res = timed(lambda: run_grid(target, GRID_100), runs)
    assert res.path == "fast" and len(res.trials) == 100, (res.path, res.notes)

    fast = [f for f in range(5, 15) for _ in range(20, 70, 5)]
    slow = [s for _ in range(5, 15) for s in range(20, 70, 5)]
    close = pd.Series(cs["close"], index=pd.to_datetime(cs["ts"], unit="ms"))

    def vbt_grid():
        fm = vbt.MA.run(close, window=fast, short_name="fast")
        sm = vbt.MA.run(close, window=slow, short_name="slow")
        entries = fm.ma_crossed_above(sm)
        exits = fm.ma_crossed_below(sm)
        pf = vbt.Portfolio.from_signals(close, entries, exits, fees=FEE, init_cash=CAPITAL,
                                        freq="5min")
        return pf.total_return()

    vbt_grid()  # warm numba
    t_vbt, tr = timed(vbt_grid, peer_runs)
    best = res.best
    return {"ours": t_ours, "vbt": t_vbt, "bars": len(cs), "cols": len(tr),
            "best": best}


# ----------------------------------------------------------------------------- 4

def bench_portfolio(path: Path, runs: int) -> dict:
    from botfleet.sim import engine
    from botfleet.strategy.declarative import load_strategy

    pairs = [engine.PairData(f"{s}/USDT", candles(s)) for s in SYMBOLS]
    fills = fill_model()

    def port():
        s = load_strategy(path, "1h")
        return engine.backtest(s, pairs, "1h", Decimal(CAPITAL), fills)

    port()
    t, res = timed(port, runs)
    return {"times": t, "bars": len(res.ts), "assets": len(pairs),
            "trades": int(res.metrics["n_trades"])}


# ----------------------------------------------------------------------------- 5

def child_memory(path: str) -> None:
    """Fresh process: load, one 1,000-combination grid; print peak RSS and wall time.
    ru_maxrss on Linux carries over the parent's high-water mark through fork+exec, so the
    parent starts this child before it grows, and VmHWM (per address space) is printed too."""
    cs = candles("BTC", "5m")
    target = make_target(Path(path), cs, "5m")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    res = run_grid(target, GRID_1000)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm = next(int(ln.split()[1]) for ln in Path("/proc/self/status").read_text().splitlines()
               if ln.startswith("VmHWM:"))
    print(f"MEM {peak} {before} {wall:.4f} {len(res.trials)} {res.path} {hwm}")


def bench_memory(path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child-mem", str(path)],
                         capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("MEM "))
    _, peak, before, wall, n, p, hwm = line.split()
    return {"peak_kb": int(peak), "before_kb": int(before), "wall": float(wall), "hwm_kb": int(hwm),
            "combos": int(n), "path": p}


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--peer-runs", type=int, default=3)
    ap.add_argument("--child-mem")
    args = ap.parse_args()
    if args.child_mem:
        child_memory(args.child_mem)
        return
    path = strategy_path()
    load0 = Path("/proc/loadavg").read_text().split()[:3]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython "
          f"{platform.python_version()}, loadavg at start {' '.join(load0)}")

    mem = bench_memory(path)  # first, while this process is small (see child_memory)
    s = bench_single(path, args.runs, args.peer_runs)
    o, v, b = med(s["ours"]), med(s["vbt"]), med(s["bt"])
    print(f"\n1. one backtest, 5y 1h BTC ({s['bars']:,} bars)")
    print(f"   botfleet engine.backtest   median {o * 1e3:8.2f} ms  min {min(s['ours']) * 1e3:8.2f}"
          f"  ({s['ours_trades']} trades, return {s['ours_return']:+.4f})")
    c = med(s["compile"])
    print(f"   + load_strategy each run   median {c * 1e3:8.2f} ms  min {min(s['compile']) * 1e3:8.2f}")
    print(f"   vectorbt from_signals+tr   median {v * 1e3:8.2f} ms  min {min(s['vbt']) * 1e3:8.2f}"
          f"  (return {s['vbt_return']:+.4f})  ratio {v / o:6.2f}x (target >= 3)")
    print(f"   backtesting.py run         median {b * 1e3:8.2f} ms  min {min(s['bt']) * 1e3:8.2f}"
          f"  ({s['bt_trades']} trades, return {s['bt_return']:+.4f})  ratio {b / o:6.1f}x"
          " (target >= 100)")

    k = bench_kernel(path, args.runs)
    print("\n2. kernel.simulate alone (one thread)")
    for label, r in k.items():
        m = med(r["times"])
        print(f"   {label:16s} {r['bars']:>9,} bars  median {m * 1e3:8.2f} ms  min "
              f"{min(r['times']) * 1e3:8.2f} ms  {r['bars'] / m:>13,.0f} bars/s (best "
              f"{r['bars'] / min(r['times']):,.0f}; {r['trades']} trades) (target >= 20,000,000)")
        c = med(r["ctx"])
        print(f"   {'':16s} of which make_ctx (packing the arrays) median {c * 1e3:.2f} ms; "
              f"loop alone ~{r['bars'] / max(m - c, 1e-9):,.0f} bars/s")

    g = bench_grid(path, args.runs, args.peer_runs)
    o, v = med(g["ours"]), med(g["vbt"])
    print(f"\n3. 100-combination grid, 1y 5m BTC ({g['bars']:,} bars)")
    print(f"   botfleet optimize.grid     median {o * 1e3:8.2f} ms  min {min(g['ours']) * 1e3:8.2f}"
          f"  (target < 1000 ms; best {g['best']})")
    print(f"   vectorbt MA.run+from_sig   median {v * 1e3:8.2f} ms  min {min(g['vbt']) * 1e3:8.2f}"
          f"  ({g['cols']} columns)  ratio {v / o:6.2f}x (target >= 3)")

    p = bench_portfolio(path, args.runs)
    m = med(p["times"])
    print(f"\n4. portfolio 5 pairs x 5y 1h ({p['bars']:,} bars x {p['assets']})")
    print(f"   botfleet engine.backtest   median {m * 1e3:8.2f} ms  min "
          f"{min(p['times']) * 1e3:8.2f} ms  ({p['trades']} trades) (target < 1000 ms)")

    print(f"\n5. 1,000-combination grid, 1y 5m BTC, fresh process ({mem['path']} path)")
    print(f"   peak RSS: ru_maxrss {mem['peak_kb'] / 1024:,.0f} MiB, VmHWM "
          f"{mem['hwm_kb'] / 1024:,.0f} MiB (ru_maxrss after imports+data "
          f"{mem['before_kb'] / 1024:,.0f} MiB); wall {mem['wall']:.2f} s incl. JIT load "
          "(target < 2048 MiB)")
    load1 = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nloadavg at end {' '.join(load1)}")


if __name__ == "__main__":
    main()
