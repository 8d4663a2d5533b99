"""Candle files in and out: CSV (plain or gzip), Parquet, and freqtrade's feather and json.

Time units are the classic trap: a file in seconds read as milliseconds puts every candle in
January 1970. Numeric timestamps are classified by magnitude: seconds (1e9..1e11, i.e. 2001
to 5138) are converted, milliseconds (1e11..1e14) are taken as they are, and anything else
(microseconds, nanoseconds, small counters) is refused with the value that gave it away.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from botfleet.data.candles import CANDLE_DTYPE, FIELDS, from_frame, from_rows

FORMATS = ("csv", "csv.gz", "parquet", "feather", "json", "json.gz")
_SHARED_NAME = re.compile(r"^(?P<ex>[a-z0-9]+)_(?P<base>[A-Z0-9]+)-(?P<quote>[A-Z0-9]+)"
                          r"(?:-(?P<settle>[A-Z0-9]+)-futures)?_(?P<tf>[0-9]+[mhdwM])$")
_FREQTRADE_NAME = re.compile(r"^(?P<base>[A-Z0-9]+)_(?P<quote>[A-Z0-9]+)(?:_(?P<settle>[A-Z0-9]+))?"
                             r"-(?P<tf>[0-9]+[mhdwM])(?:-(?:futures|mark|funding_rate))?$")


class CandleFileError(ValueError):
    pass


@dataclass(frozen=True)
class FileGuess:
    exchange: str | None
    symbol: str | None
    timeframe: str | None


def file_format(path: Path) -> str:
    name = path.name.lower()
    for fmt in sorted(FORMATS, key=len, reverse=True):
        if name.endswith("." + fmt):
            return fmt
    raise CandleFileError(f"{path}: unknown file type; expected one of "
                          + ", ".join("." + f for f in FORMATS))


def guess_from_name(path: Path) -> FileGuess:
    """Exchange, symbol and timeframe from `binance_BTC-USDT_1h.csv` or `BTC_USDT-1h.feather`."""
    stem = path.name
    for fmt in sorted(FORMATS, key=len, reverse=True):
        if stem.lower().endswith("." + fmt):
            stem = stem[: -len(fmt) - 1]
            break
    m = _SHARED_NAME.match(stem)
    if m:
        symbol = f"{m['base']}/{m['quote']}" + (f":{m['settle']}" if m["settle"] else "")
        return FileGuess(None if m["ex"] == "unknown" else m["ex"], symbol, m["tf"])
    m = _FREQTRADE_NAME.match(stem)
    if m:
        symbol = f"{m['base']}/{m['quote']}" + (f":{m['settle']}" if m["settle"] else "")
        exchange = path.parent.name if path.parent.name.isalnum() else None
        return FileGuess(exchange, symbol, m["tf"])
    return FileGuess(None, None, None)


def to_milliseconds(ts: np.ndarray, where: str) -> np.ndarray:
    ts = np.asarray(ts)
    if len(ts) == 0:
        return ts.astype(np.int64)
    if not np.issubdtype(ts.dtype, np.number):
        raise CandleFileError(f"{where}: timestamps are not numbers (first: {ts[0]!r})")
    if np.issubdtype(ts.dtype, np.floating) and np.any(ts != np.floor(ts)):
        i = int(np.nonzero(ts != np.floor(ts))[0][0])
        raise CandleFileError(f"{where}: timestamp {ts[i]!r} in row {i + 1} is not whole")
    lo, hi = float(ts.min()), float(ts.max())
    if 1e9 <= lo and hi < 1e11:
        return ts.astype(np.int64) * 1000
    if 1e11 <= lo and hi < 1e14:
        return ts.astype(np.int64)
    unit = ("microseconds" if lo >= 1e14 and hi < 1e17 else "nanoseconds" if lo >= 1e17 else
            "a mix of units" if lo >= 1e9 else "neither seconds nor milliseconds since 1970")
    raise CandleFileError(f"{where}: timestamps look like {unit} (from {lo:.0f} to {hi:.0f}); "
                          "expected epoch seconds or milliseconds")


def _frame_to_candles(frame: pd.DataFrame, where: str) -> np.ndarray:
    cols = {c.lower(): c for c in frame.columns}
    ts_col = next((cols[c] for c in ("timestamp", "ts", "date", "time", "open_time")
                   if c in cols), None)
    if ts_col is None:
        raise CandleFileError(f"{where}: no time column (timestamp, ts, date, time)")
    series = frame[ts_col]
    if series.dtype == object or pd.api.types.is_string_dtype(series):
        try:
            series = pd.to_datetime(series, utc=True, format="ISO8601")
        except (ValueError, TypeError):
            raise CandleFileError(f"{where}: cannot read time column '{ts_col}' (first value "
                                  f"{series.iloc[0]!r})") from None
    if not pd.api.types.is_datetime64_any_dtype(series):
        frame = frame.assign(**{ts_col: to_milliseconds(series.to_numpy(), where)})
    else:
        frame = frame.assign(**{ts_col: series})
    try:
        return from_frame(frame)
    except ValueError as exc:
        raise CandleFileError(f"{where}: {exc}") from None


def read_candles(path: Path) -> np.ndarray:
    """Candles from a file in any supported format, in file order (validate before storing)."""
    path = Path(path)
    fmt = file_format(path)
    where = str(path)
    try:
        if fmt in ("csv", "csv.gz"):
            return _frame_to_candles(pd.read_csv(path), where)
        if fmt == "parquet":
            return _frame_to_candles(pd.read_parquet(path), where)
        if fmt == "feather":
            return _frame_to_candles(pd.read_feather(path), where)
        opener = gzip.open if fmt == "json.gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            rows = json.load(fh)
    except CandleFileError:
        raise
    except FileNotFoundError:
        raise CandleFileError(f"{where}: file not found") from None
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as exc:
        raise CandleFileError(f"{where}: cannot read {fmt}: {exc}") from None
    if not isinstance(rows, list) or rows and not isinstance(rows[0], list):
        raise CandleFileError(f"{where}: expected a JSON list of [time, open, high, low, "
                              "close, volume] rows (freqtrade's format)")
    candles = from_rows(rows)
    candles["ts"] = to_milliseconds(np.array([r[0] for r in rows]), where)
    return candles


def write_candles(candles: np.ndarray, path: Path) -> Path:
    """Write in the shared format: `timestamp,open,high,low,close,volume`, ms open times."""
    path = Path(path)
    fmt = file_format(path)
    c = np.asarray(candles, dtype=CANDLE_DTYPE)
    frame = pd.DataFrame({("timestamp" if f == "ts" else f): c[f] for f in FIELDS})
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "csv.gz"):
        frame.to_csv(path, index=False,
                     compression="gzip" if fmt == "csv.gz" else None)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    elif fmt == "feather":  # freqtrade's layout: a UTC datetime column named `date`
        frame = frame.rename(columns={"timestamp": "date"})
        frame["date"] = pd.to_datetime(frame["date"], unit="ms", utc=True)
        frame.to_feather(path)
    else:
        rows = [[int(r[0]), *map(float, list(r)[1:])] for r in c.tolist()]
        opener = gzip.open if fmt == "json.gz" else open
        with opener(path, "wt", encoding="utf-8") as fh:
            json.dump(rows, fh)
    return path
