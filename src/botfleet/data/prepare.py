"""The main job's data step: make sure every series the fleet needs is in the candle store.

Sources, in order: what is already stored; candle files in a local data folder (the shared
real data by default), a lower timeframe's file resampled exactly when the wanted one is not
there; then a download through ccxt. Where none works the step says so and fails: it never
invents candles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import ccxt

from botfleet.config.model import Fleet
from botfleet.data import quality
from botfleet.data.candles import timeframe_ms
from botfleet.data.exchange_client import make_client
from botfleet.data.fileio import read_candles
from botfleet.data.ingest import Downloader, DownloadError
from botfleet.data.needs import Need, fleet_needs
from botfleet.data.resample import resample
from botfleet.data.store.base import CandleStore, SeriesKey

log = logging.getLogger(__name__)
LOWER = ("1m", "5m", "15m", "30m", "1h", "2h", "4h", "1d")


@dataclass
class Outcome:
    need: Need
    source: str  # "store", "file", "resampled", "download", "missing"
    rows: int = 0
    detail: str = ""


@dataclass
class PrepareReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def missing(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.source == "missing"]


def file_for(folder: Path, exchange_id: str, symbol: str, tf: str) -> Path | None:
    stem = f"{exchange_id}_{symbol.replace('/', '-').replace(':', '-')}_{tf}"
    for ext in (".csv", ".csv.gz", ".parquet", ".feather"):
        if (folder / (stem + ext)).exists():
            return folder / (stem + ext)
    return None


def _from_folder(folder: Path, exchange_id: str, need: Need):
    path = file_for(folder, exchange_id, need.symbol, need.timeframe)
    if path is not None:
        return read_candles(path), f"file {path}"
    if need.timeframe.endswith("M"):
        return None, ""
    for lower in LOWER:
        if lower == need.timeframe or timeframe_ms(lower) >= timeframe_ms(need.timeframe) or \
                timeframe_ms(need.timeframe) % timeframe_ms(lower):
            continue
        path = file_for(folder, exchange_id, need.symbol, lower)
        if path is not None:
            return resample(read_candles(path), lower, need.timeframe), \
                f"resampled from {lower} file {path}"
    return None, ""


def prepare(fleet: Fleet, store: CandleStore, *, data_dir: Path | None,
            download: bool = True, now: int | None = None) -> PrepareReport:
    report = PrepareReport()
    settings = fleet.data
    for need in fleet_needs(fleet, now):
        key = SeriesKey(need.exchange, need.symbol, need.timeframe)
        cov = store.coverage(key)
        if cov and cov[0].first <= need.since:
            report.outcomes.append(Outcome(need, "store", cov[0].count))
            continue
        exchange_id = fleet.exchanges[need.exchange].ccxt_id
        if data_dir is not None and data_dir.is_dir():
            candles, how = _from_folder(data_dir, exchange_id, need)
            if candles is not None:
                kept, rep = quality.clean(candles, need.timeframe, settings.on_bad_rows,
                                          outlier_sigma=settings.outlier_sigma)
                written = store.write(key, kept, now=now)
                report.outcomes.append(Outcome(
                    need, "resampled" if how.startswith("resampled") else "file", written,
                    how + (f"; dropped {rep.bad_rows} bad row(s)" if rep.bad_rows else "")))
                continue
        if download:
            try:
                client = make_client(fleet.exchanges[need.exchange])
                result = Downloader(client, store, on_bad_rows=settings.on_bad_rows,
                                    exchange_name=need.exchange, retries=2).download(
                    need.symbol, need.timeframe, need.since)
                report.outcomes.append(Outcome(need, "download", result.written,
                                               f"{result.requests} request(s)"))
                continue
            except (DownloadError, ccxt.BaseError) as exc:
                detail = f"download failed: {exc}"
        else:
            detail = "downloads disabled"
        report.outcomes.append(Outcome(need, "missing", 0, detail))
    return report
