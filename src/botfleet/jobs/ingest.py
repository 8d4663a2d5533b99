"""The ingest job: every series the fleet needs, brought up to date, then checked.

`refresh` downloads what is missing since the last stored candle (the store is the progress
record, so an interrupted or retried download resumes rather than starts over) and then runs
the data-quality check over the stored series: gaps the exchange cannot fill, zero-volume runs
and outliers are reported, never repaired.
"""

from __future__ import annotations

from typing import Any

from botfleet.data.needs import Need, fleet_needs


def transient(exc: BaseException) -> bool:
    """A failure a later attempt may not meet: the network, the exchange's availability or
    rate limit (a bad symbol or timeframe, or a bad configuration, is not)."""
    import ccxt

    return isinstance(exc, ccxt.NetworkError) or isinstance(exc.__cause__, ccxt.NetworkError)


def needs(fleet) -> list[Need]:
    """The series to refresh. Opens the candle store once first: its tables are created on
    first open, which is not safe from several threads at once (the refreshes that follow
    run concurrently)."""
    from botfleet.data.store import open_store

    open_store(fleet.storage.candles).close()
    return fleet_needs(fleet)


def refresh(fleet, need: Need, *, network_retries: int = 1) -> dict[str, Any]:
    """Download `need` incrementally into the fleet's candle store, then check what is stored.
    Raises `DownloadError`/ccxt errors on failure (after `network_retries` quick retries per
    page; the caller's retries with backoff do the rest)."""
    from botfleet.data import quality
    from botfleet.data.exchange_client import make_client
    from botfleet.data.ingest import Downloader
    from botfleet.data.store import SeriesKey, open_store

    settings = fleet.data
    key = SeriesKey(need.exchange, need.symbol, need.timeframe)
    client = make_client(fleet.exchanges[need.exchange])
    with open_store(fleet.storage.candles) as store:
        result = Downloader(client, store, on_bad_rows=settings.on_bad_rows,
                            exchange_name=need.exchange, retries=network_retries).download(
            need.symbol, need.timeframe, need.since)
        stored = store.read(key)
    if result.unfilled_gaps:
        announce_gaps(fleet, need, result.unfilled_gaps)
    report = quality.check(stored, need.timeframe, outlier_sigma=settings.outlier_sigma)
    kinds = sorted({f.kind for f in report.findings})
    return {"series": str(key), "written": result.written, "requests": result.requests,
            "stored": len(stored),
            "last": quality.iso(int(stored["ts"][-1])) if len(stored) else None,
            "unfilled_gaps": len(result.unfilled_gaps), "quality_ok": report.ok,
            "findings": ", ".join(kinds) or "none"}


def announce_gaps(fleet, need: Need, gaps: list) -> int:
    """A `data_gap` notification per gap the exchange could not fill, on the fleet's event
    stream (the notifier routes it; with `memory://` only a notifier in this process hears
    it). A bus that cannot be reached is logged: the download itself succeeded."""
    import logging

    from botfleet.bus import NOTIFICATIONS, BusError, Event, open_bus
    from botfleet.data.quality import iso

    events = [Event(NOTIFICATIONS, "data_gap", {
        "event": "data_gap", "severity": "warning", "exchange": need.exchange,
        "symbol": need.symbol, "timeframe": need.timeframe, "start": iso(g.start),
        "end": iso(g.end), "missing": g.missing,
        "title": f"data gap: {need.exchange} {need.symbol} {need.timeframe}",
        "body": f"{g.missing} candle(s) missing from {iso(g.start)} to {iso(g.end)}; the "
                "exchange has none to fill them"}) for g in gaps]
    try:
        bus = open_bus(fleet.storage.cache)
        try:
            bus.events.append_many(events)
        finally:
            bus.close()
    except BusError as exc:
        logging.getLogger("botfleet.jobs.ingest").warning(
            "cannot announce %d data gap(s) of %s %s: %s", len(events), need.symbol,
            need.timeframe, exc)
        return 0
    return len(events)
