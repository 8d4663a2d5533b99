"""The one in-memory form of OHLCV candles, and what "closed" means.

Candles travel through botfleet as a numpy structured array of `CANDLE_DTYPE`:

| field    | dtype   | meaning                                                   |
| -------- | ------- | --------------------------------------------------------- |
| `ts`     | int64   | open time of the candle, UTC epoch **milliseconds**       |
| `open`   | float64 | first trade price of the interval                          |
| `high`   | float64 | highest trade price                                        |
| `low`    | float64 | lowest trade price                                         |
| `close`  | float64 | last trade price                                           |
| `volume` | float64 | traded volume in the **base** asset (BTC for BTC/USDT)     |

This is the convention of Binance, ccxt and freqtrade. Arrays are sorted by `ts`, strictly
increasing. Prices are floats here because candles are research data; money that is stored or
sent to an exchange is Decimal elsewhere.

A candle is **closed** once the clock has reached the open time of the next one
(`now >= ts + timeframe`). The current, unfinished candle is never stored as final: every store
write and every ingestion drops it first (`closed_only`).
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime

import numpy as np

CANDLE_DTYPE = np.dtype([("ts", "<i8"), ("open", "<f8"), ("high", "<f8"), ("low", "<f8"),
                         ("close", "<f8"), ("volume", "<f8")])
FIELDS = CANDLE_DTYPE.names
PRICE_FIELDS = ("open", "high", "low", "close")

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class TimeframeError(ValueError):
    pass


def timeframe_ms(timeframe: str) -> int:
    """Length of a candle in milliseconds. A calendar month (`1M`) has no fixed length: use
    `next_open` for it."""
    try:
        count, unit = int(timeframe[:-1]), timeframe[-1]
    except (ValueError, IndexError):
        raise TimeframeError(f"'{timeframe}' is not a timeframe such as '1h'") from None
    if unit == "M":
        raise TimeframeError("a month has no fixed length; use next_open()")
    if unit not in _UNIT_MS or count <= 0:
        raise TimeframeError(f"'{timeframe}' is not a timeframe such as '1h'")
    return count * _UNIT_MS[unit]


def next_open(ts: int, timeframe: str) -> int:
    """Open time of the candle after the one opening at `ts` (months by the calendar)."""
    if timeframe.endswith("M"):
        months = int(timeframe[:-1])
        d = datetime.fromtimestamp(ts / 1000, tz=UTC)
        y, m = divmod(d.month - 1 + months, 12)
        return int(calendar.timegm((d.year + y, m + 1, 1, 0, 0, 0)) * 1000)
    return ts + timeframe_ms(timeframe)


def is_aligned(ts: np.ndarray | int, timeframe: str) -> np.ndarray | bool:
    """Candles open on multiples of their length since the epoch (weeks: Mondays, as Binance)."""
    if timeframe.endswith("M"):
        stamps = np.atleast_1d(ts)
        ok = np.array([datetime.fromtimestamp(t / 1000, tz=UTC).day == 1
                       and t % 86_400_000 == 0 for t in stamps], dtype=bool)
        return ok if isinstance(ts, np.ndarray) else bool(ok[0])
    step = timeframe_ms(timeframe)
    offset = 4 * 86_400_000 if timeframe.endswith("w") else 0  # 1970-01-05 was a Monday
    return (np.asarray(ts) - offset) % step == 0 if isinstance(ts, np.ndarray) else \
        (ts - offset) % step == 0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def closed_only(candles: np.ndarray, timeframe: str, now: int | None = None) -> np.ndarray:
    """The candles that have closed by `now` (default: the wall clock)."""
    if len(candles) == 0:
        return candles
    now = now_ms() if now is None else now
    if timeframe.endswith("M"):
        keep = np.array([next_open(int(t), timeframe) <= now for t in candles["ts"]], dtype=bool)
    else:
        keep = candles["ts"] + timeframe_ms(timeframe) <= now
    return candles[keep]


def empty() -> np.ndarray:
    return np.empty(0, dtype=CANDLE_DTYPE)


def from_rows(rows) -> np.ndarray:
    """From ccxt's `[[ts, o, h, l, c, v], …]` (or any sequence of 6-tuples)."""
    if len(rows) == 0:
        return empty()
    arr = np.asarray(rows, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 6:
        raise ValueError(f"expected rows of 6 values (ts, open, high, low, close, volume), "
                         f"got shape {arr.shape}")
    out = np.empty(len(arr), dtype=CANDLE_DTYPE)
    out["ts"] = arr[:, 0].astype(np.int64)
    for i, name in enumerate(PRICE_FIELDS + ("volume",), start=1):
        out[name] = arr[:, i]
    return out


def from_frame(frame) -> np.ndarray:
    """From a frame with columns ts (or timestamp/date), open, high, low, close, volume."""
    cols = {c.lower(): c for c in frame.columns}
    ts_col = next((cols[c] for c in ("ts", "timestamp", "date", "time") if c in cols), None)
    if ts_col is None:
        raise ValueError("no time column: expected one of ts, timestamp, date, time")
    missing = [f for f in PRICE_FIELDS + ("volume",) if f not in cols]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    import pandas as pd  # here, not at the top: importing pandas costs ~1 s at start-up

    ts = frame[ts_col]
    if pd.api.types.is_datetime64_any_dtype(ts):
        ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        ts_ms = ts.astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    else:
        ts_ms = ts.to_numpy().astype(np.int64)
    out = np.empty(len(frame), dtype=CANDLE_DTYPE)
    out["ts"] = ts_ms
    for f in PRICE_FIELDS + ("volume",):
        out[f] = frame[cols[f]].to_numpy(dtype=np.float64)
    return out


def to_frame(candles: np.ndarray):
    """A frame indexed by UTC open time (for research and plots); columns as CANDLE_DTYPE."""
    import pandas as pd

    frame = pd.DataFrame({f: candles[f] for f in FIELDS})
    frame.index = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    frame.index.name = "time"
    return frame


def concat(*parts: np.ndarray) -> np.ndarray:
    """Merge candle arrays; on equal `ts` the later part wins. Result sorted, unique."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty()
    merged = np.concatenate(parts)
    # keep the last occurrence of each ts: reverse, take first unique, sort
    rev = merged[::-1]
    _, idx = np.unique(rev["ts"], return_index=True)
    return rev[idx]
