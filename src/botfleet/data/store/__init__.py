"""Candle stores behind one small interface, chosen by URL (see `open_store`)."""

from botfleet.data.store.base import CandleStore, Coverage, Gap, SeriesKey, open_store

__all__ = ["CandleStore", "Coverage", "Gap", "SeriesKey", "open_store"]
