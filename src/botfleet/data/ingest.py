"""Downloading candles through ccxt into a candle store: paged, budgeted, retried, resumable.

Every page is checked and written as soon as it arrives, so the store itself is the progress
record: a download that dies (network, crash, Ctrl-C) resumes from the last stored candle the
next time, and the result is the same as an uninterrupted run. Gaps found in what is stored
are fetched again (an exchange outage stays a gap, and is reported as such).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import ccxt

from botfleet.data import quality
from botfleet.data.budget import WeightBudget, budget_for
from botfleet.data.candles import closed_only, from_rows, next_open, now_ms
from botfleet.data.store.base import CandleStore, Gap, SeriesKey

log = logging.getLogger(__name__)

# Request weight of one klines page, where the exchange documents it (Binance: 2 up to 1000)
PAGE_WEIGHT = {"binance": 2}


class DownloadError(RuntimeError):
    """A download stopped; everything before `resume_from` is stored and will not be fetched
    again."""

    def __init__(self, message: str, key: SeriesKey, resume_from: int | None):
        super().__init__(message)
        self.key, self.resume_from = key, resume_from


@dataclass
class DownloadResult:
    key: SeriesKey
    written: int = 0
    requests: int = 0
    retries: int = 0
    first: int | None = None
    last: int | None = None
    unfilled_gaps: list[Gap] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Fetch:
    """One range to fetch: open times start .. end (end None: up to now)."""

    key: SeriesKey
    start: int
    end: int | None
    reason: str  # "initial", "resume", "backfill"

    def __str__(self) -> str:
        until = quality.iso(self.end) if self.end is not None else "now"
        return f"{self.key}: {quality.iso(self.start)} .. {until} ({self.reason})"


def plan(store: CandleStore, key: SeriesKey, since: int, *, backfill: bool = True) -> list[Fetch]:
    """What a download of `key` from `since` must fetch, given what is stored."""
    coverage = store.coverage(key)
    if not coverage:
        return [Fetch(key, since, None, "initial")]
    cov = coverage[0]
    fetches = []
    if since < cov.first:
        fetches.append(Fetch(key, since, cov.first - 1, "initial"))
    if backfill:
        fetches += [Fetch(key, g.start, g.end, "backfill") for g in store.gaps(key)
                    if g.end >= since]
    fetches.append(Fetch(key, next_open(cov.last, key.timeframe), None, "resume"))
    return fetches


class Downloader:
    def __init__(self, exchange: ccxt.Exchange, store: CandleStore, *, limit: int = 1000,
                 retries: int = 6, backoff: float = 0.5, backoff_cap: float = 30.0,
                 on_bad_rows: str = "reject", budget: WeightBudget | None = None,
                 clock: Callable[[], int] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 exchange_name: str | None = None):
        self.exchange = exchange
        self.store = store
        self.limit = limit
        self.retries, self.backoff, self.backoff_cap = retries, backoff, backoff_cap
        self.on_bad_rows = on_bad_rows
        self.name = exchange_name or exchange.id
        self.budget = budget or budget_for(exchange.id, getattr(exchange, "rateLimit", None))
        self.clock = clock or self._exchange_clock
        self.sleep = sleep
        self.page_weight = PAGE_WEIGHT.get(exchange.id, 1)

    def _exchange_clock(self) -> int:
        """The exchange's time where it tells it: "closed" is the exchange's verdict, and a
        local clock running ahead must not turn a forming candle into a stored one."""
        if self.exchange.has.get("fetchTime"):
            try:
                self.budget.acquire(1)
                return int(self.exchange.fetch_time())
            except ccxt.BaseError as exc:
                log.warning("%s: no server time (%s); using the local clock", self.name, exc)
        return now_ms()

    def download(self, symbol: str, timeframe: str, since: int, *,
                 backfill: bool = True) -> DownloadResult:
        key = SeriesKey(self.name, symbol, timeframe)
        result = DownloadResult(key)
        for fetch in plan(self.store, key, since, backfill=backfill):
            self._fetch_range(fetch, result)
        if backfill:
            result.unfilled_gaps = [g for g in self.store.gaps(key) if g.end >= since]
        return result

    def _page(self, key: SeriesKey, cursor: int, result: DownloadResult) -> list[list]:
        attempt = 0
        while True:
            self.budget.acquire(self.page_weight)
            try:
                rows = self.exchange.fetch_ohlcv(key.symbol, key.timeframe, since=cursor,
                                                 limit=self.limit)
                result.requests += 1
                self.budget.observe(getattr(self.exchange, "last_response_headers", None))
                return rows
            except ccxt.NetworkError as exc:  # timeouts, 5xx, 429, dropped connections
                result.requests += 1
                attempt += 1
                if attempt > self.retries:
                    raise DownloadError(f"{key}: gave up after {self.retries} retries: "
                                        f"{type(exc).__name__}: {exc}", key, cursor) from exc
                # bandit B311: retry jitter, not cryptography
                pause = random.uniform(0, min(self.backoff_cap, self.backoff * 2 ** attempt))  # nosec B311
                log.warning("%s: %s, retry %d in %.1fs", key, type(exc).__name__, attempt, pause)
                result.retries += 1
                self.sleep(pause)
            except ccxt.BaseError as exc:  # bad symbol, bad timeframe, auth: retrying won't help
                raise DownloadError(f"{key}: {type(exc).__name__}: {exc}", key, cursor) from exc

    def _fetch_range(self, fetch: Fetch, result: DownloadResult) -> None:
        key, cursor = fetch.key, fetch.start
        step_end = fetch.end
        now = self.clock()
        while True:
            if next_open(cursor, key.timeframe) > now:
                return  # nothing closed to fetch yet
            rows = self._page(key, cursor, result)
            candles = closed_only(from_rows(rows), key.timeframe, now)
            if step_end is not None:
                candles = candles[candles["ts"] <= step_end]
            candles = candles[candles["ts"] >= cursor]
            if len(candles) == 0:
                return
            kept, report = quality.clean(candles, key.timeframe, self.on_bad_rows,
                                         where=f"{key}: ")
            result.findings += [f for f in report.lines() if not f.startswith("gap")]
            written = self.store.write(key, kept, now=now)
            result.written += written
            first, last = int(candles["ts"][0]), int(candles["ts"][-1])
            result.first = first if result.first is None else min(result.first, first)
            result.last = last if result.last is None else max(result.last, last)
            if step_end is not None and last >= step_end:
                return
            if len(rows) < self.limit and (step_end is None or last >= step_end):
                return
            cursor = next_open(last, key.timeframe)
