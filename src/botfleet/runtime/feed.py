"""Candles for the bots' cycles: fetched once per (exchange, pair, timeframe) and shared.

At a close, every bot on BTC/USDT 1h needs the same new candle; asking the exchange once per
bot would multiply the request weight by the number of bots. So each series has one in-memory
window here, guarded by its own lock: the first bot to ask at a close fetches what is new (one
klines request, usually), the others wait on the lock and read the same array. The window is
a cache, not state: a fresh process fetches it again, and nothing a bot decides depends on
the feed having lived long.

"Closed" is decided on the exchange's clock (the caller's `now`), never on the data: a candle
is closed once `now` has reached the next one's open. The candle still forming is not part
of the window, but its open is kept (`Window.forming_open`): it is the price a market order
sent now will be valued at, as the backtest values an order at the next bar's open.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import ccxt
import numpy as np

from botfleet.data.candles import CANDLE_DTYPE, concat, empty, from_rows, next_open, timeframe_ms
from botfleet.obs.instrument import data_lag, timed_request
from botfleet.runtime.clients import ExchangeLink
from botfleet.runtime.timing import last_closed_open

log = logging.getLogger(__name__)
PAGE = 1000  # Binance's most klines per request


class FeedError(RuntimeError):
    """The exchange did not give the candles a cycle needs (the message says which)."""


@dataclass(frozen=True)
class Window:
    """The newest closed candles of a series at `now`, and the open of the one forming."""

    candles: np.ndarray
    now_ms: int
    expected_ms: int  # open time of the newest candle that should have closed by now
    forming_open: float | None = None

    @property
    def newest_ms(self) -> int | None:
        return int(self.candles["ts"][-1]) if len(self.candles) else None

    @property
    def complete(self) -> bool:
        """The candle that closed last is here (an exchange may publish it a moment late)."""
        return self.newest_ms is not None and self.newest_ms >= self.expected_ms


class _Series:
    def __init__(self):
        self.lock = threading.Lock()
        self.candles = empty()
        self.forming: tuple[int, float] | None = None  # (open time, open price)


class CandleFeed:
    """`links`: exchange name -> `ExchangeLink`. `keep`: rows kept per series (the longest
    window a bot asks for is kept whatever this says)."""

    def __init__(self, links: dict[str, ExchangeLink], *, keep: int = 2000,
                 retries: int = 3, retry_delay_s: float = 0.3):
        self.links = links
        self.keep = keep
        self.retries, self.retry_delay_s = retries, retry_delay_s
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def _get(self, key: tuple[str, str, str]) -> _Series:
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series()
            return series

    def last_closes(self) -> dict[str, Decimal]:
        """symbol -> the newest close held (any exchange, any timeframe): prices for valuing
        other bots' positions in the aggregate books."""
        out: dict[str, tuple[int, Decimal]] = {}
        with self._lock:
            items = list(self._series.items())
        for (_, symbol, _), series in items:
            c = series.candles
            if len(c):
                ts = int(c["ts"][-1])
                if symbol not in out or ts > out[symbol][0]:
                    out[symbol] = (ts, Decimal(repr(float(c["close"][-1]))))
        return {s: v for s, (_, v) in out.items()}

    def newest(self) -> dict[tuple[str, str, str], int | None]:
        """(exchange, symbol, timeframe) -> open time of the newest closed candle held (for
        health: how far behind each series is)."""
        with self._lock:
            items = list(self._series.items())
        return {key: int(s.candles["ts"][-1]) if len(s.candles) else None for key, s in items}

    def window(self, exchange: str, symbol: str, timeframe: str, n: int, now: int) -> Window:
        """The newest `n` candles closed by `now` (fewer if the exchange has fewer)."""
        link = self.links.get(exchange)
        if link is None:
            raise FeedError(f"no connection to exchange {exchange!r} in this runner")
        expected = last_closed_open(now, timeframe)
        series = self._get((exchange, symbol, timeframe))
        with series.lock:
            for attempt in range(self.retries + 1):
                have = series.candles
                newest = int(have["ts"][-1]) if len(have) else None
                if newest is not None and newest >= expected and len(have) >= n:
                    break
                self._fetch(link, series, symbol, timeframe, n, now, expected)
                if len(series.candles) and int(series.candles["ts"][-1]) >= expected:
                    break
                if attempt < self.retries:  # the exchange has not published the close yet
                    time.sleep(self.retry_delay_s)
            have = series.candles
            cut = have[: int(np.searchsorted(have["ts"], expected, side="right"))]
            forming = series.forming[1] if series.forming and \
                series.forming[0] == next_open(expected, timeframe) else None
            if len(cut):  # how far behind the candle that should have closed (metrics)
                data_lag(exchange, symbol, timeframe, (expected - int(cut["ts"][-1])) / 1000)
            return Window(cut[-n:].copy(), now, expected, forming)

    def _fetch(self, link: ExchangeLink, series: _Series, symbol: str, tf: str, n: int,
               now: int, expected: int) -> None:
        step = timeframe_ms(tf)
        have = series.candles
        want_from = expected - (n - 1) * step
        if len(have) and int(have["ts"][0]) <= want_from:
            since = int(have["ts"][-1]) + step  # only what is new
        else:
            since = want_from
        client = link.client()
        parts = [have]
        while since <= expected:
            try:
                with timed_request(link.name, "fetch_ohlcv"):
                    rows = client.fetch_ohlcv(symbol, tf, since=since, limit=PAGE)
            except ccxt.BaseError as exc:
                raise FeedError(f"{link.name} {symbol} {tf}: fetching candles since "
                                f"{since}: {type(exc).__name__}: {exc}") from exc
            finally:
                self.requests += 1
            link.observe(client)
            got = from_rows(rows) if rows else empty()
            if not len(got):
                break
            closed = got[got["ts"] + step <= now] if not tf.endswith("M") else got[
                np.array([next_open(int(t), tf) <= now for t in got["ts"]], dtype=bool)]
            opening = got[got["ts"] > expected]
            if len(opening):
                first = opening[0]
                series.forming = (int(first["ts"]), float(first["open"]))
            parts.append(closed)
            last = int(got["ts"][-1])
            if len(got) < PAGE or last >= expected:
                break
            since = last + step
        merged = concat(*parts)
        if len(merged) > max(self.keep, n):
            merged = merged[-max(self.keep, n):]
        series.candles = np.ascontiguousarray(merged, dtype=CANDLE_DTYPE)
