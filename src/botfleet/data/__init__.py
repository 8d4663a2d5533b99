"""Market data: the candle conventions, candle stores, ingestion through ccxt, quality checks."""
