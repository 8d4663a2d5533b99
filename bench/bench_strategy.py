"""Strategy speed: compile + all indicators and signals on 1,000,000 bars; the live path.

Targets (issue 4, 2-core machine): compiling a strategy and computing all its indicators and
signals on 1,000,000 bars in < 100 ms after warm-up (JIT compiled, registry loaded);
the latest signal of one strategy on a 1,000-candle window in < 1 ms.
Peer, same run: the same sma_cross logic written the usual pandas way (rolling means,
resample to 4h, ffill), as a freqtrade `populate_indicators` would.

    .venv/bin/python bench/bench_strategy.py [--bars 1000000] [--runs 7] [--strategies a,b]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import talib

from botfleet.data.candles import CANDLE_DTYPE
from botfleet.strategy.declarative import load_strategy

ROOT = Path(__file__).resolve().parents[1]


def synthetic(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(n, dtype=CANDLE_DTYPE)
    out["ts"] = 1_500_000_000_000 // 3_600_000 * 3_600_000 + np.arange(n) * 60_000
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    out["open"] = np.roll(close, 1)
    out["open"][0] = close[0]
    out["close"] = close
    out["high"] = np.maximum(out["open"], close) * (1 + rng.uniform(0, 5e-4, n))
    out["low"] = np.minimum(out["open"], close) * (1 - rng.uniform(0, 5e-4, n))
    out["volume"] = rng.uniform(1, 100, n)
    return out


def full_run(path: Path, candles: np.ndarray) -> float:
    t0 = time.perf_counter()
    s = load_strategy(path, "1m")
    sig = s.signals(candles)
    elapsed = time.perf_counter() - t0
    assert len(sig.entry_long) == len(candles)
    return elapsed


def pandas_peer(candles: np.ndarray) -> float:
    """sma_cross as pandas code: SMAs, an EMA on 4h closes joined at the 4h close."""
    t0 = time.perf_counter()
    df = pd.DataFrame(candles)
    df.index = pd.to_datetime(df["ts"], unit="ms")
    fast = df["close"].rolling(10).mean()
    slow = df["close"].rolling(30).mean()
    four = df["close"].resample("4h").last()
    trend = pd.Series(talib.EMA(four.to_numpy(), 200), index=four.index + pd.Timedelta("4h"))
    trend = trend.reindex(df.index + pd.Timedelta("1min"), method="ffill").to_numpy()
    entry = (fast > slow) & (fast.shift() <= slow.shift()) & (df["close"].to_numpy() > trend)
    exit_ = (fast < slow) & (fast.shift() >= slow.shift())
    assert len(entry) == len(exit_) == len(df)
    return time.perf_counter() - t0


def live(path: Path, candles: np.ndarray, window: int, calls: int) -> tuple[float, float]:
    s = load_strategy(path, "1h")
    lat = []
    for k in range(calls):
        end = len(candles) - (k % 50)
        w = candles[end - window:end]
        t0 = time.perf_counter()
        s.latest(w)
        lat.append(time.perf_counter() - t0)
    return float(np.median(lat) * 1e3), float(np.percentile(lat, 99) * 1e3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--strategies", default="sma_cross,rsi_reversion,donchian_breakout")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, CPython "
          f"{platform.python_version()}, numpy {np.__version__}, TA-Lib {talib.__version__}")
    candles = synthetic(args.bars)
    hourly = synthetic(5000)
    hourly["ts"] = hourly["ts"][0] + np.arange(len(hourly)) * 3_600_000
    for name in args.strategies.split(","):
        path = ROOT / "strategies.d" / f"{name}.yaml"
        full_run(path, candles)  # warm-up: registry, JIT, caches
        times = [full_run(path, candles) for _ in range(args.runs)]
        line = (f"{name}: compile + indicators + signals on {args.bars:,} bars: median "
                f"{statistics.median(times) * 1e3:.1f} ms (min {min(times) * 1e3:.1f})")
        if name == "sma_cross":
            pandas_peer(candles)
            peer = statistics.median(pandas_peer(candles) for _ in range(args.runs))
            line += f"; pandas peer {peer * 1e3:.1f} ms, ratio " \
                    f"{peer / statistics.median(times):.1f}x"
        print(line, flush=True)
        p50, p99 = live(path, hourly, 1000, 2000)
        print(f"{name}: latest signal on a 1,000-candle window: median {p50:.3f} ms, "
              f"p99 {p99:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
