"""Real candles and small model specs for the ML tests (kept small so the tests stay fast)."""

from __future__ import annotations

from functools import cache

import numpy as np

from botfleet.config.ml import model_spec

from shared_data import load

HOUR_MS = 3_600_000


@cache
def real(pair: str = "BTC/USDT", bars: int = 3000, skip: int = 20000) -> np.ndarray:
    """`bars` hourly candles of `pair` from the shared Binance data (read-only)."""
    c = load(f"binance_{pair.replace('/', '-')}_1h.csv")
    return c[skip: skip + bars].copy()


def spec(**over):
    data = {
        "name": "t", "pairs": ["BTC/USDT", "ETH/USDT"], "timeframe": "1h",
        "features": [
            {"type": "returns", "horizons": [1, 4, 24]},
            {"type": "volatility", "windows": [24]},
            {"type": "volume", "windows": [24]},
            {"type": "indicator", "indicator": "rsi", "params": {"timeperiod": 14}},
            {"type": "indicator", "indicator": "bbands", "output": "lower", "relative": True},
            {"type": "time"},
            {"type": "higher_timeframe", "timeframe": "4h", "horizons": [1, 3], "windows": [6]},
        ],
        "label": {"type": "direction", "horizon": 12},
        "algorithm": {"name": "lightgbm", "params": {"n_estimators": 20, "num_leaves": 7,
                                                     "min_child_samples": 50}},
        "train": {"window": "120d", "holdout": "20d", "embargo": 6},
        "promotion": {"metric": "auc", "min_improvement": 0.0, "min_samples": 100},
        "seed": 7,
    }
    data.update(over)
    return model_spec(data)


def pair_candles(bars: int = 3000) -> dict[str, np.ndarray]:
    return {"BTC/USDT": real("BTC/USDT", bars), "ETH/USDT": real("ETH/USDT", bars)}


def two_versions(model_spec_):
    """Two versions of one spec trained on real candles: one whose window ends 40 days before
    the data does, one on the newest window (different learners, so which one served a bot
    shows in its numbers)."""
    from botfleet.ml.train import train_version

    candles = pair_candles(3000)
    end = int(candles["BTC/USDT"]["ts"][-1])
    return (train_version(model_spec_, candles, end_ms=end - 40 * 86_400_000),
            train_version(model_spec_, candles))
