"""The simulated venue's market data: real recorded candles, seen through a server clock.

Tests of ingestion must run against what an exchange really returns, including its awkward parts:
history served page by page, gaps where the exchange published nothing, and the candle that is
still forming at "now". So the venue keeps the recorded series untouched (no resampling, no
gap filling) and decides visibility with the venue's clock (`venue.clock`: wall, manual or a
faster-than-real-time replay). Everything opening at or before `now` is visible: the closed
candles plus the forming one (`ts <= now < next_open(ts)`), exactly as Binance serves it. The
forming candle carries its final recorded values (the data holds no intra-candle states);
consumers must drop it anyway, with `botfleet.data.candles.closed_only`.

Series are loaded on first use only: a test asking for BTC/USDT 1h must not pay for parsing
every file in the data directory. A market carries a `label` (recorded, from which folder; or
synthetic, with its seed) that the venue repeats to every client.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from botfleet.data.candles import CANDLE_DTYPE, from_frame, next_open
from botfleet.venue.clock import Clock
from botfleet.venue.rules import SymbolRules, rules_for

Loader = Callable[[], np.ndarray]

_FILE = re.compile(r"^(?P<exchange>[a-z0-9]+)_(?P<base>[A-Z0-9]+)-(?P<quote>[A-Z0-9]+)"
                   r"_(?P<tf>\d+[mhdwM])\.csv(?:\.gz)?$")


def market_id(symbol: str) -> str:
    """Binance's id of a ccxt spot symbol: 'BTC/USDT' -> 'BTCUSDT'."""
    return symbol.replace("/", "")


def close_times(ts: np.ndarray, timeframe: str) -> np.ndarray:
    """Binance's kline close time: the last millisecond of the candle."""
    if timeframe.endswith("M"):
        return np.array([next_open(int(t), timeframe) - 1 for t in ts], dtype=np.int64)
    return ts + (next_open(0, timeframe) - 1)


def read_candle_file(path: Path) -> np.ndarray:
    """A shared-data CSV (plain or gzip) as a candle array, float values exactly as written."""
    import pandas as pd  # only when a recorded file is read

    # pandas 3 parses floats round-trip exactly by default (and deprecates the option)
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return from_frame(pd.read_csv(path, **exact))


class MarketData:
    """symbol ('BTC/USDT') -> timeframe -> candle array, loaded lazily, plus the server clock."""

    def __init__(self, series: Mapping[str, Mapping[str, np.ndarray | Loader]], *,
                 clock: Clock | None = None, rules: Mapping[str, SymbolRules] | None = None,
                 label: Mapping[str, object] | None = None):
        self.clock = clock or Clock()
        # what the market is, told to every client (exchangeInfo, a response header) so that a
        # synthetic demo market can never be mistaken for recorded data
        self.label = dict(label or {"market": "arrays"})
        self._rules = dict(rules or {})
        self._lock = threading.Lock()
        self._loaders: dict[tuple[str, str], Loader] = {}
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        for symbol, by_tf in series.items():
            if "/" not in symbol:
                raise ValueError(f"'{symbol}' is not a spot symbol such as 'BTC/USDT'")
            for tf, source in by_tf.items():
                next_open(0, tf)  # validates the timeframe
                if callable(source):
                    self._loaders[(symbol, tf)] = source
                else:
                    self._cache[(symbol, tf)] = _checked(np.asarray(source), symbol, tf)

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Mapping[str, np.ndarray]], **kw) -> MarketData:
        return cls(arrays, **kw)

    @classmethod
    def from_directory(cls, root: str | Path, *, exchange: str = "binance",
                       symbols: Iterable[str] | None = None,
                       timeframes: Iterable[str] | None = None, **kw) -> MarketData:
        """Index `EXCHANGE_BASE-QUOTE_TF.csv[.gz]` files at the top of `root` (sub-folders hold
        other sources or duplicates and are ignored); nothing is parsed until first use."""
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"no data directory at {root}")
        want_sym = set(symbols) if symbols is not None else None
        want_tf = set(timeframes) if timeframes is not None else None
        series: dict[str, dict[str, Loader]] = {}
        for path in sorted(root.iterdir()):
            m = _FILE.match(path.name)
            if not m or m["exchange"] != exchange:
                continue
            symbol, tf = f"{m['base']}/{m['quote']}", m["tf"]
            if (want_sym is not None and symbol not in want_sym) or \
                    (want_tf is not None and tf not in want_tf):
                continue
            if tf in series.get(symbol, {}):  # both .csv and .csv.gz: take the plain file
                continue
            series.setdefault(symbol, {})[tf] = (lambda p=path: read_candle_file(p))
        kw.setdefault("label", {"market": "recorded", "source": str(root.resolve())})
        return cls(series, **kw)

    # --- catalogue -------------------------------------------------------------------------

    def symbols(self) -> list[str]:
        return sorted({s for s, _ in self._keys()})

    def timeframes(self, symbol: str) -> list[str]:
        return sorted(tf for s, tf in self._keys() if s == symbol)

    def symbol_for_id(self, market_id_: str) -> str | None:
        return next((s for s in self.symbols() if market_id(s) == market_id_), None)

    def rules(self, symbol: str) -> SymbolRules:
        return rules_for(symbol, self._rules)

    def loaded(self) -> list[tuple[str, str]]:
        """Series parsed so far (to show laziness in tests)."""
        with self._lock:
            return sorted(self._cache)

    def _keys(self) -> set[tuple[str, str]]:
        with self._lock:
            return set(self._loaders) | set(self._cache)

    # --- candles ---------------------------------------------------------------------------

    def candles(self, symbol: str, timeframe: str) -> np.ndarray:
        """The whole recorded series regardless of the clock; KeyError if not held."""
        key = (symbol, timeframe)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            loader = self._loaders.get(key)
        if loader is None:
            raise KeyError(f"no {timeframe} candles for {symbol}")
        arr = _checked(loader(), symbol, timeframe)
        with self._lock:
            return self._cache.setdefault(key, arr)

    def klines(self, symbol: str, timeframe: str, *, start: int | None = None,
               end: int | None = None, limit: int = 500, now: int | None = None) -> np.ndarray:
        """Binance's selection: open time in [start, end], only candles opened by `now`; with a
        start the first `limit` rows, otherwise the last `limit` rows (the most recent)."""
        now = self.clock.now_ms() if now is None else now
        try:
            arr = self.candles(symbol, timeframe)
        except KeyError:
            return np.empty(0, dtype=CANDLE_DTYPE)
        ts = arr["ts"]
        hi = int(np.searchsorted(ts, now, side="right"))
        if end is not None:
            hi = min(hi, int(np.searchsorted(ts, end, side="right")))
        if start is not None:
            lo = int(np.searchsorted(ts, start, side="left"))
            return arr[lo:hi][:limit] if lo < hi else arr[:0]
        return arr[max(0, hi - limit):hi]

    def forming(self, symbol: str, timeframe: str, now: int | None = None) -> int | None:
        """Open time of the candle forming at `now`, if the data holds one."""
        now = self.clock.now_ms() if now is None else now
        last = self.klines(symbol, timeframe, limit=1, now=now)
        if len(last) and now < next_open(int(last["ts"][0]), timeframe):
            return int(last["ts"][0])
        return None


def _checked(arr: np.ndarray, symbol: str, timeframe: str) -> np.ndarray:
    if arr.dtype != CANDLE_DTYPE:
        raise TypeError(f"{symbol} {timeframe}: expected CANDLE_DTYPE, got {arr.dtype}")
    if len(arr) > 1 and not np.all(np.diff(arr["ts"]) > 0):
        raise ValueError(f"{symbol} {timeframe}: timestamps are not strictly increasing")
    return arr
